package fs

import (
	"context"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// groupNode is a group's directory: one directory per snapshot, named by
// its time, plus "latest", a symlink to the newest.
type groupNode struct {
	node
	g     catalog.Group
	times listCache[time.Time]

	histOnce sync.Once
	hist     *histCache // what its .history directory read (history.go)
}

var (
	_ = (gofs.NodeLookuper)((*groupNode)(nil))
	_ = (gofs.NodeReaddirer)((*groupNode)(nil))
	_ = (gofs.NodeGetattrer)((*groupNode)(nil))
)

func newGroupNode(fsys *filesys, g catalog.Group) *groupNode {
	return &groupNode{node: node{fsys: fsys}, g: g}
}

func (n *groupNode) snapshots(maxAge time.Duration) ([]time.Time, syscall.Errno) {
	ts, err := n.times.get(n.fsys, maxAge, n.g.String(), func() ([]time.Time, error) {
		return n.fsys.repo.Snapshots(n.g)
	})
	return ts, n.fsys.errno("list snapshots", n.g.String(), err)
}

func (n *groupNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	base := n.fsys.mounted
	if ts, en := n.snapshots(n.fsys.refresh); en == 0 && len(ts) > 0 {
		base = ts[len(ts)-1]
	}
	n.fsys.synthAttr(&out.Attr, n.times.mtime(base)) // changes with the listing
	out.SetTimeout(shortTimeout)
	return 0
}

func (n *groupNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ts, en := n.snapshots(n.fsys.refresh)
	if en != 0 {
		return nil, en
	}
	list := make([]fuse.DirEntry, 0, len(ts)+1)
	for _, t := range ts {
		name := catalog.FormatTime(t)
		list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: snapshotIno(n.g, name)})
	}
	if len(ts) > 0 {
		target := catalog.FormatTime(ts[len(ts)-1])
		list = append(list, fuse.DirEntry{Name: catalog.Latest, Mode: syscall.S_IFLNK, Ino: latestIno(n.g, target)})
	}
	return gofs.NewListDirStream(list), 0 // times sort as strings, "latest" after digits
}

func snapshotIno(g catalog.Group, name string) uint64 { return inoOf("snapshot", g.String(), name) }

func latestIno(g catalog.Group, target string) uint64 { return inoOf("latest", g.String(), target) }

func (n *groupNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	shortEntry(out)
	if name == HistoryName {
		n.histOnce.Do(func() { n.hist = &histCache{snaps: map[time.Time]*histSnap{}} })
		n.fsys.synthAttr(&out.Attr, n.fsys.mounted)
		return n.NewInode(ctx, newHistory(n, n.hist), gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf("history", n.g.String())}), 0
	}
	var t time.Time
	if name != catalog.Latest {
		var err error
		if t, err = catalog.ParseTime(name); err != nil {
			return nil, syscall.ENOENT
		}
	}
	ts, en := n.snapshots(n.fsys.refresh)
	if en == 0 && !has(ts, t, name) {
		ts, en = n.snapshots(missRefresh)
	}
	if en != 0 {
		return nil, en
	}
	if !has(ts, t, name) {
		return nil, syscall.ENOENT
	}
	if name == catalog.Latest {
		return n.latest(ctx, ts[len(ts)-1], out), 0
	}
	n.fsys.synthAttr(&out.Attr, t)
	child := n.NewInode(ctx, newSnapshotNode(n.fsys, n, n.g, t), gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: snapshotIno(n.g, name)})
	if sn, ok := child.Operations().(*snapshotNode); ok && t.Equal(ts[len(ts)-1]) {
		sn.preload()
	}
	return child, 0
}

// notifyWait bounds how long vanished waits for the kernel to take its
// notifications.
const notifyWait = time.Second

// vanished is told that snapshot t's files are missing from the
// repository, as a request that began at since found. It fetches the list
// again (unless that happened after since) and reports whether t left it;
// if so, the kernel forgets the group's entries for t and "latest" and its
// cached listing, so the next lookup or listing of the group answers from
// the new list.
func (n *groupNode) vanished(t, since time.Time) bool {
	ts, en := n.snapshots(n.fsys.now().Sub(since))
	if en != 0 || slices.ContainsFunc(ts, t.Equal) {
		return false
	}
	n.fsys.log.Info("backupfs: snapshot no longer in the repository; listing refreshed", "snapshot", n.g.String()+"/"+catalog.FormatTime(t))
	// The kernel takes a notification under the group directory's lock.
	// No caller holds it (they run in requests on the snapshot's
	// directories, or in no request), but a request on the group may,
	// so wait a bounded time: a stale listing for a second at worst,
	// never a deadlock.
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.NotifyEntry(catalog.FormatTime(t))
		n.NotifyEntry(catalog.Latest)
		n.NotifyContent(0, 0)
	}()
	select {
	case <-done:
	case <-time.After(notifyWait):
	}
	return true
}

// has reports whether ts holds t, or any time if name is "latest".
func has(ts []time.Time, t time.Time, name string) bool {
	if name == catalog.Latest {
		return len(ts) > 0
	}
	return slices.ContainsFunc(ts, t.Equal)
}

// latest returns the "latest" symlink pointing at newest. Its inode number
// includes the target, so a new snapshot gives a new inode.
func (n *groupNode) latest(ctx context.Context, newest time.Time, out *fuse.EntryOut) *gofs.Inode {
	target := catalog.FormatTime(newest)
	l := &symlinkNode{node: node{fsys: n.fsys}, target: target, mtime: newest}
	l.fill(&out.Attr)
	return n.NewInode(ctx, l, gofs.StableAttr{Mode: syscall.S_IFLNK, Ino: latestIno(n.g, target)})
}

// symlinkNode is a synthetic symlink ("latest").
type symlinkNode struct {
	node
	target string
	mtime  time.Time
}

var (
	_ = (gofs.NodeReadlinker)((*symlinkNode)(nil))
	_ = (gofs.NodeGetattrer)((*symlinkNode)(nil))
)

func (l *symlinkNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFLNK | 0o777
	a.Nlink = 1
	a.Size = uint64(len(l.target))
	setTimes(a, l.mtime.UnixNano())
}

func (l *symlinkNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fill(&out.Attr)
	out.SetTimeout(shortTimeout)
	return 0
}

func (l *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}
