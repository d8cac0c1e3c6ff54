package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"golang.org/x/sys/unix"
)

// TestMount mounts for real (as root, with /dev/fuse) to check Mount's
// refusals and one read through the kernel. Without root it skips; as root
// a missing /dev/fuse fails the test.
func TestMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a direct mount")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("running as root but FUSE is missing: %v", err)
	}
	f := newFixture(t)
	o := Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}}
	dir := t.TempDir()
	full := t.TempDir()
	write(t, filepath.Join(full, "x"), nil)
	for _, tc := range []struct{ dir, want string }{
		{full, "not empty"},
		{filepath.Join(full, "x"), "not a directory"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		if _, err := Mount(tc.dir, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Mount(%s): %v, want %q", tc.dir, err, tc.want)
		}
	}
	srv, err := Mount(dir, o)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() { srv.Unmount() })
	if _, err := Mount(dir, o); err == nil || !strings.Contains(err.Error(), "already mounted") {
		t.Errorf("second Mount: %v, want already mounted", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "vm/100/latest/root/files/fg"))
	want, _ := os.ReadFile(filepath.Join(f.src, "files/fg"))
	if err != nil || string(got) != string(want) {
		t.Errorf("read through the mount: %v, %d bytes of %d", err, len(got), len(want))
	}
	if err := os.WriteFile(filepath.Join(dir, "vm/x"), nil, 0o644); err == nil {
		t.Error("a write through the mount succeeded")
	}
	must(t, srv.Unmount())
}

// TestMountXattrs reads xattrs through the kernel: shown by default,
// EOPNOTSUPP with NoXattrs (the kernel stops asking after one ENOSYS).
func TestMountXattrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a direct mount")
	}
	f := newFixture(t)
	if !f.xattr {
		t.Skip("the temp file system takes no user xattrs")
	}
	for _, hide := range []bool{false, true} {
		dir := t.TempDir()
		srv, err := Mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}, NoXattrs: hide})
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		p := filepath.Join(dir, "vm/100/latest/root/files/fc")
		list, val := make([]byte, 64), make([]byte, 64)
		n, lerr := unix.Listxattr(p, list)
		m, gerr := unix.Getxattr(p, "user.note", val)
		if hide && (lerr != unix.EOPNOTSUPP || gerr != unix.EOPNOTSUPP) {
			t.Errorf("NoXattrs: listxattr %v, getxattr %v, want EOPNOTSUPP", lerr, gerr)
		}
		if !hide && (lerr != nil || gerr != nil || string(list[:n]) != "user.empty\x00user.note\x00" || string(val[:m]) != "hello") {
			t.Errorf("listxattr %q %v; getxattr %q %v", list[:n], lerr, val[:m], gerr)
		}
		must(t, srv.Unmount())
	}
}

// TestMountReaddirplus lists directories through the kernel (which uses
// READDIRPLUS: entries come with their attributes) and checks each
// entry's lstat against the source, including a snapshot's tree, which
// is listed without attributes and looked up on use.
func TestMountReaddirplus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a direct mount")
	}
	f := newFixture(t)
	dir := t.TempDir()
	srv, err := Mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	defer srv.Unmount()
	if es, err := os.ReadDir(dir); err != nil || len(es) != 2 || es[1].Name() != "root" || !es[1].IsDir() {
		t.Fatalf("snapshot listing: %v %v", es, err)
	}
	for _, sub := range []string{".", "files", "a"} {
		es, err := os.ReadDir(filepath.Join(dir, "root", sub))
		if err != nil || len(es) == 0 {
			t.Fatalf("readdir %s: %d entries, %v", sub, len(es), err)
		}
		for _, e := range es {
			var got, want unix.Stat_t
			must(t, unix.Lstat(filepath.Join(dir, "root", sub, e.Name()), &got))
			must(t, unix.Lstat(filepath.Join(f.src, sub, e.Name()), &want))
			if got.Mode != want.Mode || got.Size != want.Size && want.Mode&unix.S_IFMT != unix.S_IFDIR ||
				got.Mtim != want.Mtim || got.Uid != want.Uid {
				t.Errorf("%s/%s: mode %o size %d mtime %v, want %o %d %v", sub, e.Name(), got.Mode, got.Size, got.Mtim, want.Mode, want.Size, want.Mtim)
			}
		}
	}
}
