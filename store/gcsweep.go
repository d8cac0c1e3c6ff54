package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// reapTmp removes snapshots in progress idle for longer than the grace
// (a writer of this process only if it is not busy; it then reports
// ErrClosed), and whatever Forget left in .trash.
func (g *gcRun) reapTmp() error {
	root := filepath.Join(g.s.dir, tmpDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	for _, e := range ents {
		if err := g.reapOne(root, e.Name()); err != nil {
			return fmt.Errorf("store: gc: %w", err)
		}
	}
	trash, err := os.ReadDir(filepath.Join(g.s.dir, trashDir))
	if err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	for _, e := range trash {
		g.st.TmpRemoved++
		if !g.opt.DryRun {
			if err := os.RemoveAll(filepath.Join(g.s.dir, trashDir, e.Name())); err != nil {
				return fmt.Errorf("store: gc: %w", err)
			}
		}
	}
	return nil
}

func (g *gcRun) reapOne(root, name string) error {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.writers[name]; w != nil {
		if !w.mu.TryLock() {
			return nil // busy, so not abandoned
		}
		defer w.mu.Unlock()
		if !w.last.Before(g.writerCutoff) {
			return nil
		}
		g.st.TmpRemoved++
		if g.opt.DryRun {
			return nil
		}
		w.closed = fmt.Errorf("%w: abandoned, removed by GC after the grace period", ErrClosed)
		w.unlock()
		delete(s.writers, name)
		return os.RemoveAll(w.dir)
	}
	path := filepath.Join(root, name)
	fi, err := os.Lstat(path)
	if err != nil || !g.old(fi) {
		return nil
	}
	// Not this process's writer: another process may be writing it (a
	// local backup next to the server). Its writer holds an flock on the
	// directory; only an unlocked one belongs to a dead writer.
	if fi.IsDir() {
		lock, err := lockDir(path, unix.LOCK_EX)
		if err != nil {
			return nil // locked: alive elsewhere
		}
		defer lock.Close()
	}
	g.st.TmpRemoved++
	if g.opt.DryRun {
		return nil
	}
	return os.RemoveAll(path)
}

// sweep removes chunk files that are unmarked and older than the cut-off.
func (g *gcRun) sweep(ctx context.Context) error {
	root := filepath.Join(g.s.dir, chunksDir)
	prefixes, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	for _, p := range prefixes {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(root, p.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("store: gc: %w", err)
		}
		for _, e := range ents {
			if err := g.sweepOne(dir, e.Name()); err != nil {
				return fmt.Errorf("store: gc: %w", err)
			}
		}
	}
	return nil
}

func (g *gcRun) sweepOne(dir, name string) error {
	switch {
	case strings.HasPrefix(name, tmpPrefix):
		return g.removeIfOld(dir, name, &g.st.TmpRemoved)
	case strings.HasSuffix(name, badSuffix):
		d, err := catalog.ParseDigest(strings.TrimSuffix(name, badSuffix))
		if err != nil {
			return nil
		}
		if ok, err := g.s.HasChunk(d); err != nil || !ok {
			return err // kept for inspection until the chunk is stored again
		}
		return g.removeIfOld(dir, name, &g.st.BadRemoved)
	}
	d, err := catalog.ParseDigest(name)
	if err != nil {
		return nil // not ours
	}
	if _, ok := g.marked[d]; ok {
		g.st.ChunksKept++
		return nil
	}
	mu := g.s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	n := g.st.ChunksRemoved
	if err := g.removeIfOld(dir, name, &g.st.ChunksRemoved); err != nil {
		return err
	}
	if n == g.st.ChunksRemoved {
		g.st.ChunksKept++
	}
	return nil
}

// removeIfOld removes dir/name if its mtime is before the cut-off,
// counting it in *count (and its size in BytesRemoved for chunks).
func (g *gcRun) removeIfOld(dir, name string, count *int) error {
	path := filepath.Join(dir, name)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !g.old(fi) {
		return nil
	}
	if err != nil {
		return err
	}
	*count++
	if count == &g.st.ChunksRemoved {
		g.st.BytesRemoved += fi.Size()
	}
	if g.opt.DryRun {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
