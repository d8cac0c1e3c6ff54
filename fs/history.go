package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/inspect"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// HistoryName is the hidden directory of a group that shows each path of
// its tree archives across snapshots: GROUP/.history/ARCHIVE/PATH is a
// directory for every directory any snapshot has at PATH, and for a file
// (or any other entry) a directory of its distinct versions: one symlink
// per snapshot where it appeared or its metadata changed, named by the
// snapshot's time and pointing at the file in that snapshot
// (../../TIME/ARCHIVE/PATH, relative). It is not listed in the group's
// directory, so find, du and cp -a of the group do not walk it; a lookup
// by name reaches it. Nothing is read until a history directory is looked
// at, and then only the directory tables along its path, in each snapshot.
const HistoryName = ".history"

// history is a group's .history directory. What it reads (manifests,
// opened trees) lives in the group's histCache, shared by every node under
// it and by the next history node if the kernel forgets this one.
type history struct {
	node
	group *groupNode
	*histCache
}

// histCache is what a group's history has read.
type histCache struct {
	mu    sync.Mutex
	snaps map[time.Time]*histSnap
}

// histSnap is one snapshot as history reads it: its manifest and the trees
// opened so far.
type histSnap struct {
	snap  *backup.Snapshot
	names []archiveName
	trees map[string]*tree
}

var (
	_ = (gofs.NodeLookuper)((*history)(nil))
	_ = (gofs.NodeReaddirer)((*history)(nil))
	_ = (gofs.NodeGetattrer)((*history)(nil))
)

func newHistory(g *groupNode, c *histCache) *history {
	return &history{node: node{fsys: g.fsys}, group: g, histCache: c}
}

// times lists the group's snapshots, oldest first.
func (h *history) times() ([]time.Time, syscall.Errno) { return h.group.snapshots(h.fsys.refresh) }

// open returns snapshot t's manifest (read once); a snapshot gone from the
// repository is nil, no error: history shows what is there.
func (h *history) open(t time.Time) (*histSnap, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.snaps[t]; s != nil {
		return s, nil
	}
	snap, err := backup.OpenSnapshot(source{h.fsys.repo}, h.group.g, t)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &histSnap{snap: snap, names: shownNames(snap.Manifest), trees: map[string]*tree{}}
	h.snaps[t] = s
	return s, nil
}

// lookup finds archive path p of the tree archive shown as shown in
// snapshot t; ok is false where the snapshot lacks either.
func (h *history) lookup(t time.Time, shown, p string) (e catalog.Entry, ok bool, err error) {
	s, err := h.open(t)
	if s == nil || err != nil {
		return e, false, err
	}
	i, found := findShown(s.names, shown)
	if !found || s.names[i].a.Kind != catalog.KindTree {
		return e, false, nil
	}
	tr, err := h.tree(s, s.names[i].a.Name)
	if err != nil {
		return e, false, err
	}
	e, err = tr.cat.LookupPath(p)
	if errors.Is(err, catalog.ErrNotExist) {
		return e, false, nil
	}
	return e, err == nil, err
}

func (h *history) tree(s *histSnap, name string) (*tree, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := s.trees[name]; t != nil {
		return t, nil
	}
	id := h.group.g.String() + "/" + catalog.FormatTime(s.snap.Time)
	t, err := openTree(h.fsys, s.snap, name, id)
	if err != nil {
		return nil, err
	}
	s.trees[name] = t
	return t, nil
}

func (h *history) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	h.fsys.synthAttr(&out.Attr, h.fsys.mounted)
	out.SetTimeout(shortTimeout)
	return 0
}

// Readdir lists the tree archives any snapshot has, by shown name.
func (h *history) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ts, en := h.times()
	if en != 0 {
		return nil, en
	}
	seen := map[string]bool{}
	for _, t := range ts {
		s, err := h.open(t)
		if err != nil {
			return nil, h.fsys.errno("history", h.group.g.String(), err)
		}
		for _, n := range namesOf(s) {
			seen[n] = true
		}
	}
	return h.dirStream("", "", slices.Sorted(maps.Keys(seen))), 0
}

// namesOf is the shown names of a snapshot's tree archives (none if nil).
func namesOf(s *histSnap) []string {
	var out []string
	if s != nil {
		for _, n := range s.names {
			if n.a.Kind == catalog.KindTree {
				out = append(out, n.shown)
			}
		}
	}
	return out
}

func (h *history) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return h.child(ctx, name, "", name, out)
}

// child looks up archive path p of archive shown (p "" for its root) in
// the snapshots, newest first: the newest that has it says whether it is a
// directory (a histDir) or not (a histFile, the versions).
func (h *history) child(ctx context.Context, shown, p, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	shortEntry(out)
	ts, en := h.times()
	if en != 0 {
		return nil, en
	}
	for _, t := range slices.Backward(ts) {
		e, ok, err := h.lookup(t, shown, p)
		if err != nil {
			return nil, h.fsys.errno("history lookup", h.where(shown, p), err)
		}
		if !ok {
			continue
		}
		h.fsys.synthAttr(&out.Attr, h.fsys.mounted)
		ino := inoOf("history", h.group.g.String(), shown, p)
		var op gofs.InodeEmbedder = &histDir{node: node{fsys: h.fsys}, h: h, shown: shown, p: p}
		if e.Type != catalog.TypeDir {
			op = &histFile{node: node{fsys: h.fsys}, h: h, shown: shown, p: p}
		}
		return h.NewInode(ctx, op, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino}), 0
	}
	return nil, syscall.ENOENT
}

func (h *history) where(shown, p string) string {
	return h.group.g.String() + "/" + HistoryName + "/" + path.Join(shown, p)
}

// dirStream lists names as directories: the archives (shown "") or the
// children of archive path p of archive shown, with the inode numbers
// child gives them.
func (h *history) dirStream(shown, p string, names []string) gofs.DirStream {
	list := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		ino := inoOf("history", h.group.g.String(), n, "")
		if shown != "" {
			ino = inoOf("history", h.group.g.String(), shown, path.Join(p, n))
		}
		list = append(list, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR, Ino: ino})
	}
	return gofs.NewListDirStream(list)
}

// histDir is a directory some snapshot has at archive path p: its entries
// are the names any snapshot has in it.
type histDir struct {
	node
	h     *history
	shown string
	p     string
}

var (
	_ = (gofs.NodeLookuper)((*histDir)(nil))
	_ = (gofs.NodeReaddirer)((*histDir)(nil))
	_ = (gofs.NodeGetattrer)((*histDir)(nil))
)

func (d *histDir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.h.Getattr(ctx, fh, out)
}

func (d *histDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return d.h.child(ctx, d.shown, path.Join(d.p, name), name, out)
}

func (d *histDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ts, en := d.h.times()
	if en != 0 {
		return nil, en
	}
	seen := map[string]bool{}
	for _, t := range ts {
		e, ok, err := d.h.lookup(t, d.shown, d.p)
		if err != nil {
			return nil, d.fsys.errno("history readdir", d.h.where(d.shown, d.p), err)
		}
		if !ok || e.Type != catalog.TypeDir {
			continue
		}
		s, _ := d.h.open(t)
		i, _ := findShown(s.names, d.shown)
		tr, err := d.h.tree(s, s.names[i].a.Name)
		if err != nil {
			return nil, d.fsys.errno("history readdir", d.h.where(d.shown, d.p), err)
		}
		kids, err := tr.cat.ReadDir(e)
		if err != nil {
			return nil, d.fsys.errno("history readdir", d.h.where(d.shown, d.p), err)
		}
		for _, k := range kids {
			seen[k.Name] = true
		}
	}
	return d.h.dirStream(d.shown, d.p, slices.Sorted(maps.Keys(seen))), 0
}

// histFile is a non-directory some snapshot has at archive path p: its
// entries are its distinct versions, as symlinks named by snapshot time.
type histFile struct {
	node
	h     *history
	shown string
	p     string
}

var (
	_ = (gofs.NodeLookuper)((*histFile)(nil))
	_ = (gofs.NodeReaddirer)((*histFile)(nil))
	_ = (gofs.NodeGetattrer)((*histFile)(nil))
)

func (f *histFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return f.h.Getattr(ctx, fh, out)
}

// versions lists the snapshots where p appeared (first, or again after a
// snapshot without it) or changed metadata (inspect.Differences), oldest
// first, with the archive's shown name in each.
func (f *histFile) versions() ([]time.Time, []string, syscall.Errno) {
	ts, en := f.h.times()
	if en != 0 {
		return nil, nil, en
	}
	var times []time.Time
	var links []string
	var last *catalog.Entry
	for _, t := range ts {
		e, ok, err := f.h.lookup(t, f.shown, f.p)
		if err != nil {
			return nil, nil, f.fsys.errno("history versions", f.h.where(f.shown, f.p), err)
		}
		if !ok || e.Type == catalog.TypeDir {
			last = nil
			continue
		}
		if last == nil || len(inspect.Differences(last, &e)) > 0 {
			times = append(times, t)
			links = append(links, f.target(t))
		}
		last = &e
	}
	return times, links, 0
}

// target is the symlink to p in snapshot t, relative to this directory
// (GROUP/.history/SHOWN/P...): up to GROUP, then TIME/SHOWN/P.
func (f *histFile) target(t time.Time) string {
	up := strings.Repeat("../", 2+strings.Count(f.p, "/")+1)
	return up + catalog.FormatTime(t) + "/" + f.shown + "/" + f.p
}

func (f *histFile) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	times, _, en := f.versions()
	if en != 0 {
		return nil, en
	}
	list := make([]fuse.DirEntry, 0, len(times))
	for _, t := range times {
		name := catalog.FormatTime(t)
		list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: f.linkIno(name)})
	}
	return gofs.NewListDirStream(list), 0
}

func (f *histFile) linkIno(name string) uint64 {
	return inoOf("history link", f.h.group.g.String(), f.shown, f.p, name)
}

func (f *histFile) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	shortEntry(out)
	t, err := catalog.ParseTime(name)
	if err != nil {
		return nil, syscall.ENOENT
	}
	times, links, en := f.versions()
	if en != 0 {
		return nil, en
	}
	i := slices.IndexFunc(times, t.Equal)
	if i < 0 {
		return nil, syscall.ENOENT
	}
	l := &gofs.MemSymlink{Data: []byte(links[i])}
	l.Attr.Mode = syscall.S_IFLNK | 0o777
	l.Attr.Size = uint64(len(links[i]))
	l.Attr.Nlink = 1
	setTimes(&l.Attr, t.UnixNano())
	out.Attr = l.Attr
	return f.NewInode(ctx, l, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: f.linkIno(name)}), 0
}
