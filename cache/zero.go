package cache

import (
	"crypto/sha256"
	"encoding"
	"hash"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// All-zero chunks of any size are recognised by digest and size, never
// fetched. catalog.IsZeroChunk knows the powers of two (fixed-size chunks,
// content-defined chunks of long zero runs) and the sizes memoised so far;
// the other sizes a reader meets (an image's tail, the last chunk of a
// stream, a zero run the chunker cut short) are recognised here, by
// computing the digest of that many zeros for the exact size the index
// gives, before the chunk would be fetched.
//
// Hashing a whole chunk of zeros for every new size would cost as much as
// verifying the chunk, and a tree's payload has a new size at nearly every
// chunk. SHA-256 runs over 64-byte blocks, so the hash state after k zero
// blocks is the same for every chunk: zeroStates keeps the states after
// every multiple of zeroStep zero bytes (built once, as far as the largest
// size asked for, at most MaxChunkSize/zeroStep states of ~100 bytes), and
// finishes a size from the state below it, hashing at most zeroStep bytes
// (a few microseconds). Recent answers are memoised per size.

// zeroStep is the distance between kept hash states: the most zero bytes
// hashed per new size.
const zeroStep = 4 << 10

// maxZeroSizes bounds the memo of zero digests by size.
const maxZeroSizes = 4096

// zeroStates computes the digests of zero runs; see above.
type zeroStates struct {
	mu     sync.Mutex
	states [][]byte               // states[k]: marshalled SHA-256 state after k*zeroStep zero bytes
	memo   map[int]catalog.Digest // size -> digest of that many zeros, bounded
}

var zeros zeroStates

// isZero reports whether d is the digest of size zero bytes, for any size
// a chunk can have. It hashes up to zeroStep bytes the first time a size
// is asked: call it where a fetch would follow, not on every cache hit.
func isZero(d catalog.Digest, size int) bool {
	if size < 0 || size > catalog.MaxChunkSize {
		return false
	}
	return catalog.IsZeroChunk(d, size) || zeros.digest(size) == d
}

// knownZero reports whether d is the digest of size zero bytes for a size
// whose zero digest is known (catalog's powers of two and memo, and the
// sizes isZero was asked recently), hashing nothing: for cache hits.
func knownZero(d catalog.Digest, size int) bool {
	if catalog.IsZeroChunk(d, size) {
		return true
	}
	zeros.mu.Lock()
	z, ok := zeros.memo[size]
	zeros.mu.Unlock()
	return ok && z == d
}

// digest returns the digest of n zero bytes, 0 <= n <= MaxChunkSize.
func (z *zeroStates) digest(n int) catalog.Digest {
	z.mu.Lock()
	d, ok := z.memo[n]
	if ok {
		z.mu.Unlock()
		return d
	}
	h, ok := z.at(n / zeroStep)
	z.mu.Unlock()
	if !ok { // sha256 always marshals its state; hash the long way if not
		return catalog.Sum(make([]byte, n))
	}
	h.Write(zeroBuf()[:n%zeroStep])
	copy(d[:], h.Sum(nil))
	z.mu.Lock()
	if z.memo == nil || len(z.memo) >= maxZeroSizes {
		z.memo = make(map[int]catalog.Digest) // start over: recent sizes matter
	}
	z.memo[n] = d
	z.mu.Unlock()
	return d
}

// at returns a hash that has hashed k*zeroStep zero bytes, extending the
// kept states as far as k. z.mu is held.
func (z *zeroStates) at(k int) (hash.Hash, bool) {
	h := sha256.New()
	from := min(k, len(z.states)-1)
	if from >= 0 && h.(encoding.BinaryUnmarshaler).UnmarshalBinary(z.states[from]) != nil {
		return nil, false
	}
	for i := from + 1; i <= k; i++ {
		if i > 0 {
			h.Write(zeroBuf()[:zeroStep])
		}
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, false
		}
		z.states = append(z.states, b)
	}
	return h, true
}
