package fs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileHandle is one open file: a window [base, base+size) of a stream and
// the handle's own readahead state. Reads use the offset only; nothing
// here is locked across I/O (ReadState is safe for concurrent reads).
type fileHandle struct {
	fsys   *filesys
	stream *cache.Stream
	base   int64 // where the file starts in the stream
	size   int64
	where  string // the archive, for log lines
	name   string // the path in it, if a tree's file (joined only for a log line)
	rs     cache.ReadState
}

var _ = (gofs.FileReader)((*fileHandle)(nil))

// Read reads at off. A stream ending before the file does is an error
// (EIO), never a short read or zeros.
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off < 0 {
		return nil, syscall.EINVAL
	}
	if off >= h.size {
		return fuse.ReadResultData(nil), 0
	}
	want := int(min(int64(len(dest)), h.size-off))
	// A read inside one chunk is answered with the cache's own bytes
	// (never written or reused), saving a copy; on a failure ReadAt
	// below reports it.
	if b, ok, err := h.stream.View(ctx, h.base+off, want, &h.rs); ok && err == nil && len(b) == want {
		return fuse.ReadResultData(b), 0
	}
	n, err := h.stream.ReadAt(ctx, dest[:want], h.base+off, &h.rs)
	if n == want {
		return fuse.ReadResultData(dest[:n]), 0
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("%w: stream ends at %d, before the file's end at %d", catalog.ErrFormat, h.base+off+int64(n), h.base+h.size)
	}
	where := h.where
	if h.name != "" {
		where += ": " + h.name
	}
	return nil, h.fsys.errno("read", fmt.Sprintf("%s at offset %d", where, off), err)
}

// dirHandle lists a directory whose entries never change, so the kernel
// may cache the listing (FOPEN_CACHE_DIR).
type dirHandle struct {
	mu   sync.Mutex
	list []fuse.DirEntry
	pos  int
}

var (
	_ = (gofs.FileReaddirenter)((*dirHandle)(nil))
	_ = (gofs.FileSeekdirer)((*dirHandle)(nil))
)

func newDirHandle(list []fuse.DirEntry) *dirHandle { return &dirHandle{list: list} }

// Readdirent returns the next entry, or nil at the end.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pos >= len(d.list) {
		return nil, 0
	}
	e := d.list[d.pos]
	d.pos++
	e.Off = uint64(d.pos)
	return &e, 0
}

// Seekdir moves to the entry after offset off (offsets count entries).
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pos = int(min(off, uint64(len(d.list))))
	return 0
}
