package catalog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
)

var testCTime = time.Unix(1795000000, 123456789)

func testDigest(i int) Digest { return Sum(fmt.Appendf(nil, "chunk %d", i)) }

// buildFixed returns an encoded fixed index of size bytes.
func buildFixed(t testing.TB, cs uint32, size uint64) []byte {
	t.Helper()
	w, err := NewFixedIndexWriter(cs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; size > 0; i++ {
		n := min(size, uint64(cs))
		if err := w.Add(testDigest(i), int(n)); err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	return w.Encode(testCTime)
}

// buildDynamic returns an encoded dynamic index with the given chunk lengths.
func buildDynamic(t testing.TB, lens ...int) []byte {
	t.Helper()
	w := NewDynamicIndexWriter()
	for i, n := range lens {
		if err := w.Add(testDigest(i), n); err != nil {
			t.Fatal(err)
		}
	}
	return w.Encode(testCTime)
}

// checkIndex checks Chunk and Find against a list of chunk lengths.
func checkIndex(t *testing.T, x Index, lens []uint64) {
	t.Helper()
	if x.NumChunks() != len(lens) {
		t.Fatalf("NumChunks = %d, want %d", x.NumChunks(), len(lens))
	}
	var off uint64
	for i, n := range lens {
		s, e, d := x.Chunk(i)
		if s != off || e != off+n || d != testDigest(i) {
			t.Fatalf("Chunk(%d) = %d, %d, %v; want %d, %d", i, s, e, d, off, off+n)
		}
		for _, o := range []uint64{off, off + n/2, off + n - 1} {
			if got := x.Find(o); got != i {
				t.Fatalf("Find(%d) = %d, want %d", o, got, i)
			}
		}
		off += n
	}
	if x.Size() != off {
		t.Fatalf("Size = %d, want %d", x.Size(), off)
	}
	for _, o := range []uint64{off, off + 1, ^uint64(0)} {
		if got := x.Find(o); got != -1 {
			t.Fatalf("Find(%d) past the end = %d, want -1", o, got)
		}
	}
}

func TestFixedIndexRoundTrip(t *testing.T) {
	const cs = 4096
	for _, size := range []uint64{0, 1, cs - 1, cs, cs + 1, 10 * cs, 10*cs + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := buildFixed(t, cs, size)
			x, err := DecodeFixedIndex(b)
			if err != nil {
				t.Fatal(err)
			}
			var lens []uint64
			for r := size; r > 0; r -= min(r, cs) {
				lens = append(lens, min(r, cs))
			}
			checkIndex(t, x, lens)
			if x.ChunkSize() != cs || !x.CTime().Equal(testCTime) {
				t.Fatalf("ChunkSize %d, CTime %v", x.ChunkSize(), x.CTime())
			}
			if y, err := DecodeIndex(b); err != nil || y.Size() != size {
				t.Fatalf("DecodeIndex = %v, %v", y, err)
			}
		})
	}
}

func TestFixedIndexWriterErrors(t *testing.T) {
	for _, cs := range []uint32{0, 2048, 4095, 4097, 3 << 12, MaxChunkSize * 2} {
		if _, err := NewFixedIndexWriter(cs); !errors.Is(err, ErrFormat) {
			t.Errorf("NewFixedIndexWriter(%d) = %v, want ErrFormat", cs, err)
		}
	}
	w, _ := NewFixedIndexWriter(4096)
	for _, n := range []int{0, -1, 4097} {
		if err := w.Add(Digest{}, n); err == nil {
			t.Errorf("Add(%d) succeeded", n)
		}
	}
	if err := w.Add(Digest{}, 100); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Digest{}, 4096); err == nil {
		t.Error("Add after a short chunk succeeded")
	}
}

// reseal recomputes the checksum at sumOff over b[tableOff:].
func reseal(b []byte, sumOff, tableOff int) []byte {
	s := sha256.Sum256(b[tableOff:])
	copy(b[sumOff:], s[:])
	return b
}

func TestDecodeFixedIndexErrors(t *testing.T) {
	good := buildFixed(t, 4096, 3*4096+5)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	u32 := func(off int, v uint32) []byte {
		return mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b })
	}
	u64 := func(off int, v uint64) []byte {
		return mod(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b })
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"short header", good[:63], ErrFormat},
		{"truncated table", good[:len(good)-1], ErrFormat},
		{"missing last digest", good[:len(good)-32], ErrFormat},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrFormat},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrFormat},
		{"bad version", u32(8, 2), ErrVersion},
		{"chunk size zero", u32(12, 0), ErrFormat},
		{"chunk size not power of two", u32(12, 4096+4096/2), ErrFormat},
		{"chunk size too big", u32(12, 2*MaxChunkSize), ErrFormat},
		{"chunk size too small", u32(12, 2048), ErrFormat},
		{"size too big for table", u64(16, 4*4096+1), ErrFormat},
		{"size too small for table", u64(16, 3*4096), ErrFormat},
		{"huge size", u64(16, ^uint64(0)), ErrFormat},
		{"bad checksum", mod(func(b []byte) []byte { b[40] ^= 1; return b }), ErrChecksum},
		{"bad table", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := DecodeFixedIndex(tt.b)
			if !errors.Is(err, tt.want) || x != nil {
				t.Fatalf("DecodeFixedIndex = %v, %v; want %v", x, err, tt.want)
			}
			if y, err := DecodeIndex(tt.b); y != nil || err == nil {
				t.Fatalf("DecodeIndex = %v, %v; want nil, error", y, err)
			}
		})
	}
}

func TestDynamicIndexRoundTrip(t *testing.T) {
	tests := [][]int{
		nil,
		{1},
		{MaxChunkSize},
		{100, 1, 7, MaxChunkSize, 4096},
		{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
	}
	for _, lens := range tests {
		t.Run(fmt.Sprint(len(lens)), func(t *testing.T) {
			b := buildDynamic(t, lens...)
			x, err := DecodeDynamicIndex(b)
			if err != nil {
				t.Fatal(err)
			}
			var ul []uint64
			for _, n := range lens {
				ul = append(ul, uint64(n))
			}
			checkIndex(t, x, ul)
			if !x.CTime().Equal(testCTime) {
				t.Fatalf("CTime %v", x.CTime())
			}
			if y, err := DecodeIndex(b); err != nil || y.NumChunks() != len(lens) {
				t.Fatalf("DecodeIndex = %v, %v", y, err)
			}
		})
	}
}

func TestDynamicIndexWriterErrors(t *testing.T) {
	w := NewDynamicIndexWriter()
	for _, n := range []int{0, -1, MaxChunkSize + 1} {
		if err := w.Add(Digest{}, n); err == nil {
			t.Errorf("Add(%d) succeeded", n)
		}
	}
	if w.NumChunks() != 0 || w.Size() != 0 {
		t.Fatal("failed Add changed the writer")
	}
}

func TestDecodeDynamicIndexErrors(t *testing.T) {
	good := buildDynamic(t, 10, 20, 30)
	const h = dynamicIndexHeaderSize
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	u64 := func(off int, v uint64) []byte {
		return mod(func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) })
	}
	sealed := func(off int, v uint64) []byte { return reseal(u64(off, v), 40, h) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"short header", good[:h-1], ErrFormat},
		{"truncated entry", good[:len(good)-1], ErrFormat},
		{"count too big", u64(24, 4), ErrFormat},
		{"count too small", u64(24, 2), ErrFormat},
		{"huge count", u64(24, ^uint64(0)/8), ErrFormat},
		{"trailing entry", reseal(append(append([]byte(nil), good...), make([]byte, 40)...), 40, h), ErrFormat},
		{"bad magic", mod(func(b []byte) { b[7] = 'X' }), ErrFormat},
		{"bad version", mod(func(b []byte) { b[8] = 9 }), ErrVersion},
		{"reserved", mod(func(b []byte) { b[12] = 1 }), ErrFormat},
		{"unsorted ends", sealed(h+40, 5), ErrFormat},
		{"equal ends", sealed(h+40, 10), ErrFormat},
		{"zero first end", sealed(h, 0), ErrFormat},
		{"last end != size", u64(16, 61), ErrFormat},
		{"last end > size", sealed(h+80, 61), ErrFormat},
		{"oversize chunk", reseal(mod(func(b []byte) {
			binary.LittleEndian.PutUint64(b[h+40:], 10+MaxChunkSize+1)
			binary.LittleEndian.PutUint64(b[h+80:], 10+MaxChunkSize+31)
			binary.LittleEndian.PutUint64(b[16:], 10+MaxChunkSize+31)
		}), 40, h), ErrFormat},
		{"bad checksum", mod(func(b []byte) { b[41] ^= 1 }), ErrChecksum},
		{"bad digest", mod(func(b []byte) { b[len(b)-1] ^= 1 }), ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := DecodeDynamicIndex(tt.b)
			if !errors.Is(err, tt.want) || x != nil {
				t.Fatalf("DecodeDynamicIndex = %v, %v; want %v", x, err, tt.want)
			}
			if y, err := DecodeIndex(tt.b); y != nil || err == nil {
				t.Fatalf("DecodeIndex = %v, %v; want nil, error", y, err)
			}
		})
	}
}

func TestDecodeIndexUnknownMagic(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("bfs-"), []byte("bfs-tree and more")} {
		if x, err := DecodeIndex(b); x != nil || !errors.Is(err, ErrFormat) {
			t.Errorf("DecodeIndex(%q) = %v, %v", b, x, err)
		}
	}
}
