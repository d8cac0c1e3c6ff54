package cache

import (
	"errors"

	"github.com/backupfs/backupfs/catalog"
)

// ReadCached fills p with the stream's bytes at off if every chunk they
// span is in memory now, and reports whether it did. It never fetches
// and does not change which chunks the cache keeps: it serves a caller
// that passes bytes on only when that costs no network round trip (the
// mount pushing a small file into the kernel's page cache ahead of a
// read).
func (s *Stream) ReadCached(p []byte, off int64) bool {
	if off < 0 || off+int64(len(p)) > s.size {
		return false
	}
	_, err := s.fill(p, off, func(d catalog.Digest, size int) ([]byte, error) {
		if data, ok := s.c.peek(d, size); ok {
			return data, nil
		}
		return nil, errNotCached
	})
	return err == nil
}

// errNotCached stops ReadCached at a chunk not in memory.
var errNotCached = errors.New("cache: chunk not in memory")

// peek returns d's bytes if they are in memory (or all zeros), without
// counting a hit or making d recently used. A readahead chunk counts as
// used.
func (c *Cache) peek(d catalog.Digest, size int) ([]byte, bool) {
	if catalog.IsZeroChunk(d, size) {
		return zeroBuf()[:size:size], true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Peek(d)
	if !ok || len(e.data) != size {
		return nil, false
	}
	if e.ra {
		e.ra = false
		c.st.readaheadUsed.Add(1)
	}
	return e.data, true
}
