package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// TestOpenInit: Open never creates a datastore (a mistyped path must not
// become a new empty one); Init creates one in a missing or empty
// directory only, and says so when one is there already.
func TestOpenInit(t *testing.T) {
	foreign := func(dir string) error {
		return errors.Join(os.Mkdir(dir, 0o755), os.WriteFile(filepath.Join(dir, "x"), nil, 0o600))
	}
	tests := []struct {
		name             string
		prepare          func(dir string) error
		openErr, initErr error
	}{
		{"missing dir", func(dir string) error { return nil }, ErrNoDatastore, nil},
		{"empty dir", func(dir string) error { return os.Mkdir(dir, 0o755) }, ErrNoDatastore, nil},
		{"foreign dir", foreign, ErrNotDatastore, ErrNotDatastore},
		{"other marker", func(dir string) error {
			return errors.Join(os.Mkdir(dir, 0o755), os.WriteFile(filepath.Join(dir, markerName), []byte("v9"), 0o600))
		}, ErrNotDatastore, ErrNotDatastore},
		{"datastore", func(dir string) error {
			_, err := Init(dir, Options{})
			return err
		}, nil, ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			if err := tt.prepare(dir); err != nil {
				t.Fatal(err)
			}
			before := listing(t, dir)
			if _, err := Open(dir, Options{}); !errors.Is(err, tt.openErr) {
				t.Fatalf("Open: %v, want %v", err, tt.openErr)
			}
			if tt.openErr != nil {
				if after := listing(t, dir); after != before {
					t.Fatalf("a refused Open changed the directory: %q, was %q", after, before)
				}
			}
			s, err := Init(dir, Options{})
			if !errors.Is(err, tt.initErr) {
				t.Fatalf("Init: %v, want %v", err, tt.initErr)
			}
			if err != nil {
				return
			}
			if s.Dir() != dir {
				t.Errorf("Dir() = %s, want %s", s.Dir(), dir)
			}
			fi, err := os.Stat(filepath.Join(dir, chunksDir))
			if err != nil || fi.Mode().Perm() != dirPerm {
				t.Errorf("chunks dir: %v %v", fi, err)
			}
			if _, err := Open(dir, Options{}); err != nil {
				t.Errorf("Open after Init: %v", err)
			}
		})
	}
}

// listing names what is under dir ("" when it is missing).
func listing(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		names = append(names, p)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Join(names, "\n")
}

func TestPutChunk(t *testing.T) {
	s, c := newStore(t)
	plain := chunkData("a", 1)[0]
	d := catalog.Sum(plain)
	if ok, err := s.HasChunk(d); ok || err != nil {
		t.Fatalf("HasChunk before put = %v, %v", ok, err)
	}
	if _, err := s.Chunk(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Chunk before put: %v, want ErrNotFound", err)
	}
	if written, err := s.PutChunk(d, plain); !written || err != nil {
		t.Fatalf("first PutChunk = %v, %v", written, err)
	}
	fi, err := os.Stat(s.chunkPath(d))
	if err != nil || fi.Mode().Perm() != filePerm || !fi.ModTime().Equal(epoch) {
		t.Fatalf("chunk file: mode %v mtime %v err %v", fi.Mode(), fi.ModTime(), err)
	}
	c.Advance(time.Hour)
	if written, err := s.PutChunk(d, plain); written || err != nil {
		t.Fatalf("second PutChunk = %v, %v", written, err)
	}
	if fi, _ := os.Stat(s.chunkPath(d)); !fi.ModTime().Equal(epoch.Add(time.Hour)) {
		t.Errorf("existing chunk not touched: mtime %v", fi.ModTime())
	}
	got, err := s.Chunk(d)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Chunk: %v", err)
	}
	if ok, _ := s.HasChunk(d); !ok {
		t.Error("HasChunk after put = false")
	}
	blob, err := s.Blob(d)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeBlob(blob, d); err != nil || string(back) != string(plain) {
		t.Errorf("Blob does not decode: %v", err)
	}
}

func TestPutChunkRefuses(t *testing.T) {
	s, _ := newStore(t)
	plain := []byte("some data")
	if _, err := s.PutChunk(catalog.Sum([]byte("other")), plain); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong digest: %v, want ErrInvalid", err)
	}
	big := make([]byte, catalog.MaxChunkSize+1)
	if _, err := s.PutChunk(catalog.Sum(big), big); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized: %v, want ErrInvalid", err)
	}
	if ok, _ := s.HasChunk(catalog.Sum([]byte("other"))); ok {
		t.Error("a refused chunk was stored")
	}
}

func TestPutBlob(t *testing.T) {
	s, _ := newStore(t)
	plain := chunkData("b", 1)[0]
	d := catalog.Sum(plain)
	blob, _ := EncodeBlob(plain)
	bad := append([]byte(nil), blob...)
	bad[len(bad)-1] ^= 1
	if _, err := s.PutBlob(d, bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt blob: %v, want ErrCorrupt", err)
	}
	if _, err := s.PutBlob(catalog.Sum([]byte("x")), blob); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("blob under the wrong digest: %v, want ErrCorrupt", err)
	}
	if ok, _ := s.HasChunk(d); ok {
		t.Fatal("a refused blob was stored")
	}
	if written, err := s.PutBlob(d, blob); !written || err != nil {
		t.Fatalf("PutBlob = %v, %v", written, err)
	}
	if written, err := s.PutBlob(d, blob); written || err != nil {
		t.Fatalf("PutBlob again = %v, %v", written, err)
	}
	if got, err := s.Chunk(d); err != nil || string(got) != string(plain) {
		t.Fatalf("Chunk: %v", err)
	}
}

func TestChunkCorruptOnDisk(t *testing.T) {
	tests := []struct {
		name   string
		damage func(path string) error
		want   error
	}{
		{"flipped byte", func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			return os.WriteFile(p, b, 0o600)
		}, ErrCorrupt},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }, ErrCorrupt},
		{"oversized", func(p string) error { return os.Truncate(p, MaxBlobSize+1) }, ErrCorrupt},
		{"removed", os.Remove, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			plain := chunkData(tt.name, 1)[0]
			d := catalog.Sum(plain)
			if _, err := s.PutChunk(d, plain); err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(s.chunkPath(d)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Chunk(d); !errors.Is(err, tt.want) {
				t.Errorf("Chunk: %v, want %v", err, tt.want)
			}
			if _, err := s.Blob(d); !errors.Is(err, tt.want) {
				t.Errorf("Blob: %v, want %v", err, tt.want)
			}
			buf := make([]byte, MaxBlobSize+64)
			if _, err := s.ReadBlob(d, func(n int) []byte { return buf[:n] }); !errors.Is(err, tt.want) {
				t.Errorf("ReadBlob: %v, want %v", err, tt.want)
			}
		})
	}
}
