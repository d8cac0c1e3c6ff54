package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// A hostile target (the side a pusher dials) gets exactly the pusher's
// fixed grant: no chunk it was not granted through an index file of an
// offered group, no other group, no administration, no second inversion.
func TestServeInvertedHostileTarget(t *testing.T) {
	e := srvStart(t, Limits{})
	at := time.Unix(1763800000, 0).UTC()
	ds1 := e.snapshot(catalog.Group{Type: "vm", ID: "1"}, at, srvChunks(1, 2, 4096))
	ds2 := e.snapshot(catalog.Group{Type: "vm", ID: "2"}, at, srvChunks(2, 2, 4096))
	grant := &auth.Grant{Name: "push", Rules: []auth.Rule{{Perm: auth.PermSync, Pattern: "vm/1"}}}

	ours, theirs := net.Pipe()
	t.Cleanup(func() { ours.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := e.srv.ServeInverted(context.Background(), theirs, grant)
		done <- err
	}()
	c := &rawClient{t: t, nc: ours}
	c.send(wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version}.Append(nil)})
	c.hello = c.recv()

	// A digest of an offered group before its index was read, and one of
	// a group not offered: MISSING DENIED, as for a client.
	if _, codes := c.chunks(1, ds1[0], ds2[0]); codes[ds1[0]] != wire.CodeDenied || codes[ds2[0]] != wire.CodeDenied {
		t.Fatalf("ungranted digests answered %v, want DENIED", codes)
	}
	if _, err := c.getFile(2, "vm/1", at, "disk.img.fidx"); err != nil {
		t.Fatalf("the offered index: %v", err)
	}
	if blobs, codes := c.chunks(3, ds1[0], ds2[0]); blobs[ds1[0]] == nil || codes[ds2[0]] != wire.CodeDenied {
		t.Fatalf("after vm/1's index: %d blobs, codes %v; want vm/1's chunk only", len(blobs), codes)
	}
	wantError(t, c.call(wire.TListSnapshots, 4, wire.ListSnapshots{Group: "vm/2"}.Append(nil)), wire.CodeNotFound, "")
	wantError(t, c.call(wire.TAdmin, 5, wire.Admin{Op: wire.AdminGC}.Append(nil)), wire.CodeDenied, "")

	// A PUSH back (the target asking the pusher to pull from it) breaks
	// the protocol: the session ends without a result.
	c.send(wire.Frame{Type: wire.TPush, ID: 6, Payload: wire.Push{}.Append(nil)})
	fs := c.waitClosed()
	if len(fs) == 0 {
		t.Fatal("a PUSH in an inverted session: closed without an answer")
	}
	wantError(t, fs[len(fs)-1], wire.CodeBadRequest, "inverted session")
	if err := <-done; !errors.Is(err, ErrPushLost) {
		t.Fatalf("ServeInverted after a PUSH back: %v, want ErrPushLost", err)
	}
}
