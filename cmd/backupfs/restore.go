package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
)

type restoreOptions struct {
	repoOptions
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	var o restoreOptions
	fs := flags(e, "restore")
	repoFlags(fs, &o.repoOptions)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runRestore(ctx, e, o, fs.Args())
}

func runRestore(ctx context.Context, e env, o restoreOptions, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want /TYPE/ID/TIME/ARCHIVE[/PATH] and TARGET")
	}
	loc, err := parseLocation(args[0])
	if err != nil {
		return err
	}
	r, err := parseRef(loc.path, "archive", "path")
	if err != nil {
		return err
	}
	target := args[1]
	s, err := openRepo(o.repoOptions, loc)
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := resolveTime(s, r)
	if err != nil {
		return err
	}
	snap, err := backup.OpenSnapshot(s, r.Group(), t)
	if err != nil {
		return err
	}
	a, err := snap.Archive(r.Archive)
	if err != nil {
		return err
	}
	if a.Kind == catalog.KindImage {
		img, err := snap.Image(r.Archive)
		if err != nil {
			return err
		}
		return backup.RestoreImage(ctx, img, target)
	}
	tree, err := snap.Tree(r.Archive)
	if err != nil {
		return err
	}
	warnings := 0
	warn := func(err error) {
		warnings++
		fmt.Fprintf(e.stderr, "warning: %v\n", err)
	}
	err = backup.RestoreTree(ctx, tree, r.Path, target, warn)
	var inc *backup.IncompleteError
	if errors.As(err, &inc) {
		for _, f := range inc.Failed {
			fmt.Fprintf(e.stderr, "failed: %v\n", f.Err)
		}
		what := fmt.Sprintf("%d entries", len(inc.Failed))
		if len(inc.Failed) == 1 {
			what = "1 entry"
		}
		return fmt.Errorf("%s could not be restored (listed above; nothing is left under its name), the rest is in %s", what, target)
	}
	if err != nil {
		return err
	}
	if warnings > 0 {
		return exitError{3, fmt.Errorf("restored, with %d warnings", warnings)}
	}
	return nil
}
