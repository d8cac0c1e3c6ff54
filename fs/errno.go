package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	"github.com/backupfs/backupfs/catalog"
)

// errno turns an error into the errno the kernel gets. It is the only
// place that does: a missing name is ENOENT, a cancelled request EINTR,
// anything else EIO with one log line naming the operation and the
// archive (the error's text has the offset and digest when a chunk is at
// fault).
func (f *filesys) errno(op, where string, err error) syscall.Errno {
	var en syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, catalog.ErrNotExist) || errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.As(err, &en) && (en == syscall.ENOENT || en == syscall.EINTR):
		return en
	}
	f.log.Error("backupfs: "+op+" failed", "where", where, "err", err)
	return syscall.EIO
}
