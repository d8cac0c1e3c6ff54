package backup

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/backup/exclude"
)

// Selection says what a tree backup leaves out (restic's options of the
// same names). The zero value takes everything. It applies to the entries
// below each source path; a source path given is always taken.
//
// An excluded entry is not read, not listed and not descended into; the
// backup counts it (Stats.Excluded) and, for a regular file, its size
// (Stats.ExcludedBytes). An excluded directory counts as one entry and
// zero bytes: its contents are never walked (a cache or another file
// system may be large, which is why it was left out). A tagged directory
// (ExcludeCaches, ExcludeIfPresent) is kept with its tag and nothing
// else, as restic keeps it: a restore shows the cache directory and its
// tag; its other entries count one each (and their sizes, for files).
type Selection struct {
	// Exclude patterns (package exclude) are matched against each entry's
	// absolute path in the source file system, not its path in the archive.
	Exclude exclude.Set
	// ExcludeCaches leaves out the contents of a directory holding a
	// CACHEDIR.TAG file that starts with the signature of the Cache
	// Directory Tagging Specification, but the directory and the tag; a
	// tag with other first bytes excludes nothing.
	ExcludeCaches bool
	// ExcludeIfPresent leaves out the contents of a directory holding an
	// entry of one of these names (of any type), but the directory and
	// that entry.
	ExcludeIfPresent []string
	// ExcludeLargerThan leaves out regular files larger than this many
	// bytes; 0 takes files of every size.
	ExcludeLargerThan int64
	// OneFileSystem does not descend into a directory on another file
	// system than its source path's: the mount point itself is kept, as
	// an empty directory with its own metadata (as restic keeps it), and
	// counts as one excluded entry.
	OneFileSystem bool
}

// CacheDirTag is the name of a cache directory's tag file and
// CacheDirSignature the bytes it must start with (bford.info/cachedir).
const (
	CacheDirTag       = "CACHEDIR.TAG"
	CacheDirSignature = "Signature: 8a477f597d28d172789f06886806bc55"
)

// verdict is what the selection makes of one entry.
type verdict int

const (
	take     verdict = iota
	leaveOut         // not in the archive
	emptyDir         // a mount point: the directory without its contents
	tagOnly          // a tagged directory: the directory and its tag only
)

// judge decides on the entry at abs (absolute source path) with lstat
// results r; rootDev is the device of its source path. For tagOnly it
// also returns the tag's name.
func (s *Selection) judge(abs string, r *statRes, rootDev uint64) (verdict, string) {
	if r.err != nil {
		return take, "" // the walker reports it unreadable
	}
	if _, ok := s.Exclude.Match(filepath.ToSlash(abs)); ok {
		return leaveOut, ""
	}
	switch r.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if s.ExcludeLargerThan > 0 && r.st.Size > s.ExcludeLargerThan {
			return leaveOut, ""
		}
	case unix.S_IFDIR:
		return s.judgeDir(abs, r, rootDev)
	}
	return take, ""
}

func (s *Selection) judgeDir(abs string, r *statRes, rootDev uint64) (verdict, string) {
	if r.nerr != nil {
		return take, "" // the walker reports it unreadable
	}
	for _, n := range s.ExcludeIfPresent {
		if hasName(r.names, n) {
			return tagOnly, n
		}
	}
	if s.ExcludeCaches && hasName(r.names, CacheDirTag) && isCacheTag(filepath.Join(abs, CacheDirTag)) {
		return tagOnly, CacheDirTag
	}
	if s.OneFileSystem && uint64(r.st.Dev) != rootDev {
		return emptyDir, ""
	}
	return take, ""
}

// hasName searches a sorted directory listing.
func hasName(names []string, n string) bool {
	i := sort.SearchStrings(names, n)
	return i < len(names) && names[i] == n
}

// isCacheTag reports whether the file at path is a regular file starting
// with CacheDirSignature. A tag that cannot be read excludes nothing.
func isCacheTag(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	buf := make([]byte, len(CacheDirSignature))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return bytes.Equal(buf, []byte(CacheDirSignature))
}
