package client_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/store"
)

// goSource returns size bytes of the Go toolchain's own source text.
func goSource(b *testing.B, size int) []byte {
	var text []byte
	err := filepath.WalkDir(filepath.Join(goroot(b), "src", "net", "http"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(text) >= size || !strings.HasSuffix(p, ".go") {
			return err
		}
		data, err := os.ReadFile(p)
		text = append(text, data...)
		return err
	})
	if err != nil || len(text) < size {
		b.Fatalf("Go source for the text case: %d bytes, %v", len(text), err)
	}
	return text[:size]
}

// BenchmarkReadFloor is the least CPU a chunk read through the mount must
// spend, per plain byte, whatever the code around it does: the server's
// CRC check and TLS encryption (AES-128-GCM, what TLS 1.3 picks with
// AES-NI), the client's TLS decryption and SHA-256 verification, and for
// compressible data the zstd decode. Kernel copies (FUSE, the reader's
// read(2), the socket) come on top. On 2 cores the sequential read of a
// mount can go at most 2 / (this CPU time per byte).
func BenchmarkReadFloor(b *testing.B) {
	const size = 128 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, size)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := goSource(b, size) // compresses like the bench tree: to about 0.3

	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"random", random}, {"text", text}} {
		blob, err := store.EncodeBlob(tc.data)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: blob %d bytes for %d plain", tc.name, len(blob), size)
		d := sha256.Sum256(tc.data)
		sealed := make([]byte, 0, len(blob)+gcm.Overhead())
		opened := make([]byte, 0, len(blob))
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				crc32.Checksum(blob, castagnoli)
				sealed = gcm.Seal(sealed[:0], nonce, blob, nil)
				var err error
				if opened, err = gcm.Open(opened[:0], nonce, sealed, nil); err != nil {
					b.Fatal(err)
				}
				plain, err := store.DecodeBlob(opened, d)
				if err != nil || len(plain) != size {
					b.Fatal(err)
				}
			}
		})
	}
}
