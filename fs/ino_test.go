package fs

import (
	"slices"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// TestInoFollowsCatalogOrder: within a tree directory, inode numbers
// ascend in the table's (name) order, which is the payload's order, so a
// copier that sorts by d_ino (cp) reads the payload stream forward.
func TestInoFollowsCatalogOrder(t *testing.T) {
	f := newFixture(t)
	tree := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.FormatTime(time1)}), "root")
	for _, dir := range []string{"", "files"} {
		n := tree
		if dir != "" {
			n = walk(t, tree, dir)
		}
		list := readdir(t, n)
		var names []string
		var inos []uint64
		for _, e := range list {
			if e.Name == "." || e.Name == ".." || strings.HasPrefix(e.Name, "hard") { // a hardlink has its first link's number
				continue
			}
			names = append(names, e.Name)
			inos = append(inos, e.Ino)
		}
		if len(names) < 3 {
			t.Fatalf("%q: only %v", dir, names)
		}
		if !slices.IsSorted(names) || !slices.IsSorted(inos) {
			t.Errorf("%q: names %v have inode numbers %v: want both ascending", dir, names, inos)
		}
		for i, e := range names {
			if a := getattr(t, walk(t, n, e)); a.Ino != inos[i] {
				t.Errorf("%q/%s: getattr %d, readdir %d", dir, e, a.Ino, inos[i])
			}
		}
	}
	// Another snapshot's tree: other numbers, and stable across mounts.
	other := getattr(t, walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.FormatTime(time2)}), "root/files/fa")).Ino
	if this := getattr(t, walk(t, tree, "files/fa")).Ino; other == this {
		t.Errorf("files/fa has inode %d in both snapshots", this)
	}
}

// TestInoSlotsCollide: archives whose names hash to the same slot get
// different slots, each keeps its own, and synthetic numbers never have
// the tree bit.
func TestInoSlotsCollide(t *testing.T) {
	var s inoSlots
	want := inoOf("tree", "a") & slotMask
	var b string
	for i := 0; ; i++ { // find another name of the same slot
		c := "b" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + string(rune('a'+i/17576%26)) + string(rune('a'+i/456976%26))
		if inoOf("tree", c)&slotMask == want {
			b = c
			break
		}
		if i > 1<<26 {
			t.Skip("no colliding name found")
		}
	}
	sa, sb := s.slot("a"), s.slot(b)
	if sa != want || sb == sa || s.slot("a") != sa || s.slot(b) != sb {
		t.Fatalf("slots: a %d (want %d), %s %d, again %d %d", sa, want, b, sb, s.slot("a"), s.slot(b))
	}
	if treeIno(sa, "a", 100) == treeIno(sb, b, 100) {
		t.Error("the same entry position in two archives of one slot hash got one number")
	}
	if treeIno(sa, "a", 1<<posBits) == treeIno(sa, "a", 0) || treeIno(sa, "a", 1<<posBits)&treeInoBit != 0 {
		t.Error("a position beyond 40 bits must fall back to a hash without the tree bit")
	}
	for _, p := range [][]string{{"type", "vm"}, {"group", "vm/100"}, {"x"}} {
		if inoOf(p...)&treeInoBit != 0 || inoOf(p...) < 2 {
			t.Errorf("inoOf(%v) = %#x", p, inoOf(p...))
		}
	}
}
