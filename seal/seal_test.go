package seal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/keyfile"
	"github.com/backupfs/backupfs/store"
)

func newSealer(t testing.TB) *Sealer {
	t.Helper()
	k, err := keyfile.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRoundTrip: compressible and random chunks seal and open; the id is
// keyed (not the SHA-256, different per key, the same for the same bytes).
func TestRoundTrip(t *testing.T) {
	s := newSealer(t)
	for _, plain := range [][]byte{randBytes(100_000, 1), bytes.Repeat([]byte("text "), 30_000), {7}} {
		id := s.ID(plain)
		if id == catalog.Sum(plain) || id == newSealer(t).ID(plain) || id != s.ID(bytes.Clone(plain)) {
			t.Fatal("ID must be keyed and deterministic")
		}
		blob, err := s.Seal(id, plain)
		if err != nil {
			t.Fatal(err)
		}
		if !store.BlobSealed(blob) || store.CheckBlob(blob) != nil || store.VerifyBlob(blob, id) != nil {
			t.Fatal("a sealed blob must pass the store's key-less checks")
		}
		if len(plain) > 16 && bytes.Contains(blob, plain[:16]) {
			t.Fatal("the blob holds plain bytes")
		}
		if _, err := store.DecodeBlob(blob, id); !errors.Is(err, store.ErrSealed) {
			t.Fatalf("DecodeBlob of a sealed blob: %v, want ErrSealed", err)
		}
		got, err := s.Open(id, blob)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open: %v", err)
		}
	}
}

// TestOpenRefuses: what a hostile or broken server could hand back is an
// error wrapping ErrCorrupt, never other bytes.
func TestOpenRefuses(t *testing.T) {
	s := newSealer(t)
	a, b := randBytes(5000, 2), randBytes(5000, 3)
	ida, idb := s.ID(a), s.ID(b)
	blobA, _ := s.Seal(ida, a)
	blobB, _ := s.Seal(idb, b)
	plainBlob, _ := store.EncodeBlob(a)
	flipped := bytes.Clone(blobA)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name string
		id   catalog.Digest
		blob []byte
		s    *Sealer
	}{
		{"blob of another id (swapped by the server)", ida, blobB, s},
		{"another key", ida, blobA, newSealer(t)},
		{"a flipped bit", ida, flipped, s},
		{"a plain blob under a keyed id", ida, plainBlob, s},
		{"truncated", ida, blobA[:len(blobA)-10], s},
	} {
		if _, err := tc.s.Open(tc.id, tc.blob); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
	// A zero chunk is a plain blob under its SHA-256: accepted.
	zero := make([]byte, 4096)
	zb, _ := store.EncodeBlob(zero)
	if got, err := s.Open(catalog.Sum(zero), zb); err != nil || !bytes.Equal(got, zero) {
		t.Fatalf("zero chunk: %v", err)
	}
}

func TestCheckManifest(t *testing.T) {
	s := newSealer(t)
	if err := s.CheckManifest(&catalog.Manifest{}); err != nil {
		t.Fatalf("plain manifest: %v", err)
	}
	if err := s.CheckManifest(&catalog.Manifest{Key: s.Fingerprint()}); err != nil {
		t.Fatalf("own key: %v", err)
	}
	if err := s.CheckManifest(&catalog.Manifest{Key: newSealer(t).Fingerprint()}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s := newSealer(f)
	plain := []byte("some plain bytes, some plain bytes, some plain bytes")
	id := s.ID(plain)
	blob, _ := s.Seal(id, plain)
	f.Add(blob)
	f.Add(blob[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := s.Open(id, b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(got, plain) {
			t.Fatal("Open gave other bytes than the sealed ones")
		}
	})
}
