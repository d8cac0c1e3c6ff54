package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// node describes a test tree: metadata, file content and children.
type node struct {
	e    Entry
	data []byte
	kids []*node
}

func file(name string, data string, mode uint32) *node {
	return &node{e: Entry{Name: name, Type: TypeFile, Mode: mode, UID: 1000, GID: 100, MtimeNs: 1795000000_000000001,
		Blocks: uint64(len(data)+511) / 512}, data: []byte(data)}
}

func dir(name string, mode uint32, kids ...*node) *node {
	return &node{e: Entry{Name: name, Type: TypeDir, Mode: mode, MtimeNs: 1795000000_500000000}, kids: kids}
}

func symlink(name, target string) *node {
	return &node{e: Entry{Name: name, Type: TypeSymlink, Mode: 0o777, Symlink: target, Size: uint64(len(target))}}
}

func special(name string, t EntryType, rdev uint64) *node {
	return &node{e: Entry{Name: name, Type: t, Mode: 0o660, Rdev: rdev}}
}

func hardlink(name, target string) *node {
	return &node{e: Entry{Name: name, Type: TypeHardlink, Hardlink: target}}
}

// treeBuild writes a node tree into a catalog and a payload stream.
type treeBuild struct {
	t       testing.TB
	w       *TreeWriter
	cat     bytes.Buffer
	payload []byte
	files   map[string]Entry // path -> entry, for hardlinks
	all     map[string]Entry // path -> entry as written
}

func buildTree(t testing.TB, root *node) (cat, payload []byte, all map[string]Entry) {
	t.Helper()
	b := &treeBuild{t: t, files: map[string]Entry{}, all: map[string]Entry{}}
	b.w = NewTreeWriter(&b.cat)
	r := root.e
	r.Dir = b.writeDir("", root)
	if err := b.w.Close(r); err != nil {
		t.Fatal(err)
	}
	if b.w.Size() != uint64(b.cat.Len()) {
		t.Fatalf("Size %d, wrote %d", b.w.Size(), b.cat.Len())
	}
	b.all[""] = r
	return b.cat.Bytes(), b.payload, b.all
}

func (b *treeBuild) writeDir(p string, n *node) DirRef {
	slices.SortFunc(n.kids, func(x, y *node) int { return strings.Compare(x.e.Name, y.e.Name) })
	entries := make([]Entry, len(n.kids))
	for i, k := range n.kids {
		e := k.e
		kp := path.Join(p, e.Name)
		switch e.Type {
		case TypeDir:
			e.Dir = b.writeDir(kp, k)
		case TypeFile:
			e.PayloadOffset, e.Size = uint64(len(b.payload)), uint64(len(k.data))
			b.payload = append(b.payload, k.data...)
			b.files[kp] = e
		case TypeHardlink:
			first, ok := b.files[e.Hardlink]
			if !ok {
				b.t.Fatalf("hardlink %s: no earlier file %s", kp, e.Hardlink)
			}
			first.Name, first.Type, first.Hardlink = e.Name, TypeHardlink, e.Hardlink
			e = first
		}
		entries[i] = e
		b.all[kp] = e
	}
	ref, err := b.w.WriteDir(entries)
	if err != nil {
		b.t.Fatal(err)
	}
	return ref
}

func bigDir(name string, n int) *node {
	d := dir(name, 0o755)
	for i := range n {
		d.kids = append(d.kids, file(fmt.Sprintf("f%05d", i), fmt.Sprintf("content of %d\n", i), 0o644))
	}
	return d
}

// testTree has every entry type, xattrs, a hardlink, devices, an empty
// directory and a directory of 10,000 entries; every symlink resolves.
func testTree() *node {
	hosts := file("hosts", "127.0.0.1 localhost\n", 0o644)
	hosts.e.Xattrs = []Xattr{{"security.selinux", []byte("system_u:object_r:etc_t:s0\x00")}, {"user.a", []byte{}}, {"user.b", []byte{0, 1, 2}}}
	sparse := file("sparse", string(make([]byte, 64<<10)), 0o600)
	sparse.e.Blocks = 0
	return dir("", 0o755,
		symlink("bin", "usr/bin"),
		dir("dev", 0o755,
			special("null", TypeCharDev, 1<<8|3),
			special("sda", TypeBlockDev, 8<<8),
			special("initctl", TypeFifo, 0),
		),
		dir("empty", 0o700),
		dir("etc", 0o755, hosts, file("passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
			hardlink("link-to-hosts", "etc/hosts"), symlink("rel", "../usr/bin/tool"), symlink("dot", ".")),
		bigDir("big", 10000),
		dir("usr", 0o755, dir("bin", 0o755, file("tool", "#!/bin/sh\necho hi\n", 0o4755))),
		sparse,
		dir("sticky", 0o1777, file("g", "setgid", 0o2755)),
		file("name with spaces", "x", 0o644),
	)
}

var testTreeOnce = sync.OnceValues(func() ([]byte, []byte) {
	cat, payload, _ := buildTree(&testing.T{}, testTree())
	return cat, payload
})

func openTestTree(t testing.TB) (*TreeReader, []byte, []byte) {
	cat, payload := testTreeOnce()
	r, err := NewTreeReader(bytes.NewReader(cat), int64(len(cat)))
	if err != nil {
		t.Fatal(err)
	}
	return r, cat, payload
}

func TestTreeRoundTrip(t *testing.T) {
	cat, _, all := buildTree(t, testTree())
	r, err := NewTreeReader(bytes.NewReader(cat), int64(len(cat)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]string{}
	var walk func(p string, e Entry)
	walk = func(p string, e Entry) {
		want := all[p]
		if prev, dup := seen[e.Pos]; dup {
			t.Errorf("%q: Pos %d also used by %q", p, e.Pos, prev)
		}
		seen[e.Pos] = p
		e.Pos = 0
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", p, e, want)
		}
		if got, err := r.LookupPath(p); err != nil || got.Name != e.Name {
			t.Errorf("LookupPath(%q) = %q, %v", p, got.Name, err)
		}
		if e.Type != TypeDir {
			return
		}
		kids, err := r.ReadDir(e)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", p, err)
		}
		for _, k := range kids {
			walk(path.Join(p, k.Name), k)
		}
	}
	walk("", r.Root())
	if len(seen) != len(all) {
		t.Errorf("walked %d entries, wrote %d", len(seen), len(all))
	}
}

func TestTreeLookupNotExist(t *testing.T) {
	r, _, _ := openTestTree(t)
	for _, p := range []string{"nope", "big/f10000", "big/f0", "etc/hosts/x", "bin/tool", "dev/null/x", "aaa", "zzz"} {
		_, err := r.LookupPath(p)
		if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LookupPath(%q) = %v, want ErrNotExist and fs.ErrNotExist", p, err)
		}
	}
	for _, p := range []string{"/etc", "etc/../etc", "etc//hosts", "a\x00"} {
		if _, err := r.LookupPath(p); !errors.Is(err, ErrName) {
			t.Errorf("LookupPath(%q) = %v, want ErrName", p, err)
		}
	}
	e, err := r.LookupPath("bin")
	if err != nil || e.Type != TypeSymlink || e.Symlink != "usr/bin" {
		t.Fatalf("LookupPath(bin) = %+v, %v", e, err)
	}
}

func TestEntryTypeString(t *testing.T) {
	tests := map[EntryType]string{TypeFile: "file", TypeDir: "dir", TypeSymlink: "symlink", TypeHardlink: "hardlink",
		TypeCharDev: "chardev", TypeBlockDev: "blockdev", TypeFifo: "fifo", 0: "EntryType(0)", 8: "EntryType(8)"}
	for typ, want := range tests {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
}

func TestFileMode(t *testing.T) {
	tests := []struct {
		typ  EntryType
		mode uint32
		want fs.FileMode
	}{
		{TypeFile, 0o644, 0o644},
		{TypeHardlink, 0o600, 0o600},
		{TypeFile, 0o4755, fs.ModeSetuid | 0o755},
		{TypeFile, 0o2755, fs.ModeSetgid | 0o755},
		{TypeDir, 0o1777, fs.ModeDir | fs.ModeSticky | 0o777},
		{TypeSymlink, 0o777, fs.ModeSymlink | 0o777},
		{TypeCharDev, 0o666, fs.ModeDevice | fs.ModeCharDevice | 0o666},
		{TypeBlockDev, 0o660, fs.ModeDevice | 0o660},
		{TypeFifo, 0o600, fs.ModeNamedPipe | 0o600},
	}
	for _, tt := range tests {
		e := Entry{Type: tt.typ, Mode: tt.mode}
		if got := e.FileMode(); got != tt.want {
			t.Errorf("%v %#o: FileMode = %v, want %v", tt.typ, tt.mode, got, tt.want)
		}
	}
}
