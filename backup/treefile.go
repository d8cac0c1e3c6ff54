package backup

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// file writes a regular file's contents to the payload stream, or reuses
// them from the previous snapshot (prev) when the file is unchanged, or
// records a later link of a multiply-linked file as a hardlink to the first.
func (w *treeWalker) file(path, rel string, e catalog.Entry, st *unix.Stat_t, prev *catalog.Entry) (catalog.Entry, bool, error) {
	key := devIno{uint64(st.Dev), st.Ino}
	if st.Nlink > 1 {
		if first, ok := w.links[key]; ok {
			link := first
			link.Name, link.Type, link.Hardlink, link.Dir = e.Name, catalog.TypeHardlink, first.Hardlink, catalog.DirRef{}
			w.stats.Files.Add(1)
			return link, true, nil
		}
	}
	if w.dryRun {
		e.PayloadOffset = w.off
		w.off += e.Size
		w.stats.Files.Add(1)
		w.stats.DryRunBytes.Add(int64(e.Size))
		w.firstLink(key, rel, e, st)
		return e, true, nil
	}
	if ok, err := w.reuse(&e, prev); err != nil {
		return e, false, err
	} else if ok {
		w.firstLink(key, rel, e, st)
		return e, true, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOATIME|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.EPERM) {
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0) // O_NOATIME needs ownership
	}
	if err != nil {
		return w.unreadable(path, err)
	}
	defer f.Close()
	e.PayloadOffset = w.off
	if err := w.copyFile(f, int64(e.Size)); isWriteErr(err) {
		return e, false, err
	} else if err != nil {
		return w.unreadable(path, err) // bytes already sent stay unreferenced
	}
	w.stats.Files.Add(1)
	w.freshSinceRun += e.Size
	w.firstLink(key, rel, e, st)
	return e, true, nil
}

// firstLink remembers the first link of a multiply-linked file: later
// links point to it (rel) and share its contents.
func (w *treeWalker) firstLink(key devIno, rel string, e catalog.Entry, st *unix.Stat_t) {
	if st.Nlink > 1 {
		first := e
		first.Hardlink = rel
		w.links[key] = first
	}
}

// copyFile appends exactly size bytes to the payload: the file's data,
// with holes of sparse files written as zeros without reading them. A file
// that shrinks while read is padded with zeros and reported; one that
// grows is cut at size, so the catalog and the payload always agree.
// A read error ends the copy with a plain error: the caller leaves the file
// out, and the bytes already sent stay in the payload unreferenced.
func (w *treeWalker) copyFile(f *os.File, size int64) error {
	holes := newHoleFinder(f, size)
	for off := int64(0); off < size; {
		n := min(int64(len(w.buf)), size-off)
		chunk := w.buf[:n]
		if holes.isHole(off, n) {
			clear(chunk)
		} else if m, err := f.ReadAt(chunk, off); err != nil {
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("read at %d: %w", off, err)
			}
			clear(chunk[m:])
			w.warn(fmt.Errorf("%s: shrank while read, padded with zeros", f.Name()))
		}
		if _, err := w.payload.cw.Write(chunk); err != nil {
			return errWrite{fmt.Errorf("payload: %w", err)}
		}
		off += n
		w.off += uint64(n)
	}
	return nil
}
