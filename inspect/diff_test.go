package inspect

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDiff: every kind of change between two snapshots, and nothing else.
func TestDiff(t *testing.T) {
	f := newFixture(t)
	f.write("same.txt", "unchanged")
	f.write("grow.txt", "short")
	f.write("touch.txt", "same bytes")
	f.write("gone/deep/x.txt", "x")
	f.write("gone/y.txt", "yy")
	f.write("perm/file", "p")
	f.write("becomes-dir", "file first")
	must(t, os.Symlink("same.txt", filepath.Join(f.src, "link")))
	f.backup()

	f.write("grow.txt", "much longer now")
	must(t, os.Chtimes(filepath.Join(f.src, "touch.txt"), mtime.Add(time.Hour), mtime.Add(time.Hour)))
	must(t, os.RemoveAll(filepath.Join(f.src, "gone")))
	must(t, os.Chmod(filepath.Join(f.src, "perm"), 0o700))
	must(t, os.Remove(filepath.Join(f.src, "becomes-dir")))
	f.write("becomes-dir/inside", "12345")
	must(t, os.Remove(filepath.Join(f.src, "link")))
	must(t, os.Symlink("grow.txt", filepath.Join(f.src, "link")))
	f.write("new/n.txt", "new!")
	f.backup()

	var got []string
	sum, err := Diff(f.tree(0), f.tree(1), func(c Change) error {
		got = append(got, string(c.Kind)+" "+c.Path+" "+strings.Join(c.Fields, ","))
		return nil
	})
	must(t, err)
	want := []string{
		"modified /becomes-dir type",
		"added /becomes-dir/inside ",
		"removed /gone ",
		"removed /gone/deep ",
		"removed /gone/deep/x.txt ",
		"removed /gone/y.txt ",
		"modified /grow.txt size",
		"modified /link mtime,target", // a new symlink: a new mtime too
		"added /new ",
		"added /new/n.txt ",
		"modified /perm mode",
		"modified /touch.txt mtime",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sum.Added != 3 || sum.Removed != 4 || sum.Modified != 5 {
		t.Errorf("summary %+v: want 3 added, 4 removed, 5 modified", sum)
	}
	// Bytes: +5 (inside) +4 (n.txt) +15 (grow.txt's new size); -1 -2 -5 (grow.txt's
	// old size) -10 (becomes-dir, a file before).
	if sum.AddedBytes != 24 || sum.RemovedBytes != 18 {
		t.Errorf("summary bytes +%d -%d, want +24 -18", sum.AddedBytes, sum.RemovedBytes)
	}

	// A tree against itself: nothing.
	n := 0
	_, err = Diff(f.tree(1), f.tree(1), func(Change) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("diff of a tree with itself: %d changes, %v", n, err)
	}
}

// TestDiffStopsOnEmitError: an error from emit ends the walk with it.
func TestDiffStopsOnEmitError(t *testing.T) {
	f := newFixture(t)
	f.write("a", "1")
	f.backup()
	f.write("b", "2")
	f.write("c", "3")
	f.backup()
	calls := 0
	stop := os.ErrClosed
	_, err := Diff(f.tree(0), f.tree(1), func(Change) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err %v after %d calls, want %v after 1", err, calls, stop)
	}
}
