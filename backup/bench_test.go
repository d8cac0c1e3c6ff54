package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/store"
)

// BenchmarkBackupImage backs up a 64 MiB image (half random, half
// repetitive text) into a fresh datastore per iteration: chunking,
// hashing, compression and chunk writes. Compare with BenchmarkReadImage,
// the same file read with os.ReadFile, in the same run.
func BenchmarkBackupImage(b *testing.B) {
	path := benchImage(b)
	b.SetBytes(64 << 20)
	for i := 0; b.Loop(); i++ {
		s, err := store.Init(filepath.Join(b.TempDir(), "ds"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.Begin(group, when)
		if err != nil {
			b.Fatal(err)
		}
		var st Stats
		if _, err := Run(context.Background(), w, Options{Group: group, Time: when, Archives: []Spec{{Name: "d.img", Path: path}}}, &st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadImage(b *testing.B) {
	path := benchImage(b)
	b.SetBytes(64 << 20)
	for b.Loop() {
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

func benchImage(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "bench.img")
	data := randBytes(7, 32<<20)
	text := []byte("backupfs benchmark text, compressible and repetitive. ")
	for len(data) < 64<<20 {
		data = append(data, text...)
	}
	if err := os.WriteFile(path, data[:64<<20], 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSecondBackupTree backs up an unchanged tree of 2,000 files
// (~20 MB) again with change detection, warm cache: the walk, the previous
// catalog's reads and the new catalog, no file contents. SetBytes counts
// the files' bytes, so MB/s reads as "tree size handled per second".
func BenchmarkSecondBackupTree(b *testing.B) {
	src := b.TempDir()
	incrTree(b, src, 2000)
	s, err := store.Init(filepath.Join(b.TempDir(), "ds"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	first := when
	w, _ := s.Begin(group, first)
	var st Stats
	if _, err := Run(context.Background(), w, Options{Group: group, Time: first, Archives: []Spec{{Name: "root.tree", Path: src}}}, &st); err != nil {
		b.Fatal(err)
	}
	prev, err := OpenSnapshot(s, group, first)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes.Load())
	for i := 0; b.Loop(); i++ {
		at := first.Add(time.Duration(i+1) * time.Second)
		w, err := s.Begin(group, at)
		if err != nil {
			b.Fatal(err)
		}
		var st2 Stats
		if _, err := Run(context.Background(), w, Options{Group: group, Time: at, Previous: prev,
			Archives: []Spec{{Name: "root.tree", Path: src}}}, &st2); err != nil {
			b.Fatal(err)
		}
		if st2.ReusedFiles.Load() == 0 {
			b.Fatal("nothing reused")
		}
	}
}
