package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Dynamic index (files NAME.tree.meta.didx and NAME.tree.payload.didx): the
// chunk table of a stream cut by content, so chunks vary in length. Layout
// (little-endian):
//
//	offset  size  field
//	0       8     magic "bfs-didx"
//	8       4     version (DynamicIndexVersion)
//	12      4     reserved, zero
//	16      8     stream size in bytes
//	24      8     entry count n
//	32      8     ctime, unix nanoseconds (signed)
//	40      32    SHA-256 of the entry table (the bytes from offset 72 on)
//	72      40*n  entry table; entry i is
//	              +0  8   end offset of chunk i in the stream (exclusive)
//	              +8  32  digest of chunk i
//
// Chunk i covers [end(i-1), end(i)), with end(-1) = 0. Ends are strictly
// increasing, no chunk is longer than MaxChunkSize, and the last end equals
// the stream size (an empty stream has no entries). The file is exactly
// 72 + 40*n bytes. Find is a binary search directly over the table bytes.
const (
	DynamicIndexMagic      = "bfs-didx"
	DynamicIndexVersion    = 1
	dynamicIndexHeaderSize = 72
	dynamicEntrySize       = 8 + DigestSize
)

// DynamicIndex is a decoded dynamic index. It keeps the entry table as the
// one byte slice it was decoded from: an index of a 2 TiB stream costs its
// encoded size and a few words more.
type DynamicIndex struct {
	size  uint64
	ctime int64
	table []byte // 40*n bytes
}

var _ Index = (*DynamicIndex)(nil)

// DecodeDynamicIndex decodes and verifies a dynamic index. The result
// refers to b (it does not copy the table), so b must not be modified
// afterwards.
func DecodeDynamicIndex(b []byte) (*DynamicIndex, error) {
	if len(b) < dynamicIndexHeaderSize {
		return nil, fmt.Errorf("%w: dynamic index: %d bytes, shorter than the %d-byte header", ErrFormat, len(b), dynamicIndexHeaderSize)
	}
	if string(b[:8]) != DynamicIndexMagic {
		return nil, fmt.Errorf("%w: dynamic index: bad magic %q", ErrFormat, b[:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != DynamicIndexVersion {
		return nil, fmt.Errorf("%w: dynamic index version %d, this build reads %d", ErrVersion, v, DynamicIndexVersion)
	}
	if r := binary.LittleEndian.Uint32(b[12:]); r != 0 {
		return nil, fmt.Errorf("%w: dynamic index: reserved field %#x not zero", ErrFormat, r)
	}
	x := &DynamicIndex{
		size:  binary.LittleEndian.Uint64(b[16:]),
		ctime: int64(binary.LittleEndian.Uint64(b[32:])),
		table: b[dynamicIndexHeaderSize:],
	}
	n := binary.LittleEndian.Uint64(b[24:])
	// Compare by division so a huge n cannot overflow n*40.
	if uint64(len(x.table))%dynamicEntrySize != 0 || n != uint64(len(x.table))/dynamicEntrySize {
		return nil, fmt.Errorf("%w: dynamic index: %d entries do not fill %d table bytes", ErrFormat, n, len(x.table))
	}
	if err := x.checkEnds(); err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(x.table); !bytes.Equal(sum[:], b[40:72]) {
		return nil, fmt.Errorf("%w: dynamic index: entry table checksum", ErrChecksum)
	}
	return x, nil
}

// checkEnds checks that ends increase strictly, by at most MaxChunkSize,
// and that the last one is the stream size.
func (x *DynamicIndex) checkEnds() error {
	var prev uint64
	for i := range x.NumChunks() {
		end := x.end(i)
		if end <= prev || end-prev > MaxChunkSize {
			return fmt.Errorf("%w: dynamic index: chunk %d: end %d after %d: want a length of 1..%d",
				ErrFormat, i, end, prev, MaxChunkSize)
		}
		prev = end
	}
	if prev != x.size {
		return fmt.Errorf("%w: dynamic index: chunks end at %d, stream size is %d", ErrFormat, prev, x.size)
	}
	return nil
}

func (x *DynamicIndex) end(i int) uint64 {
	return binary.LittleEndian.Uint64(x.table[i*dynamicEntrySize:])
}

// Size returns the stream size in bytes.
func (x *DynamicIndex) Size() uint64 { return x.size }

// CTime returns the time the index was written.
func (x *DynamicIndex) CTime() time.Time { return time.Unix(0, x.ctime) }

// NumChunks returns the number of chunks.
func (x *DynamicIndex) NumChunks() int { return len(x.table) / dynamicEntrySize }

// Chunk returns chunk i's byte range and digest; it panics if i is out of range.
func (x *DynamicIndex) Chunk(i int) (start, end uint64, d Digest) {
	if i > 0 {
		start = x.end(i - 1)
	}
	e := x.table[i*dynamicEntrySize : (i+1)*dynamicEntrySize]
	copy(d[:], e[8:])
	return start, binary.LittleEndian.Uint64(e), d
}

// Find returns the chunk holding byte off, or -1 if off >= Size(). It is a
// binary search for the first end greater than off.
func (x *DynamicIndex) Find(off uint64) int {
	if off >= x.size {
		return -1
	}
	lo, hi := 0, x.NumChunks()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.end(m) <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// DynamicIndexWriter builds a dynamic index chunk by chunk.
type DynamicIndexWriter struct {
	size  uint64
	table []byte
}

// NewDynamicIndexWriter returns an empty writer.
func NewDynamicIndexWriter() *DynamicIndexWriter { return &DynamicIndexWriter{} }

// Add appends a chunk of n bytes (1..MaxChunkSize) with digest d.
func (w *DynamicIndexWriter) Add(d Digest, n int) error {
	if n < 1 || n > MaxChunkSize {
		return fmt.Errorf("dynamic index: chunk %d: length %d, want 1..%d", w.NumChunks(), n, MaxChunkSize)
	}
	w.size += uint64(n)
	w.table = binary.LittleEndian.AppendUint64(w.table, w.size)
	w.table = append(w.table, d[:]...)
	return nil
}

// NumChunks returns the number of chunks added so far.
func (w *DynamicIndexWriter) NumChunks() int { return len(w.table) / dynamicEntrySize }

// Size returns the stream size so far.
func (w *DynamicIndexWriter) Size() uint64 { return w.size }

// Encode returns the encoded index with the given ctime. The writer stays
// usable; encoding again after more Adds gives a longer index.
func (w *DynamicIndexWriter) Encode(ctime time.Time) []byte {
	b := make([]byte, dynamicIndexHeaderSize, dynamicIndexHeaderSize+len(w.table))
	copy(b, DynamicIndexMagic)
	binary.LittleEndian.PutUint32(b[8:], DynamicIndexVersion)
	binary.LittleEndian.PutUint64(b[16:], w.size)
	binary.LittleEndian.PutUint64(b[24:], uint64(w.NumChunks()))
	binary.LittleEndian.PutUint64(b[32:], uint64(ctime.UnixNano()))
	sum := sha256.Sum256(w.table)
	copy(b[40:], sum[:])
	return append(b, w.table...)
}

// DecodeIndex decodes a fixed or a dynamic index, chosen by its magic.
func DecodeIndex(b []byte) (Index, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: index: %d bytes, too short for a magic", ErrFormat, len(b))
	}
	// Return an untyped nil on error, never a nil *FixedIndex in an Index.
	switch string(b[:8]) {
	case FixedIndexMagic:
		x, err := DecodeFixedIndex(b)
		if err != nil {
			return nil, err
		}
		return x, nil
	case DynamicIndexMagic:
		x, err := DecodeDynamicIndex(b)
		if err != nil {
			return nil, err
		}
		return x, nil
	}
	return nil, fmt.Errorf("%w: index: unknown magic %q", ErrFormat, b[:8])
}
