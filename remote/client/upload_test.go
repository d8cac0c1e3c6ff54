package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// TestPutChunkAsync: many chunks in flight (more than the window) are all
// stored and each reported once through the callback before Commit
// returns, with written set only for chunks the datastore did not have.
func TestPutChunkAsync(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	c := srv.Dial(srv.Token("w", "backup:*"))
	b, err := c.Begin(catalog.Group{Type: "vm", ID: "1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	known := []byte("a chunk the datastore has")
	if _, err := srv.Store.PutChunk(catalog.Sum(known), known); err != nil {
		t.Fatal(err)
	}
	chunks := [][]byte{known}
	for i := range 100 {
		chunks = append(chunks, bytes.Repeat([]byte(fmt.Sprintf("chunk %d ", i)), 1000+i))
	}
	var acks, stored atomic.Int64
	for _, p := range chunks {
		if err := b.PutChunkAsync(catalog.Sum(p), p, func(written bool) {
			acks.Add(1)
			if written {
				stored.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(emptyManifest(t)); err != nil { // waits for every ACK
		t.Fatal(err)
	}
	if acks.Load() != int64(len(chunks)) || stored.Load() != int64(len(chunks)-1) {
		t.Fatalf("%d acks, %d stored; want %d and %d", acks.Load(), stored.Load(), len(chunks), len(chunks)-1)
	}
	for _, p := range chunks {
		got, err := srv.Store.Chunk(catalog.Sum(p))
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("chunk %s: %v", catalog.Sum(p), err)
		}
	}
}

// TestPutChunkAsyncFailureFailsBackup: a chunk the server refuses (its
// bytes do not match its digest) fails the backup after the fact: a later
// call, WriteFile (which waits for every ACK first) or Commit returns the
// error, and nothing is published, although
// the manifest (no archives) would commit.
func TestPutChunkAsyncFailureFailsBackup(t *testing.T) {
	for _, surfaceAt := range []string{"PutChunkAsync", "WriteFile", "Commit"} {
		t.Run(surfaceAt, func(t *testing.T) {
			srv := remotetest.Start(t, t.TempDir())
			c := srv.Dial(srv.Token("w", "backup:*"))
			g := catalog.Group{Type: "vm", ID: "1"}
			b, err := c.Begin(g, t0)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Abort()
			bad := []byte("bytes that are not what the digest says")
			if err := b.PutChunkAsync(catalog.Sum([]byte("other")), bad, func(bool) { t.Error("refused chunk reported stored") }); err != nil {
				t.Fatal(err) // sent; the refusal comes later
			}
			err = nil
			if surfaceAt == "PutChunkAsync" {
				for i := 0; i < 10000 && err == nil; i++ { // until the refusal has arrived
					p := []byte(fmt.Sprintf("good chunk %d", i))
					err = b.PutChunkAsync(catalog.Sum(p), p, func(bool) {})
				}
				if err == nil {
					t.Fatal("10000 uploads after a refused one all succeeded")
				}
			}
			if surfaceAt == "WriteFile" { // waits for the ACKs, so it must see the refusal
				err = b.WriteFile("d.img.fidx", []byte("never sent"))
				if err == nil {
					t.Fatal("WriteFile after a refused upload succeeded")
				}
			}
			if cerr := b.Commit(emptyManifest(t)); err == nil {
				err = cerr
			}
			var se *client.ServerError
			if !errors.As(err, &se) || se.Code != wire.CodeBadRequest {
				t.Fatalf("after a refused upload: %v; want the server's BAD_REQUEST", err)
			}
			if _, err := srv.Store.Snapshots(g); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("snapshots of %s after a failed backup: %v; want none", g, err)
			}
		})
	}
}

func emptyManifest(t *testing.T) *catalog.Manifest {
	t.Helper()
	return &catalog.Manifest{Version: catalog.ManifestVersion, Group: "vm/1", Time: catalog.FormatTime(t0)}
}
