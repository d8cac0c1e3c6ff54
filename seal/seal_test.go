package seal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"unsafe"

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

// opens are the two ways to open a fetched blob; OpenShared gets a copy
// (it decrypts in place) and its aliases must be true exactly when the
// result is that copy's own buffer.
var opens = []struct {
	name string
	open func(t testing.TB, s *Sealer, id catalog.Digest, blob []byte) ([]byte, error)
}{
	{"Open", func(t testing.TB, s *Sealer, id catalog.Digest, blob []byte) ([]byte, error) {
		return s.Open(id, blob)
	}},
	{"OpenShared", func(t testing.TB, s *Sealer, id catalog.Digest, blob []byte) ([]byte, error) {
		own := bytes.Clone(blob)
		plain, aliases, err := s.OpenShared(id, own)
		if err == nil && len(plain) > 0 && len(own) > 0 {
			if shares := inside(plain, own); shares != aliases {
				t.Fatalf("OpenShared: aliases %v, but the result shares the blob's buffer: %v", aliases, shares)
			}
		}
		return plain, err
	}},
}

// inside reports whether p starts within buf's bytes.
func inside(p, buf []byte) bool {
	a, lo := uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&buf[0]))
	return a >= lo && a < lo+uintptr(len(buf))
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
		for _, o := range opens {
			got, err := o.open(t, s, id, blob)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s: %v", o.name, err)
			}
		}
	}
}

// TestOpenSharedInPlace: a raw (incompressible) sealed chunk opens in its
// blob's own buffer, a compressed one into a new slice.
func TestOpenSharedInPlace(t *testing.T) {
	s := newSealer(t)
	for _, tc := range []struct {
		plain   []byte
		aliases bool
	}{{randBytes(100_000, 4), true}, {bytes.Repeat([]byte("text "), 30_000), false}} {
		id := s.ID(tc.plain)
		blob, err := s.Seal(id, tc.plain)
		if err != nil {
			t.Fatal(err)
		}
		got, aliases, err := s.OpenShared(id, blob)
		if err != nil || !bytes.Equal(got, tc.plain) || aliases != tc.aliases {
			t.Fatalf("OpenShared of %d bytes: aliases %v (want %v), %v", len(tc.plain), aliases, tc.aliases, err)
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
		for _, o := range opens {
			if _, err := o.open(t, tc.s, tc.id, tc.blob); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s, %s: %v, want ErrCorrupt", o.name, tc.name, err)
			}
		}
	}
	// A zero chunk is a plain blob under its SHA-256: accepted.
	zero := make([]byte, 4096)
	zb, _ := store.EncodeBlob(zero)
	for _, o := range opens {
		if got, err := o.open(t, s, catalog.Sum(zero), zb); err != nil || !bytes.Equal(got, zero) {
			t.Fatalf("%s, zero chunk: %v", o.name, err)
		}
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
		for _, o := range opens {
			got, err := o.open(t, s, id, b)
			if err != nil {
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("%s: error %v does not wrap ErrCorrupt", o.name, err)
				}
				continue
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("%s gave other bytes than the sealed ones", o.name)
			}
		}
	})
}
