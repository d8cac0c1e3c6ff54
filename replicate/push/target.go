package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/replicate"
	"github.com/backupfs/backupfs/store"
)

// keepAliveEvery is how often a push target pings the pusher while it
// works between requests: well within the pusher's idle timeout (5 min),
// which would otherwise end a long but healthy push.
var keepAliveEvery = time.Minute

// Handler returns the ServerConfig.Push of a server over dst: it pulls
// what the pusher offers into dst, with the pusher's token's permissions,
// and sends the result back.
func Handler(dst store.Datastore) func(ctx context.Context, h server.Handover) {
	return func(ctx context.Context, h server.Handover) {
		peer := h.Conn.RemoteAddr().String()
		src, err := client.Over(ctx, h.Conn, client.ClientConfig{Addr: peer, Log: h.Log, Timeout: h.Timeout})
		if err != nil {
			h.Log.Warn("push: no session", "err", err)
			return
		}
		defer src.Close()
		alive, stop := context.WithCancel(ctx)
		go src.KeepAlive(alive, keepAliveEvery)
		st, err := pull(ctx, src, dst, h)
		stop()
		res := result(st, err)
		if err != nil {
			h.Log.Warn("push failed", "err", err, "snapshots", st.Snapshots, "chunks", st.Chunks)
		} else {
			h.Log.Info("push done", "snapshots", st.Snapshots, "skipped", st.Skipped, "removed", st.Removed, "chunks", st.Chunks, "bytes", st.Bytes)
		}
		if err := src.PushResult(ctx, res); err != nil {
			h.Log.Warn("push: result not delivered", "err", err)
		}
	}
}

// pull checks the request and every group offered, then pulls.
func pull(ctx context.Context, src *client.Client, dst store.Datastore, h server.Handover) (replicate.Stats, error) {
	req, g := h.Request, h.Grant
	opt := replicate.Options{Type: req.Type, ID: req.ID, Groups: req.Patterns,
		TransferLast: int(min(req.TransferLast, 1<<30)), RemoveVanished: req.RemoveVanished,
		MaxIndexBytes: int64(min(h.MaxFile, 1<<62))}
	if err := checkLocation(req); err != nil {
		return replicate.Stats{}, err
	}
	if err := opt.Check(); err != nil {
		return replicate.Stats{}, err
	}
	t := &guard{Target: dst, grant: g, prune: req.RemoveVanished}
	groups, err := src.Groups()
	if err != nil {
		return replicate.Stats{}, fmt.Errorf("pusher's groups: %w", err)
	}
	for _, gr := range groups {
		if !opt.Selects(gr) {
			continue
		}
		if err := t.allowed(gr); err != nil {
			return replicate.Stats{}, err
		}
	}
	return replicate.Pull(ctx, src, t, opt)
}

// checkLocation validates a PUSH's type and id.
func checkLocation(req wire.Push) error {
	if req.Type == "" && req.ID != "" {
		return fmt.Errorf("push: %w: an id without a type", catalog.ErrName)
	}
	if req.Type != "" {
		if err := catalog.ValidType(req.Type); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	if req.ID != "" {
		if err := catalog.ValidID(req.ID); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	return nil
}

// guard is the target datastore as the pusher's token may write it.
type guard struct {
	replicate.Target
	grant *auth.Grant
	prune bool
}

// allowed checks that the token may write g (and prune it, with
// RemoveVanished).
func (t *guard) allowed(g catalog.Group) error {
	if !t.grant.Allows(auth.PermBackup, g.String()) {
		return fmt.Errorf("%w: token %q may not write %s here (needs backup:%s)", ErrDenied, t.grant.Name, g, g)
	}
	if t.prune && !t.grant.Allows(auth.PermPrune, g.String()) {
		return fmt.Errorf("%w: token %q may not remove vanished snapshots of %s here (--remove-vanished needs prune:%s)", ErrDenied, t.grant.Name, g, g)
	}
	return nil
}

// Snapshots is the first call Pull makes for a group, before any of its
// chunks is stored.
func (t *guard) Snapshots(g catalog.Group) ([]time.Time, error) {
	if err := t.allowed(g); err != nil {
		return nil, err
	}
	return t.Target.Snapshots(g)
}

func (t *guard) Begin(g catalog.Group, tm time.Time) (store.Writer, error) {
	if err := t.allowed(g); err != nil {
		return nil, err
	}
	return t.Target.Begin(g, tm)
}

func (t *guard) Forget(g catalog.Group, tm time.Time) error {
	if err := t.allowed(g); err != nil {
		return err
	}
	return t.Target.Forget(g, tm)
}

// result is the PUSH_RESULT of a pull.
func result(st replicate.Stats, err error) wire.PushResult {
	r := wire.PushResult{Groups: uint32(st.Groups), Snapshots: uint32(st.Snapshots), Skipped: uint32(st.Skipped),
		Removed: uint32(st.Removed), Chunks: uint64(st.Chunks), Bytes: uint64(st.Bytes), Present: uint64(st.Present)}
	if err == nil {
		return r
	}
	r.Code, r.Message = wire.CodeGeneric, err.Error()
	var se *client.ServerError
	switch {
	case errors.Is(err, ErrDenied):
		r.Code = wire.CodeDenied
	case errors.Is(err, replicate.ErrPattern), errors.Is(err, catalog.ErrName), errors.Is(err, replicate.ErrTooLarge):
		r.Code = wire.CodeBadRequest
	case errors.As(err, &se):
		r.Code = se.Code
	}
	return r
}
