package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvBackup is a connection's backup session. Session changes (begin,
// finish, abort) are decided in the reader goroutine in frame order;
// uploads run concurrently, and FINISH and ABORT wait for the uploads
// received before them.
type srvBackup struct {
	w       store.Writer
	label   string
	uploads sync.WaitGroup // UPLOAD_CHUNK, UPLOAD_FILE and QUERY_CHUNKS running
	closing bool           // FINISH or ABORT running: no more uploads (c.mu)
	// What the session received, logged when it is published: chunk
	// uploads and their blob bytes, and chunks the digest query made known.
	upChunks, upBytes, known atomic.Int64
	readable                 srvReadable // the digest query's index (query.go)
}

// srvUpload is an UPLOAD_FILE being received.
type srvUpload struct {
	b     *srvBackup // the session it was admitted in
	name  string
	total uint64
	asm   *wire.FileAssembler
}

// backupBegin answers BACKUP_BEGIN (inline).
func (c *srvConn) backupBegin(r *srvReq, m wire.BackupBegin) {
	if !c.grant.Allows(auth.PermBackup, m.Group) {
		c.log.Warn("denied backup", "group", m.Group)
		c.fail(r, wire.CodeDenied, "token %q may not back up %q", c.grant.Name, m.Group)
		return
	}
	g, err := catalog.ParseGroup(m.Group)
	if err != nil {
		c.fail(r, wire.CodeBadRequest, "%v", err)
		return
	}
	c.mu.Lock()
	busy := c.backup != nil
	c.mu.Unlock()
	if busy {
		c.fail(r, wire.CodeBadRequest, "a backup is already in progress on this connection")
		return
	}
	t := time.Unix(m.Time, 0).UTC()
	if _, err := catalog.ParseTime(catalog.FormatTime(t)); err != nil {
		// A time outside years 0..9999 has no canonical name: its snapshot
		// directory could never be listed or read back.
		c.fail(r, wire.CodeBadRequest, "snapshot time %d: %v", m.Time, err)
		return
	}
	prev, err := c.previous(g, t)
	if err != nil {
		c.failErr(r, "begin backup", err)
		return
	}
	w, err := c.s.cfg.Store.Begin(g, t)
	if err != nil {
		c.failErr(r, "begin backup", err)
		return
	}
	w.Confine()
	ready := c.holdBase(w, prev)
	b := &srvBackup{w: w, label: w.String()}
	c.mu.Lock()
	c.backup, c.prevFiles = b, srvSnapKey{}
	if ready.Previous != 0 {
		c.prevFiles = srvSnapKey{m.Group, ready.Previous}
	}
	c.mu.Unlock()
	c.s.act.begun.Add(1)
	c.log.Info("backup started", "snapshot", b.label, "previous", ready.Previous, "lacking", len(ready.Lacking))
	c.done(r, wire.Frame{Type: wire.TBackupReady, Payload: ready.Append(nil)}, true)
}

// holdBase makes the previous snapshot the writer's base and returns the
// BACKUP_READY that names it and the chunks of it the datastore lacks. A
// previous snapshot that cannot be held (an index file damaged, being
// forgotten) or lacks too many chunks to list is no base: the answer names
// none and says why, and the client uploads every chunk (a confined
// writer takes nothing it was not given).
func (c *srvConn) holdBase(w store.Writer, prev int64) wire.BackupReady {
	if prev == 0 {
		return wire.BackupReady{}
	}
	at := catalog.FormatTime(time.Unix(prev, 0))
	if err := w.SetBase(time.Unix(prev, 0)); err != nil {
		// The client hears why in general terms; the server's paths stay
		// in the server's log.
		c.log.Warn("previous snapshot not usable as the base: every chunk is uploaded", "previous", at, "err", err)
		why := "its index files are damaged (see verify)"
		if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrNotFound) {
			why = "it is being forgotten"
		}
		return wire.BackupReady{Note: fmt.Sprintf("previous snapshot %s is not usable (%s): backing up without it, every chunk is uploaded", at, why)}
	}
	lacking, more := w.BaseLacks(wire.MaxLacking)
	if more {
		w.DropBase()
		c.log.Warn("previous snapshot lacks too many chunks: every chunk is uploaded", "previous", at)
		return wire.BackupReady{Note: fmt.Sprintf("previous snapshot %s lacks more than %d chunks (see verify): backing up without it", at, wire.MaxLacking)}
	}
	ready := wire.BackupReady{Previous: prev, Lacking: lacking}
	if len(lacking) > 0 {
		ready.Note = fmt.Sprintf("previous snapshot %s: the datastore lacks %d of its chunks (verify found them bad or missing); they are uploaded again", at, len(lacking))
	}
	return ready
}

// previous returns the time of g's latest snapshot before t (0: none).
func (c *srvConn) previous(g catalog.Group, t time.Time) (int64, error) {
	prev, ok, err := c.s.cfg.Store.Before(g, t)
	if !ok || err != nil {
		return 0, err
	}
	return prev.Unix(), nil
}

// activeBackup returns the open session and counts an upload in it, or nil.
func (c *srvConn) activeBackup() *srvBackup {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.backup
	if b == nil || b.closing {
		return nil
	}
	b.uploads.Add(1)
	return b
}

// uploadChunk answers UPLOAD_CHUNK: decoded inline, stored concurrently.
func (c *srvConn) uploadChunk(r *srvReq, m wire.UploadChunk) {
	b := c.activeBackup()
	if b == nil {
		c.fail(r, wire.CodeBadRequest, "UPLOAD_CHUNK without a backup in progress")
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer b.uploads.Done()
		b.upChunks.Add(1)
		b.upBytes.Add(int64(len(m.Blob)))
		written, err := c.putBlob(b, m.Digest, m.Blob)
		if errors.Is(err, store.ErrCorrupt) {
			c.fail(r, wire.CodeBadRequest, "chunk %s: the blob does not decode to its digest: %v", m.Digest, err)
			return
		}
		if err != nil {
			c.failErr(r, "store uploaded chunk", err)
			return
		}
		if written {
			c.s.stats.upNew.Add(1)
		} else {
			c.s.stats.upKnown.Add(1)
		}
		c.done(r, wire.Frame{Type: wire.TAck, Payload: wire.Ack{New: written}.Append(nil)}, true)
	}()
}

// putBlob verifies a blob against d and stores it as received (never
// recompressed), touching a chunk the store already has; the writer
// records the activity so GC does not take a long upload for abandoned.
func (c *srvConn) putBlob(b *srvBackup, d catalog.Digest, blob []byte) (bool, error) {
	return b.w.PutBlob(d, blob)
}

// closeBackup marks the session closing for FINISH or ABORT, or returns nil.
func (c *srvConn) closeBackup() *srvBackup {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.backup
	if b == nil || b.closing {
		return nil
	}
	b.closing = true
	return b
}

// endBackup drops the session after it committed or aborted.
func (c *srvConn) endBackup(b *srvBackup) {
	c.mu.Lock()
	if c.backup == b {
		c.backup, c.prevFiles = nil, srvSnapKey{}
	}
	c.mu.Unlock()
}

// backupFinish answers BACKUP_FINISH: after the uploads received before
// it, Commit. On failure the session stays open (upload what is missing
// and finish again, or abort).
func (c *srvConn) backupFinish(r *srvReq, m wire.BackupFinish) {
	man, err := catalog.DecodeManifest(m.Manifest)
	if err != nil {
		c.fail(r, wire.CodeBadRequest, "manifest: %v", err)
		return
	}
	b := c.closeBackup()
	if b == nil {
		c.fail(r, wire.CodeBadRequest, "BACKUP_FINISH without a backup in progress")
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		b.uploads.Wait()
		err := b.w.Commit(man)
		if err != nil {
			c.mu.Lock()
			b.closing = false
			c.mu.Unlock()
			var miss *store.MissingChunksError
			if errors.As(err, &miss) {
				c.fail(r, wire.CodeNotFound, "%d referenced chunks missing (first %s)", miss.Count, miss.Digests[0])
				return
			}
			c.failErr(r, "commit "+b.label, err)
			return
		}
		c.endBackup(b)
		c.s.stats.published.Add(1)
		c.log.Info("backup published", "snapshot", b.label, "uploaded_chunks", b.upChunks.Load(),
			"uploaded_bytes", b.upBytes.Load(), "known_by_query", b.known.Load())
		c.done(r, wire.Frame{Type: wire.TAck, Payload: wire.Ack{}.Append(nil)}, true)
	}()
}

// backupAbortReq answers BACKUP_ABORT: ACK, also without a session.
func (c *srvConn) backupAbortReq(r *srvReq) {
	b := c.closeBackup()
	ack := wire.Frame{Type: wire.TAck, Payload: wire.Ack{}.Append(nil)}
	if b == nil {
		c.done(r, ack, true)
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		b.uploads.Wait()
		c.abort(b, "aborted by client")
		c.done(r, ack, true)
	}()
}

// abortBackup aborts the open session, if any, once its uploads ended.
func (c *srvConn) abortBackup(reason string) {
	c.mu.Lock()
	b := c.backup
	c.mu.Unlock()
	if b != nil {
		b.uploads.Wait()
		c.abort(b, reason)
	}
}

func (c *srvConn) abort(b *srvBackup, reason string) {
	if err := b.w.Abort(); err != nil {
		c.log.Error("abort backup", "snapshot", b.label, "err", err)
	}
	c.endBackup(b)
	c.s.act.aborted.Add(1)
	c.log.Info("backup aborted", "snapshot", b.label, "reason", reason)
}
