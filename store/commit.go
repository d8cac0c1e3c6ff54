package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/backupfs/backupfs/catalog"
)

// MissingChunksError is returned by Commit when index files reference
// chunks that are not stored. It wraps ErrNotFound. The writer stays open:
// the caller may upload the chunks and Commit again, or Abort.
type MissingChunksError struct {
	Count   int              // how many distinct chunks are missing
	Digests []catalog.Digest // the first of them, at most maxMissingListed
}

const maxMissingListed = 100

func (e *MissingChunksError) Error() string {
	return fmt.Sprintf("store: %d referenced chunks missing (first %s)", e.Count, e.Digests[0])
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *MissingChunksError) Unwrap() error { return ErrNotFound }

// Commit checks the snapshot and publishes it by one rename. It checks
// that m is valid and names the writer's group and time; that every index
// file m lists was written with the size and SHA-256 m gives, decodes as
// an index of the right kind and matches the archive size; that no other
// file was written; and that every chunk each index references is stored
// (touching each, so a concurrent GC keeps it). Then it writes
// manifest.json, syncs, and renames the directory into place. On an error
// nothing is published and the writer stays open (Abort it, or fix and
// Commit again); ErrInvalid reports a mismatch, *MissingChunksError
// (ErrNotFound) missing chunks.
func (w *SnapshotWriter) Commit(m *catalog.Manifest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	if err := w.checkManifest(m); err != nil {
		return fmt.Errorf("store: commit %s: %w", w, err)
	}
	b, err := catalog.EncodeManifest(m)
	if err == nil {
		err = writeFileAtomic(filepath.Join(w.dir, catalog.ManifestName), b, w.last)
	}
	if err == nil {
		err = w.publish()
	}
	if err != nil {
		return fmt.Errorf("store: commit %s: %w", w, err)
	}
	w.closed = fmt.Errorf("%w: committed", ErrClosed)
	w.unlock()
	w.s.mu.Lock()
	delete(w.s.writers, w.name)
	w.s.mu.Unlock()
	return nil
}

// checkManifest runs Commit's checks.
func (w *SnapshotWriter) checkManifest(m *catalog.Manifest) error {
	if err := CheckManifestFor(m, w.g, w.t); err != nil {
		return err
	}
	seen := make(map[catalog.Digest]struct{})
	trusted := w.trusted()
	missing := &MissingChunksError{}
	listed, err := CheckIndexes(m, w.readIndex,
		func(idx catalog.Index) (int, catalog.Digest) { return w.unknown(idx, trusted) },
		func(idx catalog.Index) error { return w.touchAll(idx, seen, trusted, missing) })
	if err != nil {
		return err
	}
	if err := w.checkNoExtra(listed); err != nil {
		return err
	}
	if missing.Count > 0 {
		return missing
	}
	return nil
}

// readIndex reads a written index file and checks it against the manifest.
func (w *SnapshotWriter) readIndex(f catalog.IndexFile) (catalog.Index, error) {
	b, err := readBounded(filepath.Join(w.dir, f.Name), maxIndexSize)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: index file %s was not written", ErrInvalid, f.Name)
	}
	if err != nil {
		return nil, err
	}
	return decodeIndexFile(b, f, ErrInvalid)
}

// decodeIndexFile checks an index file's bytes against its manifest entry
// f and decodes them; a mismatch wraps bad (ErrInvalid for a snapshot
// being written, ErrCorrupt for a published one).
func decodeIndexFile(b []byte, f catalog.IndexFile, bad error) (catalog.Index, error) {
	if int64(len(b)) != f.Size || catalog.Sum(b) != f.SHA256 {
		return nil, fmt.Errorf("%w: index file %s: %d bytes, sha256 %s; manifest says %d, %s",
			bad, f.Name, len(b), catalog.Sum(b), f.Size, f.SHA256)
	}
	idx, err := catalog.DecodeIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w: index file %s: %w", bad, f.Name, err)
	}
	return idx, nil
}

// checkIndexKind checks that file i of archive a is the right index type
// and that the archive size matches (image size, or tree payload size).
func checkIndexKind(a catalog.Archive, i int, idx catalog.Index) error {
	_, fixed := idx.(*catalog.FixedIndex)
	if fixed != (a.Kind == catalog.KindImage) {
		return fmt.Errorf("%w: index file %s: wrong index type for a %s archive", ErrInvalid, a.Files[i].Name, a.Kind)
	}
	sized := a.Kind == catalog.KindImage || strings.HasSuffix(a.Files[i].Name, catalog.PayloadIndexSuffix)
	if sized && idx.Size() != a.Size {
		return fmt.Errorf("%w: index file %s: stream of %d bytes, manifest says %d", ErrInvalid, a.Files[i].Name, idx.Size(), a.Size)
	}
	return nil
}

// touchAll touches every chunk of idx not in seen, recording missing ones;
// chunks of the writer's base (trusted, see base.go) are not looked up,
// and those the writer stored itself are touched keeping their stamp (so
// an Abort after a failed Commit can still remove them, session.go). The
// touches run on touchWorkers goroutines: on a cold cache each waits for
// the chunk file's inode to be read.
func (w *SnapshotWriter) touchAll(idx catalog.Index, seen, trusted map[catalog.Digest]struct{}, missing *MissingChunksError) error {
	s := w.s
	todo := NewChunks(idx, seen, trusted)
	exists := make([]bool, len(todo))
	errs := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(touchWorkers, len(todo)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				if w.fresh(todo[i]) {
					exists[i], errs[i] = w.touchOwn(todo[i])
				} else {
					exists[i], errs[i] = s.touch(todo[i])
				}
			}
		})
	}
	wg.Wait()
	for i, d := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		if !exists[i] {
			if missing.Count < maxMissingListed {
				missing.Digests = append(missing.Digests, d)
			}
			missing.Count++
		}
	}
	return nil
}

// touchWorkers is how many chunks Commit touches at once.
const touchWorkers = 16

// checkNoExtra refuses files in the snapshot directory that the manifest
// does not list, so nothing unchecked is published.
func (w *SnapshotWriter) checkNoExtra(listed map[string]bool) error {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !listed[n] && n != catalog.ManifestName && !strings.HasPrefix(n, tmpPrefix) {
			return fmt.Errorf("%w: file %s was written but is not in the manifest", ErrInvalid, n)
		}
	}
	return nil
}

// publish renames the synced tmp directory into the group directory. A
// concurrent Forget may remove an empty group directory between MkdirAll
// and Rename, hence the retry.
func (w *SnapshotWriter) publish() error {
	if err := w.s.syncFS(); err != nil { // the chunks, written without fsync
		return err
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	gdir := w.s.groupPath(w.g)
	dst := w.s.snapPath(w.g, w.t)
	var err error
	for range 3 {
		if err = os.MkdirAll(gdir, dirPerm); err != nil {
			return err
		}
		err = os.Rename(w.dir, dst)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("%w: snapshot %s", ErrExists, w)
	}
	if err != nil {
		return err
	}
	return errors.Join(syncDir(gdir), syncDir(filepath.Dir(gdir)), syncDir(filepath.Dir(w.dir)))
}
