package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeSpecialTree writes every kind of entry a tree backup keeps. Device
// nodes need root (CI runs as root); without it they are left out.
func makeSpecialTree(t *testing.T, src string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string, mode os.FileMode) {
		p := filepath.Join(src, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(body), mode))
		must(os.Chmod(p, mode))
	}
	write("plain.txt", "hello\n", 0o644)
	write("empty", "", 0o600)
	write("a/b/c/deep.txt", strings.Repeat("deep ", 10000), 0o640)
	write("setuid", "#!/bin/sh\n", 0o4755|os.ModeSetuid)
	must(unix.Chmod(filepath.Join(src, "setuid"), 0o4755))
	write("links/one", "linked content\n", 0o644)
	must(os.MkdirAll(filepath.Join(src, "other"), 0o755))
	must(os.Link(filepath.Join(src, "links/one"), filepath.Join(src, "links/two")))
	must(os.Link(filepath.Join(src, "links/one"), filepath.Join(src, "other/three")))
	must(os.Mkdir(filepath.Join(src, "emptydir"), 0o700))
	must(os.Symlink("plain.txt", filepath.Join(src, "rel-link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(src, "dangling")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o620))
	if os.Geteuid() == 0 {
		must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(src, "loop9"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 9))))
		must(os.Lchown(filepath.Join(src, "plain.txt"), 1234, 5678))
		must(os.Lchown(filepath.Join(src, "rel-link"), 4321, 8765))
	}
	must(unix.Setxattr(filepath.Join(src, "plain.txt"), "user.comment", []byte("kept"), 0))
	must(unix.Setxattr(filepath.Join(src, "a"), "user.dir", []byte{0, 1, 2, 255}, 0))
	sparse := filepath.Join(src, "sparse.bin")
	f, err := os.Create(sparse)
	must(err)
	must(f.Truncate(256 << 20))
	_, err = f.WriteAt([]byte("data in the middle of a hole"), 100<<20)
	must(err)
	must(f.Close())
	ts := time.Date(2025, 6, 7, 8, 9, 10, 987654321, time.UTC)
	must(os.Chtimes(filepath.Join(src, "plain.txt"), ts, ts))
	must(unix.Lutimes(filepath.Join(src, "rel-link"), []unix.Timeval{unix.NsecToTimeval(ts.UnixNano()), unix.NsecToTimeval(ts.UnixNano())}))
}

func TestTreeSpecialEntries(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeSpecialTree(t, src)
	// A socket is skipped with a warning, and the backup still succeeds.
	sock := filepath.Join(src, "sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	ds := NewDatastore(t)
	r := Run(t, "backup", "--datastore", ds, "/host/special", "root.tree:"+src)
	if r.Code != 0 || !strings.Contains(r.Stderr, "socket") {
		t.Fatalf("backup: exit %d, stderr %q; want success and a note about the socket", r.Code, r.Stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	MustRun(t, "restore", "--datastore", ds, "/host/special/latest/root.tree", out)
	os.Remove(sock)
	unix.Close(fd)

	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata differs after restore:\n%s", DiffLines(a, b, 20))
	}
	for _, f := range []string{"plain.txt", "a/b/c/deep.txt", "links/one", "sparse.bin", "setuid"} {
		Sh(t, "cmp", filepath.Join(src, f), filepath.Join(out, f))
	}
	inode := func(p string) string { return strings.TrimSpace(Sh(t, "stat", "-c", "%i %h", p)) }
	one := inode(filepath.Join(out, "links/one"))
	if !strings.HasSuffix(one, " 3") || inode(filepath.Join(out, "links/two")) != one || inode(filepath.Join(out, "other/three")) != one {
		t.Fatalf("hardlinks not restored as one inode with 3 links: %s / %s / %s", one,
			inode(filepath.Join(out, "links/two")), inode(filepath.Join(out, "other/three")))
	}
	for _, x := range []struct{ path, name, want string }{
		{"plain.txt", "user.comment", "kept"}, {"a", "user.dir", "\x00\x01\x02\xff"},
	} {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(out, x.path), x.name, buf)
		if err != nil || string(buf[:n]) != x.want {
			t.Errorf("xattr %s on %s = %q, %v; want %q", x.name, x.path, buf[:max(n, 0)], err, x.want)
		}
	}
	blocks := strings.TrimSpace(Sh(t, "stat", "-c", "%b", filepath.Join(out, "sparse.bin")))
	if len(blocks) > 4 { // 256 MiB dense would be 524288 blocks
		t.Fatalf("sparse.bin restored with %s blocks; want it sparse", blocks)
	}
}

// TestUnreadableFileReported: a file the backup cannot read is reported
// and counted, the rest is backed up, and the exit code is non-zero.
// As root the backup runs as nobody (setpriv) so a 0600 file is unreadable.
func TestUnreadableFileReported(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	top, err := os.MkdirTemp("", "backupfs-unreadable-") // t.TempDir's parent is 0700: nobody could not enter it
	must(err)
	t.Cleanup(func() { os.RemoveAll(top) })
	must(os.Chmod(top, 0o777))
	src := filepath.Join(top, "src")
	must(os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "ok.txt"), []byte("readable"), 0o644))
	must(os.WriteFile(filepath.Join(src, "secret"), []byte("no"), 0o600))
	must(os.WriteFile(filepath.Join(src, "sub", "fine"), []byte("fine"), 0o644))
	ds := filepath.Join(top, "ds")
	user := func(args ...string) *exec.Cmd { return exec.Command(Binary(t), args...) }
	if os.Geteuid() == 0 {
		must(os.Chmod(filepath.Dir(Binary(t)), 0o755))
		user = func(args ...string) *exec.Cmd {
			cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", Binary(t)}, args...)...)
			cmd.Env = append(os.Environ(), "HOME=/nonexistent")
			return cmd
		}
	} else {
		must(os.Chmod(filepath.Join(src, "secret"), 0))
	}
	if r := RunCmd(t, user("init", "--datastore", ds)); r.Code != 0 {
		t.Fatalf("init: exit %d: %s", r.Code, r.Stderr)
	}
	cmd := user("backup", "--datastore", ds, "/host/u", "u.tree:"+src)
	r := RunCmd(t, cmd)
	if r.Code != 3 || !strings.Contains(r.Stderr, "secret") || !strings.Contains(r.Stderr, "1 files or directories could not be read") {
		t.Fatalf("backup with an unreadable file: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	MustRun(t, "restore", "--datastore", ds, "/host/u/latest/u.tree", out)
	if _, err := os.Stat(filepath.Join(out, "secret")); !os.IsNotExist(err) {
		t.Fatalf("unreadable file restored anyway: %v", err)
	}
	Sh(t, "cmp", filepath.Join(src, "sub", "fine"), filepath.Join(out, "sub", "fine"))
}

// TestImageRoundTrip backs up an ext4 image made with mke2fs -d and a
// sparse raw image, restores them byte for byte (cmp), sparse.
func TestImageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ext4 := filepath.Join(dir, "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(GoRoot(t), "src", "fmt"), ext4, "64M")
	raw := filepath.Join(dir, "raw.img")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300<<20 + 12345); err != nil { // not a multiple of the chunk size
		t.Fatal(err)
	}
	for _, off := range []int64{0, 5 << 20, 200<<20 + 17, 300 << 20} {
		if _, err := f.WriteAt([]byte(strings.Repeat("backupfs image ", 5000)), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/vm/200", "drive-scsi0.img:"+ext4, "raw.img:"+raw)
	ls := MustRun(t, "ls", "--datastore", ds, "/vm/200/latest")
	if !strings.Contains(ls, "drive-scsi0.img") || !strings.Contains(ls, "raw.img") {
		t.Fatalf("ls of the snapshot: %q", ls)
	}
	for _, img := range []struct{ name, src string }{{"drive-scsi0.img", ext4}, {"raw.img", raw}} {
		out := filepath.Join(t.TempDir(), img.name)
		MustRun(t, "restore", "--datastore", ds, "/vm/200/latest/"+img.name, out)
		Sh(t, "cmp", img.src, out)
	}
	out := filepath.Join(t.TempDir(), "raw.img")
	MustRun(t, "restore", "--datastore", ds, "/vm/200/latest/raw.img", out)
	blocks := strings.TrimSpace(Sh(t, "stat", "-c", "%b", out))
	if len(blocks) > 5 { // dense would be 614000 blocks
		t.Fatalf("restored raw image has %s blocks; want it sparse", blocks)
	}
}
