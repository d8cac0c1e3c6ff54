package chunker

import (
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// The measurements behind the package doc's tables. They read
// $(go env GOROOT)/src and take ~30 s of one core, so they only run with
// BACKUPFS_MEASURE=1:
//
//	BACKUPFS_MEASURE=1 go test -run TestMeasure -v ./chunker

const measureCap = 256 << 20 // bytes per corpus

func needMeasure(t *testing.T) {
	if os.Getenv("BACKUPFS_MEASURE") == "" {
		t.Skip("set BACKUPFS_MEASURE=1 to run the measurements")
	}
}

// corpus is a stream of files concatenated, as a tree archive's payload.
type corpus struct {
	name  string
	files [][]byte
}

func (c corpus) stream() []byte {
	var n int
	for _, f := range c.files {
		n += len(f)
	}
	s := make([]byte, 0, n)
	for _, f := range c.files {
		s = append(s, f...)
	}
	return s
}

// gorootCorpus reads the regular files under GOROOT/src in sorted walk order.
func gorootCorpus(t *testing.T) corpus {
	c := corpus{name: "goroot/src"}
	total := 0
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	root := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || total >= measureCap {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.files = append(c.files, b)
		total += len(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomCorpus is incompressible files with log-uniform sizes 4 KiB..4 MiB.
func randomCorpus() corpus {
	c := corpus{name: "random"}
	data := randBytes(12, measureCap)
	r := rand.New(rand.NewPCG(13, 13))
	for len(data) > 0 {
		n := min(len(data), int(math.Exp2(12+10*r.Float64())))
		c.files = append(c.files, data[:n])
		data = data[n:]
	}
	return c
}

// edit returns a copy of c with 1% of its non-empty files changed by fn.
// It returns the edited corpus, the number of files edited and their bytes.
func (c corpus) edit(seed uint64, fn func(f []byte, r *rand.Rand) []byte) (corpus, int, int) {
	r := rand.New(rand.NewPCG(seed, seed))
	e := corpus{name: c.name, files: slices.Clone(c.files)}
	n, size := max(1, len(c.files)/100), 0
	for done := map[int]bool{}; len(done) < n; {
		i := r.IntN(len(c.files))
		if !done[i] && len(c.files[i]) > 0 {
			done[i] = true
			e.files[i] = fn(c.files[i], r)
			size += len(e.files[i])
		}
	}
	return e, n, size
}

// insert100 inserts 100 random bytes in the middle of a file.
func insert100(f []byte, r *rand.Rand) []byte {
	mid := len(f) / 2
	return slices.Concat(f[:mid], randBytes(r.Uint64(), 100), f[mid:])
}

// rewrite replaces a file with new content of the same size.
func rewrite(f []byte, r *rand.Rand) []byte { return randBytes(r.Uint64(), len(f)) }

var measureSeed = maphash.MakeSeed()

// chunkStats describes how one algorithm cut one stream.
type chunkStats struct {
	lens   []int
	hashes map[uint64]bool
	dur    time.Duration
}

func cutStream(s []byte, p Params, cut cutFunc) chunkStats {
	st := chunkStats{hashes: map[uint64]bool{}}
	t0 := time.Now()
	eachChunk(s, p, cut, func(c []byte) { st.lens = append(st.lens, len(c)) })
	st.dur = time.Since(t0)
	for _, n := range st.lens {
		st.hashes[maphash.Bytes(measureSeed, s[:n])] = true
		s = s[n:]
	}
	return st
}

// stored returns the chunks and bytes of s that are not in base.
func stored(base chunkStats, s []byte, p Params, cut cutFunc) (chunks, bytes int) {
	eachChunk(s, p, cut, func(c []byte) {
		if !base.hashes[maphash.Bytes(measureSeed, c)] {
			chunks++
			bytes += len(c)
		}
	})
	return chunks, bytes
}

// sizeStats returns mean, stddev, the number of chunks cut at max (the
// last chunk excluded) and the byte-weighted median: the size of the chunk a
// random read lands in, half the time or less.
func sizeStats(lens []int, max int) (mean, sd float64, atMax, wmedian int) {
	var sum, sq float64
	for i, n := range lens {
		sum += float64(n)
		sq += float64(n) * float64(n)
		if n == max && i < len(lens)-1 {
			atMax++
		}
	}
	mean = sum / float64(len(lens))
	sd = math.Sqrt(sq/float64(len(lens)) - mean*mean)
	sorted := slices.Sorted(slices.Values(lens))
	acc := 0.0
	for _, n := range sorted {
		if acc += float64(n); acc >= sum/2 {
			return mean, sd, atMax, n
		}
	}
	return mean, sd, atMax, 0
}

func measureParams(avg int) Params {
	return Params{Min: avg / 4, Avg: avg, Max: min(4*avg, 8<<20)}
}

func TestMeasureChunking(t *testing.T) {
	needMeasure(t)
	algos := []struct {
		name string
		cut  cutFunc
	}{{"gear", gearCut}, {"buzhash", buzCut}}
	var out strings.Builder
	fmt.Fprintf(&out, "%-10s %-7s %5s %8s %7s %6s %6s %6s %6s %6s %14s %14s\n",
		"corpus", "algo", "avg", "MB/s", "ch/GiB", "meanK", "sdK", "atMax", "wmedK",
		"maxK", "ins:ch%/KiB/ed", "rw:ch%/byte%")
	for _, c := range []corpus{gorootCorpus(t), randomCorpus()} {
		s := c.stream()
		ins, nIns, _ := c.edit(21, insert100)
		rw, _, rwBytes := c.edit(22, rewrite)
		sIns, sRw := ins.stream(), rw.stream()
		t.Logf("%s: %d files, %d MiB; insert: %d files; rewrite: %d bytes (%.2f%%)",
			c.name, len(c.files), len(s)>>20, nIns, rwBytes, 100*float64(rwBytes)/float64(len(s)))
		for _, avg := range []int{64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20} {
			p := measureParams(avg)
			for _, a := range algos {
				base := cutStream(s, p, a.cut)
				mean, sd, atMax, wmed := sizeStats(base.lens, p.Max)
				ic, ib := stored(base, sIns, p, a.cut)
				rc, rb := stored(base, sRw, p, a.cut)
				n := float64(len(base.lens))
				fmt.Fprintf(&out, "%-10s %-7s %4dK %8.0f %7.0f %6.0f %6.0f %6d %6d %6d %6.2f/%7.0f %6.2f/%6.2f\n",
					c.name, a.name, avg>>10, float64(len(s))/1e6/base.dur.Seconds(),
					n*(1<<30)/float64(len(s)), mean/1024, sd/1024, atMax, wmed>>10, p.Max>>10,
					100*float64(ic)/n, float64(ib)/1024/float64(nIns),
					100*float64(rc)/n, 100*float64(rb)/float64(len(s)))
			}
		}
	}
	t.Logf("columns: throughput of the bare cut loop; chunks per GiB; chunk size mean and stddev;\n"+
		"chunks cut at max; byte-weighted median chunk size (what a random read fetches); max;\n"+
		"after 100-byte inserts in 1%% of files: %% of chunks new, KiB stored per insert;\n"+
		"after rewriting 1%% of files: %% of chunks new, %% of bytes stored\n%s", out.String())
}

// TestMeasureReadCost times what a cold random 4 KiB read pays for the
// chunk it lands in, beyond the transfer: zstd decode (the store keeps a
// chunk raw when zstd does not shrink it) and the SHA-256 check, per size.
func TestMeasureReadCost(t *testing.T) {
	needMeasure(t)
	text := gorootCorpus(t).stream()
	rnd := randBytes(14, 8<<20)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out strings.Builder
	fmt.Fprintf(&out, "%6s | %-34s | %-34s\n", "size", "goroot/src: ratio  zstd  sha  p50 (µs)", "random: ratio  zstd  sha  p50 (µs)")
	for size := 64 << 10; size <= 8<<20; size *= 2 {
		fmt.Fprintf(&out, "%5dK", size>>10)
		for _, src := range [][]byte{text[len(text)/2:], rnd} {
			plain := src[:size]
			blob := enc.EncodeAll(plain, nil)
			ratio, z, s, total := readCost(t, dec, plain, blob)
			fmt.Fprintf(&out, " | %14.2f %5.0f %4.0f %6.0f      ", ratio, z, s, total)
		}
		out.WriteString("\n")
	}
	t.Logf("median over repeated runs; ratio = plain/zstd (default level)\n%s", out.String())
}

// readCost returns the compression ratio and the median microseconds of
// decoding, of hashing, and of both in sequence.
func readCost(t *testing.T, dec *zstd.Decoder, plain, blob []byte) (ratio, z, s, total float64) {
	raw := len(blob) >= len(plain)
	buf := make([]byte, 0, len(plain))
	runs := max(7, min(201, (96<<20)/len(plain)))
	var zs, ss, ts []float64
	for range runs {
		t0 := time.Now()
		b := plain
		if !raw {
			var err error
			if b, err = dec.DecodeAll(blob, buf[:0]); err != nil {
				t.Fatal(err)
			}
		}
		t1 := time.Now()
		d := sha256.Sum256(b)
		t2 := time.Now()
		if d != sha256.Sum256(plain) {
			t.Fatal("decoded chunk differs")
		}
		zs = append(zs, float64(t1.Sub(t0).Microseconds()))
		ss = append(ss, float64(t2.Sub(t1).Microseconds()))
		ts = append(ts, float64(t2.Sub(t0).Microseconds()))
	}
	ratio = float64(len(plain)) / float64(min(len(blob), len(plain)))
	return ratio, median(zs), median(ss), median(ts)
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
