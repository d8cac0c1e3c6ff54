package objstore

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Writer writes one snapshot: its index files go under the snapshot's
// final prefix at once, next to a lock object ("writing", put with
// If-None-Match so one writer per snapshot across processes), and Commit
// publishes by putting the manifest last, conditionally. See store.Writer.
type Writer struct {
	s   *Store
	g   catalog.Group
	t   time.Time
	key string // snapKey

	mu       sync.Mutex        // held by WriteFile and Commit for their whole run
	began    time.Time         // Begin, by the local clock (gc's oldest-writer rule)
	last     time.Time         // last activity, by the local clock
	closed   error             // non-nil once committed, aborted or reaped
	files    map[string][]byte // index files written, kept for Commit's checks
	base     *base
	sessMu   sync.Mutex
	confined bool
	put      map[catalog.Digest]struct{}
}

var _ store.Writer = (*Writer)(nil)

func (w *Writer) String() string { return w.g.String() + "/" + catalog.FormatTime(w.t) }

// Begin starts a snapshot of g at t: ErrExists when it is published or
// being written (here or by another process).
func (s *Store) Begin(g catalog.Group, t time.Time) (store.Writer, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	t = t.UTC().Truncate(time.Second)
	w := &Writer{s: s, g: g, t: t, key: snapKey(g, t), files: make(map[string][]byte),
		put: make(map[catalog.Digest]struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers[w.key] != nil {
		return nil, fmt.Errorf("%w: snapshot %s is being written", store.ErrExists, w)
	}
	if err := s.published(g, t); err == nil {
		return nil, fmt.Errorf("%w: snapshot %s", store.ErrExists, w)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("objstore: begin %s: %w", w, err)
	}
	err := s.c.put(w.key+lockName, []byte("backupfs snapshot writer\n"), true)
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("%w: snapshot %s is being written (or was abandoned: gc removes it after the grace period)", store.ErrExists, w)
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: begin %s: %w", w, err)
	}
	w.last = s.now()
	w.began = w.last
	s.writers[w.key] = w
	return w, nil
}

// active records activity and fails if the writer is closed. w.mu held.
func (w *Writer) active() error {
	if w.closed != nil {
		return fmt.Errorf("objstore: snapshot %s: %w", w, w.closed)
	}
	w.last = w.s.now()
	return nil
}

func (w *Writer) putChunk(d catalog.Digest, put func() (bool, error)) (bool, error) {
	w.mu.Lock()
	err := w.active()
	w.mu.Unlock()
	if err != nil {
		return false, err
	}
	written, err := put()
	if err != nil {
		return false, err
	}
	w.sessMu.Lock()
	w.put[d] = struct{}{}
	w.sessMu.Unlock()
	return written, nil
}

// PutChunk stores a chunk for this snapshot (see Store.PutChunk).
func (w *Writer) PutChunk(d catalog.Digest, plain []byte) (bool, error) {
	return w.putChunk(d, func() (bool, error) { return w.s.PutChunk(d, plain) })
}

// PutHashedChunk stores a chunk whose digest the caller computed.
func (w *Writer) PutHashedChunk(d catalog.Digest, plain []byte) (bool, error) {
	return w.putChunk(d, func() (bool, error) { return w.s.PutHashedChunk(d, plain) })
}

// PutBlob stores a chunk received as a blob.
func (w *Writer) PutBlob(d catalog.Digest, blob []byte) (bool, error) {
	return w.putChunk(d, func() (bool, error) { return w.s.PutBlob(d, blob) })
}

// Know makes chunk d usable in this session if the store holds it (see
// store.Writer), touching it as a put of a chunk the store has would.
func (w *Writer) Know(d catalog.Digest) (bool, error) {
	held := false
	_, err := w.putChunk(d, func() (bool, error) {
		ok, err := w.s.touchChunk(d, false)
		if err == nil && !ok {
			return false, errNotHeld
		}
		held = ok
		return false, err
	})
	if errors.Is(err, errNotHeld) {
		return false, nil
	}
	return held, err
}

// errNotHeld ends Know's put of a chunk the store lacks: nothing recorded.
var errNotHeld = errors.New("objstore: chunk not held")

// Confine makes Commit accept only chunks put through this writer or in
// its base (store.ErrUnknownChunks).
func (w *Writer) Confine() {
	w.sessMu.Lock()
	w.confined = true
	w.sessMu.Unlock()
}

// WriteFile writes an index file of the snapshot (writing a name again
// replaces it).
func (w *Writer) WriteFile(name string, data []byte) error {
	if err := store.ValidIndexName(name); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	if err := w.s.c.put(w.key+name, data, false); err != nil {
		return fmt.Errorf("objstore: snapshot %s: write %s: %w", w, name, err)
	}
	w.files[name] = data
	return nil
}

// Abort removes the snapshot's objects; the chunks it stored stay for GC
// (after the grace period). A no-op on a closed writer.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed != nil {
		return nil
	}
	w.closed = fmt.Errorf("%w: aborted", store.ErrClosed)
	return w.end(true)
}

// end releases the base, unregisters the writer and, if remove, deletes
// its objects (the lock last). w.mu held.
func (w *Writer) end(remove bool) error {
	w.releaseBase()
	w.s.mu.Lock()
	if w.s.writers[w.key] == w {
		delete(w.s.writers, w.key)
	}
	w.s.mu.Unlock()
	if !remove {
		// Published already: a lock left by a failed delete is harmless
		// (ReadFile hides it, GC removes it).
		_ = w.s.c.del(w.key + lockName)
		return nil
	}
	var errs []error
	for name := range w.files {
		errs = append(errs, w.s.c.del(w.key+name))
	}
	errs = append(errs, w.s.c.del(w.key+lockName))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("objstore: snapshot %s: %w", w, err)
	}
	return nil
}
