package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// Block devices, as the README's first example uses them: loop devices
// (losetup) over files in the test's temporary directory, backed up from
// and restored to, locally and through a real server.

const (
	blockImageSize = 8<<20 + 12<<10 // not a whole number of chunks: an odd tail
	blockTime      = "2026-11-21T10:00:00Z"
)

// writeBlockImage writes the source image: random bytes with zero runs
// of 1 MiB and more (whole all-zero chunks, which a device restore must
// write, not skip), a short zero run inside a chunk, and the odd tail
// random.
func writeBlockImage(t *testing.T, path string) {
	t.Helper()
	b := randomBytes(blockImageSize, 23)
	for _, z := range [][2]int{{1 << 20, 5 << 19}, {5<<20 + 1000, 50000}, {6 << 20, 2 << 20}} {
		clear(b[z[0] : z[0]+z[1]])
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'b', 'l', 'k'})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// loopDevice writes a file of size random bytes (garbage, seeded) and
// attaches it as a loop device, detached when the test ends, failed or
// not.
func loopDevice(t *testing.T, size int, seed uint64) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "dev-"+strconv.FormatUint(seed, 10))
	if err := os.WriteFile(file, randomBytes(size, seed), 0o644); err != nil {
		t.Fatal(err)
	}
	return attachLoop(t, file)
}

// attachLoop attaches file as a loop device and returns its path. A
// machine without losetup fails the test: CI has it (.ci/run).
func attachLoop(t *testing.T, file string) string {
	t.Helper()
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Fatalf("losetup (util-linux, Debian package mount) is needed for the block device tests: %v", err)
	}
	dev := strings.TrimSpace(Sh(t, "losetup", "--find", "--show", file))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("losetup --find --show %s printed %q, not a loop device", file, dev)
	}
	return dev
}

// sumRange is the SHA-256 of n bytes of path from off (n < 0: to the end).
func sumRange(t *testing.T, path string, off, n int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	h := sha256.New()
	got, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if n >= 0 && got != n {
		t.Fatalf("%s: read %d bytes from %d, want %d", path, got, off, n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// zeroChunks counts the all-zero chunks of the image disk.img of group in
// the datastore, after checking its size: the restores onto devices mean
// something only if there are some.
func zeroChunks(t *testing.T, ds, group string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ds, group, blockTime, "disk.img"+catalog.FixedIndexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Size() != blockImageSize {
		t.Fatalf("the image of %s is %d bytes, want %d", group, idx.Size(), blockImageSize)
	}
	n := 0
	for i := range idx.NumChunks() {
		start, end, d := idx.Chunk(i)
		if catalog.IsZeroChunk(d, int(end-start)) {
			n++
		}
	}
	return n
}

// blockEnv is a datastore served by a real server, and the two ways to
// run a client command on it: local (--datastore) and network.
type blockEnv struct {
	ds  string
	srv *Server
	tok string
}

func newBlockEnv(t *testing.T) *blockEnv {
	t.Helper()
	ds := NewDatastore(t)
	srv := StartServer(t, ds)
	return &blockEnv{ds: ds, srv: srv, tok: srv.Token("pve", "backup:vm/*", "read:vm/*")}
}

// run runs backupfs cmd over the network or locally; ref is
// /TYPE/ID[/...] and the rest follows it.
func (e *blockEnv) run(t *testing.T, network bool, cmd, ref string, rest ...string) Result {
	t.Helper()
	if network {
		return e.srv.Client(e.tok, append([]string{cmd, e.srv.Repo(ref)}, rest...)...)
	}
	return Run(t, append([]string{cmd, "--datastore", e.ds, ref}, rest...)...)
}

func (e *blockEnv) mustRun(t *testing.T, network bool, cmd, ref string, rest ...string) {
	t.Helper()
	if r := e.run(t, network, cmd, ref, rest...); r.Code != 0 {
		t.Fatalf("backupfs %s %s %v: exit %d\nstdout:\n%s\nstderr:\n%s", cmd, ref, rest, r.Code, r.Stdout, r.Stderr)
	}
}

// backup backs up the image at path (file or device) as disk.img of group
// at blockTime.
func (e *blockEnv) backup(t *testing.T, network bool, group, path string) {
	t.Helper()
	args := []string{"backup", "--time", blockTime}
	if network {
		args = append(args, e.srv.Repo("/"+group), "disk.img:"+path)
		e.srv.MustClient(e.tok, args...)
		return
	}
	MustRun(t, append(args, "--datastore", e.ds, "/"+group, "disk.img:"+path)...)
}

var blockModes = []struct {
	name    string
	network bool
}{{"local", false}, {"network", true}}

// TestBlockDeviceBackup: an image backed up from a loop device (locally
// and through the server) restores to a new file equal to the device's
// backing file, odd tail and zero runs included.
func TestBlockDeviceBackup(t *testing.T) {
	e := newBlockEnv(t)
	src := filepath.Join(t.TempDir(), "disk.raw")
	writeBlockImage(t, src)
	dev := attachLoop(t, src)
	for i, m := range blockModes {
		t.Run(m.name, func(t *testing.T) {
			group := "vm/" + strconv.Itoa(i+1)
			e.backup(t, m.network, group, dev)
			if n := zeroChunks(t, e.ds, group); n == 0 {
				t.Fatalf("the image of %s has no all-zero chunk: its zero runs were not recognised", dev)
			}
			out := filepath.Join(t.TempDir(), "disk.img")
			e.mustRun(t, m.network, "restore", "/"+group+"/"+blockTime+"/disk.img", out)
			Sh(t, "cmp", src, out)
		})
	}
}

// TestBlockDeviceRestore: an image restores onto an existing block device,
// locally and through the server. A device of the image's size, filled
// with garbage first, equals the image afterwards, byte for byte (its
// all-zero chunks are written, not skipped as in a new sparse file). A
// device larger than the image gets the image's bytes and keeps the rest
// as it was. A device smaller than the image is refused with a one-line
// error and left as it was.
func TestBlockDeviceRestore(t *testing.T) {
	e := newBlockEnv(t)
	src := filepath.Join(t.TempDir(), "disk.raw")
	writeBlockImage(t, src)
	e.backup(t, false, "vm/1", src)
	if n := zeroChunks(t, e.ds, "vm/1"); n == 0 {
		t.Fatal("the image has no all-zero chunk: the garbage device case tests nothing")
	}
	ref := "/vm/1/" + blockTime + "/disk.img"
	for _, m := range blockModes {
		t.Run(m.name+"/same-size", func(t *testing.T) {
			dev := loopDevice(t, blockImageSize, 101)
			e.mustRun(t, m.network, "restore", ref, dev)
			Sh(t, "cmp", src, dev) // also fails if the device is longer or shorter
		})
		t.Run(m.name+"/larger", func(t *testing.T) {
			const extra = 1<<20 + 4<<10
			dev := loopDevice(t, blockImageSize+extra, 102)
			tail := sumRange(t, dev, blockImageSize, -1)
			e.mustRun(t, m.network, "restore", ref, dev)
			Sh(t, "cmp", "-n", strconv.Itoa(blockImageSize), src, dev)
			if got := sumRange(t, dev, blockImageSize, -1); got != tail {
				t.Fatalf("the %d bytes of %s past the image changed", extra, dev)
			}
		})
		t.Run(m.name+"/smaller", func(t *testing.T) {
			dev := loopDevice(t, blockImageSize-64<<10, 103)
			before := sumRange(t, dev, 0, -1)
			r := e.run(t, m.network, "restore", ref, dev)
			if got := sumRange(t, dev, 0, -1); got != before {
				t.Fatalf("restore onto %s, smaller than the image, changed it (exit %d, stderr %q)", dev, r.Code, r.Stderr)
			}
			oneLineError(t, "restore onto a smaller device", r, "smaller than the image")
			if !strings.Contains(r.Stderr, dev) {
				t.Fatalf("the error does not name the device %s: %q", dev, r.Stderr)
			}
		})
	}
}
