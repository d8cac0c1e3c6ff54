package objstore

import (
	"container/list"
	"sync"
)

// fileCache keeps the index files of published snapshots (immutable until
// Forget) that were read, bounded in bytes, least recently used out first:
// a second mount or restore of a snapshot reads them from memory, not the
// object store. Forget in this process drops a snapshot's files; after a
// Forget elsewhere a file may still be served from here, as a reader
// holding the directory store's file open would read it: the snapshot is
// gone from every listing and its manifest is never cached.
type fileCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	ll    *list.List // front: most recent; values are *fileEntry
	m     map[string]*list.Element
}

type fileEntry struct {
	key string
	b   []byte
}

func newFileCache(max int64) *fileCache {
	if max <= 0 {
		max = 64 << 20
	}
	return &fileCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *fileCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*fileEntry).b, true
}

// add keeps b (never modified afterwards by anyone) unless it is larger
// than a quarter of the bound.
func (c *fileCache) add(key string, b []byte) {
	if int64(len(b)) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	c.m[key] = c.ll.PushFront(&fileEntry{key: key, b: b})
	c.bytes += int64(len(b))
	for c.bytes > c.max {
		c.remove(c.ll.Back())
	}
}

// dropPrefix removes every file whose key starts with p (a snapshot).
func (c *fileCache) dropPrefix(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if len(k) >= len(p) && k[:len(p)] == p {
			c.remove(e)
		}
	}
}

func (c *fileCache) remove(e *list.Element) {
	fe := c.ll.Remove(e).(*fileEntry)
	delete(c.m, fe.key)
	c.bytes -= int64(len(fe.b))
}
