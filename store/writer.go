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
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// SnapshotWriter writes one snapshot under .tmp and publishes it on
// Commit. PutChunk may be called from many goroutines at once; WriteFile
// and Commit serialise on the writer. A writer that is dropped without
// Commit or Abort publishes nothing: its directory stays invisible until
// GC removes it, once it has seen no activity for the grace period.
type SnapshotWriter struct {
	s    *Store
	g    catalog.Group
	t    time.Time
	name string // directory name under .tmp
	dir  string

	mu    sync.Mutex // held by WriteFile and Commit for their whole run
	began time.Time  // Begin, by the store's clock (GC's oldest-writer rule)
	last  time.Time  // last activity, by the store's clock
	// lastNano mirrors last for readers that cannot take mu (GC).
	lastNano atomic.Int64
	closed   error    // non-nil once committed, aborted or reaped
	lock     *os.File // the tmp directory, flock'd while this writer lives
	base     *base    // the snapshot it takes unchanged chunks from (base.go)
	sess     session  // the chunks put through it (session.go)
}

// Begin starts a snapshot of g at t (whole seconds; finer parts are
// dropped, as in its name). It returns ErrExists if that snapshot is
// published or already being written.
func (s *Store) Begin(g catalog.Group, t time.Time) (*SnapshotWriter, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	t = t.UTC().Truncate(time.Second)
	w := &SnapshotWriter{s: s, g: g, t: t, name: tmpName(g, t)}
	w.dir = filepath.Join(s.dir, tmpDir, w.name)
	label := fmt.Sprintf("%s/%s", g, catalog.FormatTime(t))
	s.mu.Lock()
	defer s.mu.Unlock()
	// The tmp directory is the lock; the published check comes after it
	// so a Commit renaming the same snapshot cannot slip between.
	err := os.Mkdir(w.dir, dirPerm)
	if errors.Is(err, fs.ErrExist) && s.writers[w.name] == nil && reclaimStale(w.dir) {
		err = os.Mkdir(w.dir, dirPerm) // its writer died: start afresh
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: snapshot %s is being written", ErrExists, label)
	}
	if err != nil {
		return nil, fmt.Errorf("store: begin %s: %w", label, err)
	}
	if s.hookBeforeLock != nil {
		s.hookBeforeLock(w.dir)
	}
	if w.lock, err = lockDir(w.dir, unix.LOCK_EX); err != nil {
		// Between our Mkdir and this lock, a Begin of the same snapshot in
		// another process took the directory for a dead writer's, removed
		// it and made its own: that one is being written now.
		if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: snapshot %s is being written", ErrExists, label)
		}
		_ = os.Remove(w.dir)
		return nil, fmt.Errorf("store: begin %s: %w", label, err)
	}
	if !lockedIsNamed(w.lock, w.dir) {
		// We opened our directory just before another Begin removed it
		// (the same race): the path now names that one's.
		w.lock.Close()
		return nil, fmt.Errorf("%w: snapshot %s is being written", ErrExists, label)
	}
	if _, err := os.Lstat(s.snapPath(g, t)); !errors.Is(err, fs.ErrNotExist) {
		_ = os.Remove(w.dir)
		if err == nil {
			return nil, fmt.Errorf("%w: snapshot %s", ErrExists, label)
		}
		return nil, fmt.Errorf("store: begin %s: %w", label, err)
	}
	w.last = s.now()
	w.began = w.last
	w.lastNano.Store(w.last.UnixNano())
	if err := os.Chtimes(w.dir, w.last, w.last); err != nil {
		_ = os.Remove(w.dir)
		return nil, fmt.Errorf("store: begin %s: %w", label, err)
	}
	s.writers[w.name] = w
	return w, nil
}

// lockDir opens dir and takes a flock on it (how: unix.LOCK_EX or
// LOCK_SH; never waiting), held while the returned file stays open (it
// follows the directory through a rename). Another process's Begin of the
// same snapshot sees a writer's lock; when the holder dies, the kernel
// drops it. A lock held by someone else gives an error wrapping
// unix.EWOULDBLOCK, a missing dir one wrapping fs.ErrNotExist.
func lockDir(dir string, how int) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// lockedIsNamed reports whether the directory f holds (locked) is still the
// one path names: a directory removed or replaced after it was opened is
// not.
func lockedIsNamed(f *os.File, path string) bool {
	var held, named unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return false
	}
	return unix.Stat(path, &named) == nil && held.Ino == named.Ino && held.Dev == named.Dev
}

// reclaimStale removes a tmp snapshot directory whose writer is gone (a
// crashed or killed process: no flock on it) and reports whether it did.
// A directory locked by a live writer in another process is left alone.
func reclaimStale(dir string) bool {
	f, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		return false
	}
	defer f.Close()
	return os.RemoveAll(dir) == nil
}

// unlock releases the writer's flocks (its directory's, and its base's);
// w.mu or the store's mu is held.
func (w *SnapshotWriter) unlock() {
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
	w.releaseBase()
}

func (w *SnapshotWriter) String() string {
	return fmt.Sprintf("%s/%s", w.g, catalog.FormatTime(w.t))
}

// active records activity and fails if the writer is closed. w.mu held.
func (w *SnapshotWriter) active() error {
	if w.closed != nil {
		return fmt.Errorf("store: snapshot %s: %w", w, w.closed)
	}
	w.last = w.s.now()
	w.lastNano.Store(w.last.UnixNano())
	return nil
}

// lastActive is the writer's last activity; safe without mu.
func (w *SnapshotWriter) lastActive() time.Time { return time.Unix(0, w.lastNano.Load()) }

// PutChunk stores a chunk for this snapshot (see Store.PutChunk).
func (w *SnapshotWriter) PutChunk(d catalog.Digest, plain []byte) (written bool, err error) {
	return w.putChunk(d, func() (int64, error) { return w.s.putChunk(d, plain, true) })
}

// PutHashedChunk stores a chunk whose digest the caller computed from
// plain itself (see Store.PutHashedChunk).
func (w *SnapshotWriter) PutHashedChunk(d catalog.Digest, plain []byte) (written bool, err error) {
	return w.putChunk(d, func() (int64, error) { return w.s.putChunk(d, plain, false) })
}

// PutBlob stores a chunk received as a blob (from the network) for this
// snapshot, as Store.PutBlob does, and counts as the writer's activity so
// a long upload is not reaped by GC as abandoned.
func (w *SnapshotWriter) PutBlob(d catalog.Digest, blob []byte) (written bool, err error) {
	return w.putChunk(d, func() (int64, error) { return w.s.putBlob(d, blob) })
}

// WriteFile writes an index file of the snapshot (durably, atomically;
// writing a name again replaces it). The name must be an index file name
// of a valid archive (NAME.img.fidx, NAME.tree.meta.didx, ...).
func (w *SnapshotWriter) WriteFile(name string, data []byte) error {
	if err := validIndexName(name); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(w.dir, name), data, w.last); err != nil {
		return fmt.Errorf("store: snapshot %s: write %s: %w", w, name, err)
	}
	// Keep the directory's mtime on the store's clock for GC.
	_ = os.Chtimes(w.dir, w.last, w.last)
	return nil
}

// validIndexName accepts ARCHIVE + the index suffixes of its kind.
func validIndexName(name string) error {
	if err := validFileName(name); err != nil {
		return err
	}
	for _, kind := range []string{catalog.KindImage, catalog.KindTree} {
		i := strings.LastIndex(name, "."+kind+".")
		if i < 0 {
			continue
		}
		archive := name[:i+1+len(kind)]
		if k, err := catalog.ArchiveKind(archive); err == nil && k == kind {
			for _, n := range catalog.IndexFileNames(archive, kind) {
				if n == name {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("%w: %q is not an index file name", ErrInvalid, name)
}

// Abort removes the snapshot in progress and the chunks it stored that
// nothing touched since (session.go). It is a no-op on a writer that is
// already committed or aborted, so `defer w.Abort()` is safe.
func (w *SnapshotWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed != nil {
		return nil
	}
	w.closed = fmt.Errorf("%w: aborted", ErrClosed)
	w.unlock()
	err := w.s.dropWriter(w)
	if _, rerr := w.removeFresh(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("store: snapshot %s: %w", w, rerr))
	}
	return err
}

// dropWriter removes a writer's directory and registration. w.mu held.
func (s *Store) dropWriter(w *SnapshotWriter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers[w.name] == w {
		delete(s.writers, w.name)
	}
	if err := os.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("store: snapshot %s: remove %s: %w", w, w.dir, err)
	}
	return nil
}
