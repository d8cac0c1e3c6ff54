package cache

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// TestOddZeroChunksNeverFetched: all-zero chunks whose sizes are not powers
// of two (an image's tail, a zero run in a tree's payload cut by content)
// are recognised from the index's digest and size alone, never fetched,
// whether read, read ahead or peeked at. Sizes are ones no other test asks
// catalog.ZeroDigest for, so nothing in the process has memoised them.
func TestOddZeroChunksNeverFetched(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	src := cachetest.NewSource()
	// An image of 1 MiB of data and a 12 KiB + 5 tail of zeros in 1 MiB chunks.
	img := append(cachetest.RandomBytes(rng, 1<<20), make([]byte, 12<<10+5)...)
	fixed, err := src.FixedStream(img, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// A payload: data, a zero chunk of 70001 bytes, data.
	w := catalog.NewDynamicIndexWriter()
	var payload []byte
	for _, c := range [][]byte{cachetest.RandomBytes(rng, 50000), make([]byte, 70001), cachetest.RandomBytes(rng, 30000)} {
		if err := w.Add(src.Put(c), len(c)); err != nil { // the zero chunk is stored too: only the count tells
			t.Fatal(err)
		}
		payload = append(payload, c...)
	}
	dyn, err := catalog.DecodeDynamicIndex(w.Encode(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	src.Put(make([]byte, 12<<10+5))
	zeroDigests := map[catalog.Digest]bool{catalog.Sum(make([]byte, 12<<10+5)): true, catalog.Sum(make([]byte, 70001)): true}

	c := newTest(t, src, Options{Readahead: 8 << 20})
	for _, tc := range []struct {
		idx    catalog.Index
		want   []byte
		zeroAt int64 // an offset in the zero chunk
	}{{fixed, img, 1<<20 + 100}, {dyn, payload, 50000 + 100}} {
		s := c.Stream(tc.idx, "test")
		var rs ReadState
		got := make([]byte, len(tc.want))
		for off := 0; off < len(got); off += 4096 { // sequential: readahead runs
			if _, err := s.ReadAt(context.Background(), got[off:min(off+4096, len(got))], int64(off), &rs); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, tc.want) {
			t.Fatal("read bytes differ")
		}
		if b := make([]byte, 5); !s.ReadCached(b, tc.zeroAt) || !bytes.Equal(b, make([]byte, 5)) {
			t.Errorf("ReadCached of a zero chunk at %d: not served", tc.zeroAt)
		}
	}
	c.wg.Wait() // readahead ended
	for _, call := range src.Calls() {
		if zeroDigests[call.Digest] {
			t.Errorf("an all-zero chunk (%s) was fetched (demand %v)", call.Digest, call.Demand)
		}
	}
	if st := c.Stats(); st.ZeroHits == 0 {
		t.Errorf("no zero hits counted: %v", st)
	}
}
