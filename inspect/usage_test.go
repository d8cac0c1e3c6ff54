package inspect

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// TestUsage: a second snapshot of the same tree adds no new chunks; a
// third after one big file changed adds about that file; the dedup factor
// is the logical bytes over the distinct chunks' bytes.
func TestUsage(t *testing.T) {
	f := newFixture(t)
	big := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	f.write("big.bin", string(big))
	f.write("small.txt", "small")
	f.backup()
	f.backup()
	other := bytes.Clone(big[:1<<20])
	for i := range other {
		other[i] ^= 0xff
	}
	f.write("other.bin", string(other))
	f.backup()

	snaps, tot, err := Usage(f.st, []catalog.Group{f.g})
	must(t, err)
	if len(snaps) != 3 || tot.Snapshots != 3 || tot.Groups != 1 {
		t.Fatalf("%d snapshots, totals %+v; want 3 in 1 group", len(snaps), tot)
	}
	if snaps[0].NewBytes < 3<<20 || snaps[0].NewChunks != snaps[0].Chunks {
		t.Errorf("first snapshot: %+v: every chunk new, at least the 3 MiB file", snaps[0])
	}
	if snaps[1].Size != snaps[0].Size || snaps[1].NewBytes > 4096 {
		t.Errorf("second (same tree): %+v: want the same size and (near) nothing new (the catalog may differ)", snaps[1])
	}
	if snaps[2].NewBytes < 1<<20 || snaps[2].NewBytes > 1<<20+64<<10 {
		t.Errorf("third: %d new bytes, want the 1 MiB file and its catalog", snaps[2].NewBytes)
	}
	wantSize := 3 * (uint64(len(big)) + 5)
	wantSize += 1 << 20
	if tot.Size != wantSize {
		t.Errorf("total size %d, want %d", tot.Size, wantSize)
	}
	if tot.ChunkBytes < 4<<20 || tot.ChunkBytes > 4<<20+128<<10 {
		t.Errorf("distinct chunk bytes %d: want the two files' 4 MiB plus catalogs", tot.ChunkBytes)
	}
	if r := float64(tot.Size) / float64(tot.ChunkBytes); tot.DedupFactor != r || r < 2 {
		t.Errorf("dedup factor %.3f, want %.3f and > 2", tot.DedupFactor, r)
	}
}
