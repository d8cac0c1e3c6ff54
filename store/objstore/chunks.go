package objstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/store"
)

// HasChunk reports whether the chunk is stored (one HEAD; the cache is
// not trusted here).
func (s *Store) HasChunk(d catalog.Digest) (bool, error) {
	_, err := s.c.head(chunkKey(d))
	if errors.Is(err, store.ErrNotFound) {
		s.known.drop(d)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("objstore: chunk %s: %w", d, err)
	}
	return true, nil
}

// PutChunk stores a plain chunk after checking its digest (ErrInvalid).
// An existing chunk is touched (touchChunk), as on disk.
func (s *Store) PutChunk(d catalog.Digest, plain []byte) (bool, error) {
	return s.putPlain(d, plain, true)
}

// PutHashedChunk is PutChunk for a caller that computed d from plain.
func (s *Store) PutHashedChunk(d catalog.Digest, plain []byte) (bool, error) {
	return s.putPlain(d, plain, false)
}

func (s *Store) putPlain(d catalog.Digest, plain []byte, check bool) (bool, error) {
	if len(plain) > catalog.MaxChunkSize {
		return false, fmt.Errorf("%w: chunk %s: %d bytes, at most %d", store.ErrInvalid, d, len(plain), catalog.MaxChunkSize)
	}
	if check {
		if got := catalog.Sum(plain); got != d {
			return false, fmt.Errorf("%w: chunk given as %s has digest %s", store.ErrInvalid, d, got)
		}
	}
	return s.putBlob(d, true, func() ([]byte, error) { return store.EncodeBlob(plain) })
}

// PutBlob stores a blob as received after VerifyBlob (ErrCorrupt).
func (s *Store) PutBlob(d catalog.Digest, blob []byte) (bool, error) {
	if err := store.VerifyBlob(blob, d); err != nil {
		return false, fmt.Errorf("objstore: put chunk %s: %w", d, err)
	}
	return s.putBlob(d, !store.BlobSealed(blob), func() ([]byte, error) { return blob, nil })
}

// putBlob touches d if it is stored, else writes the blob make returns.
// A plain blob (checked against d by the caller) replaces a stored sealed
// one instead: see storedSealed.
func (s *Store) putBlob(d catalog.Digest, plain bool, make func() ([]byte, error)) (written bool, err error) {
	s.known.fill(s.knownChunks)
	if ok, err := s.touchChunk(d, true); err != nil || (ok && (!plain || !s.storedSealed(d))) {
		return false, err
	}
	blob, err := make()
	if err != nil {
		return false, err
	}
	if err := s.c.put(chunkKey(d), blob, false); err != nil {
		return false, fmt.Errorf("objstore: write chunk %s: %w", d, err)
	}
	s.known.add(d, s.now().UnixNano())
	return true, nil
}

// storedSealed reports whether the stored blob of d is sealed, as the
// directory store does (store/chunks.go): a sealed blob's content cannot
// be checked without its key, so one stored under the plain digest of
// other data may be a forgery (any backup token, or a pusher, can upload
// a sealed blob under any digest), and a plain chunk checked against d
// replaces it rather than touching it. A genuine sealed blob lives under a
// keyed id that no plain chunk's SHA-256 matches. It costs a plain put of
// an existing chunk one ranged GET of the blob header (no cache: a hint
// could be stale after another process's gc and put). A failed read
// answers false: the chunk is then touched, as before.
func (s *Store) storedSealed(d catalog.Digest) bool {
	h, err := s.c.getPrefix(chunkKey(d), store.BlobHeaderSize)
	return err == nil && len(h) == store.BlobHeaderSize && store.BlobSealed(h)
}

// touchChunk marks a stored chunk as used now by (re)writing its empty
// touch object (see existCache for when it is skipped), and reports
// whether it is stored; trustAbsent lets a complete cache answer "not
// stored" without asking. It holds the
// chunk's lock so this process's GC cannot remove it between.
func (s *Store) touchChunk(d catalog.Digest, trustAbsent bool) (bool, error) {
	known, touched, complete := s.known.lookup(d)
	now := s.now().UnixNano()
	switch {
	case !known && complete && trustAbsent:
		return false, nil
	case known && touched != 0 && now-touched < int64(touchWindow):
		return true, nil
	}
	mu := s.lockChunk(d)
	mu.Lock()
	_, err := s.c.head(chunkKey(d))
	if err == nil {
		err = s.c.put(touchKey(d), nil, false)
	}
	mu.Unlock()
	if errors.Is(err, store.ErrNotFound) {
		s.known.drop(d)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("objstore: touch chunk %s: %w", d, err)
	}
	s.known.add(d, now)
	return true, nil
}

// Chunk returns a chunk's plain bytes, verified against d.
func (s *Store) Chunk(d catalog.Digest) ([]byte, error) {
	blob, err := s.c.get(chunkKey(d), store.MaxBlobSize, func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return nil, fmt.Errorf("objstore: chunk %s: %w", d, err)
	}
	plain, err := store.DecodeBlob(blob, d)
	if err != nil {
		return nil, fmt.Errorf("objstore: chunk %s: %w", d, err)
	}
	return plain, nil
}

// ReadBlob returns a chunk's blob as stored, read into buf(n), after
// CheckBlob (the receiver checks the digest).
func (s *Store) ReadBlob(d catalog.Digest, buf func(n int) []byte) ([]byte, error) {
	blob, err := s.c.get(chunkKey(d), store.MaxBlobSize, buf)
	if err != nil {
		return nil, fmt.Errorf("objstore: chunk %s: %w", d, err)
	}
	if err := store.CheckBlob(blob); err != nil {
		return nil, fmt.Errorf("objstore: chunk %s: %w", d, err)
	}
	return blob, nil
}

// readConcurrency is how many chunk reads a reader (remote/server's
// GET_CHUNKS) should keep in flight: each is a round trip, and on the
// store's side a cold file and its metadata, so many at a time pay where
// a directory datastore gains little past 16 (see remote/server's
// srvReadConcurrency for the measurement).
const readConcurrency = 64

// ImageChunkSize asks backups for chunker.LargeFixedSize image chunks:
// every chunk is an object here, and the store's work per request bounds
// a sequential read (backup.ImageChunker; the server passes it on to its
// clients in HELLO).
func (s *Store) ImageChunkSize() int { return chunker.LargeFixedSize }

// ImageChunkSize is the Store's, for a backup written here directly
// (backup --datastore s3://...).
func (w *Writer) ImageChunkSize() int { return chunker.LargeFixedSize }

// ReadConcurrency is readConcurrency.
func (s *Store) ReadConcurrency() int { return readConcurrency }

// knownChunks fills the existence cache: from the cache file of the last
// run if there is a sound one, else by listing every chunk.
func (s *Store) knownChunks(add func(catalog.Digest)) error {
	if s.cache != "" && s.loadCacheFile(s.cache, add) {
		return nil
	}
	return s.listChunks(add)
}

// listChunks lists every stored chunk (for the cache and GC's sweep).
func (s *Store) listChunks(add func(catalog.Digest)) error {
	return s.c.list(chunksPfx, false, func(o object) error {
		if d, ok := digestOf(o.key, chunkKey); ok {
			add(d)
		}
		return nil
	})
}

// digestOf parses a chunk or touch key (keyOf: chunkKey or touchKey).
func digestOf(key string, keyOf func(catalog.Digest) string) (catalog.Digest, bool) {
	i := strings.LastIndexByte(key, '/')
	d, err := catalog.ParseDigest(key[i+1:])
	return d, err == nil && key == keyOf(d)
}
