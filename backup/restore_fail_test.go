package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// failPayload is the store with every chunk of one archive's payload
// failing with err.
type failPayload struct {
	*store.Store
	bad map[catalog.Digest]bool
	err error
}

func (f failPayload) Chunk(d catalog.Digest) ([]byte, error) {
	if f.bad[d] {
		return nil, fmt.Errorf("chunk %s: %w", d, f.err)
	}
	return f.Store.Chunk(d)
}

// TestRestoreTreeFailedFiles: with every payload chunk corrupt, each file
// with contents fails, is reported, and is left neither under its name nor
// as a temporary file, while directories, empty files and symlinks are
// restored. A context that ended stops the restore at the first failure
// instead (every later file would wait the same), still leaving no file.
func TestRestoreTreeFailedFiles(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	s := newStore(t)
	runBackup(t, s, when, Spec{Name: "root.tree", Path: src})
	b, err := s.ReadFile(group, when, "root.tree"+catalog.PayloadIndexSuffix)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[catalog.Digest]bool{}
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		bad[d] = true
	}
	for _, tt := range []struct {
		err     error
		entries []string // what the restore leaves
		failed  int
	}{
		{store.ErrCorrupt, []string{"emptydir", "link", "sub", "sub/deeper", "sub/empty-file", "zz", "zz/more", "zz/more/x", "zz/more/x/y"}, 6},
		{context.DeadlineExceeded, nil, 0},
	} {
		t.Run(tt.err.Error(), func(t *testing.T) {
			snap, err := OpenSnapshot(failPayload{s, bad, tt.err}, group, when)
			if err != nil {
				t.Fatal(err)
			}
			tree, err := snap.Tree("root.tree")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			err = RestoreTree(context.Background(), tree, "", out, nil)
			var inc *IncompleteError
			switch {
			case tt.failed > 0 && (!errors.As(err, &inc) || !errors.Is(err, ErrIncomplete) || len(inc.Failed) != tt.failed):
				t.Fatalf("RestoreTree: %v; want an IncompleteError listing %d files", err, tt.failed)
			case tt.failed == 0 && (!errors.Is(err, tt.err) || errors.As(err, &inc)):
				t.Fatalf("RestoreTree: %v; want it to end with %v", err, tt.err)
			}
			if inc != nil {
				for _, f := range inc.Failed {
					if !errors.Is(f.Err, tt.err) || !strings.Contains(f.Err.Error(), f.Path) {
						t.Errorf("failed entry %s: %v", f.Path, f.Err)
					}
				}
			}
			if got := entries(t, out); strings.Join(got, " ") != strings.Join(tt.entries, " ") {
				t.Errorf("restore left %q, want %q", got, tt.entries)
			}
		})
	}
}

// entries lists what is under dir, sorted (nil if dir is missing).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
