package objstore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// maxIndexSize bounds one index file read into memory, as in store.
const maxIndexSize = 1 << 30

// Groups returns the groups with at least one published snapshot, sorted.
func (s *Store) Groups() ([]catalog.Group, error) {
	var out []catalog.Group
	for _, typ := range catalog.GroupTypes {
		var ids []string
		err := s.c.list(snapsPfx+typ+"/", true, func(o object) error {
			if id, ok := strings.CutSuffix(strings.TrimPrefix(o.key, snapsPfx+typ+"/"), "/"); ok {
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("objstore: list %s groups: %w", typ, err)
		}
		for _, id := range ids {
			g := catalog.Group{Type: typ, ID: id}
			if g.Validate() != nil {
				continue
			}
			if times, err := s.Snapshots(g); err == nil && len(times) > 0 {
				out = append(out, g)
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	}
	slices.SortFunc(out, func(a, b catalog.Group) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Snapshots returns a group's published snapshots (those with a
// manifest object), oldest first; none gives ErrNotFound.
func (s *Store) Snapshots(g catalog.Group) ([]time.Time, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	pfx := snapsPfx + g.Type + "/" + g.ID + "/"
	out := []time.Time{}
	err := s.c.list(pfx, false, func(o object) error {
		ts, name, ok := strings.Cut(strings.TrimPrefix(o.key, pfx), "/")
		if t, err := catalog.ParseTime(ts); ok && err == nil && name == catalog.ManifestName {
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list snapshots of %s: %w", g, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: group %s", store.ErrNotFound, g)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

// ReadFile returns manifest.json or an index file of a published
// snapshot. An index file is served only once the manifest exists (a
// snapshot being written keeps its index files under the same prefix).
func (s *Store) ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if err := store.ValidFileName(name); err != nil {
		return nil, err
	}
	label := g.String() + "/" + catalog.FormatTime(t)
	limit := int64(maxIndexSize)
	if name == catalog.ManifestName {
		limit = catalog.MaxManifestSize
	} else if err := s.published(g, t); err != nil {
		return nil, fmt.Errorf("objstore: %s: %w", label, err)
	}
	if name == lockName {
		return nil, fmt.Errorf("%w: %s/%s", store.ErrNotFound, label, name)
	}
	key := snapKey(g, t) + name
	if b, ok := s.files.get(key); ok {
		return bytes.Clone(b), nil // the cached copy stays as read
	}
	b, err := s.c.get(key, limit, func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return nil, fmt.Errorf("objstore: %s: %w", label, err)
	}
	if name != catalog.ManifestName {
		s.files.add(key, bytes.Clone(b))
	}
	return b, nil
}

// published checks that a snapshot's manifest exists, remembering the
// answer (a published snapshot changes only by Forget).
func (s *Store) published(g catalog.Group, t time.Time) error {
	k := snapKey(g, t)
	if _, ok := s.seen.Load(k); ok {
		return nil
	}
	if _, err := s.c.head(k + catalog.ManifestName); err != nil {
		return err
	}
	s.seen.Store(k, struct{}{})
	return nil
}

// Manifest reads and decodes a snapshot's manifest and checks that it
// names this group and time (ErrCorrupt otherwise).
func (s *Store) Manifest(g catalog.Group, t time.Time) (*catalog.Manifest, error) {
	b, err := s.ReadFile(g, t, catalog.ManifestName)
	if err != nil {
		return nil, err
	}
	label := g.String() + "/" + catalog.FormatTime(t)
	m, err := catalog.DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", store.ErrCorrupt, label, err)
	}
	if m.Group != g.String() || m.Time != catalog.FormatTime(t) {
		return nil, fmt.Errorf("%w: %s: manifest names %s/%s", store.ErrCorrupt, label, m.Group, m.Time)
	}
	return m, nil
}

// index reads a published index file and checks it against f.
func (s *Store) index(g catalog.Group, t time.Time, f catalog.IndexFile) (catalog.Index, error) {
	b, err := s.ReadFile(g, t, f.Name)
	if err != nil {
		return nil, err
	}
	return store.DecodeIndexFile(b, f, store.ErrCorrupt)
}

// Before returns g's latest published snapshot before t.
func (s *Store) Before(g catalog.Group, t time.Time) (time.Time, bool, error) {
	times, err := s.Snapshots(g)
	if errors.Is(err, store.ErrNotFound) {
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

// Prune forgets what store.SelectPrune removes of a group, except
// protected snapshots (kept), unless dryRun.
func (s *Store) Prune(g catalog.Group, p store.KeepPolicy, dryRun bool) (keep, remove []time.Time, err error) {
	times, err := s.Snapshots(g)
	if err != nil {
		return nil, nil, err
	}
	keep, remove = store.SelectPrune(times, p)
	if keep, remove, err = store.KeepProtected(func(t time.Time) (bool, error) { return s.Protected(g, t) }, keep, remove); err != nil {
		return nil, nil, err
	}
	if dryRun {
		return keep, remove, nil
	}
	for _, t := range remove {
		if err := s.Forget(g, t); err != nil {
			return keep, remove, fmt.Errorf("objstore: prune %s: %w", g, err)
		}
	}
	return keep, remove, nil
}

// Protect marks a published snapshot protected (an object beside its
// manifest) or not; see store.Store.Protect.
func (s *Store) Protect(g catalog.Group, t time.Time, on bool) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	k := snapKey(g, t.UTC().Truncate(time.Second))
	if _, err := s.c.head(k + catalog.ManifestName); err != nil {
		return fmt.Errorf("objstore: protect %s/%s: %w", g, catalog.FormatTime(t), err)
	}
	if !on {
		if err := s.c.del(k + store.ProtectedName); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("objstore: unprotect: %w", err)
		}
		return nil
	}
	return s.c.put(k+store.ProtectedName, nil, false)
}

// Protected reports whether a published snapshot is protected.
func (s *Store) Protected(g catalog.Group, t time.Time) (bool, error) {
	_, err := s.c.head(snapKey(g, t.UTC().Truncate(time.Second)) + store.ProtectedName)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Annotate changes a published snapshot's note and tags: its manifest
// object is put again whole (an S3 PUT replaces atomically). A Forget
// that ran meanwhile would leave the rewritten manifest without its index
// files, so Annotate looks for them after the put and takes the manifest
// back out if they are gone.
func (s *Store) Annotate(g catalog.Group, t time.Time, a store.Annotation) (*catalog.Manifest, error) {
	m, err := s.Manifest(g, t)
	if err != nil {
		return nil, err
	}
	if err := a.Apply(m); err != nil {
		return nil, err
	}
	b, err := catalog.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	k := snapKey(g, t.UTC().Truncate(time.Second))
	if err := s.c.put(k+catalog.ManifestName, b, false); err != nil {
		return nil, fmt.Errorf("objstore: annotate %s/%s: %w", g, catalog.FormatTime(t), err)
	}
	if len(m.Archives) == 0 {
		return m, nil
	}
	if _, err := s.c.head(k + m.Archives[0].Files[0].Name); errors.Is(err, store.ErrNotFound) {
		_ = s.c.del(k + catalog.ManifestName) // forgotten meanwhile
		return nil, fmt.Errorf("%w: snapshot %s/%s was forgotten", store.ErrNotFound, g, catalog.FormatTime(t))
	}
	return m, nil
}
