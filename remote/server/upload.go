package server

import (
	"fmt"

	"github.com/backupfs/backupfs/remote/wire"
)

// uploadFrame takes one UPLOAD_FILE frame (in the reader goroutine). The
// first frame of a file is admitted or answered (BUSY, BAD_REQUEST) and
// then the rest of that file is ignored; the last frame of an admitted
// file starts writing it. Returned errors are protocol errors.
func (c *srvConn) uploadFrame(f wire.Frame) error {
	u, err := wire.DecodeUploadFile(f.Payload)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rejected[f.ID]; ok {
		if !f.More() {
			delete(c.rejected, f.ID)
		}
		return nil
	}
	r := c.inflight[f.ID]
	if r == nil {
		if r, err = c.admitUpload(f, u); r == nil || err != nil {
			return err
		}
	} else if r.upload == nil || r.upload.name != u.Name {
		return fmt.Errorf("%w: UPLOAD_FILE id %d: another request or file in flight", wire.ErrProtocol, f.ID)
	}
	done, err := r.upload.asm.Add(u.FileData, f.More())
	if err != nil || !done {
		return err
	}
	return c.startWrite(r)
}

// admitUpload checks an upload's first frame (c.mu held). It returns nil
// and no error when it answered the request itself.
func (c *srvConn) admitUpload(f wire.Frame, u wire.UploadFile) (*srvReq, error) {
	var e *wire.Error
	switch b := c.backup; {
	case b == nil || b.closing:
		e = &wire.Error{Code: wire.CodeBadRequest, Message: "UPLOAD_FILE without a backup in progress"}
	case u.Total > c.s.lim.MaxFile:
		e = &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("file %q of %d bytes, at most %d", u.Name, u.Total, c.s.lim.MaxFile)}
	case c.uploads > 0 && c.buffered+u.Total > uint64(c.s.lim.Buffered):
		e = &wire.Error{Code: wire.CodeBusy, Message: fmt.Sprintf("%d bytes of uploads buffered, at most %d", c.buffered, c.s.lim.Buffered)}
	}
	if e == nil {
		r, err := c.beginLocked(f.ID, wire.TUploadFile)
		if r == nil || err != nil {
			return nil, c.rejectRest(f, err)
		}
		r.upload = &srvUpload{b: c.backup, name: u.Name, total: u.Total, asm: wire.NewFileAssembler(c.s.lim.MaxFile)}
		c.buffered += u.Total
		c.uploads++
		return r, nil
	}
	if err := c.pushLocked(f.ID, *e); err != nil {
		return nil, err
	}
	return nil, c.rejectRest(f, nil)
}

// rejectRest makes the reader ignore the rest of a refused upload.
func (c *srvConn) rejectRest(f wire.Frame, err error) error {
	if err != nil || !f.More() {
		return err
	}
	if len(c.rejected) >= c.s.lim.InFlight {
		return fmt.Errorf("%w: too many refused uploads still sending", wire.ErrProtocol)
	}
	c.rejected[f.ID] = struct{}{}
	return nil
}

// startWrite writes a received file in a handler goroutine (c.mu held).
// The session must still be the one the upload began in and not closing.
func (c *srvConn) startWrite(r *srvReq) error {
	up := r.upload
	b := c.backup
	ok := b == up.b && !b.closing
	if ok {
		b.uploads.Add(1)
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		var err error
		if ok {
			err = b.w.WriteFile(up.name, up.asm.Bytes())
			b.uploads.Done()
		}
		c.mu.Lock()
		c.buffered -= up.total
		c.uploads--
		c.mu.Unlock()
		switch {
		case !ok:
			c.fail(r, wire.CodeBadRequest, "the backup ended before %s was complete", up.name)
		case err != nil:
			c.failErr(r, "write "+up.name, err)
		default:
			c.done(r, wire.Frame{Type: wire.TAck, Payload: wire.Ack{}.Append(nil)}, true)
		}
	}()
	return nil
}
