package backup

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// Where an archive's data comes from (see Spec):
//
//   - A tree archive of one directory has that directory as its root.
//   - A tree archive of several paths ("root.tree:/etc,/home,/srv") has a
//     made-up root directory (mode 0755, owner 0:0, mtime the snapshot's
//     time) whose entries are the sources under their base names: etc,
//     home, srv. Two sources with the same base name (/a/data,/b/data),
//     or a source without one (/), are an error before anything is read:
//     renaming one silently would restore it somewhere unexpected. The
//     sources are taken as lstat sees them (a symlink given is stored as
//     a symlink, as restic does); they may be files too. Commas always
//     separate paths in a tree spec, so a tree source path cannot hold one.
//   - An image archive reads one file or block device (its size from the
//     device), or standard input for the path "-" (see stdin.go).
type source struct {
	path string // absolute
	name string // entry name under a made-up root
	st   unix.Stat_t
}

// Paths returns the source paths of a spec: Paths, or else Path.
func (sp Spec) sources() []string {
	if len(sp.Paths) > 0 {
		return sp.Paths
	}
	return []string{sp.Path}
}

// treeSources checks a tree spec's sources and returns them sorted by
// name: one directory, or several entries with distinct names.
func treeSources(sp Spec) ([]source, error) {
	paths := sp.sources()
	var out []source
	byName := map[string]string{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		s := source{path: abs, name: filepath.Base(abs)}
		if len(paths) == 1 {
			if err := unix.Stat(abs, &s.st); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if s.st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return nil, fmt.Errorf("%s: not a directory", p)
			}
			return []source{s}, nil
		}
		if err := unix.Lstat(abs, &s.st); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if abs == "/" {
			return nil, fmt.Errorf("source / has no name to lay it out under; back it up as an archive of its own")
		}
		if other, ok := byName[s.name]; ok {
			return nil, fmt.Errorf("sources %s and %s would both be laid out as %s; back them up as separate archives", other, p, s.name)
		}
		byName[s.name] = p
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// walkRoots writes the tree of several sources under a made-up root.
func (w *treeWalker) walkRoots(srcs []source, now time.Time) error {
	prevEnts := w.prev.dir(w.prev.root())
	entries := make([]catalog.Entry, 0, len(srcs))
	for _, s := range srcs {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		r := &statRes{}
		r.fill(s.path)
		w.rootDev = uint64(s.st.Dev)
		w.list(s.name)
		e, ok, err := w.entry(s.path, s.name, s.name, findEntry(prevEnts, s.name), r)
		if err != nil {
			return err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	ref, err := w.tree.WriteDir(entries)
	if err != nil {
		return errWrite{fmt.Errorf("catalog of the root: %w", err)}
	}
	w.stats.Dirs.Add(1)
	return w.tree.Close(catalog.Entry{Type: catalog.TypeDir, Mode: 0o755, MtimeNs: now.UnixNano(), Dir: ref})
}

// selected applies the selection to the entry at path (archive path rel):
// it returns the stat results to walk it with, or false to leave it out.
func (w *treeWalker) selected(path, rel string, r *statRes) (*statRes, bool) {
	v, tag := w.sel.judge(path, r, w.rootDev)
	switch v {
	case leaveOut:
		w.stats.Excluded.Add(1)
		if r.st.Mode&unix.S_IFMT == unix.S_IFREG {
			w.stats.ExcludedBytes.Add(r.st.Size)
		}
		return r, false
	case emptyDir:
		w.stats.Excluded.Add(1)
		c := *r
		c.names = nil
		r = &c
	case tagOnly:
		w.countLeftOut(path, r.names, tag)
		c := *r
		c.names = []string{tag}
		r = &c
	}
	w.list(rel)
	return r, true
}

// countLeftOut counts the entries of the directory at path but keep as
// excluded, with the sizes of the regular files among them (one lstat
// each; nothing below them is walked).
func (w *treeWalker) countLeftOut(path string, names []string, keep string) {
	for _, n := range names {
		if n == keep {
			continue
		}
		w.stats.Excluded.Add(1)
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(path, n), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			w.stats.ExcludedBytes.Add(st.Size)
		}
	}
}

// splitSources splits a tree spec's path list at commas.
func splitSources(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("empty source path in %q", s)
		}
		if p == "-" {
			return nil, fmt.Errorf("a tree cannot be read from standard input (- is for NAME.img)")
		}
	}
	return parts, nil
}
