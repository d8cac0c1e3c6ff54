package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// srvConn is one client connection.
type srvConn struct {
	s         *Server
	raw       net.Conn // the accepted connection (deadlines, forced close)
	nc        net.Conn // raw, or the TLS connection over it; set before use
	log       *slog.Logger
	q         *srvQueue
	grant     *auth.Grant
	ctx       context.Context // canceled when the connection ends abruptly
	cancel    context.CancelFunc
	stopping  atomic.Bool         // Shutdown asked this connection to end
	handlers  sync.WaitGroup      // request goroutines
	slots     [2]chan struct{}    // blob reads at a time: readahead, demand
	blobBytes *semaphore.Weighted // bytes of the blobs in slots (srvBlobBytes)
	source    string              // what MaxConnsPerSource counts by (srvSource)
	shaking   bool                // counted as handshaking (guarded by s.mu)

	mu        sync.Mutex
	inflight  map[uint32]*srvReq
	rejected  map[uint32]struct{} // uploads refused at their first frame: rest ignored
	buffered  uint64              // totals of uploads in progress
	uploads   int                 // uploads in progress
	grants    srvGrantSet
	backup    *srvBackup
	prevFiles srvSnapKey // the previous snapshot of the backup (GET_FILE allowed)
	lastValid time.Time  // last Tokens.Valid check

	fixed  bool             // an inverted session (ServeInverted): grant fixed, no token to re-check
	result *wire.PushResult // what the target sent (fixed sessions)
}

// srvReq is one request in flight.
type srvReq struct {
	id         uint32
	typ        wire.Type
	ctx        context.Context
	cancel     context.CancelFunc
	cancelable bool
	canceled   atomic.Bool
	upload     *srvUpload // UPLOAD_FILE being received
}

// srvEnd says why and how a connection ends.
type srvEnd struct {
	graceful bool        // finish in-flight answers first
	goodbye  bool        // send GOODBYE (graceful only)
	final    *wire.Frame // abrupt: written after dropping queued answers
	push     *wire.Push  // a PUSH was accepted: hand the connection over
	reason   string
	err      error
}

func (s *Server) newConn(nc net.Conn) *srvConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &srvConn{
		s: s, raw: nc, nc: nc, ctx: ctx, cancel: cancel,
		log:       s.log.With("remote", nc.RemoteAddr().String()),
		q:         srvNewQueue(s.lim.FrameTimeout),
		inflight:  make(map[uint32]*srvReq),
		rejected:  make(map[uint32]struct{}),
		slots:     [2]chan struct{}{make(chan struct{}, s.slots[0]), make(chan struct{}, s.slots[1])},
		blobBytes: semaphore.NewWeighted(srvBlobBytes),
	}
}

// stop asks the connection to end gracefully (Shutdown): its reader stops
// at once, in-flight answers finish.
func (c *srvConn) stop() {
	c.stopping.Store(true)
	_ = c.raw.SetReadDeadline(time.Now())
}

// serve runs the connection: TLS, HELLO, then frames until it ends.
func (c *srvConn) serve(cfg *tls.Config) {
	defer c.raw.Close()
	defer c.cancel()
	if err := c.handshake(cfg); err != nil {
		c.log.Debug("connection refused", "err", err)
		c.s.failed.note("", "last_remote", c.raw.RemoteAddr().String(), "last_err", err)
		return
	}
	c.log = c.log.With("token", c.grant.Name)
	c.log.Info("connected")
	c.run()
}

// run serves frames until the connection ends, and says how it ended.
func (c *srvConn) run() srvEnd {
	werr := make(chan error, 1)
	go func() {
		err := c.q.run(c.nc, func(n int) { c.s.stats.sent.Add(int64(n)) })
		if err != nil {
			c.raw.Close() // stops the reader too
		}
		werr <- err
	}()
	end := c.readLoop(bufio.NewReaderSize(c.nc, 64<<10))
	if end.push != nil {
		c.handover(end, werr)
		return end
	}
	c.finish(end, werr)
	return end
}

// handshake does TLS and HELLO within HandshakeTimeout.
func (c *srvConn) handshake(cfg *tls.Config) error {
	_ = c.raw.SetDeadline(time.Now().Add(c.s.lim.HandshakeTimeout))
	if c.stopping.Load() {
		return errors.New("server shutting down")
	}
	if cfg != nil {
		tc := tls.Server(c.raw, cfg)
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		c.nc = tc
	}
	if err := c.hello(); err != nil {
		return err
	}
	return c.raw.SetDeadline(time.Time{})
}

// hello reads the client's HELLO and answers it, or an ERROR.
func (c *srvConn) hello() error {
	f, err := wire.ReadFrame(c.nc)
	if err != nil {
		if errors.Is(err, wire.ErrProtocol) {
			c.writeNow(wire.Errorf(wire.CodeBadRequest, "%v", err))
		}
		return fmt.Errorf("read hello: %w", err)
	}
	if f.Type != wire.THello || f.ID != 0 {
		c.writeNow(wire.Errorf(wire.CodeBadRequest, "first frame is %v id %d, want HELLO id 0", f.Type, f.ID))
		return fmt.Errorf("first frame %v", f.Type)
	}
	h, err := wire.DecodeClientHello(f.Payload)
	if errors.Is(err, wire.ErrVersion) {
		c.writeNow(wire.Errorf(wire.CodeVersion, "client speaks protocol %d, server speaks %d", h.Version, wire.Version))
		return fmt.Errorf("client speaks protocol %d, server speaks %d", h.Version, wire.Version)
	}
	if err != nil {
		c.writeNow(wire.Errorf(wire.CodeBadRequest, "%v", err))
		return err
	}
	g, err := c.s.cfg.Tokens.Authenticate(h.Token)
	if err != nil {
		c.log.Warn("denied", "token", srvTokenName(h.Token))
		c.writeNow(wire.Errorf(wire.CodeDenied, "invalid or revoked token"))
		return errors.New("invalid or revoked token")
	}
	c.grant, c.lastValid = g, time.Now()
	c.s.handshook(c) // before the answer: a client that has it is no longer handshaking
	sh := wire.ServerHello{Version: wire.Version, Name: c.s.cfg.Name, Features: c.s.features()}
	return wire.WriteFrame(c.nc, wire.Frame{Type: wire.THello, Payload: sh.Append(nil)})
}

// writeNow writes a connection error before the writer runs.
func (c *srvConn) writeNow(e wire.Error) {
	_ = wire.WriteFrame(c.nc, wire.Frame{Type: wire.TError, Payload: e.Append(nil)})
}

// srvTokenName returns the NAME of a "bfs1.NAME.SECRET" for logs, never
// the secret: "" unless the secret has that shape, and clipped.
func srvTokenName(secret string) string {
	rest, ok := strings.CutPrefix(secret, "bfs1.")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 {
		return "(malformed)"
	}
	name := rest[:i]
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return fmt.Sprintf("%q", name)
}

// readLoop reads frames until the connection ends and says how.
func (c *srvConn) readLoop(br *bufio.Reader) srvEnd {
	lim := c.s.lim
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(lim.IdleTimeout))
		if c.stopping.Load() {
			return srvEnd{graceful: true, goodbye: true, reason: "server shutting down"}
		}
		if _, err := br.Peek(1); err != nil {
			return c.readError(err, "idle")
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(lim.FrameTimeout))
		f, err := wire.ReadFrame(br)
		if err != nil {
			return c.readError(err, "frame")
		}
		if f.Type == wire.TPush && br.Buffered() > 0 {
			// The connection changes hands after the ACK: bytes read
			// past the PUSH would be lost to the new reader.
			return c.protocolError(fmt.Errorf("%w: %d bytes follow PUSH before its answer", wire.ErrProtocol, br.Buffered()))
		}
		c.s.stats.received.Add(int64(wire.HeaderSize + len(f.Payload)))
		if end, stop := c.dispatch(f); stop {
			return end
		}
	}
}

// readError classifies a failed read (waiting for a frame, or inside one).
func (c *srvConn) readError(err error, where string) srvEnd {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	switch {
	case c.stopping.Load():
		return srvEnd{graceful: true, goodbye: true, reason: "server shutting down"}
	case errors.Is(err, wire.ErrProtocol):
		return c.protocolError(err)
	case timeout && where == "idle":
		return srvEnd{graceful: true, goodbye: true, reason: "idle timeout"}
	case timeout:
		return srvEnd{reason: "frame not received in time", err: err}
	case errors.Is(err, io.EOF):
		return srvEnd{reason: "closed by client"}
	}
	return srvEnd{reason: "read error", err: err}
}

// protocolError ends the connection with ERROR BAD_REQUEST id 0.
func (c *srvConn) protocolError(err error) srvEnd {
	e := wire.Errorf(wire.CodeBadRequest, "%v", err)
	return srvEnd{final: &wire.Frame{Type: wire.TError, Payload: e.Append(nil)}, reason: "protocol error", err: err}
}

// finish ends the connection as end says and aborts an open backup.
func (c *srvConn) finish(end srvEnd, werr <-chan error) {
	if end.graceful {
		c.handlers.Wait()
		c.abortBackup("connection closing: " + end.reason)
		if end.goodbye {
			// Low priority: written after every answer already queued.
			_ = c.q.push(srvItem{f: wire.Frame{Type: wire.TGoodbye}}, false)
		}
		c.q.close()
	} else {
		c.cancel()
		c.q.abort(end.final)
	}
	err := <-werr
	c.cancel()
	c.raw.Close()
	c.handlers.Wait()
	c.abortBackup("connection lost: " + end.reason)
	attrs := []any{"reason", end.reason}
	if end.err != nil {
		attrs = append(attrs, "err", end.err)
	}
	if err != nil {
		attrs = append(attrs, "write_err", err)
	}
	if end.err != nil || err != nil {
		c.log.Warn("closed", attrs...)
	} else {
		c.log.Info("closed", attrs...)
	}
}
