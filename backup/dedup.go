package backup

import (
	"fmt"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// hashedSink is a Sink that can skip hashing a chunk again when its
// caller computed the digest from the same bytes (the local store:
// hashing twice was a quarter of a local backup's CPU).
type hashedSink interface {
	PutHashedChunk(d catalog.Digest, plain []byte) (written bool, err error)
}

// asyncSink is a Sink that stores chunks without waiting for each to be
// acknowledged (the network client: one round trip per chunk left the
// pipe's workers idle). PutChunkAsync returns once plain may be reused;
// stored runs later with the outcome of a chunk that was stored. An
// error of a chunk in flight is returned by a later call or by Commit,
// so a failed chunk still fails the backup.
type asyncSink interface {
	PutChunkAsync(d catalog.Digest, plain []byte, stored func(written bool)) error
}

// lackingSink is a Sink whose base (the previous snapshot the server or
// store holds for this backup) lacks some chunks: verify found them bad or
// missing. Change detection must not take a file from the previous
// snapshot when one of its chunks is lacking; reading the file uploads
// the chunk again, which heals the datastore.
type lackingSink interface {
	Lacks(d catalog.Digest) bool
}

// lacks reports whether the sink's base lacks chunk dg.
func (d *dedup) lacks(dg catalog.Digest) bool {
	l, ok := d.sink.(lackingSink)
	return ok && l.Lacks(dg)
}

// dedup puts chunks into a sink once per backup and counts them. A digest
// already put in this backup (a repeated block, the zero chunk) costs a
// map lookup, not a sink call.
type dedup struct {
	sink  Sink
	stats *Stats
	seal  Sealer // a sealed backup's (nil: plain)
	mu    sync.Mutex
	seen  map[catalog.Digest]struct{}
}

// blobSink stores a chunk given as a blob (a sealed one): the store's
// snapshot writer.
type blobSink interface {
	PutBlob(d catalog.Digest, blob []byte) (written bool, err error)
}

// asyncBlobSink is asyncSink for blobs (the network client).
type asyncBlobSink interface {
	PutBlobAsync(d catalog.Digest, blob []byte, stored func(written bool)) error
}

// id is a chunk's digest: its keyed id in a sealed backup.
func (d *dedup) id(plain []byte) catalog.Digest {
	if d.seal != nil {
		return d.seal.ID(plain)
	}
	return catalog.Sum(plain)
}

func newDedup(sink Sink, stats *Stats) *dedup {
	return &dedup{sink: sink, stats: stats, seen: make(map[catalog.Digest]struct{})}
}

func (d *dedup) put(dg catalog.Digest, plain []byte) error {
	d.stats.Chunks.Add(1)
	d.mu.Lock()
	_, ok := d.seen[dg]
	d.seen[dg] = struct{}{} // claimed before the put: a concurrent twin skips it
	d.mu.Unlock()
	if ok {
		return nil // stored (or being stored) by this backup; any error aborts it all
	}
	if err := d.store(dg, plain); err != nil {
		return fmt.Errorf("store chunk %s: %w", dg, err)
	}
	return nil
}

// claim marks dg as put in this backup (or known to the sink) and reports
// whether it was not before.
func (d *dedup) claim(dg catalog.Digest) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[dg]
	d.seen[dg] = struct{}{}
	return !ok
}

// isSeen reports whether dg was put or known in this backup.
func (d *dedup) isSeen(dg catalog.Digest) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[dg]
	return ok
}

// store hands one new chunk to the sink by the fastest way it offers.
func (d *dedup) store(dg catalog.Digest, plain []byte) error {
	n := int64(len(plain))
	count := func(written bool) {
		if written {
			d.stats.NewChunks.Add(1)
			d.stats.NewBytes.Add(n)
		}
	}
	if d.seal != nil && !catalog.MatchZeroChunk(dg, len(plain)) {
		return d.storeSealed(dg, plain, count)
	}
	switch s := d.sink.(type) {
	case asyncSink:
		return s.PutChunkAsync(dg, plain, count)
	case hashedSink:
		written, err := s.PutHashedChunk(dg, plain)
		count(written)
		return err
	}
	written, err := d.sink.PutChunk(dg, plain)
	count(written)
	return err
}

// storeSealed seals a chunk and hands the blob to the sink.
func (d *dedup) storeSealed(dg catalog.Digest, plain []byte, count func(bool)) error {
	blob, err := d.seal.Seal(dg, plain)
	if err != nil {
		return err
	}
	switch s := d.sink.(type) {
	case asyncBlobSink:
		return s.PutBlobAsync(dg, blob, count)
	case blobSink:
		written, err := s.PutBlob(dg, blob)
		count(written)
		return err
	}
	return fmt.Errorf("backup: the sink %T cannot store sealed chunks", d.sink)
}
