package objstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// GC removes chunks no snapshot references, by mark and sweep, safely
// while backups run in this process (see the package doc for the clock
// and the argument). ErrGCRunning if another GC runs on this Store.
func (s *Store) GC(ctx context.Context, opt store.GCOptions) (store.GCStats, error) {
	if !s.gcMu.TryLock() {
		return store.GCStats{}, store.ErrGCRunning
	}
	defer s.gcMu.Unlock()
	switch {
	case opt.Grace == store.NoGrace:
		opt.Grace = 0
	case opt.Grace <= 0:
		opt.Grace = store.DefaultGrace
	}
	g := &gcRun{s: s, opt: opt, marked: make(map[catalog.Digest]struct{})}
	start, err := s.storeNow()
	if err != nil {
		return g.st, fmt.Errorf("objstore: gc: %w", err)
	}
	local := s.now()
	g.cutoff = start.Add(-opt.Grace)
	// A writer of this process is abandoned only when idle for
	// max(grace, MinWriterIdle); the chunks of running ones are kept by
	// the oldest-writer rule (store.GCOptions), its start moved to the
	// store's clock by the offset between the two clocks now.
	g.localCut = local.Add(-max(opt.Grace, store.MinWriterIdle))
	if b, ok := s.oldestWriter(); ok {
		if c := start.Add(b.Sub(local)).Add(-store.WriterMargin); c.Before(g.cutoff) {
			g.cutoff = c
		}
	}
	snaps, err := g.listSnapshots()
	if err == nil {
		err = g.reap(snaps)
	}
	if err == nil {
		err = g.mark(ctx, snaps)
	}
	if err == nil {
		g.st.ChunksMarked = len(g.marked)
		err = g.sweep(ctx)
	}
	if err != nil {
		return g.st, fmt.Errorf("objstore: gc: %w", err)
	}
	return g.st, nil
}

// storeNow is the store's own time: the LastModified of a marker object
// written now. It is the only "now" GC's cut-off is taken from.
func (s *Store) storeNow() (time.Time, error) {
	if err := s.c.put(clockKey, []byte("gc start\n"), false); err != nil {
		return time.Time{}, err
	}
	return s.c.head(clockKey)
}

type gcRun struct {
	s        *Store
	opt      store.GCOptions
	cutoff   time.Time // by the store's clock: objects older are old
	localCut time.Time // by the local clock: writers idle since are abandoned
	marked   map[catalog.Digest]struct{}
	st       store.GCStats
}

// snapObjs are the objects under one snapshot key.
type snapObjs struct {
	manifest bool
	newest   time.Time
	objs     []object
}

// listSnapshots lists every object under snapshots/, by snapshot, and the
// holds and forgetting markers (removed when old: their owner died).
func (g *gcRun) listSnapshots() (map[string]*snapObjs, error) {
	snaps := make(map[string]*snapObjs)
	err := g.s.c.list(snapsPfx, false, func(o object) error {
		i := strings.LastIndexByte(o.key, '/')
		sn := snaps[o.key[:i+1]]
		if sn == nil {
			sn = &snapObjs{}
			snaps[o.key[:i+1]] = sn
		}
		sn.manifest = sn.manifest || o.key[i+1:] == catalog.ManifestName
		sn.newest = maxTime(sn.newest, o.mtime)
		sn.objs = append(sn.objs, o)
		return nil
	})
	for _, p := range []string{holdsPfx, forgetPfx} {
		if err != nil {
			break
		}
		err = g.s.c.list(p, false, func(o object) error { return g.removeOld(o, &g.st.TmpRemoved) })
	}
	return snaps, err
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// removeOld removes an object older than the cut-off, counting it.
func (g *gcRun) removeOld(o object, count *int) error {
	if !o.mtime.Before(g.cutoff) {
		return nil
	}
	*count++
	if g.opt.DryRun {
		return nil
	}
	return g.s.c.del(o.key)
}

// reap removes snapshots in progress that are abandoned: a writer of
// this process idle for the grace (by the local clock; a busy one is
// left), or, for the others, no object newer than the cut-off.
func (g *gcRun) reap(snaps map[string]*snapObjs) error {
	s := g.s
	for k, sn := range snaps {
		if sn.manifest {
			for _, o := range sn.objs { // a lock its Commit failed to delete
				if strings.HasSuffix(o.key, "/"+lockName) {
					if err := g.removeOld(o, &g.st.TmpRemoved); err != nil {
						return err
					}
				}
			}
			continue
		}
		s.mu.Lock()
		w := s.writers[k]
		s.mu.Unlock()
		if w != nil {
			if g.reapWriter(w) {
				delete(snaps, k)
			}
			continue
		}
		if !sn.newest.Before(g.cutoff) {
			continue
		}
		g.st.TmpRemoved++
		delete(snaps, k)
		for _, o := range sn.objs {
			if !g.opt.DryRun {
				if err := s.c.del(o.key); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reapWriter closes and removes an idle writer of this process.
func (g *gcRun) reapWriter(w *Writer) bool {
	if !w.mu.TryLock() {
		return false // busy, so not abandoned
	}
	defer w.mu.Unlock()
	if w.closed != nil || !w.last.Before(g.localCut) {
		return false
	}
	g.st.TmpRemoved++
	if g.opt.DryRun {
		return false
	}
	w.closed = fmt.Errorf("%w: abandoned, removed by GC after the grace period", store.ErrClosed)
	_ = w.end(true)
	return true
}

// mark marks the chunks of every index object of every snapshot listed,
// published or in progress. An index of a published snapshot that cannot
// be read stops GC before the sweep; one in progress is skipped.
func (g *gcRun) mark(ctx context.Context, snaps map[string]*snapObjs) error {
	for _, sn := range snaps {
		if sn.manifest {
			g.st.Snapshots++
		}
		for _, o := range sn.objs {
			if err := ctx.Err(); err != nil {
				return err
			}
			name := o.key[strings.LastIndexByte(o.key, '/')+1:]
			if store.ValidIndexName(name) != nil {
				continue
			}
			b, err := g.s.c.get(o.key, maxIndexSize, func(n int) []byte { return make([]byte, n) })
			var idx catalog.Index
			if err == nil {
				idx, err = catalog.DecodeIndex(b)
			}
			if err != nil && sn.manifest {
				return fmt.Errorf("%s: %w", o.key, err)
			}
			if err == nil {
				g.st.IndexFiles++
				for i := range idx.NumChunks() {
					_, _, d := idx.Chunk(i)
					g.marked[d] = struct{}{}
				}
			}
		}
	}
	return nil
}

// oldestWriter is the start of this Store's oldest snapshot writer (local
// clock).
func (s *Store) oldestWriter() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Time
	for _, w := range s.writers {
		if oldest.IsZero() || w.began.Before(oldest) {
			oldest = w.began
		}
	}
	return oldest, !oldest.IsZero()
}
