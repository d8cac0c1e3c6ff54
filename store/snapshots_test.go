package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

func TestSnapshotCommit(t *testing.T) {
	s, _ := newStore(t)
	chunks := chunkData("c", 5)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	m := stage(t, w, chunks, true)
	if gs, _ := s.Groups(); len(gs) != 0 {
		t.Fatalf("groups visible before Commit: %v", gs)
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.Groups(); err != nil || !reflect.DeepEqual(gs, []catalog.Group{vm100}) {
		t.Fatalf("Groups = %v, %v", gs, err)
	}
	if ts, err := s.Snapshots(vm100); err != nil || len(ts) != 1 || !ts[0].Equal(epoch) {
		t.Fatalf("Snapshots = %v, %v", ts, err)
	}
	got, err := s.Manifest(vm100, epoch)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Manifest = %+v, %v", got, err)
	}
	f := m.Archives[0].Files[1]
	b, err := s.ReadFile(vm100, epoch, f.Name)
	if err != nil || catalog.Sum(b) != f.SHA256 {
		t.Fatalf("ReadFile %s: %v", f.Name, err)
	}
	fi, err := os.Stat(filepath.Join(s.snapPath(vm100, epoch), f.Name))
	if err != nil || fi.Mode().Perm() != filePerm {
		t.Errorf("index file mode %v, %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, tmpDir)); len(ents) != 0 {
		t.Errorf("tmp left behind: %v", ents)
	}
	// The writer is closed; Abort does not undo the Commit.
	if err := w.WriteFile(f.Name, b); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFile after Commit: %v, want ErrClosed", err)
	}
	if _, err := w.PutChunk(catalog.Sum(b), b); !errors.Is(err, ErrClosed) {
		t.Errorf("PutChunk after Commit: %v, want ErrClosed", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(vm100, epoch); err != nil {
		t.Errorf("Abort after Commit removed the snapshot: %v", err)
	}
}

func TestBeginExists(t *testing.T) {
	s, _ := newStore(t)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(vm100, epoch.Add(500*time.Millisecond)); !errors.Is(err, ErrExists) {
		t.Fatalf("Begin while writing: %v, want ErrExists", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	backup(t, s, vm100, epoch, chunkData("x", 1))
	if _, err := s.Begin(vm100, epoch); !errors.Is(err, ErrExists) {
		t.Fatalf("Begin on a published snapshot: %v, want ErrExists", err)
	}
	if _, err := s.Begin(catalog.Group{Type: "xx", ID: "1"}, epoch); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Begin with a bad group: %v, want ErrInvalid", err)
	}
}

// TestUnfinishedInvisible: an aborted writer and a dropped one (a crash)
// publish nothing; the aborted one frees its name at once.
func TestUnfinishedInvisible(t *testing.T) {
	s, _ := newStore(t)
	aborted, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	stage(t, aborted, chunkData("a", 2), true)
	if err := aborted.Abort(); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.Begin(vm100, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stage(t, dropped, chunkData("d", 2), true)
	dropped = nil
	_ = dropped
	if gs, _ := s.Groups(); len(gs) != 0 {
		t.Fatalf("Groups = %v, want none", gs)
	}
	if _, err := s.Snapshots(vm100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Snapshots: %v, want ErrNotFound", err)
	}
	if _, err := s.Manifest(vm100, epoch.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest: %v, want ErrNotFound", err)
	}
	if w, err := s.Begin(vm100, epoch); err != nil {
		t.Fatalf("Begin after Abort: %v", err)
	} else {
		_ = w.Abort()
	}
	// A crash left files in .tmp that no listing shows; a new Store (a
	// restarted server) still refuses that name until GC reaps it.
	s2, err := Open(s.Dir(), Options{Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Begin(vm100, epoch.Add(time.Hour)); !errors.Is(err, ErrExists) {
		t.Fatalf("Begin over a crashed writer: %v, want ErrExists", err)
	}
}

func TestCommitRefuses(t *testing.T) {
	chunks := chunkData("r", 3)
	tests := []struct {
		name   string
		upload bool
		edit   func(w *SnapshotWriter, m *catalog.Manifest)
		want   error
	}{
		{"missing chunks", false, func(*SnapshotWriter, *catalog.Manifest) {}, ErrNotFound},
		{"wrong sha256", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Archives[0].Files[1].SHA256[0] ^= 1 }, ErrInvalid},
		{"wrong size", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Archives[0].Files[1].Size++ }, ErrInvalid},
		{"archive size", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Archives[0].Size++ }, ErrInvalid},
		{"wrong group", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Group = "vm/101" }, ErrInvalid},
		{"wrong time", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Time = "2026-11-21T10:00:01Z" }, ErrInvalid},
		{"invalid manifest", true, func(_ *SnapshotWriter, m *catalog.Manifest) { m.Version = 9 }, ErrInvalid},
		{"file not written", true, func(w *SnapshotWriter, m *catalog.Manifest) {
			_ = os.Remove(filepath.Join(w.dir, m.Archives[0].Files[0].Name))
		}, ErrInvalid},
		{"extra file", true, func(w *SnapshotWriter, m *catalog.Manifest) {
			_ = w.WriteFile("other.img.fidx", []byte("x"))
		}, ErrInvalid},
		{"not an index", true, func(w *SnapshotWriter, m *catalog.Manifest) {
			junk := []byte("not an index")
			_ = w.WriteFile(m.Archives[0].Files[0].Name, junk)
			m.Archives[0].Files[0].Size, m.Archives[0].Files[0].SHA256 = int64(len(junk)), catalog.Sum(junk)
		}, ErrInvalid},
		{"fixed index in a tree", true, func(w *SnapshotWriter, m *catalog.Manifest) {
			fw, _ := catalog.NewFixedIndexWriter(4096)
			_ = fw.Add(catalog.Sum(chunks[0]), len(chunks[0]))
			b := fw.Encode(epoch)
			_ = w.WriteFile(m.Archives[0].Files[0].Name, b)
			m.Archives[0].Files[0].Size, m.Archives[0].Files[0].SHA256 = int64(len(b)), catalog.Sum(b)
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			w, err := s.Begin(vm100, epoch)
			if err != nil {
				t.Fatal(err)
			}
			m := stage(t, w, chunks, tt.upload)
			tt.edit(w, m)
			if err := w.Commit(m); !errors.Is(err, tt.want) {
				t.Fatalf("Commit: %v, want %v", err, tt.want)
			}
			if _, err := s.Manifest(vm100, epoch); !errors.Is(err, ErrNotFound) {
				t.Fatalf("refused snapshot is visible: %v", err)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCommitAfterUpload: a Commit refused for missing chunks names them;
// uploading them and committing again succeeds.
func TestCommitAfterUpload(t *testing.T) {
	s, _ := newStore(t)
	chunks := chunkData("m", 4)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	m := stage(t, w, chunks, false)
	var missing *MissingChunksError
	if err := w.Commit(m); !errors.As(err, &missing) {
		t.Fatalf("Commit: %v, want *MissingChunksError", err)
	}
	if missing.Count != len(chunks) || !reflect.DeepEqual(missing.Digests, digests(chunks)) {
		t.Fatalf("missing = %d %v", missing.Count, missing.Digests)
	}
	for _, c := range chunks {
		if _, err := w.PutChunk(catalog.Sum(c), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileNames(t *testing.T) {
	s, _ := newStore(t)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"disk.img.fidx", true},
		{"root.tree.meta.didx", true},
		{"root.tree.payload.didx", true},
		{"manifest.json", false},
		{"disk.img.didx", false},
		{"root.tree.fidx", false},
		{"../x.img.fidx", false},
		{"a/b.img.fidx", false},
		{".x.img.fidx", false},
		{"x\x00.img.fidx", false},
		{"", false},
	} {
		err := w.WriteFile(tt.name, []byte("x"))
		if (err == nil) != tt.ok || !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("WriteFile(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestListingOrder(t *testing.T) {
	s, _ := newStore(t)
	groups := []catalog.Group{{Type: "vm", ID: "200"}, {Type: "ct", ID: "b"}, {Type: "vm", ID: "100"}, {Type: "host", ID: "a"}, {Type: "ct", ID: "a"}}
	times := []time.Time{epoch.Add(48 * time.Hour), epoch, epoch.Add(time.Hour)}
	for _, g := range groups {
		for _, tm := range times {
			backup(t, s, g, tm, chunkData(g.String(), 1))
		}
	}
	// A stray directory and file in a group are ignored.
	_ = os.Mkdir(filepath.Join(s.groupPath(vm100), "not-a-time"), 0o700)
	_ = os.WriteFile(filepath.Join(s.dir, "vm", "bad id!"), nil, 0o600)
	gs, err := s.Groups()
	want := []catalog.Group{{Type: "ct", ID: "a"}, {Type: "ct", ID: "b"}, {Type: "host", ID: "a"}, {Type: "vm", ID: "100"}, {Type: "vm", ID: "200"}}
	if err != nil || !reflect.DeepEqual(gs, want) {
		t.Fatalf("Groups = %v, %v; want %v", gs, err, want)
	}
	ts, err := s.Snapshots(vm100)
	wantT := []time.Time{epoch, epoch.Add(time.Hour), epoch.Add(48 * time.Hour)}
	if err != nil || !reflect.DeepEqual(ts, wantT) {
		t.Fatalf("Snapshots = %v, %v", ts, err)
	}
}

func TestReadFileErrors(t *testing.T) {
	s, _ := newStore(t)
	backup(t, s, vm100, epoch, chunkData("f", 1))
	for _, tt := range []struct {
		g    catalog.Group
		at   time.Time
		name string
		want error
	}{
		{vm100, epoch, "../../../.backupfs-datastore", ErrInvalid},
		{vm100, epoch, "a/b", ErrInvalid},
		{vm100, epoch, "..", ErrInvalid},
		{vm100, epoch, "x\x00", ErrInvalid},
		{vm100, epoch, "", ErrInvalid},
		{catalog.Group{Type: "vm", ID: ".."}, epoch, "manifest.json", ErrInvalid},
		{vm100, epoch, "disk.img.fidx", ErrNotFound},
		{vm100, epoch.Add(time.Second), "manifest.json", ErrNotFound},
		{catalog.Group{Type: "ct", ID: "1"}, epoch, "manifest.json", ErrNotFound},
	} {
		if _, err := s.ReadFile(tt.g, tt.at, tt.name); !errors.Is(err, tt.want) {
			t.Errorf("ReadFile(%v, %q) = %v, want %v", tt.g, tt.name, err, tt.want)
		}
	}
}

func TestForget(t *testing.T) {
	s, _ := newStore(t)
	times := []time.Time{epoch, epoch.Add(time.Hour), epoch.Add(2 * time.Hour)}
	for _, tm := range times {
		backup(t, s, vm100, tm, chunkData("g", 2))
	}
	if err := s.Forget(vm100, times[1]); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.Snapshots(vm100); !reflect.DeepEqual(ts, []time.Time{times[0], times[2]}) {
		t.Fatalf("Snapshots after Forget = %v", ts)
	}
	if err := s.Forget(vm100, times[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Forget twice: %v, want ErrNotFound", err)
	}
	for _, tm := range []time.Time{times[0], times[2]} {
		if err := s.Forget(vm100, tm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(s.groupPath(vm100)); !os.IsNotExist(err) {
		t.Errorf("empty group dir left: %v", err)
	}
	if gs, _ := s.Groups(); len(gs) != 0 {
		t.Errorf("Groups = %v", gs)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, trashDir)); len(ents) != 0 {
		t.Errorf("trash left: %v", ents)
	}
	// The chunks stay until a GC.
	if ok, _ := s.HasChunk(catalog.Sum(chunkData("g", 1)[0])); !ok {
		t.Error("Forget removed a chunk")
	}
	// The group can be used again.
	backup(t, s, vm100, epoch, chunkData("g", 2))
}
