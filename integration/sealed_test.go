package integration

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// keyEnv is the environment of a client using key file kf with passphrase pass.
func (s *Server) keyClient(token, kf, pass string, args ...string) Result {
	s.t.Helper()
	cmd := exec.Command(Binary(s.t), args...)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+token, "BACKUPFS_FINGERPRINT="+s.Fingerprint,
		"BACKUPFS_KEYFILE="+kf, "BACKUPFS_PASSWORD="+pass)
	return RunCmd(s.t, cmd)
}

func (s *Server) mustKeyClient(token, kf, pass string, args ...string) string {
	s.t.Helper()
	r := s.keyClient(token, kf, pass, args...)
	if r.Code != 0 {
		s.t.Fatalf("backupfs %s: exit %d\n%s\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// makeKey creates a key file with cheap KDF parameters and returns its fingerprint.
func makeKey(t *testing.T, path, pass string) string {
	t.Helper()
	r := keyCmd(t, pass, "", "create", path)
	m := fingerprintRE.FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("key create: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	return m[1]
}

// grepDatastore reports whether marker occurs in any file of the datastore.
func grepDatastore(t *testing.T, dir, marker string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			found = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestSealedBackups: a tree and an image backed up with a key over the
// network. The datastore holds no byte of the marker (a plain backup of
// the same files, made afterwards, shows grep would find it); ls says
// which key sealed it; restore and mount give the bytes back with the key,
// a clear error without it or with another; a second backup dedups
// against the first; verify checks sealed chunks without the key (CRC)
// and with it (plain bytes), and a blob the server swapped for another is
// caught, never returned.
func TestSealedBackups(t *testing.T) {
	const marker = "MARKER-7f3a9c-not-for-the-server"
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	noise := make([]byte, 300<<10)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	// Incompressible around the marker, so a plain blob stores it raw.
	secret := append(append(bytes.Clone(noise[:100<<10]), marker...), noise[100<<10:]...)
	for name, data := range map[string][]byte{"secret.bin": secret, "docs/" + marker + ".txt": []byte("named\n"), "plain.txt": []byte("hello\n")} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, append(bytes.Repeat(secret, 8), make([]byte, 1<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kf, other := filepath.Join(dir, "key"), filepath.Join(dir, "other")
	fp := makeKey(t, kf, "pw")
	makeKey(t, other, "pw2")

	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	out := srv.mustKeyClient(tok, kf, "pw", "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/sec"),
		"root.tree:"+src, "disk.img:"+img)
	if !strings.Contains(out, "sealed with key "+fp) {
		t.Fatalf("backup output does not name the key:\n%s", out)
	}
	if grepDatastore(t, srv.Datastore, marker) {
		t.Fatal("the marker is readable in the datastore after a sealed backup")
	}
	if ls := srv.MustClient(tok, "ls", srv.Repo("/host/sec")); !strings.Contains(ls, "sealed, key "+fp) {
		t.Fatalf("ls does not show the snapshot sealed:\n%s", ls)
	}
	// Sizes and chunk lists need no key (manifests and index files stay readable).
	if out := srv.MustClient(tok, "snapshots", srv.Repo("/host/sec")); !strings.Contains(out, "root.tree,disk.img") {
		t.Fatalf("snapshots of a sealed group without the key:\n%s", out)
	}

	// Reading: without the key, with another, with a wrong passphrase, with the key.
	if r := srv.Client(tok, "restore", srv.Repo("/host/sec/latest/root.tree"), filepath.Join(dir, "r0")); r.Code != 1 ||
		!strings.Contains(r.Stderr, "sealed with key "+fp) {
		t.Fatalf("restore without the key: exit %d, %q", r.Code, r.Stderr)
	}
	if r := srv.keyClient(tok, other, "pw2", "restore", srv.Repo("/host/sec/latest/root.tree"), filepath.Join(dir, "r1")); r.Code != 1 ||
		!strings.Contains(r.Stderr, "the key file holds") {
		t.Fatalf("restore with another key: exit %d, %q", r.Code, r.Stderr)
	}
	if r := srv.keyClient(tok, kf, "wrong", "ls", srv.Repo("/host/sec")); r.Code != 1 || !strings.Contains(r.Stderr, "wrong passphrase") {
		t.Fatalf("wrong passphrase: exit %d, %q", r.Code, r.Stderr)
	}
	if r := srv.keyClient(tok, filepath.Join(dir, "no-such-key"), "pw", "ls", srv.Repo("/host/sec")); r.Code != 1 ||
		!strings.Contains(r.Stderr, "key file: open") || !strings.Contains(r.Stderr, "no such file") {
		t.Fatalf("missing key file: exit %d, %q", r.Code, r.Stderr)
	}
	for _, p := range []string{filepath.Join(dir, "r0"), filepath.Join(dir, "r1")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("a refused restore left %s: %v", p, err)
		}
	}
	restored := filepath.Join(dir, "tree")
	srv.mustKeyClient(tok, kf, "pw", "restore", srv.Repo("/host/sec/latest/root.tree"), restored)
	Sh(t, "diff", "-r", src, restored)
	srv.mustKeyClient(tok, kf, "pw", "restore", srv.Repo("/host/sec/latest/disk.img"), filepath.Join(dir, "disk.img"))
	Sh(t, "cmp", img, filepath.Join(dir, "disk.img"))

	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint,
		"BACKUPFS_KEYFILE=" + kf, "BACKUPFS_PASSWORD=pw"}, mp, srv.Repo("/host/sec"))
	Sh(t, "diff", "-r", src, filepath.Join(mp, "latest", "root"))
	Sh(t, "cmp", img, filepath.Join(mp, "latest", "disk.img"))
	mnt.Stop()

	// Dedup between sealed backups of one key: a small change uploads little.
	if err := os.WriteFile(filepath.Join(src, "plain.txt"), []byte("hello again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = srv.mustKeyClient(tok, kf, "pw", "backup", "--time", "2026-11-21T10:00:00Z", srv.Repo("/host/sec"),
		"root.tree:"+src, "disk.img:"+img)
	m := uploadedRE.FindStringSubmatch(out)
	if n, _ := strconv.Atoi(m[1]); m == nil || n > 4 {
		t.Fatalf("second sealed backup uploaded %v chunks, want a few (catalog and the changed file):\n%s", m, out)
	}

	// verify: without the key, header and CRC; with it, every sealed chunk opened.
	v := MustRun(t, "verify", "--datastore", srv.Datastore)
	if !strings.Contains(v, ": 0 bad") || !strings.Contains(v, "chunks were sealed: header and CRC only") {
		t.Fatalf("verify without the key:\n%s", v)
	}
	cmd := exec.Command(Binary(t), "verify", "--datastore", srv.Datastore, "--keyfile", kf)
	cmd.Env = append(os.Environ(), "BACKUPFS_PASSWORD=pw")
	if r := RunCmd(t, cmd); r.Code != 0 || !strings.Contains(r.Stdout, "those of key "+fp+" opened") {
		t.Fatalf("verify with the key: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// A server that hands back one sealed blob for another (its CRC is
	// sound): the key-less verify cannot tell, the reader can.
	chunks := sealedChunkFiles(t, srv.Datastore)
	if len(chunks) < 2 {
		t.Fatalf("%d sealed chunk files", len(chunks))
	}
	b0, err := os.ReadFile(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chunks[1], b0, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(Binary(t), "verify", "--datastore", srv.Datastore, "--keyfile", kf)
	cmd.Env = append(os.Environ(), "BACKUPFS_PASSWORD=pw")
	if r := RunCmd(t, cmd); r.Code != 1 || !strings.Contains(r.Stdout, "BAD ") || !strings.Contains(r.Stdout, filepath.Base(chunks[1])) {
		t.Fatalf("verify with the key after a swap: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// The plain backup of the same files: now grep finds the marker.
	srv.MustClient(tok, "backup", srv.Repo("/host/plain"), "root.tree:"+src)
	if !grepDatastore(t, srv.Datastore, marker) {
		t.Fatal("a plain backup's marker is not found: the grep above proves nothing")
	}
}

// sealedChunkFiles lists the datastore's sealed chunk files.
func sealedChunkFiles(t *testing.T, ds string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(ds, ".chunks"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.Contains(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 16 && b[5]&2 != 0 {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
