package fs

import (
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// BenchmarkTreeRead reads a 1 MiB tree file in 128 KiB reads through a
// node, warm cache: the FUSE layer's own cost per byte.
func BenchmarkTreeRead(b *testing.B) {
	f := newFixture(b)
	n := walk(b, f.root(b, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}), "root/files/fg")
	fh := open(b, n)
	const size = 1 << 20
	b.SetBytes(size)
	for b.Loop() {
		for off := int64(0); off < size; off += 128 << 10 {
			if _, en := readAt(n, fh, 128<<10, off); en != 0 {
				b.Fatal(en)
			}
		}
	}
}

// BenchmarkLookup looks up names in a loaded directory.
func BenchmarkLookup(b *testing.B) {
	f := newFixture(b)
	dir := walk(b, f.root(b, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}), "root/files")
	names := []string{"fa", "fb", "fc", "fd", "fe", "ff", "fg"}
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, _, en := lookup(b, dir, names[rng.IntN(len(names))]); en != 0 {
			b.Fatal(en)
		}
	}
}
