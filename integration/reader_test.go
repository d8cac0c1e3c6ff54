package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// This file holds what tests use to see, instead of assuming after a
// sleep, that a reader of a mounted file is where the test needs it: how
// far it has read (/proc/PID/fdinfo) and whether it waits in the kernel on
// the FUSE mount (/proc/PID/stack, readable by root, as CI runs).

// reader is a process reading a file through the mount, e.g. cmp of a
// source file and its mounted copy.
type reader struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error // gets cmd.Wait's result
}

// startReader starts name with args and collects its output.
func startReader(t *testing.T, name string, args ...string) *reader {
	t.Helper()
	r := &reader{cmd: exec.Command(name, args...), out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() { r.cmd.Process.Kill() }) // ErrProcessDone if it ended
	return r
}

// ended reports whether the reader has exited, and how.
func (r *reader) ended() (bool, error) {
	select {
	case err := <-r.done:
		r.done <- err // keep it for the next look
		return true, err
	default:
		return false, nil
	}
}

// pos is the file offset of the reader's descriptor open on path, or -1
// if it has none (not opened yet, or closed).
func (r *reader) pos(path string) int64 {
	return fdPos(r.cmd.Process.Pid, path)
}

// fdPos is the file offset of process pid's descriptor open on path, or
// -1 if it has none.
func fdPos(pid int, path string) int64 {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return -1
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(proc, "fd", fd.Name())); err != nil || target != path {
			continue
		}
		info, err := os.ReadFile(filepath.Join(proc, "fdinfo", fd.Name()))
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "pos:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// waitsIn reports whether the reader is asleep in a system call on its
// descriptor of path (a read(2) of the mounted file waiting for the mount's
// answer, or for pages the mount's readahead has not filled yet), from
// /proc/PID/stat (state S or D) and /proc/PID/syscall (the call's first
// argument is that descriptor). A reader that runs, or waits on its other
// file, does not count.
func (r *reader) waitsIn(path string) bool {
	proc := filepath.Join("/proc", strconv.Itoa(r.cmd.Process.Pid))
	stat, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'S' && stat[i+2] != 'D') {
		return false
	}
	sc, err := os.ReadFile(filepath.Join(proc, "syscall"))
	f := strings.Fields(string(sc))
	if err != nil || len(f) < 2 || f[0] == "running" {
		return false
	}
	fd, err := strconv.ParseInt(f[1], 0, 64)
	if err != nil {
		return false
	}
	target, err := os.Readlink(filepath.Join(proc, "fd", strconv.FormatInt(fd, 10)))
	return err == nil && target == path
}

// heldIn returns a condition for waitFor: the reader waits in a read of
// path (waitsIn) at the same offset on two looks in a row, so it is held
// there, not passing through on its way to data the mount has.
func (r *reader) heldIn(path string) func() bool {
	last := int64(-1)
	return func() bool {
		was := last
		last = -1
		if p := r.pos(path); r.waitsIn(path) {
			last = p
		}
		return last >= 0 && last == was
	}
}

// stack is the reader's kernel stack, for messages.
func (r *reader) stack() string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(r.cmd.Process.Pid), "stack"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}
