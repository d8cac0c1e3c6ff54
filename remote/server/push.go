package server

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

// Push mode (remote/PROTOCOL.md, "Push"). Both halves of the role
// inversion live here, neither knows package client:
//
//   - The side that is dialed (the target) accepts a PUSH (handover) and
//     hands the connection, with nothing of it buffered, to
//     ServerConfig.Push, which pulls over it as a client does.
//   - The side that dialed (the pusher) serves its datastore over that
//     connection with ServeInverted: the ordinary request handling, under
//     a fixed Grant instead of a token, until the target's PUSH_RESULT.

// Handover is a connection whose client asked to be pulled from: after
// the ACK of its PUSH the client is the server. Nothing of Conn was read
// past the PUSH frame and nothing is written to it any more by the
// server's own goroutines.
type Handover struct {
	Conn    net.Conn    // the TLS connection, deadlines cleared
	Grant   *auth.Grant // what the pusher's token may do on this server
	Request wire.Push
	Log     *slog.Logger // the connection's logger
	// Timeout is the server's Limits.IdleTimeout: the hook must give up
	// on the pusher when it leaves one of its requests unanswered that
	// long, as the server closes a client that sends nothing that long
	// (an inverted session has no other bound on a stalled pusher).
	Timeout time.Duration
	// MaxFile is the server's Limits.MaxFile, the bound on an uploaded
	// file: the hook holds the index files of a snapshot in memory until
	// it is published, and bounds their total by it.
	MaxFile uint64
}

// ErrPushLost reports an inverted session that ended before the target
// sent its PUSH_RESULT: the connection was lost or closed.
var ErrPushLost = errors.New("remote: push: the target ended the session without a result")

// invertedFeatures are the HELLO features of an inverted session: reads
// of stored blobs for the puller, nothing else.
const invertedFeatures = wire.FeatureSync | wire.FeatureSealed

// pushOn reports whether this server accepts PUSH.
func (s *Server) pushOn() bool { return s.cfg.Push != nil && !s.cfg.NoPush }

// grantHas reports whether g holds any rule of permission p.
func grantHas(g *auth.Grant, p auth.Perm) bool {
	for _, r := range g.Rules {
		if r.Perm == p {
			return true
		}
	}
	return false
}

// pushReq handles PUSH in the reader goroutine. Refused (ERROR for its
// id), the connection goes on as before; accepted, ACK is queued and the
// reader stops: serve hands the connection over (handover).
func (c *srvConn) pushReq(f wire.Frame) (srvEnd, bool) {
	m, err := wire.DecodePush(f.Payload)
	if err == nil && (f.ID == 0 || c.fixed) {
		err = fmt.Errorf("%w: PUSH with id 0 or in an inverted session", wire.ErrProtocol)
	}
	if err != nil {
		return c.protocolError(err), true
	}
	if !c.tokenValid() {
		e := wire.Errorf(wire.CodeDenied, "token %q was revoked", c.grant.Name)
		return srvEnd{final: &wire.Frame{Type: wire.TError, Payload: e.Append(nil)}, reason: "token revoked"}, true
	}
	if refuse := c.pushRefusal(m); refuse != nil {
		c.log.Warn("push refused", "err", refuse.Message)
		if c.q.push(srvItem{f: wire.Frame{Type: wire.TError, ID: f.ID, Payload: refuse.Append(nil)}}, true) != nil {
			return srvEnd{reason: "writer stopped"}, true
		}
		return srvEnd{}, false
	}
	if c.q.push(srvItem{f: wire.Frame{Type: wire.TAck, ID: f.ID, Payload: wire.Ack{}.Append(nil)}}, true) != nil {
		return srvEnd{reason: "writer stopped"}, true
	}
	return srvEnd{push: &m, reason: "push accepted"}, true
}

// pushRefusal says why a PUSH cannot be taken now, or nil.
func (c *srvConn) pushRefusal(m wire.Push) *wire.Error {
	c.mu.Lock()
	busy, backup := len(c.inflight)+c.uploads, c.backup != nil
	c.mu.Unlock()
	switch {
	case !c.s.pushOn():
		return &wire.Error{Code: wire.CodeDenied, Message: "this server does not accept push (serve --no-push)"}
	case busy > 0 || backup:
		return &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("PUSH with %d requests in flight or a backup open: nothing may be in flight at the handover", busy)}
	case !grantHas(c.grant, auth.PermBackup):
		return &wire.Error{Code: wire.CodeDenied, Message: fmt.Sprintf("token %q may not push here: it needs backup:PATTERN for the groups it pushes", c.grant.Name)}
	case m.RemoveVanished && !grantHas(c.grant, auth.PermPrune):
		return &wire.Error{Code: wire.CodeDenied, Message: fmt.Sprintf("token %q may not push with --remove-vanished here: it needs prune:PATTERN for the groups it pushes", c.grant.Name)}
	}
	return nil
}

// handover waits for the handlers and the writer to finish (the ACK is
// then written and flushed) and runs ServerConfig.Push on the connection.
// Shutdown cancels its context and closes the connection: the hook may be
// waiting for a pusher that does not answer (its requests give up only
// after Limits.IdleTimeout), and a push is not a request in flight whose
// answer Shutdown lets finish. What the pull published stays; a snapshot
// it was copying is not published.
func (c *srvConn) handover(end srvEnd, werr <-chan error) {
	c.handlers.Wait()
	c.q.close()
	if err := <-werr; err != nil {
		c.log.Warn("closed", "reason", "push: ACK not written", "write_err", err)
		return
	}
	_ = c.raw.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		select {
		case <-c.s.quit:
			cancel()
			c.raw.Close() // the hook may wait on the pusher: Shutdown must not
		case <-ctx.Done():
		}
	}()
	c.log.Info("push accepted: pulling from the client", "type", end.push.Type, "id", end.push.ID, "groups", end.push.Patterns)
	c.s.cfg.Push(ctx, Handover{Conn: c.nc, Grant: c.grant, Request: *end.push, Log: c.log, Timeout: c.s.lim.IdleTimeout, MaxFile: c.s.lim.MaxFile})
	c.log.Info("closed", "reason", "push done")
}

// ServeInverted serves the datastore over nc, a connection this side
// dialed and whose peer accepted its PUSH: the peer now speaks first, a
// HELLO as a client's (its token is ignored), and reads what g allows.
// It returns the PUSH_RESULT the peer sent, or an error wrapping
// ErrPushLost if the session ended without one. Canceling ctx closes nc.
// ServerConfig.Tokens is not used.
func (s *Server) ServeInverted(ctx context.Context, nc net.Conn, g *auth.Grant) (wire.PushResult, error) {
	c := s.newConn(nc)
	c.grant, c.fixed = g, true
	defer c.cancel()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	if err := c.invertedHello(); err != nil {
		nc.Close()
		return wire.PushResult{}, fmt.Errorf("%w: %w", ErrPushLost, err)
	}
	end := c.run()
	nc.Close()
	c.mu.Lock()
	res := c.result
	c.mu.Unlock()
	if res == nil {
		reason := end.reason
		if end.err != nil {
			reason += ": " + end.err.Error()
		}
		if ctx.Err() != nil {
			reason = ctx.Err().Error()
		}
		return wire.PushResult{}, fmt.Errorf("%w (%s)", ErrPushLost, reason)
	}
	return *res, nil
}

// invertedHello reads the puller's HELLO and answers it.
func (c *srvConn) invertedHello() error {
	_ = c.raw.SetDeadline(time.Now().Add(c.s.lim.HandshakeTimeout))
	f, err := wire.ReadFrame(c.nc)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if f.Type == wire.TError {
		e, _ := wire.DecodeError(f.Payload)
		return e
	}
	if f.Type != wire.THello || f.ID != 0 {
		c.writeNow(wire.Errorf(wire.CodeBadRequest, "first frame is %v id %d, want HELLO id 0", f.Type, f.ID))
		return fmt.Errorf("%w: first frame %v", wire.ErrProtocol, f.Type)
	}
	h, err := wire.DecodeClientHello(f.Payload)
	if errors.Is(err, wire.ErrVersion) {
		c.writeNow(wire.Errorf(wire.CodeVersion, "client speaks protocol %d, server speaks %d", h.Version, wire.Version))
		return err
	}
	if err != nil {
		c.writeNow(wire.Errorf(wire.CodeBadRequest, "%v", err))
		return err
	}
	sh := wire.ServerHello{Version: wire.Version, Name: c.s.cfg.Name, Features: invertedFeatures}
	if err := wire.WriteFrame(c.nc, wire.Frame{Type: wire.THello, Payload: sh.Append(nil)}); err != nil {
		return err
	}
	return c.raw.SetDeadline(time.Time{})
}

// pushResult handles PUSH_RESULT in an inverted session: it keeps the
// result, answers ACK and ends the session.
func (c *srvConn) pushResult(f wire.Frame) (srvEnd, bool) {
	r, err := wire.DecodePushResult(f.Payload)
	if err == nil && (f.ID == 0 || !c.fixed) {
		err = fmt.Errorf("%w: PUSH_RESULT with id 0 or outside an inverted session", wire.ErrProtocol)
	}
	if err != nil {
		return c.protocolError(err), true
	}
	c.mu.Lock()
	c.result = &r
	c.mu.Unlock()
	if c.q.push(srvItem{f: wire.Frame{Type: wire.TAck, ID: f.ID, Payload: wire.Ack{}.Append(nil)}}, true) != nil {
		return srvEnd{reason: "writer stopped"}, true
	}
	return srvEnd{graceful: true, reason: "push result received"}, true
}
