package client

import (
	"context"
	"fmt"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// uploadWindow is how many chunk uploads a backup keeps in flight before
// it waits for ACKs. Waiting for each ACK (one round trip per chunk, the
// server verifying and writing meanwhile) kept the two pipe workers idle
// half the time. 32 keeps the server busy over loopback and leaves room
// under the server's per-connection limit of requests (256).
const uploadWindow = 32

// PutChunkAsync uploads a chunk unless the previous snapshot had it,
// without waiting for the server's ACK: it returns once the chunk is
// sent (plain may then be reused). stored runs when the ACK arrives,
// with whether the server stored new bytes. WriteFile and Commit first
// wait for every ACK. A failed upload (an error answer, a timeout, a lost
// connection) is returned by the next PutChunkAsync, WriteFile or Commit,
// and Commit then publishes nothing.
// At most uploadWindow uploads are in flight; a call waits for a slot.
func (b *Backup) PutChunkAsync(d catalog.Digest, plain []byte, stored func(written bool)) error {
	if err := b.uploadErr(); err != nil {
		return err
	}
	if b.isKnown(d) {
		b.Skipped.Add(1)
		return nil
	}
	bp := uploadBufs.Get(catalog.DigestSize + store.BlobHeaderSize + len(plain))
	defer uploadBufs.Put(bp)
	payload, err := store.AppendBlob(append((*bp)[:0], d[:]...), plain)
	*bp = payload[:0]
	if err != nil {
		return err
	}
	return b.sendAsync(d, payload, stored)
}

// PutBlobAsync is PutChunkAsync for a chunk already encoded as a blob (a
// sealed chunk: store.SealBlob); blob may be reused once it returns.
func (b *Backup) PutBlobAsync(d catalog.Digest, blob []byte, stored func(written bool)) error {
	if err := b.uploadErr(); err != nil {
		return err
	}
	if err := b.cc.need(wire.FeatureSealed); err != nil {
		return err
	}
	if b.isKnown(d) {
		b.Skipped.Add(1)
		return nil
	}
	bp := uploadBufs.Get(catalog.DigestSize + len(blob))
	defer uploadBufs.Put(bp)
	payload := append(append((*bp)[:0], d[:]...), blob...)
	*bp = payload[:0]
	return b.sendAsync(d, payload, stored)
}

// sendAsync sends one UPLOAD_CHUNK payload (digest and blob) in a window
// slot; awaitAck takes its answer.
func (b *Backup) sendAsync(d catalog.Digest, payload []byte, stored func(bool)) error {
	select {
	case b.window <- struct{}{}:
	case <-b.cc.done:
		return fmt.Errorf("upload chunk %s: %w", d, b.cc.broken())
	}
	c, id, err := b.cc.start(wire.Frame{Type: wire.TUploadChunk, Payload: payload})
	if err != nil {
		<-b.window
		return fmt.Errorf("upload chunk %s: %w", d, err)
	}
	b.Uploaded.Add(1)
	b.inflight.Add(1)
	go b.awaitAck(c, id, d, stored)
	return nil
}

// awaitAck waits for one upload's answer and frees its window slot.
func (b *Backup) awaitAck(c *call, id uint32, d catalog.Digest, stored func(bool)) {
	defer b.inflight.Done()
	defer func() { <-b.window }()
	ctx, cancel := context.WithTimeout(b.c.base, b.c.cfg.Timeout)
	defer cancel()
	f, err := c.next(ctx)
	if err != nil {
		b.cc.cancel(id)
	} else {
		b.cc.forget(id)
		if f.Type != wire.TAck {
			err = answerError(f, wire.TAck)
		}
	}
	var ack wire.Ack
	if err == nil {
		ack, err = wire.DecodeAck(f.Payload)
	}
	if err != nil {
		b.setUploadErr(fmt.Errorf("upload chunk %s: %w", d, err))
		return
	}
	stored(ack.New)
}

func (b *Backup) setUploadErr(err error) {
	b.errMu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.errMu.Unlock()
}

// uploadErr returns the first failed chunk upload's error, or nil.
func (b *Backup) uploadErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// uploadBufs pools UPLOAD_CHUNK payloads (digest + blob): a payload is
// written to the connection before PutChunkAsync returns.
var uploadBufs store.BufPool
