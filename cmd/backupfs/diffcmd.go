package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/inspect"
)

// runDiff compares two snapshots (or one archive of each) from their
// catalogs: A is [HOST:]/TYPE/ID/TIME[/ARCHIVE]; B is a TIME of the same
// group or a path /TYPE/ID/TIME[/ARCHIVE] on the same repository.
func runDiff(e env, o inspectOptions, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want two snapshots: [HOST[:PORT]:]/TYPE/ID/TIME[/ARCHIVE] and TIME or /TYPE/ID/TIME[/ARCHIVE]")
	}
	r, ra, err := openAt(o, args[0], "time", "archive")
	if err != nil {
		return err
	}
	defer r.Close()
	rb := ra
	if strings.HasPrefix(args[1], "/") {
		if rb, err = parseRef(args[1], "time", "archive"); err != nil {
			return err
		}
		if rb.Archive == "" {
			rb.Archive = ra.Archive
		}
	} else {
		rb.Time = args[1]
	}
	a, err := openRef(r, ra)
	if err != nil {
		return err
	}
	b, err := openRef(r, rb)
	if err != nil {
		return err
	}
	var changes []inspect.Change
	var sum inspect.DiffSummary
	err = diffSnapshots(a, b, ra.Archive, rb.Archive, func(c inspect.Change) error {
		if o.json {
			changes = append(changes, c)
			return nil
		}
		_, err := fmt.Fprintln(e.stdout, changeLine(c))
		return err
	}, &sum)
	if err != nil {
		return err
	}
	if o.json {
		if changes == nil {
			changes = []inspect.Change{}
		}
		return printJSON(e.stdout, struct {
			Changes []inspect.Change    `json:"changes"`
			Summary inspect.DiffSummary `json:"summary"`
		}{changes, sum})
	}
	fmt.Fprintf(e.stdout, "%d added (%s), %d removed (%s), %d modified\n", sum.Added, sizeOf(sum.AddedBytes),
		sum.Removed, sizeOf(sum.RemovedBytes), sum.Modified)
	return nil
}

func changeLine(c inspect.Change) string {
	switch c.Kind {
	case inspect.Added:
		return "+    " + c.Path
	case inspect.Removed:
		return "-    " + c.Path
	}
	mark := "M"
	if len(c.Fields) == 1 && c.Fields[0] == "type" {
		mark = "T"
	}
	return fmt.Sprintf("%s    %s  (%s)", mark, c.Path, strings.Join(c.Fields, ", "))
}

func openRef(r backup.Repository, ref catalog.Ref) (*backup.Snapshot, error) {
	t, err := resolveTime(r, ref)
	if err != nil {
		return nil, err
	}
	return backup.OpenSnapshot(r, ref.Group(), t)
}

// diffSnapshots compares archive an of a with bn of b, or, with both names
// empty, every archive by name (paths then start with "/ARCHIVE").
func diffSnapshots(a, b *backup.Snapshot, an, bn string, emit func(inspect.Change) error, sum *inspect.DiffSummary) error {
	if an != "" {
		return diffArchive(a, b, an, bn, "", emit, sum)
	}
	names := map[string]bool{}
	for _, x := range a.Manifest.Archives {
		names[x.Name] = true
	}
	for _, y := range b.Manifest.Archives {
		names[y.Name] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		_, inA := a.Manifest.Archive(n)
		_, inB := b.Manifest.Archive(n)
		var err error
		switch {
		case !inA:
			err = emitCount(emit, sum, inspect.Change{Path: "/" + n, Kind: inspect.Added, Type: "archive"})
		case !inB:
			err = emitCount(emit, sum, inspect.Change{Path: "/" + n, Kind: inspect.Removed, Type: "archive"})
		default:
			err = diffArchive(a, b, n, n, "/"+n, emit, sum)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func emitCount(emit func(inspect.Change) error, sum *inspect.DiffSummary, c inspect.Change) error {
	switch c.Kind {
	case inspect.Added:
		sum.Added++
	case inspect.Removed:
		sum.Removed++
	default:
		sum.Modified++
	}
	return emit(c)
}

// diffArchive compares one archive of each snapshot; prefix goes before
// every path. Images are compared by their index file (same chunks, same
// bytes) and reported as one line.
func diffArchive(a, b *backup.Snapshot, an, bn, prefix string, emit func(inspect.Change) error, sum *inspect.DiffSummary) error {
	xa, err := a.Archive(an)
	if err != nil {
		return err
	}
	xb, err := b.Archive(bn)
	if err != nil {
		return err
	}
	if xa.Kind != catalog.KindTree || xb.Kind != catalog.KindTree {
		if xa.Kind == xb.Kind && xa.Size == xb.Size && xa.Files[0].SHA256 == xb.Files[0].SHA256 {
			return nil
		}
		path := prefix
		if path == "" {
			path = "/"
		}
		return emitCount(emit, sum, inspect.Change{Path: path, Kind: inspect.Modified, Fields: []string{"content"},
			Type: xb.Kind, Size: xb.Size, OldSize: xa.Size})
	}
	ta, err := a.Tree(an)
	if err != nil {
		return err
	}
	tb, err := b.Tree(bn)
	if err != nil {
		return err
	}
	s, err := inspect.Diff(ta.Catalog, tb.Catalog, func(c inspect.Change) error {
		c.Path = strings.TrimSuffix(prefix, "/") + c.Path
		return emit(c)
	})
	sum.Added += s.Added
	sum.Removed += s.Removed
	sum.Modified += s.Modified
	sum.AddedBytes += s.AddedBytes
	sum.RemovedBytes += s.RemovedBytes
	return err
}

// runFind lists where a pattern matches across the snapshots of the groups
// a location names, oldest first, and how each match relates to the one
// before: by default only the versions that differ (new, changed, gone).
func runFind(e env, o inspectOptions, args []string) error {
	loc, pattern := "/", ""
	switch len(args) {
	case 1:
		pattern = args[0]
	case 2:
		loc, pattern = args[0], args[1]
	default:
		return fmt.Errorf("want [LOCATION] PATTERN, e.g. /host/web1 /etc/fstab or '*.conf'")
	}
	pt, err := inspect.ParsePattern(pattern)
	if err != nil {
		return err
	}
	rows := []inspect.Version{}
	err = withGroups(o, loc, func(r repo, groups []catalog.Group) error {
		for _, g := range groups {
			err := inspect.Versions(r, g, pt, func(v inspect.Version) error {
				if o.all || v.Status != inspect.Same {
					rows = append(rows, v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(e.stdout, rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTIME\tARCHIVE\tSTATUS\tSIZE\tMTIME\tPATH")
	for _, v := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.Group, v.Time, v.Archive, v.Status, v.Size,
			v.Mtime.Format(time.RFC3339), v.Path)
	}
	return tw.Flush()
}
