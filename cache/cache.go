package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/semaphore"
)

// Source is below the seam: the network client or the local store
// (adapters live in cmd). Chunk returns the verified plain bytes of d;
// demand=false means readahead (low priority). The cache keeps the returned
// slice, so a Source must not reuse it.
type Source interface {
	Chunk(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error)
}

// Promoter is implemented by a Source that can raise the priority of a
// readahead fetch in progress. When a demand read joins a readahead fetch
// of d, the cache calls Promote(d) once; it must not block.
type Promoter interface {
	Promote(d catalog.Digest)
}

// Options configure a Cache. Zero values mean the defaults.
type Options struct {
	Size      int64  // bytes of plain chunks kept in memory; 0 = 64 MiB
	Readahead int64  // maximum readahead window in bytes; 0 = 32 MiB; <0 disables
	Dir       string // persistent disk tier; "" = none
	DirSize   int64  // bound of the disk tier; 0 = 1 GiB
	Log       *slog.Logger
}

// Defaults for zero Options.
const (
	DefaultSize      = 64 << 20
	DefaultReadahead = 32 << 20
	DefaultDirSize   = 1 << 30
)

// ErrSize reports a chunk whose length does not match its index entry.
var ErrSize = errors.New("cache: chunk length does not match the index")

// maxEntries caps the LRU's entry count far above anything the byte bound
// allows, so only bytes decide eviction.
const maxEntries = 1 << 30

// Cache is a byte-bounded chunk cache with single-flight fetches. It is
// safe for concurrent use.
type Cache struct {
	src  Source
	opt  Options
	log  *slog.Logger
	disk *diskTier        // nil without Options.Dir
	now  func() time.Time // the clock of the failure memory (tests set it)

	ctx    context.Context // fetches run under it, not under callers'
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetches, readahead, disk writes

	raBytes *semaphore.Weighted // readahead bytes in flight
	raSlots chan struct{}       // readahead fetches in flight

	mu      sync.Mutex
	lru     *simplelru.LRU[catalog.Digest, *entry]
	bytes   int64
	reserve int64 // bytes of Size lent to other memory (SetReserve)

	raWindow atomic.Int64 // readahead limit under a reserve; 0: Options.Readahead
	flights  map[catalog.Digest]*flight
	failed   map[catalog.Digest]failure // fetches that just failed

	st counters
}

// entry is one cached chunk.
type entry struct {
	data []byte
	ra   bool // fetched by readahead and not read yet
}

// flight is one fetch in progress.
type flight struct {
	done   chan struct{}
	data   []byte
	err    error
	demand bool // started by a demand read
	used   bool // a demand read waited for this readahead fetch
}

// New returns a cache over src.
func New(src Source, opt Options) (*Cache, error) {
	if src == nil {
		return nil, errors.New("cache: nil source")
	}
	if opt.Size <= 0 {
		opt.Size = DefaultSize
	}
	if opt.Readahead == 0 {
		opt.Readahead = DefaultReadahead
	}
	if opt.DirSize <= 0 {
		opt.DirSize = DefaultDirSize
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{src: src, opt: opt, log: opt.Log, flights: map[catalog.Digest]*flight{},
		failed: map[catalog.Digest]failure{}, now: time.Now}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	lru, err := simplelru.NewLRU(maxEntries, c.onEvict)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.lru = lru
	if opt.Readahead > 0 {
		c.raBytes = semaphore.NewWeighted(max(opt.Readahead, catalog.MaxChunkSize))
		c.raSlots = make(chan struct{}, raConcurrency)
	}
	if opt.Dir != "" {
		if c.disk, err = openDisk(opt.Dir, opt.DirSize, c.log); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close cancels fetches in flight and waits for background work (readahead,
// disk writes) to end. Reads after Close fail with context.Canceled.
func (c *Cache) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// zeroBuf is the shared read-only buffer all-zero chunks are served from.
var zeroBuf = sync.OnceValue(func() []byte { return make([]byte, catalog.MaxChunkSize) })

// Chunk returns the plain bytes of chunk d, whose length is size: from
// memory, from the disk tier (verified), or from one fetch shared by every
// caller that wants d. An all-zero chunk is returned without fetching. The
// bytes are read-only. If ctx ends first, Chunk returns ctx.Err() to this
// caller only; the fetch goes on for the others and fills the cache. A
// ctx that has ended before the call gets its error for any chunk not in
// memory, and starts no fetch.
func (c *Cache) Chunk(ctx context.Context, d catalog.Digest, size int, demand bool) ([]byte, error) {
	if catalog.IsZeroChunk(d, size) {
		c.st.zeroHits.Add(1)
		return zeroBuf()[:size:size], nil
	}
	if size < 0 || size > catalog.MaxChunkSize {
		return nil, fmt.Errorf("%w: size %d", ErrSize, size)
	}
	c.mu.Lock()
	if e, ok := c.lru.Get(d); ok {
		if demand {
			c.st.hits.Add(1)
			if e.ra {
				e.ra = false
				c.st.readaheadUsed.Add(1)
			}
		}
		c.mu.Unlock()
		return e.data, nil
	}
	if fl, ok := c.failed[d]; ok {
		if c.now().Before(fl.until) {
			c.mu.Unlock()
			return nil, fl.err // the kernel's retries of a failed read fail at once
		}
		delete(c.failed, d)
	}
	if err := ctx.Err(); err != nil {
		// Ended before asking: no fetch, and no race between a flight
		// that answers at once and ctx in the select below.
		c.mu.Unlock()
		return nil, err
	}
	if demand {
		c.st.misses.Add(1)
	}
	f, promote := c.join(d, size, demand)
	c.mu.Unlock()
	if p, ok := c.src.(Promoter); ok && promote {
		p.Promote(d)
	}
	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// join returns the flight for d, starting one if none is in progress;
// promote reports the first demand read joining a readahead flight. c.mu
// is held.
func (c *Cache) join(d catalog.Digest, size int, demand bool) (f *flight, promote bool) {
	if f = c.flights[d]; f != nil {
		if demand && !f.demand && !f.used {
			f.used = true
			c.st.readaheadUsed.Add(1)
			c.st.promoted.Add(1)
			return f, true
		}
		return f, false
	}
	f = c.newFlight(d, demand)
	go c.run(f, d, size)
	return f, false
}

// newFlight registers a fetch of d for run; c.mu is held.
func (c *Cache) newFlight(d catalog.Digest, demand bool) *flight {
	f := &flight{done: make(chan struct{}), demand: demand}
	c.flights[d] = f
	c.wg.Add(1)
	return f
}

// run performs one fetch and publishes its result to the flight's waiters
// and the cache, then writes the chunk to the disk tier.
func (c *Cache) run(f *flight, d catalog.Digest, size int) {
	defer c.wg.Done()
	data, from, err := c.load(d, size, f.demand)
	c.mu.Lock()
	delete(c.flights, d)
	if err == nil && from != fromZeros {
		c.add(d, &entry{data: data, ra: !f.demand && !f.used})
	} else if err != nil && c.ctx.Err() == nil {
		c.remember(d, err)
	}
	f.data, f.err = data, err
	c.mu.Unlock()
	close(f.done)
	if err == nil && from == fromSource && c.disk != nil {
		c.disk.put(d, data)
	}
}

// failMemory is how long a failed fetch is remembered. After a read fails
// (the source timed out, a chunk is corrupt) the kernel asks for the same
// pages again at once; without this each retry would wait the source's
// whole timeout again, so a read would fail after several timeouts
// instead of one. It is short, so a server that comes back is used at once.
var failMemory = time.Second

// failure is a remembered failed fetch.
type failure struct {
	err   error
	until time.Time
}

// remember records a failed fetch of d; c.mu is held. Expired entries are
// dropped when the table grows, so it stays small.
func (c *Cache) remember(d catalog.Digest, err error) {
	now := c.now()
	if len(c.failed) >= 1024 {
		for k, fl := range c.failed {
			if now.After(fl.until) {
				delete(c.failed, k)
			}
		}
	}
	if len(c.failed) < 4096 {
		c.failed[d] = failure{err: err, until: now.Add(failMemory)}
	}
}

// Where load found a chunk.
const (
	fromSource = iota
	fromDisk
	fromZeros // all zeros: made here, not fetched, not kept
)

// load reads d from the disk tier or the source, unless it is all zeros
// (isZero, for the sizes knownZero does not know).
func (c *Cache) load(d catalog.Digest, size int, demand bool) (data []byte, from int, err error) {
	if catalog.MatchZeroChunk(d, size) {
		c.st.zeroHits.Add(1)
		return zeroBuf()[:size:size], fromZeros, nil
	}
	if c.disk != nil {
		if data, ok := c.disk.get(d, size); ok {
			c.st.diskHits.Add(1)
			return data, fromDisk, nil
		}
	}
	c.st.fetches.Add(1)
	data, err = c.src.Chunk(c.ctx, d, demand)
	if err == nil && len(data) != size {
		err = fmt.Errorf("%w: got %d bytes, want %d", ErrSize, len(data), size)
	}
	if err != nil {
		c.st.fetchErrors.Add(1)
		return nil, fromSource, err
	}
	c.st.bytesFetched.Add(int64(len(data)))
	return data, fromSource, nil
}

// add puts e into the LRU and evicts down to the byte bound (Size less the
// reserve). A chunk larger than Size is not kept. c.mu is held.
func (c *Cache) add(d catalog.Digest, e *entry) {
	n := int64(len(e.data))
	if n > c.opt.Size || c.lru.Contains(d) {
		return
	}
	c.lru.Add(d, e)
	c.bytes += n
	c.evictToBound()
}

// onEvict keeps the byte count; called by the LRU with c.mu held.
func (c *Cache) onEvict(_ catalog.Digest, e *entry) {
	c.bytes -= int64(len(e.data))
	c.st.evictions.Add(1)
}

// cached reports whether d is in memory or being fetched, without
// touching its recency.
func (c *Cache) cached(d catalog.Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Contains(d) || c.flights[d] != nil
}

// counters are the statistics, updated without c.mu.
type counters struct {
	hits, misses, diskHits, zeroHits, fetches, fetchErrors  atomic.Int64
	bytesFetched, readaheadIssued, readaheadUsed, evictions atomic.Int64
	promoted                                                atomic.Int64
}
