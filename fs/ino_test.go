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

// TestInoSlotsCollide: an archive whose name hashes to a slot another
// archive of the mount holds takes the next free one (wrapping at the
// top), keeps it, and synthetic numbers never have the tree bit.
func TestInoSlotsCollide(t *testing.T) {
	want := inoOf("tree", "a") & slotMask
	for _, tc := range []struct {
		name  string
		taken []uint64 // slots other archives hold
		want  uint64
	}{
		{"free", nil, want},
		{"taken", []uint64{want}, (want + 1) & slotMask},
		{"two taken", []uint64{want, (want + 1) & slotMask}, (want + 2) & slotMask},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inoSlots{of: map[string]uint64{}, taken: map[uint64]bool{}}
			for i, sl := range tc.taken { // as if earlier archives had them
				s.of["other"+strings.Repeat("x", i)], s.taken[sl] = sl, true
			}
			got := s.slot("a")
			if got != tc.want || s.slot("a") != got {
				t.Fatalf("slot of a = %d (again %d), want %d", got, s.slot("a"), tc.want)
			}
			for _, sl := range tc.taken {
				if treeIno(got, "a", 100) == treeIno(sl, "other", 100) {
					t.Errorf("entry 100 of a has the number of entry 100 in slot %d", sl)
				}
			}
		})
	}
	var s inoSlots
	if sl := s.slot("a"); treeIno(sl, "a", 1<<posBits) == treeIno(sl, "a", 0) || treeIno(sl, "a", 1<<posBits)&treeInoBit != 0 {
		t.Error("a position beyond 40 bits must fall back to a hash without the tree bit")
	}
	for _, p := range [][]string{{"type", "vm"}, {"group", "vm/100"}, {"x"}} {
		if inoOf(p...)&treeInoBit != 0 || inoOf(p...) < 2 {
			t.Errorf("inoOf(%v) = %#x", p, inoOf(p...))
		}
	}
}
