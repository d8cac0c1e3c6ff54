package inspect

import (
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
)

// SnapshotUsage is what one snapshot holds.
type SnapshotUsage struct {
	Group     string   `json:"group"`
	Time      string   `json:"time"`
	Archives  []string `json:"archives"`
	Tags      []string `json:"tags,omitempty"`
	Note      string   `json:"note,omitempty"`
	Size      uint64   `json:"size"`       // logical bytes: the archives' sizes
	Chunks    int      `json:"chunks"`     // distinct chunks it references
	NewChunks int      `json:"new_chunks"` // of those, the ones no earlier snapshot of its group references
	NewBytes  uint64   `json:"new_bytes"`  // their plain bytes
}

// Totals is what a set of snapshots holds together.
type Totals struct {
	Groups      int     `json:"groups"`
	Snapshots   int     `json:"snapshots"`
	Size        uint64  `json:"size"`         // logical bytes of every snapshot
	Chunks      int     `json:"chunks"`       // distinct chunks referenced
	ChunkBytes  uint64  `json:"chunk_bytes"`  // their plain bytes
	DedupFactor float64 `json:"dedup_factor"` // Size / ChunkBytes
}

// Usage reads the manifests and index files (never a chunk) of every
// snapshot of groups, oldest first within each group, and says what each
// holds and what they hold together.
func Usage(repo backup.Repository, groups []catalog.Group) ([]SnapshotUsage, Totals, error) {
	var out []SnapshotUsage
	var tot Totals
	all := map[catalog.Digest]uint64{}
	for _, g := range groups {
		times, err := repo.Snapshots(g)
		if err != nil {
			return nil, tot, err
		}
		tot.Groups++
		group := map[catalog.Digest]bool{} // chunks of the group's earlier snapshots
		for _, t := range times {
			u, err := snapshotUsage(repo, g, t, group, all)
			if err != nil {
				return nil, tot, err
			}
			out = append(out, u)
			tot.Snapshots++
			tot.Size += u.Size
		}
	}
	tot.Chunks = len(all)
	for _, n := range all {
		tot.ChunkBytes += n
	}
	if tot.ChunkBytes > 0 {
		tot.DedupFactor = float64(tot.Size) / float64(tot.ChunkBytes)
	}
	return out, tot, nil
}

// snapshotUsage measures one snapshot; group and all gain its chunks.
func snapshotUsage(repo backup.Repository, g catalog.Group, t time.Time, group map[catalog.Digest]bool, all map[catalog.Digest]uint64) (SnapshotUsage, error) {
	snap, err := backup.OpenSnapshotMeta(repo, g, t) // no chunk read: sealed ones need no key
	if err != nil {
		return SnapshotUsage{}, err
	}
	u := SnapshotUsage{Group: g.String(), Time: catalog.FormatTime(t), Archives: []string{},
		Tags: snap.Manifest.Tags, Note: snap.Manifest.Note}
	mine := map[catalog.Digest]bool{}
	for _, a := range snap.Manifest.Archives {
		u.Archives = append(u.Archives, a.Name)
		u.Size += a.Size
		_, xs, err := snap.Indexes(a.Name)
		if err != nil {
			return u, err
		}
		for _, x := range xs {
			for i := range x.NumChunks() {
				start, end, d := x.Chunk(i)
				if mine[d] {
					continue
				}
				mine[d] = true
				all[d] = end - start
				if !group[d] {
					u.NewChunks++
					u.NewBytes += end - start
				}
			}
		}
	}
	u.Chunks = len(mine)
	for d := range mine {
		group[d] = true
	}
	return u, nil
}
