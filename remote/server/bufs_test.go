package server

import (
	"fmt"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Chunk frames are built in pooled buffers and returned to the pool once
// written: many connections fetching chunks of several size classes at
// once (answers of one request interleaved, requests overlapping) must
// each get every blob intact. Run with -race.
func TestServerChunkBuffersReused(t *testing.T) {
	e := srvStart(t, Limits{})
	var all []catalog.Digest
	for i, size := range []int{4 << 10, 64 << 10, 256 << 10} {
		g := catalog.Group{Type: "host", ID: fmt.Sprint("buf", i)}
		all = append(all, e.snapshot(g, srvT0, srvChunks(uint64(10+i), 12, size))...)
	}
	tok := e.token("r", "read:*")
	var wg sync.WaitGroup
	for conn := range 6 {
		wg.Go(func() {
			c := e.dial(tok)
			for i := range 3 {
				g := fmt.Sprint("host/buf", i)
				if _, err := c.getFile(uint32(1+i), g, srvT0, "disk.img.fidx"); err != nil {
					t.Errorf("conn %d: index of %s: %v", conn, g, err)
					return
				}
			}
			for round := range 4 {
				ds := all[(conn+round)%len(all):]
				blobs, codes := c.chunks(uint32(10+round), ds...)
				if len(codes) != 0 || len(blobs) != len(ds) {
					t.Errorf("conn %d: %d blobs, missing %v", conn, len(blobs), codes)
					return
				}
				for _, d := range ds {
					if _, err := store.DecodeBlob(blobs[d], d); err != nil {
						t.Errorf("conn %d round %d: chunk %s: %v", conn, round, d, err)
					}
				}
			}
		})
	}
	wg.Wait()
}
