package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestStatAheadBatches: a directory of several batches, with an entry
// removed after listing, gives every entry's lstat in order, and the
// error for the removed one.
func TestStatAheadBatches(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 3*statBatchLen + 5 {
		n := fmt.Sprintf("f%04d", i)
		writeFile(t, filepath.Join(dir, n), make([]byte, i))
		names = append(names, n)
	}
	os.Remove(filepath.Join(dir, names[statBatchLen+1]))
	sa := startStatAhead(dir, names, nil)
	for i := range names {
		r := sa.get(i)
		if i == statBatchLen+1 {
			if r.err == nil {
				t.Fatalf("entry %d removed before its lstat: no error", i)
			}
			continue
		}
		if r.err != nil || r.st.Size != int64(i) {
			t.Fatalf("entry %d: size %d, %v; want size %d", i, r.st.Size, r.err, i)
		}
	}
}

// TestStatAheadReadsAhead: the contents of a file the walker will read
// are asked from the disk ahead of it; a file it will reuse is not touched.
func TestStatAheadReadsAhead(t *testing.T) {
	names := []string{"read", "reuse"}
	dir := evictedFiles(t, t.TempDir(), names)
	if dir == "" {
		// /tmp may be tmpfs, whose pages never leave memory; the package
		// directory is on the checkout's disk.
		local, err := os.MkdirTemp(".", "statahead-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(local) })
		dir = evictedFiles(t, local, names)
	}
	if dir == "" {
		t.Skip("neither the temp dir nor the package dir can drop file pages: nothing to observe")
	}
	sa := startStatAhead(dir, names, func(name string, _ *unix.Stat_t) bool { return name == "read" })
	for i := range names {
		sa.get(i)
	}
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine
	for resident(t, filepath.Join(dir, "read")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no page of the file to read was read ahead")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := resident(t, filepath.Join(dir, "reuse")); n > 0 {
		t.Fatalf("%d pages of the reused file were read", n)
	}
}

// evictedFiles writes names in dir and drops their pages from the page
// cache; it returns dir, or "" if the file system keeps them resident.
func evictedFiles(t *testing.T, dir string, names []string) string {
	t.Helper()
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		writeFile(t, p, data)
		dropPages(t, p)
		if resident(t, p) > 0 {
			return ""
		}
	}
	return dir
}

// dropPages writes back and evicts a file's pages from the page cache.
func dropPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// resident counts a file's pages in the page cache (mincore).
func resident(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
