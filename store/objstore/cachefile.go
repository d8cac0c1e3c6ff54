package objstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/backupfs/backupfs/catalog"
)

// The existence cache across restarts (Config.CacheFile, set by serve to a
// file in its state directory): Close writes the set there when it is
// complete, and the first put of the next run reads it instead of listing
// every chunk of the store (one LIST request per 1,000 chunks: 4,000 for
// 4 Mi chunks). The file is removed as it is read, so a run that ends
// without Close (a crash) lists again next time: the file is never older
// than the end of the last clean run. It is only a hint, as the set always
// is: a chunk another process stored while this one was down is missing
// from it and is put again (rewritten, not lost); one removed meanwhile
// is still HEADed before it is taken as stored (an entry read from the
// file has no touch time).
//
// Format: cacheMagic, the datastore's URL and a newline, a u64 count
// (little-endian, at most Config.CacheEntries), then count 32-byte
// digests. A file of any other shape, size or URL is ignored (and
// removed).
const cacheMagic = "backupfs existence cache 1\n"

// saveCacheFile writes the set to path, atomically, if it is complete (a
// run that never filled it, such as `backupfs token`, leaves a file of an
// earlier run for the next serve; one this run read is gone already).
func (s *Store) saveCacheFile(path string) error {
	ds, ok := s.known.snapshot()
	if !ok {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(cacheMagic + s.url + "\n")
	_ = binary.Write(&b, binary.LittleEndian, uint64(len(ds)))
	for _, d := range ds {
		b.Write(d[:])
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, b.Bytes(), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // a partial copy of the set is no use to the next run
		return fmt.Errorf("objstore: existence cache file: %w", err)
	}
	return nil
}

// loadCacheFile reads and removes path, calling add for each digest; it
// reports whether the file was there and sound (else nothing was added).
func (s *Store) loadCacheFile(path string, add func(catalog.Digest)) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_ = os.Remove(path)
	head := cacheMagic + s.url + "\n"
	limit := int64(len(head)) + 8 + int64(s.known.max)*catalog.DigestSize
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil || int64(len(b)) > limit || len(b) < len(head)+8 || string(b[:len(head)]) != head {
		return false
	}
	b = b[len(head):]
	n := binary.LittleEndian.Uint64(b)
	b = b[8:]
	if n > uint64(s.known.max) || uint64(len(b)) != n*catalog.DigestSize {
		return false
	}
	for i := 0; i < len(b); i += catalog.DigestSize {
		add(catalog.Digest(b[i : i+catalog.DigestSize]))
	}
	return true
}

// cacheFilePath is the cache file's path, its directory made (0700).
func cacheFilePath(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("objstore: existence cache file: %w", err)
	}
	return path, nil
}
