package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/store"
)

// smallChunks makes files share chunks, so reuse runs and padding matter.
var smallChunks = chunker.Params{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}

// incrTree writes n files of 0..~20 KiB (every 10th empty) in 4
// directories, a hardlink pair and a symlink; it returns the files' paths
// relative to root.
func incrTree(t testing.TB, root string, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("d%d/f%03d", i%4, i)
		size := int(randBytes(uint64(i), 2)[0]) * 80
		if i%10 == 0 {
			size = 0
		}
		writeFile(t, filepath.Join(root, name), randBytes(uint64(1000+i), size))
		names = append(names, name)
	}
	writeFile(t, filepath.Join(root, "links/one"), randBytes(77, 9000))
	if err := os.Link(filepath.Join(root, "links/one"), filepath.Join(root, "links/two")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("one", filepath.Join(root, "links/sym")); err != nil {
		t.Fatal(err)
	}
	return append(names, "links/one", "links/two")
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// backupPrev backs src up at at into s with prev (nil: read everything),
// collecting warnings.
func backupPrev(t *testing.T, s *store.Store, at time.Time, src string, prev *Snapshot) (*Stats, []error) {
	t.Helper()
	w, err := s.Begin(group, at)
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	var warns []error
	opt := Options{Group: group, Time: at, Archives: []Spec{{Name: "root.tree", Path: src}},
		Params: smallChunks, Previous: prev, Warn: func(err error) { warns = append(warns, err) }}
	if _, err := Run(context.Background(), w, opt, &st); err != nil {
		t.Fatal(err)
	}
	return &st, warns
}

func openSnap(t *testing.T, s *store.Store, at time.Time) *Snapshot {
	t.Helper()
	snap, err := OpenSnapshot(s, group, at)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// checkRestore restores the snapshot at at and compares it with src:
// contents, mode, mtime, symlinks, and hardlinks sharing an inode.
func checkRestore(t *testing.T, s *store.Store, at time.Time, src string) {
	t.Helper()
	tree, err := openSnap(t, s, at).Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := RestoreTree(context.Background(), tree, "", out, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := treeListing(t, out), treeListing(t, src); got != want {
		t.Fatalf("restore of %s differs from the source:\n got: %.600s\nwant: %.600s", catalog.FormatTime(at), got, want)
	}
	a, _ := os.Stat(filepath.Join(out, "links/one"))
	b, _ := os.Stat(filepath.Join(out, "links/two"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatal("restored links/one and links/two are not one inode")
	}
}

// treeListing is every entry under root with its type, mode, mtime, size
// and contents (or link target), one line each, sorted by path.
func treeListing(t *testing.T, root string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&sb, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " %d %d %s", fi.ModTime().UnixNano(), len(b), catalog.Sum(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&sb, " -> %s", target)
		}
		sb.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// sizeOf sums the sizes of files under root.
func sizeOf(t *testing.T, root string, names ...string) int64 {
	t.Helper()
	var n int64
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// flipped returns b with every byte changed: same size, new contents.
func flipped(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

func setMtime(t *testing.T, p string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// TestIncrementalUnchanged: a second backup of an unchanged tree reads no
// file, and its payload index is the first one's, chunk for chunk.
func TestIncrementalUnchanged(t *testing.T) {
	src := t.TempDir()
	names := incrTree(t, src, 200)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	st, warns := backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	// links/two is a later link: catalog only, never read nor reused.
	if got, want := st.ReusedFiles.Load(), int64(len(names)-1); got != want {
		t.Errorf("reused %d files, want all %d", got, want)
	}
	if got, want := st.ReusedBytes.Load(), sizeOf(t, src, names[:len(names)-1]...); got != want {
		t.Errorf("reused %d bytes, want %d", got, want)
	}
	if p := st.Padding.Load(); p != 0 {
		t.Errorf("padding %d bytes, want 0", p)
	}
	// Both streams are the first backup's, chunk for chunk: no chunk was
	// appended twice, and every entry (empty files too) kept its offset.
	a, b := mustIndexes(t, s), mustIndexesAt(t, s, when.Add(time.Hour))
	for k, name := range []string{"catalog", "payload"} {
		if a[k].NumChunks() != b[k].NumChunks() || a[k].Size() != b[k].Size() {
			t.Fatalf("%s: %d chunks (%d bytes), first backup %d chunks (%d bytes)", name, b[k].NumChunks(), b[k].Size(), a[k].NumChunks(), a[k].Size())
		}
		for i := range a[k].NumChunks() {
			_, ea, da := a[k].Chunk(i)
			_, eb, db := b[k].Chunk(i)
			if ea != eb || da != db {
				t.Fatalf("%s chunk %d differs from the first backup's", name, i)
			}
		}
	}
	checkRestore(t, s, when.Add(time.Hour), src)
}

// TestIncrementalChanges: 1% of files changed in every way a backup must
// notice; exactly the others are reused, and the restore equals the
// source, also from a third backup that reuses chunks of the second.
func TestIncrementalChanges(t *testing.T) {
	src := t.TempDir()
	names := incrTree(t, src, 400)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Same size, new contents and mtime.
	old, _ := os.ReadFile(filepath.Join(src, "d1/f005"))
	writeFile(t, filepath.Join(src, "d1/f005"), flipped(old))
	setMtime(t, filepath.Join(src, "d1/f005"), later)
	// Size changed.
	f, _ := os.OpenFile(filepath.Join(src, "d2/f102"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("appended"))
	f.Close()
	// Deleted, added, renamed (mtime kept: the name is what differs).
	os.Remove(filepath.Join(src, "d3/f203"))
	writeFile(t, filepath.Join(src, "d0/new"), randBytes(99, 5000))
	os.Rename(filepath.Join(src, "d0/f300"), filepath.Join(src, "d0/g300"))
	read := []string{"d1/f005", "d2/f102", "d0/new", "d0/g300"}
	var unchanged []string
	for _, n := range names[:len(names)-1] {
		if n != "d1/f005" && n != "d2/f102" && n != "d3/f203" && n != "d0/f300" {
			unchanged = append(unchanged, n)
		}
	}
	st, warns := backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	if got, want := st.ReusedFiles.Load(), int64(len(unchanged)); got != want {
		t.Errorf("reused %d files, want %d", got, want)
	}
	if got, want := st.ReusedBytes.Load(), sizeOf(t, src, unchanged...); got != want {
		t.Errorf("reused %d bytes, want %d (the unchanged files exactly)", got, want)
	}
	if got, want := st.Files.Load()-st.ReusedFiles.Load(), int64(len(read)+1); got != want {
		t.Errorf("read %d files (and links/two, catalog only), want %d", got, want)
	}
	if p := st.Padding.Load(); p <= 0 || p > 4*int64(len(read)+1)*int64(smallChunks.Max) {
		t.Errorf("padding %d bytes: want some (changed files' old bytes), at most a few chunks per change", p)
	}
	checkRestore(t, s, when.Add(time.Hour), src)

	writeFile(t, filepath.Join(src, "d3/another"), randBytes(98, 3000))
	st3, _ := backupPrev(t, s, when.Add(2*time.Hour), src, openSnap(t, s, when.Add(time.Hour)))
	if got, want := st3.ReusedFiles.Load(), int64(len(unchanged)+len(read)); got != want {
		t.Errorf("third backup reused %d files, want %d", got, want)
	}
	checkRestore(t, s, when.Add(2*time.Hour), src)
}

// TestIncrementalTouchR: a change that keeps the size and puts the mtime
// back is missed with a previous snapshot, and caught without one.
func TestIncrementalTouchR(t *testing.T) {
	src := t.TempDir()
	incrTree(t, src, 20)
	p := filepath.Join(src, "d1/f001")
	fi, _ := os.Stat(p)
	old, _ := os.ReadFile(p)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	edited := flipped(old)
	writeFile(t, p, edited)
	setMtime(t, p, fi.ModTime())

	restored := func(at time.Time) []byte {
		tree, err := openSnap(t, s, at).Tree("root.tree")
		if err != nil {
			t.Fatal(err)
		}
		b, err := fs.ReadFile(tree.Catalog.FS(tree.Payload), "d1/f001")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
	if !bytes.Equal(restored(when.Add(time.Hour)), old) {
		t.Fatal("with a previous snapshot: the touch -r edit was read; want it missed (mtime mode)")
	}
	st, _ := backupPrev(t, s, when.Add(2*time.Hour), src, nil)
	if !bytes.Equal(restored(when.Add(2*time.Hour)), edited) || st.ReusedFiles.Load() != 0 {
		t.Fatal("full read: the touch -r edit was missed")
	}
}

// TestIncrementalBadPrevious: a previous snapshot that cannot be used
// (corrupt payload index, missing catalog chunks, no such archive) is
// reported and every file is read; the backup succeeds.
func TestIncrementalBadPrevious(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, s *store.Store)
		warn  string
	}{
		{"corrupt payload index", func(t *testing.T, s *store.Store) {
			p := filepath.Join(s.Dir(), group.Type, group.ID, catalog.FormatTime(when), "root.tree"+catalog.PayloadIndexSuffix)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "does not match the manifest"},
		{"catalog chunks missing", func(t *testing.T, s *store.Store) {
			mx := mustIndexes(t, s)[0]
			for i := range mx.NumChunks() {
				_, _, d := mx.Chunk(i)
				h := d.String()
				if err := os.Remove(filepath.Join(s.Dir(), ".chunks", h[:4], h)); err != nil {
					t.Fatal(err)
				}
			}
		}, "reading every file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			incrTree(t, src, 40)
			s := newStore(t)
			backupPrev(t, s, when, src, nil)
			c.spoil(t, s)
			st, warns := backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
			if len(warns) != 1 || !strings.Contains(warns[0].Error(), c.warn) {
				t.Fatalf("warnings %v; want one saying %q", warns, c.warn)
			}
			if st.ReusedFiles.Load() != 0 {
				t.Fatalf("reused %d files from an unusable snapshot", st.ReusedFiles.Load())
			}
			checkRestore(t, s, when.Add(time.Hour), src)
		})
	}
	t.Run("no such archive", func(t *testing.T) {
		src := t.TempDir()
		incrTree(t, src, 10)
		s := newStore(t)
		backupPrev(t, s, when, src, nil)
		prev := openSnap(t, s, when)
		prev.Manifest.Archives[0].Name = "other.tree"
		st, warns := backupPrev(t, s, when.Add(time.Hour), src, prev)
		if len(warns) != 0 || st.ReusedFiles.Load() != 0 {
			t.Fatalf("a new archive: %d files reused, warnings %v; want none (nothing to compare with)", st.ReusedFiles.Load(), warns)
		}
	})
}

func mustIndexes(t *testing.T, s *store.Store) []catalog.Index {
	t.Helper()
	return mustIndexesAt(t, s, when)
}

func mustIndexesAt(t *testing.T, s *store.Store, at time.Time) []catalog.Index {
	t.Helper()
	_, idx, err := openSnap(t, s, at).Indexes("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestIncrementalCanceled: a canceled backup with a previous snapshot
// publishes nothing.
func TestIncrementalCanceled(t *testing.T) {
	src := t.TempDir()
	incrTree(t, src, 40)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Begin(group, when.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	opt := Options{Group: group, Time: when.Add(time.Hour), Archives: []Spec{{Name: "root.tree", Path: src}},
		Params: smallChunks, Previous: openSnap(t, s, when),
		Warn: func(error) {}}
	cancel()
	if _, err := Run(ctx, w, opt, &st); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled backup: %v, want context.Canceled", err)
	}
	if snaps, _ := s.Snapshots(group); len(snaps) != 1 {
		t.Fatalf("snapshots after a canceled backup: %v, want only the first", snaps)
	}
}

// TestIncrementalHardlinkFirst: when the first link of a set is a reused
// file, later links get its new offset.
func TestIncrementalHardlinkFirst(t *testing.T) {
	src := t.TempDir()
	incrTree(t, src, 30)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	writeFile(t, filepath.Join(src, "d0/aaa-changed-first"), randBytes(5, 30000)) // shifts the payload
	st, _ := backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
	if st.ReusedFiles.Load() == 0 {
		t.Fatal("nothing reused")
	}
	var sys syscall.Stat_t
	if err := syscall.Stat(filepath.Join(src, "links/one"), &sys); err != nil || sys.Nlink != 2 {
		t.Fatalf("links/one: nlink %d, %v", sys.Nlink, err)
	}
	checkRestore(t, s, when.Add(time.Hour), src)
}

// TestIncrementalTypeChanged: names that became a directory or a symlink
// are not taken for unchanged files, and a directory that became a file is
// read.
func TestIncrementalTypeChanged(t *testing.T) {
	src := t.TempDir()
	incrTree(t, src, 40)
	s := newStore(t)
	backupPrev(t, s, when, src, nil)
	for _, n := range []string{"d1/f001", "d2/f002"} {
		if err := os.Remove(filepath.Join(src, n)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(src, "d1/f001/inside"), randBytes(8, 3000))
	if err := os.Symlink("f006", filepath.Join(src, "d2/f002")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "d3")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(src, "d3"), randBytes(9, 7000))
	st, warns := backupPrev(t, s, when.Add(time.Hour), src, openSnap(t, s, when))
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	// Read: d1/f001/inside and the file d3; the later link links/two is
	// counted in Files without being read.
	if got := st.Files.Load() - st.ReusedFiles.Load(); got != 3 {
		t.Errorf("%d files not reused, want 3", got)
	}
	checkRestore(t, s, when.Add(time.Hour), src)
}
