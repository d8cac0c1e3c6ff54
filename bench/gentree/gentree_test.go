package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// makeFiles writes n files of 100 bytes under dir/sub, f000 ... f(n-1).
func makeFiles(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p := filepath.Join(dir, "sub", fmt.Sprintf("f%03d", i))
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 100), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChangeTreeLeavesHardlinkedOriginals(t *testing.T) {
	orig, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
	makeFiles(t, orig, 300)
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // the tree is hardlinks to orig, as bench/run makes it
		name := fmt.Sprintf("sub/f%03d", i)
		if err := os.Link(filepath.Join(orig, name), filepath.Join(tree, name)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := changeTree(tree, 100)
	if err != nil || n != 3 {
		t.Fatalf("changeTree = %d, %v; want 3 changed", n, err)
	}
	tests := []struct {
		name    string
		size    int64
		changed bool
	}{
		{"sub/f000", 100, false},
		{"sub/f050", 100 + int64(len("backupfs bench: changed for the second backup\n")), true},
		{"sub/f150", 100, true}, // 16 bytes rewritten, same size
		{"sub/f250", 100 + int64(len("backupfs bench: changed for the second backup\n")), true},
		{"sub/f251", 100, false},
	}
	for _, tt := range tests {
		st, err := os.Stat(filepath.Join(tree, tt.name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != tt.size || st.ModTime().Equal(changeTime) != tt.changed || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: size %d mtime %v mode %v; want size %d, changed %v, mode 0640", tt.name, st.Size(), st.ModTime(), st.Mode(), tt.size, tt.changed)
		}
		b, err := os.ReadFile(filepath.Join(orig, tt.name))
		if err != nil || len(b) != 100 || bytes.Count(b, b[:1]) != 100 {
			t.Errorf("%s: the hardlinked original changed", tt.name)
		}
	}
}

func TestCopyStopsAtBudget(t *testing.T) {
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	makeFiles(t, src, 50)
	if err := os.Symlink("f000", filepath.Join(src, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	c := &copier{budget: 1000, max: 1 << 20}
	if err := c.copyAll(out, []string{src}); err != nil {
		t.Fatal(err)
	}
	if c.files != 10 || c.bytes != 1000 {
		t.Errorf("copied %d files, %d bytes; want 10, 1000", c.files, c.bytes)
	}
	name := filepath.Join(out, c.dirName(src))
	if _, err := os.Stat(filepath.Join(name, "sub", "f009")); err != nil {
		t.Errorf("f009 not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(name, "sub", "f010")); err == nil {
		t.Error("f010 copied past the budget")
	}
	// "link" sorts after the f files, so it is past the budget too.
	if _, err := os.Lstat(filepath.Join(name, "sub", "link")); err == nil {
		t.Error("symlink copied past the budget")
	}
}

func TestCopyKeepsSymlinksAndMtimes(t *testing.T) {
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	makeFiles(t, src, 2)
	if err := os.Symlink("f000", filepath.Join(src, "sub", "a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(src, "sub", "f001"), bigTime, bigTime); err != nil {
		t.Fatal(err)
	}
	c := &copier{budget: 1 << 20, max: 1 << 20}
	if err := c.copyAll(out, []string{src}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, c.dirName(src), "sub")
	if target, err := os.Readlink(filepath.Join(dir, "a-link")); err != nil || target != "f000" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "f001")); err != nil || !st.ModTime().Equal(bigTime) {
		t.Errorf("mtime not kept: %v, %v", st, err)
	}
}

func TestBigShapeAndDeterminism(t *testing.T) {
	sz := bigSizes{random: 3<<20 + 5, text: 2<<20 + 77, zeros: 1 << 20}
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		if err := writeBig(dir, sz); err != nil {
			t.Fatal(err)
		}
	}
	for name, size := range map[string]int64{"random.bin": sz.random, "text.b64": sz.text, "zeros.bin": sz.zeros} {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(x)) != size || !bytes.Equal(x, y) {
			t.Errorf("%s: %d bytes, equal across runs %v; want %d bytes, equal", name, len(x), bytes.Equal(x, y), size)
		}
		switch name {
		case "zeros.bin":
			if bytes.Count(x, []byte{0}) != len(x) {
				t.Error("zeros.bin is not all zeros")
			}
		case "text.b64":
			lines := bytes.Split(x[:len(x)/77*77], []byte("\n"))
			for _, l := range lines[:len(lines)-1] {
				if _, err := base64.StdEncoding.DecodeString(string(l)); err != nil || len(l) != 76 {
					t.Fatalf("text.b64 line %q: %v", l, err)
				}
			}
		}
	}
	na, errA := os.Stat(filepath.Join(a, "notes.txt"))
	nb, errB := os.Stat(filepath.Join(a, "notes.hard"))
	if errA != nil || errB != nil || !os.SameFile(na, nb) {
		t.Errorf("notes.hard is not a hardlink of notes.txt: %v, %v", errA, errB)
	}
	for name, target := range map[string]string{"random.lnk": "random.bin", "up.lnk": ".."} {
		got, err := os.Readlink(filepath.Join(a, name))
		st, lerr := os.Lstat(filepath.Join(a, name))
		if err != nil || lerr != nil || got != target || !st.ModTime().Equal(bigTime) {
			t.Errorf("%s -> %q (%v, %v); want -> %q with mtime %v", name, got, err, lerr, target, bigTime)
		}
	}
}
