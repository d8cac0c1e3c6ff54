package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// DefaultGrace is the GC grace period when GCOptions.Grace is 0. A chunk
// uploaded (or touched) by a backup is safe for this long before an index
// file referencing it must exist, so it should exceed the longest backup
// of one archive; a longer grace only delays reclaiming space, a shorter
// one can make a long backup fail at Commit (never lose data). 24 hours,
// as Proxmox Backup Server uses.
const DefaultGrace = 24 * time.Hour

// GCOptions configures GC.
type GCOptions struct {
	// Grace: unreferenced chunks (and abandoned snapshots in progress)
	// are removed only when untouched for this long; 0 means DefaultGrace,
	// NoGrace none. Chunks newer than the oldest snapshot writer of this
	// Store (less WriterMargin) are kept whatever the grace.
	Grace time.Duration
	// DryRun counts what would be removed and changes nothing (no
	// touching either).
	DryRun bool
}

// GCStats reports a GC run.
type GCStats struct {
	Snapshots     int   // published snapshots whose indexes were marked
	IndexFiles    int   // index files read (published and in progress)
	ChunksMarked  int   // distinct chunks referenced
	ChunksKept    int   // chunk files left in place
	ChunksRemoved int   // chunk files removed (or that would be, in a dry run)
	BytesRemoved  int64 // their size on disk
	TmpRemoved    int   // abandoned snapshot dirs, forget leftovers, stray temp files
	MissingChunks int   // referenced chunks not stored (Verify reports them in detail)
	BadRemoved    int   // ".bad" chunk files removed because the chunk was stored again
}

// GC removes chunks no snapshot references, by mark and sweep, safely
// while backups run (see the package doc). It fails with ErrGCRunning if
// another GC is running. Any error reading a published snapshot stops it
// before the sweep: a chunk is never removed because its index could not
// be read.
func (s *Store) GC(ctx context.Context, opt GCOptions) (GCStats, error) {
	if err := s.notServed(); err != nil {
		return GCStats{}, err
	}
	if !s.gc.TryLock() {
		return GCStats{}, ErrGCRunning
	}
	defer s.gc.Unlock()
	switch {
	case opt.Grace == NoGrace:
		opt.Grace = 0
	case opt.Grace <= 0:
		opt.Grace = DefaultGrace
	}
	g := &gcRun{s: s, opt: opt, marked: make(map[catalog.Digest]struct{})}
	start := s.now()
	g.cutoff = start.Add(-opt.Grace)
	g.writerCutoff = start.Add(-max(opt.Grace, MinWriterIdle))
	if w, ok := s.oldestWriter(g.writerCutoff); ok && w.Add(-WriterMargin).Before(g.cutoff) {
		g.cutoff = w.Add(-WriterMargin) // the oldest-writer rule (see GCOptions)
	}
	if err := g.reapTmp(); err != nil {
		return g.st, err
	}
	// In-progress snapshots first, then published ones: a snapshot that
	// is committed in between is seen in one list or the other.
	if err := g.markTmp(ctx); err != nil {
		return g.st, err
	}
	if err := g.markPublished(ctx); err != nil {
		return g.st, err
	}
	g.st.ChunksMarked = len(g.marked)
	if s.hookBeforeSweep != nil {
		s.hookBeforeSweep()
	}
	err := g.sweep(ctx)
	return g.st, err
}

// NoGrace is GCOptions.Grace for no grace period at all: only what is
// referenced, or newer than the oldest writer of this Store, is kept.
const NoGrace time.Duration = -1

// WriterMargin is how much older than the oldest running snapshot writer's
// start a chunk must be for GC to remove it: the writer's chunks are
// touched at or after its start by the store's own clock; the margin
// covers file systems' timestamp granularity.
const WriterMargin = time.Minute

// MinWriterIdle is how long a snapshot writer of this Store must be idle
// before GC takes it for abandoned (and reaps it), whatever the grace: the
// grace when it is longer. A writer active within it is running, and GC
// keeps every chunk newer than its start.
const MinWriterIdle = 10 * time.Minute

// oldestWriter is the start of this Store's oldest snapshot writer that
// was active after idle.
func (s *Store) oldestWriter(idle time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Time
	for _, w := range s.writers {
		if !w.lastActive().Before(idle) && (oldest.IsZero() || w.began.Before(oldest)) {
			oldest = w.began
		}
	}
	return oldest, !oldest.IsZero()
}

// gcRun is the state of one GC.
type gcRun struct {
	s            *Store
	opt          GCOptions
	cutoff       time.Time // chunks and others' snapshot dirs untouched since are old
	writerCutoff time.Time // this Store's writers idle since are abandoned
	marked       map[catalog.Digest]struct{}
	st           GCStats
}

func (g *gcRun) old(fi fs.FileInfo) bool { return fi.ModTime().Before(g.cutoff) }

// markIndex marks every chunk an index references.
func (g *gcRun) markIndex(idx catalog.Index) error {
	g.st.IndexFiles++
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		if _, ok := g.marked[d]; ok {
			continue
		}
		g.marked[d] = struct{}{}
		if g.opt.DryRun {
			continue
		}
		ok, err := g.s.touch(d)
		if err != nil {
			return fmt.Errorf("store: gc: %w", err)
		}
		if !ok {
			g.st.MissingChunks++
		}
	}
	return nil
}

// markPublished marks the chunks of every published snapshot. A snapshot
// forgotten meanwhile is skipped; any other error stops GC.
func (g *gcRun) markPublished(ctx context.Context) error {
	groups, err := g.s.Groups()
	if err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	for _, grp := range groups {
		times, err := g.s.Snapshots(grp)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: gc: %w", err)
		}
		for _, t := range times {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := g.markSnapshot(grp, t); err != nil && !g.forgotten(err, grp, t) {
				return fmt.Errorf("store: gc: %w", err)
			}
		}
	}
	return nil
}

// forgotten reports whether err came from the snapshot having been removed
// meanwhile, rather than from a file missing in a snapshot that exists.
func (g *gcRun) forgotten(err error, grp catalog.Group, t time.Time) bool {
	if !errors.Is(err, ErrNotFound) {
		return false
	}
	_, serr := os.Lstat(g.s.snapPath(grp, t))
	return errors.Is(serr, fs.ErrNotExist)
}

func (g *gcRun) markSnapshot(grp catalog.Group, t time.Time) error {
	m, err := g.s.Manifest(grp, t)
	if err != nil {
		return err
	}
	for _, a := range m.Archives {
		for _, f := range a.Files {
			b, err := g.s.ReadFile(grp, t, f.Name)
			if err != nil {
				return err
			}
			idx, err := catalog.DecodeIndex(b)
			if err != nil {
				return fmt.Errorf("%w: %s/%s/%s: %w", ErrCorrupt, grp, catalog.FormatTime(t), f.Name, err)
			}
			if err := g.markIndex(idx); err != nil {
				return err
			}
		}
	}
	g.st.Snapshots++
	return nil
}

// markTmp marks the chunks of index files already written by snapshots in
// progress. Unreadable files are skipped: they belong to no snapshot yet.
func (g *gcRun) markTmp(ctx context.Context) error {
	root := filepath.Join(g.s.dir, tmpDir)
	dirs, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("store: gc: %w", err)
	}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		files, _ := os.ReadDir(filepath.Join(root, d.Name()))
		for _, f := range files {
			if validIndexName(f.Name()) != nil {
				continue
			}
			b, err := readBounded(filepath.Join(root, d.Name(), f.Name()), maxIndexSize)
			if err != nil {
				continue
			}
			if idx, err := catalog.DecodeIndex(b); err == nil {
				if err := g.markIndex(idx); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
