package backup

import (
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// statAhead lstats a directory's entries and lists their xattrs on a few
// goroutines while the walker takes them in name order, and lists the
// subdirectories it finds. On a cold cache each of these system calls
// waits for the disk; with change detection they are most of a second
// backup, and one walker waiting for one at a time leaves the disk idle.
// The walker sees the same results in the same order as without it.
//
// Entries are fetched in batches of statBatchLen: the next batch while the
// walker works through the current one, so a directory of a million
// entries costs two batches of results in memory, not a million.
type statAhead struct {
	dir   string
	names []string
	// willRead says whether the walker will read a regular file's
	// contents (not reuse them); nil means every file is read.
	willRead func(name string, st *unix.Stat_t) bool
	cur      *statBatch
	next     *statBatch // nil past the end
}

// statBatch is the results of names[start : start+len(res)].
type statBatch struct {
	start int
	res   []statRes
}

// statRes is what the walker would have asked for one entry.
type statRes struct {
	st    unix.Stat_t
	err   error // lstat
	xa    []catalog.Xattr
	xerr  error
	names []string // a directory's entries, sorted
	nerr  error
	done  chan struct{}
}

const (
	statBatchLen = 64
	statWorkers  = 8 // lstat concurrency per batch
)

func startStatAhead(dir string, names []string, willRead func(string, *unix.Stat_t) bool) *statAhead {
	sa := &statAhead{dir: dir, names: names, willRead: willRead}
	sa.cur = sa.launch(0)
	sa.next = sa.launch(statBatchLen)
	return sa
}

// launch starts fetching the batch from start, or returns nil past the end.
func (sa *statAhead) launch(start int) *statBatch {
	if start >= len(sa.names) {
		return nil
	}
	b := &statBatch{start: start, res: make([]statRes, min(statBatchLen, len(sa.names)-start))}
	for i := range b.res {
		b.res[i].done = make(chan struct{})
	}
	var next atomic.Int64
	for range min(len(b.res), statWorkers) {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(b.res) {
					return
				}
				name := sa.names[start+i]
				r := &b.res[i]
				r.fill(filepath.Join(sa.dir, name))
				if r.err == nil && r.st.Mode&unix.S_IFMT == unix.S_IFREG && r.st.Size > 0 &&
					(sa.willRead == nil || sa.willRead(name, &r.st)) {
					readAhead(filepath.Join(sa.dir, name), r.st.Size)
				}
				close(r.done)
			}
		}()
	}
	return b
}

// fill asks what the walker would; the caller closes done.
func (r *statRes) fill(path string) {
	if r.err = unix.Lstat(path, &r.st); r.err != nil {
		return
	}
	if r.st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		return // skipped: its xattrs are not wanted
	}
	r.xa, r.xerr = readXattrs(path)
	if r.st.Mode&unix.S_IFMT == unix.S_IFDIR {
		r.names, r.nerr = readDirNames(path)
	}
}

// readAheadMax bounds the contents asked for ahead per file: small files
// whole; a large file's first bytes, after which the kernel's own
// readahead keeps up with the walker's sequential read.
const readAheadMax = 2 << 20

// readAhead asks the kernel to start reading the first bytes of a file the
// walker is about to read (posix_fadvise WILLNEED: the reads are queued,
// not waited for). A walker reading one small file at a time leaves the
// disk idle between files; this keeps up to two batches of files in
// flight. Failures do not matter: the walker reads the file anyway and
// reports what goes wrong then.
func readAhead(path string, size int64) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOATIME|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return
	}
	_ = unix.Fadvise(fd, 0, min(size, readAheadMax), unix.FADV_WILLNEED)
	unix.Close(fd)
}

// get waits for entry i's results; i goes up one by one from 0.
func (sa *statAhead) get(i int) *statRes {
	if i >= sa.cur.start+len(sa.cur.res) {
		sa.cur = sa.next
		sa.next = sa.launch(sa.cur.start + len(sa.cur.res))
	}
	r := &sa.cur.res[i-sa.cur.start]
	<-r.done
	return r
}
