package fs

import (
	"context"
	"slices"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The directories above snapshots: the repository root (group types), a
// type (group ids) and a group (snapshots and "latest"). Their listings
// come from the repository and refresh (listCache), so their entries get
// short kernel timeouts and no negative caching.

type rootNode struct{ node }

type typeNode struct {
	node
	typ string
}

var (
	_ = (gofs.NodeLookuper)((*rootNode)(nil))
	_ = (gofs.NodeReaddirer)((*rootNode)(nil))
	_ = (gofs.NodeGetattrer)((*rootNode)(nil))
	_ = (gofs.NodeLookuper)((*typeNode)(nil))
	_ = (gofs.NodeReaddirer)((*typeNode)(nil))
	_ = (gofs.NodeGetattrer)((*typeNode)(nil))
)

// listGroups returns the repository's groups, refreshed when older than
// maxAge.
func (f *filesys) listGroups(maxAge time.Duration) ([]catalog.Group, errnoErr) {
	gs, err := f.groups.get(f, maxAge, "groups", f.repo.Groups)
	return gs, f.errno("list groups", "/", err)
}

// listingMtime is the mtime of the root and type directories: the mount
// time, or when the group list last changed. Getting it refreshes a list
// older than the refresh interval, so a cached listing in the kernel goes
// stale no later than a fresh one here would.
func (f *filesys) listingMtime() time.Time {
	f.listGroups(f.refresh) // a failure keeps the old list and mtime
	return f.groups.mtime(f.mounted)
}

// errnoErr is a syscall.Errno returned next to a value.
type errnoErr = syscall.Errno

// synthAttr fills the attributes of a synthetic directory.
func (f *filesys) synthAttr(a *fuse.Attr, mtime time.Time) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
	a.Size = 4096
	setTimes(a, mtime.UnixNano())
}

// shortEntry sets the kernel timeouts of an entry above snapshots.
func shortEntry(out *fuse.EntryOut) {
	out.SetEntryTimeout(shortTimeout)
	out.SetAttrTimeout(shortTimeout)
}

func (n *rootNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.synthAttr(&out.Attr, n.fsys.listingMtime())
	out.SetTimeout(shortTimeout)
	return 0
}

func (n *rootNode) types(maxAge time.Duration) ([]string, syscall.Errno) {
	gs, en := n.fsys.listGroups(maxAge)
	var ts []string
	for _, g := range gs {
		if !slices.Contains(ts, g.Type) {
			ts = append(ts, g.Type)
		}
	}
	slices.Sort(ts)
	return ts, en
}

func (n *rootNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ts, en := n.types(n.fsys.refresh)
	if en != 0 {
		return nil, en
	}
	list := make([]fuse.DirEntry, len(ts))
	for i, t := range ts {
		list[i] = fuse.DirEntry{Name: t, Mode: syscall.S_IFDIR, Ino: inoOf("type", t)}
	}
	return gofs.NewListDirStream(list), 0
}

func (n *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	shortEntry(out)
	if catalog.ValidType(name) != nil {
		return nil, syscall.ENOENT
	}
	if en := findListed(n.types, n.fsys.refresh, name); en != 0 {
		return nil, en
	}
	n.fsys.synthAttr(&out.Attr, n.fsys.groups.mtime(n.fsys.mounted))
	child := &typeNode{node: node{fsys: n.fsys}, typ: name}
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf("type", name)}), 0
}

func (n *typeNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.synthAttr(&out.Attr, n.fsys.listingMtime())
	out.SetTimeout(shortTimeout)
	return 0
}

func (n *typeNode) ids(maxAge time.Duration) ([]string, syscall.Errno) {
	gs, en := n.fsys.listGroups(maxAge)
	var ids []string
	for _, g := range gs {
		if g.Type == n.typ {
			ids = append(ids, g.ID)
		}
	}
	slices.Sort(ids)
	return ids, en
}

func (n *typeNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ids, en := n.ids(n.fsys.refresh)
	if en != 0 {
		return nil, en
	}
	list := make([]fuse.DirEntry, len(ids))
	for i, id := range ids {
		g := catalog.Group{Type: n.typ, ID: id}
		list[i] = fuse.DirEntry{Name: id, Mode: syscall.S_IFDIR, Ino: inoOf("group", g.String())}
	}
	return gofs.NewListDirStream(list), 0
}

func (n *typeNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	shortEntry(out)
	if catalog.ValidID(name) != nil {
		return nil, syscall.ENOENT
	}
	if en := findListed(n.ids, n.fsys.refresh, name); en != 0 {
		return nil, en
	}
	g := catalog.Group{Type: n.typ, ID: name}
	n.fsys.synthAttr(&out.Attr, n.fsys.groups.mtime(n.fsys.mounted))
	return n.NewInode(ctx, newGroupNode(n.fsys, g), gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf("group", g.String())}), 0
}

// findListed looks name up in a listing no older than refresh, and on a
// miss once more in a fresh one (at most missRefresh old), so a new type
// or group is found at once; ENOENT if it is not there.
func findListed(list func(maxAge time.Duration) ([]string, syscall.Errno), refresh time.Duration, name string) syscall.Errno {
	xs, en := list(refresh)
	if en == 0 && !slices.Contains(xs, name) {
		xs, en = list(missRefresh)
	}
	if en != 0 {
		return en
	}
	if !slices.Contains(xs, name) {
		return syscall.ENOENT
	}
	return 0
}
