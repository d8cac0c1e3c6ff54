package inspect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// repoFixture is a real datastore and a source tree backed up into it.
type repoFixture struct {
	t     *testing.T
	st    *store.Store
	src   string
	g     catalog.Group
	times []time.Time
}

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFixture(t *testing.T) *repoFixture {
	st, err := store.Init(filepath.Join(t.TempDir(), "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &repoFixture{t: t, st: st, src: t.TempDir(), g: catalog.Group{Type: "host", ID: "a"}}
}

// write makes a file with a fixed mtime (so unchanged files stay equal).
func (f *repoFixture) write(name, data string) {
	f.t.Helper()
	p := filepath.Join(f.src, name)
	must(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(f.t, os.WriteFile(p, []byte(data), 0o644))
	must(f.t, os.Chtimes(p, mtime, mtime))
}

// backup makes the next snapshot of the source, an hour after the last.
func (f *repoFixture) backup() time.Time {
	f.t.Helper()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(len(f.times)) * time.Hour)
	w, err := f.st.Begin(f.g, at)
	must(f.t, err)
	var stats backup.Stats
	_, err = backup.Run(context.Background(), w, backup.Options{Group: f.g, Time: at,
		Archives: []backup.Spec{{Name: "root.tree", Path: f.src}}}, &stats)
	must(f.t, err)
	f.times = append(f.times, at)
	return at
}

// tree opens root.tree of snapshot i.
func (f *repoFixture) tree(i int) *catalog.TreeReader {
	f.t.Helper()
	snap, err := backup.OpenSnapshot(f.st, f.g, f.times[i])
	must(f.t, err)
	tr, err := snap.Tree("root.tree")
	must(f.t, err)
	return tr.Catalog
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
