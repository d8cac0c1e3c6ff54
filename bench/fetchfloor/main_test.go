package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/remote/remotetest"
)

// TestRun backs up an image whose first half is zeros to a real server
// and times reads of it: every read is counted, and only those that land
// in the data half are fetched.
func TestRun(t *testing.T) {
	cs := chunker.DefaultFixedSize
	data := make([]byte, 16*cs)
	for i := 8 * cs; i < len(data); i++ {
		data[i] = byte(i*13/7 + i>>9)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := remotetest.Start(t, t.TempDir())
	tok := srv.Token("t", "backup:*", "read:*")
	c := srv.Dial(tok)
	remotetest.Backup(t, c, backup.Options{Group: catalog.Group{Type: "vm", ID: "9"}, Time: time.Unix(1767225600, 0).UTC(),
		Archives: []backup.Spec{{Name: "disk.img", Path: img}}})
	c.Close()
	t.Setenv("BACKUPFS_TOKEN", tok)
	t.Setenv("BACKUPFS_FINGERPRINT", srv.Fingerprint)
	lat, fetched, err := run(srv.Addr, "vm/9", "disk.img", 400, 7)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, l := range lat {
		if l == 0 {
			zeros++
		}
	}
	if len(lat) != 400 || fetched+zeros != 400 || fetched < 100 || zeros < 100 {
		t.Errorf("%d reads: %d fetched, %d zero chunks; want 400, about half each", len(lat), fetched, zeros)
	}
	if percentile(lat, 99) <= 0 || percentile(lat, 99) < percentile(lat, 50) {
		t.Errorf("p50 %v, p99 %v", percentile(lat, 50), percentile(lat, 99))
	}
	if _, _, err := run(srv.Addr, "vm/9", "missing.img", 1, 1); err == nil {
		t.Error("a missing archive gave no error")
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 5}, {99, 10}, {10, 1}, {100, 10}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%d = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}
