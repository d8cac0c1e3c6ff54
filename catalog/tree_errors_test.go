package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// countingReaderAt records every read.
type countingReaderAt struct {
	r     io.ReaderAt
	mu    sync.Mutex
	reads [][2]uint64 // [off, end)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]uint64{uint64(off), uint64(off) + uint64(len(p))})
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// take returns the reads so far and forgets them.
func (c *countingReaderAt) take() [][2]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = nil
	return r
}

// checkReadsWithin fails unless every read lies in [off, end); it returns
// the bytes read.
func checkReadsWithin(t *testing.T, what string, reads [][2]uint64, off, end uint64) uint64 {
	t.Helper()
	var total uint64
	for _, r := range reads {
		if r[0] < off || r[1] > end {
			t.Errorf("%s: read [%d, %d) outside [%d, %d)", what, r[0], r[1], off, end)
		}
		total += r[1] - r[0]
	}
	if len(reads) == 0 {
		t.Errorf("%s: no reads", what)
	}
	return total
}

func TestTreeReadsOnlyOneDirectory(t *testing.T) {
	_, cat, _ := openTestTree(t)
	c := &countingReaderAt{r: bytes.NewReader(cat)}
	r, err := NewTreeReader(c, int64(len(cat)))
	if err != nil {
		t.Fatal(err)
	}
	root := r.Root()
	checkReadsWithin(t, "NewTreeReader", c.take(), root.Pos, uint64(len(cat)))

	big, err := r.Lookup(root, "big")
	if err != nil || big.Name != "big" || big.Type != TypeDir {
		t.Fatalf("Lookup(root, big) = %q (type %v), %v; want the directory", big.Name, big.Type, err)
	}
	checkReadsWithin(t, "Lookup(root, big)", c.take(), root.Dir.Off, root.Dir.Off+root.Dir.Len)

	d := big.Dir
	for _, name := range []string{"f00000", "f05000", "f09999", "f05000x", "a", "z"} {
		e, err := r.Lookup(big, name)
		want := len(name) == 6 // f00000..f09999 exist; the others do not
		switch {
		case want && (err != nil || e.Name != name || e.Type != TypeFile):
			t.Errorf("Lookup(big, %s) = %q (type %v), %v; want the file", name, e.Name, e.Type, err)
		case !want && !errors.Is(err, ErrNotExist):
			t.Errorf("Lookup(big, %s) = %q, %v; want ErrNotExist", name, e.Name, err)
		}
		n := checkReadsWithin(t, "Lookup(big, "+name+")", c.take(), d.Off, d.Off+d.Len)
		// The header, then about log2(10000) = 14 probes of two offsets and
		// one small entry each: a few KiB of a 1 MiB table.
		if limit := 8 + 16*(8+200) + 200; n > uint64(limit) {
			t.Errorf("Lookup(big, %s) read %d bytes, want at most %d", name, n, limit)
		}
	}
	entries, err := r.ReadDir(big)
	if err != nil || len(entries) != 10000 {
		t.Fatalf("ReadDir(big) = %d entries, %v", len(entries), err)
	}
	if n := checkReadsWithin(t, "ReadDir(big)", c.take(), d.Off, d.Off+d.Len); n != d.Len {
		t.Errorf("ReadDir(big) read %d bytes, table has %d", n, d.Len)
	}
}

// Raw builders that bypass the writer's checks, to forge bad catalogs.

func rawEntry(e Entry) []byte { return appendEntry(nil, &e) }

func rawTable(entries ...[]byte) []byte {
	b := append([]byte(dirTag), make([]byte, 4+4*len(entries))...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(entries)))
	for i, e := range entries {
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(len(b)))
		b = append(b, e...)
	}
	return b
}

// rawCatalog appends a root entry pointing at the table at rootDir and a trailer.
func rawCatalog(body []byte, rootDir DirRef) []byte {
	return rawCatalogRoot(body, rawEntry(Entry{Type: TypeDir, Mode: 0o755, Dir: rootDir}))
}

func rawCatalogRoot(body, root []byte) []byte {
	b := append(append([]byte(nil), body...), root...)
	b = append(b, TreeMagic...)
	b = binary.LittleEndian.AppendUint32(b, TreeVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(root)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(body)))
	return binary.LittleEndian.AppendUint64(b, 0)
}

// oneDir is a catalog whose root table holds the given entries.
func oneDir(entries ...[]byte) []byte {
	t := rawTable(entries...)
	return rawCatalog(t, DirRef{0, uint64(len(t))})
}

func fileEntry(name string) Entry { return Entry{Name: name, Type: TypeFile, Mode: 0o644} }

func mutated(e Entry, f func(*Entry)) []byte { f(&e); return rawEntry(e) }

func patch(b []byte, off int, v ...byte) []byte {
	b = append([]byte(nil), b...)
	if off < 0 {
		off += len(b)
	}
	copy(b[off:], v)
	return b
}

func TestTreeReaderMalformed(t *testing.T) {
	f := fileEntry
	good := oneDir(rawEntry(f("a")), rawEntry(f("b")))
	tr := len(good) - TreeTrailerSize
	sub := rawTable(rawEntry(f("x")))
	subRef := DirRef{0, uint64(len(sub))}
	dirAt := func(ref DirRef) []byte { return rawEntry(Entry{Name: "d", Type: TypeDir, Dir: ref}) }
	selfTable := rawTable(dirAt(DirRef{0, 8 + 4 + uint64(len(dirAt(DirRef{})))}))
	u32 := func(off int, v uint32) []byte { return patch(good, off, binary.LittleEndian.AppendUint32(nil, v)...) }
	tests := []struct {
		name string
		cat  []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"short", good[:TreeTrailerSize-1], ErrFormat},
		{"truncated", good[:len(good)-1], ErrFormat},
		{"cut at front", good[1:], ErrFormat},
		{"bad magic", patch(good, tr, 'X'), ErrFormat},
		{"bad version", u32(tr+8, 2), ErrVersion},
		{"root length too big", u32(tr+12, uint32(tr+1)), ErrFormat},
		{"root length off", u32(tr+12, 81), ErrFormat},
		{"reserved trailer", patch(good, -1, 1), ErrFormat},
		{"root not a dir", rawCatalogRoot(nil, rawEntry(f(""))), ErrFormat},
		{"root with name", rawCatalogRoot(sub, rawEntry(Entry{Name: "r", Type: TypeDir, Dir: subRef})), ErrFormat},
		{"root table past root", rawCatalog(sub, DirRef{0, uint64(len(sub)) + 1}), ErrFormat},
		{"root table huge", rawCatalog(sub, DirRef{1 << 62, 1 << 62}), ErrFormat},
		{"root table tiny", rawCatalog(sub, DirRef{0, 4}), ErrFormat},
		{"bad table tag", patch(good, 0, 'X'), ErrFormat},
		{"count too big", patch(good, 4, 3), ErrFormat},
		{"count huge", patch(good, 4, 0xff, 0xff, 0xff, 0xff), ErrFormat},
		{"first offset wrong", patch(good, 8, 17), ErrFormat},
		{"offset past end", patch(good, 12, 0xff, 0xff), ErrFormat},
		{"offsets decreasing", patch(good, 12, 16), ErrFormat},
		{"unsorted", oneDir(rawEntry(f("b")), rawEntry(f("a"))), ErrFormat},
		{"duplicate", oneDir(rawEntry(f("a")), rawEntry(f("a"))), ErrFormat},
		{"empty name", oneDir(rawEntry(f(""))), ErrFormat},
		{"dot name", oneDir(rawEntry(f("."))), ErrFormat},
		{"dotdot name", oneDir(rawEntry(f(".."))), ErrFormat},
		{"slash name", oneDir(rawEntry(f("a/b"))), ErrFormat},
		{"NUL name", oneDir(rawEntry(f("a\x00"))), ErrFormat},
		{"long name", oneDir(rawEntry(f(strings.Repeat("n", MaxNameLen+1)))), ErrFormat},
		{"type 0", oneDir(mutated(f("a"), func(e *Entry) { e.Type = 0 })), ErrFormat},
		{"type 8", oneDir(mutated(f("a"), func(e *Entry) { e.Type = 8 })), ErrFormat},
		{"mode bits", oneDir(mutated(f("a"), func(e *Entry) { e.Mode = 0o10644 })), ErrFormat},
		{"reserved entry byte", oneDir(patch(rawEntry(f("a")), 1, 1)), ErrFormat},
		{"nlink on a symlink", oneDir(patch(rawEntry(Entry{Name: "s", Type: TypeSymlink, Symlink: "abc", Size: 3}), 20, 1)), ErrFormat},
		{"entry trailing byte", oneDir(append(rawEntry(f("a")), 0)), ErrFormat},
		{"name past entry", oneDir(patch(rawEntry(f("a")), 2, 2)), ErrFormat},
		{"target past entry", oneDir(patch(rawEntry(f("a")), 4, 9)), ErrFormat},
		{"xattrs past entry", oneDir(patch(rawEntry(f("a")), 6, 1)), ErrFormat},
		{"rdev on file", oneDir(mutated(f("a"), func(e *Entry) { e.Rdev = 1 })), ErrFormat},
		{"dirref on file", oneDir(mutated(f("a"), func(e *Entry) { e.Dir = DirRef{0, 8} })), ErrFormat},
		{"target on file", oneDir(mutated(f("a"), func(e *Entry) { e.Symlink = "x" })), ErrFormat},
		{"symlink size", oneDir(rawEntry(Entry{Name: "s", Type: TypeSymlink, Symlink: "abc", Size: 4})), ErrFormat},
		{"symlink empty", oneDir(rawEntry(Entry{Name: "s", Type: TypeSymlink})), ErrFormat},
		{"hardlink absolute", oneDir(rawEntry(Entry{Name: "h", Type: TypeHardlink, Hardlink: "/etc/x"})), ErrFormat},
		{"hardlink dotdot", oneDir(rawEntry(Entry{Name: "h", Type: TypeHardlink, Hardlink: "a/../b"})), ErrFormat},
		{"payload overflow", oneDir(mutated(f("a"), func(e *Entry) { e.Size, e.PayloadOffset = 2, ^uint64(0) })), ErrFormat},
		{"xattrs unsorted", oneDir(mutated(f("a"), func(e *Entry) { e.Xattrs = []Xattr{{"b", nil}, {"a", nil}} })), ErrFormat},
		{"xattrs duplicate", oneDir(mutated(f("a"), func(e *Entry) { e.Xattrs = []Xattr{{"a", nil}, {"a", nil}} })), ErrFormat},
		{"xattr empty name", oneDir(mutated(f("a"), func(e *Entry) { e.Xattrs = []Xattr{{"", nil}} })), ErrFormat},
		{"xattr long name", oneDir(mutated(f("a"), func(e *Entry) { e.Xattrs = []Xattr{{strings.Repeat("x", 256), nil}} })), ErrFormat},
		{"xattr long value", oneDir(mutated(f("a"), func(e *Entry) { e.Xattrs = []Xattr{{"a", make([]byte, MaxXattrValueLen+1)}} })), ErrFormat},
		{"dir table points at itself", rawCatalog(selfTable, DirRef{0, uint64(len(selfTable))}), ErrFormat},
		{"dir table points forward", rawCatalog(append(rawTable(dirAt(DirRef{70, uint64(len(sub))})), sub...), DirRef{0, 70}), ErrFormat},
		{"dir table outside stream", oneDir(dirAt(DirRef{1 << 40, 8})), ErrFormat},
		{"dir table too short", oneDir(dirAt(DirRef{0, 7})), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := walkCatalog(tt.cat, 1000)
			if !errors.Is(err, tt.want) {
				t.Fatalf("walk = %v, want %v", err, tt.want)
			}
		})
	}
	if err := walkCatalog(good, 1000); err != nil {
		t.Fatalf("good catalog: %v", err)
	}
}

// walkCatalog opens cat and reads, looks up and opens everything in it,
// visiting at most limit entries; it returns the first error.
func walkCatalog(cat []byte, limit int) error {
	r, err := NewTreeReader(bytes.NewReader(cat), int64(len(cat)))
	if err != nil {
		return err
	}
	queue := []Entry{r.Root()}
	for len(queue) > 0 && limit > 0 {
		d := queue[0]
		queue = queue[1:]
		kids, err := r.ReadDir(d)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if limit--; limit < 0 {
				break
			}
			got, err := r.Lookup(d, k.Name)
			if err != nil {
				return err
			}
			if got.Pos != k.Pos {
				return errors.New("Lookup and ReadDir disagree")
			}
			if k.Type == TypeDir {
				queue = append(queue, k)
			}
		}
	}
	return nil
}
