package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// Backup is a snapshot being made on the server; it implements
// backup.Sink. It has its own connection: a backup is not idempotent, so
// a lost connection fails it (the server publishes nothing) instead of
// being retried.
type Backup struct {
	c        *Client
	cc       *clientConn
	group    catalog.Group
	time     time.Time
	known    []byte                      // sorted digests of the previous snapshot: not uploaded again
	previous time.Time                   // the server's base (zero: none)
	lacking  map[catalog.Digest]struct{} // base chunks the server lacks: uploaded
	note     string                      // the server's word on the base, for the user
	Uploaded atomic.Int64
	Skipped  atomic.Int64 // chunks the previous snapshot had
	found    atomic.Int64 // chunks the digest query answered known (query.go)

	window   chan struct{}  // one slot per chunk upload awaiting its ACK
	inflight sync.WaitGroup // chunk uploads awaiting their ACK
	errMu    sync.Mutex
	err      error // the first failed chunk upload: fails the backup
}

var (
	_ backup.Sink         = (*Backup)(nil)
	_ backup.ImageChunker = (*Backup)(nil)
)

// ImageChunkSize passes on the server's advice (wire.FeatureLargeChunks):
// chunker.LargeFixedSize for a datastore on an object store, else 0 (the
// default).
func (b *Backup) ImageChunkSize() int {
	if b.cc.features&wire.FeatureLargeChunks != 0 {
		return chunker.LargeFixedSize
	}
	return 0
}

// Begin starts a backup of group g at time t. The previous snapshot's
// chunks become known, so they are not uploaded again.
func (c *Client) Begin(g catalog.Group, t time.Time) (*Backup, error) {
	ctx, cancel := context.WithTimeout(c.base, c.cfg.Timeout)
	defer cancel()
	var cc *clientConn
	err := c.do(ctx, "connect", func(ctx context.Context, _ *clientConn) (err error) {
		cc, err = dialConn(ctx, c.cfg.Addr, c.tls, c.cfg.Token, c.cfg.connectLimit())
		if cc != nil {
			cc.unseal = c.cfg.Unseal
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	b := &Backup{c: c, cc: cc, group: g, time: t, window: make(chan struct{}, uploadWindow)}
	if err := b.begin(ctx); err != nil {
		cc.fail(errConn{errors.New("backup not started")})
		return nil, err
	}
	return b, nil
}

func (b *Backup) begin(ctx context.Context) error {
	req := wire.BackupBegin{Group: b.group.String(), Time: b.time.Unix()}
	f, err := b.cc.roundTrip(ctx, wire.Frame{Type: wire.TBackupBegin, Payload: req.Append(nil)}, wire.TBackupReady)
	if err != nil {
		return fmt.Errorf("begin backup of %s: %w", b.group, err)
	}
	r, err := wire.DecodeBackupReady(f.Payload)
	if err != nil {
		return err
	}
	b.note = r.Note
	if r.Previous == 0 {
		return nil
	}
	b.lacking = make(map[catalog.Digest]struct{}, len(r.Lacking))
	for _, d := range r.Lacking {
		b.lacking[d] = struct{}{}
	}
	if err := b.loadPrevious(ctx, r.Previous); err != nil {
		// Not fatal: without the table every chunk is offered, which the
		// server accepts as well (and it heals what the base lacks).
		b.known = nil
		b.note = strings.TrimPrefix(b.note+"; ", "; ") + fmt.Sprintf("%v: every chunk is uploaded", err)
		return nil
	}
	b.previous = time.Unix(r.Previous, 0).UTC()
	return nil
}

// Previous returns the snapshot the server holds as this backup's base
// (its chunks need no upload), and whether there is one. Change detection
// must compare against this one: a confined server accepts only chunks
// uploaded in the session or in this base.
func (b *Backup) Previous() (time.Time, bool) { return b.previous, !b.previous.IsZero() }

// Lacks reports whether d is a chunk of the base the server no longer
// holds whole: it is uploaded even where the base references it, and
// change detection must not take a file that needs it from the base.
func (b *Backup) Lacks(d catalog.Digest) bool {
	_, ok := b.lacking[d]
	return ok
}

// Note returns what the server said of the base for the user (empty: all
// is well): why there is none, or that chunks of it are uploaded again.
func (b *Backup) Note() string { return b.note }

// loadPrevious reads the previous snapshot's indexes into a sorted table.
func (b *Backup) loadPrevious(ctx context.Context, prev int64) error {
	k := fileKey{group: b.group.String(), time: prev, name: catalog.ManifestName}
	mb, err := b.cc.getFile(ctx, k, maxFileSize)
	if err != nil {
		return fmt.Errorf("previous snapshot: %w", err)
	}
	m, err := catalog.DecodeManifest(mb)
	if err != nil {
		return fmt.Errorf("previous snapshot: %w", err)
	}
	var table []byte
	for _, a := range m.Archives {
		for _, f := range a.Files {
			k.name = f.Name
			ib, err := b.cc.getFile(ctx, k, maxFileSize)
			if err != nil {
				return fmt.Errorf("previous snapshot: %w", err)
			}
			idx, err := catalog.DecodeIndex(ib)
			if err != nil {
				return fmt.Errorf("previous snapshot %s: %w", f.Name, err)
			}
			for i := range idx.NumChunks() {
				_, _, d := idx.Chunk(i)
				if _, bad := b.lacking[d]; !bad {
					table = append(table, d[:]...)
				}
			}
		}
	}
	b.known = sortDigests(table)
	return nil
}

// sortDigests sorts a table of 32-byte digests and drops duplicates.
func sortDigests(table []byte) []byte {
	n := len(table) / catalog.DigestSize
	ds := make([]catalog.Digest, n)
	for i := range ds {
		copy(ds[i][:], table[i*catalog.DigestSize:])
	}
	sort.Slice(ds, func(i, j int) bool { return bytes.Compare(ds[i][:], ds[j][:]) < 0 })
	out := table[:0]
	for i, d := range ds {
		if i == 0 || d != ds[i-1] {
			out = append(out, d[:]...)
		}
	}
	return out
}

func (b *Backup) isKnown(d catalog.Digest) bool {
	n := len(b.known) / catalog.DigestSize
	i := sort.Search(n, func(i int) bool {
		return bytes.Compare(b.known[i*catalog.DigestSize:(i+1)*catalog.DigestSize], d[:]) >= 0
	})
	return i < n && bytes.Equal(b.known[i*catalog.DigestSize:(i+1)*catalog.DigestSize], d[:])
}

// Uploads reports how many chunks were sent, and how many were not
// because the previous snapshot had them.
func (b *Backup) Uploads() (uploaded, skipped int64) { return b.Uploaded.Load(), b.Skipped.Load() }

// PutChunk uploads a chunk unless the previous snapshot had it and waits
// for the server's answer; written reports whether the server stored new
// bytes. Concurrent calls pipeline. Backups use PutChunkAsync.
func (b *Backup) PutChunk(d catalog.Digest, plain []byte) (bool, error) {
	if b.isKnown(d) {
		b.Skipped.Add(1)
		return false, nil
	}
	blob, err := store.EncodeBlob(plain)
	if err != nil {
		return false, err
	}
	req := wire.UploadChunk{Digest: d, Blob: blob}
	ctx, cancel := context.WithTimeout(b.c.base, b.c.cfg.Timeout)
	defer cancel()
	f, err := b.cc.roundTrip(ctx, wire.Frame{Type: wire.TUploadChunk, Payload: req.Append(nil)}, wire.TAck)
	if err != nil {
		return false, fmt.Errorf("upload chunk %s: %w", d, err)
	}
	b.Uploaded.Add(1)
	ack, err := wire.DecodeAck(f.Payload)
	return ack.New, err
}

// WriteFile uploads an index file// WriteFile uploads an index file in frames of at most 1 MiB, after every
// chunk upload sent before it was answered: an index file reaches the
// server only once the chunks it references are stored (as before uploads
// were pipelined; draining the window once per index file costs one round
// trip), and a failed upload stops the backup before it.
func (b *Backup) WriteFile(name string, data []byte) error {
	b.inflight.Wait()
	if err := b.uploadErr(); err != nil {
		return err
	}
	if err := validFileName(name); err != nil || name == catalog.ManifestName {
		return fmt.Errorf("upload %s: %w", name, catalog.ErrName)
	}
	var frames []wire.Frame
	for off := 0; off == 0 || off < len(data); off += maxFileFrame {
		end := min(off+maxFileFrame, len(data))
		m := wire.UploadFile{Name: name, FileData: wire.FileData{Total: uint64(len(data)), Offset: uint64(off), Data: data[off:end]}}
		f := wire.Frame{Type: wire.TUploadFile, Payload: m.Append(nil)}
		if end < len(data) {
			f.Flags = wire.FlagMore
		}
		frames = append(frames, f)
	}
	ctx, cancel := context.WithTimeout(b.c.base, b.c.cfg.Timeout)
	defer cancel()
	c, id, err := b.cc.start(frames...)
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer b.cc.forget(id)
	f, err := c.next(ctx)
	if err == nil && f.Type != wire.TAck {
		err = answerError(f, wire.TAck)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}

// Commit waits for every chunk upload's answer and, if all were stored,
// asks the server to publish the snapshot. On a failed upload it sends
// nothing: closing the connection makes the server discard the snapshot.
func (b *Backup) Commit(m *catalog.Manifest) error {
	defer b.cc.fail(errConn{errors.New("backup finished")})
	b.inflight.Wait()
	if err := b.uploadErr(); err != nil {
		return err
	}
	mb, err := catalog.EncodeManifest(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(b.c.base, b.c.cfg.Timeout)
	defer cancel()
	req := wire.BackupFinish{Manifest: mb}
	if _, err := b.cc.roundTrip(ctx, wire.Frame{Type: wire.TBackupFinish, Payload: req.Append(nil)}, wire.TAck); err != nil {
		return fmt.Errorf("finish backup: %w", err)
	}
	return nil
}

// Abort tells the server to discard the snapshot; closing the connection
// would do the same.
func (b *Backup) Abort() error {
	defer b.cc.fail(errConn{errors.New("backup aborted")})
	if b.cc.broken() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(b.c.base, 10*time.Second)
	defer cancel()
	_, err := b.cc.roundTrip(ctx, wire.Frame{Type: wire.TBackupAbort}, wire.TAck)
	return err
}
