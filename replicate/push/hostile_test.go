package push

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/syncbuf"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// A hostile pusher: a real PUSH (client.DialPush) whose inverted session
// is served by the real ServeInverted of the pusher's datastore through a
// relay that passes each of the pusher's answer frames through tamper
// (the frames it returns are sent instead; none drops the frame).
type hostile struct {
	closed chan struct{}        // the target closed (or broke) the connection
	result chan wire.PushResult // the PUSH_RESULT the target sent, if any
	once   sync.Once
	nc     net.Conn

	mu    sync.Mutex
	files []string          // the names the target asked for (GET_FILE)
	ids   map[uint32]string // GET_FILE request id -> name
}

// file names the file the target's request id asked for ("" if none).
func (h *hostile) file(id uint32) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// asked returns the names of the files the target asked for.
func (h *hostile) asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.files...)
}

// startHostile sets the target up with lim and a push hook over its
// datastore, and returns the environment (its target not yet pushed to).
func startHostile(t *testing.T, lim server.Limits, opts ...func(*server.ServerConfig)) *pushEnv {
	t.Helper()
	e := newPushEnv(t)
	e.target.Stop()
	e.target = remotetest.Start(t, e.target.Dir, append([]func(*server.ServerConfig){func(cfg *server.ServerConfig) {
		cfg.Push, cfg.Limits = Handler(cfg.Store), lim
	}}, opts...)...)
	return e
}

// dialPush asks the target to pull req with token; the connection is the
// caller's once the PUSH is accepted.
func (e *pushEnv) dialPush(t *testing.T, token string, req wire.Push) (net.Conn, error) {
	t.Helper()
	cfg := client.ClientConfig{Addr: e.target.Addr, Token: token, Fingerprint: e.target.Fingerprint, Timeout: 20 * time.Second}
	return client.DialPush(context.Background(), cfg, req)
}

// hostile pushes req with token and serves the pusher's datastore (every
// group) through tamper.
func (e *pushEnv) hostile(t *testing.T, token string, req wire.Push, tamper func(*hostile, wire.Frame) []wire.Frame) *hostile {
	t.Helper()
	nc, err := e.dialPush(t, token, req)
	if err != nil {
		t.Fatalf("PUSH: %v", err)
	}
	h := &hostile{closed: make(chan struct{}), result: make(chan wire.PushResult, 1), nc: nc, ids: map[uint32]string{}}
	ours, theirs := net.Pipe()
	t.Cleanup(func() { nc.Close(); ours.Close() })
	srv, err := server.NewServer(server.ServerConfig{Store: e.local})
	if err != nil {
		t.Fatal(err)
	}
	grant := &auth.Grant{Name: "push", Rules: []auth.Rule{{Perm: auth.PermSync, Pattern: "*"}}}
	go func() {
		if r, err := srv.ServeInverted(context.Background(), theirs, grant); err == nil {
			h.result <- r
		}
	}()
	go func() { // the target's frames, to the pusher's server
		defer h.once.Do(func() { close(h.closed) })
		defer ours.Close()
		for {
			f, err := wire.ReadFrame(nc)
			if err != nil {
				return
			}
			if r, err := wire.DecodeGetFile(f.Payload); f.Type == wire.TGetFile && err == nil {
				h.mu.Lock()
				h.files, h.ids[f.ID] = append(h.files, r.Name), r.Name
				h.mu.Unlock()
			}
			if wire.WriteFrame(ours, f) != nil {
				return
			}
		}
	}()
	go func() { // the pusher's answers, tampered, to the target
		for {
			f, err := wire.ReadFrame(ours)
			if err != nil {
				return
			}
			for _, g := range tamper(h, f) {
				if wire.WriteFrame(nc, g) != nil {
					return
				}
			}
		}
	}()
	return h
}

// waitClosed waits until the target ends the session, at most limit.
func (h *hostile) waitClosed(t *testing.T, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-h.closed:
	case <-time.After(limit):
		t.Fatalf("%s: the target still holds the push session after %s", what, limit)
	}
}

// waitOpen waits until the target holds n connections, at most limit.
func waitOpen(t *testing.T, s *remotetest.Server, n int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for s.Srv.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("the target holds %d connections after %s, want %d", s.Srv.Stats().Open, limit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stall passes the pusher's HELLO and drops every later answer: a pusher
// that accepts the session, then never answers.
func stall(_ *hostile, f wire.Frame) []wire.Frame {
	if f.Type == wire.THello {
		return []wire.Frame{f}
	}
	return nil
}

// A pusher that stops answering after the handover is given up on after
// the target's idle timeout per request, like a client that goes silent:
// the session, its goroutines and its connection slot are freed.
func TestPushStalledPusher(t *testing.T) {
	e := startHostile(t, server.Limits{IdleTimeout: time.Second})
	tok := e.target.Token("pusher", "backup:*")
	h := e.hostile(t, tok, wire.Push{}, stall)
	// The target asks (LIST_GROUPS), waits an idle timeout, sends its
	// failed PUSH_RESULT, waits another: a few seconds, far under this.
	h.waitClosed(t, 20*time.Second, "a pusher silent after HELLO")
	waitOpen(t, e.target, 0, 20*time.Second)
	if ts, _ := e.target.Store.Snapshots(catalog.Group{Type: "vm", ID: "1"}); len(ts) != 0 {
		t.Fatal("a stalled push published a snapshot")
	}
}

// A push session that never ends does not hold up Shutdown: the server
// stops within its grace, the session ended.
func TestPushShutdownStalled(t *testing.T) {
	e := startHostile(t, server.Limits{})
	h := e.hostile(t, e.target.Token("pusher", "backup:*"), wire.Push{}, stall)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.target.Srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a stalled push: %v", err)
	}
	h.waitClosed(t, 10*time.Second, "after Shutdown") // closed already: only the relay has to notice
}

// Push sessions count in the connection bounds: a source holding
// MaxConnsPerSource stalled pushes cannot open another connection.
func TestPushConnsPerSource(t *testing.T) {
	e := startHostile(t, server.Limits{MaxConnsPerSource: 2})
	tok := e.target.Token("pusher", "backup:*")
	e.hostile(t, tok, wire.Push{}, stall)
	e.hostile(t, tok, wire.Push{}, stall)
	if nc, err := e.dialPush(t, tok, wire.Push{}); err == nil {
		nc.Close()
		t.Fatal("a third push from one source was taken over MaxConnsPerSource 2")
	}
	if n := e.target.Srv.Stats().Refused; n == 0 {
		t.Fatal("the third connection was not refused at accept")
	}
}

// waitResult waits for the target's PUSH_RESULT.
func (h *hostile) waitResult(t *testing.T) wire.PushResult {
	t.Helper()
	select {
	case r := <-h.result:
		return r
	case <-h.closed:
		select {
		case r := <-h.result:
			return r
		case <-time.After(5 * time.Second):
		}
	case <-time.After(60 * time.Second):
	}
	t.Fatal("the target sent no PUSH_RESULT")
	return wire.PushResult{}
}

// assertNothing checks that the target holds no snapshot of g.
func (e *pushEnv) assertNothing(t *testing.T, g catalog.Group) {
	t.Helper()
	ts, err := e.target.Store.Snapshots(g)
	if len(ts) != 0 || (err != nil && !errors.Is(err, store.ErrNotFound)) {
		t.Fatalf("the target's %s after a refused push: %v, %v", g, ts, err)
	}
}

// A snapshot whose index files total more than the target's MaxFile (the
// target holds them in memory until it publishes) fails the push, named,
// before any index file is asked for.
func TestPushIndexTooLarge(t *testing.T) {
	e := startHostile(t, server.Limits{MaxFile: 64})
	h := e.hostile(t, e.target.Token("pusher", "backup:*"), wire.Push{Type: "vm"}, func(_ *hostile, f wire.Frame) []wire.Frame { return []wire.Frame{f} })
	res := h.waitResult(t)
	if res.Code != wire.CodeBadRequest || !strings.Contains(res.Message, "index files exceed 64 bytes") {
		t.Fatalf("a push of a snapshot over MaxFile: %+v, want BAD_REQUEST naming the bound", res)
	}
	if got := h.asked(); len(got) != 1 || got[0] != catalog.ManifestName {
		t.Fatalf("the target asked for %q, want only the manifest", got)
	}
	e.assertNothing(t, catalog.Group{Type: "vm", ID: "1"})
}

// A file answer that announces more bytes than the file may have (a
// manifest over its format's bound, an index file over the size its
// manifest declares) fails the push at its first frame: the target does
// not wait for, nor hold, the rest.
func TestPushFileOverBound(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"manifest", catalog.ManifestName},
		{"index", ".didx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			e := startHostile(t, server.Limits{IdleTimeout: 2 * time.Minute}, func(c *server.ServerConfig) {
				c.Log = slog.New(slog.NewTextHandler(&logs, nil))
			})
			h := e.hostile(t, e.target.Token("pusher", "backup:*"), wire.Push{Type: "vm"}, func(h *hostile, f wire.Frame) []wire.Frame {
				if f.Type != wire.TFileData || !strings.HasSuffix(h.file(f.ID), tc.file) {
					return []wire.Frame{f}
				}
				// 512 MiB announced, 4 KiB sent, then nothing more of it.
				fd := wire.FileData{Total: 512 << 20, Data: make([]byte, 4096)}
				return []wire.Frame{{Type: wire.TFileData, ID: f.ID, Flags: wire.FlagMore, Payload: fd.Append(nil)}}
			})
			// The target hangs up on a peer that breaks the protocol (as a
			// client does: it may keep sending), and logs why.
			h.waitClosed(t, 60*time.Second, "a "+tc.name+" announced at 512 MiB") // the idle timeout is 2 min
			waitOpen(t, e.target, 0, 60*time.Second)                              // the hook has returned
			if msg := logs.String(); !strings.Contains(msg, "push failed") || !strings.Contains(msg, "limit") {
				t.Fatalf("the target's log does not name the bound:\n%s", msg)
			}
			e.assertNothing(t, catalog.Group{Type: "vm", ID: "1"})
		})
	}
}
