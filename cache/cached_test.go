package cache

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
)

// TestReadCached: nothing in memory, nothing read and no fetch; after a
// read of the stream's start, spans inside it (zero chunks included) read
// right, a span reaching past it does not, and out-of-range offsets fail.
func TestReadCached(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	src, data, idx := refStream(t, rng, 2<<20, false)
	c := newTest(t, src, Options{Size: 8 << 20, Readahead: -1})
	s := c.Stream(idx, "test.img")
	p := make([]byte, 100<<10)
	if s.ReadCached(p, 1000) {
		t.Fatal("ReadCached succeeded with nothing in memory")
	}
	if n := len(src.Calls()); n != 0 {
		t.Fatalf("ReadCached fetched %d chunks", n)
	}
	if _, err := s.ReadAt(context.Background(), make([]byte, 1<<20), 0, nil); err != nil {
		t.Fatal(err)
	}
	calls := len(src.Calls())
	for _, tc := range []struct {
		off, n int
		ok     bool
	}{
		{0, 1 << 20, true},
		{12345, 300 << 10, true},
		{(1 << 20) - 10, 20, false}, // the chunk after 1 MiB was never read
		{-1, 10, false},
		{2<<20 - 5, 10, false}, // past the end
	} {
		p := make([]byte, tc.n)
		ok := s.ReadCached(p, int64(tc.off))
		if ok != tc.ok {
			t.Errorf("ReadCached(%d bytes at %d) = %v, want %v", tc.n, tc.off, ok, tc.ok)
		}
		if ok && !bytes.Equal(p, data[tc.off:tc.off+tc.n]) {
			t.Errorf("ReadCached(%d bytes at %d): wrong bytes", tc.n, tc.off)
		}
	}
	if n := len(src.Calls()); n != calls {
		t.Errorf("ReadCached fetched %d chunks", n-calls)
	}
}
