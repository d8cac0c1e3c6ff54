package catalog

import (
	"fmt"
	"io/fs"
	"strings"
)

// Tree metadata catalog: the metadata of a tree archive as one byte stream
// (stored chunked by content as NAME.tree.meta.didx; file contents live in
// the separate payload stream). The stream is built bottom-up: one table per
// directory, children before parents (post-order), then the root entry and
// a fixed-size trailer. Reading needs only an io.ReaderAt: the trailer gives
// the root entry, a directory entry gives its table's DirRef, and listing or
// looking up one directory reads only that directory's table.
//
// Stream (little-endian):
//
//	table ... table | root entry | trailer
//
// Trailer (the last TreeTrailerSize = 32 bytes):
//
//	offset  size  field
//	0       8     magic "bfs-tree"
//	8       4     version (TreeVersion)
//	12      4     root entry length in bytes
//	16      8     root entry offset; root offset + length = stream size - 32
//	24      8     reserved, zero
//
// Directory table (at DirRef.Off, DirRef.Len bytes, at most MaxDirTableSize):
//
//	offset  size  field
//	0       4     tag "bfsD"
//	4       4     entry count n
//	8       4*n   offset of entry i from the table start: the first is 8+4n,
//	              they increase strictly, entry i ends where entry i+1
//	              starts (the last at the table's end)
//	8+4n    ...   entries, sorted by name (bytewise), names unique
//
// Lookup is a binary search: read the header and the offset array, then
// only the name of each probed entry, then the entry found.
//
// Entry (fixed part 80 bytes, then variable data; exactly fills its span):
//
//	offset  size  field
//	0       1     type (EntryType, 1..7)
//	1       1     reserved, zero
//	2       2     name length (root: 0; otherwise 1..MaxNameLen)
//	4       2     target length (symlink target or hardlink path; else 0)
//	6       2     xattr count (<= MaxXattrs)
//	8       4     mode (permission, setuid, setgid, sticky: mask 07777)
//	12      4     uid
//	16      4     gid
//	20      4     link count at backup time (st_nlink of files; 0 = not recorded)
//	24      8     mtime, unix nanoseconds (signed)
//	32      8     size
//	40      8     blocks (512-byte units)
//	48      8     payload offset
//	56      8     rdev (devices only; else 0)
//	64      8     DirRef.Off (directories only; else 0)
//	72      8     DirRef.Len (directories only; else 0)
//	80      ...   name, then target, then per xattr:
//	              name length u16 (1..MaxXattrNameLen), value length u32
//	              (<= MaxXattrValueLen), name, value; xattrs sorted by name
//
// A directory's DirRef must end at or before the start of the table (or
// root entry) that holds it: tables only point backwards, so no walk can
// loop, and the reader refuses anything else as ErrFormat. An entry's Pos
// is the stream offset of its encoding. TreeWriter uses every table for
// exactly one directory, so Pos is unique in the catalogs it writes; the
// reader cannot detect a forged catalog sharing a table between two
// directories without reading everything, and then Pos repeats (such a
// catalog reads like one with hardlinked directories).
const (
	TreeMagic       = "bfs-tree"
	TreeVersion     = 1
	TreeTrailerSize = 32

	// MaxNameLen bounds a path element (Linux allows 255; we are lenient).
	MaxNameLen = 4096
	// MaxTargetLen bounds a symlink target or hardlink path.
	MaxTargetLen = 4096
	// MaxXattrNameLen bounds an xattr name.
	MaxXattrNameLen = 255
	// MaxXattrValueLen bounds an xattr value (Linux's limit, 64 KiB).
	MaxXattrValueLen = 64 << 10
	// MaxXattrs bounds the xattrs of one entry.
	MaxXattrs = 1024
	// MaxDirTableSize bounds one directory table.
	MaxDirTableSize = 1 << 30

	dirTag          = "bfsD"
	dirHeaderSize   = 8
	entryFixedSize  = 80
	xattrHeaderSize = 6
)

// EntryType is the kind of a catalog entry.
type EntryType uint8

// Entry types.
const (
	TypeFile EntryType = iota + 1
	TypeDir
	TypeSymlink
	TypeHardlink
	TypeCharDev
	TypeBlockDev
	TypeFifo
)

var entryTypeNames = [...]string{"", "file", "dir", "symlink", "hardlink", "chardev", "blockdev", "fifo"}

// String returns a short lower-case name ("file", "dir", ...).
func (t EntryType) String() string {
	if t >= TypeFile && t <= TypeFifo {
		return entryTypeNames[t]
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// DirRef locates a directory's table in the catalog stream.
type DirRef struct{ Off, Len uint64 }

// Entry is one catalog entry. A TypeHardlink entry carries a full copy of
// the first link's metadata (mode, owner, size, payload offset...) plus
// Hardlink, the archive path of the first link, so readers need not
// resolve it to read or stat it.
type Entry struct {
	Name          string    // one path element; "" only for the root
	Type          EntryType //
	Mode          uint32    // permission bits plus setuid/setgid/sticky (mask 07777)
	UID, GID      uint32    //
	MtimeNs       int64     // unix nanoseconds
	Size          uint64    // file: content length; symlink: len(Symlink)
	Blocks        uint64    // 512-byte blocks allocated at backup time (st_blocks)
	Nlink         uint32    // files and hardlinks: st_nlink at backup time (0: not recorded)
	PayloadOffset uint64    // file and hardlink: start of the content in the payload stream
	Symlink       string    // TypeSymlink: target
	Hardlink      string    // TypeHardlink: archive path of the first link
	Rdev          uint64    // devices: unix.Mkdev value
	Xattrs        []Xattr   // sorted by name
	Dir           DirRef    // TypeDir: its table
	Pos           uint64    // set by the reader: the entry's offset in the stream
}

// FileMode returns the type bits, permissions and setuid/setgid/sticky. A
// hardlink reports as a regular file.
func (e *Entry) FileMode() fs.FileMode {
	m := fs.FileMode(e.Mode & 0o777)
	if e.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if e.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if e.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch e.Type {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeCharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlockDev:
		m |= fs.ModeDevice
	case TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}

// validName checks one path element.
func validName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > MaxNameLen || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: entry name %q: want 1..%d bytes without / or NUL, not \".\" or \"..\"", ErrFormat, printable(name), MaxNameLen)
	}
	return nil
}

// target returns the entry's symlink or hardlink target.
func (e *Entry) target() string {
	if e.Type == TypeHardlink {
		return e.Hardlink
	}
	return e.Symlink
}

// check validates everything about e except its name and where its DirRef
// points; writer and reader share it.
func (e *Entry) check() error {
	if e.Type < TypeFile || e.Type > TypeFifo {
		return fmt.Errorf("%w: entry %q: type %d", ErrFormat, printable(e.Name), e.Type)
	}
	if e.Mode&^0o7777 != 0 {
		return fmt.Errorf("%w: entry %q: mode %#o outside 07777", ErrFormat, printable(e.Name), e.Mode)
	}
	if err := e.checkTarget(); err != nil {
		return fmt.Errorf("entry %q: %w", printable(e.Name), err)
	}
	isDev := e.Type == TypeCharDev || e.Type == TypeBlockDev
	if e.Rdev != 0 && !isDev {
		return fmt.Errorf("%w: entry %q: rdev on a %v", ErrFormat, printable(e.Name), e.Type)
	}
	if e.Nlink != 0 && e.Type != TypeFile && e.Type != TypeHardlink {
		return fmt.Errorf("%w: entry %q: link count on a %v", ErrFormat, printable(e.Name), e.Type)
	}
	if e.Type != TypeDir && e.Dir != (DirRef{}) {
		return fmt.Errorf("%w: entry %q: DirRef on a %v", ErrFormat, printable(e.Name), e.Type)
	}
	if e.Type == TypeDir && (e.Dir.Len < dirHeaderSize || e.Dir.Len > MaxDirTableSize) {
		return fmt.Errorf("%w: entry %q: directory table of %d bytes", ErrFormat, printable(e.Name), e.Dir.Len)
	}
	if e.PayloadOffset > ^uint64(0)-e.Size {
		return fmt.Errorf("%w: entry %q: payload range overflows", ErrFormat, printable(e.Name))
	}
	return checkXattrs(e.Xattrs)
}

func (e *Entry) checkTarget() error {
	switch {
	case e.Type != TypeSymlink && e.Symlink != "":
		return fmt.Errorf("%w: symlink target on a %v", ErrFormat, e.Type)
	case e.Type != TypeHardlink && e.Hardlink != "":
		return fmt.Errorf("%w: hardlink path on a %v", ErrFormat, e.Type)
	case e.Type == TypeSymlink && (e.Symlink == "" || len(e.Symlink) > MaxTargetLen || strings.ContainsRune(e.Symlink, 0)):
		return fmt.Errorf("%w: symlink target of %d bytes: want 1..%d, no NUL", ErrFormat, len(e.Symlink), MaxTargetLen)
	case e.Type == TypeSymlink && e.Size != uint64(len(e.Symlink)):
		return fmt.Errorf("%w: symlink size %d, target has %d bytes", ErrFormat, e.Size, len(e.Symlink))
	case e.Type == TypeHardlink && (e.Hardlink == "" || e.Hardlink == "." || len(e.Hardlink) > MaxTargetLen || ValidPath(e.Hardlink) != nil):
		return fmt.Errorf("%w: hardlink path %q: want a relative archive path", ErrFormat, printable(e.Hardlink))
	}
	return nil
}

func checkXattrs(xs []Xattr) error {
	if len(xs) > MaxXattrs {
		return fmt.Errorf("%w: %d xattrs, at most %d", ErrFormat, len(xs), MaxXattrs)
	}
	for i, x := range xs {
		if x.Name == "" || len(x.Name) > MaxXattrNameLen || strings.ContainsRune(x.Name, 0) {
			return fmt.Errorf("%w: xattr name %q: want 1..%d bytes, no NUL", ErrFormat, printable(x.Name), MaxXattrNameLen)
		}
		if len(x.Value) > MaxXattrValueLen {
			return fmt.Errorf("%w: xattr %q: value of %d bytes, at most %d", ErrFormat, printable(x.Name), len(x.Value), MaxXattrValueLen)
		}
		if i > 0 && xs[i-1].Name >= x.Name {
			return fmt.Errorf("%w: xattrs not sorted or not unique at %q", ErrFormat, printable(x.Name))
		}
	}
	return nil
}
