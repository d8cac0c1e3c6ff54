package cache

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

const raChunk = 64 << 10

// raStream is a random stream of n 64 KiB chunks (no zero chunks).
func raStream(t *testing.T, n int) (*cachetest.Source, catalog.Index) {
	t.Helper()
	src := cachetest.NewSource()
	idx, err := src.FixedStream(cachetest.RandomBytes(rand.New(rand.NewPCG(9, 9)), n*raChunk), raChunk)
	if err != nil {
		t.Fatal(err)
	}
	return src, idx
}

// readahead counts the Source calls with demand=false.
func readahead(src *cachetest.Source) int {
	n := 0
	for _, c := range src.Calls() {
		if !c.Demand {
			n++
		}
	}
	return n
}

func TestWindowGrowsToBound(t *testing.T) {
	_, idx := raStream(t, 64)
	const limit = 1 << 20
	var q seqState
	issued := map[int]int{}
	var windows []int64
	for i := range 64 {
		off := int64(i * raChunk)
		if seq := q.observe(off, off+raChunk); seq != (i >= seqReads-1) {
			t.Fatalf("read %d: sequential=%v", i, seq)
		}
		if i < seqReads-1 {
			continue
		}
		from, to := q.plan(idx, off+raChunk, limit, 0)
		for j := from; j < to; j++ {
			issued[j]++
			if start, _, _ := idx.Chunk(j); int64(start) >= off+raChunk+limit {
				t.Fatalf("read %d: chunk %d is beyond the window bound", i, j)
			}
		}
		windows = append(windows, q.window)
	}
	if windows[0] != initWindow || windows[1] != 2*initWindow || windows[len(windows)-1] != limit {
		t.Errorf("windows %v: want 256K, 512K, ... up to %d", windows[:4], limit)
	}
	for j := seqReads; j < 64; j++ {
		if issued[j] != 1 {
			t.Errorf("chunk %d read ahead %d times, want once", j, issued[j])
		}
	}
}

func TestSequentialReaderReadsAhead(t *testing.T) {
	src, idx := raStream(t, 64)
	c := newTest(t, src, Options{Readahead: 1 << 20})
	s := c.Stream(idx, "seq")
	var rs ReadState
	p := make([]byte, 16<<10)
	for off := int64(0); off < s.Size(); off += int64(len(p)) {
		if _, err := s.ReadAt(context.Background(), p, off, &rs); err != nil {
			t.Fatal(err)
		}
		c.wg.Wait() // the readahead started by this read is done: no race with the next read
	}
	st := c.Stats()
	if n := readahead(src); n < 50 || st.ReadaheadIssued != int64(n) || st.ReadaheadUsed < 40 {
		t.Errorf("%d readahead fetches of 64 chunks; stats %v", n, st)
	}
	if st.Fetches != 64 {
		t.Errorf("%d fetches of 64 chunks", st.Fetches)
	}
}

func TestRandomReadsDoNotReadAhead(t *testing.T) {
	src, idx := raStream(t, 256) // 16 MiB
	c := newTest(t, src, Options{})
	s := c.Stream(idx, "random")
	var rs ReadState
	rng := rand.New(rand.NewPCG(1, 3))
	for _, k := range rng.Perm(8) { // 2 MiB apart: never within reorderSlack
		off := int64(k)*(2<<20) + rng.Int64N(raChunk)
		if _, err := s.ReadAt(context.Background(), make([]byte, 4096), off, &rs); err != nil {
			t.Fatal(err)
		}
	}
	c.wg.Wait()
	if n := readahead(src); n != 0 {
		t.Errorf("random reads issued %d readahead fetches", n)
	}
}

func TestOutOfOrderStillSequential(t *testing.T) {
	const k = 128 << 10
	var q seqState
	for i, off := range []int64{0, 2 * k, k, 4 * k, 3 * k, 5 * k, 7 * k, 6 * k} {
		if seq := q.observe(off, off+k); seq != (i >= seqReads-1) {
			t.Errorf("read %d at %d: sequential=%v", i, off, seq)
		}
	}
	if q.observe(64<<20, 64<<20+k) {
		t.Error("a jump of 64 MiB counted as sequential")
	}
	if q.window != 0 || q.reads != 1 {
		t.Errorf("random access did not reset the window: %+v", q)
	}

	src, idx := raStream(t, 64)
	c := newTest(t, src, Options{})
	s := c.Stream(idx, "ooo")
	var rs ReadState
	for _, off := range []int64{0, 2 * k, k, 4 * k, 3 * k} {
		if _, err := s.ReadAt(context.Background(), make([]byte, k), off, &rs); err != nil {
			t.Fatal(err)
		}
	}
	c.wg.Wait()
	if readahead(src) == 0 {
		t.Error("out-of-order sequential reads issued no readahead")
	}
}

func TestStreamLevelWalk(t *testing.T) {
	src, idx := raStream(t, 64)
	c := newTest(t, src, Options{})
	s := c.Stream(idx, "payload")
	// Many small files in payload order, each read once through its own handle.
	for off := int64(0); off < 4*raChunk; off += 10 << 10 {
		rs := new(ReadState)
		if _, err := s.ReadAt(context.Background(), make([]byte, 10<<10), off, rs); err != nil {
			t.Fatal(err)
		}
	}
	c.wg.Wait()
	if n := readahead(src); n < 4 {
		t.Errorf("a forward walk through separate handles issued %d readahead fetches", n)
	}
}

func TestReadaheadDisabled(t *testing.T) {
	src, idx := raStream(t, 16)
	c := newTest(t, src, Options{Readahead: -1})
	s := c.Stream(idx, "off")
	var rs ReadState
	for off := int64(0); off < s.Size(); off += 32 << 10 {
		if _, err := s.ReadAt(context.Background(), make([]byte, 32<<10), off, &rs); err != nil {
			t.Fatal(err)
		}
	}
	c.wg.Wait()
	if n := readahead(src); n != 0 {
		t.Errorf("disabled readahead issued %d fetches", n)
	}
}

func TestReadaheadNeverBlocksDemand(t *testing.T) {
	src, idx := raStream(t, 64)
	src.GateReadahead = make(chan struct{}) // readahead fetches hang
	defer close(src.GateReadahead)
	c := newTest(t, src, Options{Readahead: 1 << 20})
	s := c.Stream(idx, "prio")
	var rs ReadState
	for _, off := range []int64{0, 64 << 10} { // sequential: readahead of chunks 2.. starts and hangs
		if _, err := s.ReadAt(context.Background(), make([]byte, 64<<10), off, &rs); err != nil {
			t.Fatal(err)
		}
	}
	// Demand reads far away (not being read ahead) go through at once.
	for _, off := range []int64{40 * raChunk, 50 * raChunk, 60 * raChunk} {
		if _, err := s.ReadAt(context.Background(), make([]byte, 4096), off, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBoundStopsReadahead: a handle bounded at a file's end reads ahead
// up to it and not into the chunks after it, even with a window that
// would reach them; an unbounded handle does read past that point.
func TestBoundStopsReadahead(t *testing.T) {
	const chunks, fileEnd = 64, 24 * raChunk // the "file" is chunks 0-23
	for _, bounded := range []bool{true, false} {
		src, idx := raStream(t, chunks)
		c := newTest(t, src, Options{Readahead: 4 << 20})
		s := c.Stream(idx, "tree payload")
		var rs ReadState
		if bounded {
			rs.Bound(fileEnd)
		}
		p := make([]byte, raChunk)
		for off := int64(0); off < fileEnd; off += raChunk {
			if _, err := s.ReadAt(context.Background(), p, off, &rs); err != nil {
				t.Fatal(err)
			}
			c.wg.Wait()
		}
		past := 0
		for _, call := range src.Calls() {
			for i := fileEnd / raChunk; i < chunks; i++ {
				if _, _, d := idx.Chunk(i); d == call.Digest {
					past++
				}
			}
		}
		if bounded && past != 0 {
			t.Errorf("bounded: %d chunks fetched past the file's end", past)
		}
		if !bounded && past == 0 {
			t.Error("unbounded: nothing fetched past the file's end; the bounded case proves nothing")
		}
		if st := c.Stats(); bounded && st.Fetches != fileEnd/raChunk {
			t.Errorf("bounded: %d fetches for a %d-chunk file", st.Fetches, fileEnd/raChunk)
		}
	}
}
