package client

import (
	"errors"
	"math/rand/v2"
	"time"
)

// The reconnect schedule of an established session. All requests share
// one: a lost connection is redialled at once (it was probably a blip);
// after a failed dial, or a connection lost within minSession of being
// made (a server that accepts and hangs up), the next dial waits a backoff
// that doubles from retryMin up to retryMax, with jitter (a random half to
// full of it) so the clients of a restarted server do not all come back in
// the same instant. Requests waiting for a connection wait for the next
// dial, not on their own timers, so a server coming back gets one dial per
// client, not one per request in flight.
const (
	retryMin   = 100 * time.Millisecond
	retryMax   = 2 * time.Second
	minSession = 2 * time.Second
)

// errClientClosed ends the requests of a closed client; not retried.
var errClientClosed = errors.New("remote: client closed")

// retryState is guarded by Client.mu.
type retryState struct {
	fails int       // failed attempts in a row (dials, or sessions lost at once)
	next  time.Time // no dial before this
	err   error     // the last failure, returned until next
}

// live returns the connection if it works. A broken one is reported as
// lost (once) and nil returned.
func (c *Client) live() *clientConn {
	c.mu.Lock()
	cc := c.cc
	c.mu.Unlock()
	if cc == nil {
		return nil
	}
	if err := cc.broken(); err != nil {
		c.lost(cc, err)
		return nil
	}
	return cc
}

// lost drops a broken connection, once, logs the loss and schedules the
// redial: at once for a session that lasted, after a backoff for one lost
// as soon as it was made.
func (c *Client) lost(cc *clientConn, err error) {
	cc.fail(err)
	c.mu.Lock()
	if c.cc != cc {
		c.mu.Unlock()
		return // reported already
	}
	c.cc = nil
	var wait time.Duration
	if time.Since(cc.born) < minSession {
		wait = c.scheduleLocked(err)
	} else {
		c.retry = retryState{}
	}
	c.mu.Unlock()
	if c.base.Err() == nil && !c.inverted {
		c.log.Warn("connection lost, reconnecting", "server", c.cfg.Addr, "err", err, "retry_in", wait.Round(time.Millisecond))
	}
}

// dialFailed schedules the next dial after a failed one and logs it: the
// first failures, then at attempts 4, 8, 16... (a down server is not
// worth a line a second).
func (c *Client) dialFailed(err error) {
	var ce errConn
	if !errors.As(err, &ce) {
		return // final (a wrong certificate, a revoked token): do returns it
	}
	c.mu.Lock()
	wait := c.scheduleLocked(err)
	n := c.retry.fails
	c.mu.Unlock()
	if n <= 2 || n&(n-1) == 0 {
		c.log.Warn("reconnect failed", "server", c.cfg.Addr, "attempt", n, "err", err, "retry_in", wait.Round(time.Millisecond))
	}
}

// scheduleLocked counts a failure and sets the next dial time.
func (c *Client) scheduleLocked(err error) time.Duration {
	var ce errConn
	if !errors.As(err, &ce) {
		err = errConn{err} // a connection failure, whatever broke it: do retries
	}
	c.retry.fails++
	d := jitter(min(retryMin<<min(c.retry.fails-1, 5), retryMax))
	c.retry.next = time.Now().Add(d)
	c.retry.err = err
	return d
}

// ownBackoff is a request's own floor under the shared schedule, for an op
// whose connection failures the schedule does not see (Begin dials a
// connection of its own): none before the first retry, then backoff.
func ownBackoff(attempt int) time.Duration {
	if attempt == 0 {
		return 0
	}
	return jitter(min(retryMin<<min(attempt-1, 5), retryMax))
}

// jitter returns a random duration from d/2 to d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// notYet returns the last failure while the schedule says wait.
func (c *Client) notYet() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.retry.next) {
		return c.retry.err
	}
	return nil
}

// retryWait is how long a request waits before it asks for a connection
// again: until the scheduled dial (a little, if it is due now).
func (c *Client) retryWait() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(time.Until(c.retry.next), 10*time.Millisecond)
}
