package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/store"
)

var (
	group = catalog.Group{Type: "vm", ID: "100"}
	when  = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Init(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runBackup(t *testing.T, s *store.Store, at time.Time, specs ...Spec) *Stats {
	t.Helper()
	w, err := s.Begin(group, at)
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if _, err := Run(context.Background(), w, Options{Group: group, Time: at, Archives: specs}, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeImage makes a sparse image: a hole, written zeros, random data, and
// a short last chunk.
func makeImage(t *testing.T, path string) []byte {
	t.Helper()
	cs := chunker.DefaultFixedSize
	size := 40*cs + 777
	want := make([]byte, size)
	copy(want[3*cs:], randBytes(1, 2*cs+5))  // data over a chunk boundary
	copy(want[39*cs:], randBytes(2, cs+777)) // data up to the end
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{3 * cs, 5*cs + 5}, {10 * cs, 12 * cs}, {39 * cs, size}} { // 10..12: written zeros
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func TestImageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := makeImage(t, filepath.Join(dir, "disk.img"))
	s := newStore(t)
	st := runBackup(t, s, when, Spec{Name: "disk.img", Path: filepath.Join(dir, "disk.img")})
	// 3 chunks of data at 3..5, 2 at 39..40, and one zero chunk stored once.
	if got := st.NewChunks.Load(); got != 6 {
		t.Errorf("new chunks = %d, want 6 (5 data + the zero chunk once)", got)
	}
	snap, err := OpenSnapshot(s, group, when)
	if err != nil {
		t.Fatal(err)
	}
	img, err := snap.Image("disk.img")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(img, 0, img.Size()))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("image read back differs (err %v, %d vs %d bytes)", err, len(got), len(want))
	}
	out := filepath.Join(dir, "restored.img")
	if err := RestoreImage(context.Background(), img, out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, want) {
		t.Fatal("restored image differs")
	}
	if err := RestoreImage(context.Background(), img, out); !errors.Is(err, ErrTargetExists) {
		t.Fatalf("restore over an existing file: %v, want ErrTargetExists", err)
	}
}

func TestStreamConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	want := makeImage(t, filepath.Join(dir, "disk.img"))
	s := newStore(t)
	runBackup(t, s, when, Spec{Name: "disk.img", Path: filepath.Join(dir, "disk.img")})
	snap, _ := OpenSnapshot(s, group, when)
	img, err := snap.Image("disk.img")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 300000)
			for range 50 {
				off := r.IntN(len(want))
				n, err := img.ReadAt(buf, int64(off))
				if (err != nil && err != io.EOF) || !bytes.Equal(buf[:n], want[off:off+n]) {
					t.Errorf("ReadAt(%d): %d bytes, %v: wrong", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func makeTree(t *testing.T, root string) {
	t.Helper()
	files := map[string][]byte{
		"a.txt":           []byte("alpha\n"),
		"big.bin":         randBytes(3, 3<<20),
		"sub/b.txt":       bytes.Repeat([]byte("beta "), 100000),
		"sub/deeper/c":    randBytes(4, 70000),
		"sub/empty-file":  nil,
		"zz/last.txt":     []byte("last"),
		"zz/more/x/y/z.q": []byte("deep"),
	}
	for name, b := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
}

// TestTreeReadBack reads a backed-up tree through the catalog's io/fs view
// and compares every file with the source.
func TestTreeReadBack(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	s := newStore(t)
	runBackup(t, s, when, Spec{Name: "root.tree", Path: src})
	snap, err := OpenSnapshot(s, group, when)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snap.Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	fsys := tree.Catalog.FS(tree.Payload)
	n := 0
	err = fs.WalkDir(os.DirFS(src), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		want, _ := os.ReadFile(filepath.Join(src, p))
		got, err := fs.ReadFile(fsys, p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", p, len(got), err, len(want))
		}
		n++
		return nil
	})
	if err != nil || n != 7 {
		t.Fatalf("walked %d files, err %v", n, err)
	}
	if target, err := fs.ReadLink(fsys, "link"); err != nil || target != "a.txt" {
		t.Errorf("ReadLink(link) = %q, %v", target, err)
	}
}

// TestSecondBackupStoresNothing: unchanged data stores no new chunk; a
// small edit stores only a few.
func TestSecondBackupStoresNothing(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	s := newStore(t)
	first := runBackup(t, s, when, Spec{Name: "root.tree", Path: src})
	second := runBackup(t, s, when.Add(time.Hour), Spec{Name: "root.tree", Path: src})
	if n := second.NewChunks.Load(); n != 0 {
		t.Errorf("unchanged tree: %d new chunks, want 0", n)
	}
	f, err := os.OpenFile(filepath.Join(src, "big.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("edit"), 1<<20)
	f.Close()
	third := runBackup(t, s, when.Add(2*time.Hour), Spec{Name: "root.tree", Path: src})
	if n, all := third.NewChunks.Load(), first.Chunks.Load(); n == 0 || n > 4 {
		t.Errorf("one edit: %d new chunks of %d, want 1..4 (payload chunk + catalog)", n, all)
	}
}

// TestFailedBackupLeavesNothing: an error (missing source, cancellation)
// aborts; no snapshot becomes visible.
func TestFailedBackupLeavesNothing(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	s := newStore(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx   context.Context
		specs []Spec
	}{
		{context.Background(), []Spec{{Name: "root.tree", Path: src}, {Name: "x.img", Path: filepath.Join(src, "missing")}}},
		{canceled, []Spec{{Name: "root.tree", Path: src}}},
	} {
		w, err := s.Begin(group, when)
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		if _, err := Run(c.ctx, w, Options{Group: group, Time: when, Archives: c.specs}, &st); err == nil {
			t.Fatal("backup succeeded; want an error")
		}
		if snaps, err := s.Snapshots(group); (err != nil && !errors.Is(err, store.ErrNotFound)) || len(snaps) != 0 {
			t.Fatalf("after a failed backup: snapshots %v, %v; want none", snaps, err)
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		name string
	}{
		{"root.tree:/srv", true, "root.tree"},
		{"drive-scsi0.img:/dev/vdb", true, "drive-scsi0.img"},
		{"root.tree:", false, ""},
		{"root:/srv", false, ""},
		{"../x.tree:/srv", false, ""},
		{"x.zip:/srv", false, ""},
		{"d.img:-", true, "d.img"},
		{"root.tree:-", false, ""},
		{"root.tree:/etc,-", false, ""},
		{"root.tree:/etc,,/srv", false, ""},
		{"root.tree:/etc,", false, ""},
		{"root.tree:/etc,/home,/srv", true, "root.tree"},
		{"d.img:/a,b", true, "d.img"}, // an image has one path, commas and all
	} {
		sp, err := ParseSpec(c.in)
		if (err == nil) != c.ok || sp.Name != c.name {
			t.Errorf("ParseSpec(%q) = %+v, %v", c.in, sp, err)
		}
	}
	sp, _ := ParseSpec("root.tree:/etc,/home,/srv")
	if len(sp.Paths) != 3 || sp.Paths[1] != "/home" {
		t.Errorf("several sources: %+v", sp)
	}
	if sp, _ := ParseSpec("d.img:/a,b"); sp.Path != "/a,b" || sp.Paths != nil {
		t.Errorf("image path with a comma: %+v", sp)
	}
}
