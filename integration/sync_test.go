package integration

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

var syncedRE = regexp.MustCompile(`synced (\d+) snapshots \((\d+) already there, (\d+) removed\): (\d+) chunks fetched`)

// syncStats runs backupfs sync into ds from srv with token and parses its summary.
func syncStats(t *testing.T, srv *Server, token, ds string, args ...string) (snaps, there, removed, chunks int) {
	t.Helper()
	out := srv.MustClient(token, append([]string{"sync", "--datastore", ds}, args...)...)
	m := syncedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("sync output: %q", out)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return n(m[1]), n(m[2]), n(m[3]), n(m[4])
}

// countChunks counts the chunk files of a datastore.
func countChunks(t *testing.T, ds string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(ds, ".chunks"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(d.Name(), ".") {
			n++
		}
		return nil
	})
	return n
}

// TestSyncBetweenServers: the GOROOT/src tree and an ext4 image pulled from
// one server into another datastore: the copy verifies clean and a second
// server mounts it with identical bytes; a second sync after a small change
// fetches only the new chunks; a sync whose source dies mid-way publishes
// nothing partial and the next one resumes without fetching again what
// arrived; tokens without the permission are refused or see nothing;
// --transfer-last and --remove-vanished.
func TestSyncBetweenServers(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	img := filepath.Join(dir, "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(src, "net", "http"), img, "64M")
	a := StartServer(t, filepath.Join(dir, "a"))
	tok := a.Token("admin", "read:*", "backup:*")
	a.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", a.Repo("/host/src"), "src.tree:"+src)
	a.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", a.Repo("/vm/1"), "disk.img:"+img)

	b := NewDatastore(t)
	syncer := a.Token("offsite", "sync:*")
	snaps, _, _, first := syncStats(t, a, syncer, b, a.Repo("/"))
	if snaps != 2 || first < 100 {
		t.Fatalf("first sync: %d snapshots, %d chunks", snaps, first)
	}
	if v := MustRun(t, "verify", "--datastore", b); !strings.Contains(v, "verified 2 snapshots") || !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify of the copy:\n%s", v)
	}
	compareCopy(t, StartServer(t, b), src, img)

	// Nothing new: nothing fetched. A small change: only its chunks.
	if snaps, there, _, n := syncStats(t, a, syncer, b, a.Repo("/")); snaps != 0 || there != 2 || n != 0 {
		t.Fatalf("sync with nothing new: %d snapshots, %d there, %d chunks", snaps, there, n)
	}
	changeOnePercent(t, src)
	a.MustClient(tok, "backup", "--time", "2026-11-21T10:00:00Z", a.Repo("/host/src"), "src.tree:"+src)
	var usage []struct {
		NewChunks int `json:"new_chunks"`
	}
	decode(t, a.MustClient(tok, "snapshots", "--json", a.Repo("/host/src")), &usage)
	fresh := usage[len(usage)-1].NewChunks // the chunks no earlier snapshot of the group has
	if snaps, _, _, n := syncStats(t, a, syncer, b, a.Repo("/host")); snaps != 1 || n == 0 || n > fresh || fresh*4 > first {
		t.Fatalf("second sync after a 1%% change: %d snapshots, %d chunks fetched; the snapshot has %d new chunks (first sync: %d)", snaps, n, fresh, first)
	}

	// The source dies mid-way through a big snapshot: nothing partial is
	// published; the next sync fetches only what had not arrived.
	big := filepath.Join(dir, "big.img")
	noise := make([]byte, 48<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(noise); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			noise[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(big, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	a.MustClient(tok, "backup", "--time", "2026-11-22T10:00:00Z", a.Repo("/vm/2"), "disk.img:"+big)
	before := countChunks(t, b)
	cmd, out := stalledSync(t, a, syncer, b, "/vm/2", before)
	a.Kill()
	if err := cmd.Wait(); err == nil {
		t.Fatalf("sync went on with its source killed:\n%s", out.String())
	}
	arrived := countChunks(t, b) - before
	if ls := Run(t, "ls", "--datastore", b, "/vm/2"); ls.Code == 0 {
		t.Fatalf("a partly synced snapshot is visible:\n%s", ls.Stdout)
	}
	a.Restart()
	_, _, _, rest := syncStats(t, a, syncer, b, a.Repo("/vm/2"))
	var img2 []struct{ Chunks int }
	decode(t, a.MustClient(tok, "snapshots", "--json", a.Repo("/vm/2")), &img2)
	if total := img2[0].Chunks; arrived < 50 || rest+arrived != total {
		t.Fatalf("resumed sync fetched %d chunks after %d had arrived (%d in the image)", rest, arrived, total)
	}
	Sh(t, "cmp", big, restoreImage(t, b, "/vm/2/latest/disk.img"))

	// The syncing side killed mid-way (SIGKILL, no cleanup): the same.
	e := NewDatastore(t)
	cmd, _ = stalledSync(t, a, syncer, e, "/vm/2", 0)
	cmd.Process.Kill()
	cmd.Wait()
	arrived = countChunks(t, e)
	if ls := Run(t, "ls", "--datastore", e, "/vm/2"); ls.Code == 0 {
		t.Fatalf("a killed sync left a visible snapshot:\n%s", ls.Stdout)
	}
	if _, _, _, rest := syncStats(t, a, syncer, e, a.Repo("/vm/2")); arrived < 50 || rest+arrived != img2[0].Chunks {
		t.Fatalf("after a killed sync: %d arrived, the next fetched %d, the image has %d", arrived, rest, img2[0].Chunks)
	}
	Sh(t, "cmp", big, restoreImage(t, e, "/vm/2/latest/disk.img"))

	// Tokens: backup-only is refused; sync:host/* sees only host groups.
	if r := a.Client(a.Token("writer", "backup:*"), "sync", "--datastore", NewDatastore(t), a.Repo("/")); r.Code != 1 ||
		!strings.Contains(r.Stderr, "needs sync:PATTERN") {
		t.Fatalf("sync with a backup-only token: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	c := NewDatastore(t)
	hostOnly := a.Token("hostsync", "sync:host/*")
	if snaps, _, _, _ := syncStats(t, a, hostOnly, c, a.Repo("/")); snaps != 2 {
		t.Fatalf("sync:host/* copied %d snapshots, want the 2 of host/src", snaps)
	}
	if ls := Run(t, "ls", "--datastore", c, "/vm/1"); ls.Code == 0 {
		t.Fatal("sync:host/* copied a vm group")
	}

	// --transfer-last 1 into a fresh datastore; --remove-vanished.
	d := NewDatastore(t)
	if snaps, _, _, _ := syncStats(t, a, syncer, d, "--transfer-last", "1", a.Repo("/host/src")); snaps != 1 {
		t.Fatalf("--transfer-last 1 copied %d snapshots", snaps)
	}
	MustRun(t, "forget", "--datastore", a.Datastore, "/host/src/2026-11-20T10:00:00Z")
	if _, _, removed, _ := syncStats(t, a, syncer, b, "--remove-vanished", a.Repo("/host")); removed != 1 {
		t.Fatalf("--remove-vanished removed %d snapshots, want 1", removed)
	}
	if v := MustRun(t, "verify", "--datastore", b); !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify after all syncs:\n%s", v)
	}
}

// stalledSync starts a sync of path from srv into ds through a proxy that
// forwards its first two GET_CHUNKS (64 chunks each) and stalls the third,
// and returns once the chunks of the first two are in ds (it had before
// chunks): the sync is then stuck mid-snapshot, deterministically.
func stalledSync(t *testing.T, srv *Server, token, ds, path string, before int) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	px := StartFaultProxy(t, srv)
	px.OnFrame(byte(wire.TGetChunks), func(n int64) {
		if n == 3 {
			px.SetMode(ProxyStall)
		}
	})
	cmd := exec.Command(Binary(t), "sync", "--timeout", "3s", "--datastore", ds, px.Repo(path))
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+token, "BACKUPFS_FINGERPRINT="+srv.Fingerprint)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.SetMode(ProxyDrop) })
	deadline := time.Now().Add(2 * time.Minute)
	for countChunks(t, ds) < before+128 {
		if time.Now().After(deadline) {
			t.Fatalf("the first two batches did not arrive: %d chunks\n%s", countChunks(t, ds)-before, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd, out
}

// restoreImage restores an image archive of a local datastore and returns its path.
func restoreImage(t *testing.T, ds, ref string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored.img")
	MustRun(t, "restore", "--datastore", ds, ref, out)
	return out
}

// compareCopy mounts srv, which holds a copy of /host/src (src, first
// snapshot 2026-11-20T10:00:00Z) and /vm/1 (img), and compares both with
// the originals (diff -r, cmp).
func compareCopy(t *testing.T, srv *Server, src, img string) {
	t.Helper()
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	reader := srv.Token("reader", "read:*")
	mnt := StartMount(t, []string{"BACKUPFS_TOKEN=" + reader, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/"))
	Sh(t, "diff", "-r", "--no-dereference", src, filepath.Join(mp, "host", "src", "2026-11-20T10:00:00Z", "src"))
	Sh(t, "cmp", img, filepath.Join(mp, "vm", "1", "latest", "disk.img"))
	mnt.Stop()
}
