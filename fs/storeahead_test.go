package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// TestStoreAhead reads a small file through the kernel: the next small
// files of its directory whose bytes are in the chunk cache go into the
// page cache, so reading them sends the mount nothing and gives the right
// bytes; a file over the size bound is still read the usual way.
func TestStoreAhead(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	dir := t.TempDir()
	m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: testGroup.Type, ID: testGroup.ID}})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer m.srv.Unmount()
	// The two snapshots share their chunks: reading the first one's files
	// fills the chunk cache for the second's.
	for _, name := range []string{"fa", "fb", "fc", "fd", "fe", "ff", "fg"} {
		if _, err := os.ReadFile(filepath.Join(dir, catalog.FormatTime(time1), "root/files", name)); err != nil {
			t.Fatal(err)
		}
	}
	files := filepath.Join(dir, catalog.FormatTime(time2), "root/files")
	if _, err := os.ReadDir(files); err != nil { // the kernel gets the inodes
		t.Fatal(err)
	}
	fsys := m.root.(*groupNode).fsys
	before := fsys.storedAhead.Load()
	if _, err := os.ReadFile(filepath.Join(files, "fb")); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return fsys.storedAhead.Load() >= before+3 })
	if got := fsys.storedAhead.Load() - before; got != 3 {
		t.Fatalf("%d files pushed after reading fb, want fc, fd and fe", got)
	}
	reads := func() int64 { st := f.cache.Stats(); return st.Hits + st.Misses }
	r0 := reads()
	for _, name := range []string{"fc", "fd", "fe"} {
		got, err := os.ReadFile(filepath.Join(files, name))
		want, _ := os.ReadFile(filepath.Join(f.src, "files", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want the source's %d", name, len(got), err, len(want))
		}
	}
	if r := reads(); r != r0 {
		t.Errorf("reading the pushed files made %d chunk reads, want none (the kernel had them)", r-r0)
	}
	if _, err := os.ReadFile(filepath.Join(files, "ff")); err != nil {
		t.Fatal(err)
	}
	if reads() == r0 {
		t.Error("reading ff (over the bound, not pushed) made no chunk reads: the check above proves nothing")
	}
}
