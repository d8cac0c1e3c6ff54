package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
)

// treeWalker writes one tree archive: a sorted depth-first walk that sends
// file contents to the payload stream in walk order and directory tables
// to the catalog in post-order (children before their parent).
type treeWalker struct {
	ctx     context.Context
	dd      *dedup
	stats   *Stats
	warn    func(error)
	payload *stream // file contents
	off     uint64  // payload bytes so far (written or reused)
	prev    *prevTree
	run     reuseRun
	// freshSinceRun counts the bytes of files read since the last reuse run
	// started: see tooMuchPadding.
	freshSinceRun uint64
	tree          *catalog.TreeWriter
	links         map[devIno]catalog.Entry // first link of each multiply-linked file
	buf           []byte
	sel           *Selection
	rootDev       uint64            // device of the source path being walked
	list          func(path string) // Options.List, with the archive name
	dryRun        bool              // walk only: contents are neither read nor stored
}

type devIno struct{ dev, ino uint64 }

// stream is one content-chunked stream: chunker -> pipe -> dynamic index.
type stream struct {
	cw  *chunker.Writer
	p   *pipe
	idx *catalog.DynamicIndexWriter
}

func newStream(ctx context.Context, dd *dedup, params chunker.Params) (*stream, error) {
	s := &stream{idx: catalog.NewDynamicIndexWriter()}
	s.p = newPipe(ctx, dd, s.idx.Add)
	cw, err := chunker.NewWriter(params, func(b []byte) error {
		dd.stats.Bytes.Add(int64(len(b)))
		return s.p.put(b)
	})
	if err != nil {
		s.p.close()
		return nil, err
	}
	s.cw = cw
	return s, nil
}

// finish flushes the stream and returns its encoded index.
func (s *stream) finish(now time.Time) ([]byte, error) {
	err := s.cw.Close()
	if perr := s.p.close(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	return s.idx.Encode(now), nil
}

// backupTree writes a tree archive of the source paths of sp: one
// directory, or several laid out by name under a made-up root (sources.go).
func backupTree(ctx context.Context, dd *dedup, opt *Options, sp Spec, now time.Time) (*archiveOut, error) {
	name := sp.Name
	srcs, err := treeSources(sp)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", name, err)
	}
	meta, err := newStream(ctx, dd, opt.Params)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", name, err)
	}
	payload, err := newStream(ctx, dd, opt.Params)
	if err != nil {
		meta.finish(now)
		return nil, fmt.Errorf("tree %s: %w", name, err)
	}
	w := &treeWalker{ctx: ctx, dd: dd, stats: dd.stats, warn: opt.Warn, payload: payload,
		tree: catalog.NewTreeWriter(meta.cw), links: map[devIno]catalog.Entry{}, buf: make([]byte, 1<<20),
		prev: openPrevTree(opt.Previous, name, opt.Warn), sel: &opt.Select, dryRun: opt.DryRun,
		list: func(string) {}}
	if opt.List != nil {
		w.list = func(rel string) { opt.List(name + "/" + rel) }
	}
	var werr error
	if len(srcs) == 1 {
		werr = w.walkRoot(srcs[0])
	} else {
		werr = w.walkRoots(srcs, now)
	}
	dd.stats.Padding.Add(int64(w.run.padding()))
	pidx, perr := payload.finish(now)
	midx, merr := meta.finish(now)
	// A stream's error is sticky: finish returns the one the walk already
	// got (and wrapped) from a write; name it once, not on two lines.
	if werr != nil && perr != nil && errors.Is(werr, perr) {
		perr = nil
	}
	if werr != nil && merr != nil && errors.Is(werr, merr) {
		merr = nil
	}
	if err := errors.Join(werr, perr, merr); err != nil {
		return nil, fmt.Errorf("tree %s: %w", name, err)
	}
	out := &archiveOut{arch: catalog.Archive{Name: name, Kind: catalog.KindTree, Size: w.off}}
	out.add(name+catalog.MetaIndexSuffix, midx)
	out.add(name+catalog.PayloadIndexSuffix, pidx)
	return out, nil
}

// walkRoot writes the tree of one source directory: its root is the
// archive's root.
func (w *treeWalker) walkRoot(root source) error {
	e, _ := statEntry("", &root.st)
	xa, err := readXattrs(root.path)
	if err != nil {
		w.warn(fmt.Errorf("%s: %w", root.path, err))
	}
	e.Xattrs = xa
	names, err := readDirNames(root.path)
	if err != nil {
		return err
	}
	w.rootDev = uint64(root.st.Dev)
	ref, err := w.dir(root.path, "", w.prev.root(), names)
	if err != nil {
		return err
	}
	e.Dir = ref
	w.stats.Dirs.Add(1)
	return w.tree.Close(e)
}

// dir writes the table of the directory at path (archive path rel), whose
// entries are names, after the tables of its subdirectories; prev is its
// previous entry, if any.
// Unreadable entries are reported and left out; only errors writing the
// archive end the walk.
func (w *treeWalker) dir(path, rel string, prev *catalog.Entry, names []string) (catalog.DirRef, error) {
	prevEnts := w.prev.dir(prev)
	ahead := startStatAhead(path, names, func(name string, st *unix.Stat_t) bool {
		if w.dryRun || w.sel.ExcludeLargerThan > 0 && st.Size > w.sel.ExcludeLargerThan {
			return false
		}
		e, err := statEntry(name, st)
		return err == nil && !unchanged(&e, findEntry(prevEnts, name))
	})
	entries := make([]catalog.Entry, 0, len(names))
	for i, n := range names {
		if err := w.ctx.Err(); err != nil {
			return catalog.DirRef{}, err
		}
		p, r := filepath.Join(path, n), ahead.get(i)
		r, take := w.selected(p, joinRel(rel, n), r)
		if !take {
			continue
		}
		e, ok, err := w.entry(p, joinRel(rel, n), n, findEntry(prevEnts, n), r)
		if err != nil {
			return catalog.DirRef{}, err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	ref, err := w.tree.WriteDir(entries)
	if err != nil {
		return ref, errWrite{fmt.Errorf("catalog of %s: %w", path, err)}
	}
	return ref, nil
}

func readDirNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func joinRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// entry builds one entry, writing a file's contents or a directory's
// subtree; prev is the previous entry of the same name, if any. ok is
// false for entries left out (unreadable, sockets).
func (w *treeWalker) entry(path, rel, name string, prev *catalog.Entry, r *statRes) (e catalog.Entry, ok bool, err error) {
	if r.err != nil {
		return w.unreadable(path, r.err)
	}
	st := &r.st
	e, err = statEntry(name, st)
	if errors.Is(err, errSocket) {
		w.stats.Skipped.Add(1)
		w.warn(fmt.Errorf("%s: %w", path, err))
		return e, false, nil
	}
	if err != nil {
		return w.unreadable(path, err)
	}
	if e.Xattrs = r.xa; r.xerr != nil {
		w.warn(fmt.Errorf("%s: %w", path, r.xerr))
	}
	switch e.Type {
	case catalog.TypeDir:
		if r.nerr != nil {
			return w.unreadable(path, r.nerr)
		}
		ref, err := w.dir(path, rel, prev, r.names)
		if isWriteErr(err) {
			return e, false, err
		} else if err != nil {
			return w.unreadable(path, err)
		}
		e.Dir = ref
		w.stats.Dirs.Add(1)
	case catalog.TypeSymlink:
		target, err := os.Readlink(path)
		if err != nil {
			return w.unreadable(path, err)
		}
		e.Symlink, e.Size = target, uint64(len(target))
	case catalog.TypeFile:
		return w.file(path, rel, e, st, prev)
	}
	return e, true, nil
}

// unreadable reports an entry that is left out of the archive.
func (w *treeWalker) unreadable(path string, err error) (catalog.Entry, bool, error) {
	w.stats.Unreadable.Add(1)
	w.warn(fmt.Errorf("unreadable, skipped: %s: %w", path, err))
	return catalog.Entry{}, false, nil
}

// errWrite wraps failures of the archive itself (as opposed to the source).
type errWrite struct{ err error }

func (e errWrite) Error() string { return e.err.Error() }
func (e errWrite) Unwrap() error { return e.err }

func isWriteErr(err error) bool {
	var we errWrite
	return errors.As(err, &we) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
