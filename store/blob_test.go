package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// compressible returns n bytes of text-like data that zstd shrinks.
func compressible(n int) []byte {
	b := make([]byte, n)
	words := []string{"backup ", "chunk ", "digest ", "snapshot ", "index ", "\n"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// random returns n incompressible bytes.
func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func TestBlobRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		plain []byte
		zstd  bool
	}{
		{"empty", []byte{}, false},
		{"one byte", []byte{7}, false},
		{"zeros 4 MiB", make([]byte, 4<<20), true},
		{"text 1 MiB", compressible(1 << 20), true},
		{"random 64 KiB", random(64<<10, 1), false},
		{"max size random", random(catalog.MaxChunkSize, 2), false},
		{"max size compressible", compressible(catalog.MaxChunkSize), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := EncodeBlob(tt.plain)
			if err != nil {
				t.Fatal(err)
			}
			if got := blob[5]&blobFlagZstd != 0; got != tt.zstd {
				t.Errorf("zstd flag = %v, want %v (blob %d bytes, plain %d)", got, tt.zstd, len(blob), len(tt.plain))
			}
			if len(blob) > BlobHeaderSize+len(tt.plain) {
				t.Errorf("blob %d bytes larger than raw %d", len(blob), BlobHeaderSize+len(tt.plain))
			}
			if err := CheckBlob(blob); err != nil {
				t.Fatalf("CheckBlob: %v", err)
			}
			got, err := DecodeBlob(blob, catalog.Sum(tt.plain))
			if err != nil {
				t.Fatalf("DecodeBlob: %v", err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatal("round trip changed the bytes")
			}
		})
	}
}

func TestEncodeBlobTooLarge(t *testing.T) {
	if _, err := EncodeBlob(make([]byte, catalog.MaxChunkSize+1)); err == nil {
		t.Fatal("EncodeBlob accepted a chunk over MaxChunkSize")
	}
}

// reCRC recomputes a blob's CRC after a test edits it on purpose, so the
// deeper checks are reached.
func reCRC(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[12:16], blobCRC(b))
	return b
}

func TestBlobCorruption(t *testing.T) {
	text := compressible(256 << 10)
	zblob, _ := EncodeBlob(text)
	raw := random(4096, 3)
	rblob, _ := EncodeBlob(raw)
	edit := func(src []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(src)) }
	flip := func(i int) func([]byte) []byte { return func(b []byte) []byte { b[i] ^= 0x10; return b } }
	tests := []struct {
		name      string
		blob      []byte
		want      catalog.Digest
		checkFail bool // CheckBlob must fail too (not only DecodeBlob)
	}{
		{"empty", nil, catalog.Sum(nil), true},
		{"short header", zblob[:BlobHeaderSize-1], catalog.Sum(text), true},
		{"magic", edit(zblob, flip(0)), catalog.Sum(text), true},
		{"version", edit(zblob, flip(4)), catalog.Sum(text), true},
		{"flags", edit(zblob, flip(5)), catalog.Sum(text), true},
		{"reserved", edit(zblob, flip(7)), catalog.Sum(text), true},
		{"length", edit(zblob, flip(9)), catalog.Sum(text), true},
		{"crc", edit(zblob, flip(13)), catalog.Sum(text), true},
		{"zstd payload", edit(zblob, flip(BlobHeaderSize+100)), catalog.Sum(text), true},
		{"raw payload", edit(rblob, flip(len(rblob)-1)), catalog.Sum(raw), true},
		{"truncated zstd", zblob[:len(zblob)-1], catalog.Sum(text), true},
		{"truncated raw", rblob[:len(rblob)-1], catalog.Sum(raw), true},
		{"trailing byte", append(bytes.Clone(rblob), 0), catalog.Sum(raw), true},
		{"wrong digest", rblob, catalog.Sum(text), false},
		{"oversized length", edit(zblob, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:12], catalog.MaxChunkSize+1)
			return reCRC(b)
		}), catalog.Sum(text), true},
		{"length larger than frame", edit(zblob, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:12], uint32(len(text)+1))
			return reCRC(b)
		}), catalog.Sum(text), false},
		{"length smaller than frame", edit(zblob, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:12], uint32(len(text)-1))
			return reCRC(b)
		}), catalog.Sum(text), false},
		{"zstd flag on raw", edit(rblob, func(b []byte) []byte { b[5] = blobFlagZstd; return reCRC(b) }), catalog.Sum(raw), true},
		{"raw flag on zstd", edit(zblob, func(b []byte) []byte { b[5] = 0; return reCRC(b) }), catalog.Sum(text), true},
		{"garbage zstd", edit(zblob, func(b []byte) []byte {
			copy(b[BlobHeaderSize:], "not a zstd frame at all")
			return reCRC(b)
		}), catalog.Sum(text), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBlob(tt.blob, tt.want); !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeBlob: %v, want ErrCorrupt", err)
			}
			err := CheckBlob(tt.blob)
			if tt.checkFail && !errors.Is(err, ErrCorrupt) {
				t.Errorf("CheckBlob: %v, want ErrCorrupt", err)
			}
			if !tt.checkFail && err != nil {
				t.Errorf("CheckBlob: %v, want nil (only DecodeBlob can tell)", err)
			}
		})
	}
}

// TestBlobEveryByteFlip flips each byte of a small blob in turn: CheckBlob
// must catch every one, since the CRC covers header and payload.
func TestBlobEveryByteFlip(t *testing.T) {
	for _, plain := range [][]byte{compressible(2000), random(300, 4)} {
		blob, _ := EncodeBlob(plain)
		for i := range blob {
			b := bytes.Clone(blob)
			b[i] ^= 1
			if err := CheckBlob(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d of %d: CheckBlob = %v", i, len(blob), err)
			}
			// DecodeBlobShared skips the CRC: what it accepts is the
			// chunk's exact bytes (a flip in the CRC field, or in a zstd
			// frame field that does not change the output); a raw blob
			// flipped outside the CRC field is always refused.
			got, _, err := DecodeBlobShared(b, catalog.Sum(plain))
			crcField := i >= 12 && i < 16
			switch {
			case err != nil && !errors.Is(err, ErrCorrupt):
				t.Fatalf("flip at %d: DecodeBlobShared = %v, not ErrCorrupt", i, err)
			case err == nil && !bytes.Equal(got, plain):
				t.Fatalf("flip at %d: DecodeBlobShared accepted other bytes", i)
			case crcField && err != nil:
				t.Fatalf("flip at %d (CRC field): DecodeBlobShared = %v", i, err)
			case !crcField && !BlobCompressed(blob) && err == nil:
				t.Fatalf("flip at %d of a raw blob: DecodeBlobShared accepted it", i)
			}
		}
	}
}

func FuzzDecodeBlob(f *testing.F) {
	for _, plain := range [][]byte{{}, []byte("hello"), compressible(5000), random(100, 5)} {
		blob, _ := EncodeBlob(plain)
		f.Add(blob)
	}
	for _, g := range goldenBlobs(f) {
		f.Add(g.blob)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		fuzzBlob(t, blob)
		// The CRC stops almost every mutation at the header; retry with
		// the CRC fixed so the fuzzer reaches the length checks and zstd.
		if len(blob) >= BlobHeaderSize {
			fuzzBlob(t, reCRC(bytes.Clone(blob)))
		}
	})
}

func fuzzBlob(t *testing.T, blob []byte) {
	plain, err := decodeBlob(blob)
	if errors.Is(err, ErrSealed) {
		// A sealed blob with a sound header and CRC: the store's key-less
		// checks accept it, the plain decoders refuse it as sealed.
		if CheckBlob(blob) != nil || VerifyBlob(blob, catalog.Sum(nil)) != nil {
			t.Fatalf("a sealed blob decodeBlob found sound fails CheckBlob or VerifyBlob")
		}
		if _, _, err2 := DecodeBlobShared(bytes.Clone(blob), catalog.Sum(nil)); !errors.Is(err2, ErrSealed) {
			t.Fatalf("DecodeBlobShared gave %v for a sealed blob, want ErrSealed", err2)
		}
		return
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if _, err2 := DecodeBlob(blob, catalog.Sum(nil)); err2 == nil {
			t.Fatalf("DecodeBlob accepted what decodeBlob refused: %v", err)
		}
		if err2 := VerifyBlob(blob, catalog.Sum(nil)); !errors.Is(err2, ErrCorrupt) {
			t.Fatalf("VerifyBlob gave %v for what decodeBlob refused: %v", err2, err)
		}
		// Without the CRC it may accept a blob of the right content.
		// It skips the CRC, so a header that says sealed is refused as such.
		got, _, err2 := DecodeBlobShared(bytes.Clone(blob), catalog.Sum(nil))
		if err2 == nil && len(got) != 0 || err2 != nil && !errors.Is(err2, ErrCorrupt) && !errors.Is(err2, ErrSealed) {
			t.Fatalf("DecodeBlobShared gave %d bytes, %v for what decodeBlob refused: %v", len(got), err2, err)
		}
		return
	}
	if shared, _, err := DecodeBlobShared(bytes.Clone(blob), catalog.Sum(plain)); err != nil || !bytes.Equal(shared, plain) {
		t.Fatalf("DecodeBlobShared refused or changed what decodeBlob accepted: %v", err)
	}
	if err := VerifyBlob(blob, catalog.Sum(plain)); err != nil {
		t.Fatalf("VerifyBlob refused what decodeBlob accepted: %v", err)
	}
	if CheckBlob(blob) != nil {
		t.Fatal("decodeBlob accepted what CheckBlob refused")
	}
	if len(plain) > catalog.MaxChunkSize {
		t.Fatalf("plain length %d", len(plain))
	}
	got, err := DecodeBlob(blob, catalog.Sum(plain))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("DecodeBlob with the right digest: %v", err)
	}
	again, err := EncodeBlob(plain)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeBlob(again, catalog.Sum(plain)); err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("re-encode round trip: %v", err)
	}
}

type golden struct {
	name        string
	blob, plain []byte
}

// goldenBlobs loads testdata/blobs/NAME.blob with NAME.plain: blobs written
// by an earlier build, so a format change that breaks stored data fails.
// STORE_WRITE_GOLDEN=1 (re)writes them.
func goldenBlobs(tb testing.TB) []golden {
	tb.Helper()
	if os.Getenv("STORE_WRITE_GOLDEN") == "1" {
		writeGolden(tb)
	}
	plains, err := filepath.Glob("testdata/blobs/*.plain")
	if err != nil || len(plains) == 0 {
		tb.Fatalf("no golden blobs in testdata/blobs: %v", err)
	}
	var out []golden
	for _, p := range plains {
		plain, err1 := os.ReadFile(p)
		blob, err2 := os.ReadFile(strings.TrimSuffix(p, ".plain") + ".blob")
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatal(err)
		}
		out = append(out, golden{filepath.Base(p), blob, plain})
	}
	return out
}

func writeGolden(tb testing.TB) {
	files := map[string][]byte{"empty": {}, "hello": []byte("hello, backupfs\n"), "text": compressible(20000), "random": random(512, 9)}
	for name, plain := range files {
		blob, err := EncodeBlob(plain)
		if err != nil {
			tb.Fatal(err)
		}
		base := filepath.Join("testdata", "blobs", name)
		if err := errors.Join(os.MkdirAll(filepath.Dir(base), 0o755),
			os.WriteFile(base+".plain", plain, 0o644), os.WriteFile(base+".blob", blob, 0o644)); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestGoldenBlobs(t *testing.T) {
	for _, g := range goldenBlobs(t) {
		got, err := DecodeBlob(g.blob, catalog.Sum(g.plain))
		if err != nil || !bytes.Equal(got, g.plain) {
			t.Errorf("%s: %v", g.name, err)
		}
	}
}
