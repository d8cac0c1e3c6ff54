package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Fixed index (file NAME.img.fidx): the chunk table of an image archive,
// whose stream is cut into chunks of one fixed size. Layout (little-endian):
//
//	offset  size  field
//	0       8     magic "bfs-fidx"
//	8       4     version (FixedIndexVersion)
//	12      4     chunk size: a power of two, MinFixedChunkSize..MaxChunkSize
//	16      8     image size in bytes
//	24      8     ctime, unix nanoseconds (signed)
//	32      32    SHA-256 of the digest table (the bytes from offset 64 on)
//	64      32*n  digest table: one chunk digest per chunk,
//	              n = ceil(image size / chunk size)
//
// The header fields come in this order (chunk size before image size) so
// every integer is naturally aligned. Chunk i covers bytes
// [i*chunkSize, min((i+1)*chunkSize, size)); every chunk but the last is
// exactly chunkSize long and the last is 1..chunkSize bytes. An empty image
// has no chunks. The file is exactly 64 + 32*n bytes: the decoder refuses
// any other length.
const (
	FixedIndexMagic      = "bfs-fidx"
	FixedIndexVersion    = 1
	fixedIndexHeaderSize = 64
	// MinFixedChunkSize is the smallest fixed chunk size (4 KiB).
	MinFixedChunkSize = 4 << 10
)

// FixedIndex is a decoded fixed index. It keeps the digest table as the one
// byte slice it was decoded from: no per-chunk objects.
type FixedIndex struct {
	size      uint64
	chunkSize uint32
	ctime     int64
	table     []byte // 32*n bytes
}

var _ Index = (*FixedIndex)(nil)

// DecodeFixedIndex decodes and verifies a fixed index. The result refers to
// b (it does not copy the table), so b must not be modified afterwards.
func DecodeFixedIndex(b []byte) (*FixedIndex, error) {
	if len(b) < fixedIndexHeaderSize {
		return nil, fmt.Errorf("%w: fixed index: %d bytes, shorter than the %d-byte header", ErrFormat, len(b), fixedIndexHeaderSize)
	}
	if string(b[:8]) != FixedIndexMagic {
		return nil, fmt.Errorf("%w: fixed index: bad magic %q", ErrFormat, b[:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != FixedIndexVersion {
		return nil, fmt.Errorf("%w: fixed index version %d, this build reads %d", ErrVersion, v, FixedIndexVersion)
	}
	x := &FixedIndex{
		chunkSize: binary.LittleEndian.Uint32(b[12:]),
		size:      binary.LittleEndian.Uint64(b[16:]),
		ctime:     int64(binary.LittleEndian.Uint64(b[24:])),
		table:     b[fixedIndexHeaderSize:],
	}
	if err := checkFixedChunkSize(x.chunkSize); err != nil {
		return nil, err
	}
	// n <= 2^64/4096 = 2^52, so n*32 cannot overflow.
	n := fixedChunkCount(x.size, x.chunkSize)
	if uint64(len(x.table)) != n*DigestSize {
		return nil, fmt.Errorf("%w: fixed index: %d chunks need %d table bytes, have %d",
			ErrFormat, n, n*DigestSize, len(x.table))
	}
	if sum := sha256.Sum256(x.table); !bytes.Equal(sum[:], b[32:64]) {
		return nil, fmt.Errorf("%w: fixed index: digest table checksum", ErrChecksum)
	}
	return x, nil
}

func checkFixedChunkSize(cs uint32) error {
	if cs < MinFixedChunkSize || cs > MaxChunkSize || cs&(cs-1) != 0 {
		return fmt.Errorf("%w: fixed index: chunk size %d: want a power of two in %d..%d",
			ErrFormat, cs, MinFixedChunkSize, MaxChunkSize)
	}
	return nil
}

func fixedChunkCount(size uint64, cs uint32) uint64 {
	n := size / uint64(cs)
	if size%uint64(cs) != 0 {
		n++
	}
	return n
}

// Size returns the image size in bytes.
func (x *FixedIndex) Size() uint64 { return x.size }

// ChunkSize returns the fixed chunk size.
func (x *FixedIndex) ChunkSize() uint32 { return x.chunkSize }

// CTime returns the time the index was written.
func (x *FixedIndex) CTime() time.Time { return time.Unix(0, x.ctime) }

// NumChunks returns the number of chunks.
func (x *FixedIndex) NumChunks() int { return len(x.table) / DigestSize }

// Chunk returns chunk i's byte range and digest; it panics if i is out of range.
func (x *FixedIndex) Chunk(i int) (start, end uint64, d Digest) {
	copy(d[:], x.table[i*DigestSize:(i+1)*DigestSize])
	start = uint64(i) * uint64(x.chunkSize)
	end = min(start+uint64(x.chunkSize), x.size)
	return start, end, d
}

// Find returns the chunk holding byte off, or -1 if off >= Size().
func (x *FixedIndex) Find(off uint64) int {
	if off >= x.size {
		return -1
	}
	return int(off / uint64(x.chunkSize))
}

// FixedIndexWriter builds a fixed index chunk by chunk.
type FixedIndexWriter struct {
	chunkSize uint32
	size      uint64
	short     bool // a chunk shorter than chunkSize was added: it must be the last
	table     []byte
}

// NewFixedIndexWriter returns a writer for chunks of chunkSize bytes, a
// power of two in MinFixedChunkSize..MaxChunkSize.
func NewFixedIndexWriter(chunkSize uint32) (*FixedIndexWriter, error) {
	if err := checkFixedChunkSize(chunkSize); err != nil {
		return nil, err
	}
	return &FixedIndexWriter{chunkSize: chunkSize}, nil
}

// Add appends a chunk of n bytes with digest d. Every chunk but the last
// must be exactly the chunk size long, the last 1..chunk size bytes.
func (w *FixedIndexWriter) Add(d Digest, n int) error {
	if n < 1 || n > int(w.chunkSize) {
		return fmt.Errorf("fixed index: chunk %d: length %d, want 1..%d", w.NumChunks(), n, w.chunkSize)
	}
	if w.short {
		return fmt.Errorf("fixed index: chunk %d added after a short (last) chunk", w.NumChunks())
	}
	w.short = n < int(w.chunkSize)
	w.size += uint64(n)
	w.table = append(w.table, d[:]...)
	return nil
}

// NumChunks returns the number of chunks added so far.
func (w *FixedIndexWriter) NumChunks() int { return len(w.table) / DigestSize }

// Size returns the image size so far.
func (w *FixedIndexWriter) Size() uint64 { return w.size }

// Encode returns the encoded index with the given ctime. The writer stays
// usable; encoding again after more Adds gives a longer index.
func (w *FixedIndexWriter) Encode(ctime time.Time) []byte {
	b := make([]byte, fixedIndexHeaderSize, fixedIndexHeaderSize+len(w.table))
	copy(b, FixedIndexMagic)
	binary.LittleEndian.PutUint32(b[8:], FixedIndexVersion)
	binary.LittleEndian.PutUint32(b[12:], w.chunkSize)
	binary.LittleEndian.PutUint64(b[16:], w.size)
	binary.LittleEndian.PutUint64(b[24:], uint64(ctime.UnixNano()))
	sum := sha256.Sum256(w.table)
	copy(b[32:], sum[:])
	return append(b, w.table...)
}
