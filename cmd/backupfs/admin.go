package main

import (
	"context"
	"fmt"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

type verifyOptions struct {
	datastore string
	workers   int
	keyfile   string
}

func cmdVerify(ctx context.Context, e env, args []string) error {
	var o verifyOptions
	fs := flags(e, "verify")
	datastoreFlag(fs, &o.datastore)
	fs.IntVar(&o.workers, "workers", 0, "chunks verified in parallel (default: one per CPU)")
	fs.StringVar(&o.keyfile, "keyfile", "", "also open every sealed chunk of this key and check its plain bytes (default $BACKUPFS_KEYFILE; without: header and CRC only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runVerify(ctx, e, o, fs.Args())
}

func runVerify(ctx context.Context, e env, o verifyOptions, args []string) error {
	opt := store.VerifyOptions{Workers: o.workers}
	sealer, err := openSealer(repoOptions{keyfile: o.keyfile})
	if err != nil {
		return err
	}
	if sealer != nil {
		opt.Unseal, opt.Key = sealer.Check, sealer.Fingerprint()
	}
	s, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	if len(args) > 1 {
		return fmt.Errorf("want at most one /TYPE/ID[/TIME]")
	}
	if len(args) == 1 {
		r, err := parseRef(args[0], "group", "time")
		if err != nil {
			return err
		}
		g := r.Group()
		opt.Group = &g
		if r.Time != "" {
			t, err := resolveTime(s, r)
			if err != nil {
				return err
			}
			opt.Time = &t
		}
	}
	st, err := s.Verify(ctx, opt, func(p store.VerifyProblem) {
		fmt.Fprintf(e.stdout, "BAD /%s/%s %s %s: %v\n", p.Group, catalog.FormatTime(p.Time), p.File, p.Digest, p.Err)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "verified %d snapshots, %d chunks, %s: %d bad\n", st.Snapshots, st.Chunks, humanBytes(st.Bytes), st.Bad)
	if st.Sealed > 0 {
		how := "header and CRC only (no --keyfile)"
		if sealer != nil {
			how = "those of key " + sealer.Fingerprint() + " opened and checked, others by header and CRC"
		}
		fmt.Fprintf(e.stdout, "%d chunks were sealed: %s\n", st.Sealed, how)
	}
	if st.Bad > 0 {
		return fmt.Errorf("%d bad chunks or files (bad chunks were marked; a new backup of the same data repairs them)", st.Bad)
	}
	return nil
}

type pruneOptions struct {
	datastore string
	keep      store.KeepPolicy
	dryRun    bool
}

func cmdPrune(ctx context.Context, e env, args []string) error {
	var o pruneOptions
	fs := flags(e, "prune")
	datastoreFlag(fs, &o.datastore)
	fs.IntVar(&o.keep.Last, "keep-last", 0, "keep the N newest snapshots")
	fs.IntVar(&o.keep.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the N newest hours")
	fs.IntVar(&o.keep.Daily, "keep-daily", 0, "... days")
	fs.IntVar(&o.keep.Weekly, "keep-weekly", 0, "... ISO weeks")
	fs.IntVar(&o.keep.Monthly, "keep-monthly", 0, "... months")
	fs.IntVar(&o.keep.Yearly, "keep-yearly", 0, "... years")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be removed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runPrune(ctx, e, o, fs.Args())
}

func runPrune(_ context.Context, e env, o pruneOptions, args []string) error {
	if o.keep == (store.KeepPolicy{}) {
		return fmt.Errorf("no --keep-* option given: refusing to remove every snapshot")
	}
	s, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	groups, err := pruneGroups(s, args)
	if err != nil {
		return err
	}
	verb := "remove"
	if o.dryRun {
		verb = "would remove"
	}
	for _, g := range groups {
		keep, remove, err := s.Prune(g, o.keep, o.dryRun)
		if err != nil {
			return err
		}
		for _, t := range keep {
			fmt.Fprintf(e.stdout, "keep /%s/%s\n", g, catalog.FormatTime(t))
		}
		for _, t := range remove {
			fmt.Fprintf(e.stdout, "%s /%s/%s\n", verb, g, catalog.FormatTime(t))
		}
	}
	return nil
}

func pruneGroups(s store.Datastore, args []string) ([]catalog.Group, error) {
	switch len(args) {
	case 0:
		return s.Groups()
	case 1:
		r, err := parseRef(args[0], "group", "group")
		return []catalog.Group{r.Group()}, err
	}
	return nil, fmt.Errorf("want at most one /TYPE/ID")
}

type gcOptions struct {
	datastore string
	grace     time.Duration
	dryRun    bool
}

func cmdGC(ctx context.Context, e env, args []string) error {
	var o gcOptions
	fs := flags(e, "gc")
	datastoreFlag(fs, &o.datastore)
	fs.DurationVar(&o.grace, "grace", store.DefaultGrace, "keep unreferenced chunks touched within this long (protects backups running now; 0 = none)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only count what would be removed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("gc takes no arguments")
	}
	return runGC(ctx, e, o)
}

func runGC(ctx context.Context, e env, o gcOptions) error {
	s, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	// The store reads a zero grace as "default"; the smallest positive one
	// is what --grace 0 means: every unreferenced chunk older than now.
	st, err := s.GC(ctx, store.GCOptions{Grace: max(o.grace, time.Nanosecond), DryRun: o.dryRun})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "gc: %d snapshots, %d index files, %d chunks in use, %d kept (grace), %d removed (%s), %d stale temporary dirs removed\n",
		st.Snapshots, st.IndexFiles, st.ChunksMarked, st.ChunksKept, st.ChunksRemoved, humanBytes(st.BytesRemoved), st.TmpRemoved)
	return nil
}

func cmdForget(ctx context.Context, e env, args []string) error {
	var datastore string
	fs := flags(e, "forget")
	datastoreFlag(fs, &datastore)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one /TYPE/ID/TIME")
	}
	r, err := parseRef(fs.Arg(0), "time", "time")
	if err != nil {
		return err
	}
	if r.Time == catalog.Latest {
		return fmt.Errorf("forget needs an explicit snapshot time, not latest")
	}
	s, err := openStore(datastore)
	if err != nil {
		return err
	}
	t, err := resolveTime(s, r)
	if err != nil {
		return err
	}
	if err := s.Forget(r.Group(), t); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "forgot %s (run gc to free its chunks)\n", r)
	return nil
}
