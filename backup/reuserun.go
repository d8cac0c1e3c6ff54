package backup

import (
	"fmt"

	"github.com/backupfs/backupfs/catalog"
)

// reuseRun is the stretch of previous payload chunks lo..hi appended last,
// back to back, to the new payload: previous offset o in it is new offset
// o - oldLo + newLo. It is live while nothing else was written after it
// (the new stream ends at end).
type reuseRun struct {
	live   bool
	lo, hi int
	oldLo  uint64 // previous offset of chunk lo
	newLo  uint64 // new offset of chunk lo
	end    uint64 // new stream offset after chunk hi
	append uint64 // bytes of reused chunks appended in this tree
	refd   uint64 // bytes of reused files
}

// reuse gives regular file e the contents of its previous entry pe when
// the file is unchanged, appending the previous chunks that hold them.
// It reports whether it did; an error is the archive's own (errWrite).
func (w *treeWalker) reuse(e, pe *catalog.Entry) (bool, error) {
	if w.prev == nil || w.prev.off || !unchanged(e, pe) {
		return false, nil
	}
	if e.Size == 0 {
		e.PayloadOffset = w.off
		w.reused(0)
		return true, nil
	}
	idx := w.prev.pidx
	old, end := pe.PayloadOffset, pe.PayloadOffset+pe.Size
	if end < old || end > idx.Size() {
		w.prev.off = true
		w.warn(fmt.Errorf("%s: %q claims payload [%d, +%d) beyond the stream (%d): reading every file from here on",
			w.prev.name, pe.Name, old, pe.Size, idx.Size()))
		return false, nil
	}
	first, last := idx.Find(old), idx.Find(end-1)
	r := &w.run
	if !r.live || w.off != r.end || first < r.lo || first > r.hi+1 {
		if w.tooMuchPadding(idx, first, old, end) {
			return false, nil
		}
		if err := w.payload.cw.Flush(); err != nil {
			return false, errWrite{fmt.Errorf("payload: %w", err)}
		}
		start, _, _ := idx.Chunk(first)
		r.live, r.lo, r.hi, r.oldLo, r.newLo = true, first, first-1, start, w.off
	}
	for i := r.hi + 1; i <= last; i++ {
		s, en, d := idx.Chunk(i)
		if err := w.payload.p.putKnown(d, int(en-s)); err != nil {
			return false, errWrite{fmt.Errorf("payload: %w", err)}
		}
		w.off += en - s
		r.append += en - s
		r.hi = i
	}
	r.end = w.off
	r.refd += e.Size
	e.PayloadOffset = old - r.oldLo + r.newLo
	w.reused(e.Size)
	return true, nil
}

func (w *treeWalker) reused(n uint64) {
	w.stats.Files.Add(1)
	w.stats.ReusedFiles.Add(1)
	w.stats.ReusedBytes.Add(int64(n))
}

// tooMuchPadding reports whether a run started for the file at previous
// [old, end) would begin with more unreferenced bytes (the start of its
// first chunk, before the file) than the file's size while the tree's
// padding already exceeds maxPaddingPercent. Only the head counts: the
// rest of the last chunk usually belongs to the next file, unchanged too.
// When a run starts, the padding of the runs before it is final.
func (w *treeWalker) tooMuchPadding(idx catalog.Index, first int, old, end uint64) bool {
	start, _, _ := idx.Chunk(first)
	head := old - start
	if head <= end-old {
		return false
	}
	return (w.run.padding()+head)*100 > (w.off+end-old)*maxPaddingPercent
}

// padding is the tree's bytes of reused chunks that no entry references.
func (r *reuseRun) padding() uint64 {
	if r.refd > r.append { // only a corrupt previous catalog overlaps files
		return 0
	}
	return r.append - r.refd
}
