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
type statAhead struct {
	res []statRes
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

// statWorkers is the lstat concurrency per directory being walked.
const statWorkers = 8

func startStatAhead(dir string, names []string) *statAhead {
	sa := &statAhead{res: make([]statRes, len(names))}
	for i := range sa.res {
		sa.res[i].done = make(chan struct{})
	}
	var next atomic.Int64
	for range min(len(names), statWorkers) {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				sa.res[i].fill(filepath.Join(dir, names[i]))
			}
		}()
	}
	return sa
}

func (r *statRes) fill(path string) {
	defer close(r.done)
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

// get waits for entry i's results.
func (sa *statAhead) get(i int) *statRes {
	r := &sa.res[i]
	<-r.done
	return r
}
