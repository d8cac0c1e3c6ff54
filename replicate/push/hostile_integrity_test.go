package push

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/replicate"
	"github.com/backupfs/backupfs/store"
	"golang.org/x/crypto/chacha20poly1305"
)

// Integrity on the target against a hostile pusher (hostile_test.go):
// what it sends is checked, nothing partial is published, nothing of
// another group is touched.
// Chunks whose bytes do not match their digest are refused: the push
// fails naming the chunk, nothing is published and the bad blob is not
// stored.
func TestPushCorruptChunk(t *testing.T) {
	e := startHostile(t, server.Limits{})
	var bad []catalog.Digest
	var mu sync.Mutex
	h := e.hostile(t, e.target.Token("pusher", "backup:*"), wire.Push{Type: "vm"}, func(_ *hostile, f wire.Frame) []wire.Frame {
		if f.Type == wire.TChunk {
			c, err := wire.DecodeChunk(f.Payload)
			if err == nil {
				mu.Lock()
				bad = append(bad, c.Digest)
				mu.Unlock()
				p := append([]byte(nil), f.Payload...)
				p[len(p)-1] ^= 0x55
				f.Payload = p
			}
		}
		return []wire.Frame{f}
	})
	res := h.waitResult(t)
	if res.Code == 0 || res.Snapshots != 0 {
		t.Fatalf("a push of corrupt chunks: %+v, want a failure", res)
	}
	h.waitClosed(t, 20*time.Second, "after its result")
	e.assertNothing(t, catalog.Group{Type: "vm", ID: "1"})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) == 0 {
		t.Fatal("no chunk was sent")
	}
	for _, d := range bad {
		if ok, _ := e.target.Store.HasChunk(d); ok {
			t.Fatalf("the target stored corrupt chunk %s", d)
		}
	}
}

// An index whose chunks the pusher does not send (MISSING): the push
// fails and nothing is published.
func TestPushChunksNotSent(t *testing.T) {
	e := startHostile(t, server.Limits{})
	h := e.hostile(t, e.target.Token("pusher", "backup:*"), wire.Push{Type: "vm"}, func(_ *hostile, f wire.Frame) []wire.Frame {
		if c, err := wire.DecodeChunk(f.Payload); f.Type == wire.TChunk && err == nil {
			f = wire.Frame{Type: wire.TMissing, ID: f.ID, Flags: f.Flags, Payload: wire.Missing{Digest: c.Digest, Code: wire.CodeNotFound}.Append(nil)}
		}
		return []wire.Frame{f}
	})
	if res := h.waitResult(t); res.Code == 0 || res.Snapshots != 0 || !strings.Contains(res.Message, "chunk") {
		t.Fatalf("a push whose chunks are missing: %+v, want a failure naming a chunk", res)
	}
	e.assertNothing(t, catalog.Group{Type: "vm", ID: "1"})
}

// A pusher that lists a group name with a path trick, or a group its
// token may not write, fails the push before anything is written.
func TestPushBadGroups(t *testing.T) {
	e := startHostile(t, server.Limits{})
	tok := e.target.Token("pusher", "backup:vm/*")
	for _, name := range []string{"vm/../../etc", "vm/1/../../x", "host/a"} {
		h := e.hostile(t, tok, wire.Push{}, func(_ *hostile, f wire.Frame) []wire.Frame {
			if f.Type == wire.TGroups {
				f.Payload = wire.Groups{Groups: []string{"vm/1", name}}.Append(nil)
			}
			return []wire.Frame{f}
		})
		res := h.waitResult(t)
		if res.Code == 0 || res.Snapshots != 0 {
			t.Fatalf("a push listing %q: %+v, want a failure", name, res)
		}
		h.waitClosed(t, 20*time.Second, "after its result")
		e.assertNothing(t, catalog.Group{Type: "vm", ID: "1"})
	}
}

// A pusher can store a sealed blob under any digest (the target checks a
// sealed blob's CRC only): one forged under the plain digest of a chunk
// must not poison another group's backup of that chunk. The backup that
// uploads the real bytes replaces the forgery, and reads back whole.
func TestPushForgedSealedBlob(t *testing.T) {
	e := startHostile(t, server.Limits{})
	aead, err := chacha20poly1305.NewX(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	var forged int
	var mu sync.Mutex
	h := e.hostile(t, e.target.Token("pusher", "backup:vm/*"), wire.Push{Type: "vm"}, func(_ *hostile, f wire.Frame) []wire.Frame {
		c, err := wire.DecodeChunk(f.Payload)
		if f.Type != wire.TChunk || err != nil {
			return []wire.Frame{f}
		}
		blob, err := store.SealBlob([]byte("not the chunk's bytes"), c.Digest, aead)
		if err != nil {
			t.Error(err)
			return nil
		}
		mu.Lock()
		forged++
		mu.Unlock()
		f.Payload = wire.Chunk{Digest: c.Digest, Blob: blob}.Append(nil)
		return []wire.Frame{f}
	})
	if res := h.waitResult(t); res.Code != 0 || res.Snapshots != 1 {
		t.Fatalf("the forged push: %+v (the target cannot tell a sealed blob's content)", res)
	}
	mu.Lock()
	if forged == 0 {
		t.Fatal("no chunk was forged")
	}
	mu.Unlock()

	// Another tenant backs up the same file into its own group.
	victim := e.target.Dial(e.target.Token("victim", "backup:host/*"))
	dir := t.TempDir()
	remotetest.WriteFiles(t, dir, map[string][]byte{"f": []byte(strings.Repeat("vm/1", 5001))})
	g, at := catalog.Group{Type: "host", ID: "victim"}, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	remotetest.BackupTree(t, victim, g, at, dir)
	m, err := e.target.Store.Manifest(g, at)
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for _, a := range m.Archives {
		for _, ix := range a.Files {
			b, err := e.target.Store.ReadFile(g, at, ix.Name)
			if err != nil {
				t.Fatal(err)
			}
			x, err := catalog.DecodeDynamicIndex(b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range x.NumChunks() {
				_, _, d := x.Chunk(i)
				if ok, _ := e.local.HasChunk(d); ok {
					shared++
				}
				if _, err := e.target.Store.Chunk(d); err != nil {
					t.Fatalf("the victim's chunk %s: %v", d, err)
				}
			}
		}
	}
	if shared == 0 {
		t.Fatal("the victim's backup shares no chunk with the pushed one: the test proves nothing")
	}
}

// A pushed snapshot whose time the target's group already holds is
// skipped: the target's snapshot stays as it was, whatever the pusher's
// holds under that time.
func TestPushCollidingSnapshot(t *testing.T) {
	e := newPushEnv(t)
	g, t0 := catalog.Group{Type: "vm", ID: "1"}, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	remotetest.WriteFiles(t, dir, map[string][]byte{"f": []byte("the target's own data")})
	remotetest.BackupTree(t, e.target.Dial(e.target.Token("owner", "backup:vm/*")), g, t0, dir)
	before, err := e.target.Store.ReadFile(g, t0, catalog.ManifestName)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.push(t, e.target.Token("pusher", "backup:vm/*"), replicate.Options{Type: "vm"})
	if err != nil || st.Skipped != 1 || st.Snapshots != 0 {
		t.Fatalf("a push of a snapshot the target has: %+v, %v; want it skipped", st, err)
	}
	after, err := e.target.Store.ReadFile(g, t0, catalog.ManifestName)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the target's snapshot changed under a colliding push (%v)", err)
	}
}
