package remote

import (
	"fmt"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

func TestBufClasses(t *testing.T) {
	tests := []struct {
		n, wantCap int
	}{
		{1, 4 << 10},
		{4 << 10, 4 << 10},
		{4<<10 + 1, 8 << 10},
		{128<<10 + 60, 256 << 10},
		{1 << 24, 1 << 24},
	}
	var p bufClasses
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			bp := p.get(tt.n)
			if len(*bp) != tt.n || cap(*bp) != tt.wantCap {
				t.Fatalf("get(%d): len %d cap %d, want len %d cap %d", tt.n, len(*bp), cap(*bp), tt.n, tt.wantCap)
			}
			p.put(bp)
			again := p.get(tt.wantCap/2 + 1)
			if len(*again) != tt.wantCap/2+1 || cap(*again) != tt.wantCap {
				t.Errorf("get after put: len %d cap %d", len(*again), cap(*again))
			}
		})
	}
	t.Run("over the largest class: allocated, never pooled", func(t *testing.T) {
		bp := p.get(1<<24 + 1)
		if len(*bp) != 1<<24+1 {
			t.Fatalf("len %d", len(*bp))
		}
		p.put(bp) // must not land in a class
		if got := p.get(1 << 24); cap(*got) != 1<<24 {
			t.Errorf("cap %d after putting an oversized buffer", cap(*got))
		}
	})
	t.Run("a buffer of a foreign capacity is dropped", func(t *testing.T) {
		b := make([]byte, 5000, 6000)
		p.put(&b)
		if got := p.get(5000); cap(*got) != 8<<10 {
			t.Errorf("cap %d: a foreign buffer came back", cap(*got))
		}
	})
}

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
