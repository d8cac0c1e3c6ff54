package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
)

type lsOptions struct {
	repoOptions
	json bool
}

func cmdLs(ctx context.Context, e env, args []string) error {
	var o lsOptions
	fs := flags(e, "ls")
	repoFlags(fs, &o.repoOptions)
	fs.BoolVar(&o.json, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runLs(ctx, e, o, fs.Args())
}

func runLs(_ context.Context, e env, o lsOptions, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("want at most one path")
	}
	arg := "/"
	if len(args) == 1 {
		arg = args[0]
	}
	loc, err := parseLocation(arg)
	if err != nil {
		return err
	}
	r, err := parseRef(loc.path, "", "path")
	if err != nil {
		return err
	}
	s, err := openRepo(o.repoOptions, loc)
	if err != nil {
		return err
	}
	defer s.Close()
	rows, err := lsRows(s, r)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, row.text())
	}
	return tw.Flush()
}

// lsRow is one line of ls output; JSON prints the fields that are set.
type lsRow struct {
	Group    string  `json:"group,omitempty"`
	Time     string  `json:"time,omitempty"`
	Name     string  `json:"name,omitempty"`
	Kind     string  `json:"kind,omitempty"`
	Type     string  `json:"type,omitempty"`
	Mode     string  `json:"mode,omitempty"`
	UID      *uint32 `json:"uid,omitempty"`
	GID      *uint32 `json:"gid,omitempty"`
	Size     *uint64 `json:"size,omitempty"`
	Mtime    string  `json:"mtime,omitempty"`
	Target   string  `json:"target,omitempty"`
	Hardlink string  `json:"hardlink,omitempty"`
	Key      string  `json:"key,omitempty"` // a sealed snapshot's key fingerprint
}

func (r lsRow) text() string {
	switch {
	case r.Mode != "":
		line := fmt.Sprintf("%s\t%d/%d\t%d\t%s\t%s", r.Mode, *r.UID, *r.GID, *r.Size, r.Mtime, r.Name)
		if r.Target != "" {
			line += " -> " + r.Target
		}
		if r.Hardlink != "" {
			line += " => " + r.Hardlink
		}
		return line
	case r.Kind != "":
		return fmt.Sprintf("%s\t%s\t%d", r.Name, r.Kind, *r.Size)
	case r.Time != "" && r.Key != "":
		return r.Time + "\tsealed, key " + r.Key
	case r.Time != "":
		return r.Time
	}
	return r.Group
}

func lsRows(s backup.Repository, r catalog.Ref) ([]lsRow, error) {
	switch {
	case r.ID == "":
		return lsGroups(s, r.Type)
	case r.Time == "":
		snaps, err := s.Snapshots(r.Group())
		if err != nil {
			return nil, err
		}
		rows := make([]lsRow, 0, len(snaps))
		for _, t := range snaps {
			row := lsRow{Group: r.Group().String(), Time: catalog.FormatTime(t)}
			// The manifest says whether it is sealed; reading it needs no key.
			if b, err := s.ReadFile(r.Group(), t, catalog.ManifestName); err == nil {
				if m, err := catalog.DecodeManifest(b); err == nil {
					row.Key = m.Key
				}
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	t, err := resolveTime(s, r)
	if err != nil {
		return nil, err
	}
	snap, err := backup.OpenSnapshot(s, r.Group(), t)
	if err != nil {
		return nil, err
	}
	if r.Archive == "" {
		var rows []lsRow
		for _, a := range snap.Manifest.Archives {
			rows = append(rows, lsRow{Name: a.Name, Kind: a.Kind, Size: &a.Size})
		}
		return rows, nil
	}
	return lsArchive(snap, r)
}

func lsGroups(s backup.Repository, typ string) ([]lsRow, error) {
	groups, err := s.Groups()
	if err != nil {
		return nil, err
	}
	var rows []lsRow
	for _, g := range groups {
		if typ == "" || g.Type == typ {
			rows = append(rows, lsRow{Group: g.String()})
		}
	}
	return rows, nil
}

func lsArchive(snap *backup.Snapshot, r catalog.Ref) ([]lsRow, error) {
	a, err := snap.Archive(r.Archive)
	if err != nil {
		return nil, err
	}
	if a.Kind == catalog.KindImage {
		return []lsRow{{Name: a.Name, Kind: a.Kind, Size: &a.Size}}, nil
	}
	tree, err := snap.Tree(r.Archive)
	if err != nil {
		return nil, err
	}
	ent, err := tree.Catalog.LookupPath(strings.Trim(r.Path, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	if ent.Type != catalog.TypeDir {
		return []lsRow{entryRow(ent)}, nil
	}
	children, err := tree.Catalog.ReadDir(ent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	rows := make([]lsRow, 0, len(children))
	for _, c := range children {
		rows = append(rows, entryRow(c))
	}
	return rows, nil
}

func entryRow(c catalog.Entry) lsRow {
	return lsRow{Name: c.Name, Type: c.Type.String(), Mode: modeString(c), UID: &c.UID, GID: &c.GID,
		Size: &c.Size, Mtime: time.Unix(0, c.MtimeNs).UTC().Format(time.RFC3339Nano),
		Target: c.Symlink, Hardlink: c.Hardlink}
}
