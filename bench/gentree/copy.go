package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errBudget stops a walk once the copier has copied enough bytes.
var errBudget = errors.New("gentree: byte budget reached")

// copier copies source trees into one output directory, each source under
// a name made from its path (/usr/include -> usr_include).
type copier struct {
	budget, max  int64
	files, bytes int64
	dirs         []dirTime // set after the walk: writing into a dir moves its mtime
}

type dirTime struct {
	path  string
	mtime time.Time
}

func (c *copier) copyAll(out string, srcs []string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	for _, src := range srcs {
		name := c.dirName(src)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: skip, the selection stays deterministic
			}
			rel, _ := filepath.Rel(src, p)
			return c.copyEntry(p, filepath.Join(out, name, rel), d)
		})
		if errors.Is(err, errBudget) {
			break
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	for i := len(c.dirs) - 1; i >= 0; i-- {
		d := c.dirs[i]
		if err := os.Chtimes(d.path, d.mtime, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// dirName is where a source goes in the output: /usr/include -> usr_include.
func (c *copier) dirName(src string) string {
	return strings.ReplaceAll(strings.Trim(filepath.Clean(src), "/"), "/", "_")
}

func (c *copier) copyEntry(src, dst string, d fs.DirEntry) error {
	if c.bytes >= c.budget {
		return errBudget
	}
	st, err := os.Lstat(src)
	if err != nil {
		return nil
	}
	sys := st.Sys().(*syscall.Stat_t)
	switch {
	case st.IsDir():
		if err := os.Mkdir(dst, st.Mode().Perm()|0o700); err != nil {
			return err
		}
		c.dirs = append(c.dirs, dirTime{dst, st.ModTime()})
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return nil
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case st.Mode().IsRegular():
		if st.Size() > c.max {
			return nil
		}
		n, err := copyFile(src, dst, st.Mode().Perm())
		if err != nil {
			return err
		}
		c.files++
		c.bytes += n
	default:
		return nil // devices, sockets, fifos: not in this data set
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.ModTime().UnixNano()), unix.NsecToTimespec(st.ModTime().UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	return os.Lchown(dst, int(sys.Uid), int(sys.Gid))
}

// copyFile copies one regular file; a source that cannot be opened is
// skipped (n = 0, no file made).
func copyFile(src, dst string, perm fs.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, nil
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", dst, err)
	}
	return n, os.Chmod(dst, perm) // umask-free
}
