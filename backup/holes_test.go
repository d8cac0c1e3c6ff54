package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

const holeCS = 64 << 10 // the chunk size of these tests: 16 filesystem blocks

// sparseCase is an image file: its size, the byte ranges written (random
// data, or zeros where zeros is set), everything else left a hole.
type sparseCase struct {
	name    string
	size    int
	written [][2]int
	zeros   bool // the written ranges hold zeros: allocated, yet all-zero
	sparse  bool // whether the file has holes at all
}

var sparseCases = []sparseCase{
	{name: "hole at start", size: 8 * holeCS, written: [][2]int{{3*holeCS + 100, 8 * holeCS}}, sparse: true},
	{name: "hole in middle", size: 8*holeCS + 123, written: [][2]int{{0, 2*holeCS + 5}, {6*holeCS - 7, 8*holeCS + 123}}, sparse: true},
	{name: "hole at end", size: 8*holeCS + 500, written: [][2]int{{0, 2*holeCS + 300}}, sparse: true},
	{name: "holes around one byte", size: 6*holeCS + 1, written: [][2]int{{3*holeCS + 1, 3*holeCS + 2}}, sparse: true},
	{name: "all hole", size: 4*holeCS + 1, sparse: true},
	{name: "written zeros between holes", size: 6 * holeCS, written: [][2]int{{holeCS + 10, 4 * holeCS}}, zeros: true, sparse: true},
	{name: "no holes", size: 5*holeCS + 77, written: [][2]int{{0, 5*holeCS + 77}}},
	{name: "empty", size: 0, sparse: true},
}

// make writes the case's file in dir and returns its path and bytes.
func (c sparseCase) make(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	want := make([]byte, c.size)
	path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(c.size)); err != nil {
		t.Fatal(err)
	}
	for i, r := range c.written {
		if !c.zeros {
			copy(want[r[0]:r[1]], randBytes(uint64(i+1), r[1]-r[0]))
		}
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	return path, want
}

// holeChunk reports whether chunk [off, off+n) has no written byte: the
// chunks the hole finder must answer without a read.
func (c sparseCase) holeChunk(off, n int) bool {
	for _, r := range c.written {
		if r[0] < off+n && off < r[1] {
			return false
		}
	}
	return c.sparse
}

// TestHoleFinder asks the hole finder about every chunk of sparse files,
// in the order readImage does, and checks its answers against the
// ranges written: a chunk is a hole exactly when nothing was written in
// it, and a file without holes reports none.
func TestHoleFinder(t *testing.T) {
	dir := t.TempDir()
	for _, c := range sparseCases {
		path, _ := c.make(t, dir)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		h := newHoleFinder(f, int64(c.size))
		var got, want []string
		for off := 0; off < c.size; off += holeCS {
			n := min(holeCS, c.size-off)
			got = append(got, fmt.Sprint(h.isHole(int64(off), int64(n))))
			want = append(want, fmt.Sprint(c.holeChunk(off, n)))
		}
		f.Close()
		if !slices.Equal(got, want) {
			t.Errorf("%s: holes per chunk %v, want %v", c.name, got, want)
		}
	}
}

// TestReadImageSparse runs readImage over sparse files and checks every
// chunk it produces against the file's bytes (digest and length, in
// order, and the bytes the sink got), that all-zero regions, holes or
// written zeros, become the zero chunk, and that holes are not read: the
// process reads the file's non-hole chunks and nothing more
// (/proc/self/io's rchar counts every byte read(2) and pread(2) return).
func TestReadImageSparse(t *testing.T) {
	dir := t.TempDir()
	for _, c := range sparseCases {
		path, want := c.make(t, dir)
		sink := &bytesSink{chunks: map[catalog.Digest][]byte{}}
		got, read := readImageOf(t, path, c.size, sink)
		var wantRead int
		for i, ch := range got {
			off := i * holeCS
			n := min(holeCS, c.size-off)
			if ch.n != n || ch.d != catalog.Sum(want[off:off+n]) {
				t.Fatalf("%s: chunk %d: %d bytes %s, want %d bytes of the file's %s", c.name, i, ch.n, ch.d, n, catalog.Sum(want[off:off+n]))
			}
			if b := sink.chunks[ch.d]; !bytes.Equal(b, want[off:off+n]) {
				t.Fatalf("%s: chunk %d: the sink got %d bytes that differ from the file's", c.name, i, len(b))
			}
			if isZero(want[off:off+n]) && ch.d != catalog.ZeroDigest(n) {
				t.Errorf("%s: chunk %d is all zeros but not the zero chunk", c.name, i)
			}
			if !c.holeChunk(off, n) {
				wantRead += n
			}
		}
		if len(got) != (c.size+holeCS-1)/holeCS {
			t.Fatalf("%s: %d chunks, want %d", c.name, len(got), (c.size+holeCS-1)/holeCS)
		}
		// The slack covers the read of /proc/self/io and the runtime's own
		// small reads (cgroup files); reading one hole chunk exceeds it.
		if read < int64(wantRead) || read >= int64(wantRead)+holeCS/2 {
			t.Errorf("%s: %d bytes read, want the %d bytes of non-hole chunks", c.name, read, wantRead)
		}
	}
}

type chunkRef struct {
	d catalog.Digest
	n int
}

// readImageOf runs readImage over the file at path into sink and returns
// the chunks in stream order and the bytes the process read meanwhile.
func readImageOf(t *testing.T, path string, size int, sink Sink) ([]chunkRef, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st Stats
	var got []chunkRef
	dd := newDedup(sink, &st)
	p := newPipe(context.Background(), dd, func(d catalog.Digest, n int) error {
		got = append(got, chunkRef{d, n})
		return nil
	})
	before := rchar(t)
	err = readImage(f, int64(size), holeCS, &st, newImageFeed(p, dd))
	read := rchar(t) - before
	if cerr := p.close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, read
}

// rchar returns the bytes this process has read so far (/proc/self/io).
func rchar(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no rchar in /proc/self/io: %q", b)
	return 0
}

// bytesSink keeps a copy of every chunk put, after checking its digest.
type bytesSink struct {
	mu     sync.Mutex
	chunks map[catalog.Digest][]byte
}

func (s *bytesSink) PutChunk(d catalog.Digest, plain []byte) (bool, error) {
	if catalog.Sum(plain) != d {
		return false, fmt.Errorf("chunk %s: the bytes put hash to %s", d, catalog.Sum(plain))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, had := s.chunks[d]
	s.chunks[d] = bytes.Clone(plain)
	return !had, nil
}
func (s *bytesSink) WriteFile(string, []byte) error { return nil }
func (s *bytesSink) Commit(*catalog.Manifest) error { return nil }
func (s *bytesSink) Abort() error                   { return nil }
