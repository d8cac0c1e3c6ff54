package store

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// benchInputs are the chunk kinds measured: text-like (zstd shrinks it
// about 10x) and random (stored raw), at 1 and 4 MiB.
func benchInputs() []struct {
	name  string
	plain []byte
} {
	var out []struct {
		name  string
		plain []byte
	}
	for _, n := range []int{1 << 20, 4 << 20} {
		out = append(out,
			struct {
				name  string
				plain []byte
			}{fmt.Sprintf("compressible-%dMiB", n>>20), compressible(n)},
			struct {
				name  string
				plain []byte
			}{fmt.Sprintf("random-%dMiB", n>>20), random(n, uint64(n))})
	}
	return out
}

func BenchmarkEncodeBlob(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.plain)))
			var blob []byte
			for b.Loop() {
				blob, _ = EncodeBlob(in.plain)
			}
			b.ReportMetric(float64(len(blob))/float64(len(in.plain)), "ratio")
		})
	}
}

func BenchmarkDecodeBlob(b *testing.B) {
	for _, in := range benchInputs() {
		blob, _ := EncodeBlob(in.plain)
		d := catalog.Sum(in.plain)
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.plain)))
			for b.Loop() {
				if _, err := DecodeBlob(blob, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckBlob(b *testing.B) {
	plain := compressible(4 << 20)
	blob, _ := EncodeBlob(plain)
	b.SetBytes(int64(len(blob)))
	for b.Loop() {
		if err := CheckBlob(blob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutChunk writes new 1 MiB chunks (hash, compress, write, fsync,
// rename, fsync dir) and touches existing ones.
func BenchmarkPutChunk(b *testing.B) {
	for _, in := range benchInputs()[:2] {
		b.Run("new-"+in.name, func(b *testing.B) {
			s, _ := newStore(b)
			plain := append([]byte(nil), in.plain...)
			b.SetBytes(int64(len(plain)))
			i := uint64(0)
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(plain, i) // a new chunk each time
				if _, err := s.PutChunk(catalog.Sum(plain), plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("existing", func(b *testing.B) {
		s, _ := newStore(b)
		plain := compressible(1 << 20)
		d := catalog.Sum(plain)
		put(b, s, plain)
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if written, err := s.PutChunk(d, plain); written || err != nil {
				b.Fatal(written, err)
			}
		}
	})
}

// BenchmarkChunk reads and verifies a stored 1 MiB chunk.
func BenchmarkChunk(b *testing.B) {
	s, _ := newStore(b)
	plain := compressible(1 << 20)
	put(b, s, plain)
	d := catalog.Sum(plain)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := s.Chunk(d); err != nil {
			b.Fatal(err)
		}
	}
}
