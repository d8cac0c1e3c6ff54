package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// asNobody runs a command as uid/gid 65534 (root drops to it with setpriv).
func asNobody(name string, args ...string) *exec.Cmd {
	return exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", name}, args...)...)
}

// nobodyDir makes a directory nobody may use, outside t.TempDir's 0700 parent.
func nobodyDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "backupfs-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMountAsNormalUser: with /dev/fuse open to users (0666, as
// distributions ship it), a normal user mounts through fusermount3.
func TestMountAsNormalUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to set up /dev/fuse and drop to nobody (CI runs as root)")
	}
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatalf("no /dev/fuse: %v", err)
	}
	if err := os.Chmod("/dev/fuse", 0o666); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod("/dev/fuse", fi.Mode().Perm()) })
	os.Chmod(filepath.Dir(Binary(t)), 0o755)

	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	src := filepath.Join(GoRoot(t), "src", "fmt")
	srv.MustClient(tok, "backup", srv.Repo("/host/a"), "fmt.tree:"+src)

	mp := filepath.Join(nobodyDir(t), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(mp, 65534, 65534)
	cmd := asNobody(Binary(t), "mount", srv.Repo("/host/a"), mp)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint, "HOME=/nonexistent")
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			exec.Command("umount", "-l", mp).Run()
		}
	}()
	waitFor(t, time.Minute, "the user's mount", func() bool {
		select {
		case err := <-done:
			t.Fatalf("mount as a normal user exited: %v\n%s", err, stderr.String())
		default:
		}
		return Mounted(mp)
	})
	if r := RunCmd(t, asNobody("diff", "-r", src, filepath.Join(mp, "latest", "fmt"))); r.Code != 0 {
		t.Fatalf("diff -r as the user who mounted: %s%s", r.Stdout, r.Stderr)
	}
}

// TestMountAllowOther: without --allow-other other users cannot enter the
// mount; with it, the kernel checks each file's mode and owner.
func TestMountAllowOther(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "public"), []byte("for all"), 0o644)
	os.WriteFile(filepath.Join(src, "private"), []byte("root only"), 0o600)
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/p", "p.tree:"+src)
	os.Chmod(filepath.Dir(Binary(t)), 0o755)

	closed := filepath.Join(nobodyDir(t), "closed")
	os.Mkdir(closed, 0o755)
	StartMount(t, nil, closed, "--datastore", ds, "/host/p/latest")
	if r := RunCmd(t, asNobody("cat", filepath.Join(closed, "p", "public"))); r.Code == 0 {
		t.Fatalf("another user read a mount made without --allow-other: %q", r.Stdout)
	}

	open := filepath.Join(nobodyDir(t), "open")
	os.Mkdir(open, 0o755)
	StartMount(t, nil, open, "--datastore", ds, "--allow-other", "/host/p/latest")
	if r := RunCmd(t, asNobody("cat", filepath.Join(open, "p", "public"))); r.Code != 0 || r.Stdout != "for all" {
		t.Fatalf("another user reading a 0644 file with --allow-other: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := RunCmd(t, asNobody("cat", filepath.Join(open, "p", "private"))); r.Code == 0 || !strings.Contains(r.Stderr, "Permission denied") {
		t.Fatalf("another user reading a 0600 root file: exit %d, %q; want permission denied", r.Code, r.Stderr)
	}
}

// TestMountServerGone: with the server down, what was read stays
// readable, ls of a listed directory answers, an unread file fails with
// EIO within --timeout, a blocked reader's Ctrl-C returns promptly, and
// a new snapshot appears without remounting once the server is back.
//
// No wall-clock bound decides these (a loaded machine is slow, not
// wrong): ls would fail, not just be slow, if it needed the dead server;
// the EIO bound is generous but under the client's default timeout (60 s),
// so a mount ignoring --timeout fails it; and Ctrl-C is prompt when it
// ends the reader before the mount's timeout does, which would log the
// EIO it answers (errno's one line, naming the directory) before the
// reader could see it.
func TestMountServerGone(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+src)
	mp := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp,
		"--timeout", "3s", srv.Repo("/host/g"))
	tree := filepath.Join(mp, "2026-11-20T10:00:00Z", "src")
	Sh(t, "cmp", filepath.Join(src, "fmt", "print.go"), filepath.Join(tree, "fmt", "print.go"))
	Sh(t, "ls", filepath.Join(tree, "fmt"))

	srv.Kill()
	Sh(t, "cmp", filepath.Join(src, "fmt", "print.go"), filepath.Join(tree, "fmt", "print.go"))
	lsStart := time.Now()
	Sh(t, "ls", "-l", filepath.Join(tree, "fmt"))
	t.Logf("ls -l of a listed directory with the server down: %s", time.Since(lsStart).Round(time.Millisecond))
	start := time.Now()
	_, err := os.ReadFile(filepath.Join(tree, "net", "http", "server.go"))
	if err == nil || !strings.Contains(err.Error(), "input/output error") || time.Since(start) > 40*time.Second {
		t.Fatalf("unread file with the server down: %v after %s; want EIO within a few 3 s timeouts", err, time.Since(start))
	}

	blocked := filepath.Join(tree, "runtime", "proc.go")
	cat := exec.Command("cat", blocked)
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "cat to block on the dead server", func() bool { return blockedIn(cat.Process.Pid, "cat") })
	cat.Process.Signal(syscall.SIGINT)
	intr := make(chan error, 1)
	go func() { intr <- cat.Wait() }()
	select {
	case err := <-intr:
		if timedOut := runtimeErrors(m.Stderr()); len(timedOut) > 0 {
			t.Errorf("cat (%v) ended by the mount's timeout, not by SIGINT: the mount logged\n%s", err, strings.Join(timedOut, "\n"))
		}
	case <-time.After(time.Minute):
		t.Error("a reader blocked on the dead server did not return within a minute of SIGINT")
		<-intr
	}

	srv.Restart()
	srv.MustClient(tok, "backup", "--time", "2026-11-21T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+filepath.Join(src, "fmt"))
	// A lookup that misses refreshes a list older than 1 s; 20 s is
	// generous for that and still under the 30 s of the regular refresh,
	// which would show the snapshot without it.
	waitFor(t, 20*time.Second, "the new snapshot to appear", func() bool {
		_, err := os.Stat(filepath.Join(mp, "2026-11-21T10:00:00Z", "src", "print.go"))
		return err == nil
	})
	Sh(t, "cmp", filepath.Join(src, "fmt", "print.go"), filepath.Join(mp, "2026-11-21T10:00:00Z", "src", "print.go"))

	m.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, time.Minute, "cache statistics on SIGUSR1", func() bool { return strings.Contains(m.Stderr(), "hits") })
}

// runtimeErrors returns the mount's error lines about the directory
// runtime: the lookup that TestMountServerGone interrupts answers EIO
// with one such line if it times out instead.
func runtimeErrors(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "runtime") {
			out = append(out, line)
		}
	}
	return out
}
