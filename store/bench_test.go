package store

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/klauspost/compress/zstd"
)

// benchInputs are the chunk kinds measured: text-like (zstd shrinks it
// about 10x) and random (stored raw), at 128 KiB (the default chunk size),
// 1 and 4 MiB.
func benchInputs() []struct {
	name  string
	plain []byte
} {
	var out []struct {
		name  string
		plain []byte
	}
	for _, n := range []int{128 << 10, 1 << 20, 4 << 20} {
		out = append(out,
			struct {
				name  string
				plain []byte
			}{fmt.Sprintf("compressible-%dKiB", n>>10), compressible(n)},
			struct {
				name  string
				plain []byte
			}{fmt.Sprintf("random-%dKiB", n>>10), random(n, uint64(n))})
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

// sourceText returns n bytes of Go source from GOROOT/src/net/http: real
// text, where compressible's six-word salad flatters the slower levels.
func sourceText(b *testing.B, n int) []byte {
	var out []byte
	dir := filepath.Join(goroot(b), "src", "net", "http")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(out) >= n {
			return filepath.SkipAll
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			out = append(out, data...)
			return err
		}
		return nil
	})
	if len(out) < n {
		b.Skip("no Go source tree at", dir)
	}
	return out[:n]
}

// BenchmarkEncodeLevel compares zstd levels on source text chunks of the
// tree chunker's typical size (see the package doc's table).
func BenchmarkEncodeLevel(b *testing.B) {
	plain := sourceText(b, 128<<10)
	for _, lv := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		enc := newBlobEncoder(lv)
		b.Run(lv.String(), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			var blob []byte
			for b.Loop() {
				blob, _ = appendBlob(enc, blob[:0], plain)
			}
			b.ReportMetric(float64(len(blob))/float64(len(plain)), "ratio")
		})
	}
}

// BenchmarkVerifyBlob is the server's check of an uploaded blob.
func BenchmarkVerifyBlob(b *testing.B) { benchCheck(b, VerifyBlob) }

func BenchmarkDecodeBlob(b *testing.B) {
	benchCheck(b, func(blob []byte, d catalog.Digest) error {
		_, err := DecodeBlob(blob, d)
		return err
	})
}

// BenchmarkDecodeBlobShared is the client's decode: a raw blob checked in
// place, no CRC (the SHA-256 is checked).
func BenchmarkDecodeBlobShared(b *testing.B) {
	benchCheck(b, func(blob []byte, d catalog.Digest) error {
		_, _, err := DecodeBlobShared(blob, d)
		return err
	})
}

// benchCheck runs check over each input's blob, per plain byte.
func benchCheck(b *testing.B, check func(blob []byte, d catalog.Digest) error) {
	for _, in := range benchInputs() {
		blob, _ := EncodeBlob(in.plain)
		d := catalog.Sum(in.plain)
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.plain)))
			for b.Loop() {
				if err := check(blob, d); err != nil {
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

// BenchmarkPutChunk writes new 1 MiB chunks (hash, compress, write to a
// temporary file, rename; no fsync: Commit syncs) and touches existing ones.
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

// BenchmarkWriteChunk is the file work of storing one new chunk as the
// server does (a 48 KiB blob: a 128 KiB text chunk compressed): touch
// (missing), create, write, rename. "fresh" starts from an empty datastore,
// so most chunks also create their .chunks/<4 hex> directory; "filled"
// has every directory already, as a datastore with 200k+ chunks does.
func BenchmarkWriteChunk(b *testing.B) {
	blob := random(48<<10, 7)
	for _, filled := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "filled"}[filled]
		b.Run(name, func(b *testing.B) {
			s, err := Init(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			if filled {
				for i := range 1 << 16 {
					if err := os.Mkdir(filepath.Join(s.dir, chunksDir, fmt.Sprintf("%04x", i)), dirPerm); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(int64(len(blob)))
			var d catalog.Digest
			i := uint64(0)
			cpu0 := processCPU()
			defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(d[:], i*0x9E3779B97F4A7C15)
				if ok, err := s.touch(d); ok || err != nil {
					b.Fatal(ok, err)
				}
				if _, err := s.writeChunk(d, blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// processCPU is the process's user + system CPU time: on a shared machine
// it varies less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goroot is `go env GOROOT`, or skips the benchmark.
func goroot(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skip("no go command:", err)
	}
	return strings.TrimSpace(string(out))
}
