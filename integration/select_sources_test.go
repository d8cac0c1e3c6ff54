package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupOneFileSystem bind-mounts a tmpfs into a tree: with
// --one-file-system the mount point is restored as an empty directory and
// nothing under it; without, everything.
func TestBackupOneFileSystem(t *testing.T) {
	dir := t.TempDir()
	src, other := filepath.Join(dir, "src"), filepath.Join(dir, "tmpfs")
	for _, d := range []string{filepath.Join(src, "mnt"), filepath.Join(src, "d"), other} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(src, "d", "keep"), []byte("same fs"), 0o644))
	Sh(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", other)
	t.Cleanup(func() { exec.Command("umount", other).Run() })
	must(t, os.MkdirAll(filepath.Join(other, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(other, "sub", "elsewhere"), []byte("other fs"), 0o644))
	Sh(t, "mount", "--bind", other, filepath.Join(src, "mnt"))
	t.Cleanup(func() { exec.Command("umount", filepath.Join(src, "mnt")).Run() })

	ds := NewDatastore(t)
	out := MustRun(t, "backup", "--datastore", ds, "--one-file-system", "/host/ofs", "root.tree:"+src)
	if m := excludedRE.FindStringSubmatch(out); m == nil || m[1] != "1" {
		t.Fatalf("summary %q: want 1 entry (the mount point's contents) excluded", out)
	}
	got := filepath.Join(dir, "one")
	MustRun(t, "restore", "--datastore", ds, "/host/ofs/latest/root.tree", got)
	if s := Sh(t, "find", got, "-mindepth", "1", "-printf", "%P\n"); sortLines(s) != "d\nd/keep\nmnt" {
		t.Fatalf("restored with --one-file-system: %q, want d, d/keep and an empty mnt", s)
	}
	MustRun(t, "backup", "--datastore", ds, "/host/all", "root.tree:"+src)
	all := filepath.Join(dir, "all")
	MustRun(t, "restore", "--datastore", ds, "/host/all/latest/root.tree", all)
	Sh(t, "diff", "-r", src, all)
}

func sortLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	for i := range l {
		for j := i + 1; j < len(l); j++ {
			if l[j] < l[i] {
				l[i], l[j] = l[j], l[i]
			}
		}
	}
	return strings.Join(l, "\n")
}

// TestBackupSeveralSources backs up two directories and a file into one
// tree archive over the network, restores it and compares each source
// with diff -r under its own name; sources whose names clash are refused
// before anything is stored.
func TestBackupSeveralSources(t *testing.T) {
	dir := t.TempDir()
	etc, home, notes := filepath.Join(dir, "x", "etc"), filepath.Join(dir, "y", "home"), filepath.Join(dir, "notes.txt")
	Sh(t, "mkdir", "-p", filepath.Join(dir, "x"), filepath.Join(dir, "y"))
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), etc)
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "sort"), home)
	must(t, os.WriteFile(notes, []byte("several sources\n"), 0o600))
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/host/multi"), "root.tree:"+etc+","+home+","+notes)
	got := filepath.Join(dir, "restored")
	srv.MustClient(tok, "restore", srv.Repo("/host/multi/latest/root.tree"), got)
	if s := sortLines(Sh(t, "find", got, "-mindepth", "1", "-maxdepth", "1", "-printf", "%P\n")); s != "etc\nhome\nnotes.txt" {
		t.Fatalf("restored root holds %q, want etc, home, notes.txt", s)
	}
	for src, name := range map[string]string{etc: "etc", home: "home"} {
		Sh(t, "diff", "-r", src, filepath.Join(got, name))
		if d := DiffLines(Metadata(t, src), Metadata(t, filepath.Join(got, name)), 10); d != "" {
			t.Fatalf("%s restored with other metadata:\n%s", name, d)
		}
	}
	Sh(t, "cmp", notes, filepath.Join(got, "notes.txt"))

	clash := filepath.Join(dir, "z", "etc")
	Sh(t, "mkdir", "-p", clash)
	r := srv.Client(tok, "backup", srv.Repo("/host/clash"), "root.tree:"+etc+","+clash)
	if r.Code == 0 || !strings.Contains(r.Stderr, "would both be laid out as etc") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("clashing names: exit %d, stderr %q; want one line naming the clash", r.Code, r.Stderr)
	}
	if ls := srv.Client(tok, "ls", srv.Repo("/host/clash")); ls.Code == 0 && strings.TrimSpace(ls.Stdout) != "" {
		t.Fatalf("a refused backup left snapshots: %q", ls.Stdout)
	}
}

// TestBackupStdin pipes an image into backup over the network (with and
// without --stdin-size), restores it and compares with cmp; a stream of
// another size than --stdin-size fails and makes no snapshot.
func TestBackupStdin(t *testing.T) {
	dir := t.TempDir()
	img := make([]byte, 3<<20+12345)
	rand.Read(img[:1<<20])
	rand.Read(img[2<<20:]) // a zero MiB between data
	path := filepath.Join(dir, "disk.raw")
	must(t, os.WriteFile(path, img, 0o644))
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	stdinBackup := func(group string, args ...string) Result {
		cmd := exec.Command(Binary(t), append(append([]string{"backup"}, args...), srv.Repo(group), "disk.img:-")...)
		cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint)
		cmd.Stdin = bytes.NewReader(img)
		return RunCmd(t, cmd)
	}
	for _, c := range []struct {
		group string
		args  []string
	}{{"/vm/eof", nil}, {"/vm/sized", []string{"--stdin-size", "3158073"}}} {
		if r := stdinBackup(c.group, c.args...); r.Code != 0 {
			t.Fatalf("backup %v from stdin: exit %d: %s", c.args, r.Code, r.Stderr)
		}
		got := filepath.Join(dir, strings.TrimPrefix(c.group, "/vm/")+".img")
		srv.MustClient(tok, "restore", srv.Repo(c.group+"/latest/disk.img"), got)
		Sh(t, "cmp", path, got)
	}
	for _, size := range []string{"3158072", "3158074"} {
		r := stdinBackup("/vm/wrong", "--stdin-size", size)
		if r.Code == 0 || !strings.Contains(r.Stderr, "--stdin-size") {
			t.Fatalf("--stdin-size %s for %d bytes: exit %d, stderr %q", size, len(img), r.Code, r.Stderr)
		}
	}
	if ls := srv.Client(tok, "ls", srv.Repo("/vm/wrong")); ls.Code == 0 && strings.TrimSpace(ls.Stdout) != "" {
		t.Fatalf("a failed stdin backup left snapshots: %q", ls.Stdout)
	}
}
