package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mountpoint makes an empty directory to mount on.
func mountpoint(t *testing.T) string {
	t.Helper()
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	return mp
}

// TestS3RoundTripGoroot: the GOROOT/src tree on the object store: backup,
// ls, restore (diff -r and metadata), mount --datastore s3://... (diff -r),
// a second backup, verify, prune, gc, and the kept snapshot still restores.
func TestS3RoundTripGoroot(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	s := NewS3Datastore(t)
	s.MustRun(t, "backup", "--datastore", s.URL, "--time", "2026-11-20T10:00:00Z", "/host/goroot", "src.tree:"+src)
	snaps := strings.Fields(s.MustRun(t, "ls", "--datastore", s.URL, "/host/goroot"))
	if len(snaps) != 1 || snaps[0] != "2026-11-20T10:00:00Z" {
		t.Fatalf("ls /host/goroot = %q, want the one snapshot", snaps)
	}
	out := filepath.Join(t.TempDir(), "restored")
	s.MustRun(t, "restore", "--datastore", s.URL, "/host/goroot/latest/src.tree", out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata differs after restore:\n%s", DiffLines(a, b, 20))
	}

	mp := mountpoint(t)
	m := StartMount(t, s.Env(), mp, "--datastore", s.URL, "/host/goroot")
	Sh(t, "diff", "-r", "--no-dereference", src, filepath.Join(mp, "latest", "src"))
	m.Stop()

	second := s.MustRun(t, "backup", "--datastore", s.URL, "--time", "2026-11-21T10:00:00Z", "/host/goroot", "src.tree:"+src)
	t.Logf("second backup: %s", strings.TrimSpace(second))
	if v := s.MustRun(t, "verify", "--datastore", s.URL); !strings.Contains(v, "verified 2 snapshots") || !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify: %q", v)
	}
	s.MustRun(t, "prune", "--datastore", s.URL, "/host/goroot", "--keep-last", "1")
	if snaps := strings.Fields(s.MustRun(t, "ls", "--datastore", s.URL, "/host/goroot")); len(snaps) != 1 || snaps[0] != "2026-11-21T10:00:00Z" {
		t.Fatalf("ls after prune --keep-last 1 = %q", snaps)
	}
	// Make a chunk only the pruned snapshot had, and age everything: gc
	// removes that chunk and keeps all the kept snapshot needs.
	tmp := t.TempDir()
	writeRandom(t, filepath.Join(tmp, "only-here"), 1<<20, 7)
	s.MustRun(t, "backup", "--datastore", s.URL, "--time", "2026-11-19T10:00:00Z", "/host/other", "x.tree:"+tmp)
	s.MustRun(t, "forget", "--datastore", s.URL, "/host/other/2026-11-19T10:00:00Z")
	s.Age(48 * time.Hour)
	gc := s.MustRun(t, "gc", "--datastore", s.URL, "--grace", "24h")
	if n := regexp.MustCompile(` (\d+) removed`).FindStringSubmatch(gc); n == nil || n[1] == "0" {
		t.Fatalf("gc removed nothing: %q", gc)
	}
	t.Logf("gc: %s", strings.TrimSpace(gc))
	if v := s.MustRun(t, "verify", "--datastore", s.URL); !strings.Contains(v, "verified 1 snapshots") || !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify after gc: %q", v)
	}
	out2 := filepath.Join(t.TempDir(), "restored2")
	s.MustRun(t, "restore", "--datastore", s.URL, "/host/goroot/latest/src.tree/net/http", out2)
	Sh(t, "diff", "-r", filepath.Join(src, "net/http"), out2)
}

// TestS3StoreKilledDuringBackup: the object store is killed in the middle
// of a backup and stays down: the backup fails saying so (a second line
// tells the abort could not clean up either: gc does, later), and
// after a restart nothing of it is listed; the next backup succeeds.
func TestS3StoreKilledDuringBackup(t *testing.T) {
	s := NewS3Datastore(t)
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big"), 64<<20, 3)
	cmd := s.Command(t, "backup", "--datastore", s.URL, "--s3-timeout", "3s", "/vm/7", "disk.img:"+filepath.Join(src, "big"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 60*time.Second, "the backup's first chunks", func() bool { return len(s.ChunkFiles(t)) >= 2 })
	s.Kill()
	err := <-done
	msg := strings.TrimSpace(stderr.String())
	if err == nil || !strings.Contains(strings.SplitN(msg, "\n", 2)[0], "object store unavailable") {
		t.Fatalf("backup with the store killed: %v, stderr %q; want a failure saying the store is unavailable", err, msg)
	}
	t.Logf("backup: %s", msg)
	s.Restart()
	if r := s.Run(t, "ls", "--datastore", s.URL, "/"); strings.Contains(r.Stdout, "vm/7") {
		t.Fatalf("a killed backup is listed: %q", r.Stdout)
	}
	s.MustRun(t, "backup", "--datastore", s.URL, "/vm/7", "disk.img:"+filepath.Join(src, "big"))
	// Written to the object store directly, an image is cut into 1 MiB
	// chunks (the store's ImageChunkSize): 64 objects, not 512.
	if n := len(s.ChunkFiles(t)); n != 64 {
		t.Errorf("the 64 MiB image is %d chunk objects, want 64 of 1 MiB", n)
	}
	out := filepath.Join(t.TempDir(), "disk.img")
	s.MustRun(t, "restore", "--datastore", s.URL, "/vm/7/latest/disk.img", out)
	Sh(t, "cmp", filepath.Join(src, "big"), out)
}

// TestS3CorruptAndDeletedChunk: a chunk object changed by hand gives EIO
// through the mount (never wrong bytes) and verify names it; a deleted one
// is named missing.
func TestS3CorruptAndDeletedChunk(t *testing.T) {
	s := NewS3Datastore(t)
	src := t.TempDir()
	img := filepath.Join(src, "disk")
	writeRandom(t, img, 12<<20, 5)
	s.MustRun(t, "backup", "--datastore", s.URL, "/vm/9", "disk.img:"+img)
	chunks := s.ChunkFiles(t)
	if len(chunks) < 2 {
		t.Fatalf("%d chunk objects, want at least 2", len(chunks))
	}
	b, err := os.ReadFile(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(chunks[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	mp := mountpoint(t)
	m := StartMount(t, s.Env(), mp, "--datastore", s.URL, "/vm/9")
	c := RunCmd(t, exec.Command("cmp", img, filepath.Join(mp, "latest", "disk.img")))
	if c.Code == 0 || !strings.Contains(c.Stderr, "Input/output error") || strings.Contains(c.Stdout, "differ") {
		t.Fatalf("cmp through the mount with a corrupt chunk: exit %d, %q %q; want EIO, never wrong bytes", c.Code, c.Stdout, c.Stderr)
	}
	m.Stop()
	if err := os.Remove(chunks[1]); err != nil {
		t.Fatal(err)
	}
	r := s.Run(t, "verify", "--datastore", s.URL)
	bad, gone := filepath.Base(chunks[0]), filepath.Base(chunks[1])
	if r.Code == 0 || !strings.Contains(r.Stdout, bad) || !strings.Contains(r.Stdout, gone) ||
		!strings.Contains(r.Stdout, "corrupt") || !strings.Contains(r.Stdout, "not found") {
		t.Fatalf("verify: exit %d\n%s%s\nwant %s named corrupt and %s missing", r.Code, r.Stdout, r.Stderr, bad, gone)
	}
	t.Logf("verify:\n%s", r.Stdout)
}

// TestS3WrongCredentials: a wrong secret is one clear line at start.
func TestS3WrongCredentials(t *testing.T) {
	s := NewS3Datastore(t)
	cmd := s.Command(t, "ls", "--datastore", s.URL, "/")
	cmd.Env = append(cmd.Env, "AWS_SECRET_ACCESS_KEY=wrong")
	oneLineError(t, "ls with a wrong secret", RunCmd(t, cmd), "access denied")
	r := s.Run(t, "ls", "--datastore", "s3://"+s.Bucket+"/elsewhere", "/")
	oneLineError(t, "ls of a prefix with no datastore", r, "backupfs init")
}
