package inspect

import (
	"fmt"
	"path"
	"slices"

	"github.com/backupfs/backupfs/catalog"
)

// ChangeKind says how a path differs between two trees.
type ChangeKind string

// The kinds of change.
const (
	Added    ChangeKind = "added"
	Removed  ChangeKind = "removed"
	Modified ChangeKind = "modified"
)

// Change is one path that differs between two trees.
type Change struct {
	Path    string     `json:"path"`             // archive path, "/" first
	Kind    ChangeKind `json:"change"`           //
	Fields  []string   `json:"fields,omitempty"` // Modified: what differs (type, size, mtime, mode, owner, target, rdev, xattrs)
	Type    string     `json:"type"`             // the entry's type: the new one, or the old one if removed
	Size    uint64     `json:"size"`             // its size: the new one, or the old one if removed
	OldSize uint64     `json:"old_size,omitempty"`
}

// DiffSummary counts what Diff found; bytes are file sizes.
type DiffSummary struct {
	Added        int    `json:"added"`
	Removed      int    `json:"removed"`
	Modified     int    `json:"modified"`
	AddedBytes   uint64 `json:"added_bytes"`
	RemovedBytes uint64 `json:"removed_bytes"`
}

func (s *DiffSummary) count(c Change) {
	switch c.Kind {
	case Added:
		s.Added++
		s.AddedBytes += fileSize(c.Type, c.Size)
	case Removed:
		s.Removed++
		s.RemovedBytes += fileSize(c.Type, c.Size)
	case Modified:
		s.Modified++
		if slices.Contains(c.Fields, "size") || slices.Contains(c.Fields, "type") {
			s.RemovedBytes += fileSize("file", c.OldSize)
			s.AddedBytes += fileSize(c.Type, c.Size)
		}
	}
}

func fileSize(typ string, n uint64) uint64 {
	if typ == catalog.TypeFile.String() {
		return n
	}
	return 0
}

// Diff walks two tree catalogs side by side, in sorted order, and calls
// emit for every path that differs; an error from emit stops the walk and
// is returned.
func Diff(a, b *catalog.TreeReader, emit func(Change) error) (DiffSummary, error) {
	d := differ{a: a, b: b}
	d.emit = func(c Change) error {
		d.sum.count(c)
		return emit(c)
	}
	err := d.dirs("/", a.Root(), b.Root())
	return d.sum, err
}

type differ struct {
	a, b *catalog.TreeReader
	emit func(Change) error
	sum  DiffSummary
}

// dirs compares the children of two directories at path p.
func (d *differ) dirs(p string, da, db catalog.Entry) error {
	xa, err := d.a.ReadDir(da)
	if err != nil {
		return fmt.Errorf("old tree: %s: %w", p, err)
	}
	xb, err := d.b.ReadDir(db)
	if err != nil {
		return fmt.Errorf("new tree: %s: %w", p, err)
	}
	i, j := 0, 0
	for i < len(xa) || j < len(xb) {
		switch {
		case j == len(xb) || (i < len(xa) && xa[i].Name < xb[j].Name):
			err = d.whole(d.a, path.Join(p, xa[i].Name), xa[i], Removed)
			i++
		case i == len(xa) || xb[j].Name < xa[i].Name:
			err = d.whole(d.b, path.Join(p, xb[j].Name), xb[j], Added)
			j++
		default:
			err = d.pair(path.Join(p, xa[i].Name), xa[i], xb[j])
			i, j = i+1, j+1
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pair compares one path present in both trees.
func (d *differ) pair(p string, ea, eb catalog.Entry) error {
	if fields := differences(&ea, &eb); len(fields) > 0 {
		c := Change{Path: p, Kind: Modified, Fields: fields, Type: eb.Type.String(), Size: eb.Size, OldSize: ea.Size}
		if err := d.emit(c); err != nil {
			return err
		}
	}
	switch {
	case ea.Type == catalog.TypeDir && eb.Type == catalog.TypeDir:
		return d.dirs(p, ea, eb)
	case ea.Type == catalog.TypeDir:
		return d.below(d.a, p, ea, Removed)
	case eb.Type == catalog.TypeDir:
		return d.below(d.b, p, eb, Added)
	}
	return nil
}

// whole reports e at p and, for a directory, everything under it.
func (d *differ) whole(r *catalog.TreeReader, p string, e catalog.Entry, k ChangeKind) error {
	if err := d.emit(Change{Path: p, Kind: k, Type: e.Type.String(), Size: e.Size}); err != nil {
		return err
	}
	if e.Type != catalog.TypeDir {
		return nil
	}
	return d.below(r, p, e, k)
}

// below reports everything under directory e at p.
func (d *differ) below(r *catalog.TreeReader, p string, e catalog.Entry, k ChangeKind) error {
	kids, err := r.ReadDir(e)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, c := range kids {
		if err := d.whole(r, path.Join(p, c.Name), c, k); err != nil {
			return err
		}
	}
	return nil
}

// differences names the metadata fields in which two entries of one path
// differ. Directories are not compared by mtime (see the package doc).
func differences(a, b *catalog.Entry) []string {
	if a.Type != b.Type {
		return []string{"type"}
	}
	var out []string
	add := func(differ bool, name string) {
		if differ {
			out = append(out, name)
		}
	}
	dir := a.Type == catalog.TypeDir
	add(!dir && a.Size != b.Size, "size")
	add(!dir && a.MtimeNs != b.MtimeNs, "mtime")
	add(a.Mode != b.Mode, "mode")
	add(a.UID != b.UID || a.GID != b.GID, "owner")
	add(a.Symlink != b.Symlink || a.Hardlink != b.Hardlink, "target")
	add(a.Rdev != b.Rdev, "rdev")
	add(!slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y catalog.Xattr) bool {
		return x.Name == y.Name && string(x.Value) == string(y.Value)
	}), "xattrs")
	return out
}
