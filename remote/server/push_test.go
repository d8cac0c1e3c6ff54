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

// withPush turns push on with hook as ServerConfig.Push.
func withPush(hook func(context.Context, Handover)) func(*ServerConfig) {
	return func(c *ServerConfig) { c.Push = hook }
}

// The PUSH handover: ACK first, then the connection is the hook's, which
// speaks first on it (a HELLO as a client's) with nothing of it lost.
func TestPushHandover(t *testing.T) {
	got := make(chan Handover, 1)
	answered := make(chan error, 1)
	e := srvStart(t, Limits{}, withPush(func(_ context.Context, h Handover) {
		got <- h
		err := wire.WriteFrame(h.Conn, wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version}.Append(nil)})
		if err == nil {
			var f wire.Frame
			if f, err = wire.ReadFrame(h.Conn); err == nil && f.Type != wire.THello {
				err = errors.New("answered " + f.Type.String())
			}
		}
		answered <- err
	}))
	c := e.dial(e.token("pusher", "backup:vm/*"))
	if sh, _ := wire.DecodeServerHello(c.hello.Payload); sh.Features&wire.FeaturePush == 0 {
		t.Fatalf("HELLO features %#x lack push", sh.Features)
	}
	c.ping()
	req := wire.Push{Type: "vm", Patterns: []string{"vm/1*"}, TransferLast: 2}
	if f := c.call(wire.TPush, 1, req.Append(nil)); f.Type != wire.TAck {
		t.Fatalf("PUSH answered %v", f.Type)
	}
	if f := c.recv(); f.Type != wire.THello || f.ID != 0 {
		t.Fatalf("after the ACK: %v id %d, want the target's HELLO", f.Type, f.ID)
	}
	h := <-got
	if h.Grant.Name != "pusher" || h.Request.Type != "vm" || h.Request.TransferLast != 2 || len(h.Request.Patterns) != 1 {
		t.Fatalf("handover: grant %q, request %+v", h.Grant.Name, h.Request)
	}
	c.send(wire.Frame{Type: wire.THello, Payload: wire.ServerHello{Version: wire.Version, Name: "pusher"}.Append(nil)})
	if err := <-answered; err != nil {
		t.Fatalf("the hook's session: %v", err)
	}
	c.waitClosed()
}

// A PUSH that cannot be taken is answered ERROR and the connection stays;
// one followed by bytes before its answer, or a PUSH_RESULT outside an
// inverted session, ends it.
func TestPushRefused(t *testing.T) {
	hook := func(context.Context, Handover) { t.Error("a refused PUSH was handed over") }
	e := srvStart(t, Limits{}, withPush(hook))
	req := wire.Push{}.Append(nil)

	c := e.dial(e.token("reader", "read:*", "sync:*"))
	wantError(t, c.call(wire.TPush, 1, req), wire.CodeDenied, "needs backup:PATTERN")
	c.ping()

	c = e.dial(e.token("writer", "backup:*"))
	wantError(t, c.call(wire.TPush, 1, wire.Push{RemoveVanished: true}.Append(nil)), wire.CodeDenied, "needs prune:PATTERN")
	if f := c.call(wire.TBackupBegin, 2, wire.BackupBegin{Group: "vm/1", Time: 1763800000}.Append(nil)); f.Type != wire.TBackupReady {
		t.Fatalf("BACKUP_BEGIN answered %v", f.Type)
	}
	wantError(t, c.call(wire.TPush, 3, req), wire.CodeBadRequest, "nothing may be in flight")
	c.ping()

	c = e.dial(e.token("eager", "backup:*"))
	push := wire.AppendFrame(nil, wire.Frame{Type: wire.TPush, ID: 1, Payload: req})
	c.sendBytes(wire.AppendFrame(push, wire.Frame{Type: wire.TPing, Payload: wire.Ping{Nonce: 1}.Append(nil)}))
	fs := c.waitClosed()
	if len(fs) == 0 {
		t.Fatal("PUSH with bytes after it: closed without an answer")
	}
	wantError(t, fs[len(fs)-1], wire.CodeBadRequest, "bytes follow PUSH")

	c = e.dial(e.token("liar", "backup:*"))
	c.send(wire.Frame{Type: wire.TPushResult, ID: 1, Payload: wire.PushResult{}.Append(nil)})
	fs = c.waitClosed()
	if len(fs) == 0 {
		t.Fatal("PUSH_RESULT to a server: closed without an answer")
	}
	wantError(t, fs[len(fs)-1], wire.CodeBadRequest, "outside an inverted session")

	off := srvStart(t, Limits{}, withPush(hook), func(c *ServerConfig) { c.NoPush = true })
	c = off.dial(off.token("writer", "backup:*"))
	if sh, _ := wire.DecodeServerHello(c.hello.Payload); sh.Features&wire.FeaturePush != 0 {
		t.Fatalf("HELLO features %#x offer push with NoPush", sh.Features)
	}
	wantError(t, c.call(wire.TPush, 1, req), wire.CodeDenied, "does not accept push")
}

// ServeInverted serves exactly what its grant allows and returns the
// PUSH_RESULT; a session that ends without one is ErrPushLost.
func TestServeInverted(t *testing.T) {
	e := srvStart(t, Limits{})
	at := time.Unix(1763800000, 0).UTC()
	e.snapshot(catalog.Group{Type: "vm", ID: "1"}, at, srvChunks(1, 2, 4096))
	e.snapshot(catalog.Group{Type: "vm", ID: "2"}, at, srvChunks(2, 2, 4096))
	grant := &auth.Grant{Name: "push", Rules: []auth.Rule{{Perm: auth.PermSync, Pattern: "vm/1"}}}

	serve := func() (*rawClient, chan error, *wire.PushResult) {
		ours, theirs := net.Pipe()
		t.Cleanup(func() { ours.Close() })
		done, res := make(chan error, 1), new(wire.PushResult)
		go func() {
			r, err := e.srv.ServeInverted(context.Background(), theirs, grant)
			*res = r
			done <- err
		}()
		c := &rawClient{t: t, nc: ours}
		c.send(wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version}.Append(nil)})
		c.hello = c.recv()
		return c, done, res
	}
	c, done, res := serve()
	sh, err := wire.DecodeServerHello(c.hello.Payload)
	if err != nil || sh.Features&wire.FeatureSync == 0 || sh.Features&(wire.FeaturePush|wire.FeatureAdmin) != 0 {
		t.Fatalf("inverted HELLO %+v, %v", sh, err)
	}
	g, err := wire.DecodeGroups(c.call(wire.TListGroups, 1, nil).Payload)
	if err != nil || len(g.Groups) != 1 || g.Groups[0] != "vm/1" {
		t.Fatalf("LIST_GROUPS: %+v, %v", g, err)
	}
	if _, err := c.getFile(2, "vm/2", at, catalog.ManifestName); err == nil {
		t.Fatal("the inverted session served a group outside its grant")
	}
	wantError(t, c.call(wire.TBackupBegin, 3, wire.BackupBegin{Group: "vm/1", Time: 1}.Append(nil)), wire.CodeDenied, "")
	want := wire.PushResult{Groups: 1, Snapshots: 1, Chunks: 2, Bytes: 8200}
	if f := c.call(wire.TPushResult, 4, want.Append(nil)); f.Type != wire.TAck {
		t.Fatalf("PUSH_RESULT answered %v", f.Type)
	}
	if err := <-done; err != nil || *res != want {
		t.Fatalf("ServeInverted returned %+v, %v; want %+v", *res, err, want)
	}

	c, done, _ = serve()
	c.nc.Close()
	if err := <-done; !errors.Is(err, ErrPushLost) {
		t.Fatalf("a session closed without a result: %v, want ErrPushLost", err)
	}
}
