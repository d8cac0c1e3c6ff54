package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

func put(t testing.TB, s *Store, chunks ...[]byte) {
	t.Helper()
	for _, c := range chunks {
		if _, err := s.PutChunk(catalog.Sum(c), c); err != nil {
			t.Fatal(err)
		}
	}
}

func has(s *Store, c []byte) bool {
	ok, _ := s.HasChunk(catalog.Sum(c))
	return ok
}

func mtime(t testing.TB, s *Store, c []byte) time.Time {
	t.Helper()
	fi, err := os.Stat(s.chunkPath(catalog.Sum(c)))
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestGC(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(map[bool]string{false: "real", true: "dry run"}[dry], func(t *testing.T) {
			s, c := newStore(t)
			used := chunkData("used", 3)
			backup(t, s, vm100, epoch, used)
			oldOrphan, newOrphan := []byte("old orphan"), []byte("new orphan")
			put(t, s, oldOrphan)
			c.Advance(2 * time.Hour)
			put(t, s, newOrphan)
			fi, _ := os.Stat(s.chunkPath(catalog.Sum(oldOrphan)))

			st, err := s.GC(context.Background(), GCOptions{Grace: time.Hour, DryRun: dry})
			if err != nil {
				t.Fatal(err)
			}
			want := GCStats{Snapshots: 1, IndexFiles: 2, ChunksMarked: 4, ChunksKept: 5, ChunksRemoved: 1, BytesRemoved: fi.Size()}
			if st != want {
				t.Errorf("stats %+v\nwant  %+v", st, want)
			}
			if has(s, oldOrphan) == !dry || !has(s, newOrphan) {
				t.Errorf("old orphan stored = %v, new orphan = %v", has(s, oldOrphan), has(s, newOrphan))
			}
			wantM := epoch.Add(2 * time.Hour) // marked: touched at GC start
			if dry {
				wantM = epoch
			}
			if got := mtime(t, s, used[0]); !got.Equal(wantM) {
				t.Errorf("used chunk mtime %v, want %v", got, wantM)
			}
			if dry {
				return
			}
			// Forget the snapshot: its chunks go once the grace has passed.
			if err := s.Forget(vm100, epoch); err != nil {
				t.Fatal(err)
			}
			c.Advance(2 * time.Hour)
			st, err = s.GC(context.Background(), GCOptions{Grace: time.Hour})
			if err != nil || st.ChunksRemoved != 5 || st.ChunksKept != 0 {
				t.Fatalf("second GC: %+v, %v", st, err)
			}
		})
	}
}

// TestGCKeepsChunksTouchedDuringGC: chunks touched or written between mark
// and sweep survive; an untouched orphan does not.
func TestGCKeepsChunksTouchedDuringGC(t *testing.T) {
	s, c := newStore(t)
	touched, fresh, orphan := []byte("touched"), []byte("fresh"), []byte("orphan")
	put(t, s, touched, orphan)
	c.Advance(2 * time.Hour)
	s.hookBeforeSweep = func() {
		c.Advance(time.Minute)
		put(t, s, touched, fresh)
	}
	st, err := s.GC(context.Background(), GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !has(s, touched) || !has(s, fresh) || has(s, orphan) || st.ChunksRemoved != 1 {
		t.Fatalf("touched %v fresh %v orphan %v; %+v", has(s, touched), has(s, fresh), has(s, orphan), st)
	}
}

// TestGCMarksSnapshotInProgress: chunks a running backup uploaded long ago
// survive because its index files are already in .tmp; it then commits.
func TestGCMarksSnapshotInProgress(t *testing.T) {
	s, c := newStore(t)
	chunks := chunkData("tmp", 3)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	m := stage(t, w, chunks, true)
	c.Advance(2 * time.Hour)
	if _, err := w.PutChunk(catalog.Sum([]byte("keepalive")), []byte("keepalive")); err != nil {
		t.Fatal(err)
	}
	st, err := s.GC(context.Background(), GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st.IndexFiles != 2 || st.ChunksRemoved != 0 || st.TmpRemoved != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := w.Commit(m); err != nil {
		t.Fatalf("Commit after GC: %v", err)
	}
}

func TestGCReapsAbandoned(t *testing.T) {
	s, c := newStore(t)
	dropped, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	m := stage(t, dropped, chunkData("drop", 2), true)
	// A writer of a previous process (unregistered here) that died: the
	// kernel dropped its lock on the directory.
	s2, _ := Open(s.Dir(), Options{Now: c.Now})
	w2, err := s2.Begin(vm100, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w2.unlock()
	// Leftovers of an interrupted Forget and of an interrupted chunk write.
	if err := os.MkdirAll(filepath.Join(s.dir, trashDir, "x", "y"), 0o700); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(s.dir, chunksDir, "0000", tmpPrefix+"1")
	_ = os.MkdirAll(filepath.Dir(stray), 0o700)
	_ = os.WriteFile(stray, []byte("x"), 0o600)
	_ = os.Chtimes(stray, epoch, epoch)
	c.Advance(2 * time.Hour)
	active, err := s.Begin(vm100, epoch.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	st, err := s.GC(context.Background(), GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st.TmpRemoved != 4 {
		t.Errorf("TmpRemoved = %d, want 4 (two writers, trash, stray temp file)", st.TmpRemoved)
	}
	if st.ChunksRemoved != 3 { // two payload chunks and the metadata chunk
		t.Errorf("ChunksRemoved = %d, want 3", st.ChunksRemoved)
	}
	if err := dropped.Commit(m); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit of a reaped writer: %v, want ErrClosed", err)
	}
	for _, at := range []time.Time{epoch, epoch.Add(time.Hour)} {
		w, err := s.Begin(vm100, at)
		if err != nil {
			t.Fatalf("Begin after reaping: %v", err)
		}
		_ = w.Abort()
	}
	if _, err := os.Stat(active.dir); err != nil {
		t.Errorf("active writer reaped: %v", err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray temp file: %v", err)
	}
}

// TestGCStopsOnUnreadableIndex: if a published index cannot be read, GC
// fails before sweeping anything.
func TestGCStopsOnUnreadableIndex(t *testing.T) {
	s, c := newStore(t)
	backup(t, s, vm100, epoch, chunkData("u", 2))
	orphan := []byte("orphan")
	put(t, s, orphan)
	m, _ := s.Manifest(vm100, epoch)
	if err := os.Remove(filepath.Join(s.snapPath(vm100, epoch), m.Archives[0].Files[1].Name)); err != nil {
		t.Fatal(err)
	}
	c.Advance(48 * time.Hour)
	if _, err := s.GC(context.Background(), GCOptions{}); err == nil {
		t.Fatal("GC succeeded with an index missing")
	}
	if !has(s, orphan) {
		t.Fatal("GC swept after failing to mark")
	}
}

func TestGCOneAtATime(t *testing.T) {
	s, _ := newStore(t)
	var inner error
	s.hookBeforeSweep = func() { _, inner = s.GC(context.Background(), GCOptions{}) }
	if _, err := s.GC(context.Background(), GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrGCRunning) {
		t.Fatalf("nested GC: %v, want ErrGCRunning", inner)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	backup(t, s, vm100, epoch, chunkData("ctx", 1))
	if _, err := s.GC(ctx, GCOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled GC: %v", err)
	}
}
