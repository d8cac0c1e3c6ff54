package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/backupfs/backupfs/catalog"
)

// Sealed blobs (client-side encryption, package seal). Flag bit 1 marks a
// blob whose payload the store cannot read:
//
//	payload = nonce (24 bytes) || AEAD(inner), where inner is the plain
//	bytes, zstd-compressed when flag bit 0 says so, and the AEAD's
//	associated data is header bytes 0..11 followed by the chunk's id.
//
// The CRC covers the header and the sealed payload as for any blob, so the
// store checks a sealed blob's integrity (CheckBlob, VerifyBlob, Verify)
// without the key; the id is a keyed MAC of the plain bytes that only a
// key holder can check (package seal). Binding the header and the id as
// associated data means a blob moved to another id, or with its length
// or flags changed, fails to open instead of giving other bytes.
const (
	blobFlagSealed = 1 << 1
	// SealNonceSize is the nonce of the sealing AEAD (XChaCha20-Poly1305).
	SealNonceSize = 24
	sealOverhead  = SealNonceSize + 16
)

// ErrSealed reports a sealed blob asked for its plain bytes without the
// key: its header and CRC were checked and are sound.
var ErrSealed = errors.New("store: sealed chunk (it needs the key it was sealed with)")

// BlobSealed reports whether a checked blob is sealed.
func BlobSealed(blob []byte) bool { return len(blob) >= BlobHeaderSize && blob[5]&blobFlagSealed != 0 }

// SealBlob encodes plain as a sealed blob under id with aead (a 24-byte
// nonce AEAD), compressing first when that makes it smaller.
func SealBlob(plain []byte, id catalog.Digest, aead cipher.AEAD) ([]byte, error) {
	if len(plain) > catalog.MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk of %d bytes, at most %d", ErrInvalid, len(plain), catalog.MaxChunkSize)
	}
	if aead.NonceSize() != SealNonceSize || aead.Overhead() != sealOverhead-SealNonceSize {
		return nil, fmt.Errorf("%w: sealing AEAD with a %d-byte nonce and %d-byte tag", ErrInvalid, aead.NonceSize(), aead.Overhead())
	}
	inner, err := appendBlob(zenc, nil, plain) // an ordinary blob: header + raw or zstd payload
	if err != nil {
		return nil, err
	}
	out := make([]byte, BlobHeaderSize, BlobHeaderSize+sealOverhead+len(inner)-BlobHeaderSize)
	copy(out, inner[:12])
	out[5] |= blobFlagSealed
	nonce := out[BlobHeaderSize : BlobHeaderSize+SealNonceSize]
	out = out[:BlobHeaderSize+SealNonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("store: seal: nonce: %w", err)
	}
	out = aead.Seal(out, nonce, inner[BlobHeaderSize:], sealAD(out, id))
	binary.LittleEndian.PutUint32(out[12:16], blobCRC(out))
	return out, nil
}

func sealAD(blob []byte, id catalog.Digest) []byte {
	return append(append(make([]byte, 0, 12+len(id)), blob[:12]...), id[:]...)
}

// OpenBlobShared checks a sealed blob's header and opens it with aead
// under id, for a caller that owns blob and will not reuse its contents
// (as DecodeBlobShared): the payload is decrypted in place, so a raw payload's plain bytes alias blob (aliases true) and a
// zstd one is decompressed into a new slice, blob then free to reuse. No
// buffer the size of the chunk is allocated and cleared to decrypt into:
// that was a tenth of a mount's CPU reading a sealed image. It skips the
// CRC: the AEAD's tag authenticates the payload and, as associated data,
// the header's fields and id. After a failure blob's payload is garbage.
// It does not check the id against the plain bytes: that needs the id key
// (package seal does it). A blob that is not sealed, or fails any check,
// wraps ErrCorrupt.
func OpenBlobShared(blob []byte, id catalog.Digest, aead cipher.AEAD) (plain []byte, aliases bool, err error) {
	h, err := checkHeader(blob)
	if err != nil {
		return nil, false, err
	}
	if !h.sealed {
		return nil, false, fmt.Errorf("%w: blob of chunk %s is not sealed", ErrCorrupt, id)
	}
	payload := blob[BlobHeaderSize:]
	ct := payload[SealNonceSize:]
	inner, err := aead.Open(ct[:0], payload[:SealNonceSize], ct, sealAD(blob, id))
	if err != nil {
		return nil, false, fmt.Errorf("%w: sealed chunk %s does not open with this key", ErrCorrupt, id)
	}
	if !h.zstd {
		if len(inner) != h.plainLen {
			return nil, false, fmt.Errorf("%w: sealed chunk %s: %d bytes, header says %d", ErrCorrupt, id, len(inner), h.plainLen)
		}
		return inner, true, nil
	}
	plain, err = inflate(h, inner)
	return plain, false, err
}
