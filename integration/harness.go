// Package integration holds backupfs's end-to-end tests: the real binary,
// a real datastore on disk or on a real S3 server (versitygw), a real
// `backupfs serve` on 127.0.0.1 and real FUSE mounts, checked with ordinary
// tools (diff, cmp, find, du, mount -o loop).
//
// This file is the harness the tests share; it builds components for real
// and fakes nothing.
package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/backupfs once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "backupfs-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "backupfs")
		_, file, _, _ := runtime.Caller(0) // this file's path: the module root is its parent
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/backupfs")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	gorootOnce sync.Once
	goroot     string
)

// GoRoot returns the Go toolchain's root (go env GOROOT): its src tree is
// the real, nobody-here-wrote data the tests back up.
func GoRoot(t testing.TB) string {
	t.Helper()
	gorootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err == nil {
			goroot = strings.TrimSpace(string(out))
		}
	})
	if goroot == "" {
		t.Fatal("go env GOROOT failed")
	}
	return goroot
}

// NewDatastore makes a datastore with backupfs init in a new temporary
// directory and returns its path.
func NewDatastore(t testing.TB) string {
	t.Helper()
	ds := filepath.Join(t.TempDir(), "ds")
	InitDatastore(t, ds)
	return ds
}

// InitDatastore runs backupfs init on dir (a datastore there already is
// fine).
func InitDatastore(t testing.TB, dir string) {
	t.Helper()
	MustRun(t, "init", "--datastore", dir)
}

// Result is what a command printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the backupfs binary with args.
func Run(t testing.TB, args ...string) Result {
	t.Helper()
	return RunCmd(t, exec.Command(Binary(t), args...))
}

// RunCmd runs cmd and collects its output; a failure to start is fatal.
func RunCmd(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// MustRun runs the binary and fails the test unless it exits 0.
func MustRun(t testing.TB, args ...string) string {
	t.Helper()
	r := Run(t, args...)
	if r.Code != 0 {
		t.Fatalf("backupfs %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Sh runs a shell tool and fails the test unless it exits 0.
func Sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	r := RunCmd(t, exec.Command(name, args...))
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", name, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Metadata lists every entry under root with find(1): path, type, mode,
// owner, mtime with nanoseconds, link target, and the size of everything
// but directories (whose size depends on the filesystem), sorted.
func Metadata(t testing.TB, root string) []string {
	t.Helper()
	dirs := Sh(t, "find", root, "-mindepth", "1", "-type", "d", "-printf", "%P %y %m %U %G %T@\n")
	rest := Sh(t, "find", root, "-mindepth", "1", "!", "-type", "d", "-printf", "%P %y %m %U %G %T@ %s %l\n")
	lines := strings.Split(strings.TrimSpace(dirs+rest), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ") // %l is empty but for symlinks
	}
	sort.Strings(lines)
	return lines
}

// DiffLines returns the first lines where a and b differ, for messages.
func DiffLines(a, b []string, max int) string {
	var out []string
	in := func(xs []string) map[string]bool {
		m := make(map[string]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	for _, x := range a {
		if !inb[x] && len(out) < max {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !ina[x] && len(out) < max {
			out = append(out, "+ "+x)
		}
	}
	return strings.Join(out, "\n")
}
