// Package sourcetest is the conformance suite for backup.Repository
// implementations: the local datastore and the network client run the
// same tests. It builds real data (a datastore made by backup.Run) and
// fakes nothing; it lives in a non-test file so both packages' tests can
// call it.
package sourcetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Fixture is the data the suite writes into a datastore before it asks
// for a Repository over it.
type Fixture struct {
	Dir    string          // the datastore
	Src    string          // the tree that was backed up
	Groups []catalog.Group // sorted
	Times  []time.Time     // snapshots of Groups[0], oldest first
}

// Open returns the Repository under test, reading the datastore dir.
type Open func(t *testing.T, dir string) backup.Repository

// Run runs every conformance test against the repositories open returns.
func Run(t *testing.T, open Open) {
	f := MakeFixture(t)
	repo := open(t, f.Dir)
	t.Run("Groups", func(t *testing.T) { testGroups(t, repo, f) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, repo, f) })
	t.Run("ReadFile", func(t *testing.T) { testReadFile(t, repo, f) })
	t.Run("Chunks", func(t *testing.T) { testChunks(t, repo, f) })
	t.Run("ConcurrentRestore", func(t *testing.T) { testConcurrentRestore(t, repo, f) })
	t.Run("IncrementalBackup", func(t *testing.T) { testIncremental(t, repo, f) }) // last: it edits f.Src
}

// MakeFixture backs up a small tree three times into a new datastore.
func MakeFixture(t *testing.T) *Fixture {
	t.Helper()
	f := &Fixture{Dir: filepath.Join(t.TempDir(), "ds"), Src: t.TempDir()}
	files := map[string][]byte{
		"a.txt":       []byte("alpha"),
		"dir/b.bin":   bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 200000),
		"dir/c/d.txt": bytes.Repeat([]byte("delta "), 50000),
	}
	for name, b := range files {
		p := filepath.Join(f.Src, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
	}
	s, err := store.Init(f.Dir, store.Options{})
	must(t, err)
	f.Groups = []catalog.Group{{Type: "host", ID: "a"}, {Type: "vm", ID: "100"}}
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		f.Times = append(f.Times, base.Add(time.Duration(i)*time.Hour))
	}
	for _, g := range f.Groups {
		for _, at := range f.Times {
			w, err := s.Begin(g, at)
			must(t, err)
			var st backup.Stats
			_, err = backup.Run(context.Background(), w, backup.Options{Group: g, Time: at,
				Archives: []backup.Spec{{Name: "root.tree", Path: f.Src}}}, &st)
			must(t, err)
		}
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testGroups(t *testing.T, repo backup.Repository, f *Fixture) {
	got, err := repo.Groups()
	if err != nil || len(got) != len(f.Groups) {
		t.Fatalf("Groups() = %v, %v; want %v", got, err, f.Groups)
	}
	for i := range got {
		if got[i] != f.Groups[i] {
			t.Fatalf("Groups() = %v, want %v (sorted)", got, f.Groups)
		}
	}
}

func testSnapshots(t *testing.T, repo backup.Repository, f *Fixture) {
	got, err := repo.Snapshots(f.Groups[0])
	if err != nil || len(got) != len(f.Times) {
		t.Fatalf("Snapshots() = %v, %v; want %v", got, err, f.Times)
	}
	for i := range got {
		if !got[i].Equal(f.Times[i]) {
			t.Fatalf("Snapshots() = %v, want %v (oldest first)", got, f.Times)
		}
	}
	if _, err := repo.Snapshots(catalog.Group{Type: "ct", ID: "999"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Snapshots(unknown group) error = %v, want store.ErrNotFound", err)
	}
}

func testReadFile(t *testing.T, repo backup.Repository, f *Fixture) {
	g, at := f.Groups[0], f.Times[0]
	b, err := repo.ReadFile(g, at, catalog.ManifestName)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := catalog.DecodeManifest(b); err != nil || m.Group != g.String() {
		t.Fatalf("manifest: %v, %+v", err, m)
	}
	if _, err := repo.ReadFile(g, at, "nope.fidx"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadFile(missing) error = %v, want store.ErrNotFound", err)
	}
	for _, bad := range []string{"../manifest.json", "a/b", "", "x\x00y"} {
		if _, err := repo.ReadFile(g, at, bad); err == nil {
			t.Errorf("ReadFile(%q) succeeded; want an error", bad)
		}
	}
	if _, err := repo.ReadFile(g, at.Add(time.Minute), catalog.ManifestName); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadFile(unknown snapshot) error = %v, want store.ErrNotFound", err)
	}
}

// testChunks reads every chunk of a tree through the repository (after
// reading its index files, as a reader must) and checks the digests; an
// unknown digest is an error, never bytes.
func testChunks(t *testing.T, repo backup.Repository, f *Fixture) {
	snap, err := backup.OpenSnapshot(repo, f.Groups[0], f.Times[2])
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snap.Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []catalog.Index{tree.Payload.Index()} {
		for i := range idx.NumChunks() {
			_, _, d := idx.Chunk(i)
			b, err := repo.Chunk(d)
			if err != nil || catalog.Sum(b) != d {
				t.Fatalf("Chunk(%s): %v, digest %s", d, err, catalog.Sum(b))
			}
		}
	}
	if b, err := repo.Chunk(catalog.Sum([]byte("never stored"))); err == nil {
		t.Fatalf("Chunk(unknown) = %d bytes, want an error", len(b))
	}
}

// RestoreTree restores path ("" for all) of the root.tree archive of
// snapshot (g, at) from repo into out.
func RestoreTree(repo backup.Repository, g catalog.Group, at time.Time, path, out string) error {
	snap, err := backup.OpenSnapshot(repo, g, at)
	if err != nil {
		return err
	}
	tree, err := snap.Tree("root.tree")
	if err != nil {
		return err
	}
	return backup.RestoreTree(context.Background(), tree, path, out, nil)
}

// testConcurrentRestore restores the same tree from 8 goroutines at once.
func testConcurrentRestore(t *testing.T, repo backup.Repository, f *Fixture) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			out := filepath.Join(t.TempDir(), "out")
			if err := RestoreTree(repo, f.Groups[i%2], f.Times[i%3], "", out); err != nil {
				t.Error(err)
				return
			}
			for _, name := range []string{"a.txt", "dir/b.bin", "dir/c/d.txt"} {
				want, _ := os.ReadFile(filepath.Join(f.Src, name))
				got, err := os.ReadFile(filepath.Join(out, name))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("restore %d: %s differs (%v)", i, name, err)
				}
			}
		})
	}
	wg.Wait()
}

// testIncremental makes a backup that compares against the latest
// snapshot read through repo (change detection, backup.Options.Previous)
// into the datastore, after one file changed: the other two are reused
// unread, and the new snapshot restores through repo equal to the source.
func testIncremental(t *testing.T, repo backup.Repository, f *Fixture) {
	g, at := f.Groups[0], f.Times[len(f.Times)-1].Add(time.Hour)
	prev, err := backup.OpenSnapshot(repo, g, f.Times[len(f.Times)-1])
	must(t, err)
	changed := filepath.Join(f.Src, "dir/c/d.txt")
	must(t, os.WriteFile(changed, []byte("changed, shorter"), 0o644))
	s, err := store.Open(f.Dir, store.Options{})
	must(t, err)
	w, err := s.Begin(g, at)
	must(t, err)
	var st backup.Stats
	var warns []error
	_, err = backup.Run(context.Background(), w, backup.Options{Group: g, Time: at, Previous: prev,
		Archives: []backup.Spec{{Name: "root.tree", Path: f.Src}},
		Warn:     func(err error) { warns = append(warns, err) }}, &st)
	must(t, err)
	if len(warns) != 0 || st.Files.Load() != 3 || st.ReusedFiles.Load() != 2 {
		t.Fatalf("incremental backup: %d files, %d reused, warnings %v; want 3 files, 2 reused, no warnings",
			st.Files.Load(), st.ReusedFiles.Load(), warns)
	}
	out := filepath.Join(t.TempDir(), "out")
	must(t, RestoreTree(repo, g, at, "", out))
	for _, name := range []string{"a.txt", "dir/b.bin", "dir/c/d.txt"} {
		want, _ := os.ReadFile(filepath.Join(f.Src, name))
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("incremental snapshot: %s differs after restore (%v)", name, err)
		}
	}
}
