package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMemTree: a walk of the tree held in memory sees what a walk of the
// directory sees (names, types, sizes, modes, mtimes, link targets), and
// the kernel lists directories without opening them.
func TestMemTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a direct mount and the latency request")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("running as root but FUSE is missing: %v", err)
	}
	src := t.TempDir()
	for _, d := range []string{"a/b/c", "a/empty", "z"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range []string{"top.txt", "a/one", "a/b/two", "a/b/c/three", "z/four"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(strings.Repeat("x", i*100)), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../top.txt", filepath.Join(src, "a/link")); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	srv, dirs, hold, err := mountMem(src, mnt, mountOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	defer srv.Unmount()

	walk := func(dir string) string {
		cmd := exec.Command("find", dir, "-printf", "%P %y %s %m %T@ %l\n")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("find %s: %v: %s", dir, err, stderr.String())
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		slices.Sort(lines) // directories list in their file system's order
		return strings.Join(lines, "\n")
	}
	if got, want := walk(mnt), walk(src); got != want {
		t.Fatalf("find in memory:\n%s\nwant:\n%s", got, want)
	}
	if !dirs.On() {
		t.Fatal("the kernel does not offer zero-message opendirs (Linux 5.1+)")
	}
	if n := dirs.OpenDirs(); n > 1 { // the first, answered ENOSYS
		t.Errorf("the walk sent %d OPENDIRs; want at most 1", n)
	}
	if _, err := os.ReadFile(filepath.Join(mnt, "top.txt")); err == nil {
		t.Error("a file read succeeded; the tree in memory has no contents")
	}
}
