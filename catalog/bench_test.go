package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// The index benchmarks use the index of a 2 TiB stream cut at the
// project's default chunk size (128 KiB, chunker.DefaultParams.Avg and
// chunker.DefaultFixedSize): 16 Mi chunks, a 512 MiB fixed and a 640 MiB
// dynamic index. They are built once per process, straight into their
// encoded form (the writers would double the peak while growing).
const (
	benchStreamSize = 2 << 40
	benchChunkSize  = 128 << 10
	benchChunks     = benchStreamSize / benchChunkSize
)

var (
	benchFixed = sync.OnceValue(func() []byte {
		b := make([]byte, fixedIndexHeaderSize+benchChunks*DigestSize)
		copy(b, FixedIndexMagic)
		binary.LittleEndian.PutUint32(b[8:], FixedIndexVersion)
		binary.LittleEndian.PutUint32(b[12:], benchChunkSize)
		binary.LittleEndian.PutUint64(b[16:], benchStreamSize)
		for i := range benchChunks {
			binary.LittleEndian.PutUint64(b[fixedIndexHeaderSize+i*DigestSize:], uint64(i))
		}
		sum := sha256.Sum256(b[fixedIndexHeaderSize:])
		copy(b[32:], sum[:])
		return b
	})
	// Chunk lengths vary in pairs (128K-d, 128K+d), d < 64K pseudo-random,
	// so the ends are irregular but the total is exactly 2 TiB.
	benchDynamic = sync.OnceValue(func() []byte {
		b := make([]byte, dynamicIndexHeaderSize+benchChunks*dynamicEntrySize)
		copy(b, DynamicIndexMagic)
		binary.LittleEndian.PutUint32(b[8:], DynamicIndexVersion)
		binary.LittleEndian.PutUint64(b[16:], benchStreamSize)
		binary.LittleEndian.PutUint64(b[24:], benchChunks)
		var end, d uint64
		rnd := uint64(1)
		for i := range benchChunks {
			if i%2 == 0 {
				rnd = rnd*6364136223846793005 + 1442695040888963407
				d = (rnd >> 33) % (64 << 10)
				end += benchChunkSize - d
			} else {
				end += benchChunkSize + d
			}
			e := b[dynamicIndexHeaderSize+i*dynamicEntrySize:]
			binary.LittleEndian.PutUint64(e, end)
			binary.LittleEndian.PutUint64(e[8:], uint64(i))
		}
		sum := sha256.Sum256(b[dynamicIndexHeaderSize:])
		copy(b[40:], sum[:])
		return b
	})
)

// randomOffsets returns n pseudo-random offsets below size.
func randomOffsets(n int, size uint64) []uint64 {
	offs := make([]uint64, n)
	rnd := uint64(42)
	for i := range offs {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		offs[i] = rnd % size
	}
	return offs
}

// benchFind decodes enc and times Find at random offsets. It reports the
// index's encoded size and the heap the decode allocated besides it (the
// decoder keeps enc as its table), after the loop because b.Loop's timer
// reset drops metrics reported earlier.
func benchFind(b *testing.B, enc []byte, decode func([]byte) (Index, error)) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	x, err := decode(enc)
	if err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	offs := randomOffsets(1<<16, x.Size())
	b.ReportAllocs()
	sink := 0
	for i := 0; b.Loop(); i++ {
		sink += x.Find(offs[i&(len(offs)-1)])
	}
	if sink < 0 {
		b.Fatal("negative")
	}
	b.ReportMetric(float64(len(enc))/(1<<20), "index-MiB")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc), "decode-alloc-B")
}

// BenchmarkFixedFind: Find on the fixed index of a 2 TiB image.
func BenchmarkFixedFind(b *testing.B) {
	benchFind(b, benchFixed(), func(e []byte) (Index, error) { return DecodeFixedIndex(e) })
}

// BenchmarkDynamicFind: binary search in the dynamic index of a 2 TiB stream.
func BenchmarkDynamicFind(b *testing.B) {
	benchFind(b, benchDynamic(), func(e []byte) (Index, error) { return DecodeDynamicIndex(e) })
}

// BenchmarkDecodeDynamicIndex: decoding (bounds + SHA-256) of a 1 GiB stream's index.
func BenchmarkDecodeDynamicIndex(b *testing.B) {
	w := NewDynamicIndexWriter()
	for i := range (1 << 30) / benchChunkSize {
		if err := w.Add(testDigest(i), benchChunkSize); err != nil {
			b.Fatal(err)
		}
	}
	enc := w.Encode(testCTime)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDynamicIndex(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeLookup: Lookup of random names in a directory of 10,000
// entries, catalog in memory (bytes.Reader), so this is the decode and
// search cost without I/O.
func BenchmarkTreeLookup(b *testing.B) {
	r, _, _ := openTestTree(b)
	big, err := r.LookupPath("big")
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 1024)
	for i, o := range randomOffsets(len(names), 10000) {
		names[i] = fmt.Sprintf("f%05d", o)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := r.Lookup(big, names[i&(len(names)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeReadDir: reading and decoding the 10,000-entry table.
func BenchmarkTreeReadDir(b *testing.B) {
	r, _, _ := openTestTree(b)
	big, err := r.LookupPath("big")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(big.Dir.Len))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadDir(big); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeWrite: encoding the 10,000-entry directory.
func BenchmarkTreeWrite(b *testing.B) {
	entries := make([]Entry, 10000)
	for i := range entries {
		entries[i] = Entry{Name: fmt.Sprintf("f%05d", i), Type: TypeFile, Mode: 0o644, Size: 100, PayloadOffset: uint64(i) * 100}
	}
	var buf bytes.Buffer
	w := NewTreeWriter(&buf)
	ref, err := w.WriteDir(entries)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(ref.Len))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := w.WriteDir(entries); err != nil {
			b.Fatal(err)
		}
	}
}
