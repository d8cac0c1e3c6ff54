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
// sizes not in it are hashed on every call to ZeroDigest and not recognised
// by IsZeroChunk.
var zeroMemo struct {
	sync.RWMutex
	m map[int]Digest
}

// maxZeroMemo bounds zeroMemo: every power of two plus the odd last chunks
// of a few thousand streams.
const maxZeroMemo = 4096

// zeroDigest returns the memoised digest of n zero bytes, computing and
// keeping it if there is room; ok is false if it is not (and will not be)
// memoised.
func zeroDigest(n int) (d Digest, ok bool) {
	zeroMemo.RLock()
	d, ok = zeroMemo.m[n]
	zeroMemo.RUnlock()
	if ok {
		return d, true
	}
	zeroMemo.Lock()
	defer zeroMemo.Unlock()
	if d, ok = zeroMemo.m[n]; ok {
		return d, true
	}
	if zeroMemo.m == nil {
		zeroMemo.m = make(map[int]Digest)
	}
	if len(zeroMemo.m) >= maxZeroMemo {
		return Digest{}, false
	}
	d = Sum(make([]byte, n))
	zeroMemo.m[n] = d
	return d, true
}

// ZeroDigest returns the digest of n zero bytes, 0 <= n <= MaxChunkSize
// (the zero Digest otherwise). Results are memoised, so asking for the few
// chunk sizes an archive uses is cheap.
func ZeroDigest(n int) Digest {
	if n < 0 || n > MaxChunkSize {
		return Digest{}
	}
	if d, ok := zeroDigest(n); ok {
		return d
	}
	return Sum(make([]byte, n))
}

// IsZeroChunk reports whether d is the digest of n zero bytes, so a reader
// can produce such a chunk without fetching it. It recognises sizes that
// are powers of two (fixed-size chunks, and content-defined chunks of zero
// runs, which are cut at Min or Max) and sizes already memoised; hashing
// zeros for every size of content-defined chunk would cost as much as
// verifying them. A zero chunk it does not recognise costs a fetch, never a
// wrong byte: backups store zero chunks like any other.
func IsZeroChunk(d Digest, n int) bool {
	if n <= 0 || n > MaxChunkSize {
		return n == 0 && d == ZeroDigest(0)
	}
	var z Digest
	var ok bool
	if n&(n-1) == 0 {
		z, ok = zeroDigest(n)
	} else {
		zeroMemo.RLock()
		z, ok = zeroMemo.m[n]
		zeroMemo.RUnlock()
	}
	return ok && d == z
}
