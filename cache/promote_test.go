package cache

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// promoteSource is a cachetest.Source that records Promote calls.
type promoteSource struct {
	*cachetest.Source
	mu       sync.Mutex
	promoted []catalog.Digest
}

func (p *promoteSource) Promote(d catalog.Digest) {
	p.mu.Lock()
	p.promoted = append(p.promoted, d)
	p.mu.Unlock()
}

// A demand read that joins a readahead fetch in flight promotes it once,
// however many readers join; a demand read of a chunk nobody reads ahead
// promotes nothing.
func TestDemandJoiningReadaheadPromotes(t *testing.T) {
	inner, idx := raStream(t, 8)
	inner.GateReadahead = make(chan struct{})
	src := &promoteSource{Source: inner}
	c := newTest(t, src, Options{})
	_, _, d := idx.Chunk(3)
	f := c.start(d, raChunk, false) // a readahead fetch, held by the gate
	if f == nil {
		t.Fatal("readahead fetch not started")
	}
	waitFlight(t, c, d)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := c.Chunk(context.Background(), d, raChunk, true); err != nil {
				t.Error(err)
			}
		})
	}
	for joined, end := false, time.Now().Add(30*time.Second); !joined; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no demand read joined the readahead fetch (promoted it) within 30 s")
		}
		src.mu.Lock()
		joined = len(src.promoted) > 0
		src.mu.Unlock()
	}
	close(inner.GateReadahead)
	wg.Wait()
	_, _, other := idx.Chunk(5)
	if _, err := c.Chunk(context.Background(), other, raChunk, true); err != nil {
		t.Fatal(err)
	}
	if len(src.promoted) != 1 || src.promoted[0] != d {
		t.Errorf("promoted %v, want [%s]", src.promoted, d)
	}
	if st := c.Stats(); st.Promoted != 1 || st.ReadaheadUsed != 1 || st.ReadaheadIssued != 1 {
		t.Errorf("stats %v", st)
	}
}

// Random reads that land near each other by chance (pairs within
// reorderSlack, then a jump) never start readahead: a run is sequential
// only from its third read.
func TestRandomPairsDoNotReadAhead(t *testing.T) {
	src, idx := raStream(t, 1024) // 64 MiB
	c := newTest(t, src, Options{})
	s := c.Stream(idx, "pairs")
	var rs ReadState
	rng := rand.New(rand.NewPCG(4, 2))
	for i := range 16 {
		off := int64(i%4)*(16<<20) + rng.Int64N(8<<20) // 16 MiB apart between pairs
		for _, o := range []int64{off, off + 64<<10} {
			if _, err := s.ReadAt(context.Background(), make([]byte, 4096), o, &rs); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.wg.Wait()
	if n := readahead(src); n != 0 {
		t.Errorf("pairs of nearby random reads issued %d readahead fetches", n)
	}
}

// A chunk read ahead from the disk tier and then read counts as
// readahead used, like one fetched from the source.
func TestDiskTierReadaheadCounted(t *testing.T) {
	src, idx := raStream(t, 16)
	dir := t.TempDir()
	warm := newTest(t, src, Options{Dir: dir})
	s := warm.Stream(idx, "warm")
	if _, err := s.ReadAt(context.Background(), make([]byte, s.Size()), 0, nil); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	c := newTest(t, src, Options{Dir: dir})
	s = c.Stream(idx, "disk")
	var rs ReadState
	for off := int64(0); off < s.Size(); off += raChunk {
		if _, err := s.ReadAt(context.Background(), make([]byte, raChunk), off, &rs); err != nil {
			t.Fatal(err)
		}
		c.wg.Wait()
	}
	st := c.Stats()
	if st.DiskHits != 16 || st.ReadaheadIssued < 10 || st.ReadaheadUsed != st.ReadaheadIssued || st.Fetches != 0 {
		t.Errorf("stats %v: want 16 disk hits, every readahead used, no fetch", st)
	}
}
