package inspect

import (
	"fmt"
	"sort"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
)

// Status says how a path in one snapshot relates to the same path in the
// group's previous snapshot that had the archive.
type Status string

// The statuses of Version.
const (
	New     Status = "new"     // not in the previous snapshot
	Changed Status = "changed" // there, with other metadata
	Same    Status = "same"    // there, with the same metadata
	Gone    Status = "gone"    // in the previous snapshot, not in this one
)

// Version is one path of one snapshot that matched.
type Version struct {
	Group   string    `json:"group"`
	Time    string    `json:"time"`
	Archive string    `json:"archive"`
	Path    string    `json:"path"`
	Status  Status    `json:"status"`
	Fields  []string  `json:"fields,omitempty"` // Changed: what differs
	Type    string    `json:"type"`
	Size    uint64    `json:"size"`
	Mtime   time.Time `json:"mtime"`
}

// Versions finds pt in every tree archive of every snapshot of g, oldest
// first, and calls emit for each match with its status against the
// snapshot before (and for each match of the snapshot before that is gone).
func Versions(repo backup.Repository, g catalog.Group, pt Pattern, emit func(Version) error) error {
	times, err := repo.Snapshots(g)
	if err != nil {
		return err
	}
	last := map[string]map[string]catalog.Entry{} // archive -> path -> entry in the previous snapshot
	for _, t := range times {
		snap, err := backup.OpenSnapshot(repo, g, t)
		if err != nil {
			return err
		}
		for _, a := range snap.Manifest.Archives {
			if a.Kind != catalog.KindTree {
				continue
			}
			seen, err := versionsOf(snap, a.Name, pt, last[a.Name], emit)
			if err != nil {
				return err
			}
			last[a.Name] = seen
		}
	}
	return nil
}

// versionsOf emits the matches of one archive against prev (the matches
// of the snapshot before) and returns its own.
func versionsOf(snap *backup.Snapshot, archive string, pt Pattern, prev map[string]catalog.Entry, emit func(Version) error) (map[string]catalog.Entry, error) {
	tree, err := snap.Tree(archive)
	if err != nil {
		return nil, err
	}
	row := func(p string, e catalog.Entry, st Status, fields []string) Version {
		return Version{Group: snap.Group.String(), Time: catalog.FormatTime(snap.Time), Archive: archive,
			Path: p, Status: st, Fields: fields, Type: e.Type.String(), Size: e.Size, Mtime: time.Unix(0, e.MtimeNs).UTC()}
	}
	seen := map[string]catalog.Entry{}
	err = Find(tree.Catalog, pt, func(p string, e catalog.Entry) error {
		seen[p] = e
		st, fields := New, []string(nil)
		if old, ok := prev[p]; ok {
			st = Same
			if fields = differences(&old, &e); len(fields) > 0 {
				st = Changed
			}
		}
		return emit(row(p, e, st, fields))
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%s/%s: %w", snap.Group, catalog.FormatTime(snap.Time), archive, err)
	}
	gone := make([]string, 0)
	for p := range prev {
		if _, ok := seen[p]; !ok {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		if err := emit(row(p, prev[p], Gone, nil)); err != nil {
			return nil, err
		}
	}
	return seen, nil
}
