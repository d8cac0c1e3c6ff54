package objstore

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Commit checks the snapshot as the directory store does (the manifest
// names this snapshot; every index file it lists was written with its
// size and SHA-256, decodes as the right kind and matches the archive
// size; nothing else was written; a confined writer references only its
// session's and its base's chunks; every chunk not in the base is stored,
// touching each so a concurrent GC keeps it), then puts the manifest with
// If-None-Match: * and deletes the lock. On an error nothing is published
// and the writer stays open.
func (w *Writer) Commit(m *catalog.Manifest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	if err := w.check(m); err != nil {
		return fmt.Errorf("objstore: commit %s: %w", w, err)
	}
	b, err := catalog.EncodeManifest(m)
	if err != nil {
		return fmt.Errorf("objstore: commit %s: %w", w, err)
	}
	if err := w.s.c.put(w.key+catalog.ManifestName, b, true); err != nil {
		return fmt.Errorf("objstore: commit %s: %w", w, err)
	}
	w.closed = fmt.Errorf("%w: committed", store.ErrClosed)
	w.s.seen.Store(w.key, struct{}{})
	return w.end(false)
}

// check runs Commit's checks (the backend-independent ones are
// store.CheckManifestFor and store.CheckIndexes). w.mu held.
func (w *Writer) check(m *catalog.Manifest) error {
	if err := store.CheckManifestFor(m, w.g, w.t); err != nil {
		return err
	}
	trusted, err := w.trusted()
	if err != nil {
		return err
	}
	seen := make(map[catalog.Digest]struct{})
	var todo []catalog.Digest
	listed, err := store.CheckIndexes(m, w.written,
		func(idx catalog.Index) (int, catalog.Digest) { return w.unknown(idx, trusted) },
		func(idx catalog.Index) error { todo = append(todo, store.NewChunks(idx, seen, trusted)...); return nil })
	if err != nil {
		return err
	}
	for name := range w.files {
		if !listed[name] {
			return fmt.Errorf("%w: file %s was written but is not in the manifest", store.ErrInvalid, name)
		}
	}
	return w.s.touchAll(todo)
}

// written decodes an index file this writer wrote, checked against f.
func (w *Writer) written(f catalog.IndexFile) (catalog.Index, error) {
	b, ok := w.files[f.Name]
	if !ok {
		return nil, fmt.Errorf("%w: index file %s was not written", store.ErrInvalid, f.Name)
	}
	return store.DecodeIndexFile(b, f, store.ErrInvalid)
}

// unknown counts the digests of idx a confined writer may not reference.
func (w *Writer) unknown(idx catalog.Index, trusted map[catalog.Digest]struct{}) (n int, first catalog.Digest) {
	w.sessMu.Lock()
	defer w.sessMu.Unlock()
	if !w.confined {
		return 0, first
	}
	return store.CountUnknown(idx, func(d catalog.Digest) bool { _, ok := w.put[d]; return ok }, trusted)
}

// touchWorkers is how many chunks Commit touches at once.
const touchWorkers = 16

// touchAll touches every chunk of todo (the cache never answers "absent"
// here: a chunk another process stored counts) and returns a
// *store.MissingChunksError for those not stored.
func (s *Store) touchAll(todo []catalog.Digest) error {
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
				exists[i], errs[i] = s.touchChunk(todo[i], false)
			}
		})
	}
	wg.Wait()
	missing := &store.MissingChunksError{}
	for i, d := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		if !exists[i] {
			if missing.Count < store.MaxMissingListed {
				missing.Digests = append(missing.Digests, d)
			}
			missing.Count++
		}
	}
	if missing.Count > 0 {
		return missing
	}
	return nil
}
