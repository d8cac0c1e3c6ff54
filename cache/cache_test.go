package cache

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// newTest returns a cache over src, closed at the end of the test.
func newTest(t testing.TB, src Source, opt Options) *Cache {
	t.Helper()
	c, err := New(src, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFlight waits until a fetch of d is in progress (up to 30 s: a
// loaded machine).
func waitFlight(t *testing.T, c *Cache, d catalog.Digest) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		f := c.flights[d]
		c.mu.Unlock()
		if f != nil {
			return
		}
	}
	t.Fatal("no fetch started")
}

func TestSingleFlight(t *testing.T) {
	src := cachetest.NewSource()
	src.Gate = make(chan struct{})
	want := cachetest.RandomBytes(rand.New(rand.NewPCG(1, 2)), 100<<10)
	d := src.Put(want)
	c := newTest(t, src, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			b, err := c.Chunk(context.Background(), d, len(want), true)
			if err == nil && !bytes.Equal(b, want) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		})
	}
	waitFlight(t, c, d)
	// Every reader is waiting on the one flight (a miss each) before the
	// source may answer.
	for deadline := time.Now().Add(30 * time.Second); c.Stats().Misses < 100; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 100 readers waiting after 30 s", c.Stats().Misses)
		}
	}
	close(src.Gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.Count(d); n != 1 {
		t.Errorf("Source called %d times, want 1", n)
	}
	if st := c.Stats(); st.Hits != 0 || st.Misses != 100 || st.Fetches != 1 {
		t.Errorf("stats %v", st)
	}
}

func TestCancelledWaiterDoesNotCancelFetch(t *testing.T) {
	src := cachetest.NewSource()
	src.Gate = make(chan struct{})
	want := []byte("the bytes others wait for")
	d := src.Put(want)
	c := newTest(t, src, Options{})

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Chunk(ctx, d, len(want), true)
		first <- err
	}()
	waitFlight(t, c, d)
	other := make(chan []byte, 1)
	go func() {
		b, _ := c.Chunk(context.Background(), d, len(want), true)
		other <- b
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reader got %v, want context.Canceled", err)
	}
	close(src.Gate)
	if b := <-other; !bytes.Equal(b, want) {
		t.Fatalf("other reader got %q", b)
	}
	if _, err := c.Chunk(context.Background(), d, len(want), true); err != nil {
		t.Fatal(err)
	}
	if n := src.Count(d); n != 1 {
		t.Errorf("Source called %d times, want 1 (the fetch must fill the cache)", n)
	}
}

func TestByteBound(t *testing.T) {
	const size, chunk = 1 << 20, 64 << 10
	src := cachetest.NewSource()
	c := newTest(t, src, Options{Size: size, Readahead: -1})
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10 * size / chunk {
		b := cachetest.RandomBytes(rng, chunk)
		d := src.Put(b)
		if _, err := c.Chunk(context.Background(), d, len(b), true); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if st := c.Stats(); st.Bytes > size {
			t.Fatalf("after %d chunks: %d bytes in memory, bound %d", i+1, st.Bytes, size)
		}
	}
	st := c.Stats()
	if st.Bytes != size || st.Evictions != 10*size/chunk-size/chunk {
		t.Errorf("stats %v", st)
	}
}

func TestZeroChunksNeverFetched(t *testing.T) {
	src := cachetest.NewSource()
	c := newTest(t, src, Options{})
	for _, n := range []int{0, 1, 4096, 1 << 20, catalog.MaxChunkSize} {
		b, err := c.Chunk(context.Background(), catalog.ZeroDigest(n), n, true)
		if err != nil || len(b) != n || !bytes.Equal(b, make([]byte, n)) {
			t.Errorf("zero chunk of %d: len %d, err %v", n, len(b), err)
		}
	}
	if calls := src.Calls(); len(calls) != 0 {
		t.Errorf("Source called %d times for zero chunks", len(calls))
	}
	if st := c.Stats(); st.ZeroHits != 5 || st.Bytes != 0 {
		t.Errorf("stats %v", st)
	}
}

func TestChunkErrors(t *testing.T) {
	boom := errors.New("boom")
	src := cachetest.NewSource()
	good := src.Put([]byte("good"))
	fails := 1
	var mu sync.Mutex
	src.Fail = func(d catalog.Digest) error {
		mu.Lock()
		defer mu.Unlock()
		if d == good && fails > 0 {
			fails--
			return boom
		}
		return nil
	}
	old := failMemory
	failMemory = 0 // failed fetches are not kept as data; the short failure memory is TestFailedFetchRemembered's
	defer func() { failMemory = old }()
	c := newTest(t, src, Options{})
	ctx := context.Background()
	tests := []struct {
		name string
		d    catalog.Digest
		size int
		want error
	}{
		{"source error", good, 4, boom},
		{"not cached after an error", good, 4, nil},
		{"wrong length", src.Put([]byte("12345")), 4, ErrSize},
		{"missing", catalog.Sum([]byte("nowhere")), 7, cachetest.ErrMissing},
		{"negative size", good, -1, ErrSize},
		{"size over the maximum", good, catalog.MaxChunkSize + 1, ErrSize},
	}
	for _, tt := range tests {
		_, err := c.Chunk(ctx, tt.d, tt.size, true)
		if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if st := c.Stats(); st.FetchErrors != 3 {
		t.Errorf("FetchErrors = %d, want 3", st.FetchErrors)
	}
}

func TestCloseEndsFetches(t *testing.T) {
	src := cachetest.NewSource()
	src.Gate = make(chan struct{}) // never opened: only Close ends the fetch
	d := src.Put([]byte("stuck"))
	c, err := New(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Chunk(context.Background(), d, 5, true)
		done <- err
	}()
	waitFlight(t, c, d)
	c.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v after Close", err)
	}
}

func TestStatsString(t *testing.T) {
	s := Stats{Hits: 3, BytesFetched: 3 << 20, Bytes: 512}.String()
	for _, want := range []string{"hits=3", "bytes_fetched=3.0MiB", "in_memory=512B"} {
		if !bytes.Contains([]byte(s), []byte(want)) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
}

// TestChunkCancelledBeforeFetch: a caller whose context has already ended
// gets its error for a chunk the cache lacks, every time, and starts no
// fetch. Before, it joined a fetch and raced it: with a source that
// answers at once, select took the data about half the time (seen as
// fs TestReadCancelled failing under load).
func TestChunkCancelledBeforeFetch(t *testing.T) {
	src := cachetest.NewSource()
	rng := rand.New(rand.NewPCG(5, 6))
	c := newTest(t, src, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		b := cachetest.RandomBytes(rng, 4096)
		d := src.Put(b)
		if got, err := c.Chunk(ctx, d, len(b), true); !errors.Is(err, context.Canceled) || got != nil {
			t.Fatalf("read %d with a cancelled context: %d bytes, %v; want context.Canceled", i, len(got), err)
		}
	}
	if n := len(src.Calls()); n != 0 {
		t.Errorf("%d fetches started for cancelled callers", n)
	}
}
