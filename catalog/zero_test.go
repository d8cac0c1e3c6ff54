package catalog

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestZeroDigestEverySize: the digest of n zeros built from the kept hash
// states equals SHA-256 of n zeros, at the edges of blocks and steps, for
// sizes asked out of order and from several goroutines.
func TestZeroDigestEverySize(t *testing.T) {
	sizes := []int{0, 1, 63, 64, 65, zeroStep - 1, zeroStep, zeroStep + 1, 3*zeroStep + 17,
		1<<20 + 12345, MaxChunkSize, MaxChunkSize - 1, 777, 2*zeroStep - 1}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		sizes = append(sizes, rng.IntN(MaxChunkSize+1))
	}
	var z zeroStates
	var wg sync.WaitGroup
	for _, n := range sizes {
		wg.Go(func() {
			if got, want := z.digest(n), Sum(make([]byte, n)); got != want {
				t.Errorf("digest of %d zeros: %s, want %s", n, got, want)
			}
		})
	}
	wg.Wait()
	if len(z.states) != MaxChunkSize/zeroStep+1 {
		t.Errorf("%d states kept, want %d", len(z.states), MaxChunkSize/zeroStep+1)
	}
	if !MatchZeroChunk(Sum(make([]byte, 999)), 999) || MatchZeroChunk(Sum([]byte("not zeros")), 9) ||
		MatchZeroChunk(Sum(make([]byte, 999)), 998) || MatchZeroChunk(Digest{}, -1) || MatchZeroChunk(Digest{}, MaxChunkSize+1) {
		t.Error("MatchZeroChunk misjudges a digest")
	}
}

// BenchmarkZeroDigestNewSize is the cost of recognising a zero chunk of
// a size not asked before (the hash states kept, no memo).
func BenchmarkZeroDigestNewSize(b *testing.B) {
	var z zeroStates
	z.digest(MaxChunkSize) // the states, built once
	b.SetBytes(zeroStep / 2)
	for i := 0; b.Loop(); i++ {
		z.digest(1<<20 + i%zeroStep)
	}
}
