package cache

// The memory bound of a mount is the cache size plus a fixed allowance for
// everything else: inodes, directory tables, request buffers. Everything
// else grows with use (the kernel keeps an inode for every file cp -a
// touched), so the mount lends part of the cache's bytes to it: the cache
// then keeps at most Size minus the reserve, never less than a quarter of
// Size, and reads ahead at most half of that, so chunks read ahead are
// not evicted before they are read.

// SetReserve sets how many of the cache's bytes are lent to other memory,
// evicts down to the new bound at once and bounds the readahead window by
// half of it. A negative n is 0.
func (c *Cache) SetReserve(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserve = max(n, 0)
	c.evictToBound()
	c.raWindow.Store(min(c.opt.Readahead, c.bound()/2))
}

// raLimit is the largest readahead window: Options.Readahead, or half the
// cache's bound if that is less, so chunks read ahead are not evicted
// before they are read. Zero or less: no readahead.
func (c *Cache) raLimit() int64 {
	if c.opt.Readahead <= 0 {
		return c.opt.Readahead
	}
	if w := c.raWindow.Load(); w > 0 {
		return w
	}
	return c.opt.Readahead
}

// bound is the bytes the cache may hold now. c.mu is held.
func (c *Cache) bound() int64 {
	return max(c.opt.Size-c.reserve, c.opt.Size/4)
}

// evictToBound drops the least recently used chunks until the cache is
// within its bound. c.mu is held.
func (c *Cache) evictToBound() {
	for c.bytes > c.bound() {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			return
		}
	}
}
