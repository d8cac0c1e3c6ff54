package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// testListings: groups sorted by type then id, snapshots oldest first,
// Before, unknown groups and bad names; the same after a reopen.
func testListings(t *testing.T, h *Harness) {
	s := h.Store
	for _, i := range []int{0, 2, 1} {
		Backup(t, s, vm100, hour(i), Chunks("list", 2))
	}
	Backup(t, s, hostA, Epoch, Chunks("list", 1))
	Backup(t, s, ct7, Epoch, Chunks("list-ct", 1))
	for _, r := range []store.Datastore{s, h.Reopen()} {
		gs, err := r.Groups()
		if want := []catalog.Group{ct7, hostA, vm100}; err != nil || !slices.Equal(gs, want) {
			t.Fatalf("Groups = %v, %v; want %v", gs, err, want)
		}
		times, err := r.Snapshots(vm100)
		if err != nil || len(times) != 3 || !times[0].Equal(hour(0)) || !times[2].Equal(hour(2)) {
			t.Fatalf("Snapshots = %v, %v; want hours 0..2 oldest first", times, err)
		}
		if b, ok, err := r.Before(vm100, hour(2)); err != nil || !ok || !b.Equal(hour(1)) {
			t.Fatalf("Before(hour 2) = %v, %v, %v; want hour 1", b, ok, err)
		}
		if _, ok, err := r.Before(vm100, Epoch); err != nil || ok {
			t.Fatalf("Before(first) = %v, %v; want none", ok, err)
		}
		if _, err := r.Snapshots(catalog.Group{Type: "vm", ID: "999"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Snapshots(unknown) error = %v, want ErrNotFound", err)
		}
		for _, bad := range []string{"../manifest.json", "a/b", "", ".hidden"} {
			if _, err := r.ReadFile(vm100, Epoch, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ReadFile(%q) error = %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := r.ReadFile(vm100, hour(9), catalog.ManifestName); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ReadFile(unknown snapshot) error = %v, want ErrNotFound", err)
		}
	}
}

// testForget: a forgotten snapshot is gone at once; the group goes with
// its last snapshot; a backup's base cannot be forgotten while held.
func testForget(t *testing.T, h *Harness) {
	s := h.Store
	Backup(t, s, vm100, hour(0), Chunks("forget", 2))
	Backup(t, s, vm100, hour(1), Chunks("forget", 2))
	w, err := s.Begin(vm100, hour(2))
	must(t, err)
	must(t, w.SetBase(hour(1)))
	if err := s.Forget(vm100, hour(1)); !errors.Is(err, store.ErrBusy) {
		t.Fatalf("Forget(held base) error = %v, want ErrBusy", err)
	}
	must(t, w.Abort())
	must(t, s.Forget(vm100, hour(1)))
	if err := s.Forget(vm100, hour(1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Forget error = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadFile(vm100, hour(1), catalog.ManifestName); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadFile(forgotten) error = %v, want ErrNotFound", err)
	}
	times, err := s.Snapshots(vm100)
	if err != nil || len(times) != 1 || !times[0].Equal(hour(0)) {
		t.Fatalf("Snapshots after Forget = %v, %v", times, err)
	}
	must(t, s.Forget(vm100, hour(0)))
	if gs, err := s.Groups(); err != nil || len(gs) != 0 {
		t.Fatalf("Groups after forgetting all = %v, %v; want none", gs, err)
	}
}

// testPrune: keep-last 1 of three removes two; a dry run removes none.
func testPrune(t *testing.T, h *Harness) {
	s := h.Store
	for i := range 3 {
		Backup(t, s, vm100, hour(i), Chunks("prune", 1))
	}
	p := store.KeepPolicy{Last: 1}
	keep, remove, err := s.Prune(vm100, p, true)
	if err != nil || len(keep) != 1 || len(remove) != 2 {
		t.Fatalf("Prune dry run = %v, %v, %v", keep, remove, err)
	}
	if times, _ := s.Snapshots(vm100); len(times) != 3 {
		t.Fatalf("a dry run removed snapshots: %v left", times)
	}
	_, _, err = s.Prune(vm100, p, false)
	must(t, err)
	times, err := s.Snapshots(vm100)
	if err != nil || len(times) != 1 || !times[0].Equal(hour(2)) {
		t.Fatalf("after Prune: %v, %v; want only hour 2", times, err)
	}
}

// testProtect: a protected snapshot survives Forget (ErrProtected) and
// Prune (kept whatever the policy), also as seen by another process;
// unprotected, it goes like any other.
func testProtect(t *testing.T, h *Harness) {
	s := h.Store
	for i := range 3 {
		Backup(t, s, vm100, hour(i), Chunks("protect", 1))
	}
	if err := s.Protect(vm100, hour(7), true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Protect of a missing snapshot: %v, want ErrNotFound", err)
	}
	must(t, s.Protect(vm100, hour(0), true))
	if p, err := h.Reopen().Protected(vm100, hour(0)); err != nil || !p {
		t.Fatalf("Protected after Protect, from another process: %v, %v", p, err)
	}
	if err := s.Forget(vm100, hour(0)); !errors.Is(err, store.ErrProtected) {
		t.Fatalf("Forget of a protected snapshot: %v, want ErrProtected", err)
	}
	keep, remove, err := s.Prune(vm100, store.KeepPolicy{Last: 1}, false)
	if err != nil || len(keep) != 2 || !keep[0].Equal(hour(0)) || len(remove) != 1 || !remove[0].Equal(hour(1)) {
		t.Fatalf("Prune keep-last 1 with hour 0 protected = %v, %v, %v", keep, remove, err)
	}
	must(t, s.Protect(vm100, hour(0), false))
	if p, err := s.Protected(vm100, hour(0)); err != nil || p {
		t.Fatalf("Protected after unprotect: %v, %v", p, err)
	}
	must(t, s.Forget(vm100, hour(0)))
	if times, _ := s.Snapshots(vm100); len(times) != 1 || !times[0].Equal(hour(2)) {
		t.Fatalf("after unprotect and forget: %v", times)
	}
}

// testAnnotate: a note and tags change on a published snapshot, seen by
// another process; a bad tag changes nothing; a missing snapshot is
// ErrNotFound; the snapshot still verifies.
func testAnnotate(t *testing.T, h *Harness) {
	s := h.Store
	Backup(t, s, vm100, Epoch, Chunks("annotate", 1))
	note := "before the upgrade"
	m, err := s.Annotate(vm100, Epoch, store.Annotation{Note: &note, AddTags: []string{"weekly", "keep"}})
	if err != nil || m.Note != note || len(m.Tags) != 2 {
		t.Fatalf("Annotate = %+v, %v", m, err)
	}
	if _, err := s.Annotate(vm100, Epoch, store.Annotation{AddTags: []string{"bad tag"}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a bad tag: %v, want ErrInvalid", err)
	}
	m, err = s.Annotate(vm100, Epoch, store.Annotation{RemoveTags: []string{"keep"}})
	if err != nil || len(m.Tags) != 1 || m.Tags[0] != "weekly" {
		t.Fatalf("remove a tag: %+v, %v", m, err)
	}
	got, err := h.Reopen().Manifest(vm100, Epoch)
	if err != nil || got.Note != note || len(got.Tags) != 1 || got.Tags[0] != "weekly" {
		t.Fatalf("manifest from another process: %+v, %v", got, err)
	}
	if _, err := s.Annotate(vm100, hour(9), store.Annotation{Note: &note}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Annotate of a missing snapshot: %v, want ErrNotFound", err)
	}
	if st, err := s.Verify(t.Context(), store.VerifyOptions{}, nil); err != nil || st.Bad != 0 {
		t.Fatalf("verify after Annotate: %+v, %v", st, err)
	}
}

// testVerifyOutdated: a snapshot verified clean is skipped by a verify
// with Outdated until that long has passed (also seen by another
// process); without Outdated everything is verified.
func testVerifyOutdated(t *testing.T, h *Harness) {
	s := h.Store
	Backup(t, s, vm100, Epoch, Chunks("outdated", 2))
	opt := store.VerifyOptions{Outdated: time.Hour}
	st, err := s.Verify(t.Context(), opt, nil)
	if err != nil || st.Snapshots != 1 || st.Skipped != 0 {
		t.Fatalf("first verify = %+v, %v; want one snapshot verified", st, err)
	}
	st, err = h.Reopen().Verify(t.Context(), opt, nil)
	if err != nil || st.Snapshots != 0 || st.Skipped != 1 {
		t.Fatalf("second verify within the hour = %+v, %v; want it skipped", st, err)
	}
	st, err = s.Verify(t.Context(), store.VerifyOptions{}, nil)
	if err != nil || st.Snapshots != 1 || st.Skipped != 0 {
		t.Fatalf("verify without Outdated = %+v, %v; want it verified", st, err)
	}
}

// testVerify: a clean store verifies clean; a corrupt and a deleted
// chunk are each reported with their digest and the right sentinel.
func testVerify(t *testing.T, h *Harness) {
	s := h.Store
	chunks := Chunks("verify", 3)
	Backup(t, s, vm100, Epoch, chunks)
	st, err := s.Verify(t.Context(), store.VerifyOptions{}, nil)
	if err != nil || st.Bad != 0 || st.Snapshots != 1 || st.Chunks != len(chunks)+1 {
		t.Fatalf("Verify(clean) = %+v, %v", st, err)
	}
	bad, gone := catalog.Sum(chunks[0]), catalog.Sum(chunks[2])
	h.Corrupt(bad)
	h.Delete(gone)
	found := map[catalog.Digest]error{}
	st, err = s.Verify(t.Context(), store.VerifyOptions{}, func(p store.VerifyProblem) { found[p.Digest] = p.Err })
	must(t, err)
	if st.Bad != 2 || !errors.Is(found[bad], store.ErrCorrupt) || !errors.Is(found[gone], store.ErrNotFound) {
		t.Fatalf("Verify(damaged) = %+v, problems %v; want %s corrupt and %s missing", st, found, bad, gone)
	}
	if has(t, s, bad) {
		t.Fatal("a chunk Verify found corrupt is still reported stored (the next backup would not heal it)")
	}
	Backup(t, s, vm100, hour(1), chunks) // heals: the chunks are stored again
	found = map[catalog.Digest]error{}
	st, err = s.Verify(t.Context(), store.VerifyOptions{}, func(p store.VerifyProblem) { found[p.Digest] = p.Err })
	if err != nil || st.Bad != 0 {
		t.Fatalf("Verify after a healing backup = %+v, %v, %v", st, found, err)
	}
	// The corrupt copy kept aside goes with a GC after the grace, now the
	// chunk is stored again; nothing a snapshot needs goes with it.
	h.Age(2 * time.Hour)
	gc, err := s.GC(t.Context(), store.GCOptions{Grace: time.Hour})
	if err != nil || gc.BadRemoved < 1 {
		t.Fatalf("GC after healing = %+v, %v; want the bad copy removed", gc, err)
	}
	if st, err := s.Verify(t.Context(), store.VerifyOptions{}, nil); err != nil || st.Bad != 0 {
		t.Fatalf("Verify after GC = %+v, %v", st, err)
	}
}

// testGC: referenced chunks stay, unreferenced young ones stay (also an
// old one put again: the put touches it), old unreferenced ones go; a forgotten snapshot's chunks go after the grace.
func testGC(t *testing.T, h *Harness) {
	s := h.Store
	ref := Chunks("gc-ref", 2)
	Backup(t, s, vm100, Epoch, ref)
	loose, later, again := Chunks("gc-loose", 1)[0], Chunks("gc-later", 1)[0], Chunks("gc-again", 1)[0]
	_, err := s.PutChunk(catalog.Sum(loose), loose)
	must(t, err)
	_, err = s.PutChunk(catalog.Sum(again), again)
	must(t, err)
	opt := store.GCOptions{Grace: time.Hour}
	st, err := s.GC(t.Context(), opt)
	if err != nil || st.ChunksRemoved != 0 || !has(t, s, catalog.Sum(loose)) {
		t.Fatalf("GC of young chunks = %+v, %v; want nothing removed", st, err)
	}
	h.Age(2 * time.Hour)
	_, err = s.PutChunk(catalog.Sum(later), later)
	must(t, err)
	if written, err := s.PutChunk(catalog.Sum(again), again); err != nil || written {
		t.Fatalf("PutChunk of a stored chunk = %v, %v; want touched, not written", written, err)
	}
	st, err = s.GC(t.Context(), opt)
	must(t, err)
	if has(t, s, catalog.Sum(loose)) || st.ChunksRemoved != 1 {
		t.Fatalf("GC after the grace = %+v; want the old loose chunk (only) removed", st)
	}
	if !has(t, s, catalog.Sum(later)) || !has(t, s, catalog.Sum(again)) {
		t.Fatal("GC removed a chunk put or touched after the aging (young)")
	}
	for _, c := range ref {
		if _, err := s.Chunk(catalog.Sum(c)); err != nil {
			t.Fatalf("GC removed a referenced chunk: %v", err)
		}
	}
	must(t, s.Forget(vm100, Epoch))
	h.Age(2 * time.Hour)
	_, err = s.GC(t.Context(), opt)
	must(t, err)
	for _, c := range append(ref, later, again) {
		if has(t, s, catalog.Sum(c)) {
			t.Fatal("GC kept an old chunk of a forgotten snapshot")
		}
	}
}

// testGCInProgress: the chunks of a snapshot being written are kept while
// its writer is active, and an abandoned writer is removed after the
// grace, its chunks by the first GC after no running writer predates them,
// leaving the snapshot's time free.
func testGCInProgress(t *testing.T, h *Harness) {
	s := h.Store
	opt := store.GCOptions{Grace: time.Hour}
	live, dead := Chunks("gc-live", 2), Chunks("gc-dead", 2)
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	m, err := Stage(w, vm100, Epoch, live, true)
	must(t, err)
	wd, err := s.Begin(hostA, Epoch)
	must(t, err)
	_, err = Stage(wd, hostA, Epoch, dead, true)
	must(t, err)
	h.Age(2 * time.Hour)
	// w is active again (its last index file rewritten); wd is not.
	f := m.Archives[0].Files[1]
	b, err := indexBytes(live)
	must(t, err)
	must(t, w.WriteFile(f.Name, b))
	st, err := s.GC(t.Context(), opt)
	must(t, err)
	if st.TmpRemoved < 1 {
		t.Fatalf("GC = %+v; want the abandoned snapshot removed", st)
	}
	for _, c := range live {
		if !has(t, s, catalog.Sum(c)) {
			t.Fatal("GC removed a chunk of a snapshot being written")
		}
	}
	must(t, w.Commit(m))
	// Once no running writer is older than them (a backend may keep what
	// is newer than its oldest writer's start), they go.
	if _, err := s.GC(t.Context(), opt); err != nil {
		t.Fatal(err)
	}
	if has(t, s, catalog.Sum(dead[0])) {
		t.Fatal("GC kept an old chunk of an abandoned snapshot")
	}
	if err := wd.WriteFile(f.Name, b); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("abandoned writer after GC: WriteFile error = %v, want ErrClosed", err)
	}
	Backup(t, s, hostA, Epoch, dead) // the time is free again
}

// testGCOldestWriter: a GC with no grace at all, run while a writer has
// stored its chunks but written no index file yet, removes none of them:
// the writer commits (the oldest-writer rule).
func testGCOldestWriter(t *testing.T, h *Harness) {
	s := h.Store
	w, err := s.Begin(vm100, Epoch)
	must(t, err)
	chunks := Chunks("oldest-writer", 3)
	for _, c := range chunks {
		_, err := w.PutChunk(catalog.Sum(c), c)
		must(t, err)
	}
	h.Age(time.Minute) // older than a zero grace, younger than the writer's idle bound
	if _, err := s.GC(t.Context(), store.GCOptions{Grace: store.NoGrace}); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if !has(t, s, catalog.Sum(c)) {
			t.Fatal("a zero-grace GC removed a chunk of a running writer")
		}
	}
	m, err := Stage(w, vm100, Epoch, chunks, false)
	must(t, err)
	must(t, w.Commit(m))
}

// indexBytes re-encodes the payload index Stage wrote for chunks.
func indexBytes(chunks [][]byte) ([]byte, error) {
	pw := catalog.NewDynamicIndexWriter()
	for _, c := range chunks {
		if err := pw.Add(catalog.Sum(c), len(c)); err != nil {
			return nil, err
		}
	}
	return pw.Encode(Epoch), nil
}
