package backup

import (
	"fmt"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// dedup puts chunks into a sink once per backup and counts them. A digest
// already put in this backup (a repeated block, the zero chunk) costs a
// map lookup, not a sink call.
type dedup struct {
	sink  Sink
	stats *Stats
	mu    sync.Mutex
	seen  map[catalog.Digest]struct{}
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
	written, err := d.sink.PutChunk(dg, plain)
	if err != nil {
		return fmt.Errorf("store chunk %s: %w", dg, err)
	}
	if written {
		d.stats.NewChunks.Add(1)
		d.stats.NewBytes.Add(int64(len(plain)))
	}
	return nil
}
