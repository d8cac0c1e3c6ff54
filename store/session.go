package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// A writer's session: the chunks put through it.
//
// # Known chunks (Confine)
//
// A confined writer (the server's, for every network backup) publishes
// only references to chunks its client proved it holds: chunks put
// through this writer in this session (their bytes were received and
// checked against the digest), chunks of the base the server handed to
// the session (SetBase; the client was allowed to download its indexes),
// and chunks made known to it (Know: the server found them referenced by
// a snapshot the client's token may read, the digest query of issue 22).
// Any other digest in an index file makes Commit fail with
// ErrUnknownChunks, decided before any chunk is looked up, so the answer
// is the same whether the datastore holds the chunk or not: a digest
// learned elsewhere (computed from a known file, read from another group's
// index) gives no access to another group's data. This is Proxmox Backup's
// rule. A local writer (backup --datastore) is not confined: whoever opens
// the datastore directory can read every chunk anyway.
//
// The base's chunks that verify found bad and that are not stored again
// (Lacks) are not known either: the client is told them at the start and
// uploads them, which heals the datastore.
//
// # Cleanup on Abort
//
// Abort removes the chunks this writer stored new (not those it found and
// touched), so a backup that failed, for instance on a full disk, gives
// its space back at once instead of after GC's grace period. A chunk is
// removed only when its mtime is still the one it was written with: any
// touch since (another backup, in this process or another, putting the
// same chunk; a Commit checking it; GC marking it) changes the mtime, and
// the chunk stays for GC to judge. The writer's own Commit touches its
// chunks too (GC's safety needs it, see touchOwn) and keeps the new mtime
// as the stamp, so an Abort after a failed Commit still removes them.
// The check and the unlink hold the chunk's lock, as GC's sweep does, so
// a touch in this process cannot slip between them; one in another
// process could, and then that backup's Commit finds the chunk missing
// and fails (nothing wrong is published).
// A writer that dies with its process leaves its chunks to GC.
//
// Memory: one map entry per distinct chunk put (~80 bytes), ~80 MiB for a
// million chunks (a 4 TiB image at 4 MiB chunks, or ~150 GiB of files).

// ErrUnknownChunks reports a confined writer's index file referencing a
// chunk neither put in the session nor in its base.
var ErrUnknownChunks = errors.New("store: index references chunks not uploaded in this backup")

// session is the state of Confine and of Abort's cleanup.
type session struct {
	mu       sync.Mutex
	confined bool
	// put: every chunk put through the writer; the value is the stamp
	// of the file the writer wrote (writeChunk), or 0 when it existed.
	put map[catalog.Digest]int64
}

// Confine makes Commit accept only chunks put through this writer or in
// its base (see above). The server calls it for every backup.
func (w *SnapshotWriter) Confine() {
	w.sess.mu.Lock()
	w.sess.confined = true
	w.sess.mu.Unlock()
}

// Know makes chunk d usable in this session if the datastore holds it,
// and reports whether it does. The caller has decided that the client may
// read d (it is referenced by a snapshot of a group the client may read);
// this only checks and touches the chunk file, so a GC running meanwhile
// keeps it for its grace period, as a put of a chunk the store has. At
// Commit a known chunk is checked and touched again like any put chunk,
// and Abort never removes it (the writer did not store it).
func (w *SnapshotWriter) Know(d catalog.Digest) (bool, error) {
	_, err := w.putChunk(d, func() (int64, error) {
		exists, err := w.s.touch(d)
		if err == nil && !exists {
			err = errNotHeld
		}
		return 0, err
	})
	if errors.Is(err, errNotHeld) {
		return false, nil
	}
	return err == nil, err
}

// errNotHeld ends Know's put of a chunk the store does not hold: nothing
// is recorded.
var errNotHeld = errors.New("store: chunk not held")

// record notes a chunk put through the writer.
func (w *SnapshotWriter) record(d catalog.Digest, stamp int64) {
	w.sess.mu.Lock()
	defer w.sess.mu.Unlock()
	if w.sess.put == nil {
		w.sess.put = make(map[catalog.Digest]int64)
	}
	if old, ok := w.sess.put[d]; !ok || old == 0 {
		w.sess.put[d] = stamp
	}
}

// putChunk runs one of the store's put functions for the writer.
func (w *SnapshotWriter) putChunk(d catalog.Digest, put func() (int64, error)) (written bool, err error) {
	w.mu.Lock()
	err = w.active()
	w.mu.Unlock()
	if err != nil {
		return false, err
	}
	stamp, err := put()
	if err != nil {
		return false, err
	}
	w.record(d, stamp)
	return stamp != 0, nil
}

// unknown lists the digests of idx a confined writer may not reference:
// neither put in the session nor trusted (the base, less its bad chunks).
// It never looks at the chunk files. w.mu held.
func (w *SnapshotWriter) unknown(idx catalog.Index, trusted map[catalog.Digest]struct{}) (n int, first catalog.Digest) {
	w.sess.mu.Lock()
	defer w.sess.mu.Unlock()
	if !w.sess.confined {
		return 0, first
	}
	return CountUnknown(idx, func(d catalog.Digest) bool { _, ok := w.sess.put[d]; return ok }, trusted)
}

// fresh reports whether the writer stored d itself (Commit then touches
// it with touchOwn, so Abort can still remove it).
func (w *SnapshotWriter) fresh(d catalog.Digest) bool {
	w.sess.mu.Lock()
	defer w.sess.mu.Unlock()
	return w.sess.put[d] != 0
}

// touchOwn touches a chunk the writer stored itself, as Commit touches
// every chunk it relies on: without the touch, a chunk written longer ago
// than the grace, by a backup whose index files reach .tmp after a GC's
// mark and whose snapshot is published before that GC's sweep, would be
// swept from under the published snapshot. If the chunk still had the
// mtime the writer wrote, the writer keeps the new one as its stamp (an
// Abort after a failed Commit still removes it); if anyone touched it
// since, it is no longer the writer's to remove.
func (w *SnapshotWriter) touchOwn(d catalog.Digest) (exists bool, err error) {
	w.sess.mu.Lock()
	stamp := w.sess.put[d]
	w.sess.mu.Unlock()
	exists, stamp, err = w.s.touchStamp(d, stamp)
	w.sess.mu.Lock()
	if w.sess.put != nil {
		w.sess.put[d] = stamp
	}
	w.sess.mu.Unlock()
	return exists, err
}

// touchStamp touches chunk d under its lock and returns its new mtime in
// ns if its mtime was stamp before, else 0.
func (s *Store) touchStamp(d catalog.Digest, stamp int64) (exists bool, newStamp int64, err error) {
	now := s.now()
	path := s.chunkPath(d)
	mu := s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(path)
	if err == nil {
		err = os.Chtimes(path, now, now)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("store: touch chunk %s: %w", d, err)
	}
	if fi.ModTime().UnixNano() != stamp || !fi.Mode().IsRegular() {
		return true, 0, nil
	}
	if fi, err = os.Lstat(path); err != nil {
		return true, 0, nil // not removable by Abort: GC judges it
	}
	return true, max(fi.ModTime().UnixNano(), 1), nil
}

// removeFresh removes the chunks the writer stored whose mtime is still
// the one written (see above). It reports how many it removed.
func (w *SnapshotWriter) removeFresh() (int, error) {
	w.sess.mu.Lock()
	put := w.sess.put
	w.sess.put = nil
	w.sess.mu.Unlock()
	n := 0
	var errs []error
	for d, stamp := range put {
		if stamp == 0 {
			continue
		}
		ok, err := w.s.removeIfStamp(d, stamp)
		if err != nil && len(errs) < 3 {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// removeIfStamp removes chunk d if its mtime is stamp, under its lock.
func (s *Store) removeIfStamp(d catalog.Digest, stamp int64) (bool, error) {
	path := s.chunkPath(d)
	mu := s.lockChunk(d)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || fi.ModTime().UnixNano() != stamp || !fi.Mode().IsRegular() {
		return false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("store: remove chunk %s of an aborted backup: %w", d, err)
	}
	return true, nil
}

// Lacks reports whether d is a chunk of the writer's base that the
// datastore no longer holds whole: verify renamed it aside as bad (the bad
// list) and no backup has stored it again. A client must upload such a
// chunk instead of taking it from the base.
func (w *SnapshotWriter) Lacks(d catalog.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.base != nil && w.base.Lacking(d)
}

// BaseLacks lists the chunks of the base the datastore lacks (Lacks), at
// most max of them, and whether there were more.
func (w *SnapshotWriter) BaseLacks(max int) (ds []catalog.Digest, more bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.base == nil {
		return nil, false
	}
	return w.base.ListLacks(max)
}

// DropBase releases the writer's base: Commit then checks every chunk,
// and a confined writer accepts only what was put in its session.
func (w *SnapshotWriter) DropBase() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.releaseBase()
}
