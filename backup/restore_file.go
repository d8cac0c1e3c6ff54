package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// file next to dst and renames it to dst when whole; on failure the
// temporary file is removed, so dst is the whole file or absent. A file
// that was sparse at backup time (fewer blocks than its size needs) is
// written sparse: all-zero blocks are skipped, and the size is set at the
// end.
func (r *restorer) file(e catalog.Entry, dst string) error {
	f, err := os.CreateTemp(filepath.Dir(dst), restoreTmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	werr := r.copyOut(e, f)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = renameNew(f.Name(), dst)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("restore %s: %w", dst, werr)
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

func (r *restorer) copyOut(e catalog.Entry, f *os.File) error {
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
		return f.Truncate(int64(e.Size))
	}
	return nil
}

func writeMaybeSparse(f *os.File, b []byte, off int64, sparse bool) error {
	if !sparse {
		_, err := f.WriteAt(b, off)
		return err
	}
	for i := 0; i < len(b); i += sparseBlock {
		blk := b[i:min(i+sparseBlock, len(b))]
		if isZero(blk) {
			continue
		}
		if _, err := f.WriteAt(blk, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}
