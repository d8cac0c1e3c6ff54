package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// TestBeginReclaimsDeadWritersDir: a writer whose process died (its tmp
// directory exists, unlocked) does not block a new Begin of the same
// snapshot; a directory locked by a live writer elsewhere does.
func TestBeginReclaimsDeadWritersDir(t *testing.T) {
	s, _ := newStore(t)
	g := catalog.Group{Type: "vm", ID: "100"}
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	dir := filepath.Join(s.dir, tmpDir, tmpName(g, at))

	// A killed process's leftovers: the directory and a file, no lock.
	if err := os.Mkdir(dir, dirPerm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.tree.meta.didx"), []byte("partial"), filePerm); err != nil {
		t.Fatal(err)
	}
	w, err := s.Begin(g, at)
	if err != nil {
		t.Fatalf("Begin over a dead writer's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.tree.meta.didx")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead writer's file survived: %v", err)
	}
	if _, err := s.Begin(g, at); !errors.Is(err, ErrExists) {
		t.Fatalf("second Begin while the first writer lives: %v, want ErrExists", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}

	// A live writer in another process: the directory is flock'd by it.
	if err := os.Mkdir(dir, dirPerm); err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(g, at); !errors.Is(err, ErrExists) {
		t.Fatalf("Begin while another process writes the snapshot: %v, want ErrExists", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a live writer's directory was removed: %v", err)
	}
}

// TestGCSparesWriterOfAnotherProcess: GC does not reap an old tmp
// snapshot directory that another process's writer holds locked, and
// does reap one whose writer is gone.
func TestGCSparesWriterOfAnotherProcess(t *testing.T) {
	s, clk := newStore(t)
	g := catalog.Group{Type: "vm", ID: "1"}
	live := filepath.Join(s.dir, tmpDir, tmpName(g, time.Unix(1e9, 0)))
	dead := filepath.Join(s.dir, tmpDir, tmpName(g, time.Unix(2e9, 0)))
	for _, d := range []string{live, dead} {
		if err := os.Mkdir(d, dirPerm); err != nil {
			t.Fatal(err)
		}
		old := clk.Now().Add(-48 * time.Hour)
		os.Chtimes(d, old, old)
	}
	other, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("GC removed a directory another process is writing: %v", err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("GC kept an abandoned directory: %v", err)
	}
}
