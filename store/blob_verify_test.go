package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// TestVerifyBlob: VerifyBlob accepts exactly the blobs DecodeBlob accepts
// for a digest, including with buffers reused from earlier calls.
func TestVerifyBlob(t *testing.T) {
	text := compressible(300 << 10)
	good, _ := EncodeBlob(text)
	raw, _ := EncodeBlob(random(70<<10, 3))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name string
		blob []byte
		want catalog.Digest
		ok   bool
	}{
		{"zstd", good, catalog.Sum(text), true},
		{"raw", raw, catalog.Sum(random(70<<10, 3)), true},
		{"zstd, other digest", good, catalog.Sum(text[1:]), false},
		{"raw, other digest", raw, catalog.Sum(text), false},
		{"flipped bit", flipped, catalog.Sum(text), false},
		{"re-CRC'd flipped bit", reCRC(bytes.Clone(flipped)), catalog.Sum(text), false},
		{"truncated", good[:len(good)-1], catalog.Sum(text), false},
		{"empty", nil, catalog.Sum(nil), false},
	}
	for range 2 { // the second round reuses pooled buffers
		for _, tt := range tests {
			err := VerifyBlob(tt.blob, tt.want)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Errorf("%s: %v; want ok=%v or ErrCorrupt", tt.name, err, tt.ok)
			}
			_, derr := DecodeBlob(tt.blob, tt.want)
			if (derr == nil) != (err == nil) {
				t.Errorf("%s: VerifyBlob %v, DecodeBlob %v", tt.name, err, derr)
			}
		}
	}
}

// TestAppendBlob: a blob appended after other bytes leaves them alone and
// decodes like EncodeBlob's.
func TestAppendBlob(t *testing.T) {
	for _, plain := range [][]byte{nil, []byte("x"), compressible(200 << 10), random(64<<10, 9)} {
		prefix := []byte("digest or header")
		out, err := AppendBlob(bytes.Clone(prefix), plain)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:len(prefix)], prefix) {
			t.Fatalf("prefix changed to %q", out[:len(prefix)])
		}
		want, _ := EncodeBlob(plain)
		if !bytes.Equal(out[len(prefix):], want) {
			t.Fatalf("%d bytes: appended blob differs from EncodeBlob's", len(plain))
		}
	}
	if _, err := AppendBlob(nil, make([]byte, catalog.MaxChunkSize+1)); err == nil {
		t.Fatal("AppendBlob took a chunk over the maximum")
	}
}

// TestPutHashedChunk stores without re-hashing and reads back; an existing
// chunk is touched, not rewritten, as with PutChunk.
func TestPutHashedChunk(t *testing.T) {
	s, _ := newStore(t)
	plain := compressible(100 << 10)
	d := catalog.Sum(plain)
	if written, err := s.PutHashedChunk(d, plain); !written || err != nil {
		t.Fatalf("first put: %v, %v", written, err)
	}
	if written, err := s.PutHashedChunk(d, plain); written || err != nil {
		t.Fatalf("second put: %v, %v; want not written", written, err)
	}
	got, err := s.Chunk(d)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read back: %v", err)
	}
	// PutChunk still checks: the same bytes under another digest are refused.
	if _, err := s.PutChunk(catalog.Sum(nil), plain); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutChunk with a wrong digest: %v; want ErrInvalid", err)
	}
}
