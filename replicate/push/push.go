// Package push is the push mode of backupfs sync (issue 15, zrepl's
// pull-me request): a server that cannot accept connections (behind NAT)
// dials out and asks the other side to pull from it over the same
// connection. The roles then invert on that TLS connection, and the
// target copies with the very same replicate.Pull it runs for a pull
// (remote/PROTOCOL.md, "Push"). This package is the wiring of both sides:
// it is where remote/client and remote/server meet, so that neither
// imports the other.
//
//   - Push (the pusher, `backupfs sync --push --datastore DIR TARGET:/...`)
//     dials with client.DialPush and serves its datastore over the
//     accepted connection with server.ServeInverted, under a fixed grant:
//     sync (read) of exactly the groups its location and patterns select
//     at the start, nothing else. It returns the target's result.
//   - Handler (the target, `backupfs serve`) is ServerConfig.Push: a
//     client.Over the handed-over connection is the Source, the server's
//     datastore the Target, and the PUSH's location and patterns the
//     Options; the result goes back in PUSH_RESULT.
//
// # Permissions on the target
//
// Pushing writes snapshots into the target's groups, so the pusher's
// token must hold backup:PATTERN for every group it pushes, and with
// RemoveVanished also prune:PATTERN (it forgets snapshots there). The
// server refuses a PUSH at once if the token holds no such rule at all.
// Then, before anything is copied, every group the pusher offers is
// checked; one that the token may not write fails the push with an error
// naming the group and the permission (ErrDenied), before anything of
// any group is written. The same check guards every write (a pusher that
// lists other groups later gets the same refusal, and nothing of that
// group is written). Read permission on the target is not needed: the
// pusher learns nothing from the target but the result.
//
// # Failure
//
// A lost connection in the inverted session is final: nothing redials
// (the target could not reach the pusher), the pull fails as a pull
// whose source died fails: nothing partial is published, the chunks that
// arrived stay and the next push does not send them again.
//
// # Bounds on the target
//
// A pusher is an untrusted client that the target reads from, so the
// target bounds it with its own limits (server.Limits), as it bounds a
// client that writes to it:
//
//   - each request to the pusher must be answered within the server's
//     IdleTimeout (5 min): a pusher that goes silent is given up on like a
//     client that sends nothing, the push fails and its connection and
//     goroutines are freed;
//   - the index files of one pushed snapshot, which the target holds in
//     memory until it publishes it, total at most the server's MaxFile
//     (1 GiB, the bound on one uploaded file), checked against the
//     manifest before any is read (replicate.ErrTooLarge, BAD_REQUEST);
//   - a push session stays one of the server's connections: it counts in
//     MaxConns and MaxConnsPerSource until it ends, and Shutdown closes it
//     (a snapshot being copied is not published).
//
// What the pusher sends is checked as a sync checks a source: group
// names (a name that is not a valid group fails the push), the manifest
// against the location, index files against the manifest, every blob
// against its digest (or a sealed one's CRC) on arrival and again by the
// store, and the commit against every referenced chunk.
//
// # Decisions
//
//   - The pusher's grant is fixed when it starts: groups that appear in
//     its datastore during the push are not pushed.
//   - A push that selects no group on the pusher fails there, before it
//     dials (as a pull that finds none).
//   - The target logs each pushed snapshot at Info, like a backup.
//   - What the PUSH frame cannot carry fails on the pusher before it
//     dials (ErrPattern): more than 64 patterns, an empty one, or one
//     over 256 bytes (never truncated). A TransferLast past the frame's
//     u32 is every snapshot, never wrapped around.
//   - The target PINGs the pusher every minute while the session lasts:
//     between two requests it may work on its own store for longer than
//     the pusher's idle timeout (a large snapshot's chunk checks, its
//     commit), which would otherwise end a healthy push.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/replicate"
	"github.com/backupfs/backupfs/store"
)

// ErrDenied reports a pushed group the pusher's token may not write on
// the target.
var ErrDenied = errors.New("push: denied")

// ErrNothing reports a push whose location and patterns select no group
// of the pusher's datastore.
var ErrNothing = errors.New("push: nothing to push")

// ErrTarget reports a push the target ran and that failed there.
var ErrTarget = errors.New("the target's sync failed")

// pusherLimits are the limits of the pusher's side of the session: the
// defaults (tests shorten the idle timeout).
var pusherLimits server.Limits

// Push offers what opt selects in src to the server of cfg and serves it
// there until the target reports its result. The stats are the target's.
func Push(ctx context.Context, src store.Datastore, cfg client.ClientConfig, opt replicate.Options, log *slog.Logger) (replicate.Stats, error) {
	req, err := request(opt)
	if err != nil {
		return replicate.Stats{}, err
	}
	g, err := grant(src, opt)
	if err != nil {
		return replicate.Stats{}, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, err := client.DialPush(ctx, cfg, req)
	if err != nil {
		return replicate.Stats{}, err
	}
	srv, err := server.NewServer(server.ServerConfig{Store: src, Log: log, Name: "backupfs push", Limits: pusherLimits})
	if err != nil {
		nc.Close()
		return replicate.Stats{}, err
	}
	res, err := srv.ServeInverted(ctx, nc, g)
	if err != nil {
		return replicate.Stats{}, fmt.Errorf("push to %s: %w", cfg.Addr, err)
	}
	st := replicate.Stats{Groups: int(res.Groups), Snapshots: int(res.Snapshots), Skipped: int(res.Skipped),
		Removed: int(res.Removed), Chunks: int64(res.Chunks), Bytes: int64(res.Bytes), Present: int64(res.Present)}
	if res.Code != 0 {
		return st, fmt.Errorf("push to %s: %w: %s", cfg.Addr, ErrTarget, res.Message)
	}
	return st, nil
}

// request is the PUSH of opt. What the frame cannot carry is refused here
// with ErrPattern, before anything is dialed: more than
// wire.MaxPushPatterns patterns, or a pattern longer than
// wire.MaxGroupLen (the encoding would truncate it, and the target then
// select by another pattern than the one the grant was made from). A
// TransferLast beyond the u32 field is every snapshot (no group has
// that many), never the value wrapped around.
func request(opt replicate.Options) (wire.Push, error) {
	if n := len(opt.Groups); n > wire.MaxPushPatterns {
		return wire.Push{}, fmt.Errorf("%w: %d group patterns, a push takes at most %d", replicate.ErrPattern, n, wire.MaxPushPatterns)
	}
	for _, p := range opt.Groups {
		if p == "" || len(p) > wire.MaxGroupLen {
			return wire.Push{}, fmt.Errorf("%w: %q: want 1 to %d bytes", replicate.ErrPattern, p, wire.MaxGroupLen)
		}
	}
	last := uint32(min(max(opt.TransferLast, 0), math.MaxUint32))
	return wire.Push{Type: opt.Type, ID: opt.ID, Patterns: opt.Groups, TransferLast: last, RemoveVanished: opt.RemoveVanished}, nil
}

// grant is what the target may read of src: sync of exactly the groups
// opt selects there now.
func grant(src store.Datastore, opt replicate.Options) (*auth.Grant, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	groups, err := src.Groups()
	if err != nil {
		return nil, fmt.Errorf("push: list groups: %w", err)
	}
	g := &auth.Grant{Name: "push"}
	for _, gr := range groups {
		if opt.Selects(gr) {
			g.Rules = append(g.Rules, auth.Rule{Perm: auth.PermSync, Pattern: gr.String()})
		}
	}
	if len(g.Rules) == 0 {
		return nil, fmt.Errorf("%w: the datastore has no group that the location and --group select", ErrNothing)
	}
	return g, nil
}
