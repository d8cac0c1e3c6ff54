package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// names lists a directory's entry names, sorted.
func names(t *testing.T, dir string) ([]string, error) {
	t.Helper()
	es, err := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, err
}

// TestMountSnapshotForgotten: snapshots forgotten on the server while the
// mount serves them. latest moves at once to the newest snapshot left
// (never "No such file"), and a forgotten snapshot's directory is gone on
// the next lookup and listing of its group, without waiting for the
// mount's 30 s list refresh.
func TestMountSnapshotForgotten(t *testing.T) {
	dir := t.TempDir()
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	var times []string
	for i := range 4 { // snapshot i holds f0 .. fi
		when := time.Date(2026, 11, 20+i, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d", i)), []byte(when), 0o644); err != nil {
			t.Fatal(err)
		}
		srv.MustClient(tok, "backup", "--time", when, srv.Repo("/host/life"), "root.tree:"+src)
		times = append(times, when)
	}
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/host/life"))
	forget := func(when string) { MustRun(t, "forget", "--datastore", srv.Datastore, "/host/life/"+when) }
	ls := func(p ...string) ([]string, error) { return names(t, filepath.Join(append([]string{mp}, p...)...)) }

	// The newest snapshot goes after a listing of the group and of
	// latest: latest lists at once, and latest/root lists the snapshot
	// before it.
	if got, err := ls(); err != nil || len(got) != 5 {
		t.Fatalf("ls mountpoint: %v, %v; want 4 snapshots and latest", got, err)
	}
	if got, err := ls("latest"); err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("ls latest: %v, %v; want root", got, err)
	}
	forget(times[3])
	if got, err := ls("latest"); err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("ls latest right after the newest snapshot was forgotten: %v, %v; want root", got, err)
	}
	if got, err := ls("latest", "root"); err != nil || !slices.Equal(got, []string{"f0", "f1", "f2"}) {
		t.Fatalf("ls latest/root right after the newest snapshot was forgotten: %v, %v; want the previous snapshot's f0 f1 f2", got, err)
	}
	if target, err := os.Readlink(filepath.Join(mp, "latest")); err != nil || target != times[2] {
		t.Fatalf("latest -> %q, %v; want %s", target, err, times[2])
	}
	if got, err := ls(); err != nil || slices.Contains(got, times[3]) {
		t.Fatalf("ls mountpoint after the refresh: %v, %v; want %s gone", got, err, times[3])
	}

	// An older snapshot goes: its directory answers ENOENT on its next
	// use, and the group's listing drops it at once.
	forget(times[0])
	if _, err := ls(times[0], "root"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("ls %s/root after it was forgotten: %v; want ENOENT", times[0], err)
	}
	if got, err := ls(); err != nil || !slices.Equal(got, []string{times[1], times[2], "latest"}) {
		t.Fatalf("ls mountpoint: %v, %v; want %s, %s and latest", got, err, times[1], times[2])
	}
	if _, err := os.Stat(filepath.Join(mp, times[0])); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("stat %s after it was forgotten: %v; want ENOENT", times[0], err)
	}
	if got, err := os.ReadFile(filepath.Join(mp, "latest", "root", "f2")); err != nil || string(got) != times[2] {
		t.Fatalf("latest/root/f2: %q, %v", got, err)
	}
}
