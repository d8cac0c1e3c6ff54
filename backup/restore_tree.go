package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// RestoreTree recreates the entry at path (slash-separated, "" for the
// root) of a tree archive as target: a directory's contents go into
// target, which must not exist or be an empty directory; anything else
// becomes target, which must not exist. Contents, mode, owner, mtime (ns),
// symlinks, device nodes, fifos and xattrs are restored; a hardlink whose
// first link is inside the restored tree becomes a hardlink again; files
// that were sparse are written sparse. Owner and xattr failures (not root,
// a filesystem without xattrs) go to warn.
//
// An entry that cannot be restored (a corrupt or missing chunk of a file,
// an unreadable directory listing, a node that cannot be made) is
// skipped and the restore goes on with the others; RestoreTree then
// returns an *IncompleteError listing them. A file is written under a
// temporary name in its directory (".backupfs-restore-*") and renamed
// when whole, so a file that failed is never left under its name, nor its
// temporary file. Failures that would fail every entry after them end the
// restore at once: ctx ending (a timed-out source), and a target that is
// full or read-only.
func RestoreTree(ctx context.Context, t *Tree, path, target string, warn func(error)) error {
	if err := catalog.ValidPath(path); err != nil {
		return err
	}
	path = strings.Trim(path, "/")
	e, err := t.Catalog.LookupPath(path)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", t.Name, path, err)
	}
	if err := checkTarget(target, e.Type == catalog.TypeDir); err != nil {
		return err
	}
	if warn == nil {
		warn = func(error) {}
	}
	r := &restorer{ctx: ctx, t: t, warn: warn, base: path, target: target,
		root: os.Geteuid() == 0, buf: make([]byte, 1<<20)}
	if err := r.restore(e, path, target); err != nil {
		return err
	}
	if len(r.failed) > 0 {
		return &IncompleteError{Failed: r.failed}
	}
	return nil
}

// checkTarget refuses to overwrite anything.
func checkTarget(target string, dir bool) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if dir && fi.IsDir() {
		names, err := readDirNames(target)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		return fmt.Errorf("%w: %s is not empty", ErrTargetExists, target)
	}
	return fmt.Errorf("%w: %s", ErrTargetExists, target)
}

type restorer struct {
	ctx    context.Context
	t      *Tree
	warn   func(error)
	base   string // archive path being restored
	target string // where base goes
	root   bool   // may chown
	buf    []byte
	failed []FailedEntry
}

// restore restores one entry (a directory with its contents). A failure
// of the entry is recorded and nil returned, so the caller goes on; only
// a failure that ends the whole restore is returned.
func (r *restorer) restore(e catalog.Entry, rel, dst string) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	err := r.entry(e, rel, dst)
	if err == nil || endsRestore(err) {
		return err
	}
	r.failed = append(r.failed, FailedEntry{Path: dst, Err: err})
	return nil
}

func (r *restorer) entry(e catalog.Entry, rel, dst string) error {
	switch e.Type {
	case catalog.TypeDir:
		return r.dir(e, rel, dst)
	case catalog.TypeFile:
		return r.file(e, dst) // with its metadata
	case catalog.TypeHardlink:
		if first, ok := r.restored(e.Hardlink); ok {
			if err := os.Link(first, dst); err != nil {
				return fmt.Errorf("hardlink %s: %w", dst, err)
			}
			return nil // shares the first link's inode and metadata
		}
		return r.file(e, dst)
	case catalog.TypeSymlink:
		if err := os.Symlink(e.Symlink, dst); err != nil {
			return fmt.Errorf("symlink %s: %w", dst, err)
		}
	case catalog.TypeCharDev, catalog.TypeBlockDev, catalog.TypeFifo:
		if err := unix.Mknod(dst, nodeType(e.Type)|0o600, int(e.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dst, err)
		}
	default:
		return fmt.Errorf("%s: %w: entry type %d", rel, catalog.ErrFormat, e.Type)
	}
	r.meta(e, dst)
	return nil
}

func (r *restorer) dir(e catalog.Entry, rel, dst string) error {
	if err := os.Mkdir(dst, 0o700); err != nil && !(dst == r.target && errors.Is(err, os.ErrExist)) {
		return fmt.Errorf("mkdir %s: %w", dst, err)
	}
	children, err := r.t.Catalog.ReadDir(e)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", r.t.Name, rel, err)
	}
	for _, c := range children {
		if err := r.restore(c, joinRel(rel, c.Name), filepath.Join(dst, c.Name)); err != nil {
			return err
		}
	}
	r.meta(e, dst) // after the children, so their creation does not move mtime
	return nil
}

// restored returns where the archive path p was restored, if it was.
func (r *restorer) restored(p string) (string, bool) {
	var sub string
	switch {
	case r.base == "":
		sub = p
	case strings.HasPrefix(p, r.base+"/"):
		sub = p[len(r.base)+1:]
	default:
		return "", false
	}
	dst := filepath.Join(r.target, filepath.FromSlash(sub))
	fi, err := os.Lstat(dst)
	return dst, err == nil && fi.Mode().IsRegular()
}

func nodeType(t catalog.EntryType) uint32 {
	switch t {
	case catalog.TypeCharDev:
		return unix.S_IFCHR
	case catalog.TypeBlockDev:
		return unix.S_IFBLK
	}
	return unix.S_IFIFO
}

// fileMeta applies a regular file's owner, xattrs and mode through its
// open descriptor, in meta's order, before the file gets its name: path
// lookups fewer per file than meta, and nothing that replaces the path
// in between can redirect them. The times are set after the close and
// rename (fileTimes): a file system that writes data back at close could
// move them. When the owner cannot be kept (not root), the set-user-ID
// and set-group-ID bits are dropped, as cp -p does: a program restored by
// a user would otherwise run as that user for anyone who starts it.
func (r *restorer) fileMeta(e catalog.Entry, f *tmpFile, dst string) {
	mode := e.Mode & 0o7777
	if err := unix.Fchown(f.fd, int(e.UID), int(e.GID)); err != nil {
		if r.root || !errors.Is(err, unix.EPERM) {
			r.warn(fmt.Errorf("chown %s: %w", dst, err))
		}
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	for _, x := range e.Xattrs {
		if err := unix.Fsetxattr(f.fd, x.Name, x.Value, 0); err != nil {
			r.warn(fmt.Errorf("xattr %s on %s: %w", x.Name, dst, err))
		}
	}
	if err := unix.Fchmod(f.fd, mode); err != nil {
		r.warn(fmt.Errorf("chmod %s: %w", dst, err))
	}
}

// fileTimes sets a restored file's times, last.
func (r *restorer) fileTimes(e catalog.Entry, dst string) {
	ts := []unix.Timespec{unix.NsecToTimespec(e.MtimeNs), unix.NsecToTimespec(e.MtimeNs)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		r.warn(fmt.Errorf("times %s: %w", dst, err))
	}
}

// meta applies owner, xattrs, mode and times, in that order: chown clears
// setuid bits, and anything after the times would move them.
func (r *restorer) meta(e catalog.Entry, dst string) {
	if err := unix.Lchown(dst, int(e.UID), int(e.GID)); err != nil && (r.root || !errors.Is(err, unix.EPERM)) {
		r.warn(fmt.Errorf("chown %s: %w", dst, err))
	}
	for _, x := range e.Xattrs {
		if err := unix.Lsetxattr(dst, x.Name, x.Value, 0); err != nil {
			r.warn(fmt.Errorf("xattr %s on %s: %w", x.Name, dst, err))
		}
	}
	if e.Type != catalog.TypeSymlink {
		if err := unix.Chmod(dst, e.Mode&0o7777); err != nil {
			r.warn(fmt.Errorf("chmod %s: %w", dst, err))
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.MtimeNs), unix.NsecToTimespec(e.MtimeNs)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		r.warn(fmt.Errorf("times %s: %w", dst, err))
	}
}
