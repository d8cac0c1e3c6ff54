package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// snapshotNode is one snapshot's directory: its archives. The manifest is
// read on first use; a failed read is retried on the next.
type snapshotNode struct {
	node
	g     catalog.Group
	t     time.Time
	id    string     // "type/id/time", for inode numbers and log lines
	group *groupNode // the group's directory; nil when the mount shows one snapshot

	preloading atomic.Bool // preload's read is under way

	mu    sync.Mutex
	snap  *backup.Snapshot
	names []archiveName     // sorted by shown name
	trees map[string]*tree  // opened tree archives, by archive name
	imgs  map[string]*image // image archives, by archive name
}

// archiveName is an archive and the name it is shown under.
type archiveName struct {
	shown string
	a     *catalog.Archive
}

var (
	_ = (gofs.NodeLookuper)((*snapshotNode)(nil))
	_ = (gofs.NodeOpendirHandler)((*snapshotNode)(nil))
	_ = (gofs.NodeGetattrer)((*snapshotNode)(nil))
)

func newSnapshotNode(fsys *filesys, group *groupNode, g catalog.Group, t time.Time) *snapshotNode {
	return &snapshotNode{node: node{fsys: fsys}, g: g, t: t, group: group,
		id:    g.String() + "/" + catalog.FormatTime(t),
		trees: map[string]*tree{}, imgs: map[string]*image{}}
}

// snapshot opens the snapshot (its manifest) once.
func (n *snapshotNode) snapshot() (*backup.Snapshot, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.snap != nil {
		return n.snap, nil
	}
	s, err := backup.OpenSnapshot(source{n.fsys.repo}, n.g, n.t)
	if err != nil {
		return nil, err
	}
	n.names = shownNames(s.Manifest)
	n.snap = s
	return s, nil
}

// shownNames names the archives: NAME.img as is, NAME.tree as NAME unless
// an image already has that name. Sorted.
func shownNames(m *catalog.Manifest) []archiveName {
	taken := map[string]bool{}
	for _, a := range m.Archives {
		if a.Kind == catalog.KindImage {
			taken[a.Name] = true
		}
	}
	var out []archiveName
	for i := range m.Archives {
		a := &m.Archives[i]
		shown := a.Name
		if base, ok := strings.CutSuffix(a.Name, "."+catalog.KindTree); ok && a.Kind == catalog.KindTree && !taken[base] {
			shown = base
		}
		out = append(out, archiveName{shown: shown, a: a})
	}
	slicesSortByShown(out)
	return out
}

func (n *snapshotNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.synthAttr(&out.Attr, n.t)
	return 0
}

// failed is the errno of an error reading the snapshot's files (its
// manifest or index files) in a request that began at since: ESTALE
// (errGone) if the snapshot is gone, else as errno says.
func (n *snapshotNode) failed(op, where string, err error, since time.Time) syscall.Errno {
	if n.gone(err, since) {
		err = fmt.Errorf("%w: %w", errGone, err)
	}
	return n.fsys.errno(op, where, err)
}

// gone reports whether err, met reading the snapshot's files, means the
// snapshot was forgotten or pruned: the repository no longer has a file
// and the group's list, fetched again, lacks the snapshot too.
func (n *snapshotNode) gone(err error, since time.Time) bool {
	return n.group != nil && errors.Is(err, iofs.ErrNotExist) && n.group.vanished(n.t, since)
}

// preload starts reading the manifest of the group's newest snapshot, the
// target of "latest", when the group looks it up, and does not wait: the
// kernel may then list the snapshot without asking the group again for a
// second, and a listing of a snapshot gone by then would fail where one
// read before succeeds. The lookup itself never waits for the network (a
// server that is down makes reads wait for their timeout). A failed read
// is retried on the snapshot's first use, as always.
func (n *snapshotNode) preload() {
	n.mu.Lock()
	loaded := n.snap != nil
	n.mu.Unlock()
	if loaded || !n.preloading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer n.preloading.Store(false)
		since := n.fsys.now()
		if _, err := n.snapshot(); err != nil {
			n.gone(err, since) // a forgotten snapshot: the group's list refreshes at once
		}
	}()
}

func (n *snapshotNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	since := n.fsys.now()
	if _, err := n.snapshot(); err != nil {
		return nil, 0, n.failed("open snapshot", n.id, err, since)
	}
	list := make([]fuse.DirEntry, len(n.names))
	for i, an := range n.names {
		mode := uint32(syscall.S_IFREG)
		if an.a.Kind == catalog.KindTree {
			mode = syscall.S_IFDIR
		}
		list[i] = fuse.DirEntry{Name: an.shown, Mode: mode, Ino: n.archiveIno(an.a.Name)}
	}
	return &snapshotDir{dirHandle: newDirHandle(list), n: n}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// snapshotDir lists a snapshot. For READDIRPLUS the kernel wants each
// entry's attributes; a tree's need its index files and catalog read, so
// a tree not opened yet is listed without them (the kernel looks it up
// when it is used), and a plain ls of a snapshot reads nothing.
type snapshotDir struct {
	*dirHandle
	n *snapshotNode
}

var _ = (gofs.FileLookuper)((*snapshotDir)(nil))

// Lookup answers READDIRPLUS for one entry: ENOENT (no attributes, the
// entry is still listed) for a tree not opened yet.
func (d *snapshotDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	n := d.n
	if i, ok := findShown(n.names, name); ok && n.names[i].a.Kind == catalog.KindTree && !n.opened(n.names[i].a) {
		return nil, syscall.ENOENT
	}
	return n.Lookup(ctx, name, out)
}

// opened reports whether the tree archive a was opened.
func (n *snapshotNode) opened(a *catalog.Archive) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.trees[a.Name] != nil
}

func (n *snapshotNode) archiveIno(name string) uint64 { return inoOf("archive", n.id, name) }

func (n *snapshotNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	since := n.fsys.now()
	if _, err := n.snapshot(); err != nil {
		return nil, n.failed("open snapshot", n.id, err, since)
	}
	i, ok := findShown(n.names, name)
	if !ok {
		return nil, syscall.ENOENT
	}
	a := n.names[i].a
	if a.Kind == catalog.KindImage {
		img := n.image(a)
		img.fill(&out.Attr)
		return n.NewInode(ctx, &imageNode{node: node{fsys: n.fsys}, img: img},
			gofs.StableAttr{Mode: syscall.S_IFREG, Ino: img.ino}), 0
	}
	t, err := n.tree(a)
	if err != nil {
		return nil, n.failed("open tree", n.id+"/"+a.Name, err, since)
	}
	tn := t.newNode(t.cat.Root(), t.rootIno)
	if en := tn.fill(ctx, &out.Attr); en != 0 {
		return nil, en
	}
	return n.NewInode(ctx, tn, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: t.rootIno}), 0
}

// image returns the image archive a, made once.
func (n *snapshotNode) image(a *catalog.Archive) *image {
	n.mu.Lock()
	defer n.mu.Unlock()
	img := n.imgs[a.Name]
	if img == nil {
		img = &image{fsys: n.fsys, owner: n, snap: n.snap, a: a, where: n.id + "/" + a.Name,
			ino: n.archiveIno(a.Name), mtime: n.t}
		n.imgs[a.Name] = img
	}
	return img
}

// tree opens the tree archive a once (its index files and catalog trailer).
func (n *snapshotNode) tree(a *catalog.Archive) (*tree, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.trees[a.Name]; t != nil {
		return t, nil
	}
	t, err := openTree(n.fsys, n.snap, a.Name, n.id)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", n.id, err)
	}
	t.rootIno = n.archiveIno(a.Name)
	n.trees[a.Name] = t
	return t, nil
}
