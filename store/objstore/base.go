package objstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// A base (the previous snapshot an incremental backup takes unchanged
// chunks from) is held as in the directory store, so Commit need not touch
// its chunks: while held it cannot be forgotten, so its chunks stay
// referenced by a published snapshot (store/base.go has the argument). The
// hold spans processes without locks, by two writes and two reads (S3
// reads are strongly consistent after writes):
//
//	SetBase: put holds/<snapshot>/<random>, then HEAD forgetting/<snapshot>
//	Forget:  put forgetting/<snapshot>,     then list holds/<snapshot>/
//
// At least one of them sees the other's object and backs off (SetBase
// fails, the writer checks every chunk; Forget fails with ErrBusy). A hold
// left by a dead process is removed by GC after the grace period, as is a
// forgetting marker.

type base struct {
	snap    string // snapKey of the base
	holdKey string
	store.BaseChunks
}

// SetBase makes the published snapshot of the writer's group at t its base.
func (w *Writer) SetBase(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.active(); err != nil {
		return err
	}
	b, err := w.s.holdBase(w.g, t.UTC().Truncate(time.Second))
	if err != nil {
		return fmt.Errorf("objstore: snapshot %s: base %s: %w", w, catalog.FormatTime(t), err)
	}
	w.releaseBase()
	w.base = b
	return nil
}

func (s *Store) holdBase(g catalog.Group, t time.Time) (b *base, err error) {
	k := snapKey(g, t)
	s.mu.Lock()
	s.holds[k]++
	s.mu.Unlock()
	hold := holdsPfx + k + randHex()
	defer func() {
		if err != nil {
			s.release(k, hold)
		}
	}()
	if err := s.c.put(hold, nil, false); err != nil {
		return nil, err
	}
	if _, err := s.c.head(forgetPfx + k); err == nil {
		return nil, fmt.Errorf("%w: %s is being forgotten", store.ErrBusy, k)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	m, err := s.Manifest(g, t)
	if err != nil {
		return nil, err
	}
	bc, err := store.ReadBaseChunks(m, func(f catalog.IndexFile) (catalog.Index, error) {
		return s.index(g, t, f)
	}, s.lacking)
	if err != nil {
		return nil, err
	}
	return &base{snap: k, holdKey: hold, BaseChunks: bc}, nil
}

// release drops a hold (hold: its object key).
func (s *Store) release(k, hold string) {
	s.mu.Lock()
	if s.holds[k]--; s.holds[k] <= 0 {
		delete(s.holds, k)
	}
	s.mu.Unlock()
	_ = s.c.del(hold)
}

// releaseBase drops the writer's base. w.mu held.
func (w *Writer) releaseBase() {
	if w.base != nil {
		w.s.release(w.base.snap, w.base.holdKey)
		w.base = nil
	}
}

// trusted returns the base's chunks less those on the bad list and not
// stored again, read now (nil without a base). w.mu held.
func (w *Writer) trusted() (map[catalog.Digest]struct{}, error) {
	if w.base == nil {
		return nil, nil
	}
	lacks, err := w.s.lacking(w.base.Chunks)
	if err != nil {
		return nil, err
	}
	return w.base.Trust(lacks), nil
}

// Lacks reports whether d is a base chunk verify took away.
func (w *Writer) Lacks(d catalog.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.base != nil && w.base.Lacking(d)
}

// BaseLacks lists at most max chunks the base lacks.
func (w *Writer) BaseLacks(max int) (ds []catalog.Digest, more bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.base == nil {
		return nil, false
	}
	return w.base.ListLacks(max)
}

// DropBase releases the writer's base.
func (w *Writer) DropBase() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.releaseBase()
}

// lacking returns the chunks of set that verify listed bad (bad/<hex>)
// and that are not stored again.
func (s *Store) lacking(set map[catalog.Digest]struct{}) (map[catalog.Digest]struct{}, error) {
	lacks := make(map[catalog.Digest]struct{})
	var bad []catalog.Digest
	err := s.c.list(badPfx, false, func(o object) error {
		if d, err := catalog.ParseDigest(strings.TrimPrefix(o.key, badPfx)); err == nil {
			if _, ok := set[d]; ok {
				bad = append(bad, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: bad chunk list: %w", err)
	}
	for _, d := range bad {
		if ok, err := s.HasChunk(d); err != nil {
			return nil, err
		} else if !ok {
			lacks[d] = struct{}{}
		}
	}
	return lacks, nil
}

// Forget removes a published snapshot: the manifest goes first (the
// snapshot vanishes at once and whole), then its other objects.
func (s *Store) Forget(g catalog.Group, t time.Time) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	t = t.UTC().Truncate(time.Second)
	k := snapKey(g, t)
	label := g.String() + "/" + catalog.FormatTime(t)
	if _, err := s.c.head(k + catalog.ManifestName); err != nil {
		return fmt.Errorf("objstore: forget %s: %w", label, err)
	}
	if p, err := s.Protected(g, t); err != nil || p {
		if err == nil {
			err = fmt.Errorf("%w: %s (backupfs protect --unprotect first)", store.ErrProtected, label)
		}
		return err
	}
	busy := fmt.Errorf("%w: snapshot %s is the base of a backup in progress", store.ErrBusy, label)
	s.mu.Lock()
	held := s.holds[k] > 0
	s.mu.Unlock()
	if held {
		return busy
	}
	if err := s.c.put(forgetPfx+k, nil, false); err != nil {
		return fmt.Errorf("objstore: forget %s: %w", label, err)
	}
	defer func() { _ = s.c.del(forgetPfx + k) }()
	holds := 0
	if err := s.c.list(holdsPfx+k, false, func(object) error { holds++; return nil }); err != nil {
		return fmt.Errorf("objstore: forget %s: %w", label, err)
	}
	if holds > 0 {
		return busy
	}
	if err := s.c.del(k + catalog.ManifestName); err != nil {
		return fmt.Errorf("objstore: forget %s: %w", label, err)
	}
	s.seen.Delete(k)
	s.files.dropPrefix(k)
	var keys []string
	err := s.c.list(k, false, func(o object) error { keys = append(keys, o.key); return nil })
	for _, key := range keys {
		err = errors.Join(err, s.c.del(key))
	}
	if err != nil {
		return fmt.Errorf("objstore: forget %s: %w (left for gc)", label, err)
	}
	return nil
}

func randHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
