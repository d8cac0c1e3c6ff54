package catalog

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestTreeFS(t *testing.T) {
	r, _, payload := openTestTree(t)
	fsys := r.FS(bytes.NewReader(payload))
	err := fstest.TestFS(fsys, "bin", "dev/null", "dev/sda", "dev/initctl", "empty", "etc/hosts", "etc/link-to-hosts",
		"etc/rel", "big/f00000", "big/f09999", "usr/bin/tool", "sparse", "sticky/g")
	if err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSContents(t *testing.T) {
	r, _, payload := openTestTree(t)
	fsys := r.FS(bytes.NewReader(payload))
	tests := []struct{ name, want string }{
		{"etc/hosts", "127.0.0.1 localhost\n"},
		{"etc/link-to-hosts", "127.0.0.1 localhost\n"},
		{"etc/rel", "#!/bin/sh\necho hi\n"},
		{"bin/tool", "#!/bin/sh\necho hi\n"},
		{"etc/dot/dot/passwd", "root:x:0:0::/root:/bin/sh\n"},
		{"big/f01234", "content of 1234\n"},
		{"dev/null", ""},
		{"sparse", string(make([]byte, 64<<10))},
	}
	for _, tt := range tests {
		got, err := fs.ReadFile(fsys, tt.name)
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	info, err := fs.Stat(fsys, "etc/link-to-hosts")
	if err != nil {
		t.Fatal(err)
	}
	e := info.Sys().(*Entry)
	if !info.Mode().IsRegular() || e.Type != TypeHardlink || e.Hardlink != "etc/hosts" || len(e.Xattrs) != 3 {
		t.Errorf("Stat(link-to-hosts) = %v, %+v", info.Mode(), e)
	}
	if l, err := fs.ReadLink(fsys, "etc/rel"); err != nil || l != "../usr/bin/tool" {
		t.Errorf("ReadLink = %q, %v", l, err)
	}
	if _, err := fs.ReadLink(fsys, "etc/hosts"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink(file) = %v, want ErrInvalid", err)
	}
	if info, err := fs.Lstat(fsys, "bin"); err != nil || info.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat(bin) = %v, %v", info, err)
	}
	if info, err := fs.Stat(fsys, "bin"); err != nil || !info.IsDir() || info.Name() != "bin" {
		t.Errorf("Stat(bin) = %v, %v", info, err)
	}
}

func TestTreeFSSymlinkErrors(t *testing.T) {
	root := dir("", 0o755,
		symlink("abs", "/etc/passwd"),
		symlink("up", "../outside"),
		symlink("deep", "a/../../outside"),
		symlink("dangling", "nope"),
		symlink("loop1", "loop2"),
		symlink("loop2", "loop1"),
		symlink("self", "self/x"),
		file("f", "data", 0o644),
	)
	cat, payload, _ := buildTree(t, root)
	r, err := NewTreeReader(bytes.NewReader(cat), int64(len(cat)))
	if err != nil {
		t.Fatal(err)
	}
	fsys := r.FS(bytes.NewReader(payload))
	for _, name := range []string{"abs", "up", "deep", "dangling", "f/x", "abs/x"} {
		_, err := fsys.Open(name)
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != name {
			t.Errorf("Open(%q) = %v, want a *PathError for it wrapping fs.ErrNotExist", name, err)
		}
	}
	for _, name := range []string{"loop1", "self", "/f", "f/", "./f"} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want fs.ErrInvalid", name, err)
		}
	}
	if info, err := fs.Lstat(fsys, "abs"); err != nil || info.Size() != int64(len("/etc/passwd")) {
		t.Errorf("Lstat(abs) = %v, %v", info, err)
	}
}

func TestTreeFSShortPayload(t *testing.T) {
	r, _, payload := openTestTree(t)
	fsys := r.FS(bytes.NewReader(payload[:len(payload)-1]))
	_, err := fs.ReadFile(fsys, "sticky/g") // some file near the end of the payload
	if err == nil {
		// The last file written is not necessarily sticky/g; find one that fails.
		err = readAllFiles(fsys)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading past a short payload: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := fs.ReadFile(r.FS(nil), "etc/hosts"); err == nil {
		t.Fatal("reading with no payload succeeded")
	}
}

func readAllFiles(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		_, err = fs.ReadFile(fsys, p)
		return err
	})
}

func TestTreeFSDirHandle(t *testing.T) {
	r, _, payload := openTestTree(t)
	fsys := r.FS(bytes.NewReader(payload))
	f, err := fsys.Open("dev")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Error("Read on a directory succeeded")
	}
	d := f.(fs.ReadDirFile)
	var names []string
	for {
		list, err := d.ReadDir(2)
		for _, e := range list {
			names = append(names, e.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(names, " "); got != "initctl null sda" {
		t.Errorf("ReadDir(2) loop = %q", got)
	}
}

// Names are bytes: the catalog stores and finds a non-UTF-8 name, while
// io/fs (which requires UTF-8 paths) cannot open it.
func TestTreeBinaryName(t *testing.T) {
	const name = "latin1 \xe9t\xe9"
	cat, payload, _ := buildTree(t, dir("", 0o755, file(name, "x", 0o644)))
	r, err := NewTreeReader(bytes.NewReader(cat), int64(len(cat)))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := r.LookupPath(name); err != nil || e.Name != name {
		t.Fatalf("LookupPath = %q, %v", e.Name, err)
	}
	list, err := fs.ReadDir(r.FS(bytes.NewReader(payload)), ".")
	if err != nil || len(list) != 1 || list[0].Name() != name {
		t.Fatalf("ReadDir = %v, %v", list, err)
	}
}
