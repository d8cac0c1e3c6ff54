package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// Annotation changes a published snapshot's note and tags (backupfs tag):
// the one part of a snapshot that changes after it is published.
type Annotation struct {
	Note       *string  // nil: leave the note
	AddTags    []string // added if missing
	RemoveTags []string // removed if present
}

// Apply changes m as a says and validates the result.
func (a Annotation) Apply(m *catalog.Manifest) error {
	if a.Note != nil {
		m.Note = *a.Note
	}
	for _, t := range a.AddTags {
		if !slices.Contains(m.Tags, t) {
			m.Tags = append(m.Tags, t)
		}
	}
	m.Tags = slices.DeleteFunc(m.Tags, func(t string) bool { return slices.Contains(a.RemoveTags, t) })
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Annotate changes a published snapshot's note and tags: its manifest is
// rewritten whole (written aside, synced, renamed over), under a shared
// lock on the snapshot directory so a Forget does not remove it meanwhile
// (backups holding it as their base share that lock).
func (s *Store) Annotate(g catalog.Group, t time.Time, a Annotation) (*catalog.Manifest, error) {
	lock, err := lockDir(s.snapPath(g, t), unix.LOCK_SH)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: snapshot %s/%s", ErrNotFound, g, catalog.FormatTime(t))
	}
	if err != nil {
		return nil, fmt.Errorf("store: annotate: %w", err)
	}
	defer lock.Close()
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
	if err := writeFileAtomic(filepath.Join(s.snapPath(g, t), catalog.ManifestName), b, s.now()); err != nil {
		return nil, fmt.Errorf("store: annotate: %w", err)
	}
	return m, nil
}
