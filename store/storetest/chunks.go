package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
	"golang.org/x/crypto/chacha20poly1305"
)

// testChunks: put, has, get; a wrong digest and a bad blob are refused
// and store nothing; a second put of a chunk writes nothing.
func testChunks(t *testing.T, h *Harness) {
	s := h.Store
	c := Chunks("chunk", 2)
	d := catalog.Sum(c[0])
	if has(t, s, d) {
		t.Fatal("HasChunk of a new datastore: true")
	}
	if _, err := s.Chunk(d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Chunk(missing) error = %v, want ErrNotFound", err)
	}
	if written, err := s.PutChunk(d, c[0]); err != nil || !written {
		t.Fatalf("PutChunk = %v, %v; want written", written, err)
	}
	if written, err := s.PutChunk(d, c[0]); err != nil || written {
		t.Fatalf("PutChunk again = %v, %v; want not written", written, err)
	}
	got, err := s.Chunk(d)
	if err != nil || !bytes.Equal(got, c[0]) {
		t.Fatalf("Chunk = %d bytes, %v; want the chunk", len(got), err)
	}
	blob, err := s.ReadBlob(d, func(n int) []byte { return make([]byte, n) })
	must(t, err)
	if plain, err := store.DecodeBlob(blob, d); err != nil || !bytes.Equal(plain, c[0]) {
		t.Fatalf("ReadBlob: blob does not decode to the chunk: %v", err)
	}
	d1 := catalog.Sum(c[1])
	if _, err := s.PutChunk(d1, c[0]); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("PutChunk(wrong digest) error = %v, want ErrInvalid", err)
	}
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 0xff
	if _, err := s.PutBlob(d1, bad); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("PutBlob(bad blob) error = %v, want ErrCorrupt", err)
	}
	if _, err := s.PutBlob(d1, blob); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("PutBlob(blob of another digest) error = %v, want ErrCorrupt", err)
	}
	if has(t, s, d1) {
		t.Fatal("a refused chunk was stored")
	}
	b1, err := store.EncodeBlob(c[1])
	must(t, err)
	if written, err := s.PutBlob(d1, b1); err != nil || !written {
		t.Fatalf("PutBlob = %v, %v; want written", written, err)
	}
	if got, err := s.Chunk(d1); err != nil || !bytes.Equal(got, c[1]) {
		t.Fatalf("Chunk after PutBlob: %v", err)
	}
}

// testCorruptChunk: a chunk damaged in the backend is never returned:
// Chunk and ReadBlob give ErrCorrupt.
func testCorruptChunk(t *testing.T, h *Harness) {
	s := h.Store
	c := Chunks("corrupt", 1)[0]
	d := catalog.Sum(c)
	_, err := s.PutChunk(d, c)
	must(t, err)
	h.Corrupt(d)
	if b, err := s.Chunk(d); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Chunk(corrupt) = %d bytes, %v; want ErrCorrupt", len(b), err)
	}
	if b, err := s.ReadBlob(d, func(n int) []byte { return make([]byte, n) }); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("ReadBlob(corrupt) = %d bytes, %v; want ErrCorrupt", len(b), err)
	}
	h.Delete(d)
	if _, err := s.Chunk(d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Chunk(deleted) error = %v, want ErrNotFound", err)
	}
}

// testForgedSealedBlob: a sealed blob stored under the plain digest of
// other data (a forgery: a store checks a sealed blob's CRC only) is
// replaced by the next put of the real bytes, through PutChunk and
// PutBlob alike; a stored chunk is never replaced by a sealed blob, nor a
// sealed blob by another sealed one.
func testForgedSealedBlob(t *testing.T, h *Harness) {
	s := h.Store
	aead, err := chacha20poly1305.NewX(make([]byte, chacha20poly1305.KeySize))
	must(t, err)
	forge := func(d catalog.Digest) []byte {
		b, err := store.SealBlob([]byte("forged"), d, aead)
		must(t, err)
		return b
	}
	plain := Chunks("forged", 2)
	puts := []func(d catalog.Digest, p []byte) (bool, error){
		s.PutChunk,
		func(d catalog.Digest, p []byte) (bool, error) {
			b, err := store.EncodeBlob(p)
			if err != nil {
				return false, err
			}
			return s.PutBlob(d, b)
		},
	}
	for i, put := range puts {
		d := catalog.Sum(plain[i])
		_, err := s.PutBlob(d, forge(d))
		must(t, err)
		if _, err := s.Chunk(d); !errors.Is(err, store.ErrSealed) {
			t.Fatalf("put %d: before the real bytes: %v, want ErrSealed", i, err)
		}
		if written, err := put(d, plain[i]); err != nil || !written {
			t.Fatalf("put %d of the real bytes: written %v, %v; want the forgery replaced", i, written, err)
		}
		if got, err := s.Chunk(d); err != nil || !bytes.Equal(got, plain[i]) {
			t.Fatalf("put %d: the chunk reads %v after the real bytes were put", i, err)
		}
		if written, err := s.PutBlob(d, forge(d)); err != nil || written {
			t.Fatalf("put %d: a sealed blob over the real chunk: written %v, %v", i, written, err)
		}
		if _, err := s.Chunk(d); err != nil {
			t.Fatalf("put %d: a sealed blob replaced the real chunk: %v", i, err)
		}
	}
	id := catalog.Sum([]byte("a keyed id"))
	first := forge(id)
	_, err = s.PutBlob(id, first)
	must(t, err)
	if written, err := s.PutBlob(id, forge(id)); err != nil || written {
		t.Fatalf("a sealed blob over a sealed one: written %v, %v", written, err)
	}
	if got, err := s.ReadBlob(id, func(n int) []byte { return make([]byte, n) }); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the first sealed blob was replaced (%v)", err)
	}
}
