package server

import (
	"bytes"
	"container/list"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// srvSnapKey names a snapshot; srvFileKey one of its files.
type srvSnapKey struct {
	group string
	time  int64
}

type srvFileKey struct {
	srvSnapKey
	name string
}

// srvDigestCache holds, server-wide, the digests each index file
// references as a sorted table (32 bytes per distinct digest, searched by
// binary search), bounded in bytes, least recently used out first. An
// evicted table is reloaded from the store when a connection needs it;
// one load runs however many connections wait for it.
type srvDigestCache struct {
	st  store.Reader
	max int64

	mu   sync.Mutex
	used int64
	m    map[srvFileKey]*list.Element // of *srvDigestEntry
	lru  list.List                    // front: most recently used
}

type srvDigestEntry struct {
	key   srvFileKey
	table []byte
	ready chan struct{} // closed when table or err is set
	err   error
}

func srvNewDigestCache(st store.Reader, max int64) *srvDigestCache {
	return &srvDigestCache{st: st, max: max, m: make(map[srvFileKey]*list.Element)}
}

// put records the table of an index file just read.
func (dc *srvDigestCache) put(k srvFileKey, table []byte) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if el, ok := dc.m[k]; ok {
		dc.lru.MoveToFront(el)
		return
	}
	e := &srvDigestEntry{key: k, table: table, ready: make(chan struct{})}
	close(e.ready)
	dc.m[k] = dc.lru.PushFront(e)
	dc.used += int64(len(table))
	dc.evictLocked()
}

// get returns the table of an index file, loading it on a miss.
func (dc *srvDigestCache) get(k srvFileKey) ([]byte, error) {
	dc.mu.Lock()
	if el, ok := dc.m[k]; ok {
		dc.lru.MoveToFront(el)
		e := el.Value.(*srvDigestEntry)
		dc.mu.Unlock()
		<-e.ready
		return e.table, e.err
	}
	e := &srvDigestEntry{key: k, ready: make(chan struct{})}
	el := dc.lru.PushFront(e)
	dc.m[k] = el
	dc.mu.Unlock()

	e.table, e.err = dc.load(k)
	dc.mu.Lock()
	if e.err != nil {
		if dc.m[k] == el { // errors are not cached
			delete(dc.m, k)
			dc.lru.Remove(el)
		}
	} else {
		dc.used += int64(len(e.table))
		dc.evictLocked()
	}
	dc.mu.Unlock()
	close(e.ready)
	return e.table, e.err
}

func (dc *srvDigestCache) load(k srvFileKey) ([]byte, error) {
	g, err := catalog.ParseGroup(k.group)
	if err != nil {
		return nil, err
	}
	b, err := dc.st.ReadFile(g, time.Unix(k.time, 0).UTC(), k.name)
	if err != nil {
		return nil, err
	}
	idx, err := catalog.DecodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", store.ErrCorrupt, k.group, k.name, err)
	}
	return srvSortedTable(idx), nil
}

// evictLocked drops least recently used tables beyond max, always
// keeping the most recent one.
func (dc *srvDigestCache) evictLocked() {
	for el := dc.lru.Back(); dc.used > dc.max && el != nil && el != dc.lru.Front(); {
		prev := el.Prev()
		e := el.Value.(*srvDigestEntry)
		select {
		case <-e.ready:
			dc.used -= int64(len(e.table))
			delete(dc.m, e.key)
			dc.lru.Remove(el)
		default: // still loading: not counted yet
		}
		el = prev
	}
}

// srvSortedTable returns the distinct digests of idx, sorted, 32 bytes each.
func srvSortedTable(idx catalog.Index) []byte {
	ds := make([]catalog.Digest, idx.NumChunks())
	for i := range ds {
		_, _, ds[i] = idx.Chunk(i)
	}
	slices.SortFunc(ds, func(a, b catalog.Digest) int { return bytes.Compare(a[:], b[:]) })
	ds = slices.Compact(ds)
	out := make([]byte, 0, len(ds)*catalog.DigestSize)
	for i := range ds {
		out = append(out, ds[i][:]...)
	}
	return out
}

// srvTableHas reports whether a sorted table holds d.
func srvTableHas(table []byte, d *catalog.Digest) bool {
	lo, hi := 0, len(table)/catalog.DigestSize
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch bytes.Compare(table[mid*catalog.DigestSize:(mid+1)*catalog.DigestSize], d[:]) {
		case 0:
			return true
		case -1:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return false
}

// srvMaxGrants bounds the index files one connection holds grants for;
// beyond it the oldest grant is dropped (the client can download that
// index again).
const srvMaxGrants = 1 << 16

// srvGrantSet is the index files a connection may fetch chunks of.
type srvGrantSet struct {
	keys []srvFileKey
}

func (gs *srvGrantSet) add(k srvFileKey) {
	if slices.Contains(gs.keys, k) {
		return
	}
	if len(gs.keys) >= srvMaxGrants {
		gs.keys = slices.Delete(gs.keys, 0, 1)
	}
	gs.keys = append(gs.keys, k)
}

// srvChecker answers "is this digest granted?" for one GET_CHUNKS: it
// fetches each granted table at most once and tries the last hit first.
type srvChecker struct {
	dc     *srvDigestCache
	keys   []srvFileKey
	tables [][]byte
	loaded []bool
	last   int
}

func (c *srvConn) checker() *srvChecker {
	c.mu.Lock()
	keys := slices.Clone(c.grants.keys)
	c.mu.Unlock()
	return &srvChecker{dc: c.s.digests, keys: keys, tables: make([][]byte, len(keys)), loaded: make([]bool, len(keys))}
}

func (ck *srvChecker) table(i int) []byte {
	if !ck.loaded[i] {
		ck.loaded[i] = true
		ck.tables[i], _ = ck.dc.get(ck.keys[i]) // a snapshot forgotten since: no grant
	}
	return ck.tables[i]
}

func (ck *srvChecker) allows(d *catalog.Digest) bool {
	if len(ck.keys) == 0 {
		return false
	}
	if srvTableHas(ck.table(ck.last), d) {
		return true
	}
	for i := range ck.keys {
		if i != ck.last && srvTableHas(ck.table(i), d) {
			ck.last = i
			return true
		}
	}
	return false
}
