package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// ProtectedName is the marker file (the object, on an object store) in a
// published snapshot that Forget and Prune must leave alone.
const ProtectedName = "protected"

// ErrProtected reports Forget of a protected snapshot.
var ErrProtected = errors.New("store: snapshot is protected")

// Protect marks a published snapshot protected (on) or not: Forget then
// refuses it with ErrProtected and Prune keeps it whatever the policy.
func (s *Store) Protect(g catalog.Group, t time.Time, on bool) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	dir := s.snapPath(g, t)
	if _, err := os.Stat(filepath.Join(dir, catalog.ManifestName)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: snapshot %s/%s", ErrNotFound, g, catalog.FormatTime(t))
		}
		return fmt.Errorf("store: protect: %w", err)
	}
	marker := filepath.Join(dir, ProtectedName)
	if !on {
		if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: unprotect: %w", err)
		}
		return syncDir(dir)
	}
	if err := writeFileAtomic(marker, nil, s.now()); err != nil {
		return fmt.Errorf("store: protect: %w", err)
	}
	return nil
}

// Protected reports whether a published snapshot is protected.
func (s *Store) Protected(g catalog.Group, t time.Time) (bool, error) {
	_, err := os.Lstat(filepath.Join(s.snapPath(g, t), ProtectedName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return true, nil
}

// KeepProtected moves the protected snapshots of remove into keep (both
// oldest first), for a backend's Prune.
func KeepProtected(protected func(time.Time) (bool, error), keep, remove []time.Time) ([]time.Time, []time.Time, error) {
	var left []time.Time
	for _, t := range remove {
		p, err := protected(t)
		if err != nil {
			return nil, nil, err
		}
		if p {
			keep = append(keep, t)
		} else {
			left = append(left, t)
		}
	}
	slices.SortFunc(keep, time.Time.Compare)
	if left == nil {
		left = []time.Time{}
	}
	return keep, left, nil
}
