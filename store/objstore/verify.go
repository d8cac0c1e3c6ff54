package objstore

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Verify checks snapshots as the directory store does: each manifest,
// each index file against it, and every referenced chunk by DecodeBlob,
// once per digest per run, in parallel. A corrupt chunk is moved aside to
// bad/<digest> (so HasChunk reports it missing and the next backup stores
// it again); a missing one is listed there too (empty), so a backup whose
// base references it uploads it again.
func (s *Store) Verify(ctx context.Context, opt store.VerifyOptions, report func(store.VerifyProblem)) (store.VerifyStats, error) {
	if opt.Workers <= 0 {
		opt.Workers = 4 * runtime.GOMAXPROCS(0) // requests wait on the network
	}
	return store.RunVerify(ctx, objVerify{s}, opt, report)
}

// objVerify is the object store as a store.VerifyBackend.
type objVerify struct{ *Store }

func (o objVerify) VerifiedIndex(g catalog.Group, t time.Time, f catalog.IndexFile) (catalog.Index, error) {
	return o.index(g, t, f)
}

// MarkBad sets a corrupt chunk aside, or lists a missing one (markBad
// does both).
func (o objVerify) MarkBad(d catalog.Digest, _ error) error { return o.markBad(d) }

// markBad moves a chunk that fails its checks to bad/<digest> (or lists a
// missing one there, empty). Under the chunk's lock it is read again
// first: a good copy stored since is left alone.
func (s *Store) markBad(d catalog.Digest) error {
	mu := s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	blob, err := s.c.get(chunkKey(d), store.MaxBlobSize, func(n int) []byte { return make([]byte, n) })
	if err == nil {
		if _, derr := store.DecodeBlob(blob, d); derr == nil || errors.Is(derr, store.ErrSealed) {
			return nil // sound, or sealed with a sound CRC
		}
	} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
		return err
	}
	// Listed first: a writer whose base references it must find it on
	// the list before the chunk goes.
	if err := s.c.put(badPfx+d.String(), blob, false); err != nil {
		return err
	}
	s.known.drop(d)
	return s.c.del(chunkKey(d))
}

// Verified returns when a snapshot was last verified clean (an object
// beside its manifest holding the time).
func (o objVerify) Verified(g catalog.Group, t time.Time) (time.Time, bool, error) {
	return store.DecodeVerified(o.c.get(snapKey(g, t)+store.VerifiedName, 64, func(n int) []byte { return make([]byte, n) }))
}

// SetVerified records a clean verify of a snapshot at at.
func (o objVerify) SetVerified(g catalog.Group, t time.Time, at time.Time) error {
	return o.c.put(snapKey(g, t)+store.VerifiedName, store.EncodeVerified(at), false)
}
