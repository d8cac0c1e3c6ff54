package objstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/s3test"
	"github.com/backupfs/backupfs/store/storetest"
)

// TestCacheFile: a store with Config.CacheFile keeps its existence set
// there at Close, and the next run's first put reads it instead of
// listing every chunk; a chunk the file lists is still HEADed and touched
// (not rewritten), a new one put at once. The file is consumed as it is
// read (a crash then lists again), and one naming another datastore is
// not used.
func TestCacheFile(t *testing.T) {
	srv := s3test.Start(t)
	cfg := config(srv, "cachefile", nil)
	cfg.CacheFile = filepath.Join(t.TempDir(), "state", "existence-cache")
	s, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	chunks := storetest.Chunks("cachefile", 30)
	storetest.Backup(t, s, catalog.Group{Type: "vm", ID: "1"}, storetest.Epoch, chunks[:20])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.CacheFile); err != nil {
		t.Fatalf("no cache file after Close: %v", err)
	}

	s, err = Open(cfg) // the next run
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks[20:] {
		if written, err := s.PutChunk(catalog.Sum(c), c); err != nil || !written {
			t.Fatalf("PutChunk(new) = %v, %v", written, err)
		}
	}
	if written, err := s.PutChunk(catalog.Sum(chunks[0]), chunks[0]); err != nil || written {
		t.Fatalf("PutChunk of a chunk the file lists = %v, %v; want touched, not rewritten", written, err)
	}
	if n := s.Requests().List.Load(); n != 0 {
		t.Fatalf("the run after a clean Close listed the store %d times; want the cache file read instead", n)
	}
	if _, err := os.Stat(cfg.CacheFile); !os.IsNotExist(err) {
		t.Fatalf("the cache file is still there after it was read: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	other := cfg
	other.Prefix = "elsewhere"
	o, err := Init(other)
	if err != nil {
		t.Fatal(err)
	}
	before := o.Requests().List.Load() // Init's look for an empty prefix
	if _, err := o.PutChunk(catalog.Sum(chunks[0]), chunks[0]); err != nil {
		t.Fatal(err)
	}
	if n := o.Requests().List.Load() - before; n == 0 {
		t.Fatal("a store read the cache file of another datastore instead of listing its own chunks")
	}
}

// A cache file that cannot be put in place fails Close with the path and
// leaves no temporary copy behind in the state directory.
func TestCacheFileNotWritten(t *testing.T) {
	srv := s3test.Start(t)
	cfg := config(srv, "cachefile-bad", nil)
	cfg.CacheFile = filepath.Join(t.TempDir(), "existence-cache")
	if err := os.MkdirAll(filepath.Join(cfg.CacheFile, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Backup(t, s, catalog.Group{Type: "vm", ID: "1"}, storetest.Epoch, storetest.Chunks("cachefile-bad", 3))
	if err := s.Close(); err == nil {
		t.Fatal("Close put the cache file over a directory")
	}
	if _, err := os.Stat(cfg.CacheFile + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("a failed Close left its temporary file: %v", err)
	}
}
