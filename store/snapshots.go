package store

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// Groups returns the groups that have at least one published snapshot,
// sorted by type, then id.
func (s *Store) Groups() ([]catalog.Group, error) {
	var out []catalog.Group
	for _, typ := range catalog.GroupTypes {
		ents, err := os.ReadDir(filepath.Join(s.dir, typ))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: list %s groups: %w", typ, err)
		}
		for _, e := range ents {
			g := catalog.Group{Type: typ, ID: e.Name()}
			if !e.IsDir() || catalog.ValidID(g.ID) != nil {
				continue
			}
			snaps, err := s.Snapshots(g)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if len(snaps) > 0 {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, func(a, b catalog.Group) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Snapshots returns the published snapshot times of a group, oldest
// first. A group that does not exist gives ErrNotFound.
func (s *Store) Snapshots(g catalog.Group) ([]time.Time, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ents, err := os.ReadDir(s.groupPath(g))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: group %s", ErrNotFound, g)
	}
	if err != nil {
		return nil, fmt.Errorf("store: list snapshots of %s: %w", g, err)
	}
	out := []time.Time{}
	for _, e := range ents {
		if t, err := catalog.ParseTime(e.Name()); err == nil && e.IsDir() {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

// validFileName checks a snapshot file name: one path element, no NUL,
// not hidden (temporary files start with a dot).
func validFileName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: snapshot file name %q", ErrInvalid, name)
	}
	return nil
}

// ReadFile returns a file of a published snapshot: manifest.json or an
// index file. A missing snapshot or file gives ErrNotFound.
func (s *Store) ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validFileName(name); err != nil {
		return nil, err
	}
	limit := int64(maxIndexSize)
	if name == catalog.ManifestName {
		limit = catalog.MaxManifestSize
	}
	b, err := readBounded(filepath.Join(s.snapPath(g, t), name), limit)
	if err != nil {
		return nil, fmt.Errorf("store: %s/%s: %w", g, catalog.FormatTime(t), err)
	}
	return b, nil
}

// Manifest reads and decodes a snapshot's manifest and checks that it
// names this group and time (ErrCorrupt otherwise).
func (s *Store) Manifest(g catalog.Group, t time.Time) (*catalog.Manifest, error) {
	b, err := s.ReadFile(g, t, catalog.ManifestName)
	if err != nil {
		return nil, err
	}
	m, err := catalog.DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, g, catalog.FormatTime(t), err)
	}
	if m.Group != g.String() || m.Time != catalog.FormatTime(t) {
		return nil, fmt.Errorf("%w: %s/%s: manifest names %s/%s", ErrCorrupt, g, catalog.FormatTime(t), m.Group, m.Time)
	}
	return m, nil
}

// publishedIndex reads an index file of a published snapshot, checks it
// against its manifest entry f and decodes it.
func (s *Store) publishedIndex(g catalog.Group, t time.Time, f catalog.IndexFile) (catalog.Index, error) {
	b, err := s.ReadFile(g, t, f.Name)
	if err != nil {
		return nil, err
	}
	return decodeIndexFile(b, f, ErrCorrupt)
}

// Before returns the time of g's latest published snapshot before t, and
// false when there is none (or no such group).
func (s *Store) Before(g catalog.Group, t time.Time) (time.Time, bool, error) {
	times, err := s.Snapshots(g)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	for i := len(times) - 1; i >= 0; i-- {
		if times[i].Before(t) {
			return times[i], true, nil
		}
	}
	return time.Time{}, false, nil
}

// Forget removes a published snapshot: it is renamed aside first (so it
// vanishes at once and whole), then deleted; the group directory goes too
// when it is left empty. Its chunks stay until a GC finds them unused.
func (s *Store) Forget(g catalog.Group, t time.Time) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	name := fmt.Sprintf("%s/%s", g, catalog.FormatTime(t))
	if p, err := s.Protected(g, t); err != nil || p {
		if err == nil {
			err = fmt.Errorf("%w: %s (backupfs protect --unprotect first)", ErrProtected, name)
		}
		return err
	}
	aside := filepath.Join(s.dir, trashDir, tmpName(g, t)+"."+randomSuffix())
	// A backup in progress may hold it as its base (base.go): the
	// exclusive lock fails then, and is held across the rename otherwise.
	lock, err := lockDir(s.snapPath(g, t), unix.LOCK_EX)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: snapshot %s", ErrNotFound, name)
	case errors.Is(err, unix.EWOULDBLOCK):
		return fmt.Errorf("%w: snapshot %s is the base of a backup in progress", ErrBusy, name)
	case err != nil:
		return fmt.Errorf("store: forget %s: %w", name, err)
	}
	defer lock.Close()
	err = os.Rename(s.snapPath(g, t), aside)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: snapshot %s", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("store: forget %s: %w", name, err)
	}
	if err := syncDir(s.groupPath(g)); err != nil {
		return fmt.Errorf("store: forget %s: %w", name, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("store: forget %s: remove %s: %w", name, aside, err)
	}
	// Fails harmlessly when other snapshots (or a Commit) use the group.
	_ = os.Remove(s.groupPath(g))
	return nil
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
