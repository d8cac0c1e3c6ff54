package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// mountFixture mounts a fixture's repository for real (root and
// /dev/fuse needed, else the benchmark skips) and returns the mountpoint,
// the root node and the path of the fixture's latest snapshot under it.
func mountFixture(b *testing.B) (dir string, root gofs.InodeEmbedder, snap string) {
	needRoot(b)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		b.Skip("no /dev/fuse")
	}
	f := newFixture(b)
	dir = b.TempDir()
	m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.srv.Unmount() })
	return dir, m.root, filepath.Join("vm/100", catalog.FormatTime(time2), "root")
}

// child returns the inode at a slash-separated path the kernel has
// already looked up.
func child(b *testing.B, root gofs.InodeEmbedder, p string) *gofs.Inode {
	in := root.EmbeddedInode()
	for name := range strings.SplitSeq(p, "/") {
		if in = in.GetChild(name); in == nil {
			b.Fatalf("%s: %q not looked up", p, name)
		}
	}
	return in
}

// BenchmarkMountRead reads a 1 MiB tree file through the kernel in 128 KiB
// preads, its chunks in the cache and its page cache dropped before each
// pass (fadvise DONTNEED): the READ requests' cost, kernel copies and
// go-fuse included.
func BenchmarkMountRead(b *testing.B) {
	dir, _, snap := mountFixture(b)
	fd, err := unix.Open(filepath.Join(dir, snap, "files/fg"), unix.O_RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	const size = 1 << 20
	buf := make([]byte, 128<<10)
	pass := func() {
		for off := int64(0); off < size; off += int64(len(buf)) {
			if n, err := unix.Pread(fd, buf, off); err != nil || n != len(buf) {
				b.Fatalf("pread at %d: %d, %v", off, n, err)
			}
		}
	}
	pass() // the chunks into the cache
	b.SetBytes(size)
	for b.Loop() {
		if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		pass()
	}
}

// BenchmarkMountLookup stats a file whose kernel entry was just
// invalidated, so each stat sends one LOOKUP (its directory loaded).
func BenchmarkMountLookup(b *testing.B) {
	dir, root, snap := mountFixture(b)
	p := filepath.Join(dir, snap, "files/fa")
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		b.Fatal(err)
	}
	files := child(b, root, snap+"/files")
	for b.Loop() {
		if errno := files.NotifyEntry("fa"); errno != 0 {
			b.Fatalf("invalidate: %v", errno)
		}
		if err := unix.Lstat(p, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMountReaddir lists a directory whose cached listing was just
// invalidated: two READDIRPLUS (entries with attributes, then the end),
// with no OPENDIR or RELEASEDIR when the kernel skips them.
func BenchmarkMountReaddir(b *testing.B) {
	dir, root, snap := mountFixture(b)
	p := filepath.Join(dir, snap, "files")
	if _, err := os.ReadDir(p); err != nil {
		b.Fatal(err)
	}
	files := child(b, root, snap+"/files")
	for b.Loop() {
		if errno := files.NotifyContent(0, 0); errno != 0 {
			b.Fatalf("invalidate: %v", errno)
		}
		es, err := os.ReadDir(p)
		if err != nil || len(es) != 7 {
			b.Fatalf("readdir: %d entries, %v", len(es), err)
		}
	}
}
