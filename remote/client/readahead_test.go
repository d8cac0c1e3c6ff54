package client_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/store"
)

// fetchAll reads every chunk of the bench image at once: readahead
// fetches (batched), with a demand fetch and a Promote of each tenth.
func fetchAll(t *testing.T, c *client.Client, idx catalog.Index, local *store.Store) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		want, err := local.Chunk(d)
		if err != nil {
			t.Fatal(err)
		}
		check := func(demand bool) {
			got, err := c.ChunkContext(context.Background(), d, demand)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("chunk %d (demand %v): %v", i, demand, err)
			}
		}
		wg.Go(func() { check(false) })
		if i%10 == 0 {
			c.Promote(d)
			wg.Go(func() { check(true) })
		}
	}
	wg.Wait()
}

// Batched readahead, promotion and demand fetches of the same chunks all
// return the right bytes, also when the server restarts in between (the
// batches not answered are sent again on the new connection).
func TestReadaheadFetches(t *testing.T) {
	srv := benchServer(t)
	c := srv.Dial(srv.Token("r", "read:*"))
	snap, err := backup.OpenSnapshot(c, benchGroup, t0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := snap.Image("d.img")
	if err != nil {
		t.Fatal(err)
	}
	fetchAll(t, c, img.Index(), srv.Store)
	srv.Restart()
	fetchAll(t, c, img.Index(), srv.Store)
}
