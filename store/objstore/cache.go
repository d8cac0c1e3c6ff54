package objstore

import (
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// existCache is the bounded, rebuildable set of chunks known to be stored,
// with the local time this process last wrote or touched each (0: not
// since it was listed). It is a hint that saves requests, never trusted
// for what must be true: a chunk it lists is still touched (or, if touched
// here within touchWindow, taken as touched then), and one it lacks is only
// taken as absent while the set is complete (filled by a listing of every
// chunk, never overflowed); a wrong hint costs a request or rewrites a
// chunk, it cannot lose one. GC and Verify drop what they remove.
type existCache struct {
	mu       sync.Mutex
	max      int
	m        map[catalog.Digest]int64
	complete bool
	filled   bool // a fill was tried
}

// touchWindow: a chunk this process wrote or touched less than this long
// ago (by its own clock) is not touched again; the chunk's age by the
// store's clock is then at most this much more than a touch would leave
// it, so the effective GC grace is shortened by at most this.
const touchWindow = 10 * time.Minute

func newExistCache(max int) *existCache {
	if max <= 0 {
		max = 4 << 20
	}
	return &existCache{max: max, m: make(map[catalog.Digest]int64)}
}

// lookup says whether d is known stored, when this process last touched
// it, and whether "not known" means absent (the set is complete).
func (c *existCache) lookup(d catalog.Digest) (known bool, touched int64, complete bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[d]
	return ok, t, c.complete
}

// add records d as stored, touched at local time now (unix ns; 0: unknown).
func (c *existCache) add(d catalog.Digest, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; !ok && len(c.m) >= c.max {
		for k := range c.m { // drop one: the set is a hint from now on
			delete(c.m, k)
			break
		}
		c.complete = false
	}
	c.m[d] = now
}

// drop forgets d (removed by GC, taken away by Verify, or found missing).
func (c *existCache) drop(d catalog.Digest) {
	c.mu.Lock()
	delete(c.m, d)
	c.mu.Unlock()
}

// snapshot returns the digests of a complete set (ok false otherwise).
func (c *existCache) snapshot() (ds []catalog.Digest, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.complete {
		return nil, false
	}
	ds = make([]catalog.Digest, 0, len(c.m))
	for d := range c.m {
		ds = append(ds, d)
	}
	return ds, true
}

// fill lists every chunk once (the first put after Open) and marks the
// set complete if the listing succeeded and fit.
func (c *existCache) fill(list func(add func(catalog.Digest)) error) {
	c.mu.Lock()
	if c.filled {
		c.mu.Unlock()
		return
	}
	c.filled = true
	c.mu.Unlock()
	found := make(map[catalog.Digest]struct{})
	err := list(func(d catalog.Digest) { found[d] = struct{}{} })
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := range found {
		if _, ok := c.m[d]; !ok {
			c.m[d] = 0
		}
	}
	c.complete = err == nil && len(c.m) <= c.max
	if !c.complete {
		clear(c.m)
	}
}
