package fs

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// image is an image archive of a snapshot; its index is read on first open.
type image struct {
	fsys  *filesys
	owner *snapshotNode // for failed: a missing index may mean the snapshot is gone
	snap  *backup.Snapshot
	a     *catalog.Archive
	where string // "type/id/time/NAME.img"
	ino   uint64
	mtime time.Time

	mu     sync.Mutex
	stream *cache.Stream
	own    *fileHandle // reads without a handle (zero-message opens)
}

// open returns the image's stream, reading and checking its index once.
func (img *image) open() (*cache.Stream, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.stream != nil {
		return img.stream, nil
	}
	_, xs, err := img.snap.Indexes(img.a.Name)
	if err != nil {
		return nil, err
	}
	if len(xs) != 1 || xs[0].Size() != img.a.Size {
		return nil, fmt.Errorf("%s: %w: index does not match the manifest's size %d", img.where, catalog.ErrFormat, img.a.Size)
	}
	img.stream = img.fsys.cache.Stream(xs[0], img.where)
	return img.stream, nil
}

func (img *image) fill(a *fuse.Attr) {
	a.Ino = img.ino
	a.Mode = syscall.S_IFREG | 0o444
	a.Nlink = 1
	a.Size = img.a.Size
	a.Blocks = (img.a.Size + 511) / 512
	a.Blksize = blockSize
	setTimes(a, img.mtime.UnixNano())
}

// imageNode is an image archive shown as a regular file.
type imageNode struct {
	node
	img *image
}

var (
	_ = (gofs.NodeGetattrer)((*imageNode)(nil))
	_ = (gofs.NodeOpener)((*imageNode)(nil))
	_ = (gofs.NodeReader)((*imageNode)(nil))
	_ = (gofs.NodeGetxattrer)((*imageNode)(nil))
	_ = (gofs.NodeListxattrer)((*imageNode)(nil))
)

func (n *imageNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.img.fill(&out.Attr)
	return 0
}

// Open reads the image's index (once) and returns a handle, or ENOSYS
// when the kernel does zero-message opens (see treeNode.Open).
func (n *imageNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if openForWrite(flags) {
		return nil, 0, syscall.EROFS
	}
	since := n.fsys.now()
	s, err := n.img.open()
	if err != nil {
		return nil, 0, n.img.owner.failed("open image", n.img.where, err, since)
	}
	if n.fsys.noOpen.Load() {
		return nil, 0, syscall.ENOSYS
	}
	return n.img.newHandle(s), fuse.FOPEN_KEEP_CACHE, 0
}

func (img *image) newHandle(s *cache.Stream) *fileHandle {
	return &fileHandle{fsys: img.fsys, stream: s, size: int64(img.a.Size), where: img.where}
}

// Read reads through the open's handle, or without one through the
// image's own.
func (n *imageNode) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := fh.(*fileHandle); ok {
		return h.Read(ctx, dest, off)
	}
	since := n.fsys.now()
	s, err := n.img.open()
	if err != nil {
		return nil, n.img.owner.failed("open image", n.img.where, err, since)
	}
	n.img.mu.Lock()
	if n.img.own == nil {
		n.img.own = n.img.newHandle(s)
	}
	h := n.img.own
	n.img.mu.Unlock()
	return h.Read(ctx, dest, off)
}

func (n *imageNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.noXattrs {
		return 0, syscall.ENOSYS
	}
	return getxattr(nil, attr, dest)
}

func (n *imageNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.noXattrs {
		return 0, syscall.ENOSYS
	}
	return listxattr(nil, dest)
}
