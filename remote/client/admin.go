package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/backupfs/backupfs/remote/wire"
)

// Admin runs an administration request in the server (forget, prune,
// verify, gc) and calls out with each line of its report as it arrives;
// it returns the exit code the server gives (0 done, 1 problems found)
// with the message of its last frame.
// It is tried once: these requests change the datastore, and a retried
// forget would fail on the snapshot the first one removed. Ending ctx (the
// user's Ctrl-C) sends CANCEL: a verify or gc stops between chunks.
func (c *Client) Admin(ctx context.Context, req wire.Admin, out func(string)) (exit int, msg string, err error) {
	cc, err := c.conn(ctx)
	if err != nil {
		return 0, "", err
	}
	if err := cc.need(wire.FeatureAdmin); err != nil {
		return 0, "", err
	}
	call, id, err := cc.start(wire.Frame{Type: wire.TAdmin, Payload: req.Append(nil)})
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", req.Op, err)
	}
	defer cc.forget(id)
	for {
		f, err := call.next(ctx)
		if err != nil {
			cc.cancel(id)
			return 0, "", fmt.Errorf("%s: %w", req.Op, err)
		}
		if f.Type != wire.TAdminOutput {
			return 0, "", fmt.Errorf("%s: %w", req.Op, answerError(f, wire.TAdminOutput))
		}
		o, err := wire.DecodeAdminOutput(f.Payload)
		if err != nil {
			return 0, "", err
		}
		if f.Flags&wire.FlagMore == 0 {
			return int(o.Exit), o.Line, nil
		}
		out(o.Line)
	}
}

// ErrFeature reports a server that lacks a feature the request needs.
var ErrFeature = errors.New("the server does not offer")

// need fails with ErrFeature unless the server announced feature f.
func (cc *clientConn) need(f uint32) error {
	if cc.features&f == 0 {
		return fmt.Errorf("%w %s (server %q, HELLO features %#x)", ErrFeature, wire.FeatureNames[f], cc.name, cc.features)
	}
	return nil
}
