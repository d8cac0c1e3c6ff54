package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	"github.com/backupfs/backupfs/catalog"
)

// errGone marks an error reading a snapshot that was forgotten or pruned
// while mounted. It becomes ESTALE: a path walk that met it is walked
// once more by the kernel, revalidating every entry (LOOKUP_REVAL), so a
// path through "latest" then resolves to the newest snapshot left, and a
// path through the snapshot's own name ends in ENOENT.
var errGone = errors.New("fs: snapshot no longer in the repository")

// errno turns an error into the errno the kernel gets. It is the only
// place that does: a snapshot gone from the repository is ESTALE (errGone),
// a missing name is ENOENT, a cancelled request EINTR,
// anything else EIO with one log line naming the operation and the
// archive (the error's text has the offset and digest when a chunk is at
// fault).
func (f *filesys) errno(op, where string, err error) syscall.Errno {
	var en syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errGone):
		return syscall.ESTALE
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
