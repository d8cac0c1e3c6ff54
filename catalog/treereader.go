package catalog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// TreeReader reads a tree metadata catalog at random through an
// io.ReaderAt. It holds only the root entry; every call reads the bytes it
// needs and nothing else, so it is safe for concurrent use if the
// ReaderAt is. It caches nothing: callers (the FUSE layer) cache entries.
type TreeReader struct {
	r       io.ReaderAt
	rootOff uint64 // where the root entry starts; every table ends before it
	root    Entry
}

// NewTreeReader opens a catalog stream of size bytes. It reads only the
// trailer and the root entry.
func NewTreeReader(r io.ReaderAt, size int64) (*TreeReader, error) {
	if size < TreeTrailerSize {
		return nil, fmt.Errorf("%w: tree catalog of %d bytes, shorter than its trailer", ErrFormat, size)
	}
	var t [TreeTrailerSize]byte
	if err := readFull(r, t[:], uint64(size)-TreeTrailerSize); err != nil {
		return nil, fmt.Errorf("tree catalog trailer: %w", err)
	}
	if string(t[:8]) != TreeMagic {
		return nil, fmt.Errorf("%w: tree catalog: bad magic %q", ErrFormat, t[:8])
	}
	if v := binary.LittleEndian.Uint32(t[8:]); v != TreeVersion {
		return nil, fmt.Errorf("%w: tree catalog version %d, this build reads %d", ErrVersion, v, TreeVersion)
	}
	rootLen := uint64(binary.LittleEndian.Uint32(t[12:]))
	rootOff := binary.LittleEndian.Uint64(t[16:])
	end := uint64(size) - TreeTrailerSize
	if binary.LittleEndian.Uint64(t[24:]) != 0 || rootLen > end || rootOff != end-rootLen {
		return nil, fmt.Errorf("%w: tree catalog: root entry [%d, +%d) does not end at the trailer (%d)", ErrFormat, rootOff, rootLen, end)
	}
	b := make([]byte, rootLen)
	if err := readFull(r, b, rootOff); err != nil {
		return nil, fmt.Errorf("tree catalog root entry: %w", err)
	}
	root, err := decodeEntry(b, rootOff)
	if err != nil {
		return nil, fmt.Errorf("tree catalog root: %w", err)
	}
	if root.Name != "" || root.Type != TypeDir {
		return nil, fmt.Errorf("%w: tree catalog root: a %v named %q", ErrFormat, root.Type, printable(root.Name))
	}
	root.Pos = rootOff
	return &TreeReader{r: r, rootOff: rootOff, root: root}, nil
}

// readFull reads exactly len(b) bytes at off; a short read is ErrFormat
// (the catalog claims bytes the stream does not have).
func readFull(r io.ReaderAt, b []byte, off uint64) error {
	if off > 1<<62 {
		return fmt.Errorf("%w: offset %d out of range", ErrFormat, off)
	}
	n, err := r.ReadAt(b, int64(off))
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: %d bytes at %d: stream ends after %d", ErrFormat, len(b), off, n)
	}
	return err
}

// Root returns the root directory entry.
func (r *TreeReader) Root() Entry { return r.root }

// checkDir checks that dir is a directory whose table lies before the root.
func (r *TreeReader) checkDir(dir *Entry) error {
	if dir.Type != TypeDir {
		return fmt.Errorf("%w: %q is a %v, not a directory (%w)", ErrNotExist, printable(dir.Name), dir.Type, fs.ErrNotExist)
	}
	d := dir.Dir
	if d.Len < dirHeaderSize || d.Len > MaxDirTableSize || d.Len > r.rootOff || d.Off > r.rootOff-d.Len {
		return fmt.Errorf("%w: directory %q: table [%d, +%d) outside the catalog", ErrFormat, printable(dir.Name), d.Off, d.Len)
	}
	return nil
}

// ReadDir returns dir's entries, sorted by name. It reads only dir's table.
func (r *TreeReader) ReadDir(dir Entry) ([]Entry, error) {
	if err := r.checkDir(&dir); err != nil {
		return nil, err
	}
	t := make([]byte, dir.Dir.Len)
	if err := readFull(r.r, t, dir.Dir.Off); err != nil {
		return nil, fmt.Errorf("directory %q: %w", printable(dir.Name), err)
	}
	n, err := dirHeader(t, dir.Dir.Len)
	if err != nil {
		return nil, err
	}
	offs := t[dirHeaderSize : dirHeaderSize+4*n]
	entries := make([]Entry, n)
	for i := range entries {
		start, end, err := entrySpan(offs, i, dir.Dir.Len)
		if err != nil {
			return nil, err
		}
		if entries[i], err = r.tableEntry(t[start:end], dir.Dir, start); err != nil {
			return nil, err
		}
		if i > 0 && entries[i-1].Name >= entries[i].Name {
			return nil, fmt.Errorf("%w: directory %q: names not sorted at %q", ErrFormat, printable(dir.Name), printable(entries[i].Name))
		}
	}
	return entries, nil
}

// tableEntry decodes an entry found at offset start of table d.
func (r *TreeReader) tableEntry(b []byte, d DirRef, start uint64) (Entry, error) {
	e, err := decodeEntry(b, d.Off)
	if err != nil {
		return Entry{}, err
	}
	if err := validName(e.Name); err != nil {
		return Entry{}, err
	}
	e.Pos = d.Off + start
	return e, nil
}

// Lookup returns the entry called name in dir by binary search: it reads
// dir's table header, then per probe two offsets and the probed entry's
// name, then the entry found, all inside dir's table. A missing name wraps
// both ErrNotExist and fs.ErrNotExist.
func (r *TreeReader) Lookup(dir Entry, name string) (Entry, error) {
	if err := r.checkDir(&dir); err != nil {
		return Entry{}, err
	}
	d := dir.Dir
	var h [dirHeaderSize]byte
	if err := readFull(r.r, h[:], d.Off); err != nil {
		return Entry{}, fmt.Errorf("directory %q: %w", printable(dir.Name), err)
	}
	n, err := dirHeader(h[:], d.Len)
	if err != nil {
		return Entry{}, err
	}
	buf := make([]byte, 512) // holds most probed entries whole
	for lo, hi := 0, n; lo < hi; {
		m := int(uint(lo+hi) >> 1)
		start, end, err := r.probeSpan(d, n, m)
		if err != nil {
			return Entry{}, err
		}
		b := buf
		if size := min(end-start, entryFixedSize+MaxNameLen); size <= uint64(len(buf)) {
			b = buf[:size]
		} else {
			b = make([]byte, size)
		}
		if err := readFull(r.r, b, d.Off+start); err != nil {
			return Entry{}, fmt.Errorf("directory %q: %w", printable(dir.Name), err)
		}
		got, err := entryName(b)
		if err != nil {
			return Entry{}, err
		}
		switch c := bytes.Compare(got, []byte(name)); {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			return r.readEntry(b, d, start, end)
		}
	}
	return Entry{}, fmt.Errorf("%w: %q in directory %q (%w)", ErrNotExist, printable(name), printable(dir.Name), fs.ErrNotExist)
}

// probeSpan reads entry i's span from the offset array of table d (n entries).
func (r *TreeReader) probeSpan(d DirRef, n, i int) (start, end uint64, err error) {
	var b [8]byte
	k := 8
	if i == n-1 {
		k = 4 // the last entry ends at the table's end
	}
	if err := readFull(r.r, b[:k], d.Off+dirHeaderSize+4*uint64(i)); err != nil {
		return 0, 0, err
	}
	start, end = uint64(binary.LittleEndian.Uint32(b[:])), d.Len
	if k == 8 {
		end = uint64(binary.LittleEndian.Uint32(b[4:]))
	}
	return start, end, checkSpan(i, n, start, end, d.Len)
}

// readEntry decodes the entry at [start, end) of table d, of which b holds
// a prefix.
func (r *TreeReader) readEntry(b []byte, d DirRef, start, end uint64) (Entry, error) {
	if uint64(len(b)) < end-start {
		b = append(b, make([]byte, end-start-uint64(len(b)))...)
		if err := readFull(r.r, b[entryFixedSize+MaxNameLen:], d.Off+start+entryFixedSize+MaxNameLen); err != nil {
			return Entry{}, err
		}
	}
	return r.tableEntry(b, d, start)
}

// LookupPath returns the entry at p, a slash-separated archive path
// checked by ValidPath; "" and "." are the root. It does not follow
// symlinks: a symlink inside p is not a directory and gives ErrNotExist.
func (r *TreeReader) LookupPath(p string) (Entry, error) {
	if err := ValidPath(p); err != nil {
		return Entry{}, err
	}
	e := r.root
	if p == "" || p == "." {
		return e, nil
	}
	for el := range strings.SplitSeq(p, "/") {
		var err error
		if e, err = r.Lookup(e, el); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
}
