package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestMountMemoryAndConcurrentReaders: reading a 1 GiB image through the
// mount keeps the mount's peak RSS under cache size + 64 MiB, 8 concurrent
// readers of different files get the right bytes, and cp -a of a tree
// copies it exactly, still under the bound.
func TestMountMemoryAndConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	Sh(t, "go", "run", "../bench/gendata", "-size", "1073741824", "-text", filepath.Join(GoRoot(t), "src"), img)
	src := filepath.Join(GoRoot(t), "src")
	ds := filepath.Join(dir, "ds")
	InitDatastore(t, ds)
	MustRun(t, "backup", "--datastore", ds, "/vm/1", "disk.img:"+img, "src.tree:"+src)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	const cacheSize = 64 << 20
	m := StartMount(t, nil, mp, "--datastore", ds, "--cache-size", "64MiB", "/vm/1/latest")

	Sh(t, "cmp", img, filepath.Join(mp, "disk.img"))
	peak := vmHWM(t, m.cmd.Process.Pid)
	t.Logf("peak RSS of the mount after reading 1 GiB: %d MiB (cache %d MiB)", peak>>20, cacheSize>>20)
	if peak > cacheSize+64<<20 {
		t.Fatalf("peak RSS %d MiB, want under cache size + 64 MiB = %d MiB", peak>>20, (cacheSize+64<<20)>>20)
	}

	files := []string{"runtime/proc.go", "net/http/server.go", "go/types/expr.go", "fmt/print.go",
		"crypto/tls/conn.go", "os/file.go", "strings/strings.go", "encoding/json/decode.go"}
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() {
			want, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Error(err)
				return
			}
			for range 3 {
				got, err := os.ReadFile(filepath.Join(mp, "src", f))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s through the mount: %d bytes, %v; want %d bytes equal", f, len(got), err, len(want))
					return
				}
			}
		})
	}
	wg.Wait()

	// cp -a of the tree (12,000 files): the kernel keeps every inode,
	// and the mount lends cache bytes to them to stay under the bound.
	copied := filepath.Join(dir, "copy")
	Sh(t, "cp", "-a", filepath.Join(mp, "src"), copied)
	Sh(t, "diff", "-r", "--no-dereference", src, copied)
	peak = vmHWM(t, m.cmd.Process.Pid)
	t.Logf("peak RSS of the mount after cp -a of the tree: %d MiB", peak>>20)
	if peak > cacheSize+64<<20 {
		t.Errorf("peak RSS after cp -a %d MiB, want under cache size + 64 MiB = %d MiB", peak>>20, (cacheSize+64<<20)>>20)
	}
}

// TestMountCorruptChunk: a flipped byte in a stored chunk gives EIO for
// the file that needs it, with a log line naming it, while other files
// still read.
func TestMountCorruptChunk(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.MkdirAll(a, 0o755)
	os.MkdirAll(b, 0o755)
	Sh(t, "go", "run", "../bench/gendata", "-size", "16777216", "-text", filepath.Join(GoRoot(t), "src"), filepath.Join(a, "good.bin"))
	Sh(t, "cp", filepath.Join(a, "good.bin"), filepath.Join(b, "bad.bin"))
	f, _ := os.OpenFile(filepath.Join(b, "bad.bin"), os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte("different content for b "), 4000), 0) // b's first chunks differ from a's
	f.Close()
	ds := filepath.Join(dir, "ds")
	InitDatastore(t, ds)
	MustRun(t, "backup", "--datastore", ds, "/host/a", "a.tree:"+a)
	before := chunkFiles(t, ds)
	MustRun(t, "backup", "--datastore", ds, "/host/b", "b.tree:"+b)
	var only []string
	for p := range chunkFiles(t, ds) {
		if !before[p] {
			only = append(only, p)
		}
	}
	if len(only) == 0 {
		t.Fatal("b's backup added no chunk of its own")
	}
	// Corrupt every chunk only b has (its catalog stays readable: the
	// catalog chunk is tiny and compressible; flip in payload-sized ones).
	flipped := 0
	for _, p := range only {
		if fi, _ := os.Stat(p); fi.Size() > 4096 {
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o600)
			flipped++
		}
	}
	if flipped == 0 {
		t.Fatal("no payload chunk of b to corrupt")
	}
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, nil, mp, "--datastore", ds, "/host")
	_, err := os.ReadFile(filepath.Join(mp, "b", "latest", "b", "bad.bin"))
	if err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("reading a file with a corrupt chunk: %v; want EIO", err)
	}
	Sh(t, "cmp", filepath.Join(a, "good.bin"), filepath.Join(mp, "a", "latest", "a", "good.bin"))
	waitFor(t, time.Minute, "a log line naming the archive and the corruption", func() bool {
		return strings.Contains(m.Stderr(), "b.tree") && strings.Contains(strings.ToLower(m.Stderr()), "corrupt")
	})
}

func chunkFiles(t *testing.T, ds string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.Walk(filepath.Join(ds, ".chunks"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out[p] = true
		}
		return nil
	})
	return out
}

// TestMountSurvivesServerRestart: the server is killed during a long read
// through the mount and restarted; the read completes with the right bytes.
// The test sees, rather than assumes, that the read is under way when the
// server dies (cmp has read part of the mounted file) and that it is held
// by the dead server (cmp waits in the FUSE client, short of the end, and
// the mount has logged the lost connection) before the server comes back.
func TestMountSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	const size = 256 << 20
	Sh(t, "go", "run", "../bench/gendata", "-size", strconv.Itoa(size), "-text", filepath.Join(GoRoot(t), "src"), img)
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/vm/1"), "disk.img:"+img)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp,
		"--timeout", "2m", "--readahead", "1MiB", srv.Repo("/vm/1/latest"))

	mounted := filepath.Join(mp, "disk.img")
	cmp := startReader(t, "cmp", img, mounted)
	waitFor(t, 60*time.Second, "cmp to read part of the mounted image", func() bool { return cmp.pos(mounted) > 0 })
	srv.Kill()
	held := cmp.heldIn(mounted)
	waitFor(t, 60*time.Second, "cmp to wait in a read of the mounted image with the server down", func() bool {
		if ended, err := cmp.ended(); ended {
			t.Fatalf("cmp ended (%v) with the server down: the read was not in flight: %s", err, cmp.out.String())
		}
		return held() && strings.Contains(m.Stderr(), "connection lost")
	})
	if p := cmp.pos(mounted); p < 0 || p >= size {
		t.Fatalf("cmp is at offset %d of %d with the server down: the read was not in flight", p, size)
	}
	t.Logf("server down with cmp at offset %d, waiting in:\n%s", cmp.pos(mounted), cmp.stack())
	srv.Restart()
	select {
	case err := <-cmp.done:
		if err != nil {
			t.Fatalf("read across a server restart: %v: %s", err, cmp.out.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("read hangs after the server came back")
	}
}
