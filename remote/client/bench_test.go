package client_test

import (
	"context"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/store"
)

const benchImageSize = 64 << 20

var benchGroup = catalog.Group{Type: "vm", ID: "1"}

// benchImage writes a 64 MiB image, half pseudo-random and half text.
func benchImage(b testing.TB) string {
	b.Helper()
	data := make([]byte, benchImageSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data[:benchImageSize/2] {
		data[i] = byte(r.Uint32())
	}
	text := []byte("backupfs network benchmark: a line of compressible text. ")
	for i := benchImageSize / 2; i < benchImageSize; i += len(text) {
		copy(data[i:], text)
	}
	p := filepath.Join(b.TempDir(), "bench.img")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchServer backs the image up into a datastore served on loopback TLS.
func benchServer(b testing.TB) *remotetest.Server {
	b.Helper()
	srv := remotetest.Start(b, b.TempDir())
	w, err := srv.Store.Begin(benchGroup, t0)
	if err != nil {
		b.Fatal(err)
	}
	var st backup.Stats
	if _, err := backup.Run(context.Background(), w, backup.Options{Group: benchGroup, Time: t0,
		Archives: []backup.Spec{{Name: "d.img", Path: benchImage(b)}}}, &st); err != nil {
		b.Fatal(err)
	}
	return srv
}

func readImage(b *testing.B, repo backup.Repository) {
	snap, err := backup.OpenSnapshot(repo, benchGroup, t0)
	if err != nil {
		b.Fatal(err)
	}
	img, err := snap.Image("d.img")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, io.NewSectionReader(img, 0, img.Size())); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRestoreLocal and BenchmarkRestoreRemote read the same 64 MiB
// image sequentially, one chunk at a time (as restore of a tree does),
// from the datastore directly and through a server over loopback TLS.
func BenchmarkRestoreLocal(b *testing.B) {
	srv := benchServer(b)
	b.SetBytes(benchImageSize)
	for b.Loop() {
		readImage(b, srv.Store)
	}
}

func BenchmarkRestoreRemote(b *testing.B) {
	srv := benchServer(b)
	c := srv.Dial(srv.Token("r", "read:*"))
	b.SetBytes(benchImageSize)
	for b.Loop() {
		readImage(b, c)
	}
}

// benchIndex opens the bench snapshot's image through c and returns its
// index.
func benchIndex(b *testing.B, c backup.Source) catalog.Index {
	b.Helper()
	snap, err := backup.OpenSnapshot(c, benchGroup, t0)
	if err != nil {
		b.Fatal(err)
	}
	img, err := snap.Image("d.img")
	if err != nil {
		b.Fatal(err)
	}
	return img.Index()
}

// BenchmarkChunkRoundTrip is the latency of one demand fetch of a 128 KiB
// chunk over loopback TLS: request, server read, transfer, verify.
func BenchmarkChunkRoundTrip(b *testing.B) {
	srv := benchServer(b)
	c := srv.Dial(srv.Token("r", "read:*"))
	idx := benchIndex(b, c)
	i := 0
	for b.Loop() {
		_, _, d := idx.Chunk(i % idx.NumChunks())
		if _, err := c.Chunk(d); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReadaheadFetch reads every chunk of the 64 MiB image as the
// mount's readahead does: 64 low-priority fetches in flight at a time,
// which the client batches into GET_CHUNKS of several digests.
func BenchmarkReadaheadFetch(b *testing.B) {
	srv := benchServer(b)
	c := srv.Dial(srv.Token("r", "read:*"))
	idx := benchIndex(b, c)
	b.SetBytes(benchImageSize)
	for b.Loop() {
		next := make(chan int, idx.NumChunks())
		for i := range idx.NumChunks() {
			next <- i
		}
		close(next)
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := range next {
					_, _, d := idx.Chunk(i)
					if _, err := c.ChunkContext(context.Background(), d, false); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkUpload backs up the 64 MiB image over the network into a fresh
// group each time (every chunk is uploaded; the datastore already has
// them after the first round, so the server mostly verifies).
func BenchmarkUpload(b *testing.B) {
	srv := remotetest.Start(b, b.TempDir())
	c := srv.Dial(srv.Token("w", "backup:*"))
	path := benchImage(b)
	b.SetBytes(benchImageSize)
	n := 0
	for b.Loop() {
		g := catalog.Group{Type: "vm", ID: "u" + string(rune('a'+n%26)) + string(rune('a'+n/26%26))}
		n++
		w, err := c.Begin(g, t0)
		if err != nil {
			b.Fatal(err)
		}
		var st backup.Stats
		if _, err := backup.Run(context.Background(), w, backup.Options{Group: g, Time: t0,
			Archives: []backup.Spec{{Name: "d.img", Path: path}}}, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// benchTree is real source text for tree benchmarks: GOROOT/src/cmd of
// the Go running the benchmark (about 50 MiB in 5,000 files), and its size.
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	dir := filepath.Join(goroot(b), "src", "cmd")
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		size += fi.Size()
		return err
	})
	if err != nil {
		b.Skip("no Go source tree:", err)
	}
	return dir, size
}

// BenchmarkUploadTree is a first backup of a source tree over loopback TLS
// into an empty datastore each time (every chunk is compressed, sent,
// verified and written; files are in the page cache).
func BenchmarkUploadTree(b *testing.B) {
	dir, size := benchTree(b)
	b.SetBytes(size)
	var cpu cpuMeter
	for range b.N {
		b.StopTimer()
		srv := remotetest.Start(b, b.TempDir())
		c := srv.Dial(srv.Token("w", "backup:*"))
		b.StartTimer()
		cpu.start()
		backupTreeInto(b, func() (backup.Sink, error) { return c.Begin(benchGroup, t0) }, dir)
		cpu.stop()
	}
	cpu.report(b, size)
}

// BenchmarkBackupTreeLocal is the same first backup into a local datastore.
func BenchmarkBackupTreeLocal(b *testing.B) {
	dir, size := benchTree(b)
	b.SetBytes(size)
	var cpu cpuMeter
	for range b.N {
		b.StopTimer()
		st, err := store.Init(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu.start()
		backupTreeInto(b, func() (backup.Sink, error) { return st.Begin(benchGroup, t0) }, dir)
		cpu.stop()
	}
	cpu.report(b, size)
}

// cpuMeter sums the process's CPU time (user + system, client and server
// together) over the timed parts: on a shared machine, CPU seconds per
// byte vary less than wall time.
type cpuMeter struct {
	t0, total time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *cpuMeter) start() { m.t0 = processCPU() }
func (m *cpuMeter) stop()  { m.total += processCPU() - m.t0 }

// report adds "cpu-ns/B": CPU time per plain byte backed up.
func (m *cpuMeter) report(b *testing.B, size int64) {
	b.ReportMetric(float64(m.total)/float64(b.N)/float64(size), "cpu-ns/B")
}

// backupTreeInto makes one snapshot of dir into the sink begin returns.
func backupTreeInto(b *testing.B, begin func() (backup.Sink, error), dir string) {
	w, err := begin()
	if err != nil {
		b.Fatal(err)
	}
	var st backup.Stats
	if _, err := backup.Run(context.Background(), w, backup.Options{Group: benchGroup, Time: t0,
		Archives: []backup.Spec{{Name: "src.tree", Path: dir}}}, &st); err != nil {
		b.Fatal(err)
	}
}

// goroot is `go env GOROOT`, or skips the benchmark.
func goroot(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skip("no go command:", err)
	}
	return strings.TrimSpace(string(out))
}
