package fs

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

func TestRootListing(t *testing.T) {
	f := newFixture(t)
	root := f.root(t, catalog.Ref{})
	if got := names(readdir(t, root)); got != "vm" {
		t.Fatalf("root lists %q, want vm", got)
	}
	g := walk(t, root, "vm/100")
	want := catalog.FormatTime(time1) + " " + catalog.FormatTime(time2) + " latest"
	if got := names(readdir(t, g)); got != want {
		t.Fatalf("group lists %q, want %q", got, want)
	}
	l, out, en := lookup(t, g, "latest")
	if en != 0 || out.EntryTimeout() > shortTimeout {
		t.Fatalf("latest: %v, entry timeout %v", en, out.EntryTimeout())
	}
	if b, _ := l.(gofs.NodeReadlinker).Readlink(bg); string(b) != catalog.FormatTime(time2) {
		t.Errorf("latest -> %q", b)
	}
	for _, tc := range []struct {
		dir  gofs.InodeEmbedder
		name string
	}{{root, "ct"}, {root, "nope"}, {walk(t, root, "vm"), "101"}, {g, "2026-11-23T10:00:00Z"}, {g, "yesterday"}} {
		if _, _, en := lookup(t, tc.dir, tc.name); en != syscall.ENOENT {
			t.Errorf("lookup %q: %v, want ENOENT", tc.name, en)
		}
	}
	if got := names(readdir(t, walk(t, g, catalog.FormatTime(time2)))); got != "disk.img root" {
		t.Errorf("snapshot lists %q", got)
	}
}

func TestNewSnapshotAppears(t *testing.T) {
	f := newFixture(t)
	root := f.root(t, catalog.Ref{Type: "vm", ID: "100"})
	g := root.(*groupNode)
	now := time.Now()
	g.fsys.now = func() time.Time { return now }
	readdir(t, g)
	time3 := time2.Add(time.Hour)
	copyDir(t, filepath.Join(f.store.Dir(), "vm/100", catalog.FormatTime(time2)),
		filepath.Join(f.store.Dir(), "vm/100", catalog.FormatTime(time3)))
	latest := func() string {
		l, _, en := lookup(t, g, "latest")
		if en != 0 {
			t.Fatalf("latest: %v", en)
		}
		b, _ := l.(gofs.NodeReadlinker).Readlink(bg)
		return string(b)
	}
	if got := latest(); got != catalog.FormatTime(time2) {
		t.Errorf("latest moved before the list was refreshed: %q", got)
	}
	if _, _, en := lookup(t, g, catalog.FormatTime(time3)); en != syscall.ENOENT {
		t.Fatalf("new snapshot seen within a second: %v", en)
	}
	now = now.Add(2 * time.Second)
	if _, _, en := lookup(t, g, catalog.FormatTime(time3)); en != 0 {
		t.Fatalf("new snapshot not found on a miss after a second: %v", en)
	}
	if got := latest(); got != catalog.FormatTime(time3) {
		t.Errorf("latest -> %q after the refresh, want the new snapshot", got)
	}
	if got := names(readdir(t, g)); got != catalog.FormatTime(time1)+" "+catalog.FormatTime(time2)+" "+catalog.FormatTime(time3)+" latest" {
		t.Errorf("group lists %q", got)
	}
}

// TestLatestMovesOnRefresh: without any miss, the list (and latest)
// refreshes once it is older than Options.Refresh.
func TestLatestMovesOnRefresh(t *testing.T) {
	f := newFixture(t)
	g := f.root(t, catalog.Ref{Type: "vm", ID: "100"}).(*groupNode)
	now := time.Now()
	g.fsys.now = func() time.Time { return now }
	readdir(t, g)
	time3 := time2.Add(time.Hour)
	copyDir(t, filepath.Join(f.store.Dir(), "vm/100", catalog.FormatTime(time2)),
		filepath.Join(f.store.Dir(), "vm/100", catalog.FormatTime(time3)))
	for _, tc := range []struct {
		after time.Duration
		want  time.Time
	}{{time.Second, time2}, {defaultRefresh - 2*time.Second, time2}, {2 * time.Second, time3}} {
		now = now.Add(tc.after)
		l, _, _ := lookup(t, g, "latest")
		if b, _ := l.(gofs.NodeReadlinker).Readlink(bg); string(b) != catalog.FormatTime(tc.want) {
			t.Errorf("after +%v: latest -> %q, want %s", tc.after, b, catalog.FormatTime(tc.want))
		}
	}
}

// copyDir copies a snapshot directory (plain files) so the store sees a
// new snapshot; its manifest names the old time, which the listing does
// not read.
func copyDir(t *testing.T, from, to string) {
	// Staged and renamed into place, as the store publishes a snapshot: a
	// listing made halfway must not see a snapshot without its files (a
	// loaded run listed one whose manifest was still being written).
	stage, err := os.MkdirTemp(filepath.Dir(filepath.Dir(filepath.Dir(to))), ".stage-")
	must(t, err)
	ents, err := os.ReadDir(from)
	must(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(stage, e.Name()), b, 0o644))
	}
	must(t, os.MkdirAll(filepath.Dir(to), 0o755))
	must(t, os.Rename(stage, to))
}

// TestTreeAgainstSource compares every entry of the mounted tree with the
// source it was made from: type, mode, owner, size, mtime, blocks,
// symlink targets, devices, and contents read at random.
func TestTreeAgainstSource(t *testing.T) {
	f := newFixture(t)
	root := f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest})
	tree := walk(t, root, "root")
	rng := rand.New(rand.NewPCG(3, 4))
	err := filepath.WalkDir(f.src, func(p string, d fs.DirEntry, err error) error {
		must(t, err)
		rel, _ := filepath.Rel(f.src, p)
		n := tree
		if rel != "." {
			n = walk(t, tree, filepath.ToSlash(rel))
		}
		checkEntry(t, rel, p, n, rng)
		return nil
	})
	must(t, err)
}

func checkEntry(t *testing.T, rel, p string, n gofs.InodeEmbedder, rng *rand.Rand) {
	var st unix.Stat_t
	must(t, unix.Lstat(p, &st))
	a := getattr(t, n)
	if a.Mode != st.Mode || a.Uid != st.Uid || a.Gid != st.Gid || a.Mtime != uint64(st.Mtim.Sec) ||
		a.Mtimensec != uint32(st.Mtim.Nsec) || a.Ctime != a.Mtime || a.Atime != a.Mtime {
		t.Errorf("%s: attr mode %o uid %d gid %d mtime %d.%d, want %o %d %d %d.%d",
			rel, a.Mode, a.Uid, a.Gid, a.Mtime, a.Mtimensec, st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if a.Nlink != uint32(st.Nlink) {
			t.Errorf("%s: nlink %d, want %d", rel, a.Nlink, st.Nlink)
		}
	case unix.S_IFREG:
		if a.Size != uint64(st.Size) || a.Blocks != uint64(st.Blocks) {
			t.Errorf("%s: size %d blocks %d, want %d %d", rel, a.Size, a.Blocks, st.Size, st.Blocks)
		}
		want, err := os.ReadFile(p)
		must(t, err)
		checkReads(t, rel, n, want, rng)
	case unix.S_IFLNK:
		target, _ := os.Readlink(p)
		if b, en := n.(gofs.NodeReadlinker).Readlink(bg); en != 0 || string(b) != target || a.Size != uint64(len(target)) {
			t.Errorf("%s: readlink %q size %d (%v), want %q", rel, b, a.Size, en, target)
		}
	case unix.S_IFCHR:
		if a.Rdev != uint32(unix.Mkdev(unix.Major(st.Rdev), unix.Minor(st.Rdev))) {
			t.Errorf("%s: rdev %#x, want %#x", rel, a.Rdev, st.Rdev)
		}
	}
}

// checkReads reads a file whole, then at random offsets and lengths
// (including past the end), through one handle.
func checkReads(t *testing.T, rel string, n gofs.InodeEmbedder, want []byte, rng *rand.Rand) {
	fh := open(t, n)
	got, en := readAt(n, fh, len(want)+10, 0)
	if en != 0 || !bytes.Equal(got, want) {
		t.Fatalf("%s: whole read: %v, %d bytes, equal %v", rel, en, len(got), bytes.Equal(got, want))
	}
	for range 20 {
		off := rng.IntN(len(want) + 2)
		size := 1 + rng.IntN(200<<10)
		got, en := readAt(n, fh, size, int64(off))
		end := min(off+size, len(want))
		if en != 0 || off <= len(want) && !bytes.Equal(got, want[off:end]) || off > len(want) && len(got) != 0 {
			t.Fatalf("%s: read %d at %d: %v, %d bytes", rel, size, off, en, len(got))
		}
	}
}

func TestHardlinksShareIno(t *testing.T) {
	f := newFixture(t)
	tree := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.FormatTime(time1)}), "root")
	h2 := walk(t, tree, "a/hard2")
	h1 := walk(t, tree, "hard1")
	a1, a2 := getattr(t, h1), getattr(t, h2)
	if a1.Ino != a2.Ino || a1.Ino == 0 {
		t.Errorf("hardlinks have inodes %d and %d", a1.Ino, a2.Ino)
	}
	if a1.Nlink != 2 || a2.Nlink != 2 {
		t.Errorf("hardlinks have nlink %d and %d, want 2", a1.Nlink, a2.Nlink)
	}
	list := readdir(t, walk(t, tree, "a"))
	for _, e := range list {
		if e.Name == "hard2" && e.Ino != a1.Ino {
			t.Errorf("readdir gives hard2 inode %d, want %d", e.Ino, a1.Ino)
		}
	}
	// Stable: another mount of the same snapshot gives the same numbers.
	tree2 := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.FormatTime(time1)}), "root")
	if a := getattr(t, walk(t, tree2, "files/fa")); a.Ino != getattr(t, walk(t, tree, "files/fa")).Ino {
		t.Error("inode numbers differ between two mounts")
	}
}

func TestXattrs(t *testing.T) {
	f := newFixture(t)
	if !f.xattr {
		t.Skip("the temp file system takes no user xattrs")
	}
	n := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}), "root/files/fc")
	x := n.(gofs.NodeGetxattrer)
	for _, tc := range []struct {
		name string
		size int
		want string
		en   syscall.Errno
		n    uint32
	}{
		{"user.note", 0, "", 0, 5},
		{"user.note", 64, "hello", 0, 5},
		{"user.note", 2, "", syscall.ERANGE, 5},
		{"user.empty", 64, "", 0, 0},
		{"user.none", 64, "", syscall.ENODATA, 0},
	} {
		buf := make([]byte, tc.size)
		got, en := x.Getxattr(bg, tc.name, buf)
		if en != tc.en || got != tc.n || en == 0 && tc.size > 0 && string(buf[:got]) != tc.want {
			t.Errorf("getxattr %s [%d]: %d %v %q", tc.name, tc.size, got, en, buf[:got])
		}
	}
	buf := make([]byte, 100)
	sz, en := n.(gofs.NodeListxattrer).Listxattr(bg, buf)
	if en != 0 || string(buf[:sz]) != "user.empty\x00user.note\x00" {
		t.Errorf("listxattr: %q %v", buf[:sz], en)
	}
	if sz, en := n.(gofs.NodeListxattrer).Listxattr(bg, buf[:3]); en != syscall.ERANGE || sz != 21 {
		t.Errorf("listxattr into 3 bytes: %d %v", sz, en)
	}
}

func TestImage(t *testing.T) {
	f := newFixture(t)
	snap := f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest})
	n, out, en := lookup(t, snap, "disk.img")
	if en != 0 || out.Attr.Size != uint64(len(f.image)) || out.Attr.Mode != syscall.S_IFREG|0o444 {
		t.Fatalf("disk.img: %v size %d mode %o", en, out.Attr.Size, out.Attr.Mode)
	}
	checkReads(t, "disk.img", n, f.image, rand.New(rand.NewPCG(5, 6)))
	if _, _, en := n.(gofs.NodeOpener).Open(bg, syscall.O_RDWR); en != syscall.EROFS {
		t.Errorf("open for write: %v, want EROFS", en)
	}
}

func TestWriteOpsEROFS(t *testing.T) {
	f := newFixture(t)
	root := f.root(t, catalog.Ref{})
	tree := walk(t, root, "vm/100/"+catalog.FormatTime(time2)+"/root")
	file := walk(t, tree, "files/fa")
	var eo fuse.EntryOut
	var ao fuse.AttrOut
	for _, n := range []gofs.InodeEmbedder{root, tree, file} {
		checks := map[string]syscall.Errno{}
		_, checks["mkdir"] = n.(gofs.NodeMkdirer).Mkdir(bg, "x", 0o755, &eo)
		_, checks["mknod"] = n.(gofs.NodeMknoder).Mknod(bg, "x", 0o644, 0, &eo)
		_, _, _, checks["create"] = n.(gofs.NodeCreater).Create(bg, "x", 0, 0o644, &eo)
		checks["unlink"] = n.(gofs.NodeUnlinker).Unlink(bg, "files")
		checks["rmdir"] = n.(gofs.NodeRmdirer).Rmdir(bg, "files")
		checks["rename"] = n.(gofs.NodeRenamer).Rename(bg, "a", n, "b", 0)
		_, checks["symlink"] = n.(gofs.NodeSymlinker).Symlink(bg, "t", "x", &eo)
		_, checks["link"] = n.(gofs.NodeLinker).Link(bg, file, "x", &eo)
		checks["setattr"] = n.(gofs.NodeSetattrer).Setattr(bg, nil, &fuse.SetAttrIn{}, &ao)
		checks["setxattr"] = n.(gofs.NodeSetxattrer).Setxattr(bg, "user.x", nil, 0)
		checks["removexattr"] = n.(gofs.NodeRemovexattrer).Removexattr(bg, "user.x")
		_, checks["write"] = n.(gofs.NodeWriter).Write(bg, nil, []byte("x"), 0)
		for op, en := range checks {
			if en != syscall.EROFS {
				t.Errorf("%T %s: %v, want EROFS", n, op, en)
			}
		}
	}
	if _, _, en := file.(gofs.NodeOpener).Open(bg, syscall.O_WRONLY|syscall.O_TRUNC); en != syscall.EROFS {
		t.Errorf("open for write: %v", en)
	}
}

func TestStatfs(t *testing.T) {
	f := newFixture(t)
	var out fuse.StatfsOut
	n := walk(t, f.root(t, catalog.Ref{}), "vm/100/"+catalog.FormatTime(time1)+"/root/a")
	if en := n.(gofs.NodeStatfser).Statfs(bg, &out); en != 0 || out.Bsize == 0 || out.NameLen == 0 || out.Bfree != 0 {
		t.Errorf("statfs: %v %+v", en, out)
	}
}
