package catalog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestTreeWriterErrors(t *testing.T) {
	f := fileEntry
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"unsorted", []Entry{f("b"), f("a")}},
		{"duplicate", []Entry{f("a"), f("a")}},
		{"empty name", []Entry{f("")}},
		{"dot", []Entry{f(".")}},
		{"dotdot", []Entry{f("..")}},
		{"slash", []Entry{f("a/b")}},
		{"NUL", []Entry{f("a\x00b")}},
		{"long name", []Entry{f(strings.Repeat("a", MaxNameLen+1))}},
		{"type", []Entry{{Name: "a", Type: 9}}},
		{"mode", []Entry{{Name: "a", Type: TypeFile, Mode: 0o100644}}},
		{"symlink size", []Entry{{Name: "a", Type: TypeSymlink, Symlink: "x"}}},
		{"symlink long", []Entry{{Name: "a", Type: TypeSymlink, Symlink: strings.Repeat("x", 4097), Size: 4097}}},
		{"symlink on file", []Entry{{Name: "a", Type: TypeFile, Symlink: "x"}}},
		{"hardlink empty", []Entry{{Name: "a", Type: TypeHardlink}}},
		{"rdev on fifo", []Entry{{Name: "a", Type: TypeFifo, Rdev: 5}}},
		{"dir without table", []Entry{{Name: "a", Type: TypeDir}}},
		{"dir table not written", []Entry{{Name: "a", Type: TypeDir, Dir: DirRef{0, 8}}}},
		{"too many xattrs", []Entry{{Name: "a", Type: TypeFile, Xattrs: make([]Xattr, MaxXattrs+1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewTreeWriter(io.Discard)
			if _, err := w.WriteDir(tt.entries); !errors.Is(err, ErrFormat) {
				t.Fatalf("WriteDir = %v, want ErrFormat", err)
			}
			if w.Size() != 0 {
				t.Fatalf("a refused WriteDir wrote %d bytes", w.Size())
			}
		})
	}
}

func TestTreeWriterDirRefOnce(t *testing.T) {
	w := NewTreeWriter(io.Discard)
	a, _ := w.WriteDir(nil)
	b, _ := w.WriteDir(nil)
	d := func(name string, ref DirRef) Entry { return Entry{Name: name, Type: TypeDir, Dir: ref} }
	for _, entries := range [][]Entry{
		{d("x", a), d("y", a)},                 // shared in one call
		{d("x", DirRef{a.Off, a.Len + 1})},     // not as returned
		{d("x", DirRef{a.Off + 1, a.Len - 1})}, // not a table start
	} {
		if _, err := w.WriteDir(entries); !errors.Is(err, ErrFormat) {
			t.Errorf("WriteDir(%+v) = %v, want ErrFormat", entries, err)
		}
	}
	if _, err := w.WriteDir([]Entry{fileEntry("a"), d("x", a)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteDir([]Entry{d("x", a)}); !errors.Is(err, ErrFormat) {
		t.Errorf("second use of a DirRef: %v, want ErrFormat", err)
	}
	if err := w.Close(Entry{Type: TypeDir, Dir: a}); !errors.Is(err, ErrFormat) {
		t.Errorf("Close with a used DirRef: %v, want ErrFormat", err)
	}
	if err := w.Close(Entry{Type: TypeDir, Dir: b}); err != nil {
		t.Fatal(err)
	}
}

func TestTreeWriterClose(t *testing.T) {
	w := NewTreeWriter(io.Discard)
	ref, err := w.WriteDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []Entry{
		{Type: TypeDir, Dir: DirRef{0, 9}},
		{Name: "x", Type: TypeDir, Dir: ref},
		{Type: TypeFile},
	} {
		if err := w.Close(root); !errors.Is(err, ErrFormat) {
			t.Errorf("Close(%+v) = %v, want ErrFormat", root, err)
		}
	}
	if err := w.Close(Entry{Type: TypeDir, Dir: ref}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteDir(nil); err == nil {
		t.Error("WriteDir after Close succeeded")
	}
	if err := w.Close(Entry{Type: TypeDir, Dir: ref}); err == nil {
		t.Error("second Close succeeded")
	}

	w = NewTreeWriter(&failWriter{n: 1})
	if _, err := w.WriteDir(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteDir(nil); err == nil {
		t.Fatal("WriteDir to a failing writer succeeded")
	}
	if err := w.Close(Entry{Type: TypeDir, Dir: ref}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close after a write error = %v", err)
	}
}

func TestTreeEmptyRoot(t *testing.T) {
	var buf bytes.Buffer
	w := NewTreeWriter(&buf)
	ref, err := w.WriteDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(Entry{Type: TypeDir, Mode: 0o755, Dir: ref}); err != nil {
		t.Fatal(err)
	}
	r, err := NewTreeReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if list, err := r.ReadDir(r.Root()); err != nil || len(list) != 0 {
		t.Fatalf("ReadDir(root) = %v, %v", list, err)
	}
	if _, err := r.Lookup(r.Root(), "a"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Lookup = %v", err)
	}
	if _, err := r.ReadDir(Entry{Type: TypeFile}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("ReadDir(file) = %v", err)
	}
	if _, err := r.ReadDir(Entry{Type: TypeDir, Dir: DirRef{1, 8}}); !errors.Is(err, ErrFormat) {
		t.Fatalf("ReadDir(bad ref) = %v", err)
	}
}
