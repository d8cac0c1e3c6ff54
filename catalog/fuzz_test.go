package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
)

// The seed corpora live in testdata/fuzz/FuzzXxx/ (written by
// TestGenerateFuzzSeeds with -gen-seeds); the go tool adds them itself.

// isSentinel reports whether err wraps one of the package's sentinels.
func isSentinel(err error) bool {
	for _, s := range []error{ErrFormat, ErrVersion, ErrChecksum, ErrName, ErrNotExist} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzDecodeFixedIndex(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeFixedIndex(b)
		if err != nil {
			if x != nil || !isSentinel(err) {
				t.Fatalf("DecodeFixedIndex = %v, %v", x, err)
			}
			return
		}
		w, err := NewFixedIndexWriter(x.ChunkSize())
		if err != nil {
			t.Fatal(err)
		}
		for i := range x.NumChunks() {
			s, e, d := x.Chunk(i)
			if x.Find(s) != i || x.Find(e-1) != i {
				t.Fatalf("Find disagrees with Chunk(%d) = [%d, %d)", i, s, e)
			}
			if err := w.Add(d, int(e-s)); err != nil {
				t.Fatal(err)
			}
		}
		if x.Find(x.Size()) != -1 {
			t.Fatal("Find(Size()) != -1")
		}
		if got := w.Encode(x.CTime()); !bytes.Equal(got, b) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzDecodeDynamicIndex(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeDynamicIndex(b)
		if err != nil {
			if x != nil || !isSentinel(err) {
				t.Fatalf("DecodeDynamicIndex = %v, %v", x, err)
			}
			return
		}
		w := NewDynamicIndexWriter()
		for i := range x.NumChunks() {
			s, e, d := x.Chunk(i)
			if x.Find(s) != i || x.Find(e-1) != i {
				t.Fatalf("Find disagrees with Chunk(%d) = [%d, %d)", i, s, e)
			}
			if err := w.Add(d, int(e-s)); err != nil {
				t.Fatal(err)
			}
		}
		if x.Find(x.Size()) != -1 {
			t.Fatal("Find(Size()) != -1")
		}
		if got := w.Encode(x.CTime()); !bytes.Equal(got, b) {
			t.Fatal("re-encoding differs")
		}
		if y, err := DecodeIndex(b); err != nil || y.Size() != x.Size() {
			t.Fatalf("DecodeIndex = %v, %v", y, err)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if m != nil || !isSentinel(err) {
				t.Fatalf("DecodeManifest = %v, %v", m, err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeManifest accepted invalid JSON %q", b)
		}
		enc, err := EncodeManifest(m)
		if err != nil {
			t.Fatalf("EncodeManifest of a decoded manifest: %v", err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("decoding a re-encoded manifest: %v", err)
		}
		if enc2, _ := EncodeManifest(m2); !bytes.Equal(enc, enc2) {
			t.Fatal("manifest encoding is not stable")
		}
	})
}

// FuzzTreeReader opens the input as a catalog and walks everything, by the
// catalog API and through FS (the input doubles as the payload). Tables
// point only backwards, but several entries may share one table, so the
// walks are bounded by entry count rather than trusted to be small.
func FuzzTreeReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := walkCatalog(b, 300); err != nil {
			if !isSentinel(err) {
				t.Fatalf("walk: %v", err)
			}
			return
		}
		r, err := NewTreeReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		fsys := r.FS(bytes.NewReader(b))
		n := 0
		_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if n++; n > 300 {
				return fs.SkipAll
			}
			if err != nil {
				return nil
			}
			if _, err := fs.Stat(fsys, p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("Stat(%q): %v", p, err)
			}
			if d.Type().IsRegular() {
				_, _ = fs.ReadFile(fsys, p)
			}
			return nil
		})
	})
}
