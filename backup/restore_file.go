package backup

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// sparseBlock is the granularity at which zeros of a sparse file are
// skipped rather than written.
const sparseBlock = 4096

// restoreTmp names a file being restored, in its final directory: a name
// of fixed length, so a long final name cannot make it too long.
const restoreTmp = ".backupfs-restore-*"

// file writes a regular file's contents from the payload to a temporary
// file next to dst, applies its owner, xattrs and mode through the open
// descriptor (fileMeta), renames it to dst when whole and sets its times;
// on failure the temporary file is removed, so dst is the whole file or
// absent. A file that was sparse at backup time (fewer blocks than its
// size needs) is written sparse: all-zero blocks are skipped, and the
// size is set at the end.
func (r *restorer) file(e catalog.Entry, dst string) error {
	f, err := createTemp(filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	werr := r.copyOut(e, f)
	if werr == nil {
		r.fileMeta(e, f, dst)
	}
	if err := f.close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = renameNew(f.name, dst)
	}
	if werr != nil {
		os.Remove(f.name)
		return fmt.Errorf("restore %s: %w", dst, werr)
	}
	r.fileTimes(e, dst)
	return nil
}

// tmpFile is a file being restored, written through its raw descriptor:
// an *os.File costs four fcntl calls and a failing epoll_ctl per file
// (it offers every descriptor to the poller), 115,000 syscalls for a
// 25,000-file tree, and a restore writes each file once, in order.
type tmpFile struct {
	fd   int
	name string
}

// createTemp creates a new file named like restoreTmp in dir, mode 0600.
func createTemp(dir string) (*tmpFile, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, strings.Replace(restoreTmp, "*", strconv.FormatUint(rand.Uint64(), 36), 1))
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return &tmpFile{fd: fd, name: name}, nil
		}
		if !errors.Is(err, unix.EEXIST) || try == 9 {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// writeAt writes all of b at off.
func (f *tmpFile) writeAt(b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(f.fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		if n == 0 {
			return &os.PathError{Op: "write", Path: f.name, Err: io.ErrShortWrite}
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func (f *tmpFile) truncate(size int64) error {
	if err := unix.Ftruncate(f.fd, size); err != nil {
		return &os.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	return nil
}

func (f *tmpFile) close() error {
	if err := unix.Close(f.fd); err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// renameNew renames old to new, refusing to replace anything at new (a
// restore never overwrites). A filesystem without RENAME_NOREPLACE gets a
// check and a plain rename.
func renameNew(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %s", ErrTargetExists, new)
		}
		return err
	}
	if _, err := os.Lstat(new); err == nil {
		return fmt.Errorf("%w: %s", ErrTargetExists, new)
	}
	return os.Rename(old, new)
}

func (r *restorer) copyOut(e catalog.Entry, f *tmpFile) error {
	sparse := e.Blocks*512 < e.Size
	for off := uint64(0); off < e.Size; {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		n := min(uint64(len(r.buf)), e.Size-off)
		b := r.buf[:n]
		if _, err := r.t.Payload.ReadAt(b, int64(e.PayloadOffset+off)); err != nil {
			return err
		}
		if err := writeMaybeSparse(f, b, int64(off), sparse); err != nil {
			return err
		}
		off += n
	}
	if sparse {
		return f.truncate(int64(e.Size))
	}
	return nil
}

func writeMaybeSparse(f *tmpFile, b []byte, off int64, sparse bool) error {
	if !sparse {
		return f.writeAt(b, off)
	}
	for i := 0; i < len(b); i += sparseBlock {
		blk := b[i:min(i+sparseBlock, len(b))]
		if isZero(blk) {
			continue
		}
		if err := f.writeAt(blk, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}
