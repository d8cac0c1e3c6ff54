package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// TreeWriter writes a tree metadata catalog: WriteDir once per directory,
// children before parents, then Close with the root entry. It validates
// everything it writes, so a catalog it produced always reads back. It
// does not close the underlying writer. After an error from the
// underlying writer every later call fails.
type TreeWriter struct {
	w      io.Writer
	off    uint64
	err    error // sticky write error
	closed bool
	buf    []byte
	// unused holds the tables written but not yet referenced (Off -> Len):
	// each must be referenced exactly as returned, and at most once, so
	// no two directories share a table and Entry.Pos stays unique.
	unused map[uint64]uint64
}

// NewTreeWriter returns a writer appending a catalog stream to w.
func NewTreeWriter(w io.Writer) *TreeWriter { return &TreeWriter{w: w, unused: map[uint64]uint64{}} }

// Size returns the number of bytes written so far.
func (w *TreeWriter) Size() uint64 { return w.off }

var errTreeClosed = errors.New("catalog: tree writer closed")

// WriteDir writes one directory's table and returns where it lives.
// entries must be sorted by name (bytewise) with unique, valid names (no
// "/", NUL, "", "." or ".."); a directory entry carries the DirRef that an
// earlier WriteDir returned for it; each DirRef may be used once. Entry.Pos
// is ignored.
func (w *TreeWriter) WriteDir(entries []Entry) (DirRef, error) {
	if err := w.usable(); err != nil {
		return DirRef{}, err
	}
	if err := w.checkEntries(entries); err != nil {
		return DirRef{}, err
	}
	b := append(w.buf[:0], dirTag...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	b = append(b, make([]byte, 4*len(entries))...)
	for i := range entries {
		if len(b) > MaxDirTableSize {
			break
		}
		binary.LittleEndian.PutUint32(b[dirHeaderSize+4*i:], uint32(len(b)))
		b = appendEntry(b, &entries[i])
	}
	if cap(b) <= 1<<20 {
		w.buf = b // reuse small buffers; let big ones go
	}
	if len(b) > MaxDirTableSize {
		return DirRef{}, fmt.Errorf("%w: directory table of more than %d bytes", ErrFormat, MaxDirTableSize)
	}
	ref := DirRef{Off: w.off, Len: uint64(len(b))}
	if err := w.write(b); err != nil {
		return DirRef{}, err
	}
	w.use(entries...)
	w.unused[ref.Off] = ref.Len
	return ref, nil
}

func (w *TreeWriter) checkEntries(entries []Entry) error {
	if uint64(len(entries)) > MaxDirTableSize/(4+entryFixedSize+1) {
		return fmt.Errorf("%w: %d entries cannot fit in one directory table", ErrFormat, len(entries))
	}
	used := map[uint64]bool{}
	for i := range entries {
		e := &entries[i]
		if e.Type == TypeDir && used[e.Dir.Off] {
			return fmt.Errorf("%w: entry %q: DirRef used twice", ErrFormat, printable(e.Name))
		}
		used[e.Dir.Off] = e.Type == TypeDir
		if err := validName(e.Name); err != nil {
			return err
		}
		if i > 0 && entries[i-1].Name >= e.Name {
			return fmt.Errorf("%w: entry %q: names not sorted or not unique", ErrFormat, printable(e.Name))
		}
		if err := w.checkEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// checkEntry validates e and, for a directory, that its DirRef is one that
// WriteDir returned and no entry has used yet.
func (w *TreeWriter) checkEntry(e *Entry) error {
	if err := e.check(); err != nil {
		return err
	}
	if n, ok := w.unused[e.Dir.Off]; e.Type == TypeDir && (!ok || n != e.Dir.Len) {
		return fmt.Errorf("%w: entry %q: DirRef [%d, +%d) not returned by WriteDir, or already used",
			ErrFormat, printable(e.Name), e.Dir.Off, e.Dir.Len)
	}
	return nil
}

// use marks the DirRefs of the directories in entries as used.
func (w *TreeWriter) use(entries ...Entry) {
	for i := range entries {
		if entries[i].Type == TypeDir {
			delete(w.unused, entries[i].Dir.Off)
		}
	}
}

// Close writes the root entry and the trailer. root must be a TypeDir
// entry named "" whose Dir is the root table's DirRef. The catalog is
// complete only when Close returns nil.
func (w *TreeWriter) Close(root Entry) error {
	if err := w.usable(); err != nil {
		return err
	}
	if root.Name != "" || root.Type != TypeDir {
		return fmt.Errorf("%w: root entry: want a TypeDir named \"\", have %v %q", ErrFormat, root.Type, printable(root.Name))
	}
	if err := w.checkEntry(&root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	b := appendEntry(w.buf[:0], &root)
	rootLen := len(b)
	b = append(b, TreeMagic...)
	b = binary.LittleEndian.AppendUint32(b, TreeVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(rootLen))
	b = binary.LittleEndian.AppendUint64(b, w.off)
	b = binary.LittleEndian.AppendUint64(b, 0)
	if err := w.write(b); err != nil {
		return err
	}
	w.use(root)
	w.closed = true
	return nil
}

func (w *TreeWriter) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errTreeClosed
	}
	return nil
}

func (w *TreeWriter) write(b []byte) error {
	n, err := w.w.Write(b)
	w.off += uint64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("catalog: writing tree: %w", err)
	}
	return w.err
}
