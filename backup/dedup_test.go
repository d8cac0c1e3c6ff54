package backup

import (
	"errors"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// recSink records which of its put methods dedup used. Written is true
// for digests not seen before; errAt fails the put of one digest.
type recSink struct {
	mu     sync.Mutex
	calls  map[string]int
	have   map[catalog.Digest]bool
	errAt  catalog.Digest
	stored []func() // async callbacks, run on flush
}

func newRecSink() *recSink {
	return &recSink{calls: map[string]int{}, have: map[catalog.Digest]bool{}}
}

func (s *recSink) put(how string, d catalog.Digest) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[how]++
	if d == s.errAt {
		return false, errors.New("refused")
	}
	written := !s.have[d]
	s.have[d] = true
	return written, nil
}

func (s *recSink) PutChunk(d catalog.Digest, _ []byte) (bool, error) { return s.put("PutChunk", d) }
func (s *recSink) WriteFile(string, []byte) error                    { return nil }
func (s *recSink) Commit(*catalog.Manifest) error                    { return nil }
func (s *recSink) Abort() error                                      { return nil }

type hashedRecSink struct{ *recSink }

func (s hashedRecSink) PutHashedChunk(d catalog.Digest, _ []byte) (bool, error) {
	return s.put("PutHashedChunk", d)
}

type asyncRecSink struct{ *recSink }

func (s asyncRecSink) PutChunkAsync(d catalog.Digest, _ []byte, stored func(bool)) error {
	written, err := s.put("PutChunkAsync", d)
	if err == nil {
		s.mu.Lock()
		s.stored = append(s.stored, func() { stored(written) })
		s.mu.Unlock()
	}
	return err
}

// TestDedupSinkKinds: dedup uses the fastest put a sink offers, skips
// digests it already put, counts new chunks and bytes from the sink's
// answer (for an async sink, when it arrives) and passes errors on.
func TestDedupSinkKinds(t *testing.T) {
	a, b := []byte("chunk a"), []byte("chunk bb")
	tests := []struct {
		name  string
		sink  func(*recSink) Sink
		calls string
	}{
		{"plain", func(r *recSink) Sink { return r }, "PutChunk"},
		{"hashed", func(r *recSink) Sink { return hashedRecSink{r} }, "PutHashedChunk"},
		{"async", func(r *recSink) Sink { return asyncRecSink{r} }, "PutChunkAsync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecSink()
			rec.have[catalog.Sum(b)] = true // the sink has b already
			rec.errAt = catalog.Sum([]byte("bad"))
			var st Stats
			dd := newDedup(tt.sink(rec), &st)
			for _, p := range [][]byte{a, b, a, a} {
				if err := dd.put(catalog.Sum(p), p); err != nil {
					t.Fatal(err)
				}
			}
			if err := dd.put(rec.errAt, []byte("bad")); err == nil {
				t.Fatal("a refused put returned no error")
			}
			for _, f := range rec.stored {
				f()
			}
			if rec.calls[tt.calls] != 3 || len(rec.calls) != 1 {
				t.Fatalf("calls %v; want 3 of %s", rec.calls, tt.calls)
			}
			if st.Chunks.Load() != 5 || st.NewChunks.Load() != 1 || st.NewBytes.Load() != int64(len(a)) {
				t.Fatalf("stats: %d chunks, %d new, %d new bytes; want 5, 1, %d",
					st.Chunks.Load(), st.NewChunks.Load(), st.NewBytes.Load(), len(a))
			}
		})
	}
}
