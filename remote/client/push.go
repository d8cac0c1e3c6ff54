package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// Push mode (remote/PROTOCOL.md, "Push"): the client half of both sides
// of a role inversion. DialPush is the pusher's: it dials, asks the
// server to pull from it, and hands back the connection for the pusher
// to serve (remote/server's ServeInverted). Over is the target's: a
// Client over the connection the pusher dialed, which speaks first once
// the PUSH is accepted. Neither imports package server; the wiring is
// replicate/push.

// ErrNoPush reports a server that does not accept PUSH: it lacks
// wire.FeaturePush (turned off with serve --no-push, or too old).
var ErrNoPush = errors.New("the server does not support push")

// ErrSessionLost reports a request on an inverted session whose
// connection broke: it is never redialed (the pusher dialed it).
var ErrSessionLost = errors.New("remote: push session lost (not redialed)")

// DialPush connects to the server at cfg.Addr as Dial does, checks that
// it accepts push, sends req and waits for its answer. Accepted (ACK), it
// returns the connection, nothing of it read past the ACK: the server now
// acts as the client. A refusal (ERROR) is returned as a *ServerError.
func DialPush(ctx context.Context, cfg ClientConfig, req wire.Push) (net.Conn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	tcfg, err := auth.ClientConfig(cfg.Fingerprint)
	if err != nil {
		return nil, err
	}
	cc, err := dialHello(ctx, cfg.Addr, tcfg, cfg.Token, cfg.connectLimit())
	if err != nil {
		var ce errConn
		if errors.As(err, &ce) {
			err = ce.err
		}
		return nil, fmt.Errorf("connect %w", err)
	}
	if cc.features&wire.FeaturePush == 0 {
		cc.nc.Close()
		return nil, fmt.Errorf("%s: %w (server %q: turned off there with serve --no-push, or an older version)", cfg.Addr, ErrNoPush, cc.name)
	}
	if err := askPush(cc, cfg.Timeout, req); err != nil {
		cc.nc.Close()
		return nil, fmt.Errorf("%s: push: %w", cfg.Addr, err)
	}
	return cc.nc, nil
}

// askPush sends PUSH and reads exactly its answer frame.
func askPush(cc *clientConn, timeout time.Duration, req wire.Push) error {
	_ = cc.nc.SetDeadline(time.Now().Add(timeout))
	if err := wire.WriteFrame(cc.nc, wire.Frame{Type: wire.TPush, ID: 1, Payload: req.Append(nil)}); err != nil {
		return err
	}
	f, err := wire.ReadFrame(cc.nc) // unbuffered: the target's HELLO that follows stays unread
	if err != nil {
		return err
	}
	switch {
	case f.Type == wire.TAck && f.ID == 1:
		if _, err := wire.DecodeAck(f.Payload); err != nil {
			return err
		}
		return cc.nc.SetDeadline(time.Time{})
	case f.Type == wire.TError:
		return decodeServerError(f.Payload)
	}
	return fmt.Errorf("%w: PUSH answered with %v id %d", wire.ErrProtocol, f.Type, f.ID)
}

// Over returns a Client over nc, a connection whose peer (a pusher) had
// its PUSH accepted: it says HELLO (without a token: the pusher decides
// what it serves) and reads as Dial's client does, except that a lost
// connection is final (ErrSessionLost), never redialed. cfg.Addr names
// the peer in messages; Token and Fingerprint are not used.
func Over(ctx context.Context, nc net.Conn, cfg ClientConfig) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cc := &clientConn{nc: nc, open: map[uint32]*call{}, done: make(chan struct{}), next: 1, born: time.Now(), unseal: cfg.Unseal}
	hctx, cancel := context.WithTimeout(ctx, cfg.connectLimit())
	defer cancel()
	if err := cc.hello(hctx, ""); err != nil {
		nc.Close()
		var ce errConn
		if errors.As(err, &ce) {
			err = ce.err
		}
		return nil, fmt.Errorf("%s: push session: %w", cfg.Addr, err)
	}
	go cc.readLoop()
	base, stop := context.WithCancel(context.Background())
	return &Client{cfg: cfg, log: cfg.Log, base: base, stop: stop, grants: map[fileKey]struct{}{},
		cc: cc, inverted: true, session: cc}, nil
}

// KeepAlive sends a PING every interval until ctx ends, so that the
// server's idle timeout does not end a session whose client is busy
// between requests (a push target checking its own store for a large
// snapshot, or committing it). The server answers PONG, which the reader
// takes. It returns when ctx ends or the connection is gone.
func (c *Client) KeepAlive(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := uint64(1); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		cc := c.cc
		c.mu.Unlock()
		if cc == nil || cc.write(wire.Frame{Type: wire.TPing, Payload: wire.Ping{Nonce: n}.Append(nil)}) != nil {
			return
		}
	}
}

// PushResult tells the pusher how its push ended and waits for its ACK
// (after which the pusher ends the session). Only on a Client from Over.
func (c *Client) PushResult(ctx context.Context, r wire.PushResult) error {
	if !c.inverted {
		return errors.New("remote: PushResult on a client that was not pushed to")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cc := c.session
	if err := cc.broken(); err != nil {
		return fmt.Errorf("%w: %v", ErrSessionLost, err)
	}
	call, id, err := cc.start(wire.Frame{Type: wire.TPushResult, Payload: r.Append(nil)})
	if err != nil {
		return cc.sessionError("send PUSH_RESULT", err)
	}
	defer cc.forget(id)
	f, err := call.next(ctx)
	if err != nil {
		return cc.sessionError("PUSH_RESULT", err)
	}
	if f.Type != wire.TAck {
		return answerError(f, wire.TAck)
	}
	return nil
}

// sessionError wraps err of an inverted session's request: ErrSessionLost
// if the connection broke (the caller branches on it: nothing redials),
// else err itself (the context's deadline or cancellation).
func (cc *clientConn) sessionError(what string, err error) error {
	if cc.broken() != nil {
		return fmt.Errorf("%s: %w: %v", what, ErrSessionLost, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
