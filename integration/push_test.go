package integration

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// pushStats runs backupfs sync --push from the local datastore ds to the
// server target with token and parses its summary (the target's counts).
func pushStats(t *testing.T, target *Server, token, ds string, args ...string) (snaps, there, removed, chunks int) {
	t.Helper()
	out := target.MustClient(token, append([]string{"sync", "--push", "--datastore", ds}, args...)...)
	m := syncedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("push output: %q", out)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return n(m[1]), n(m[2]), n(m[3]), n(m[4])
}

// TestSyncPush: a datastore that accepts no connections pushes the
// GOROOT/src tree and an ext4 image to a real server, which pulls them
// over the connection the pusher dialed: the copy verifies clean and
// mounts with identical bytes; a second push after a small change
// transfers only the new chunks; a pusher killed mid-way publishes
// nothing partial and the next push sends only what had not arrived.
func TestSyncPush(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	img := filepath.Join(dir, "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(src, "net", "http"), img, "64M")
	local := NewDatastore(t)
	MustRun(t, "backup", "--datastore", local, "--time", "2026-11-20T10:00:00Z", "/host/src", "src.tree:"+src)
	MustRun(t, "backup", "--datastore", local, "--time", "2026-11-20T10:00:00Z", "/vm/1", "disk.img:"+img)

	target := StartServer(t, filepath.Join(dir, "target"))
	pusher := target.Token("pusher", "backup:*")
	snaps, _, _, first := pushStats(t, target, pusher, local, target.Repo("/"))
	if snaps != 2 || first < 100 {
		t.Fatalf("first push: %d snapshots, %d chunks", snaps, first)
	}
	if v := MustRun(t, "verify", "--datastore", target.Datastore); !strings.Contains(v, "verified 2 snapshots") || !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify of the pushed copy:\n%s", v)
	}
	compareCopy(t, target, src, img)

	// Nothing new: nothing sent. A small change: only its chunks.
	if snaps, there, _, n := pushStats(t, target, pusher, local, target.Repo("/")); snaps != 0 || there != 2 || n != 0 {
		t.Fatalf("push with nothing new: %d snapshots, %d there, %d chunks", snaps, there, n)
	}
	changeOnePercent(t, src)
	MustRun(t, "backup", "--datastore", local, "--time", "2026-11-21T10:00:00Z", "/host/src", "src.tree:"+src)
	var usage []struct {
		NewChunks int `json:"new_chunks"`
	}
	decode(t, MustRun(t, "snapshots", "--json", "--datastore", local, "/host/src"), &usage)
	fresh := usage[len(usage)-1].NewChunks
	if snaps, _, _, n := pushStats(t, target, pusher, local, target.Repo("/host")); snaps != 1 || n == 0 || n > fresh || fresh*4 > first {
		t.Fatalf("second push after a 1%% change: %d snapshots, %d chunks sent; the snapshot has %d new chunks (first push: %d)", snaps, n, fresh, first)
	}

	// The pusher killed (SIGKILL) mid-way through a big snapshot.
	big := filepath.Join(dir, "big.img")
	if err := os.WriteFile(big, noise(48<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	MustRun(t, "backup", "--datastore", local, "--time", "2026-11-22T10:00:00Z", "/vm/2", "disk.img:"+big)
	before := countChunks(t, target.Datastore)
	cmd, px := stalledPush(t, target, pusher, local, "/vm/2", before)
	cmd.Process.Kill()
	cmd.Wait()
	px.SetMode(ProxyDrop) // the target's session ends, and nothing redials it
	waitFor(t, 2*time.Minute, "the target's pull to fail on the lost session", func() bool {
		for _, l := range strings.Split(target.Log(), "\n") {
			if strings.Contains(l, `msg="push failed"`) && strings.Contains(l, "push session lost (not redialed)") {
				return true
			}
		}
		return false
	})
	if strings.Contains(target.Log(), "gave up after") {
		t.Fatalf("the target retried the lost push session:\n%s", target.Log())
	}
	arrived := countChunks(t, target.Datastore) - before
	if ls := Run(t, "ls", "--datastore", target.Datastore, "/vm/2"); ls.Code == 0 {
		t.Fatalf("a killed push left a visible snapshot:\n%s", ls.Stdout)
	}
	_, _, _, rest := pushStats(t, target, pusher, local, target.Repo("/vm/2"))
	var img2 []struct{ Chunks int }
	decode(t, MustRun(t, "snapshots", "--json", "--datastore", local, "/vm/2"), &img2)
	if total := img2[0].Chunks; arrived < 128 || rest+arrived != total {
		t.Fatalf("push after a killed one sent %d chunks after %d had arrived (%d in the image)", rest, arrived, total)
	}
	Sh(t, "cmp", big, restoreImage(t, target.Datastore, "/vm/2/latest/disk.img"))
	if v := MustRun(t, "verify", "--datastore", target.Datastore); !strings.Contains(v, "verified 4 snapshots") || !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify after all pushes:\n%s", v)
	}
}

// noise is n bytes that do not compress or repeat.
func noise(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// stalledPush starts a push of path from ds to target through a proxy
// that forwards the pusher's first 128 CHUNK answers (two batches of 64)
// and stalls at the next, and returns once those are in the target's
// datastore (it had before chunks): the push is then stuck mid-snapshot,
// deterministically.
func stalledPush(t *testing.T, target *Server, token, ds, path string, before int) (*exec.Cmd, *FaultProxy) {
	t.Helper()
	px := StartFaultProxy(t, target)
	px.OnFrame(byte(wire.TChunk), func(n int64) {
		if n == 129 {
			px.SetMode(ProxyStall)
		}
	})
	cmd := exec.Command(Binary(t), "sync", "--push", "--datastore", ds, px.Repo(path))
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+token, "BACKUPFS_FINGERPRINT="+target.Fingerprint)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.SetMode(ProxyDrop) })
	waitFor(t, 2*time.Minute, "the first two batches of a push", func() bool { return countChunks(t, target.Datastore) >= before+128 })
	return cmd, px
}

// TestSyncPushRefused: a push is refused, with the reason, and writes
// nothing, when the target's token lacks the backup permission (at all,
// or for one pushed group), when --remove-vanished lacks prune, and when
// the target turned push off.
func TestSyncPushRefused(t *testing.T) {
	dir := t.TempDir()
	local := NewDatastore(t)
	MustRun(t, "backup", "--datastore", local, "/host/a", "etc.tree:"+filepath.Join(GoRoot(t), "src", "net", "http"))
	MustRun(t, "backup", "--datastore", local, "/vm/1", "disk.img:"+filepath.Join(GoRoot(t), "VERSION"))
	target := StartServer(t, filepath.Join(dir, "target"))
	refused := func(token, want string, args ...string) {
		t.Helper()
		r := target.Client(token, append([]string{"sync", "--push", "--datastore", local}, args...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("push %v: exit %d, stderr %q; want exit 1 and %q", args, r.Code, r.Stderr, want)
		}
		if n := countChunks(t, target.Datastore); n != 0 {
			t.Fatalf("a refused push %v wrote %d chunks", args, n)
		}
	}
	refused(target.Token("reader", "read:*", "sync:*"), "needs backup:PATTERN", target.Repo("/"))
	refused(target.Token("vmonly", "backup:vm/*"), `may not write host/a here (needs backup:host/a)`, target.Repo("/"))
	refused(target.Token("writer", "backup:*"), "needs prune:PATTERN", "--remove-vanished", target.Repo("/"))
	refused(target.Token("vmprune", "backup:*", "prune:vm/*"), "(--remove-vanished needs prune:host/a)", "--remove-vanished", target.Repo("/"))

	off := StartServerWith(t, filepath.Join(dir, "off"), ServerOpts{Args: []string{"--no-push"}})
	r := off.Client(off.Token("writer", "backup:*"), "sync", "--push", "--datastore", local, off.Repo("/"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "the server does not support push") {
		t.Fatalf("push to a server with --no-push: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
