package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountGorootAndImage serves a backup of GOROOT/src and an ext4 image
// made with mke2fs -d, mounts it over the network, and checks it with
// diff -r, find, stat and a read-only loop mount; cp -a from the mount
// equals the source.
func TestMountGorootAndImage(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(src, "net", "http"), img, "64M")
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/vm/100"), "src.tree:"+src, "drive-scsi0.img:"+img)

	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/vm/100"))

	entries, err := os.ReadDir(mp)
	if err != nil || len(entries) != 2 || entries[1].Name() != "latest" {
		t.Fatalf("ls mountpoint = %v, %v; want one snapshot and latest", entries, err)
	}
	tree := filepath.Join(mp, "latest", "src")
	Sh(t, "diff", "-r", "--no-dereference", src, tree)
	if a, b := Metadata(t, src), Metadata(t, tree); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata through the mount differs:\n%s", DiffLines(a, b, 20))
	}
	count := func(p string) string { return strings.TrimSpace(Sh(t, "sh", "-c", "find '"+p+"' | wc -l")) }
	if a, b := count(src), count(tree); a != b {
		t.Fatalf("find | wc -l: source %s, mount %s", a, b)
	}
	out := filepath.Join(dir, "copy")
	Sh(t, "cp", "-a", tree, out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata after cp -a from the mount differs:\n%s", DiffLines(a, b, 20))
	}

	loop := filepath.Join(dir, "loop")
	if err := os.Mkdir(loop, 0o755); err != nil {
		t.Fatal(err)
	}
	Sh(t, "mount", "-o", "loop,ro", filepath.Join(mp, "latest", "drive-scsi0.img"), loop)
	defer exec.Command("umount", loop).Run()
	Sh(t, "diff", "-r", "-x", "lost+found", filepath.Join(src, "net", "http"), loop)
}

// TestMountSpecialEntries: hardlinks share an inode, xattrs, symlinks,
// devices and fifos show as they were, sparse files report few blocks,
// and writes fail with EROFS. Mounted from the local datastore.
func TestMountSpecialEntries(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeSpecialTree(t, src)
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/special", "root.tree:"+src)
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	StartMount(t, nil, mp, "--datastore", ds, "/host/special/latest")
	root := filepath.Join(mp, "root")
	if a, b := Metadata(t, src), Metadata(t, root); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata through the mount differs:\n%s", DiffLines(a, b, 20))
	}
	inode := func(p string) string { return strings.TrimSpace(Sh(t, "stat", "-c", "%i %h", filepath.Join(root, p))) }
	if a, b, c := inode("links/one"), inode("links/two"), inode("other/three"); a != b || a != c || !strings.HasSuffix(a, " 3") {
		t.Fatalf("hardlinks through the mount: %s / %s / %s; want one inode with 3 links", a, b, c)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(filepath.Join(root, "plain.txt"), "user.comment", buf); err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("getxattr through the mount: %q, %v", buf[:max(n, 0)], err)
	}
	if blocks := strings.TrimSpace(Sh(t, "stat", "-c", "%b", filepath.Join(root, "sparse.bin"))); len(blocks) > 4 {
		t.Fatalf("sparse.bin shows %s blocks through the mount; want few", blocks)
	}
	Sh(t, "cmp", filepath.Join(src, "sparse.bin"), filepath.Join(root, "sparse.bin"))
	if err := os.WriteFile(filepath.Join(root, "new"), []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("creating a file in the mount: %v; want EROFS", err)
	}
	if err := os.Remove(filepath.Join(root, "plain.txt")); !errors.Is(err, unix.EROFS) {
		t.Fatalf("removing a file in the mount: %v; want EROFS", err)
	}
}

// TestMountRefusesBadMountpoints: a non-empty directory and a mountpoint
// already in use are refused with a clear message.
func TestMountRefusesBadMountpoints(t *testing.T) {
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/a", "a.tree:"+filepath.Join(GoRoot(t), "src", "fmt"))
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if r := Run(t, "mount", "--datastore", ds, "/host/a", full); r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Fatalf("mount on a non-empty dir: exit %d, %q", r.Code, r.Stderr)
	}
	mp := t.TempDir()
	StartMount(t, nil, mp, "--datastore", ds, "/host/a")
	if r := Run(t, "mount", "--datastore", ds, "/host/a", mp); r.Code == 0 || !strings.Contains(r.Stderr, "mounted") {
		t.Fatalf("mount on a mountpoint in use: exit %d, %q", r.Code, r.Stderr)
	}
}
