package storetest

import (
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// testBegin: one writer per snapshot; a published snapshot cannot be
// begun again.
func testBegin(t *testing.T, h *Harness) {
	s := h.Store
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	if _, err := s.Begin(vm100, Epoch); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Begin error = %v, want ErrExists", err)
	}
	m, err := Stage(w, vm100, Epoch, Chunks("begin", 2), true)
	must(t, err)
	must(t, w.Commit(m))
	if _, err := s.Begin(vm100, Epoch); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Begin of a published snapshot error = %v, want ErrExists", err)
	}
	if _, err := s.Begin(catalog.Group{Type: "vm", ID: "../x"}, Epoch); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Begin(bad group) error = %v, want ErrInvalid", err)
	}
	if err := w.WriteFile("root.tree.meta.didx", []byte("x")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("WriteFile after Commit error = %v, want ErrClosed", err)
	}
}

// testPublishAtomic: nothing of a snapshot is visible before Commit, all
// of it after, also to a store opened afresh.
func testPublishAtomic(t *testing.T, h *Harness) {
	s := h.Store
	chunks := Chunks("atomic", 3)
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	m, err := Stage(w, vm100, Epoch, chunks, true)
	must(t, err)
	notVisible(t, s)
	if err := w.WriteFile("../escape.fidx", []byte("x")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("WriteFile(bad name) error = %v, want ErrInvalid", err)
	}
	bad := *m
	bad.Time = catalog.FormatTime(hour(1))
	if err := w.Commit(&bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Commit(manifest of another time) error = %v, want ErrInvalid", err)
	}
	notVisible(t, s)
	must(t, w.Commit(m))
	for _, r := range []store.Datastore{s, h.Reopen()} {
		times, err := r.Snapshots(vm100)
		if err != nil || len(times) != 1 || !times[0].Equal(Epoch) {
			t.Fatalf("Snapshots after Commit = %v, %v", times, err)
		}
		got, err := r.Manifest(vm100, Epoch)
		if err != nil || got.Archives[0].Files[1] != m.Archives[0].Files[1] {
			t.Fatalf("Manifest after Commit = %+v, %v", got, err)
		}
		f := m.Archives[0].Files[1]
		if b, err := r.ReadFile(vm100, Epoch, f.Name); err != nil || catalog.Sum(b) != f.SHA256 {
			t.Fatalf("ReadFile(%s) after Commit: %v", f.Name, err)
		}
	}
}

// notVisible fails unless vm/100 has no visible snapshot at Epoch.
func notVisible(t *testing.T, s store.Datastore) {
	t.Helper()
	if times, err := s.Snapshots(vm100); err == nil && len(times) > 0 {
		t.Fatalf("snapshot visible before Commit: %v", times)
	}
	if gs, err := s.Groups(); err != nil || len(gs) != 0 {
		t.Fatalf("Groups before Commit = %v, %v; want none", gs, err)
	}
	if _, err := s.ReadFile(vm100, Epoch, catalog.ManifestName); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadFile(manifest) before Commit error = %v, want ErrNotFound", err)
	}
}

// testMissingChunks: Commit refuses indexes referencing chunks that are
// not stored, names them, publishes nothing and stays open; after the
// upload, Commit succeeds.
func testMissingChunks(t *testing.T, h *Harness) {
	s := h.Store
	chunks := Chunks("missing", 4)
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	m, err := Stage(w, vm100, Epoch, chunks, false)
	must(t, err)
	err = w.Commit(m)
	var miss *store.MissingChunksError
	if !errors.As(err, &miss) || !errors.Is(err, store.ErrNotFound) || miss.Count != len(chunks) {
		t.Fatalf("Commit with missing chunks error = %v, want MissingChunksError of %d", err, len(chunks))
	}
	notVisible(t, s)
	for _, c := range chunks {
		_, err := w.PutChunk(catalog.Sum(c), c)
		must(t, err)
	}
	must(t, w.Commit(m))
	if times, err := s.Snapshots(vm100); err != nil || len(times) != 1 {
		t.Fatalf("Snapshots after second Commit = %v, %v", times, err)
	}
}

// testConfined: a confined writer may reference only chunks put through
// it (or in its base), even ones the datastore has.
func testConfined(t *testing.T, h *Harness) {
	s := h.Store
	chunks := Chunks("confined", 2)
	Backup(t, s, hostA, Epoch, chunks) // the chunks exist, in another group
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	w.Confine()
	m, err := Stage(w, vm100, Epoch, chunks, false)
	must(t, err)
	if err := w.Commit(m); !errors.Is(err, store.ErrUnknownChunks) {
		t.Fatalf("confined Commit of chunks not put error = %v, want ErrUnknownChunks", err)
	}
	if _, err := s.Snapshots(vm100); err == nil {
		t.Fatal("vm/100 visible after a refused Commit")
	}
	for _, c := range chunks {
		_, err := w.PutChunk(catalog.Sum(c), c)
		must(t, err)
	}
	must(t, w.Commit(m))
	// The base: a confined writer of hostA's next snapshot may take the
	// previous one's chunks without putting them.
	w2, err := s.Begin(hostA, hour(1))
	must(t, err)
	w2.Confine()
	must(t, w2.SetBase(Epoch))
	m2, err := Stage(w2, hostA, hour(1), chunks, false)
	must(t, err)
	must(t, w2.Commit(m2))
}

// testAbort: an aborted writer publishes nothing and frees the snapshot.
func testAbort(t *testing.T, h *Harness) {
	s := h.Store
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	m, err := Stage(w, vm100, Epoch, Chunks("abort", 2), true)
	must(t, err)
	must(t, w.Abort())
	if err := w.Commit(m); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Commit after Abort error = %v, want ErrClosed", err)
	}
	notVisible(t, s)
	Backup(t, s, vm100, Epoch, Chunks("abort", 2)) // the time is free again
}
