package cache

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// TestReserve: a reserve evicts at once, later chunks stay within Size less
// the reserve, the bound never drops below a quarter of Size, and a reserve
// of 0 gives the whole size back.
func TestReserve(t *testing.T) {
	const size, chunk = 1 << 20, 64 << 10
	src := cachetest.NewSource()
	c := newTest(t, src, Options{Size: size, Readahead: -1})
	rng := rand.New(rand.NewPCG(5, 6))
	var ds []catalog.Digest
	fill := func(n int) {
		for range n {
			b := cachetest.RandomBytes(rng, chunk)
			d := src.Put(b)
			ds = append(ds, d)
			if _, err := c.Chunk(context.Background(), d, len(b), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(size / chunk)
	for _, tc := range []struct {
		reserve, want int64
	}{
		{size / 2, size / 2},
		{-5, size / 2},       // 0: nothing evicted, the next fill grows back
		{size, size / 4},     // never below a quarter
		{size / 8, size / 4}, // a smaller reserve evicts nothing by itself
	} {
		c.SetReserve(tc.reserve)
		if got := c.Stats().Bytes; got != tc.want {
			t.Errorf("SetReserve(%d): %d bytes in memory, want %d", tc.reserve, got, tc.want)
		}
		if tc.reserve < 0 {
			fill(size / chunk)
			if got := c.Stats().Bytes; got != size {
				t.Errorf("after SetReserve(%d) and a fill: %d bytes, want %d", tc.reserve, got, size)
			}
			c.SetReserve(size / 2)
		}
	}
	fill(size / chunk)
	if got := c.Stats().Bytes; got != size-size/8 {
		t.Errorf("filled under a reserve of %d: %d bytes, want %d", size/8, got, size-size/8)
	}
	// The most recently used chunks are the ones kept.
	last := ds[len(ds)-1]
	calls := len(src.Calls())
	if _, err := c.Chunk(context.Background(), last, chunk, true); err != nil || len(src.Calls()) != calls {
		t.Errorf("the newest chunk was evicted (err %v)", err)
	}
}

// TestReserveShrinksReadahead: once the mount sets reserves, the readahead
// window is at most half the bound, so chunks read ahead are not evicted
// unread; off stays off.
func TestReserveShrinksReadahead(t *testing.T) {
	const size = 4 << 20
	c := newTest(t, cachetest.NewSource(), Options{Size: size, Readahead: 8 << 20})
	if got := c.raLimit(); got != 8<<20 {
		t.Errorf("before any reserve: readahead limit %d, want Options.Readahead", got)
	}
	for _, tc := range []struct{ reserve, want int64 }{
		{0, 2 << 20},       // half the whole size
		{3 << 20, 1 << 19}, // bound 1 MiB
		{size, 1 << 19},    // bound never below a quarter
		{1 << 20, 3 << 19}, // bound 3 MiB
	} {
		c.SetReserve(tc.reserve)
		if got := c.raLimit(); got != tc.want {
			t.Errorf("SetReserve(%d): readahead limit %d, want %d", tc.reserve, got, tc.want)
		}
	}
	off := newTest(t, cachetest.NewSource(), Options{Size: size, Readahead: -1})
	off.SetReserve(1 << 20)
	if got := off.raLimit(); got > 0 {
		t.Errorf("readahead off: limit %d after SetReserve", got)
	}
}
