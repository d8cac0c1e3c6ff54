package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

func TestDecodeBlobShared(t *testing.T) {
	tests := []struct {
		name    string
		plain   []byte
		aliases bool
	}{
		{"raw", random(64<<10, 5), true},
		{"zstd", compressible(256 << 10), false},
		{"empty", []byte{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := EncodeBlob(tt.plain)
			if err != nil {
				t.Fatal(err)
			}
			d := catalog.Sum(tt.plain)
			plain, aliases, err := DecodeBlobShared(blob, d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, tt.plain) {
				t.Fatal("plain bytes differ")
			}
			if aliases != tt.aliases {
				t.Errorf("aliases = %v, want %v", aliases, tt.aliases)
			}
			if len(plain) > 0 && aliases != (&plain[0] == &blob[BlobHeaderSize]) {
				t.Errorf("aliases = %v, but the result starts at the payload: %v", aliases, !aliases)
			}
			other := catalog.Sum([]byte("other"))
			if _, _, err := DecodeBlobShared(blob, other); !errors.Is(err, ErrCorrupt) {
				t.Errorf("wrong digest: %v, want ErrCorrupt", err)
			}
			bad := bytes.Clone(blob)
			bad[len(bad)-1] ^= 1
			if len(tt.plain) > 0 {
				if _, _, err := DecodeBlobShared(bad, d); !errors.Is(err, ErrCorrupt) {
					t.Errorf("flipped payload bit: %v, want ErrCorrupt", err)
				}
			}
		})
	}
}

func TestReadBlob(t *testing.T) {
	s, _ := newStore(t)
	plain := random(100<<10, 9)
	d := catalog.Sum(plain)
	if _, err := s.PutChunk(d, plain); err != nil {
		t.Fatal(err)
	}
	want, err := s.Blob(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("into the caller's buffer after a prefix", func(t *testing.T) {
		buf := make([]byte, 0, 8+MaxBlobSize)
		buf = append(buf, "prefix.."...)
		got, err := s.ReadBlob(d, func(n int) []byte { return buf[8 : 8+n] })
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || &got[0] != &buf[8:9][0] {
			t.Error("ReadBlob did not return the blob in the buffer it was given")
		}
		if string(buf[:8]) != "prefix.." {
			t.Error("ReadBlob wrote before the buffer it was given")
		}
	})
	t.Run("a buffer of the wrong length is refused", func(t *testing.T) {
		_, err := s.ReadBlob(d, func(n int) []byte { return make([]byte, n-1) })
		if err == nil {
			t.Fatal("ReadBlob accepted a short buffer")
		}
	})
	t.Run("missing chunk", func(t *testing.T) {
		called := false
		_, err := s.ReadBlob(catalog.Sum([]byte("nope")), func(n int) []byte { called = true; return make([]byte, n) })
		if !errors.Is(err, ErrNotFound) || called {
			t.Errorf("err %v, buffer asked for: %v; want ErrNotFound and no buffer", err, called)
		}
	})
}
