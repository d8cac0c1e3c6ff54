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

var zeroDigests sync.Map // int -> Digest

// ZeroDigest returns the digest of n zero bytes, 0 <= n <= MaxChunkSize.
// Results are memoised, so asking for the few chunk sizes an archive uses
// is cheap.
func ZeroDigest(n int) Digest {
	if n < 0 || n > MaxChunkSize {
		return Digest{}
	}
	if v, ok := zeroDigests.Load(n); ok {
		return v.(Digest)
	}
	d := Sum(make([]byte, n))
	zeroDigests.Store(n, d)
	return d
}

// IsZeroChunk reports whether d is the digest of n zero bytes, so a reader
// can produce such a chunk without fetching it.
func IsZeroChunk(d Digest, n int) bool {
	return n >= 0 && n <= MaxChunkSize && d == ZeroDigest(n)
}
