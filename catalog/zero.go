package catalog

import (
	"crypto/sha256"
	"encoding"
	"hash"
	"sync"
)

// Zero digests of any size. A chunk of zeros is recognised by its digest
// and size, never fetched, whatever its size (an image's tail, the last
// chunk of a stream, a zero run the chunker cut short). Hashing a whole
// chunk of zeros for every new size would cost as much as verifying the
// chunk, and a tree's payload has a new size at nearly every chunk.
// SHA-256 runs over 64-byte blocks, so the hash state after k zero blocks
// is the same for every chunk: zeroStates keeps the states after every
// multiple of zeroStep zero bytes (built once, as far as the largest size
// asked for, at most MaxChunkSize/zeroStep states of ~100 bytes), and
// finishes a size from the state below it, hashing at most zeroStep bytes
// (a few microseconds). zeroMemo (digest.go) keeps the answers.

// zeroStep is the distance between kept hash states: the most zero bytes
// hashed per new size.
const zeroStep = 4 << 10

// zeroStates computes the digests of zero runs; see above.
type zeroStates struct {
	mu     sync.Mutex
	states [][]byte // states[k]: marshalled SHA-256 state after k*zeroStep zero bytes
}

var zeros zeroStates

// digest returns the digest of n zero bytes, 0 <= n <= MaxChunkSize.
func (z *zeroStates) digest(n int) (d Digest) {
	z.mu.Lock()
	h, ok := z.at(n / zeroStep)
	z.mu.Unlock()
	if !ok { // sha256 always marshals its state; hash the long way if not
		return Sum(make([]byte, n))
	}
	h.Write(zeroBlock[:n%zeroStep])
	copy(d[:], h.Sum(nil))
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
			h.Write(zeroBlock[:])
		}
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, false
		}
		z.states = append(z.states, b)
	}
	return h, true
}

// zeroBlock is zeroStep zero bytes, read only.
var zeroBlock [zeroStep]byte
