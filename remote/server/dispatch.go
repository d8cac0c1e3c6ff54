package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// srvValidEvery is how often a connection re-checks that its token still
// exists (Tokens.Valid stats the token file).
const srvValidEvery = time.Second

// dispatch handles one frame in the reader goroutine; stop reports that
// the connection ends as end says.
func (c *srvConn) dispatch(f wire.Frame) (end srvEnd, stop bool) {
	var err error
	switch f.Type {
	case wire.TPing:
		var p wire.Ping
		if p, err = wire.DecodePing(f.Payload); err == nil {
			err = c.q.push(srvItem{f: wire.Frame{Type: wire.TPong, ID: f.ID, Payload: p.Append(nil)}}, true)
			if err != nil {
				return srvEnd{reason: "writer stopped"}, true
			}
		}
	case wire.TPong:
		_, err = wire.DecodePing(f.Payload)
	case wire.TGoodbye:
		if err = wire.DecodeEmpty(f.Type, f.Payload); err == nil {
			return srvEnd{graceful: true, reason: "goodbye from client"}, true
		}
	case wire.TCancel:
		if err = wire.DecodeEmpty(f.Type, f.Payload); err == nil {
			c.cancelReq(f.ID)
		}
	case wire.TError:
		var e wire.Error
		if e, err = wire.DecodeError(f.Payload); err == nil {
			return srvEnd{reason: "error from client", err: e}, true
		}
	case wire.TPush:
		return c.pushReq(f)
	case wire.TPushResult:
		return c.pushResult(f)
	default:
		return c.request(f)
	}
	if err != nil {
		return c.protocolError(err), true
	}
	return srvEnd{}, false
}

// request decodes a request frame and starts its handler.
func (c *srvConn) request(f wire.Frame) (srvEnd, bool) {
	if f.ID == 0 {
		return c.protocolError(fmt.Errorf("%w: %v request with id 0", wire.ErrProtocol, f.Type)), true
	}
	if !c.tokenValid() {
		e := wire.Errorf(wire.CodeDenied, "token %q was revoked", c.grant.Name)
		return srvEnd{final: &wire.Frame{Type: wire.TError, Payload: e.Append(nil)}, reason: "token revoked"}, true
	}
	if f.Type == wire.TUploadFile {
		if err := c.uploadFrame(f); err != nil {
			return c.protocolError(err), true
		}
		return srvEnd{}, false
	}
	h, inline, err := c.handler(f)
	if err != nil {
		return c.protocolError(err), true
	}
	c.s.act.requests.Add(1)
	req, err := c.begin(f.ID, f.Type)
	if err != nil {
		return c.protocolError(err), true
	}
	if req == nil { // answered BUSY
		return srvEnd{}, false
	}
	c.handlers.Add(1)
	run := func() {
		defer c.handlers.Done()
		h(req)
	}
	if inline {
		run()
	} else {
		go run()
	}
	return srvEnd{}, false
}

// handler decodes f and returns the function answering it; inline ones
// change session state and run in the reader goroutine, in frame order.
func (c *srvConn) handler(f wire.Frame) (h func(*srvReq), inline bool, err error) {
	p := f.Payload
	switch f.Type {
	case wire.TListGroups:
		return c.listGroups, false, wire.DecodeEmpty(f.Type, p)
	case wire.TListSnapshots:
		m, err := wire.DecodeListSnapshots(p)
		return func(r *srvReq) { c.listSnapshots(r, m) }, false, err
	case wire.TGetFile:
		m, err := wire.DecodeGetFile(p)
		return func(r *srvReq) { c.getFile(r, m) }, false, err
	case wire.TGetChunks:
		m, err := wire.DecodeGetChunks(p)
		demand := f.Flags&wire.FlagDemand != 0
		return func(r *srvReq) { c.getChunks(r, m, demand) }, false, err
	case wire.TBackupBegin:
		m, err := wire.DecodeBackupBegin(p)
		return func(r *srvReq) { c.backupBegin(r, m) }, true, err
	case wire.TUploadChunk:
		m, err := wire.DecodeUploadChunk(p)
		return func(r *srvReq) { c.uploadChunk(r, m) }, true, err
	case wire.TBackupFinish:
		m, err := wire.DecodeBackupFinish(p)
		return func(r *srvReq) { c.backupFinish(r, m) }, true, err
	case wire.TBackupAbort:
		return c.backupAbortReq, true, wire.DecodeEmpty(f.Type, p)
	case wire.TQueryChunks:
		m, err := wire.DecodeQueryChunks(p)
		return func(r *srvReq) { c.queryChunks(r, m) }, true, err
	case wire.TAdmin:
		m, err := wire.DecodeAdmin(p)
		return func(r *srvReq) { c.adminReq(r, m) }, false, err
	}
	return nil, false, fmt.Errorf("%w: %v frame sent to the server", wire.ErrProtocol, f.Type)
}

// tokenValid re-checks the token at most once per srvValidEvery.
func (c *srvConn) tokenValid() bool {
	if c.fixed {
		return true
	}
	now := time.Now()
	c.mu.Lock()
	due := now.Sub(c.lastValid) >= srvValidEvery
	if due {
		c.lastValid = now
	}
	c.mu.Unlock()
	if !due || c.s.cfg.Tokens.Valid(c.grant.Name) {
		return true
	}
	c.log.Warn("token revoked: closing")
	return false
}

// begin registers a request in flight. It answers ERROR BUSY (and returns
// nil) over the limit; a duplicate id is a protocol error.
func (c *srvConn) begin(id uint32, t wire.Type) (*srvReq, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beginLocked(id, t)
}

func (c *srvConn) beginLocked(id uint32, t wire.Type) (*srvReq, error) {
	if _, dup := c.inflight[id]; dup {
		return nil, fmt.Errorf("%w: request id %d is already in flight", wire.ErrProtocol, id)
	}
	if len(c.inflight) >= c.s.lim.InFlight {
		e := wire.Errorf(wire.CodeBusy, "%d requests in flight, at most %d", len(c.inflight), c.s.lim.InFlight)
		return nil, c.pushLocked(id, e)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	r := &srvReq{id: id, typ: t, ctx: ctx, cancel: cancel}
	switch t {
	case wire.TListGroups, wire.TListSnapshots, wire.TGetFile, wire.TGetChunks, wire.TAdmin:
		r.cancelable = true
	}
	c.inflight[id] = r
	return r, nil
}

// pushLocked queues an ERROR for a request that never got in flight. It
// must not block while c.mu is held, so a full queue drops the connection
// rather than wait (the peer is not reading its answers).
func (c *srvConn) pushLocked(id uint32, e wire.Error) error {
	c.s.act.errors.Add(1)
	err := c.q.tryPush(srvItem{f: wire.Frame{Type: wire.TError, ID: id, Payload: e.Append(nil)}})
	if err != nil {
		return fmt.Errorf("%w: answers not read: %w", wire.ErrProtocol, err)
	}
	return nil
}

// cancelReq handles CANCEL: a cancelable request in flight is canceled;
// its handler ends it with ERROR CANCELED. Anything else is ignored.
func (c *srvConn) cancelReq(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.inflight[id]; r != nil && r.cancelable {
		r.canceled.Store(true)
		r.cancel()
	}
}

// send queues a frame of r's answer that is not its last.
func (c *srvConn) send(r *srvReq, f wire.Frame, high bool) error {
	return c.sendItem(r, srvItem{f: f}, high)
}

// sendItem is send for an item that may carry a pooled buffer: it is
// released if the item is not queued.
func (c *srvConn) sendItem(r *srvReq, it srvItem, high bool) error {
	it.f.ID, it.req = r.id, r
	err := c.q.push(it, high)
	if err != nil {
		it.release()
	}
	return err
}

// done removes r from flight and queues its last frame (ERROR CANCELED
// instead if it was canceled).
func (c *srvConn) done(r *srvReq, f wire.Frame, high bool) {
	c.doneItem(r, srvItem{f: f}, high)
}

// doneItem is done for an item that may carry a pooled buffer.
func (c *srvConn) doneItem(r *srvReq, it srvItem, high bool) {
	c.mu.Lock()
	delete(c.inflight, r.id)
	c.mu.Unlock()
	r.cancel()
	if r.canceled.Load() {
		it.release()
		e := wire.Errorf(wire.CodeCanceled, "request %d canceled", r.id)
		it = srvItem{f: wire.Frame{Type: wire.TError, Payload: e.Append(nil)}}
	}
	it.f.ID, it.req, it.terminal = r.id, r, true
	if it.f.Type == wire.TError {
		c.s.act.errors.Add(1)
	}
	if c.q.push(it, high) != nil {
		it.release()
	}
}

// fail ends r with an ERROR.
func (c *srvConn) fail(r *srvReq, code wire.Code, format string, args ...any) {
	e := wire.Errorf(code, format, args...)
	c.done(r, wire.Frame{Type: wire.TError, Payload: e.Append(nil)}, true)
}

// failErr ends r with the ERROR a store or catalog error maps to, and
// logs errors that are the server's problem.
func (c *srvConn) failErr(r *srvReq, what string, err error) {
	code := srvCode(err)
	if code == wire.CodeGeneric || code == wire.CodeCorrupt {
		c.log.Error(what, "err", err)
	}
	if errors.Is(err, context.Canceled) && r.canceled.Load() {
		c.done(r, wire.Frame{}, true) // replaced by ERROR CANCELED
		return
	}
	c.fail(r, code, "%s: %v", what, err)
}
