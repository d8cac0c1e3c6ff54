package push

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/replicate"
	"github.com/backupfs/backupfs/store"
)

// pushEnv is a pusher's datastore with two groups and a target server
// that takes pushes.
type pushEnv struct {
	local  store.Datastore
	src    *client.Client // backs up into local
	target *remotetest.Server
}

func newPushEnv(t *testing.T) *pushEnv {
	src := remotetest.Start(t, t.TempDir())
	c := src.Dial(src.Token("admin", "backup:*"))
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i, g := range []catalog.Group{{Type: "host", ID: "a"}, {Type: "vm", ID: "1"}} {
		dir := t.TempDir()
		remotetest.WriteFiles(t, dir, map[string][]byte{"f": []byte(strings.Repeat(g.String(), 5000+i))})
		remotetest.BackupTree(t, c, g, t0, dir)
	}
	var tgt *remotetest.Server
	dir := t.TempDir()
	tgt = remotetest.Start(t, dir, func(cfg *server.ServerConfig) { cfg.Push = Handler(cfg.Store) })
	return &pushEnv{local: src.Store.Datastore(), src: c, target: tgt}
}

func (e *pushEnv) push(t *testing.T, token string, opt replicate.Options) (replicate.Stats, error) {
	t.Helper()
	cfg := client.ClientConfig{Addr: e.target.Addr, Token: token, Fingerprint: e.target.Fingerprint, Timeout: 20 * time.Second}
	return Push(context.Background(), e.local, cfg, opt, nil)
}

// A push copies what the location selects, and nothing again.
func TestPush(t *testing.T) {
	e := newPushEnv(t)
	tok := e.target.Token("pusher", "backup:*")
	st, err := e.push(t, tok, replicate.Options{Type: "vm"})
	if err != nil || st.Groups != 1 || st.Snapshots != 1 || st.Chunks == 0 {
		t.Fatalf("push of /vm: %+v, %v", st, err)
	}
	if ts, err := e.target.Store.Snapshots(catalog.Group{Type: "host", ID: "a"}); len(ts) != 0 {
		t.Fatalf("a push of /vm copied host/a: %v, %v", ts, err)
	}
	if n := countChunks(t, e.target.Dir); int64(n) != st.Chunks {
		t.Fatalf("the target holds %d chunks, the push says %d", n, st.Chunks)
	}
	st, err = e.push(t, tok, replicate.Options{})
	if err != nil || st.Groups != 2 || st.Snapshots != 1 || st.Skipped != 1 {
		t.Fatalf("push of /: %+v, %v", st, err)
	}
	if _, err := e.push(t, tok, replicate.Options{Type: "ct"}); !errors.Is(err, ErrNothing) {
		t.Fatalf("push of a location without groups: %v, want ErrNothing", err)
	}

	// --remove-vanished: host/a's first snapshot is forgotten on the pusher.
	ga, t0 := catalog.Group{Type: "host", ID: "a"}, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	remotetest.BackupTree(t, e.src, ga, t0.Add(time.Hour), t.TempDir())
	if err := e.local.Forget(ga, t0); err != nil {
		t.Fatal(err)
	}
	pruner := e.target.Token("pruner", "backup:*", "prune:host/*")
	st, err = e.push(t, pruner, replicate.Options{Type: "host", RemoveVanished: true})
	if err != nil || st.Snapshots != 1 || st.Removed != 1 {
		t.Fatalf("push with RemoveVanished: %+v, %v", st, err)
	}
	if ts, err := e.target.Store.Snapshots(ga); err != nil || len(ts) != 1 || !ts[0].Equal(t0.Add(time.Hour)) {
		t.Fatalf("host/a on the target after RemoveVanished: %v, %v", ts, err)
	}
}

// A group the pusher's token may not write fails the push, naming it,
// before anything is written.
func TestPushDeniedGroup(t *testing.T) {
	e := newPushEnv(t)
	_, err := e.push(t, e.target.Token("hosts", "backup:host/*"), replicate.Options{})
	if !errors.Is(err, ErrTarget) || !strings.Contains(err.Error(), "may not write vm/1 here (needs backup:vm/1)") {
		t.Fatalf("push with backup:host/*: %v", err)
	}
	if ts, _ := e.target.Store.Snapshots(catalog.Group{Type: "host", ID: "a"}); len(ts) != 0 {
		t.Fatal("a refused push wrote host/a")
	}
	if n := countChunks(t, e.target.Dir); n != 0 {
		t.Fatalf("a refused push stored %d chunks", n)
	}
}

func countChunks(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".chunks", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// What a PUSH frame cannot carry is refused before anything is dialed
// (ErrPattern), and a --transfer-last past its u32 field is every
// snapshot, not the value wrapped around.
func TestPushRequestBounds(t *testing.T) {
	e := newPushEnv(t)
	tok := e.target.Token("pusher", "backup:*")
	many := make([]string, 65)
	for i := range many {
		many[i] = "host/*"
	}
	for name, pats := range map[string][]string{"65 patterns": many, "a long pattern": {"host/" + strings.Repeat("*", 300)}, "an empty pattern": {"host/*", ""}} {
		if _, err := e.push(t, tok, replicate.Options{Groups: pats}); !errors.Is(err, replicate.ErrPattern) {
			t.Errorf("push with %s: %v, want ErrPattern", name, err)
		}
	}
	ga := catalog.Group{Type: "host", ID: "a"}
	remotetest.BackupTree(t, e.src, ga, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), t.TempDir())
	st, err := e.push(t, tok, replicate.Options{Type: "host", TransferLast: 1<<32 + 1})
	if err != nil || st.Snapshots != 2 {
		t.Fatalf("push with --transfer-last 2^32+1 of a group of 2 snapshots: %+v, %v; want both copied", st, err)
	}
}

// slowStore is a datastore whose first HasChunk takes pause: a target
// busy with its own store between two requests to the pusher.
type slowStore struct {
	store.Datastore
	pause time.Duration
	once  sync.Once
}

func (s *slowStore) HasChunk(d catalog.Digest) (bool, error) {
	s.once.Do(func() { time.Sleep(s.pause) })
	return s.Datastore.HasChunk(d)
}

// TestPushTargetBusy: a target that works longer than the pusher's idle
// timeout between two requests keeps the session with PINGs, and the push
// completes (before, the pusher ended a long but healthy push).
func TestPushTargetBusy(t *testing.T) {
	oldLimits, oldEvery := pusherLimits, keepAliveEvery
	pusherLimits, keepAliveEvery = server.Limits{IdleTimeout: time.Second}, 100*time.Millisecond
	defer func() { pusherLimits, keepAliveEvery = oldLimits, oldEvery }()
	e := newPushEnv(t)
	slow := remotetest.Start(t, t.TempDir(), func(cfg *server.ServerConfig) {
		cfg.Push = Handler(&slowStore{Datastore: cfg.Store, pause: 3 * time.Second})
	})
	e.target = slow
	st, err := e.push(t, slow.Token("pusher", "backup:*"), replicate.Options{})
	if err != nil || st.Snapshots != 2 {
		t.Fatalf("push to a target busy for 3 s with the pusher's idle timeout at 1 s: %+v, %v", st, err)
	}
}
