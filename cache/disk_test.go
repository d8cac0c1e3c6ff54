package cache

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// diskChunks puts n random chunks of size bytes into src.
func diskChunks(src *cachetest.Source, n, size int) ([]catalog.Digest, [][]byte) {
	rng := rand.New(rand.NewPCG(11, uint64(n)))
	var ds []catalog.Digest
	var bs [][]byte
	for range n {
		b := cachetest.RandomBytes(rng, size)
		ds = append(ds, src.Put(b))
		bs = append(bs, b)
	}
	return ds, bs
}

// readAll reads every chunk through c and checks the bytes.
func readAll(t *testing.T, c *Cache, ds []catalog.Digest, bs [][]byte) {
	t.Helper()
	for i, d := range ds {
		b, err := c.Chunk(context.Background(), d, len(bs[i]), true)
		if err != nil || !bytes.Equal(b, bs[i]) {
			t.Fatalf("chunk %d: %v (or wrong bytes)", i, err)
		}
	}
}

// reopen closes c (flushing disk writes) and opens a new cache on the same
// directory over a fresh source holding the same chunks.
func reopen(t *testing.T, c *Cache, dir string, ds []catalog.Digest, bs [][]byte) (*Cache, *cachetest.Source) {
	t.Helper()
	c.Close()
	src := cachetest.NewSource()
	for _, b := range bs {
		src.Put(b)
	}
	return newTest(t, src, Options{Dir: dir}), src
}

func TestDiskTierSurvivesRemount(t *testing.T) {
	dir := t.TempDir()
	src := cachetest.NewSource()
	ds, bs := diskChunks(src, 8, 10<<10)
	c := newTest(t, src, Options{Dir: dir})
	readAll(t, c, ds, bs)
	c2, src2 := reopen(t, c, dir, ds, bs)
	readAll(t, c2, ds, bs)
	if n := len(src2.Calls()); n != 0 {
		t.Errorf("after a remount the Source was called %d times", n)
	}
	if st := c2.Stats(); st.DiskHits != 8 || st.Fetches != 0 {
		t.Errorf("stats %v", st)
	}
}

func TestDiskTierCorruptEntries(t *testing.T) {
	for _, tt := range []struct {
		name    string
		corrupt func(path string) error
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(p, b, 0o600)
		}},
		{"truncated", func(p string) error { return os.Truncate(p, 100) }},
		{"longer", func(p string) error { return os.Truncate(p, 20<<10) }},
		{"a directory", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := cachetest.NewSource()
			ds, bs := diskChunks(src, 2, 10<<10)
			c := newTest(t, src, Options{Dir: dir})
			readAll(t, c, ds, bs)
			c.Close()
			_, path := c.disk.path(ds[0])
			if err := tt.corrupt(path); err != nil {
				t.Fatal(err)
			}
			c2, src2 := reopen(t, c, dir, ds, bs)
			readAll(t, c2, ds, bs)
			if src2.Count(ds[0]) != 1 || src2.Count(ds[1]) != 0 {
				t.Errorf("calls %v: want one refetch of the corrupt chunk only", src2.Calls())
			}
		})
	}
}

func TestDiskWriteFailuresNeverFailReads(t *testing.T) {
	t.Run("disk full", func(t *testing.T) {
		src := cachetest.NewSource()
		ds, bs := diskChunks(src, 4, 10<<10)
		c := newTest(t, src, Options{Dir: t.TempDir()})
		c.disk.writeFile = func(string, string, []byte) error { return syscall.ENOSPC }
		readAll(t, c, ds, bs)
	})
	t.Run("shard is a file", func(t *testing.T) {
		dir := t.TempDir()
		src := cachetest.NewSource()
		ds, bs := diskChunks(src, 4, 10<<10)
		for _, d := range ds { // every shard directory blocked by a regular file
			if err := os.WriteFile(filepath.Join(dir, d.String()[:2]), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c := newTest(t, src, Options{Dir: dir})
		readAll(t, c, ds, bs)
		c.Close()
		readAll(t, c, ds, bs) // from memory
	})
	t.Run("dir cannot be created", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New(cachetest.NewSource(), Options{Dir: filepath.Join(file, "sub")}); err == nil {
			t.Error("New with an impossible Dir succeeded")
		}
	})
}

func TestDiskTierBound(t *testing.T) {
	dir := t.TempDir()
	const bound = 100 << 10
	src := cachetest.NewSource()
	ds, bs := diskChunks(src, 30, 10<<10)
	c := newTest(t, src, Options{Dir: dir, DirSize: bound})
	readAll(t, c, ds, bs)
	c.Close()
	files, err := c.disk.scan(false)
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	for _, f := range files {
		used += f.size
	}
	if used > bound || len(files) == 0 {
		t.Errorf("%d files, %d bytes on disk; bound %d", len(files), used, bound)
	}
}

func TestDiskTierRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "ab", tmpPrefix+"123")
	if err := os.MkdirAll(filepath.Dir(stale), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	newTest(t, cachetest.NewSource(), Options{Dir: dir})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
}
