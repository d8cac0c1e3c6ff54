package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// A base is the published snapshot an incremental backup takes its
// unchanged chunks from (the client's previous snapshot). While a writer
// holds it, the base cannot be forgotten: the writer keeps a shared flock
// on its directory and Forget needs an exclusive one. So every chunk of the
// base stays referenced by a published snapshot until the new one is
// published, and Commit need not look up those chunk files one by one: a
// second backup that changed 1% of a 27,000-file tree spent 0.12-0.17 s
// of its 0.6-0.7 s on cold lookups of the 6,600 chunks it reused.
//
// Why that is as safe as the touch: GC removes only chunks that no
// snapshot it listed references and whose mtime is older than its start
// minus the grace. A base is published before its writer begins and stays
// until the writer ends, so a GC that listed snapshots while the writer
// held it marked its chunks. A GC that listed them before the base was
// published finds each of the base's chunks fresh (uploaded or touched by
// the base's own backup, within the grace) or in the base's own base,
// which that backup held, and so on down to a snapshot the GC listed. The
// rule every backup already follows, finishing within the grace, is all
// this needs.
//
// Chunks Verify found corrupt or missing are the exception: verify renames
// a corrupt one aside and records the digests of both in DIR/.bad-chunks;
// a listed chunk that is not stored again is not trusted (Commit checks it
// like any chunk not in the base), so a backup never publishes a reference
// to a chunk verify has taken away. The writer tells its client which base
// chunks those are (Lacks), so the client uploads them and the datastore
// heals. A chunk file deleted by hand is not noticed until Verify runs.

// badList is the file of digests Verify renamed aside, one hex digest per
// line, appended to.
const badList = ".bad-chunks"

// maxBadList bounds what is read of it: 64 MiB is a million digests.
const maxBadList = 64 << 20

// base is a writer's hold on its base snapshot.
type base struct {
	lock *os.File // the base's directory, flock'd shared
	BaseChunks
}

// SetBase makes the published snapshot of the writer's group at t its
// base (see above). It fails, and the writer keeps checking every chunk,
// when the snapshot is gone, being forgotten, or unreadable. A second
// call replaces the first.
func (w *SnapshotWriter) SetBase(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	b, err := w.s.holdBase(w.g, t.UTC().Truncate(time.Second))
	if err != nil {
		return fmt.Errorf("store: snapshot %s: base %s: %w", w, catalog.FormatTime(t), err)
	}
	w.releaseBase()
	w.base = b
	return nil
}

// releaseBase drops the writer's base; w.mu or the store's mu is held.
func (w *SnapshotWriter) releaseBase() {
	if w.base != nil {
		w.base.lock.Close()
		w.base = nil
	}
}

// holdBase takes the shared lock on g's snapshot at t, then checks the
// path still names the directory locked (a Forget may have renamed it
// between the open and the lock), and reads the chunks of its indexes.
func (s *Store) holdBase(g catalog.Group, t time.Time) (*base, error) {
	dir := s.snapPath(g, t)
	f, err := lockDir(dir, unix.LOCK_SH)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
	case errors.Is(err, unix.EWOULDBLOCK):
		return nil, fmt.Errorf("%w: %s is being forgotten", ErrBusy, dir)
	case err != nil:
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if !lockedIsNamed(f, dir) {
		return nil, fmt.Errorf("%w: %s was forgotten", ErrNotFound, dir)
	}
	m, err := s.Manifest(g, t)
	if err != nil {
		return nil, err
	}
	bc, err := ReadBaseChunks(m, func(file catalog.IndexFile) (catalog.Index, error) {
		return s.publishedIndex(g, t, file)
	}, s.lacking)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	ok = true
	return &base{lock: f, BaseChunks: bc}, nil
}

// lacking returns the chunks of set that are on the bad list and not
// stored again.
func (s *Store) lacking(set map[catalog.Digest]struct{}) (map[catalog.Digest]struct{}, error) {
	bad, err := s.badChunks()
	if err != nil {
		return nil, err
	}
	lacks := make(map[catalog.Digest]struct{})
	for d := range bad {
		if _, ok := set[d]; !ok {
			continue
		}
		if has, err := s.HasChunk(d); err != nil {
			return nil, err
		} else if !has {
			lacks[d] = struct{}{}
		}
	}
	return lacks, nil
}

// trusted returns the base's chunks less those on the bad list and not
// stored again, read now; nil when there is no base or the list cannot be
// read (then Commit checks every chunk, and a confined writer accepts
// only what was put in its session). w.mu held.
func (w *SnapshotWriter) trusted() map[catalog.Digest]struct{} {
	if w.base == nil {
		return nil
	}
	lacks, err := w.s.lacking(w.base.Chunks)
	if err != nil {
		return nil
	}
	return w.base.Trust(lacks)
}

// recordBad appends a digest to the bad list (Verify's markBad); a writer
// in this or another process reads it at Commit.
func (s *Store) recordBad(d catalog.Digest) error {
	f, err := os.OpenFile(filepath.Join(s.dir, badList), os.O_WRONLY|os.O_APPEND|os.O_CREATE, filePerm)
	if err != nil {
		return fmt.Errorf("store: record bad chunk %s: %w", d, err)
	}
	_, err = f.Write([]byte(d.String() + "\n"))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: record bad chunk %s: %w", d, err)
	}
	return nil
}

// badChunks reads the bad list. Lines that are not a digest (a write torn
// by a crash) are skipped; a list over maxBadList is an error.
func (s *Store) badChunks() (map[catalog.Digest]struct{}, error) {
	b, err := readBounded(filepath.Join(s.dir, badList), maxBadList)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: bad chunk list: %w", err)
	}
	return parseBadList(b), nil
}

func parseBadList(b []byte) map[catalog.Digest]struct{} {
	bad := make(map[catalog.Digest]struct{})
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		var d catalog.Digest
		if len(line) != 2*len(d) {
			continue
		}
		if _, err := hex.Decode(d[:], line); err == nil {
			bad[d] = struct{}{}
		}
	}
	return bad
}
