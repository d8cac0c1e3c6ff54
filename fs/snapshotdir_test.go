package fs

import (
	"syscall"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestSnapshotReaddirplus: listing a snapshot with attributes (the
// kernel's READDIRPLUS) gives an image's attributes, lists a tree not
// opened yet without them and without opening it, and gives the tree's
// once it is open.
func TestSnapshotReaddirplus(t *testing.T) {
	f := newFixture(t)
	r, err := Root(Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}})
	must(t, err)
	gofs.NewNodeFS(r, &gofs.Options{})
	snap := r.(*snapshotNode)
	fh, _, en := snap.OpendirHandle(bg, 0)
	if en != 0 {
		t.Fatalf("opendir: %v", en)
	}
	d := fh.(gofs.FileLookuper)
	var out fuse.EntryOut
	if _, en := d.Lookup(bg, "disk.img", &out); en != 0 || out.Attr.Size != uint64(len(f.image)) {
		t.Errorf("disk.img: %v, size %d, want %d", en, out.Attr.Size, len(f.image))
	}
	if _, en := d.Lookup(bg, "root", &out); en != syscall.ENOENT {
		t.Errorf("unopened tree: %v, want ENOENT (listed without attributes)", en)
	}
	if len(snap.trees) != 0 {
		t.Errorf("listing opened %d trees", len(snap.trees))
	}
	walk(t, r, "root/files")
	out = fuse.EntryOut{}
	if in, en := d.Lookup(bg, "root", &out); en != 0 || in == nil || out.Attr.Mode&syscall.S_IFDIR == 0 || out.Attr.Ino == 0 {
		t.Errorf("opened tree: %v, mode %o ino %d", en, out.Attr.Mode, out.Attr.Ino)
	}
	if _, en := d.Lookup(bg, "nothing", &out); en != syscall.ENOENT {
		t.Errorf("missing name: %v, want ENOENT", en)
	}
}
