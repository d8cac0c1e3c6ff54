package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// HasChunk reports whether the chunk is stored (a chunk renamed aside as
// bad does not count). It does not read or check the chunk.
func (s *Store) HasChunk(d catalog.Digest) (bool, error) {
	fi, err := os.Lstat(s.chunkPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	return fi.Mode().IsRegular(), nil
}

// PutChunk stores a plain chunk whose digest the caller computed. The
// digest is checked before anything is written (ErrInvalid on mismatch).
// An existing chunk is not rewritten but touched (mtime = now), which
// keeps it from the next GC sweep; written reports whether a file was
// written.
func (s *Store) PutChunk(d catalog.Digest, plain []byte) (written bool, err error) {
	stamp, err := s.putChunk(d, plain, true)
	return stamp != 0, err
}

// PutHashedChunk is PutChunk for a caller that computed d from these very
// bytes in this process (the backup pipe): it does not hash them again,
// which was a quarter of a local backup's CPU. A wrong d would store the
// bytes under a wrong name, never serve them as d: every read (Chunk,
// DecodeBlob, the client) and Verify check the digest.
func (s *Store) PutHashedChunk(d catalog.Digest, plain []byte) (written bool, err error) {
	stamp, err := s.putChunk(d, plain, false)
	return stamp != 0, err
}

// putChunk stores a chunk and returns the stamp of the file it wrote
// (writeChunk), or 0 when the chunk existed and was touched.
func (s *Store) putChunk(d catalog.Digest, plain []byte, check bool) (stamp int64, err error) {
	if ok, err := s.touch(d); err != nil || (ok && !s.storedSealed(d)) {
		return 0, err
	}
	if len(plain) > catalog.MaxChunkSize {
		return 0, fmt.Errorf("%w: chunk %s: %d bytes, at most %d", ErrInvalid, d, len(plain), catalog.MaxChunkSize)
	}
	if check {
		if got := catalog.Sum(plain); got != d {
			return 0, fmt.Errorf("%w: chunk given as %s has digest %s", ErrInvalid, d, got)
		}
	}
	bp := blobBufs.Get(BlobHeaderSize + len(plain))
	defer blobBufs.Put(bp)
	blob, err := AppendBlob((*bp)[:0], plain)
	if err != nil {
		return 0, err
	}
	return s.writeChunk(d, blob)
}

// blobBufs pools the blob buffers of putChunk: the blob is written to its
// file and dropped.
var blobBufs BufPool

// PutBlob stores a blob as received (from the network), after VerifyBlob
// checked it against d (ErrCorrupt otherwise). An existing chunk is
// touched, as in PutChunk.
func (s *Store) PutBlob(d catalog.Digest, blob []byte) (written bool, err error) {
	stamp, err := s.putBlob(d, blob)
	return stamp != 0, err
}

// putBlob is PutBlob returning the written file's stamp (0: touched).
func (s *Store) putBlob(d catalog.Digest, blob []byte) (stamp int64, err error) {
	if err := VerifyBlob(blob, d); err != nil {
		return 0, fmt.Errorf("store: put chunk %s: %w", d, err)
	}
	if ok, err := s.touch(d); err != nil || (ok && (BlobSealed(blob) || !s.storedSealed(d))) {
		return 0, err
	}
	return s.writeChunk(d, blob)
}

// storedSealed reports whether the stored blob of d is sealed. A plain
// chunk put under d, checked against d, replaces such a blob instead of
// touching it: a sealed blob's content cannot be checked without its key,
// so one stored under the plain digest of other data may be a forgery
// (any backup token, or a pusher, can upload a sealed blob under any
// digest), which would otherwise stand in for every later backup of that
// data. A genuine sealed blob lives under a keyed id, which no plain
// chunk's SHA-256 matches. It costs the put of an existing chunk one read
// of its header.
func (s *Store) storedSealed(d catalog.Digest) bool {
	f, err := os.Open(s.chunkPath(d))
	if err != nil {
		return false
	}
	defer f.Close()
	var h [BlobHeaderSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false
	}
	return BlobSealed(h[:])
}

// touch sets a chunk's mtime to now if it exists. It holds the chunk's
// lock so GC cannot remove it between its check and its unlink.
func (s *Store) touch(d catalog.Digest) (exists bool, err error) {
	now := s.now()
	mu := s.lockChunk(d)
	mu.Lock()
	err = os.Chtimes(s.chunkPath(d), now, now)
	mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: touch chunk %s: %w", d, err)
	}
	return true, nil
}

// writeChunk writes a blob atomically (temp file, rename) with mtime = now.
// A concurrent write of the same chunk renames identical bytes over it,
// which is harmless. No lock is needed: a new file's mtime is after any
// GC's start. Chunks are not fsynced one by one (one fsync per 128 KiB
// chunk made backups ~50x slower than cat): Commit syncs the filesystem
// once before it publishes, as Proxmox Backup's default sync level does,
// so a published snapshot never references a chunk lost in a crash.
// It returns the stamp: the file's mtime in ns as written (never 0), which
// a touch by anyone afterwards changes (session.go's cleanup on Abort).
func (s *Store) writeChunk(d catalog.Digest, blob []byte) (stamp int64, err error) {
	path := s.chunkPath(d)
	dir := filepath.Dir(path)
	if _, ok := s.chunkDirs.Load(dir); !ok {
		if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("store: write chunk %s: %w", d, err)
		}
		s.chunkDirs.Store(dir, struct{}{})
	}
	var mtime time.Time // zero: the write itself sets mtime to now
	if !s.realClock {
		mtime = s.now()
	}
	stamp, err = writeFileRename(path, blob, mtime, false)
	if err != nil {
		return 0, fmt.Errorf("store: write chunk %s: %w", d, err)
	}
	return max(stamp, 1), nil
}

// Chunk returns a chunk's plain bytes, verified against d. A missing chunk
// gives ErrNotFound, a bad one ErrCorrupt.
func (s *Store) Chunk(d catalog.Digest) ([]byte, error) {
	blob, err := readBounded(s.chunkPath(d), MaxBlobSize)
	if err != nil {
		return nil, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	plain, err := DecodeBlob(blob, d)
	if err != nil {
		return nil, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	return plain, nil
}

// Blob returns a chunk's blob as stored, after CheckBlob (header and CRC;
// the digest is left to the receiver's DecodeBlob).
func (s *Store) Blob(d catalog.Digest) ([]byte, error) {
	return s.ReadBlob(d, func(n int) []byte { return make([]byte, n) })
}

// ReadBlob is Blob reading the blob into buf(n), which must return a slice
// of exactly n bytes (n <= MaxBlobSize): the server reads a blob straight
// into a pooled frame buffer after the frame's header, so a chunk costs no
// allocation and no copy between the file and the connection. On error
// the buffer may hold part of the blob; the caller owns it either way.
func (s *Store) ReadBlob(d catalog.Digest, buf func(n int) []byte) ([]byte, error) {
	blob, err := readBoundedInto(s.chunkPath(d), MaxBlobSize, buf)
	if err != nil {
		return nil, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	if err := CheckBlob(blob); err != nil {
		return nil, fmt.Errorf("store: chunk %s: %w", d, err)
	}
	return blob, nil
}

// markBad renames a chunk that fails DecodeBlob to "<digest>.bad", so
// HasChunk reports it missing and the next backup uploads it again. The
// chunk is re-read under its lock first: a good copy written since the
// caller read it is left alone. It reports whether it renamed.
func (s *Store) markBad(d catalog.Digest) (bool, error) {
	path := s.chunkPath(d)
	mu := s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	blob, err := readBounded(path, MaxBlobSize)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err == nil {
		if _, err = DecodeBlob(blob, d); err == nil || errors.Is(err, ErrSealed) {
			// Sound, or sealed with a sound CRC: a sealed chunk that does
			// not open is reported, never renamed (the key may be wrong).
			return false, nil
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		return false, err
	}
	// Recorded first: a writer whose base references the chunk must find
	// it on the list before the chunk goes (base.go).
	if err := s.recordBad(d); err != nil {
		return false, err
	}
	if err := os.Rename(path, path+badSuffix); err != nil {
		return false, fmt.Errorf("store: mark chunk %s bad: %w", d, err)
	}
	// GC keeps it at least a grace period from now, for inspection.
	now := s.now()
	_ = os.Chtimes(path+badSuffix, now, now)
	return true, syncDir(filepath.Dir(path))
}
