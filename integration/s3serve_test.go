package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestS3Serve: `backupfs serve --datastore s3://...`: a network backup of
// GOROOT/src and an ext4 image, a mount through the server (diff -r of the
// tree, cp -a, a read-only loop mount of the image), and restore; then the
// object store is killed under a mount read (EIO, never wrong bytes, or
// the data) and restarted (reads resume), and killed during a network
// backup (no partial snapshot; the next backup succeeds).
func TestS3Serve(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	s := NewS3Datastore(t)
	s.Setenv(t)
	srv := StartServerWith(t, s.URL, ServerOpts{Args: []string{"--s3-timeout", "3s"}})
	tok := srv.Token("all", "read:*", "backup:*")
	ext4 := filepath.Join(t.TempDir(), "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(src, "net", "http"), ext4, "64M")
	srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src, "drive-scsi0.img:"+ext4)

	mp := mountpoint(t)
	env := []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}
	m := StartMount(t, env, mp, "--timeout", "10s", srv.Repo("/host/goroot"))
	Sh(t, "diff", "-r", "--no-dereference", src, filepath.Join(mp, "latest", "src"))
	cp := filepath.Join(t.TempDir(), "copy")
	Sh(t, "cp", "-a", filepath.Join(mp, "latest", "src", "fmt"), cp)
	Sh(t, "diff", "-r", filepath.Join(src, "fmt"), cp)
	loop := mountpoint(t)
	Sh(t, "mount", "-o", "loop,ro", filepath.Join(mp, "latest", "drive-scsi0.img"), loop)
	t.Cleanup(func() { _ = exec.Command("umount", loop).Run() }) // if the test fails before its umount
	Sh(t, "diff", "-r", "-x", "lost+found", filepath.Join(src, "net", "http"), loop)
	Sh(t, "umount", loop)

	s.Kill()
	r := RunCmd(t, exec.Command("cmp", filepath.Join(src, "net/http/server.go"), filepath.Join(mp, "latest", "src", "net/http/server.go")))
	if r.Code != 0 && (!strings.Contains(r.Stderr, "Input/output error") || strings.Contains(r.Stdout, "differ")) {
		t.Fatalf("a read with the object store down: exit %d, %q %q; want the data or EIO, never wrong bytes", r.Code, r.Stdout, r.Stderr)
	}
	s.Restart()
	// A failed fetch is remembered for a second (cache.failMemory): the
	// reads resume after that, well within --timeout.
	waitFor(t, 10*time.Second, "reads through the mount to resume", func() bool {
		return RunCmd(t, exec.Command("cmp", filepath.Join(src, "net/http/server.go"), filepath.Join(mp, "latest", "src", "net/http/server.go"))).Code == 0
	})
	if d := RunCmd(t, exec.Command("diff", "-r", "--no-dereference", filepath.Join(src, "net/http"), filepath.Join(mp, "latest", "src", "net/http"))); d.Code != 0 {
		t.Fatalf("reads after the object store's restart: diff exit %d\n%s%s\nmount:\n%s\nserver:\n%s", d.Code, d.Stdout, d.Stderr, m.Stderr(), srv.Log())
	}
	m.Stop()

	out := filepath.Join(t.TempDir(), "r")
	srv.MustClient(tok, "restore", srv.Repo("/host/goroot/latest/src.tree/strings"), out)
	Sh(t, "diff", "-r", filepath.Join(src, "strings"), out)

	// The object store killed during a network backup.
	img := filepath.Join(t.TempDir(), "disk")
	writeRandom(t, img, 64<<20, 11)
	cmd := exec.Command(Binary(t), "backup", "--timeout", "10s", srv.Repo("/vm/3"), "disk.img:"+img)
	cmd.Env = append(os.Environ(), env...)
	done := make(chan error, 1)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	before := len(s.ChunkFiles(t))
	waitFor(t, 60*time.Second, "the network backup's first chunks", func() bool { return len(s.ChunkFiles(t)) >= before+2 })
	s.Kill()
	if err := <-done; err == nil {
		t.Fatal("a backup with the object store killed succeeded")
	}
	t.Logf("backup: %s", strings.TrimSpace(stderr.String()))
	s.Restart()
	if ls := srv.MustClient(tok, "ls", srv.Repo("/")); strings.Contains(ls, "vm/3") {
		t.Fatalf("a failed backup is listed: %q", ls)
	}
	srv.MustClient(tok, "backup", srv.Repo("/vm/3"), "disk.img:"+img)
	// The server on the object store asked for 1 MiB image chunks
	// (wire.FeatureLargeChunks): 64 objects for 64 MiB of random data, not
	// the 512 of the default 128 KiB.
	if n := len(s.ChunkFiles(t)) - before; n != 64 {
		t.Errorf("the 64 MiB image became %d chunk objects, want 64 of 1 MiB", n)
	}
	out2 := filepath.Join(t.TempDir(), "disk")
	srv.MustClient(tok, "restore", srv.Repo("/vm/3/latest/disk.img"), out2)
	Sh(t, "cmp", img, out2)
	if v := MustRun(t, "verify", "--datastore", s.URL); !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify: %q", v)
	}
}
