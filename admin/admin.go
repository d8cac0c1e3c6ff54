// Package admin runs the datastore's administration (forget, prune, verify,
// gc) and says what it did in lines of text: the one implementation the
// command line uses on a local datastore and the server runs for a client
// with the permission (remote/server, the ADMIN request), so both print
// the same and behave the same.
//
// # Decisions
//
//   - A gc through the server runs in the process that holds the running
//     backups; the directory store then keeps every chunk newer than the
//     oldest running backup's start (less a minute), whatever the grace
//     (Proxmox Backup's oldest-writer rule), so even a zero grace removes
//     nothing a backup in progress relies on.
//   - Problems found (verify's bad chunks) are *Problems: the command
//     exits 1 with its message, after the lines that name them. A failure
//     to run is any other error.
package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Request is one operation.
type Request struct {
	Op     string         // wire.AdminForget, ...: "forget", "prune", "verify", "gc", "protect", "unprotect"
	Group  *catalog.Group // forget, prune (nil: every group), verify (nil: every group)
	Time   *time.Time     // forget (required), verify (one snapshot)
	DryRun bool           // prune, gc
	Keep   store.KeepPolicy
	Grace  time.Duration // gc: 0 the default, store.NoGrace none
	// Workers: verify's chunks checked in parallel (0: the backend's default).
	Workers int
	// Outdated: verify skips snapshots verified clean within it (0: all).
	Outdated time.Duration
	// Annotation: what tag changes (note, tags).
	Annotation store.Annotation
	// Verify's sealed chunks (local only: a server has no key).
	Unseal func(d catalog.Digest, blob []byte) (int, error)
	Key    string
}

// ErrRequest reports a request that cannot run (a missing argument).
var ErrRequest = errors.New("admin: bad request")

// Problems is what Run returns when the operation ran and found problems
// (verify: bad chunks): the command ends with exit code 1 and Msg.
type Problems struct{ Msg string }

func (p *Problems) Error() string { return p.Msg }

// Run runs req on ds, calling out with each line of its report. An error
// is either *Problems (it ran; its lines say what is wrong) or a failure
// to run.
func Run(ctx context.Context, ds store.Datastore, req Request, out func(string)) error {
	switch req.Op {
	case "forget":
		return forget(ds, req, out)
	case "prune":
		return prune(ds, req, out)
	case "verify":
		return verify(ctx, ds, req, out)
	case "gc":
		return gc(ctx, ds, req, out)
	case "protect", "unprotect":
		return protect(ds, req, out)
	case "jobs":
		return fmt.Errorf("%w: jobs run in a server", ErrRequest)
	case "tag":
		return tag(ds, req, out)
	}
	return fmt.Errorf("%w: unknown operation %q", ErrRequest, req.Op)
}

func forget(ds store.Datastore, req Request, out func(string)) error {
	if req.Group == nil || req.Time == nil {
		return fmt.Errorf("%w: forget needs a group and a time", ErrRequest)
	}
	if err := ds.Forget(*req.Group, *req.Time); err != nil {
		return err
	}
	out(fmt.Sprintf("forgot /%s/%s (run gc to free its chunks)", req.Group, catalog.FormatTime(*req.Time)))
	return nil
}

func protect(ds store.Datastore, req Request, out func(string)) error {
	if req.Group == nil || req.Time == nil {
		return fmt.Errorf("%w: %s needs a group and a time", ErrRequest, req.Op)
	}
	on := req.Op == "protect"
	if err := ds.Protect(*req.Group, *req.Time, on); err != nil {
		return err
	}
	verb := "protected"
	if !on {
		verb = "unprotected"
	}
	out(fmt.Sprintf("%s /%s/%s", verb, req.Group, catalog.FormatTime(*req.Time)))
	return nil
}

func tag(ds store.Datastore, req Request, out func(string)) error {
	if req.Group == nil || req.Time == nil {
		return fmt.Errorf("%w: tag needs a group and a time", ErrRequest)
	}
	m, err := ds.Annotate(*req.Group, *req.Time, req.Annotation)
	if err != nil {
		return err
	}
	out(fmt.Sprintf("/%s/%s tags [%s] note %q", req.Group, catalog.FormatTime(*req.Time), strings.Join(m.Tags, ","), m.Note))
	return nil
}

func prune(ds store.Datastore, req Request, out func(string)) error {
	if req.Keep.IsZero() {
		return fmt.Errorf("%w: no --keep-* option given: refusing to remove every snapshot", ErrRequest)
	}
	groups := []catalog.Group{}
	if req.Group != nil {
		groups = append(groups, *req.Group)
	} else {
		var err error
		if groups, err = ds.Groups(); err != nil {
			return err
		}
	}
	verb := "remove"
	if req.DryRun {
		verb = "would remove"
	}
	for _, g := range groups {
		times, err := ds.Snapshots(g)
		if err != nil {
			return err
		}
		_, _, why := store.SelectPruneWhy(times, req.Keep) // the rule that keeps each, for the report
		keep, remove, err := ds.Prune(g, req.Keep, req.DryRun)
		if err != nil {
			return err
		}
		for _, t := range keep {
			reason := why[t]
			if reason == "" {
				reason = "protected" // the policy would remove it
			}
			out(fmt.Sprintf("keep /%s/%s (%s)", g, catalog.FormatTime(t), reason))
		}
		for _, t := range remove {
			out(fmt.Sprintf("%s /%s/%s", verb, g, catalog.FormatTime(t)))
		}
	}
	return nil
}

// ProgressEvery is how often a long operation says how far it got.
var ProgressEvery = 5 * time.Second

func verify(ctx context.Context, ds store.Datastore, req Request, out func(string)) error {
	var checked atomic.Int64
	opt := store.VerifyOptions{Group: req.Group, Time: req.Time, Unseal: req.Unseal, Key: req.Key, Workers: req.Workers,
		Progress: func() { checked.Add(1) }, Outdated: req.Outdated}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				out(fmt.Sprintf("verify: %d chunks checked so far", checked.Load()))
			}
		}
	}()
	st, err := ds.Verify(ctx, opt, func(p store.VerifyProblem) {
		out(fmt.Sprintf("BAD /%s/%s %s %s: %v", p.Group, catalog.FormatTime(p.Time), p.File, p.Digest, p.Err))
	})
	close(stop)
	<-done
	if err != nil {
		return err
	}
	out(fmt.Sprintf("verified %d snapshots, %d chunks, %s: %d bad", st.Snapshots, st.Chunks, HumanBytes(st.Bytes), st.Bad))
	if st.Skipped > 0 {
		out(fmt.Sprintf("%d snapshots skipped: verified clean within %s", st.Skipped, req.Outdated))
	}
	if st.Sealed > 0 {
		how := "header and CRC only (no --keyfile)"
		if req.Unseal != nil {
			how = "those of key " + req.Key + " opened and checked, others by header and CRC"
		}
		out(fmt.Sprintf("%d chunks were sealed: %s", st.Sealed, how))
	}
	if st.Bad > 0 {
		return &Problems{Msg: fmt.Sprintf("%d bad chunks or files (bad chunks were marked; a new backup of the same data repairs them)", st.Bad)}
	}
	return nil
}

func gc(ctx context.Context, ds store.Datastore, req Request, out func(string)) error {
	st, err := ds.GC(ctx, store.GCOptions{Grace: req.Grace, DryRun: req.DryRun})
	if err != nil {
		return err
	}
	out(fmt.Sprintf("gc: %d snapshots, %d index files, %d chunks in use, %d kept (grace), %d removed (%s), %d stale temporary dirs removed",
		st.Snapshots, st.IndexFiles, st.ChunksMarked, st.ChunksKept, st.ChunksRemoved, HumanBytes(st.BytesRemoved), st.TmpRemoved))
	return nil
}

// HumanBytes writes n in binary units (1.5 MiB), as every command prints sizes.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
