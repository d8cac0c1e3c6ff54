package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/replicate"
	"github.com/backupfs/backupfs/replicate/push"
	"github.com/backupfs/backupfs/store"
)

type syncOptions struct {
	repoOptions
	groups         []string
	transferLast   int
	removeVanished bool
	push           bool // --push: the location is the target, --datastore the source
}

// cmdSync pulls snapshots from a server into the local datastore, or with
// --push offers the local datastore's to a server that pulls them over
// the connection this side dials (packages replicate, replicate/push).
func cmdSync(ctx context.Context, e env, args []string) error {
	var o syncOptions
	f := flags(e, "sync")
	repoFlags(f, &o.repoOptions)
	f.StringArrayVar(&o.groups, "group", nil, "sync only groups matching this pattern (e.g. vm/*; repeatable)")
	f.IntVar(&o.transferLast, "transfer-last", 0, "copy at most the newest N snapshots of each group (0: all)")
	f.BoolVar(&o.removeVanished, "remove-vanished", false, "forget snapshots of synced groups that the source no longer has")
	f.BoolVar(&o.push, "push", false, "push: --datastore is the source and the server the target, which pulls over this connection (for a source that cannot accept connections)")
	if err := f.Parse(args); err != nil {
		return err
	}
	role := "source"
	if o.push {
		role = "target"
	}
	if len(f.Args()) != 1 {
		return fmt.Errorf("want one %s: HOST[:PORT]:/[TYPE[/ID]]", role)
	}
	loc, err := parseLocation(f.Args()[0])
	if err != nil {
		return err
	}
	if loc.addr == "" {
		return fmt.Errorf("%q: the %s must be a server, HOST[:PORT]:/[TYPE[/ID]] (--datastore is the %s)", f.Args()[0], role, map[bool]string{false: "target", true: "source"}[o.push])
	}
	ref, err := parseRef(loc.path, "", "group")
	if err != nil {
		return err
	}
	if o.transferLast < 0 {
		return fmt.Errorf("--transfer-last %d: want 0 (all) or more", o.transferLast)
	}
	ds, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	opt := replicate.Options{Type: ref.Type, ID: ref.ID, Groups: o.groups,
		TransferLast: o.transferLast, RemoveVanished: o.removeVanished,
		Log: func(msg string) { fmt.Fprintln(e.stdout, msg) }}
	var st replicate.Stats
	if o.push {
		st, err = runPush(ctx, o, loc.addr, ds, opt)
	} else {
		st, err = runPull(ctx, o, loc.addr, f.Args()[0], ds, opt)
	}
	fmt.Fprintf(e.stdout, "synced %d snapshots (%d already there, %d removed): %d chunks fetched, %s; %d chunks the target had\n",
		st.Snapshots, st.Skipped, st.Removed, st.Chunks, humanBytes(st.Bytes), st.Present)
	return err
}

// runPull copies from the server at addr into ds.
func runPull(ctx context.Context, o syncOptions, addr, arg string, ds replicate.Target, opt replicate.Options) (replicate.Stats, error) {
	src, err := dialRepo(o.repoOptions, addr, nil)
	if err != nil {
		return replicate.Stats{}, err
	}
	defer src.Close()
	c := src.(remoteRepo).Client
	st, err := replicate.Pull(ctx, c, ds, opt)
	if err == nil && st.Groups == 0 {
		return st, fmt.Errorf("%s: the source shows no group to sync: the token may read none there (it needs sync:PATTERN or read:PATTERN), or the filter selects none", arg)
	}
	return st, err
}

// runPush offers ds to the server at addr, which pulls; the stats are the
// target's.
func runPush(ctx context.Context, o syncOptions, addr string, ds store.Datastore, opt replicate.Options) (replicate.Stats, error) {
	cfg, err := clientConfig(o.repoOptions, addr)
	if err != nil {
		return replicate.Stats{}, err
	}
	w := o.stderr
	if w == nil {
		w = os.Stderr
	}
	// The session this side serves logs its problems only: the summary
	// line says how it went.
	return push.Push(ctx, ds, cfg, opt, newLogger(w, o.logFormat, slog.LevelWarn))
}

var _ replicate.Source = (*client.Client)(nil)
