package client_test

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
	"github.com/backupfs/backupfs/remote/client"
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
	_, err := client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: tok,
		Fingerprint: strings.Repeat("0", 64), Timeout: 5 * time.Second})
	if !errors.Is(err, client.ErrFingerprint) || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("wrong fingerprint: %v; want ErrFingerprint with a clear message", err)
	}
	_, err = client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: tok + "x",
		Fingerprint: srv.Fingerprint, Timeout: 5 * time.Second})
	if !errors.Is(err, client.ErrDenied) {
		t.Fatalf("wrong token: %v; want ErrDenied", err)
	}
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

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
	remotetest.WriteFiles(t, src, map[string][]byte{"big": big, "small": []byte("small")})
	g := catalog.Group{Type: "vm", ID: "7"}
	first, _ := remotetest.BackupTree(t, c, g, t0, src)
	up1, _ := first.Uploads()
	second, _ := remotetest.BackupTree(t, c, g, t0.Add(time.Hour), src)
	if up, known := second.Uploads(); up != 0 || known == 0 {
		t.Fatalf("unchanged second backup uploaded %d chunks (%d known); want 0", up, known)
	}
	big[1<<20] ^= 0xff
	remotetest.WriteFiles(t, src, map[string][]byte{"big": big})
	third, _ := remotetest.BackupTree(t, c, g, t0.Add(2*time.Hour), src)
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
			// 100 TLS handshakes at once on a loaded 2-core machine under
			// -race take longer than the 5 s a single dial gets.
			c, err := client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: tok, Fingerprint: srv.Fingerprint,
				Timeout: time.Minute, ConnectTimeout: time.Minute})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
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
