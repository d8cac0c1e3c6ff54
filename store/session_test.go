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

var vm2 = catalog.Group{Type: "vm", ID: "2"}

// A confined writer refuses an index that references chunks it did not
// receive and its base does not hold, with the same error whether the
// datastore has them (another group's) or not.
func TestConfinedCommitRefusesUnknownChunks(t *testing.T) {
	s, _ := newStore(t)
	secret := chunkData("another group's data", 3)
	backup(t, s, vm2, epoch, secret)
	absent := chunkData("nowhere", 3)
	var msgs []string
	for _, tc := range []struct {
		name   string
		chunks [][]byte
	}{{"present", secret}, {"absent", absent}} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := s.Begin(vm100, epoch.Add(time.Duration(len(msgs)+1)*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			w.Confine()
			err = w.Commit(stage(t, w, tc.chunks, false))
			if !errors.Is(err, ErrUnknownChunks) || errors.Is(err, ErrNotFound) {
				t.Fatalf("Commit: %v, want ErrUnknownChunks and not ErrNotFound", err)
			}
			msgs = append(msgs, err.Error())
		})
	}
	if len(msgs) == 2 && len(msgs[0]) != len(msgs[1]) {
		t.Errorf("answers differ in shape for a present and an absent chunk:\n%s\n%s", msgs[0], msgs[1])
	}
	if ts, err := s.Snapshots(vm100); err == nil && len(ts) > 0 {
		t.Fatalf("a refused commit published %v", ts)
	}
}

// A confined writer accepts chunks put in its session, chunks it found
// stored when put, and its base's chunks.
func TestConfinedCommitAcceptsSessionAndBase(t *testing.T) {
	s, _ := newStore(t)
	old := chunkData("old", 3)
	backup(t, s, vm100, epoch, old)
	other := chunkData("other group", 2)
	backup(t, s, vm2, epoch, other)
	w := confinedOn(t, s, epoch)
	fresh := chunkData("fresh", 2)
	// other's chunks exist already: putting their bytes proves possession.
	stage(t, w, append(fresh, other...), true)
	if err := w.Commit(stage(t, w, append(append(fresh, other...), old...), false)); err != nil {
		t.Fatalf("Commit of session and base chunks: %v", err)
	}
}

// Abort removes the chunks the writer stored, but not one another writer
// touched since, nor one that existed before.
func TestAbortRemovesItsNewChunks(t *testing.T) {
	s, clk := newStore(t)
	old := chunkData("old", 2)
	backup(t, s, vm100, epoch, old)
	clk.Advance(time.Minute)
	w, err := s.Begin(vm100, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fresh := chunkData("fresh", 3)
	for _, c := range append(fresh, old...) {
		if _, err := w.PutChunk(catalog.Sum(c), c); err != nil {
			t.Fatal(err)
		}
	}
	// Another backup puts fresh[0] too (a touch), so it must stay.
	clk.Advance(time.Second)
	w2, err := s.Begin(vm2, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Abort()
	if _, err := w2.PutChunk(catalog.Sum(fresh[0]), fresh[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for i, c := range fresh {
		has, err := s.HasChunk(catalog.Sum(c))
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0; has != want {
			t.Errorf("fresh chunk %d stored after Abort = %v, want %v", i, has, want)
		}
	}
	for _, c := range old {
		if has, _ := s.HasChunk(catalog.Sum(c)); !has {
			t.Errorf("Abort removed a chunk that existed before it: %s", catalog.Sum(c))
		}
	}
	if n, err := verifyProblems(s); err != nil || n > 0 {
		t.Fatalf("verify after abort: %v, %d problems", err, n)
	}
}

// A failed Commit (missing chunk) leaves the writer's chunks removable.
func TestAbortAfterFailedCommitRemovesChunks(t *testing.T) {
	s, _ := newStore(t)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	fresh := chunkData("fresh", 2)
	for _, c := range fresh {
		if _, err := w.PutChunk(catalog.Sum(c), c); err != nil {
			t.Fatal(err)
		}
	}
	err = w.Commit(stage(t, w, append(fresh, chunkData("never sent", 1)...), false))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Commit: %v, want missing chunks", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, c := range fresh {
		if has, _ := s.HasChunk(catalog.Sum(c)); has {
			t.Errorf("chunk %s of the aborted backup is still stored", catalog.Sum(c))
		}
	}
}

// A base chunk verify found corrupt or missing is reported by Lacks until
// it is stored again, and a confined Commit does not take it from the base.
func TestBaseLacksBadChunks(t *testing.T) {
	s, _ := newStore(t)
	old := chunkData("old", 3)
	backup(t, s, vm100, epoch, old)
	corrupt, gone := catalog.Sum(old[0]), catalog.Sum(old[1])
	if err := os.WriteFile(s.chunkPath(corrupt), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.chunkPath(gone)); err != nil {
		t.Fatal(err)
	}
	if n, _ := verifyProblems(s); n != 2 {
		t.Fatalf("verify: %d problems, want 2", n)
	}
	w := confinedOn(t, s, epoch)
	lacks, more := w.BaseLacks(10)
	if len(lacks) != 2 || more || !w.Lacks(corrupt) || !w.Lacks(gone) || w.Lacks(catalog.Sum(old[2])) {
		t.Fatalf("BaseLacks = %v (more %v), want the corrupt and the missing chunk", lacks, more)
	}
	if err := w.Commit(stage(t, w, old, false)); !errors.Is(err, ErrUnknownChunks) {
		t.Fatalf("Commit taking lacking chunks from the base: %v, want ErrUnknownChunks", err)
	}
	if err := w.Commit(stage(t, w, old, true)); err != nil {
		t.Fatalf("Commit after uploading them: %v", err)
	}
	if n, err := verifyProblems(s); err != nil || n != 0 {
		t.Fatalf("verify after the healing backup: %v, %d problems", err, n)
	}
}

// verifyProblems runs a whole-datastore Verify and counts its problems.
func verifyProblems(s *Store) (int, error) {
	n := 0
	_, err := s.Verify(context.Background(), VerifyOptions{}, func(VerifyProblem) { n++ })
	return n, err
}

// confinedOn begins a confined snapshot of vm100 an hour after base, held
// as its base; the test's end aborts it.
func confinedOn(t *testing.T, s *Store, base time.Time) *SnapshotWriter {
	t.Helper()
	w, err := s.Begin(vm100, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Abort() })
	w.Confine()
	if err := w.SetBase(base); err != nil {
		t.Fatal(err)
	}
	return w
}

// Another process's Begin of the same snapshot can take the directory
// between this Begin's Mkdir and its flock (it found it unlocked, took it
// for a dead writer's, and made its own): this Begin then reports the
// snapshot as being written and leaves the other's directory alone.
func TestBeginLosesTheDirectoryRace(t *testing.T) {
	s, _ := newStore(t)
	var other *os.File
	s.hookBeforeLock = func(dir string) {
		f, err := lockDir(dir, unix.LOCK_EX)
		if err != nil {
			t.Fatal(err)
		}
		other = f
	}
	_, err := s.Begin(vm100, epoch)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Begin that lost the lock: %v, want ErrExists", err)
	}
	defer other.Close()
	if _, err := os.Stat(filepath.Join(s.Dir(), tmpDir, tmpName(vm100, epoch))); err != nil {
		t.Fatalf("the other writer's directory: %v", err)
	}
}

// The same race one step later: a Begin that opened its directory just
// before another removed it and made its own holds a lock on a removed
// directory. lockedIsNamed tells the two apart (Begin then reports the
// snapshot as being written).
func TestLockedIsNamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !lockedIsNamed(f, dir) {
		t.Fatal("a locked directory that the path still names was taken for removed")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if lockedIsNamed(f, dir) {
		t.Fatal("a removed and replaced directory was taken for the one the path names")
	}
}

// Know makes a chunk the store holds usable by a confined writer's
// Commit, says no (and makes nothing usable) for one it does not hold,
// and Abort leaves known chunks alone.
func TestConfinedKnow(t *testing.T) {
	s, _ := newStore(t)
	other := chunkData("other group", 3)
	backup(t, s, vm2, epoch, other)
	absent := chunkData("nowhere", 1)
	w := confinedNoBase(t, s, epoch.Add(time.Hour))
	for _, c := range other {
		if ok, err := w.Know(catalog.Sum(c)); !ok || err != nil {
			t.Fatalf("Know of a held chunk: %v, %v", ok, err)
		}
	}
	if ok, err := w.Know(catalog.Sum(absent[0])); ok || err != nil {
		t.Fatalf("Know of an absent chunk: %v, %v; want false, nil", ok, err)
	}
	err := w.Commit(stage(t, w, append(append([][]byte{}, other...), absent...), false))
	if !errors.Is(err, ErrUnknownChunks) {
		t.Fatalf("Commit with a chunk Know said no to: %v, want ErrUnknownChunks", err)
	}
	if err := w.Commit(stage(t, w, other, false)); err != nil {
		t.Fatalf("Commit of known chunks: %v", err)
	}
	w2 := confinedNoBase(t, s, epoch.Add(2*time.Hour))
	if ok, _ := w2.Know(catalog.Sum(other[0])); !ok {
		t.Fatal("Know in a second writer: false")
	}
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasChunk(catalog.Sum(other[0])); !has {
		t.Fatal("Abort removed a chunk it only knew")
	}
}

func confinedNoBase(t *testing.T, s *Store, at time.Time) *SnapshotWriter {
	t.Helper()
	w, err := s.Begin(vm100, at)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Abort() })
	w.Confine()
	return w
}
