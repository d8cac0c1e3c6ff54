package objstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// sweep removes chunks that are unmarked and older than the cut-off, a
// chunk's age being that of the newer of its object and its touch
// object: the listings pick candidates, and each is looked at again under
// its lock before the delete (a touch since keeps it).
func (g *gcRun) sweep(ctx context.Context) error {
	touched := make(map[catalog.Digest]time.Time)
	err := g.s.c.list(touchPfx, false, func(o object) error {
		if d, ok := digestOf(o.key, touchKey); ok {
			touched[d] = o.mtime
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = g.s.c.list(chunksPfx, false, func(o object) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, ok := digestOf(o.key, chunkKey)
		if !ok {
			return nil
		}
		t, hasTouch := touched[d]
		delete(touched, d)
		if _, ok := g.marked[d]; ok || !maxTime(o.mtime, t).Before(g.cutoff) {
			g.st.ChunksKept++
			return nil
		}
		return g.sweepOne(d, o.size, hasTouch)
	})
	if err != nil {
		return err
	}
	for d, t := range touched { // touch objects of chunks gone
		if t.Before(g.cutoff) && !g.opt.DryRun {
			_ = g.s.c.del(touchKey(d))
		}
	}
	return g.sweepBad()
}

// sweepBad removes the bad/ record of a chunk stored again, once the
// record is older than the cut-off (kept for inspection until then).
func (g *gcRun) sweepBad() error {
	return g.s.c.list(badPfx, false, func(o object) error {
		d, err := catalog.ParseDigest(strings.TrimPrefix(o.key, badPfx))
		if err != nil || !o.mtime.Before(g.cutoff) {
			return nil
		}
		if ok, err := g.s.HasChunk(d); err != nil || !ok {
			return err
		}
		g.st.BadRemoved++
		if g.opt.DryRun {
			return nil
		}
		return g.s.c.del(o.key)
	})
}

// sweepOne removes chunk d if, looked at again under its lock, it and its
// touch object are still older than the cut-off.
func (g *gcRun) sweepOne(d catalog.Digest, size int64, hasTouch bool) error {
	mu := g.s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	mt, err := g.s.c.head(chunkKey(d))
	if err != nil || !mt.Before(g.cutoff) {
		g.st.ChunksKept++
		return nil
	}
	tt, err := g.s.c.head(touchKey(d))
	if err == nil && !tt.Before(g.cutoff) || err != nil && !errors.Is(err, store.ErrNotFound) {
		g.st.ChunksKept++
		return nil
	}
	g.st.ChunksRemoved++
	g.st.BytesRemoved += size
	if g.opt.DryRun {
		return nil
	}
	g.s.known.drop(d)
	if err := g.s.c.del(chunkKey(d)); err != nil {
		return err
	}
	if hasTouch || err == nil {
		return g.s.c.del(touchKey(d))
	}
	return nil
}
