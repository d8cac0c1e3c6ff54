// Package seal is backupfs's client-side encryption of chunks: what a
// sealed backup stores instead of plain chunks, and how a reader with the
// key gets the plain bytes back. The key comes from package keyfile; the
// blob format (a sealed blob: nonce and AEAD ciphertext behind the usual
// header and CRC) is the store's (store.SealBlob, store.OpenBlob).
//
// # Ids and sealing
//
// A sealed chunk's id is HMAC-SHA256 of its plain bytes under a key
// derived from the master secret ("chunk id"), not their SHA-256: the
// server cannot confirm it holds a known file, and two backups made with
// the same key still share chunks. The plain bytes are compressed and
// sealed with XChaCha20-Poly1305 under a second derived key ("chunk
// seal") with a random nonce and the blob header and id as associated
// data. A reader checks the CRC, opens the AEAD and checks the id again
// (Open), so a server that swaps, alters or replays blobs is caught.
//
// # Decisions
//
//   - All-zero chunks keep their plain SHA-256 digest and are stored as
//     plain blobs. A reader recognises them by digest and never fetches
//     them, as in a plain backup; sealing them would hide nothing, since
//     a run of identical keyed ids shows the same zero regions to the
//     server (Proxmox Backup's encrypted archives show them the same way).
//   - Open accepts a plain blob for an id only if its SHA-256 is that id:
//     that is how zero chunks arrive, and for a keyed id it cannot happen
//     by accident or by a server's design.
//   - What stays readable to the server: index files (ids and offsets),
//     the manifest (group, time, archive names and sizes, and the key's
//     fingerprint), chunk sizes. Catalogs (names, metadata) are chunk
//     streams and are sealed like payload.
package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/keyfile"
	"github.com/backupfs/backupfs/store"
)

// ErrWrongKey reports a sealed snapshot opened with another key than the
// one it was made with.
var ErrWrongKey = errors.New("seal: the snapshot was sealed with another key")

// Sealer seals and opens chunks with one key. It is safe for concurrent use.
type Sealer struct {
	fp   string
	aead cipher.AEAD
	macs sync.Pool // of hash.Hash: HMAC-SHA256 under the id key
}

// New makes a Sealer for k.
func New(k *keyfile.Key) (*Sealer, error) {
	aead, err := chacha20poly1305.NewX(k.Derive("chunk seal", chacha20poly1305.KeySize))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	idKey := k.Derive("chunk id", 32)
	s := &Sealer{fp: k.Fingerprint(), aead: aead}
	s.macs.New = func() any { return hmac.New(sha256.New, idKey) }
	return s, nil
}

// Fingerprint is the key's fingerprint (keyfile.Key.Fingerprint).
func (s *Sealer) Fingerprint() string { return s.fp }

// ID is a chunk's keyed id.
func (s *Sealer) ID(plain []byte) catalog.Digest {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(plain)
	var d catalog.Digest
	m.Sum(d[:0])
	s.macs.Put(m)
	return d
}

// Seal encodes a chunk whose id is id as a sealed blob.
func (s *Sealer) Seal(id catalog.Digest, plain []byte) ([]byte, error) {
	return store.SealBlob(plain, id, s.aead)
}

// Open returns the plain bytes of a blob fetched for id: a sealed blob
// opened and checked against id, or a plain blob whose SHA-256 is id (a
// zero chunk). Every failure wraps store.ErrCorrupt.
func (s *Sealer) Open(id catalog.Digest, blob []byte) ([]byte, error) {
	if !store.BlobSealed(blob) {
		return store.DecodeBlob(blob, id)
	}
	if err := store.CheckBlob(blob); err != nil { // the CRC too: verify reads blobs at rest
		return nil, err
	}
	plain, _, err := s.OpenShared(id, bytes.Clone(blob)) // blob stays the caller's
	return plain, err
}

// OpenShared is Open for a caller that owns blob and will not reuse its
// contents (a fetch's receive buffer): a sealed blob is decrypted in place
// (store.OpenBlobShared), a plain one decoded by store.DecodeBlobShared;
// aliases says whether plain is blob's own buffer.
func (s *Sealer) OpenShared(id catalog.Digest, blob []byte) (plain []byte, aliases bool, err error) {
	if !store.BlobSealed(blob) {
		return store.DecodeBlobShared(blob, id)
	}
	plain, aliases, err = store.OpenBlobShared(blob, id, s.aead)
	if err != nil {
		return nil, false, err
	}
	if got := s.ID(plain); got != id {
		return nil, false, fmt.Errorf("%w: sealed chunk %s opens to bytes of id %s", store.ErrCorrupt, id, got)
	}
	return plain, aliases, nil
}

// Check is Open for verify: it returns the plain length.
func (s *Sealer) Check(id catalog.Digest, blob []byte) (int, error) {
	plain, err := s.Open(id, blob)
	return len(plain), err
}

// CheckManifest says whether a snapshot may be read with this sealer: a
// sealed manifest must name this key.
func (s *Sealer) CheckManifest(m *catalog.Manifest) error {
	if m.Key != "" && m.Key != s.fp {
		return fmt.Errorf("%w (snapshot key %s, key file %s)", ErrWrongKey, m.Key, s.fp)
	}
	return nil
}
