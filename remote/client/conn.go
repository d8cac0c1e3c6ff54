package client

import (
	"context"
	"errors"
	"fmt"
	"github.com/backupfs/backupfs/catalog"
	"io"
	"net"
	"sync"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// clientConn is one multiplexed connection: a reader goroutine hands each
// frame to the call waiting on its request id; writers serialise on wmu.
type clientConn struct {
	nc       net.Conn
	wmu      sync.Mutex
	mu       sync.Mutex
	next     uint32
	open     map[uint32]*call
	err      error // set once the connection is broken
	done     chan struct{}
	name     string    // the server's name from its HELLO
	features uint32    // the server's HELLO feature bits (wire.Feature*)
	born     time.Time // when the connection was made: one lost at once counts as a failed attempt
	// unseal opens sealed chunks (ClientConfig.Unseal); nil: a sealed
	// chunk is an error.
	unseal func(d catalog.Digest, blob []byte) ([]byte, bool, error)
}

// call collects the answer frames of one request.
type call struct {
	mu     sync.Mutex
	frames []callFrame
	err    error
	notify chan struct{}
}

// callFrame is one answer frame; buf, if set, is the frameBufs buffer its
// payload was read into, for the caller to return once done with it.
type callFrame struct {
	f   wire.Frame
	buf *[]byte
}

// errConn marks failures of the connection itself (as opposed to answers):
// the request may be retried on a new connection. A broken connection
// says "connection lost" whichever side noticed first: the reader (EOF) or
// a write (a reset pipe); a write on a socket already closed returns the
// reason it was closed, not "use of closed network connection".
type errConn struct{ err error }

func (e errConn) Error() string { return e.err.Error() }
func (e errConn) Unwrap() error { return e.err }

// hello sends ours and reads the server's, synchronously, before the
// reader starts.
func (cc *clientConn) hello(ctx context.Context, token string) error {
	if dl, ok := ctx.Deadline(); ok {
		cc.nc.SetDeadline(dl)
	} else {
		cc.nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	defer cc.nc.SetDeadline(time.Time{})
	h := wire.ClientHello{Version: wire.Version, Token: token}
	if err := wire.WriteFrame(cc.nc, wire.Frame{Type: wire.THello, Payload: h.Append(nil)}); err != nil {
		return errConn{fmt.Errorf("hello: %w", err)}
	}
	f, err := wire.ReadFrame(cc.nc)
	if err != nil {
		return errConn{fmt.Errorf("hello: %w", err)}
	}
	switch f.Type {
	case wire.THello:
		sh, err := wire.DecodeServerHello(f.Payload)
		if err != nil {
			return fmt.Errorf("server hello: %w", err)
		}
		cc.name, cc.features = sh.Name, sh.Features
		return nil
	case wire.TError:
		return decodeServerError(f.Payload)
	}
	return fmt.Errorf("%w: server answered hello with %s", wire.ErrProtocol, f.Type)
}

// readLoop dispatches answer frames until the connection breaks.
func (cc *clientConn) readLoop() {
	fr := frameReader{r: cc.nc}
	for {
		f, buf, err := fr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			cc.fail(errConn{fmt.Errorf("connection lost: %w", err)})
			return
		}
		if f.ID == 0 {
			if err := cc.control(f); err != nil {
				cc.fail(err)
				return
			}
			continue
		}
		cc.mu.Lock()
		c := cc.open[f.ID]
		cc.mu.Unlock()
		if c != nil { // an answer to a cancelled call is dropped
			c.push(callFrame{f, buf})
		} else if buf != nil {
			frameBufs.Put(buf)
		}
	}
}

// control handles frames for the connection itself.
func (cc *clientConn) control(f wire.Frame) error {
	switch f.Type {
	case wire.TPing:
		p, err := wire.DecodePing(f.Payload)
		if err != nil {
			return err
		}
		return cc.write(wire.Frame{Type: wire.TPong, Payload: p.Append(nil)})
	case wire.TPong:
		return nil
	case wire.TGoodbye:
		return errConn{errors.New("server said goodbye")}
	case wire.TError:
		return errConn{decodeServerError(f.Payload)}
	}
	return fmt.Errorf("%w: unexpected %s on the connection", wire.ErrProtocol, f.Type)
}

// fail breaks the connection once and wakes every waiting call.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	cc.err = err
	open := cc.open
	cc.open = map[uint32]*call{}
	cc.mu.Unlock()
	close(cc.done)
	cc.nc.Close()
	for _, c := range open {
		c.finish(err)
	}
}

func (cc *clientConn) broken() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err
}

func (cc *clientConn) write(f wire.Frame) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := wire.WriteFrame(cc.nc, f); err != nil {
		if lost := cc.broken(); lost != nil {
			return lost // the reader closed it: its reason, not "use of closed network connection"
		}
		err = errConn{fmt.Errorf("connection lost: send %s: %w", f.Type, err)}
		go cc.fail(err)
		return err
	}
	return nil
}

// start registers a call and sends its request frames (several for an
// upload); the first frame's ID is set here.
func (cc *clientConn) start(frames ...wire.Frame) (*call, uint32, error) {
	c := &call{notify: make(chan struct{}, 1)}
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return nil, 0, cc.err
	}
	id := cc.next
	cc.next++
	if cc.next == 0 {
		cc.next = 1
	}
	cc.open[id] = c
	cc.mu.Unlock()
	for _, f := range frames {
		f.ID = id
		if err := cc.write(f); err != nil {
			cc.forget(id)
			return nil, 0, err
		}
	}
	return c, id, nil
}

// forget drops a call; a late answer is then discarded.
func (cc *clientConn) forget(id uint32) {
	cc.mu.Lock()
	delete(cc.open, id)
	cc.mu.Unlock()
}

// cancel tells the server to drop a request the caller gave up on.
func (cc *clientConn) cancel(id uint32) {
	cc.forget(id)
	if cc.broken() == nil {
		cc.write(wire.Frame{Type: wire.TCancel, ID: id})
	}
}

func (c *call) push(f callFrame) {
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *call) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// next waits for the call's next frame. A pooled buffer the frame came in
// is left to the garbage collector: the caller may keep the payload.
func (c *call) next(ctx context.Context) (wire.Frame, error) {
	cf, err := c.nextBuf(ctx)
	return cf.f, err
}

// nextBuf is next for a caller that returns the frame's buffer (if any)
// to frameBufs once nothing refers to the payload.
func (c *call) nextBuf(ctx context.Context) (callFrame, error) {
	for {
		c.mu.Lock()
		if len(c.frames) > 0 {
			f := c.frames[0]
			c.frames = c.frames[1:]
			c.mu.Unlock()
			return f, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return callFrame{}, err
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return callFrame{}, ctx.Err()
		}
	}
}
