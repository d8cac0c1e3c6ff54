package remote_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/backup/sourcetest"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/store"
)

// TestClientConformance runs the repository conformance suite, the same
// one the local store passes, against the client talking to a real server.
func TestClientConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, dir string) backup.Repository {
		srv := remotetest.Start(t, dir)
		return srv.Dial(srv.Token("all", "read:*"))
	})
}

func TestClientWrongFingerprint(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	tok := srv.Token("all", "read:*")
	_, err := remote.Dial(context.Background(), remote.ClientConfig{Addr: srv.Addr, Token: tok,
		Fingerprint: strings.Repeat("0", 64), Timeout: 5 * time.Second})
	if !errors.Is(err, remote.ErrFingerprint) || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("wrong fingerprint: %v; want ErrFingerprint with a clear message", err)
	}
	_, err = remote.Dial(context.Background(), remote.ClientConfig{Addr: srv.Addr, Token: tok + "x",
		Fingerprint: srv.Fingerprint, Timeout: 5 * time.Second})
	if !errors.Is(err, remote.ErrDenied) {
		t.Fatalf("wrong token: %v; want ErrDenied", err)
	}
}

// backupTree backs up dir as root.tree of g over the client.
func backupTree(t *testing.T, c *remote.Client, g catalog.Group, at time.Time, dir string) (*remote.Backup, *backup.Stats) {
	t.Helper()
	b, err := c.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	var st backup.Stats
	if _, err := backup.Run(context.Background(), b, backup.Options{Group: g, Time: at,
		Archives: []backup.Spec{{Name: "root.tree", Path: dir}}}, &st); err != nil {
		t.Fatal(err)
	}
	return b, &st
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// TestScopedTokenCannotFetchOtherGroupsChunks: a reader of host/a who
// knows a digest that only host/b references gets DENIED, not the bytes.
func TestScopedTokenCannotFetchOtherGroupsChunks(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	admin := srv.Dial(srv.Token("admin", "read:*", "backup:*"))
	a, b := t.TempDir(), t.TempDir()
	writeFiles(t, a, map[string][]byte{"a": bytes.Repeat([]byte("only in a "), 10000)})
	writeFiles(t, b, map[string][]byte{"b": bytes.Repeat([]byte("secret of b "), 10000)})
	ga, gb := catalog.Group{Type: "host", ID: "a"}, catalog.Group{Type: "host", ID: "b"}
	backupTree(t, admin, ga, t0, a)
	backupTree(t, admin, gb, t0, b)

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
	if data, err := reader.Chunk(secret); !errors.Is(err, remote.ErrDenied) {
		t.Fatalf("chunk of host/b through a host/a token: %d bytes, %v; want ErrDenied", len(data), err)
	}
	if _, err := reader.ReadFile(gb, t0, catalog.ManifestName); err == nil {
		t.Fatal("host/a token read host/b's manifest")
	}
	if _, err := reader.Begin(ga, t0.Add(time.Hour)); !errors.Is(err, remote.ErrDenied) {
		t.Fatalf("read-only token began a backup: %v; want ErrDenied", err)
	}
}

// TestBackupUploadsOnlyNewChunks: the second backup of unchanged data
// uploads nothing; after an edit, only the changed chunks.
func TestBackupUploadsOnlyNewChunks(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	c := srv.Dial(srv.Token("admin", "read:*", "backup:*"))
	src := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	for i := range big {
		big[i] ^= byte(i * 7 >> 3)
	}
	writeFiles(t, src, map[string][]byte{"big": big, "small": []byte("small")})
	g := catalog.Group{Type: "vm", ID: "7"}
	first, _ := backupTree(t, c, g, t0, src)
	up1, _ := first.Uploads()
	second, _ := backupTree(t, c, g, t0.Add(time.Hour), src)
	if up, known := second.Uploads(); up != 0 || known == 0 {
		t.Fatalf("unchanged second backup uploaded %d chunks (%d known); want 0", up, known)
	}
	big[1<<20] ^= 0xff
	writeFiles(t, src, map[string][]byte{"big": big})
	third, _ := backupTree(t, c, g, t0.Add(2*time.Hour), src)
	up3, _ := third.Uploads()
	t.Logf("uploads: first %d, unchanged 0, after a one-byte edit %d", up1, up3)
	if up3 == 0 || up3 > 3 {
		t.Fatalf("after one changed byte: %d chunks uploaded, want 1..3", up3)
	}
	st, err := srv.Store.Verify(context.Background(), store.VerifyOptions{}, func(p store.VerifyProblem) { t.Errorf("verify: %+v", p) })
	if err != nil || st.Snapshots != 3 {
		t.Fatalf("verify: %+v, %v", st, err)
	}
}

// TestRestoreSurvivesServerRestart: the server restarts while a restore
// reads; the client reconnects, re-grants its indexes and completes.
func TestRestoreSurvivesServerRestart(t *testing.T) {
	f := sourcetest.MakeFixture(t)
	srv := remotetest.Start(t, f.Dir)
	c := srv.Dial(srv.Token("all", "read:*"))
	snap, err := backup.OpenSnapshot(c, f.Groups[0], f.Times[0])
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snap.Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart() // the client's connection is gone; its grants must be replayed
	out := filepath.Join(t.TempDir(), "out")
	if err := backup.RestoreTree(context.Background(), tree, "", out, nil); err != nil {
		t.Fatalf("restore after a server restart: %v", err)
	}
	want, _ := os.ReadFile(filepath.Join(f.Src, "dir/b.bin"))
	if got, _ := os.ReadFile(filepath.Join(out, "dir/b.bin")); !bytes.Equal(got, want) {
		t.Fatal("restored file differs")
	}
}

// TestHundredClients: 100 clients, each on its own connection, restore at
// once and all get the right bytes.
func TestHundredClients(t *testing.T) {
	f := sourcetest.MakeFixture(t)
	srv := remotetest.Start(t, f.Dir)
	tok := srv.Token("all", "read:*")
	want, _ := os.ReadFile(filepath.Join(f.Src, "dir/c/d.txt"))
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			c := srv.Dial(tok)
			out := filepath.Join(t.TempDir(), "f")
			if err := sourcetest.RestoreTree(c, f.Groups[i%2], f.Times[i%3], "dir/c/d.txt", out); err != nil {
				t.Error(err)
				return
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
				t.Errorf("client %d restored wrong bytes", i)
			}
		})
	}
	wg.Wait()
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
			writeFiles(t, dir, map[string][]byte{"a": []byte("hello"), "b/c": bytes.Repeat([]byte("x"), 100000)})
			g := catalog.Group{Type: "host", ID: "h"}
			backupTree(t, c, g, t0, dir)
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
