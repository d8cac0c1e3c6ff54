package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"golang.org/x/crypto/chacha20poly1305"
)

// A sealed blob stored under the plain digest of other data (a forgery:
// the store checks a sealed blob's CRC only) is replaced by the next put
// of the real bytes, through PutChunk and PutBlob alike; a stored chunk
// is never replaced by a sealed blob.
func TestForgedSealedBlobReplaced(t *testing.T) {
	s, _ := newStore(t)
	aead, err := chacha20poly1305.NewX(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	forge := func(d catalog.Digest) []byte {
		b, err := SealBlob([]byte("forged"), d, aead)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := chunkData("real", 2)
	ds := digests(plain)
	for i, put := range []func(d catalog.Digest, p []byte) (bool, error){
		s.PutChunk,
		func(d catalog.Digest, p []byte) (bool, error) {
			b, err := EncodeBlob(p)
			if err != nil {
				return false, err
			}
			return s.PutBlob(d, b)
		},
	} {
		d := ds[i]
		if _, err := s.PutBlob(d, forge(d)); err != nil {
			t.Fatalf("the forgery: %v", err)
		}
		if _, err := s.Chunk(d); !errors.Is(err, ErrSealed) {
			t.Fatalf("before the real put: %v, want ErrSealed", err)
		}
		if written, err := put(d, plain[i]); err != nil || !written {
			t.Fatalf("put %d of the real bytes: written %v, %v", i, written, err)
		}
		got, err := s.Chunk(d)
		if err != nil || !bytes.Equal(got, plain[i]) {
			t.Fatalf("put %d: the chunk reads %v after the real bytes were put", i, err)
		}
		if written, err := s.PutBlob(d, forge(d)); err != nil || written {
			t.Fatalf("a sealed blob over the real chunk: written %v, %v", written, err)
		}
		if _, err := s.Chunk(d); err != nil {
			t.Fatalf("put %d: a sealed blob replaced the real chunk: %v", i, err)
		}
	}

	// Sealed over sealed (a keyed id: nothing to check) is a touch: the
	// first blob stays, so nobody who learns an id can overwrite it.
	id := catalog.Sum([]byte("a keyed id"))
	first := forge(id)
	if _, err := s.PutBlob(id, first); err != nil {
		t.Fatal(err)
	}
	if written, err := s.PutBlob(id, forge(id)); err != nil || written {
		t.Fatalf("a sealed blob over a sealed one: written %v, %v", written, err)
	}
	if got, err := s.Blob(id); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the first sealed blob was replaced (%v)", err)
	}
}
