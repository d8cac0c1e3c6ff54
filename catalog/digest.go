package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// MaxChunkSize bounds the plain size of any chunk, fixed or content-defined.
// Decoders refuse larger chunks; it keeps one chunk (and its compressed
// form) inside one 16 MiB protocol frame.
const MaxChunkSize = 8 << 20

// DigestSize is the length of a chunk digest in bytes.
const DigestSize = sha256.Size

// Digest is the SHA-256 of a chunk's plain (uncompressed) bytes.
type Digest [DigestSize]byte

// Sum returns the digest of b.
func Sum(b []byte) Digest { return sha256.Sum256(b) }

// String returns the digest as 64 lower-case hex digits.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText encodes the digest as hex (used by the JSON manifest).
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes 64 hex digits.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// ParseDigest parses 64 hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*DigestSize {
		return d, fmt.Errorf("%w: digest %q: want %d hex digits", ErrFormat, s, 2*DigestSize)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%w: digest %q: %v", ErrFormat, s, err)
	}
	return d, nil
}

// zeroMemo holds the digests of zero runs of the sizes asked for. A tree's
// content-defined chunks come in every size, so it is bounded: once full,
// it starts over (recent sizes matter; any size is recomputed from the
// kept hash states of zero.go in microseconds).
var zeroMemo struct {
	sync.RWMutex
	m map[int]Digest
}

// maxZeroMemo bounds zeroMemo: every power of two plus the odd last chunks
// of a few thousand streams.
const maxZeroMemo = 4096

// zeroDigest returns the digest of n zero bytes (0 <= n <= MaxChunkSize),
// memoised.
func zeroDigest(n int) Digest {
	zeroMemo.RLock()
	d, ok := zeroMemo.m[n]
	zeroMemo.RUnlock()
	if ok {
		return d
	}
	d = zeros.digest(n)
	zeroMemo.Lock()
	if zeroMemo.m == nil || len(zeroMemo.m) >= maxZeroMemo {
		zeroMemo.m = make(map[int]Digest)
	}
	zeroMemo.m[n] = d
	zeroMemo.Unlock()
	return d
}

// ZeroDigest returns the digest of n zero bytes, 0 <= n <= MaxChunkSize
// (the zero Digest otherwise). It hashes at most 4 KiB for a size not
// asked recently (zero.go) and memoises the answer.
func ZeroDigest(n int) Digest {
	if n < 0 || n > MaxChunkSize {
		return Digest{}
	}
	return zeroDigest(n)
}

// MatchZeroChunk reports whether d is the digest of n zero bytes, for any
// size a chunk can have. A size not asked recently costs up to 4 KiB of
// hashing: call it where a fetch would otherwise follow, and IsZeroChunk
// (which hashes only powers of two) on every cache hit.
func MatchZeroChunk(d Digest, n int) bool {
	if n < 0 || n > MaxChunkSize {
		return false
	}
	return zeroDigest(n) == d
}

// IsZeroChunk reports whether d is the digest of n zero bytes, so a reader
// can produce such a chunk without fetching it. It recognises sizes that
// are powers of two (fixed-size chunks, and content-defined chunks of zero
// runs, which are cut at Min or Max) and sizes memoised recently, so it is
// cheap on every read; MatchZeroChunk recognises every size. A zero chunk
// neither recognises costs a fetch, never a wrong byte: backups store zero
// chunks like any other.
func IsZeroChunk(d Digest, n int) bool {
	if n <= 0 || n > MaxChunkSize {
		return n == 0 && d == ZeroDigest(0)
	}
	if n&(n-1) == 0 {
		return d == zeroDigest(n)
	}
	zeroMemo.RLock()
	z, ok := zeroMemo.m[n]
	zeroMemo.RUnlock()
	return ok && d == z
}
