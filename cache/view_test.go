package cache

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

// View answers exactly the reads that lie in one chunk, with the right
// bytes, capacity clipped so an append cannot write into the cache; the
// others are left to ReadAt.
func TestViewReference(t *testing.T) {
	for _, dynamic := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(7, 8))
		src, data, idx := refStream(t, rng, 2<<20+777, dynamic)
		s := newTest(t, src, Options{Size: 512 << 10}).Stream(idx, "view.img")
		rs := new(ReadState)
		views := 0
		for i := range 600 {
			off := rng.Int64N(int64(len(data)) + 100)
			n := rng.IntN(80 << 10)
			if i%4 == 0 { // sequential whole-chunk-sized reads
				off, n = int64(i/4)*(64<<10)%int64(len(data)), 64<<10
			}
			b, ok, err := s.View(context.Background(), off, n, rs)
			inRange := off < int64(len(data)) && n > 0
			if !ok {
				if inRange && !spans(t, s, off, n) {
					t.Fatalf("View(%d bytes at %d) declined a read inside one chunk", n, off)
				}
				continue
			}
			views++
			if !inRange || spans(t, s, off, n) {
				t.Fatalf("View(%d bytes at %d) answered a read it should leave to ReadAt", n, off)
			}
			want := data[off:min(off+int64(n), int64(len(data)))]
			if !bytes.Equal(b, want) || cap(b) != len(b) {
				t.Fatalf("View(%d bytes at %d): wrong bytes or cap %d > len %d", n, off, cap(b), len(b))
			}
			if atEnd := off+int64(n) > int64(len(data)); atEnd != (err == io.EOF) || err != nil && err != io.EOF {
				t.Fatalf("View(%d bytes at %d): err %v", n, off, err)
			}
		}
		if views < 100 {
			t.Errorf("only %d of 600 reads viewed", views)
		}
	}
}

// spans reports whether [off, off+n) (clipped to the stream) crosses a
// chunk boundary.
func spans(t *testing.T, s *Stream, off int64, n int) bool {
	t.Helper()
	_, end, _, err := s.chunkAt(off)
	if err != nil {
		t.Fatal(err)
	}
	return min(off+int64(n), s.size) > end
}

// A viewed slice stays intact while the cache evicts its chunk and fills
// up with others, with readers on other goroutines. Run with -race: the
// cache must never write into a buffer it handed out.
func TestViewSurvivesEviction(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	src, data, idx := refStream(t, rng, 4<<20, false)
	s := newTest(t, src, Options{Size: 256 << 10, Readahead: 1 << 20}).Stream(idx, "evict.img")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var held [][]byte
			var offs []int64
			for range 200 {
				off := r.Int64N(int64(len(data)) - 64<<10)
				off -= off % (64 << 10)
				b, ok, err := s.View(context.Background(), off, 64<<10, nil)
				if !ok || err != nil {
					t.Errorf("View at %d: ok %v, %v", off, ok, err)
					return
				}
				held, offs = append(held, b), append(offs, off)
				p := make([]byte, 100<<10) // a copying read of other chunks, evicting
				if _, err := s.ReadAt(context.Background(), p, r.Int64N(int64(len(data))-int64(len(p))), nil); err != nil {
					t.Error(err)
					return
				}
			}
			for i, b := range held {
				if !bytes.Equal(b, data[offs[i]:offs[i]+64<<10]) {
					t.Errorf("a viewed chunk changed after eviction (offset %d)", offs[i])
				}
			}
		})
	}
	wg.Wait()
}
