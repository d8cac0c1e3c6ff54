package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// notExistStore is the fixture's store as the mount sees it: a missing
// file reads as io/fs.ErrNotExist, as cmd/backupfs makes it.
type notExistStore struct{ *store.Store }

func (s notExistStore) ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error) {
	b, err := s.Store.ReadFile(g, t, name)
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w (%w)", err, iofs.ErrNotExist)
	}
	return b, err
}

// TestSnapshotForgottenWhileMounted: a snapshot forgotten in the
// repository while its directory is in use. Its next lookup that reads
// its files answers ESTALE (the kernel then walks the path again) and
// refreshes the group's list at once, though the list is young: "latest"
// moves to the snapshot before it and the forgotten name is ENOENT.
func TestSnapshotForgottenWhileMounted(t *testing.T) {
	f := newFixture(t)
	r, err := Root(Options{Repo: notExistStore{f.store}, Cache: f.cache, Ref: catalog.Ref{Type: testGroup.Type, ID: testGroup.ID}})
	must(t, err)
	gofs.NewNodeFS(r, &gofs.Options{})
	newest := catalog.FormatTime(time2)
	snap, _, en := lookup(t, r, newest)
	if en != 0 {
		t.Fatalf("lookup %s: %v", newest, en)
	}
	if l, _, en := lookup(t, r, catalog.Latest); en != 0 || l.(*symlinkNode).target != newest {
		t.Fatalf("latest: %v, want -> %s", en, newest)
	}
	must(t, f.store.Forget(testGroup, time2))

	if _, _, en := lookup(t, snap, "root"); en != syscall.ESTALE {
		t.Fatalf("lookup in the forgotten snapshot: %v, want ESTALE", en)
	}
	if l, _, en := lookup(t, r, catalog.Latest); en != 0 || l.(*symlinkNode).target != catalog.FormatTime(time1) {
		t.Fatalf("latest after the newest was forgotten: %v, want -> %s", en, catalog.FormatTime(time1))
	}
	if _, _, en := lookup(t, r, newest); en != syscall.ENOENT {
		t.Fatalf("lookup of the forgotten snapshot's name: %v, want ENOENT", en)
	}
}
