package server_test

// Tests of what the server enforces, driven by the real client.

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// TestScopedTokenCannotFetchOtherGroupsChunks: a reader of host/a who
// knows a digest that only host/b references gets DENIED, not the bytes.
func TestScopedTokenCannotFetchOtherGroupsChunks(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	admin := srv.Dial(srv.Token("admin", "read:*", "backup:*"))
	a, b := t.TempDir(), t.TempDir()
	remotetest.WriteFiles(t, a, map[string][]byte{"a": bytes.Repeat([]byte("only in a "), 10000)})
	remotetest.WriteFiles(t, b, map[string][]byte{"b": bytes.Repeat([]byte("secret of b "), 10000)})
	ga, gb := catalog.Group{Type: "host", ID: "a"}, catalog.Group{Type: "host", ID: "b"}
	remotetest.BackupTree(t, admin, ga, t0, a)
	remotetest.BackupTree(t, admin, gb, t0, b)

	snapB, err := backup.OpenSnapshot(srv.Store, gb, t0)
	if err != nil {
		t.Fatal(err)
	}
	treeB, err := snapB.Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	_, _, secret := treeB.Payload.Index().Chunk(0)

	reader := srv.Dial(srv.Token("reader-a", "read:host/a"))
	snapA, err := backup.OpenSnapshot(reader, ga, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snapA.Tree("root.tree"); err != nil { // downloads host/a's indexes
		t.Fatal(err)
	}
	if data, err := reader.Chunk(secret); !errors.Is(err, client.ErrDenied) {
		t.Fatalf("chunk of host/b through a host/a token: %d bytes, %v; want ErrDenied", len(data), err)
	}
	if _, err := reader.ReadFile(gb, t0, catalog.ManifestName); err == nil {
		t.Fatal("host/a token read host/b's manifest")
	}
	if _, err := reader.Begin(ga, t0.Add(time.Hour)); !errors.Is(err, client.ErrDenied) {
		t.Fatalf("read-only token began a backup: %v; want ErrDenied", err)
	}
}

// TestBackupHoldsPrevious: while a backup over the network is open, the
// server holds the group's previous snapshot as its base (store.SetBase),
// so it cannot be forgotten; once the backup is committed or aborted, it
// can be.
func TestBackupHoldsPrevious(t *testing.T) {
	for _, end := range []string{"commit", "abort"} {
		t.Run(end, func(t *testing.T) {
			srv := remotetest.Start(t, t.TempDir())
			c := srv.Dial(srv.Token("admin", "read:*", "backup:*"))
			dir := t.TempDir()
			remotetest.WriteFiles(t, dir, map[string][]byte{"a": []byte("hello"), "b/c": bytes.Repeat([]byte("x"), 100000)})
			g := catalog.Group{Type: "host", ID: "h"}
			remotetest.BackupTree(t, c, g, t0, dir)
			b, err := c.Begin(g, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Store.Forget(g, t0); !errors.Is(err, store.ErrBusy) {
				t.Fatalf("Forget of the previous snapshot during a backup: %v, want ErrBusy", err)
			}
			if end == "commit" {
				_, err = backup.Run(context.Background(), b, backup.Options{Group: g, Time: t0.Add(time.Hour),
					Archives: []backup.Spec{{Name: "root.tree", Path: dir}}}, &backup.Stats{})
			} else {
				err = b.Abort()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Store.Forget(g, t0); err != nil {
				t.Fatalf("Forget after the backup ended: %v", err)
			}
		})
	}
}
