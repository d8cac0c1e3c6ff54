package cache

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// FuzzDiskEntry feeds arbitrary file contents to the disk tier's decoder
// (length and digest check): it must return the chunk's exact bytes or a
// miss, never other bytes, and remove a bad file.
func FuzzDiskEntry(f *testing.F) {
	want := []byte("the chunk the entry should hold")
	f.Add(want)
	f.Add([]byte{})
	f.Add(append([]byte(nil), want[:10]...))
	d := catalog.Sum(want)
	f.Fuzz(func(t *testing.T, content []byte) {
		tier, err := openDisk(t.TempDir(), 1<<20, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		dir, name := tier.path(d)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, ok := tier.get(d, len(want))
		if ok != bytes.Equal(content, want) || ok && !bytes.Equal(got, want) {
			t.Fatalf("get = %q, %v for content %q", got, ok, content)
		}
		if _, err := os.Stat(name); !ok && err == nil {
			t.Fatal("bad entry left in place")
		}
	})
}
