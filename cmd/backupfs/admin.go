package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/backupfs/backupfs/admin"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// The administration commands (verify, prune, gc, forget) run package
// admin on a local datastore (--datastore) or, given HOST[:PORT]:/...,
// inside that server (the ADMIN request; the token needs verify:, prune:
// or admin: permissions), and print the same either way.

type adminOptions struct {
	repoOptions
	workers int
}

// adminFlags makes an administration command's flag set.
func adminFlags(e env, name string, o *adminOptions) *pflag.FlagSet {
	f := flags(e, name)
	repoFlags(f, &o.repoOptions)
	return f
}

// runAdmin runs req where loc says and prints its report.
func runAdmin(ctx context.Context, e env, o adminOptions, loc location, req admin.Request) error {
	out := func(line string) { fmt.Fprintln(e.stdout, line) }
	var err error
	if loc.addr == "" {
		err = runAdminLocal(ctx, o, req, out)
	} else {
		err = runAdminRemote(ctx, o, loc, req, out)
	}
	var p *admin.Problems
	if errors.As(err, &p) {
		return exitError{1, errors.New(p.Msg)}
	}
	return err
}

func runAdminLocal(ctx context.Context, o adminOptions, req admin.Request, out func(string)) error {
	if req.Op == wire.AdminVerify {
		sealer, err := openSealer(o.repoOptions)
		if err != nil {
			return err
		}
		if sealer != nil {
			req.Unseal, req.Key = sealer.Check, sealer.Fingerprint()
		}
	}
	ds, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	defer ds.Close()
	return admin.Run(ctx, ds, req, out)
}

func runAdminRemote(ctx context.Context, o adminOptions, loc location, req admin.Request, out func(string)) error {
	if o.datastore != "" {
		return fmt.Errorf("--datastore is for local paths; %s names a server", loc.addr)
	}
	if req.Op == wire.AdminVerify && o.keyFile() != "" {
		return fmt.Errorf("a server has no key to open sealed chunks: verify --keyfile works with --datastore on the server's machine")
	}
	r, err := dialRepo(o.repoOptions, loc.addr, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	m := wire.Admin{Op: req.Op, DryRun: req.DryRun,
		Keep: [6]uint32{uint32(req.Keep.Last), uint32(req.Keep.Hourly), uint32(req.Keep.Daily),
			uint32(req.Keep.Weekly), uint32(req.Keep.Monthly), uint32(req.Keep.Yearly)},
		Within: int64(req.Keep.Within / time.Second), Outdated: int64(req.Outdated / time.Second),
		AddTags: strings.Join(req.Annotation.AddTags, ","), DelTags: strings.Join(req.Annotation.RemoveTags, ",")}
	if req.Annotation.Note != nil {
		m.SetNote, m.Note = true, *req.Annotation.Note
	}
	if req.Group != nil {
		m.Group = req.Group.String()
	}
	if req.Time != nil {
		m.Time = req.Time.Unix()
	}
	switch {
	case req.Grace == store.NoGrace:
		m.GraceS = -1
	case req.Grace > 0:
		m.GraceS = max(int64(req.Grace/time.Second), 1)
	}
	exit, msg, err := r.(remoteRepo).Admin(ctx, m, out)
	if err != nil {
		return err
	}
	if exit != 0 {
		return &admin.Problems{Msg: msg}
	}
	return nil
}

// adminTarget parses the optional location of verify and prune ("" for
// the whole datastore): a path down to at most limit.
func adminTarget(args []string, need, limit string) (location, catalog.Ref, error) {
	switch len(args) {
	case 0:
		return location{path: "/"}, catalog.Ref{}, nil
	case 1:
	default:
		return location{}, catalog.Ref{}, fmt.Errorf("want at most one [HOST[:PORT]:]/TYPE/ID location")
	}
	loc, err := parseLocation(args[0])
	if err != nil {
		return loc, catalog.Ref{}, err
	}
	ref, err := parseRef(loc.path, need, limit)
	return loc, ref, err
}

func groupOf(ref catalog.Ref) *catalog.Group {
	if ref.ID == "" {
		return nil
	}
	g := ref.Group()
	return &g
}

func cmdVerify(ctx context.Context, e env, args []string) error {
	var o adminOptions
	f := adminFlags(e, "verify", &o)
	f.IntVar(&o.workers, "workers", 0, "chunks verified in parallel (default: one per CPU)")
	outdated := f.Duration("outdated", 0, "skip snapshots verified clean within this long (e.g. 720h; default: verify all)")
	if err := f.Parse(args); err != nil {
		return err
	}
	loc, ref, err := adminTarget(f.Args(), "", "time")
	if err != nil {
		return err
	}
	if ref.Type != "" && ref.ID == "" {
		return fmt.Errorf("verify takes a group (/TYPE/ID), a snapshot, or nothing (every group)")
	}
	req := admin.Request{Op: wire.AdminVerify, Group: groupOf(ref), Workers: o.workers, Outdated: *outdated} // workers: local only
	if ref.Time != "" {
		t, err := snapshotTime(ref)
		if err != nil {
			return err
		}
		req.Time = &t
	}
	return runAdmin(ctx, e, o, loc, req)
}

// snapshotTime parses a ref's time; "latest" is resolved later (zero).
func snapshotTime(ref catalog.Ref) (time.Time, error) {
	if ref.Time == catalog.Latest {
		return time.Time{}, fmt.Errorf("give the snapshot's time, not latest")
	}
	return catalog.ParseTime(ref.Time)
}

func cmdPrune(ctx context.Context, e env, args []string) error {
	var o adminOptions
	var keep store.KeepPolicy
	var dryRun bool
	f := adminFlags(e, "prune", &o)
	f.IntVar(&keep.Last, "keep-last", 0, "keep the N newest snapshots")
	f.IntVar(&keep.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the N newest hours")
	f.IntVar(&keep.Daily, "keep-daily", 0, "... days")
	f.IntVar(&keep.Weekly, "keep-weekly", 0, "... ISO weeks")
	f.IntVar(&keep.Monthly, "keep-monthly", 0, "... months")
	f.IntVar(&keep.Yearly, "keep-yearly", 0, "... years")
	f.DurationVar(&keep.Within, "keep-within", 0, "keep every snapshot this much older than the group's newest or less (e.g. 72h), before the other rules")
	f.BoolVar(&dryRun, "dry-run", false, "only print what would be removed")
	if err := f.Parse(args); err != nil {
		return err
	}
	loc, ref, err := adminTarget(f.Args(), "", "group")
	if err != nil {
		return err
	}
	if ref.Type != "" && ref.ID == "" {
		return fmt.Errorf("prune takes a group (/TYPE/ID) or nothing (every group)")
	}
	return runAdmin(ctx, e, o, loc, admin.Request{Op: wire.AdminPrune, Group: groupOf(ref), Keep: keep, DryRun: dryRun})
}

func cmdGC(ctx context.Context, e env, args []string) error {
	var o adminOptions
	var grace time.Duration
	var dryRun bool
	f := adminFlags(e, "gc", &o)
	f.DurationVar(&grace, "grace", store.DefaultGrace, "keep unreferenced chunks touched within this long (protects backups running now; 0 = none)")
	f.BoolVar(&dryRun, "dry-run", false, "only count what would be removed")
	if err := f.Parse(args); err != nil {
		return err
	}
	loc, ref, err := adminTarget(f.Args(), "", "")
	if err != nil {
		return err
	}
	if ref.Type != "" {
		return fmt.Errorf("gc works on the whole datastore: give no path, or HOST[:PORT]:/")
	}
	if grace <= 0 {
		grace = store.NoGrace
	}
	return runAdmin(ctx, e, o, loc, admin.Request{Op: wire.AdminGC, Grace: grace, DryRun: dryRun})
}

// cmdJobs lists a server's scheduled jobs (serve --job): last run, its
// result and the next run.
func cmdJobs(ctx context.Context, e env, args []string) error {
	var o adminOptions
	f := adminFlags(e, "jobs", &o)
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want a server: HOST[:PORT]:/")
	}
	loc, err := parseLocation(f.Arg(0))
	if err != nil {
		return err
	}
	if loc.addr == "" {
		return fmt.Errorf("jobs run in a server: give HOST[:PORT]:/")
	}
	return runAdmin(ctx, e, o, loc, admin.Request{Op: wire.AdminJobs})
}

// cmdTag changes a snapshot's note and tags.
func cmdTag(ctx context.Context, e env, args []string) error {
	var o adminOptions
	var add, remove []string
	f := adminFlags(e, "tag", &o)
	f.StringArrayVar(&add, "add", nil, "add a tag (repeatable)")
	f.StringArrayVar(&remove, "remove", nil, "remove a tag (repeatable)")
	note := f.String("note", "", "set the note (\"\" clears it)")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want one [HOST[:PORT]:]/TYPE/ID/TIME")
	}
	loc, ref, err := adminTarget(f.Args(), "time", "time")
	if err != nil {
		return err
	}
	t, err := snapshotTime(ref)
	if err != nil {
		return err
	}
	for _, tg := range append(slices.Clone(add), remove...) {
		if err := catalog.ValidTag(tg); err != nil {
			return err
		}
	}
	g := ref.Group()
	req := admin.Request{Op: wire.AdminTag, Group: &g, Time: &t,
		Annotation: store.Annotation{AddTags: add, RemoveTags: remove}}
	if f.Changed("note") {
		req.Annotation.Note = note
	}
	return runAdmin(ctx, e, o, loc, req)
}

// cmdProtect marks a snapshot protected (forget and prune leave it) or,
// with --unprotect, not.
func cmdProtect(ctx context.Context, e env, args []string) error {
	var o adminOptions
	var off bool
	f := adminFlags(e, "protect", &o)
	f.BoolVar(&off, "unprotect", false, "remove the protection")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want one [HOST[:PORT]:]/TYPE/ID/TIME")
	}
	loc, ref, err := adminTarget(f.Args(), "time", "time")
	if err != nil {
		return err
	}
	t, err := snapshotTime(ref)
	if err != nil {
		return err
	}
	g, op := ref.Group(), wire.AdminProtect
	if off {
		op = wire.AdminUnprotect
	}
	return runAdmin(ctx, e, o, loc, admin.Request{Op: op, Group: &g, Time: &t})
}

func cmdForget(ctx context.Context, e env, args []string) error {
	var o adminOptions
	f := adminFlags(e, "forget", &o)
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want one [HOST[:PORT]:]/TYPE/ID/TIME")
	}
	loc, ref, err := adminTarget(f.Args(), "time", "time")
	if err != nil {
		return err
	}
	if ref.Time == catalog.Latest {
		return fmt.Errorf("forget needs an explicit snapshot time, not latest")
	}
	t, err := snapshotTime(ref)
	if err != nil {
		return err
	}
	g := ref.Group()
	return runAdmin(ctx, e, o, loc, admin.Request{Op: wire.AdminForget, Group: &g, Time: &t})
}
