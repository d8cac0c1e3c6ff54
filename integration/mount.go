package integration

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// Mount is a real `backupfs mount` process serving a FUSE mount.
type Mount struct {
	t      testing.TB
	Dir    string
	cmd    *exec.Cmd
	exited chan error
	stderr *syncbuf.Buffer
}

// StartMount runs `backupfs mount ARGS... MOUNTPOINT` with env and waits
// until the kernel lists the mountpoint. It fails the test (never skips)
// if FUSE does not work. The mount is stopped when the test ends.
func StartMount(t testing.TB, env []string, mountpoint string, args ...string) *Mount {
	t.Helper()
	cmd := exec.Command(Binary(t), append(append([]string{"mount"}, args...), mountpoint)...)
	cmd.Env = append(os.Environ(), env...)
	m := &Mount{t: t, Dir: mountpoint, cmd: cmd, exited: make(chan error, 1), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.exited <- cmd.Wait() }()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) { // generous: a loaded machine
		if Mounted(mountpoint) {
			t.Cleanup(m.Stop)
			return m
		}
		select {
		case err := <-m.exited:
			t.Fatalf("backupfs mount exited before mounting (%v):\n%s", err, m.stderr.String())
		default:
		}
	}
	cmd.Process.Kill()
	t.Fatalf("%s not mounted after a minute:\n%s", mountpoint, m.stderr.String())
	return nil
}

// Mounted reports whether dir is a mountpoint, from /proc/self/mountinfo.
func Mounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}

// Stop sends SIGTERM and waits for a clean unmount (idempotent).
func (m *Mount) Stop() {
	if m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.exited:
		if err != nil {
			m.t.Errorf("backupfs mount exited with %v after SIGTERM:\n%s", err, m.stderr.String())
		}
	case <-time.After(time.Minute):
		m.cmd.Process.Kill()
		exec.Command("umount", "-l", m.Dir).Run()
		m.t.Errorf("backupfs mount did not exit within a minute of SIGTERM")
	}
	if Mounted(m.Dir) {
		exec.Command("umount", "-l", m.Dir).Run()
		m.t.Errorf("%s still mounted after the mount process ended", m.Dir)
	}
}

// Stderr is what the mount process printed so far.
func (m *Mount) Stderr() string { return m.stderr.String() }
