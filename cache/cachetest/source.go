// Package cachetest holds test helpers for code that reads through the
// cache: an in-memory chunk Source that counts and can delay, block or
// fail fetches, and builders of random streams with real catalog indexes.
// It is below the seam, so tests above it (cache, fs) may use it; it must
// not be used outside tests.
package cachetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// ErrMissing is returned for a digest the Source does not hold.
var ErrMissing = errors.New("cachetest: chunk not found")

// Call is one recorded Source.Chunk call.
type Call struct {
	Digest catalog.Digest
	Demand bool
}

// Source is an in-memory chunk source. It is safe for concurrent use; set
// its fields before the first fetch.
type Source struct {
	Delay time.Duration              // each fetch sleeps this long (or until ctx ends)
	Gate  chan struct{}              // if non-nil, fetches wait until it is closed
	Fail  func(catalog.Digest) error // if non-nil and it returns an error, the fetch fails with it
	// GateReadahead, if non-nil, holds readahead (demand=false) fetches
	// until it is closed.
	GateReadahead chan struct{}

	mu     sync.Mutex
	chunks map[catalog.Digest][]byte
	calls  []Call
}

// NewSource returns an empty Source.
func NewSource() *Source { return &Source{chunks: map[catalog.Digest][]byte{}} }

// Put stores b and returns its digest.
func (s *Source) Put(b []byte) catalog.Digest {
	d := catalog.Sum(b)
	s.mu.Lock()
	s.chunks[d] = append([]byte(nil), b...)
	s.mu.Unlock()
	return d
}

// Chunk implements cache.Source: it returns a copy of the stored bytes.
func (s *Source) Chunk(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	s.mu.Lock()
	s.calls = append(s.calls, Call{d, demand})
	b, ok := s.chunks[d]
	s.mu.Unlock()
	if err := wait(ctx, s.Gate); err != nil {
		return nil, err
	}
	if !demand {
		if err := wait(ctx, s.GateReadahead); err != nil {
			return nil, err
		}
	}
	if s.Delay > 0 {
		t := time.NewTimer(s.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.Fail != nil {
		if err := s.Fail(d); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrMissing, d)
	}
	return append([]byte(nil), b...), nil
}

// wait blocks until gate is closed (nil: not at all) or ctx ends.
func wait(ctx context.Context, gate chan struct{}) error {
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Calls returns the calls so far, in order.
func (s *Source) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Count returns how many calls asked for d.
func (s *Source) Count(d catalog.Digest) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Digest == d {
			n++
		}
	}
	return n
}

// Reset forgets the recorded calls.
func (s *Source) Reset() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// RandomBytes returns n pseudo-random bytes from rng.
func RandomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// FixedStream splits data into chunkSize chunks (a power of two, at least
// catalog.MinFixedChunkSize), stores them in s and returns a real decoded
// FixedIndex. All-zero chunks are not stored: a reader must never fetch them.
func (s *Source) FixedStream(data []byte, chunkSize int) (catalog.Index, error) {
	w, err := catalog.NewFixedIndexWriter(uint32(chunkSize))
	if err != nil {
		return nil, err
	}
	for off := 0; off < len(data); off += chunkSize {
		c := data[off:min(off+chunkSize, len(data))]
		if err := w.Add(s.putNonZero(c), len(c)); err != nil {
			return nil, err
		}
	}
	return catalog.DecodeFixedIndex(w.Encode(time.Unix(0, 0)))
}

// DynamicStream splits data into chunks of random lengths in [lo, hi],
// stores them in s and returns a real decoded DynamicIndex.
func (s *Source) DynamicStream(rng *rand.Rand, data []byte, lo, hi int) (catalog.Index, error) {
	w := catalog.NewDynamicIndexWriter()
	for off := 0; off < len(data); {
		n := min(lo+rng.IntN(hi-lo+1), len(data)-off)
		c := data[off : off+n]
		if err := w.Add(s.putNonZero(c), n); err != nil {
			return nil, err
		}
		off += n
	}
	return catalog.DecodeDynamicIndex(w.Encode(time.Unix(0, 0)))
}

// putNonZero stores c unless it is all zeros, and returns its digest.
func (s *Source) putNonZero(c []byte) catalog.Digest {
	d := catalog.Sum(c)
	if catalog.IsZeroChunk(d, len(c)) {
		return d
	}
	return s.Put(c)
}
