package fs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// treeNode is one entry of a tree archive. A directory loads its table on
// first use and keeps it: lookups are binary searches, readdir is the
// sorted table.
type treeNode struct {
	node
	t   *tree
	e   catalog.Entry
	ino uint64

	mu      sync.Mutex
	kids    []catalog.Entry // directories, once loaded
	loaded  bool
	loading chan struct{} // closed when the load in progress ends
	loadErr error         // the last load's failure
	own     *fileHandle   // reads without a handle (zero-message opens)

	inKernel atomic.Bool // read whole or pushed by storeAhead: in the page cache
}

var (
	_ = (gofs.NodeLookuper)((*treeNode)(nil))
	_ = (gofs.NodeOpendirHandler)((*treeNode)(nil))
	_ = (gofs.NodeGetattrer)((*treeNode)(nil))
	_ = (gofs.NodeOpener)((*treeNode)(nil))
	_ = (gofs.NodeReader)((*treeNode)(nil))
	_ = (gofs.NodeReadlinker)((*treeNode)(nil))
	_ = (gofs.NodeGetxattrer)((*treeNode)(nil))
	_ = (gofs.NodeListxattrer)((*treeNode)(nil))
)

// where names the node's archive for log lines.
func (n *treeNode) where() string {
	if n.e.Name == "" {
		return n.t.where
	}
	return n.t.where + ": " + n.e.Name
}

// children loads the directory's table once (a failure is retried). The
// load runs in the background, shared by every caller waiting for it: a
// caller whose request is interrupted (Ctrl-C) returns EINTR at once,
// while the load goes on for the others and fills the node.
func (n *treeNode) children(ctx context.Context) ([]catalog.Entry, syscall.Errno) {
	n.mu.Lock()
	if n.loaded {
		n.mu.Unlock()
		return n.kids, 0
	}
	ch := n.loading
	if ch == nil {
		ch = make(chan struct{})
		n.loading = ch
		go n.load(ch)
	}
	n.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, n.fsys.errno("read directory", n.where(), ctx.Err())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.loaded {
		return n.kids, 0
	}
	return nil, n.fsys.errno("read directory", n.where(), n.loadErr)
}

// load reads the directory's table (the catalog reader has no context:
// its fetches are bounded by the source's timeout) and closes ch.
func (n *treeNode) load(ch chan struct{}) {
	kids, err := n.t.cat.ReadDir(n.e)
	n.mu.Lock()
	if err == nil {
		n.kids, n.loaded = kids, true
	}
	n.loadErr, n.loading = err, nil
	n.mu.Unlock()
	close(ch)
}

func (n *treeNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.fill(ctx, &out.Attr)
}

// fill sets the node's attributes; a directory's nlink needs its table.
func (n *treeNode) fill(ctx context.Context, a *fuse.Attr) syscall.Errno {
	nlink := uint32(1)
	switch n.e.Type {
	case catalog.TypeDir:
		kids, en := n.children(ctx)
		if en != 0 {
			return en
		}
		nlink = 2
		for i := range kids {
			if kids[i].Type == catalog.TypeDir {
				nlink++
			}
		}
	case catalog.TypeFile, catalog.TypeHardlink:
		nlink = n.t.nlink(&n.e)
	}
	entryAttr(a, &n.e, n.ino, nlink)
	return 0
}

func (n *treeNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	kids, en := n.children(ctx)
	if en != 0 {
		return nil, en
	}
	i, ok := slices.BinarySearchFunc(kids, name, func(e catalog.Entry, name string) int {
		return strings.Compare(e.Name, name)
	})
	if !ok {
		return nil, syscall.ENOENT
	}
	e := kids[i]
	ino, err := n.t.ino(&e)
	if err != nil {
		return nil, n.fsys.errno("lookup", n.where(), err)
	}
	child := n.t.newNode(e, ino)
	if en := child.fill(ctx, &out.Attr); en != 0 {
		return nil, en
	}
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: out.Attr.Mode &^ 0o7777, Ino: ino}), 0
}

func (n *treeNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	kids, en := n.children(ctx)
	if en != 0 {
		return nil, 0, en
	}
	list := make([]fuse.DirEntry, len(kids))
	for i := range kids {
		e := &kids[i]
		ino := n.t.posIno(e.Pos)
		if e.Type == catalog.TypeHardlink {
			var err error
			if ino, err = n.t.ino(e); err != nil {
				return nil, 0, n.fsys.errno("read directory", n.where(), err)
			}
		}
		list[i] = fuse.DirEntry{Name: e.Name, Mode: typeBits(e.Type), Ino: ino}
	}
	return newDirHandle(list), fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// Open checks the file and returns a handle, or, when the kernel does
// zero-message opens, ENOSYS: the kernel then never sends OPEN, FLUSH or
// RELEASE again and keeps the page cache (FOPEN_KEEP_CACHE is implied).
func (n *treeNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if openForWrite(flags) {
		return nil, 0, syscall.EROFS
	}
	if n.e.Type != catalog.TypeFile && n.e.Type != catalog.TypeHardlink {
		return nil, 0, syscall.EINVAL // devices and fifos are opened by the kernel
	}
	h, en := n.newHandle()
	if en != 0 {
		return nil, 0, en
	}
	if n.fsys.noOpen.Load() {
		return nil, 0, syscall.ENOSYS
	}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// newHandle makes a handle reading the file's payload range.
func (n *treeNode) newHandle() (*fileHandle, syscall.Errno) {
	if n.e.Size > math.MaxInt64/2 || n.e.PayloadOffset > math.MaxInt64/2 {
		err := fmt.Errorf("%w: payload range [%d, +%d) out of range", catalog.ErrFormat, n.e.PayloadOffset, n.e.Size)
		return nil, n.fsys.errno("open", n.where(), err)
	}
	h := &fileHandle{fsys: n.fsys, stream: n.t.payload, base: int64(n.e.PayloadOffset),
		size: int64(n.e.Size), where: n.t.where, name: n.e.Name}
	h.rs.Bound(h.base + h.size) // a sequential read of this file reads ahead no further
	return h, 0
}

// Read reads through the open's handle, or without one (zero-message
// opens) through the node's own, made on first use. A read of the whole
// file needs no readahead state, so it uses a handle it then drops: a
// node kept for each of many small files read once (cp -a) keeps none.
func (n *treeNode) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := fh.(*fileHandle); ok {
		return h.Read(ctx, dest, off)
	}
	if n.e.Type != catalog.TypeFile && n.e.Type != catalog.TypeHardlink {
		return nil, syscall.EINVAL
	}
	n.mu.Lock()
	h := n.own
	if h == nil && off == 0 && uint64(len(dest)) >= n.e.Size {
		n.mu.Unlock()
		once, en := n.newHandle()
		if en != 0 {
			return nil, en
		}
		res, en := once.Read(ctx, dest, off)
		if en == 0 && n.e.Size <= storeAheadMax && !n.inKernel.Swap(true) {
			go n.storeAhead()
		}
		return res, en
	}
	if h == nil {
		var en syscall.Errno
		if h, en = n.newHandle(); en != 0 {
			n.mu.Unlock()
			return nil, en
		}
		n.own = h
	}
	n.mu.Unlock()
	return h.Read(ctx, dest, off)
}

func (n *treeNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.e.Type != catalog.TypeSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(n.e.Symlink), 0
}

func (n *treeNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.noXattrs {
		return 0, syscall.ENOSYS
	}
	return getxattr(n.e.Xattrs, attr, dest)
}

func (n *treeNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.noXattrs {
		return 0, syscall.ENOSYS
	}
	return listxattr(n.e.Xattrs, dest)
}
