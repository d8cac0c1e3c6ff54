package catalog

import (
	"encoding/binary"
	"fmt"
)

// appendEntry appends e's encoding (see the layout in tree.go). The caller
// has checked e, so every length fits its field.
func appendEntry(b []byte, e *Entry) []byte {
	var h [entryFixedSize]byte
	le := binary.LittleEndian
	h[0] = byte(e.Type)
	le.PutUint16(h[2:], uint16(len(e.Name)))
	le.PutUint16(h[4:], uint16(len(e.target())))
	le.PutUint16(h[6:], uint16(len(e.Xattrs)))
	le.PutUint32(h[8:], e.Mode)
	le.PutUint32(h[12:], e.UID)
	le.PutUint32(h[16:], e.GID)
	le.PutUint32(h[20:], e.Nlink)
	le.PutUint64(h[24:], uint64(e.MtimeNs))
	le.PutUint64(h[32:], e.Size)
	le.PutUint64(h[40:], e.Blocks)
	le.PutUint64(h[48:], e.PayloadOffset)
	le.PutUint64(h[56:], e.Rdev)
	le.PutUint64(h[64:], e.Dir.Off)
	le.PutUint64(h[72:], e.Dir.Len)
	b = append(b, h[:]...)
	b = append(b, e.Name...)
	b = append(b, e.target()...)
	for _, x := range e.Xattrs {
		b = le.AppendUint16(b, uint16(len(x.Name)))
		b = le.AppendUint32(b, uint32(len(x.Value)))
		b = append(b, x.Name...)
		b = append(b, x.Value...)
	}
	return b
}

// entryName returns the name of the entry encoded at the start of b, which
// may hold only a prefix of the entry (at least entryFixedSize+MaxNameLen
// bytes, or the whole entry).
func entryName(b []byte) ([]byte, error) {
	if len(b) < entryFixedSize {
		return nil, fmt.Errorf("%w: catalog entry of %d bytes, shorter than %d", ErrFormat, len(b), entryFixedSize)
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	if n > MaxNameLen || entryFixedSize+n > len(b) {
		return nil, fmt.Errorf("%w: catalog entry name of %d bytes does not fit", ErrFormat, n)
	}
	return b[entryFixedSize : entryFixedSize+n], nil
}

// decodeEntry decodes one entry that exactly fills b and validates it.
// limit is the stream offset of the table (or root entry) holding it: a
// directory's DirRef must end at or before it.
func decodeEntry(b []byte, limit uint64) (Entry, error) {
	name, err := entryName(b)
	if err != nil {
		return Entry{}, err
	}
	le := binary.LittleEndian
	e := Entry{
		Name:          string(name),
		Type:          EntryType(b[0]),
		Mode:          le.Uint32(b[8:]),
		UID:           le.Uint32(b[12:]),
		GID:           le.Uint32(b[16:]),
		Nlink:         le.Uint32(b[20:]),
		MtimeNs:       int64(le.Uint64(b[24:])),
		Size:          le.Uint64(b[32:]),
		Blocks:        le.Uint64(b[40:]),
		PayloadOffset: le.Uint64(b[48:]),
		Rdev:          le.Uint64(b[56:]),
		Dir:           DirRef{Off: le.Uint64(b[64:]), Len: le.Uint64(b[72:])},
	}
	if b[1] != 0 {
		return Entry{}, fmt.Errorf("%w: catalog entry %q: reserved fields not zero", ErrFormat, printable(e.Name))
	}
	rest := b[entryFixedSize+len(name):]
	if rest, err = e.decodeTarget(rest, int(le.Uint16(b[4:]))); err != nil {
		return Entry{}, err
	}
	if e.Xattrs, err = decodeXattrs(rest, int(le.Uint16(b[6:]))); err != nil {
		return Entry{}, fmt.Errorf("catalog entry %q: %w", printable(e.Name), err)
	}
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	if e.Type == TypeDir && (e.Dir.Len > limit || e.Dir.Off > limit-e.Dir.Len) {
		return Entry{}, fmt.Errorf("%w: catalog entry %q: directory table [%d, +%d) does not end before %d",
			ErrFormat, printable(e.Name), e.Dir.Off, e.Dir.Len, limit)
	}
	return e, nil
}

func (e *Entry) decodeTarget(b []byte, n int) ([]byte, error) {
	if n > MaxTargetLen || n > len(b) {
		return nil, fmt.Errorf("%w: catalog entry %q: target of %d bytes does not fit", ErrFormat, printable(e.Name), n)
	}
	switch {
	case e.Type == TypeSymlink:
		e.Symlink = string(b[:n])
	case e.Type == TypeHardlink:
		e.Hardlink = string(b[:n])
	case n != 0:
		return nil, fmt.Errorf("%w: catalog entry %q: target on a %v", ErrFormat, printable(e.Name), e.Type)
	}
	return b[n:], nil
}

// decodeXattrs decodes n xattrs that exactly fill b.
func decodeXattrs(b []byte, n int) ([]Xattr, error) {
	if n > MaxXattrs || n*xattrHeaderSize > len(b) {
		return nil, fmt.Errorf("%w: %d xattrs do not fit in %d bytes", ErrFormat, n, len(b))
	}
	if n == 0 {
		if len(b) != 0 {
			return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(b))
		}
		return nil, nil
	}
	xs := make([]Xattr, n)
	for i := range xs {
		if len(b) < xattrHeaderSize {
			return nil, fmt.Errorf("%w: xattr %d truncated", ErrFormat, i)
		}
		nl := int(binary.LittleEndian.Uint16(b))
		vl := uint64(binary.LittleEndian.Uint32(b[2:]))
		if nl > MaxXattrNameLen || vl > MaxXattrValueLen || uint64(xattrHeaderSize+nl)+vl > uint64(len(b)) {
			return nil, fmt.Errorf("%w: xattr %d: name %d, value %d bytes do not fit", ErrFormat, i, nl, vl)
		}
		b = b[xattrHeaderSize:]
		xs[i] = Xattr{Name: string(b[:nl]), Value: append([]byte{}, b[nl:nl+int(vl)]...)}
		b = b[nl+int(vl):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after xattrs", ErrFormat, len(b))
	}
	return xs, nil
}

// dirHeader decodes a table's header, checks the count against the table
// length and returns the offset-array length in bytes.
func dirHeader(h []byte, tableLen uint64) (n int, err error) {
	if string(h[:4]) != dirTag {
		return 0, fmt.Errorf("%w: directory table: bad tag %q", ErrFormat, h[:4])
	}
	c := uint64(binary.LittleEndian.Uint32(h[4:]))
	// Every entry takes 4 offset bytes and at least entryFixedSize+1.
	if c*(4+entryFixedSize+1) > tableLen-dirHeaderSize {
		return 0, fmt.Errorf("%w: directory table: %d entries cannot fit in %d bytes", ErrFormat, c, tableLen)
	}
	return int(c), nil
}

// entrySpan returns entry i's span [start, end) in a table of tableLen
// bytes, given the table's offset array.
func entrySpan(offs []byte, i int, tableLen uint64) (start, end uint64, err error) {
	n := len(offs) / 4
	start = uint64(binary.LittleEndian.Uint32(offs[4*i:]))
	end = tableLen
	if i+1 < n {
		end = uint64(binary.LittleEndian.Uint32(offs[4*i+4:]))
	}
	return start, end, checkSpan(i, n, start, end, tableLen)
}

// checkSpan checks entry i's span [start, end) in a table of n entries and
// tableLen bytes: inside the entry area, at least a fixed part long, and
// the first entry right after the offset array.
func checkSpan(i, n int, start, end, tableLen uint64) error {
	first := uint64(dirHeaderSize + 4*n)
	if start < first || start+entryFixedSize > end || end > tableLen || i == 0 && start != first {
		return fmt.Errorf("%w: directory table: entry %d at [%d, %d) outside [%d, %d) or too short",
			ErrFormat, i, start, end, first, tableLen)
	}
	return nil
}
