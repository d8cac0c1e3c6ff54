package server

import (
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
)

// BenchmarkServeChunks measures GET_CHUNKS of 64 incompressible 128 KiB
// blobs per request over loopback TLS, with the raw client reading every
// answer frame (no digest check on the client side).
func BenchmarkServeChunks(b *testing.B) {
	const n, size = 64, 128 << 10
	e := srvStart(b, Limits{})
	ds := e.snapshot(srvHostA, srvT0, srvChunks(1, n, size))
	c := e.dial(e.token("r", "read:*"))
	if _, err := c.getFile(1, "host/a", srvT0, "disk.img.fidx"); err != nil {
		b.Fatal(err)
	}
	req := wire.GetChunks{Digests: ds}.Append(nil)
	b.SetBytes(n * size)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.send(wire.Frame{Type: wire.TGetChunks, ID: uint32(2 + i%1000), Payload: req})
		for range n {
			if f := c.recv(); f.Type != wire.TChunk {
				b.Fatalf("got %v", f.Type)
			}
		}
	}
}

// BenchmarkChecker measures the grant check of one digest against a
// connection holding 100 index files of 1000 chunks each.
func BenchmarkChecker(b *testing.B) {
	dc := srvNewDigestCache(nil, 1<<30)
	var ck srvChecker
	ck.dc = dc
	var last catalog.Digest
	for i := range 100 {
		table := make([]byte, 0, 1000*catalog.DigestSize)
		for j := range 1000 {
			last = catalog.Sum([]byte{byte(i), byte(j), byte(j >> 8)})
			table = append(table, last[:]...)
		}
		k := srvFileKey{srvSnapKey{"host/a", int64(i)}, "x.img.fidx"}
		dc.put(k, srvSortedTable(srvTableIndex(table)))
		ck.keys = append(ck.keys, k)
	}
	ck.tables, ck.loaded = make([][]byte, len(ck.keys)), make([]bool, len(ck.keys))
	miss := catalog.Sum([]byte("absent"))
	b.ResetTimer()
	for b.Loop() {
		if !ck.allows(&last) || ck.allows(&miss) {
			b.Fatal("wrong answer")
		}
	}
}

// srvTableIndex is a catalog.Index over a digest table (one byte per chunk).
type srvTableIndex []byte

func (x srvTableIndex) Size() uint64   { return uint64(x.NumChunks()) }
func (x srvTableIndex) NumChunks() int { return len(x) / catalog.DigestSize }
func (x srvTableIndex) Chunk(i int) (uint64, uint64, catalog.Digest) {
	var d catalog.Digest
	copy(d[:], x[i*catalog.DigestSize:])
	return uint64(i), uint64(i + 1), d
}
func (x srvTableIndex) Find(off uint64) int { return -1 }
