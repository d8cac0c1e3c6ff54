package objstore

import (
	"sync"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/s3test"
	"github.com/backupfs/backupfs/store/storetest"
)

// TestConnectionsReused: reads as many at a time as the server's
// GET_CHUNKS slots (24) keep that many connections open and reuse them:
// the store does not open a connection per request (the SDK's default
// idle pool of 10 per host did, for every request beyond 10 in flight).
func TestConnectionsReused(t *testing.T) {
	srv := s3test.Start(t)
	s, err := Init(config(srv, "conns", nil))
	if err != nil {
		t.Fatal(err)
	}
	const readers, rounds = 24, 10
	chunks := storetest.Chunks("conns", readers)
	ds := make([]catalog.Digest, readers)
	for i, c := range chunks {
		ds[i] = catalog.Sum(c)
		if _, err := s.PutChunk(ds[i], c); err != nil {
			t.Fatal(err)
		}
	}
	before := s.c.n.Conns.Load()
	for range rounds {
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Chunk(d); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := s.c.n.Conns.Load() - before; n > 2*readers {
		t.Fatalf("%d reads, %d at a time, opened %d connections; want at most %d (idle ones reused)",
			readers*rounds, readers, n, 2*readers)
	}
}
