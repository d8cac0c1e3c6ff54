package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestServerKilledDuringBackup: SIGKILL while chunks upload leaves no
// partial snapshot; after a restart the next backup succeeds and verifies.
func TestServerKilledDuringBackup(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	ds := filepath.Join(t.TempDir(), "ds")
	srv := StartServer(t, ds)
	tok := srv.Token("admin", "read:*", "backup:*")

	cmd := exec.Command(Binary(t), "backup", srv.Repo("/vm/100"), "root.tree:"+src)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "chunks to arrive", func() bool { return countFiles(filepath.Join(ds, ".chunks")) > 20 })
	srv.Kill()
	err := cmd.Wait()
	if err == nil {
		t.Fatal("backup succeeded although the server was killed during it")
	}
	t.Logf("backup after the kill: %v: %s", err, strings.TrimSpace(stderr.String()))

	srv.Restart()
	if out := srv.MustClient(tok, "ls", srv.Repo("/")); strings.TrimSpace(out) != "" {
		t.Fatalf("after the kill the server lists %q; want no snapshot", out)
	}
	srv.MustClient(tok, "backup", srv.Repo("/vm/100"), "root.tree:"+src)
	if snaps := strings.Fields(srv.MustClient(tok, "ls", srv.Repo("/vm/100"))); len(snaps) != 1 {
		t.Fatalf("snapshots after the second backup: %q, want one", snaps)
	}
	MustRun(t, "verify", "--datastore", ds)
}

// TestServerRestartDuringRestore: the server is killed and restarted while
// an image restore reads; the client reconnects, saying so on stderr, and
// the image comes back byte for byte. The server comes back only once the
// restore, short of the end, has said it lost the connection.
func TestServerRestartDuringRestore(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	const size = 256 << 20
	Sh(t, "go", "run", "../bench/gendata", "-size", strconv.Itoa(size), "-text", filepath.Join(GoRoot(t), "src"), img)
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/vm/1"), "disk.img:"+img)

	out := filepath.Join(dir, "restored.img")
	cmd := exec.Command(Binary(t), "restore", srv.Repo("/vm/1/latest/disk.img"), out)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	written := func() int64 {
		fi, err := os.Stat(out)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	waitFor(t, 2*time.Minute, "the restore to start writing", func() bool { return written() > 0 })
	srv.Kill()
	waitFor(t, 2*time.Minute, "the restore to say it lost the server", func() bool {
		select {
		case err := <-done:
			t.Fatalf("restore ended (%v) with the server down: nothing was tested\n%s", err, stderr.String())
		default:
		}
		return strings.Contains(stderr.String(), "connection lost, reconnecting")
	})
	if n := written(); n >= size {
		t.Fatalf("restore wrote all %d bytes before the server was killed: nothing was tested", n)
	}
	srv.Restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restore across a server restart: %v\n%s", err, stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("restore hangs after the server came back:\n%s", stderr.String())
	}
	Sh(t, "cmp", img, out)
	// The user sees why the restore stalled: the client's warnings reach
	// stderr (they were discarded).
	for _, want := range []string{"connection lost, reconnecting", "reconnected", "server=" + srv.Addr} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("restore's stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// blockedIn reports whether process pid runs program (the path of its
// executable ends so) and sleeps in a system call: a reader blocked on a
// FUSE request (an open waiting for a lookup, or a read), so a test
// signals a reader that is really blocked, not one still starting.
func blockedIn(pid int, program string) bool {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	if exe, err := os.Readlink(filepath.Join(proc, "exe")); err != nil || !strings.HasSuffix(exe, "/"+program) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) || stat[i+2] != 'S' {
		return false
	}
	sc, err := os.ReadFile(filepath.Join(proc, "syscall"))
	return err == nil && !strings.HasPrefix(string(sc), "running")
}
