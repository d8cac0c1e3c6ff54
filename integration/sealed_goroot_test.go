package integration

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSealedGorootAndImage: a sealed backup of the GOROOT/src tree and of
// an ext4 image over the network; the mount with the key matches the
// source (diff -r, a read-only loop mount of the image), a mount of the
// datastore itself with the key too; no datastore file holds the marker;
// a flipped byte in a sealed chunk gives EIO through the mount (never
// other bytes) and verify names the chunk.
func TestSealedGorootAndImage(t *testing.T) {
	const marker = "MARKER-goroot-sealed-4d1e"
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	noise := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	secret := append(append(bytes.Clone(noise[:50<<10]), marker...), noise[50<<10:]...)
	if err := os.WriteFile(filepath.Join(src, "net", "http", "zz-secret.bin"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.ext4")
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", filepath.Join(src, "net", "http"), img, "64M")
	kf := filepath.Join(dir, "key")
	makeKey(t, kf, "pw")

	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.mustKeyClient(tok, kf, "pw", "backup", srv.Repo("/vm/100"), "src.tree:"+src, "drive-scsi0.img:"+img)
	if grepDatastore(t, srv.Datastore, marker) {
		t.Fatal("the marker is readable in the datastore")
	}
	keyEnv := []string{"BACKUPFS_KEYFILE=" + kf, "BACKUPFS_PASSWORD=pw"}
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := StartMount(t, append([]string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, keyEnv...), mp, srv.Repo("/vm/100"))
	Sh(t, "diff", "-r", "--no-dereference", src, filepath.Join(mp, "latest", "src"))
	loop := filepath.Join(dir, "loop")
	if err := os.Mkdir(loop, 0o755); err != nil {
		t.Fatal(err)
	}
	Sh(t, "mount", "-o", "loop,ro", filepath.Join(mp, "latest", "drive-scsi0.img"), loop)
	Sh(t, "diff", "-r", "-x", "lost+found", filepath.Join(src, "net", "http"), loop)
	Sh(t, "umount", loop)
	mnt.Stop()

	// The datastore mounted directly with the key.
	local := StartMount(t, keyEnv, mp, "--datastore", srv.Datastore, "/vm/100/latest")
	Sh(t, "diff", "-r", "--no-dereference", filepath.Join(src, "net"), filepath.Join(mp, "src", "net"))
	local.Stop()

	// A flipped byte in one sealed chunk of the tree's payload or the image.
	chunks := sealedChunkFiles(t, srv.Datastore)
	victim := chunks[len(chunks)/2]
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mnt = StartMount(t, append([]string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, keyEnv...), mp, srv.Repo("/vm/100"))
	d := exec.Command("diff", "-r", "--no-dereference", src, filepath.Join(mp, "latest", "src"))
	dout, _ := d.CombinedOutput()
	c := exec.Command("cmp", img, filepath.Join(mp, "latest", "drive-scsi0.img"))
	cout, _ := c.CombinedOutput()
	both := string(dout) + string(cout)
	if !strings.Contains(both, "Input/output error") {
		t.Fatalf("no EIO after flipping a byte of %s:\n%s", victim, both)
	}
	if strings.Contains(string(dout), "differ") || strings.Contains(string(cout), "differ") {
		t.Fatalf("the mount returned other bytes instead of an error:\n%s", both)
	}
	mnt.Stop()
	r := Run(t, "verify", "--datastore", srv.Datastore)
	if r.Code != 1 || !strings.Contains(r.Stdout, "BAD ") || !strings.Contains(r.Stdout, filepath.Base(victim)) {
		t.Fatalf("verify after the flip: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
