package fs

import (
	"context"
	"fmt"
	"sync"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
)

// tree is an opened tree archive: its catalog (read at random through the
// cache, no readahead state) and its payload stream, plus what the
// archive has learned about hardlinks.
type tree struct {
	fsys    *filesys
	cat     *catalog.TreeReader
	payload *cache.Stream
	where   string // "type/id/time/NAME.tree"
	rootIno uint64
	slot    uint64 // inode number slot (ino.go)

	mu     sync.Mutex
	links  map[string]uint64 // hardlink target path -> its entry's Pos
	linked map[uint64]bool   // Pos of entries known to have hardlinks
}

// streamReader reads a cache.Stream as an io.ReaderAt for the catalog
// reader: uninterruptible (context.Background) and random access.
type streamReader struct{ s *cache.Stream }

func (r streamReader) ReadAt(p []byte, off int64) (int, error) {
	return r.s.ReadAt(context.Background(), p, off, nil)
}

// openTree reads a tree archive's index files (checked against the
// manifest) and its catalog's trailer and root entry.
func openTree(fsys *filesys, snap *backup.Snapshot, name, snapID string) (*tree, error) {
	a, xs, err := snap.Indexes(name)
	if err != nil {
		return nil, err
	}
	where := snapID + "/" + name
	if len(xs) != 2 || xs[1].Size() != a.Size {
		return nil, fmt.Errorf("%s: %w: want a catalog and a payload index of %d bytes", where, catalog.ErrFormat, a.Size)
	}
	meta := fsys.cache.Stream(xs[0], where+" catalog")
	cat, err := catalog.NewTreeReader(streamReader{meta}, meta.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &tree{fsys: fsys, cat: cat, payload: fsys.cache.Stream(xs[1], where), where: where, slot: fsys.slots.slot(where),
		links: map[string]uint64{}, linked: map[uint64]bool{}}, nil
}

// ino returns an entry's inode number; a hardlink gets its first link's.
func (t *tree) ino(e *catalog.Entry) (uint64, error) {
	pos := e.Pos
	if e.Type == catalog.TypeHardlink {
		var err error
		if pos, err = t.linkPos(e.Hardlink); err != nil {
			return 0, err
		}
	}
	return t.posIno(pos), nil
}

func (t *tree) posIno(pos uint64) uint64 { return treeIno(t.slot, t.where, pos) }

// linkPos finds a hardlink target's Pos once and remembers it.
func (t *tree) linkPos(target string) (uint64, error) {
	t.mu.Lock()
	pos, ok := t.links[target]
	t.mu.Unlock()
	if ok {
		return pos, nil
	}
	e, err := t.cat.LookupPath(target)
	if err != nil {
		return 0, fmt.Errorf("%s: hardlink target %q: %w", t.where, target, err)
	}
	t.mu.Lock()
	t.links[target] = e.Pos
	t.linked[e.Pos] = true
	t.mu.Unlock()
	return e.Pos, nil
}

// nlink reports a file's link count: as recorded at backup time, or, in
// catalogs without it, as far as the archive shows.
func (t *tree) nlink(e *catalog.Entry) uint32 {
	if e.Nlink > 0 {
		return e.Nlink
	}
	if e.Type == catalog.TypeHardlink {
		return 2
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.linked[e.Pos] {
		return 2
	}
	return 1
}

// newNode makes the node of entry e (inode number ino).
func (t *tree) newNode(e catalog.Entry, ino uint64) *treeNode {
	return &treeNode{node: node{fsys: t.fsys}, t: t, e: e, ino: ino}
}
