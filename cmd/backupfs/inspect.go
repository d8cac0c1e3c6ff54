package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/inspect"
)

// inspectOptions are the flags of snapshots, stats, diff and find.
type inspectOptions struct {
	repoOptions
	json bool
	all  bool // find: every snapshot's match, not only where it changed
}

// inspectCommand parses the flags of a read-only inspection command and
// runs it.
func inspectCommand(name string, run func(e env, o inspectOptions, args []string) error) func(context.Context, env, []string) error {
	return func(_ context.Context, e env, args []string) error {
		var o inspectOptions
		f := flags(e, name)
		repoFlags(f, &o.repoOptions)
		f.BoolVar(&o.json, "json", false, "print JSON")
		if name == "find" {
			f.BoolVar(&o.all, "all", false, "list the match of every snapshot, not only new, changed and gone ones")
		}
		if err := f.Parse(args); err != nil {
			return err
		}
		return run(e, o, f.Args())
	}
}

// openAt opens the repository arg names and parses its path, at least
// need and at most limit deep (see parseRef).
func openAt(o inspectOptions, arg, need, limit string) (repo, catalog.Ref, error) {
	loc, err := parseLocation(arg)
	if err != nil {
		return nil, catalog.Ref{}, err
	}
	ref, err := parseRef(loc.path, need, limit)
	if err != nil {
		return nil, ref, err
	}
	r, err := openRepo(o.repoOptions, loc)
	return r, ref, err
}

// groupsAt lists the groups a ref of at most group depth names.
func groupsAt(r backup.Repository, ref catalog.Ref) ([]catalog.Group, error) {
	if ref.ID != "" {
		if _, err := r.Snapshots(ref.Group()); err != nil {
			return nil, err
		}
		return []catalog.Group{ref.Group()}, nil
	}
	all, err := r.Groups()
	if err != nil {
		return nil, err
	}
	var out []catalog.Group
	for _, g := range all {
		if ref.Type == "" || g.Type == ref.Type {
			out = append(out, g)
		}
	}
	return out, nil
}

// withGroups opens the repository loc names (at most a group deep) and
// runs fn on it with the groups it names.
func withGroups(o inspectOptions, loc string, fn func(r repo, groups []catalog.Group) error) error {
	r, ref, err := openAt(o, loc, "", "group")
	if err != nil {
		return err
	}
	defer r.Close()
	groups, err := groupsAt(r, ref)
	if err != nil {
		return err
	}
	return fn(r, groups)
}

// oneArg is the single optional location of snapshots and stats.
func oneArg(args []string) (string, error) {
	switch len(args) {
	case 0:
		return "/", nil
	case 1:
		return args[0], nil
	}
	return "", fmt.Errorf("want at most one location ([HOST[:PORT]:]/[TYPE[/ID]])")
}

func runSnapshots(e env, o inspectOptions, args []string) error {
	arg, err := oneArg(args)
	if err != nil {
		return err
	}
	var snaps []inspect.SnapshotUsage
	err = withGroups(o, arg, func(r repo, groups []catalog.Group) (err error) {
		snaps, _, err = inspect.Usage(r, groups)
		return err
	})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(e.stdout, snaps)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTIME\tSIZE\tNEW\tARCHIVES\tTAGS\tNOTE")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Group, s.Time, sizeOf(s.Size), sizeOf(s.NewBytes),
			strings.Join(s.Archives, ","), strings.Join(s.Tags, ","), s.Note)
	}
	return tw.Flush()
}

func runStats(e env, o inspectOptions, args []string) error {
	arg, err := oneArg(args)
	if err != nil {
		return err
	}
	var tot inspect.Totals
	err = withGroups(o, arg, func(r repo, groups []catalog.Group) (err error) {
		_, tot, err = inspect.Usage(r, groups)
		return err
	})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(e.stdout, tot)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "groups:\t%d\n", tot.Groups)
	fmt.Fprintf(tw, "snapshots:\t%d\n", tot.Snapshots)
	fmt.Fprintf(tw, "logical size:\t%s\t(%d bytes)\n", sizeOf(tot.Size), tot.Size)
	fmt.Fprintf(tw, "distinct chunks:\t%d\n", tot.Chunks)
	fmt.Fprintf(tw, "their plain size:\t%s\t(%d bytes)\n", sizeOf(tot.ChunkBytes), tot.ChunkBytes)
	fmt.Fprintf(tw, "dedup factor:\t%.2f\n", tot.DedupFactor)
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sizeOf prints an unsigned byte count in binary units.
func sizeOf(n uint64) string { return humanBytes(int64(min(n, 1<<62))) }
