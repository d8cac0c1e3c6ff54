package backup

import (
	"fmt"

	"github.com/backupfs/backupfs/catalog"
)

// reuseRun is the stretch of previous payload chunks lo..hi appended last,
// back to back, to the new payload: previous offset o in it is new offset
// o - oldLo + newLo. A file wholly inside it is reused without appending
// anything, even after fresh bytes followed it; the run grows (appends
// chunks hi+1...) only while it is live: nothing was written after it
// (the new stream ends at end).
type reuseRun struct {
	valid  bool
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
		e.PayloadOffset = w.emptyOffset(pe.PayloadOffset)
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
	if w.lacking(idx, first, last) {
		return false, nil // read it: its chunks are uploaded again
	}
	r := &w.run
	inside := r.valid && first >= r.lo && last <= r.hi
	grows := r.valid && w.off == r.end && first >= r.lo && first <= r.hi+1
	if !inside && !grows {
		if w.tooMuchPadding(idx, first, old, end) {
			return false, nil
		}
		if err := w.payload.cw.Flush(); err != nil {
			return false, errWrite{fmt.Errorf("payload: %w", err)}
		}
		start, _, _ := idx.Chunk(first)
		r.valid, r.lo, r.hi, r.oldLo, r.newLo = true, first, first-1, start, w.off
		w.freshSinceRun = 0
	}
	if !inside {
		if err := w.appendRun(idx, last); err != nil {
			return false, err
		}
	}
	r.refd += e.Size
	e.PayloadOffset = old - r.oldLo + r.newLo
	w.reused(e.Size)
	return true, nil
}

// lacking reports whether any previous chunk first..last is one the
// sink's base lacks (dedup.lacks).
func (w *treeWalker) lacking(idx catalog.Index, first, last int) bool {
	for i := first; i <= last; i++ {
		if _, _, d := idx.Chunk(i); w.dd.lacks(d) {
			return true
		}
	}
	return false
}

// appendRun appends the previous chunks after the run's last one up to
// chunk last, by digest.
func (w *treeWalker) appendRun(idx catalog.Index, last int) error {
	r := &w.run
	for i := r.hi + 1; i <= last; i++ {
		s, en, d := idx.Chunk(i)
		if err := w.payload.p.putKnown(d, int(en-s)); err != nil {
			return errWrite{fmt.Errorf("payload: %w", err)}
		}
		w.off += en - s
		r.append += en - s
		r.hi = i
	}
	r.end = w.off
	return nil
}

// emptyOffset places an unchanged empty file whose previous offset was
// old: where the run maps old, as the previous snapshot had it, so an
// unchanged directory's table (and the catalog chunk holding it) stays
// the same; otherwise at the end of the stream. The stream end runs ahead
// of the last reused file (its chunk is appended whole), and empty files
// placed there changed every table of a second backup.
func (w *treeWalker) emptyOffset(old uint64) uint64 {
	r := &w.run
	if r.valid && old >= r.oldLo && old-r.oldLo+r.newLo <= w.off {
		return old - r.oldLo + r.newLo
	}
	return w.off
}

func (w *treeWalker) reused(n uint64) {
	w.stats.Files.Add(1)
	w.stats.ReusedFiles.Add(1)
	w.stats.ReusedBytes.Add(int64(n))
}

// tooMuchPadding reports whether the file at previous [old, end) should
// be read rather than start a run. A run may start with unreferenced bytes
// (the part of its first chunk before the file: usually old versions of
// the files read since the last run, and files reused from an earlier
// copy of that chunk) up to the file's size plus the bytes read since the
// last run started, so padding grows at most about as fast as what
// changed; and no run starts while the tree's padding exceeds
// maxPaddingPercent of the payload so far (reading adds payload without
// padding, so the share falls back). The tail of a run's last chunk is not
// counted here: it usually belongs to the next file, unchanged too.
func (w *treeWalker) tooMuchPadding(idx catalog.Index, first int, old, end uint64) bool {
	start, _, _ := idx.Chunk(first)
	if old-start > end-old+w.freshSinceRun {
		return true
	}
	return w.run.padding()*100 > w.off*maxPaddingPercent
}

// padding is the tree's bytes of reused chunks that no entry references.
func (r *reuseRun) padding() uint64 {
	if r.refd > r.append { // only a corrupt previous catalog overlaps files
		return 0
	}
	return r.append - r.refd
}
