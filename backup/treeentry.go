package backup

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// errSocket marks an entry skipped on purpose: sockets cannot be restored.
var errSocket = errors.New("socket skipped")

// statEntry builds a catalog entry from lstat. Contents, link targets and
// directory tables are filled in by the walker.
func statEntry(name string, st *unix.Stat_t) (catalog.Entry, error) {
	e := catalog.Entry{
		Name:    name,
		Mode:    st.Mode & 07777,
		UID:     st.Uid,
		GID:     st.Gid,
		MtimeNs: st.Mtim.Nano(),
		Blocks:  uint64(st.Blocks),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type = catalog.TypeFile
		e.Size = uint64(st.Size)
		e.Nlink = uint32(st.Nlink)
	case unix.S_IFDIR:
		e.Type = catalog.TypeDir
	case unix.S_IFLNK:
		e.Type = catalog.TypeSymlink
	case unix.S_IFCHR:
		e.Type, e.Rdev = catalog.TypeCharDev, st.Rdev
	case unix.S_IFBLK:
		e.Type, e.Rdev = catalog.TypeBlockDev, st.Rdev
	case unix.S_IFIFO:
		e.Type = catalog.TypeFifo
	case unix.S_IFSOCK:
		return e, errSocket
	default:
		return e, fmt.Errorf("unknown file type %#o", st.Mode&unix.S_IFMT)
	}
	return e, nil
}

// readXattrs returns a path's extended attributes sorted by name, without
// following symlinks. A filesystem without xattr support has none.
func readXattrs(path string) ([]catalog.Xattr, error) {
	names, err := listXattr(path)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	sort.Strings(names)
	out := make([]catalog.Xattr, 0, len(names))
	for _, n := range names {
		v, err := getXattr(path, n)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", n, err)
		}
		out = append(out, catalog.Xattr{Name: n, Value: v})
	}
	return out, nil
}

func listXattr(path string) ([]string, error) {
	for size := 1024; size <= 1<<20; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(path, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		var names []string
		for _, b := range splitNul(buf[:n]) {
			names = append(names, string(b))
		}
		return names, nil
	}
	return nil, fmt.Errorf("list xattrs: list too long")
}

func getXattr(path, name string) ([]byte, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.E2BIG
}

func splitNul(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
