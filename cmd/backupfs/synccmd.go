package main

import (
	"context"
	"fmt"

	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/replicate"
)

type syncOptions struct {
	repoOptions
	groups         []string
	transferLast   int
	removeVanished bool
}

// cmdSync pulls snapshots from a server into the local datastore
// (package replicate).
func cmdSync(ctx context.Context, e env, args []string) error {
	var o syncOptions
	f := flags(e, "sync")
	repoFlags(f, &o.repoOptions)
	f.StringArrayVar(&o.groups, "group", nil, "sync only groups matching this pattern (e.g. vm/*; repeatable)")
	f.IntVar(&o.transferLast, "transfer-last", 0, "copy at most the newest N snapshots of each group (0: all)")
	f.BoolVar(&o.removeVanished, "remove-vanished", false, "forget snapshots of synced groups that the source no longer has")
	if err := f.Parse(args); err != nil {
		return err
	}
	if len(f.Args()) != 1 {
		return fmt.Errorf("want one source: HOST[:PORT]:/[TYPE[/ID]]")
	}
	loc, err := parseLocation(f.Args()[0])
	if err != nil {
		return err
	}
	if loc.addr == "" {
		return fmt.Errorf("%q: the source must be a server, HOST[:PORT]:/[TYPE[/ID]] (--datastore is the target)", f.Args()[0])
	}
	ref, err := parseRef(loc.path, "", "group")
	if err != nil {
		return err
	}
	dst, err := openStore(o.datastore)
	if err != nil {
		return err
	}
	src, err := dialRepo(o.repoOptions, loc.addr, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	c := src.(remoteRepo).Client
	st, err := replicate.Pull(ctx, c, dst, replicate.Options{Type: ref.Type, ID: ref.ID, Groups: o.groups,
		TransferLast: o.transferLast, RemoveVanished: o.removeVanished,
		Log: func(msg string) { fmt.Fprintln(e.stdout, msg) }})
	if err == nil && st.Groups == 0 {
		return fmt.Errorf("%s: the source shows no group to sync: the token may read none there (it needs sync:PATTERN or read:PATTERN), or the filter selects none", f.Args()[0])
	}
	fmt.Fprintf(e.stdout, "synced %d snapshots (%d already there, %d removed): %d chunks fetched, %s; %d chunks the target had\n",
		st.Snapshots, st.Skipped, st.Removed, st.Chunks, humanBytes(st.Bytes), st.Present)
	return err
}

var _ replicate.Source = (*client.Client)(nil)
