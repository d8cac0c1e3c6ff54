package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// changeTime is the mtime every changed file gets.
var changeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// changeTree changes every nth regular file of dir (sorted walk, the
// (nth/2)th first, so the few large files that sort first stay): even-numbered changes append a line (the size changes),
// odd ones overwrite 16 bytes in the middle (same size). Each changed file
// is replaced (written aside, renamed over), never written through, and
// gets changeTime as mtime. It returns how many files it changed.
func changeTree(dir string, nth int) (int, error) {
	var paths []string
	i := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if i%nth == nth/2 {
			paths = append(paths, p)
		}
		i++
		return nil
	})
	if err != nil {
		return 0, err
	}
	for k, p := range paths {
		if err := changeFile(p, k%2 == 0); err != nil {
			return k, err
		}
	}
	return len(paths), nil
}

func changeFile(p string, appendLine bool) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if appendLine || len(b) < 16 {
		b = append(b, "backupfs bench: changed for the second backup\n"...)
	} else {
		copy(b[len(b)/2-8:], "~backupfs bench~")
	}
	tmp := p + ".gentree-tmp"
	if err := os.WriteFile(tmp, b, st.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(tmp, int(sys.Uid), int(sys.Gid)); err != nil {
			return err
		}
	}
	if err := os.Chtimes(tmp, changeTime, changeTime); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("change %s: %w", p, err)
	}
	return nil
}
