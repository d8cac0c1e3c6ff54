package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// tmpEntry is one entry made by hand under DIR/.tmp, as another process
// (or a crash) would leave it.
type tmpEntry struct {
	name   string
	dir    bool          // a directory (a writer's), else a stray file
	age    time.Duration // how long before the GC's clock its mtime is
	locked bool          // flock held, as a live writer elsewhere does
	reaped bool          // what GC must do with it
}

// TestGCTmpOtherProcess: GC's rule for .tmp entries that are not this
// process's writers. Another process's Begin makes its directory (mtime
// now) and only then takes the flock: in that window the directory is
// unlocked yet alive, and only the grace tells it from a dead writer's. So
// an unlocked entry, directory or stray file, is removed only once older
// than the grace; a locked directory is never removed, whatever its age.
func TestGCTmpOtherProcess(t *testing.T) {
	const grace = time.Hour
	entries := []tmpEntry{
		{name: "fresh-unlocked", dir: true, age: 0, reaped: false},
		{name: "just-inside-grace", dir: true, age: grace - time.Second, reaped: false},
		{name: "old-unlocked", dir: true, age: grace + time.Second, reaped: true},
		{name: "fresh-locked", dir: true, age: 0, locked: true, reaped: false},
		{name: "old-locked", dir: true, age: 48 * time.Hour, locked: true, reaped: false},
		{name: "fresh-file", age: 0, reaped: false},
		{name: "old-file", age: 48 * time.Hour, reaped: true},
	}
	for _, dry := range []bool{false, true} {
		s, clk := newStore(t)
		paths := makeTmpEntries(t, s, clk.Now(), entries)
		st, err := s.GC(context.Background(), GCOptions{Grace: grace, DryRun: dry})
		if err != nil {
			t.Fatalf("GC (dry run %v): %v", dry, err)
		}
		want := 0
		for i, e := range entries {
			_, err := os.Lstat(paths[i])
			gone := errors.Is(err, fs.ErrNotExist)
			if err != nil && !gone {
				t.Fatal(err)
			}
			if e.reaped {
				want++
			}
			if wantGone := e.reaped && !dry; gone != wantGone {
				t.Errorf("dry run %v: %s: removed %v, want %v", dry, e.name, gone, wantGone)
			}
		}
		if st.TmpRemoved != want {
			t.Errorf("dry run %v: TmpRemoved = %d, want %d", dry, st.TmpRemoved, want)
		}
	}
}

// makeTmpEntries creates entries under s's .tmp with mtimes relative to
// now, taking the flocks of the locked ones for the rest of the test, and
// returns their paths. A directory gets a file inside, as a writer's
// index file, so a removal would have to be recursive.
func makeTmpEntries(t *testing.T, s *Store, now time.Time, entries []tmpEntry) []string {
	t.Helper()
	paths := make([]string, len(entries))
	for i, e := range entries {
		p := filepath.Join(s.dir, tmpDir, tmpName(catalog.Group{Type: "host", ID: e.name}, now))
		paths[i] = p
		if e.dir {
			mustNil(t, os.Mkdir(p, dirPerm))
			mustNil(t, os.WriteFile(filepath.Join(p, "root.tree.meta.didx"), []byte("partial"), filePerm))
		} else {
			mustNil(t, os.WriteFile(p, []byte("stray"), filePerm))
		}
		mt := now.Add(-e.age)
		mustNil(t, os.Chtimes(p, mt, mt))
		if e.locked {
			f, err := os.Open(p)
			mustNil(t, err)
			t.Cleanup(func() { f.Close() })
			// A separate open file description: its flock conflicts with
			// GC's as another process's would.
			mustNil(t, unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
		}
	}
	return paths
}

// TestGCTmpSymlinkRemovesLinkOnly: an old symlink in .tmp (no writer makes
// one) is removed as a stray entry, never followed: the directory it points
// to keeps its contents.
func TestGCTmpSymlinkRemovesLinkOnly(t *testing.T) {
	s, clk := newStore(t)
	target := t.TempDir()
	keep := filepath.Join(target, "keep")
	mustNil(t, os.WriteFile(keep, []byte("not the store's"), filePerm))
	link := filepath.Join(s.dir, tmpDir, "link")
	mustNil(t, os.Symlink(target, link))
	old := clk.Now().Add(-48 * time.Hour)
	mustNil(t, unix.Lutimes(link, []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}))
	if _, err := s.GC(context.Background(), GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old symlink in .tmp: %v, want removed", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("GC followed a symlink in .tmp: %v", err)
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
