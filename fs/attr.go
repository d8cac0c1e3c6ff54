package fs

import (
	"slices"
	"strings"
	"syscall"

	"github.com/backupfs/backupfs/catalog"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// blockSize is the st_blksize reported: reads larger than this are
// efficient.
const blockSize = 128 << 10

// typeBits returns the S_IF* bits of an entry type; a hardlink is a file.
func typeBits(t catalog.EntryType) uint32 {
	switch t {
	case catalog.TypeDir:
		return syscall.S_IFDIR
	case catalog.TypeSymlink:
		return syscall.S_IFLNK
	case catalog.TypeCharDev:
		return syscall.S_IFCHR
	case catalog.TypeBlockDev:
		return syscall.S_IFBLK
	case catalog.TypeFifo:
		return syscall.S_IFIFO
	}
	return syscall.S_IFREG
}

// entryAttr fills a with a catalog entry's metadata.
func entryAttr(a *fuse.Attr, e *catalog.Entry, ino uint64, nlink uint32) {
	a.Ino = ino
	a.Mode = typeBits(e.Type) | e.Mode&0o7777
	a.Nlink = nlink
	a.Owner = fuse.Owner{Uid: e.UID, Gid: e.GID}
	a.Size = e.Size
	if e.Type == catalog.TypeSymlink {
		a.Size = uint64(len(e.Symlink))
	}
	a.Blocks = e.Blocks
	a.Blksize = blockSize
	if e.Type == catalog.TypeCharDev || e.Type == catalog.TypeBlockDev {
		a.Rdev = kernelDev(e.Rdev)
	}
	setTimes(a, e.MtimeNs)
}

// kernelDev re-encodes a unix.Mkdev device number in the kernel's 32-bit
// "new" encoding that FUSE carries (new_encode_dev).
func kernelDev(rdev uint64) uint32 {
	major, minor := unix.Major(rdev), unix.Minor(rdev)
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// setTimes sets mtime, atime and ctime to ns (unix nanoseconds).
func setTimes(a *fuse.Attr, ns int64) {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	a.Mtime, a.Atime, a.Ctime = uint64(sec), uint64(sec), uint64(sec)
	a.Mtimensec, a.Atimensec, a.Ctimensec = uint32(nsec), uint32(nsec), uint32(nsec)
}

// getxattr answers getxattr(2): the value's size if dest is empty, ERANGE
// if dest is too small, ENODATA if there is no such attribute.
func getxattr(xs []catalog.Xattr, attr string, dest []byte) (uint32, syscall.Errno) {
	i, ok := slices.BinarySearchFunc(xs, attr, func(x catalog.Xattr, name string) int {
		return strings.Compare(x.Name, name)
	})
	if !ok {
		return 0, syscall.ENODATA
	}
	v := xs[i].Value
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// listxattr answers listxattr(2): NUL-terminated names.
func listxattr(xs []catalog.Xattr, dest []byte) (uint32, syscall.Errno) {
	size := 0
	for _, x := range xs {
		size += len(x.Name) + 1
	}
	if len(dest) == 0 {
		return uint32(size), 0
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	b := dest[:0]
	for _, x := range xs {
		b = append(append(b, x.Name...), 0)
	}
	return uint32(len(b)), 0
}

func slicesSortByShown(ns []archiveName) {
	slices.SortFunc(ns, func(a, b archiveName) int { return strings.Compare(a.shown, b.shown) })
}

func findShown(ns []archiveName, name string) (int, bool) {
	return slices.BinarySearchFunc(ns, name, func(a archiveName, name string) int { return strings.Compare(a.shown, name) })
}
