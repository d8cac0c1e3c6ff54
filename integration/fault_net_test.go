package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// netFaultTimeout is the mount's --timeout in these tests: long enough
// that a healed fault is healed well within it on a loaded machine (the
// test waits to see the read held, lists a directory, heals, and the
// client's next dial may be up to 2 s off). A read the proxy keeps from the
// server fails with EIO; the test waits netFaultEIO for that: the kernel
// asks for a failed page twice more, and on a loaded machine those retries
// may come after the cache has forgotten the failed fetch (1 s) and wait a
// timeout each, so the bound is three timeouts plus slack, and still under
// the client's default timeout (60 s): a mount that ignored --timeout
// would not fail within it.
const (
	netFaultTimeout = 10 * time.Second
	netFaultEIO     = 4*netFaultTimeout + 10*time.Second
)

// frameGetChunks is the GET_CHUNKS frame type (remote/PROTOCOL.md).
const frameGetChunks = 0x20

// readWithin reads a whole file in a goroutine; the test fails if it takes
// longer than d (the mount hangs). It returns the bytes, time and error.
func readWithin(t *testing.T, path string, d time.Duration) ([]byte, time.Duration, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	done := make(chan res, 1)
	start := time.Now()
	go func() {
		b, err := os.ReadFile(path)
		done <- res{b, err}
	}()
	select {
	case r := <-done:
		return r.b, time.Since(start), r.err
	case <-time.After(d):
		t.Fatalf("reading %s did not end within %s: the mount hangs", path, d)
		return nil, 0, nil
	}
}

// listWithin lists dir and fails the test unless it answers n entries
// within d.
func listWithin(t *testing.T, dir string, n int, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		es, err := os.ReadDir(dir)
		if err == nil && len(es) != n {
			err = fmt.Errorf("%d entries, want %d", len(es), n)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ls %s during a network fault: %v", dir, err)
		}
	case <-time.After(d):
		t.Fatalf("ls %s (listed before) did not answer within %s during a network fault", dir, d)
	}
}

// netFaultSetup backs up eight 4 MiB random files and a text tree, and
// mounts the snapshot through a fault proxy with --timeout netFaultTimeout.
func netFaultSetup(t *testing.T) (px *FaultProxy, src, root string, n int) {
	dir := t.TempDir()
	src = filepath.Join(dir, "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), src)
	for i := range 8 {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%d.bin", i)), 4<<20, uint64(100+i))
	}
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/vm/1"), "root.tree:"+src)
	px = StartFaultProxy(t, srv)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp,
		"--timeout", netFaultTimeout.String(), "--readahead", "1MiB", px.Repo("/vm/1/latest"))
	root = filepath.Join(mp, "root")
	es, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return px, src, root, len(es)
}

// mustMatch fails unless got is the source file's bytes.
func mustMatch(t *testing.T, what, src string, got []byte, err error) {
	t.Helper()
	want, rerr := os.ReadFile(src)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want the %d bytes of %s", what, len(got), err, len(want), src)
	}
}

// TestMountNetworkFaults: between the mount and the server a proxy drops,
// stalls, resets and slows the connection while files are read. A fault
// healed within --timeout: the read resumes and completes with the right
// bytes. A fault that outlasts it: the read fails with EIO (within a few
// timeouts, see netFaultEIO), and succeeds once healed. Throughout, ls of
// the directory listed before answers, and no read ever returns wrong bytes.
func TestMountNetworkFaults(t *testing.T) {
	px, src, root, entries := netFaultSetup(t)
	f := func(i int) (mounted, source string) {
		name := fmt.Sprintf("f%d.bin", i)
		return filepath.Join(root, name), filepath.Join(src, name)
	}
	m0, s0 := f(0)
	b, _, err := readWithin(t, m0, 2*time.Minute)
	mustMatch(t, "read with no fault", s0, b, err)

	for i, mode := range []FaultMode{ProxyStall, ProxyDrop, ProxyReset} {
		healedFault(t, px, mode, root, entries)(f(1 + i))
	}

	for i, mode := range []FaultMode{ProxyStall, ProxyDrop, ProxyReset} {
		name := mode.String() + " lasting"
		mf, sf := f(4 + i)
		px.SetMode(mode)
		b, took, err := readWithin(t, mf, netFaultEIO)
		listWithin(t, root, entries, time.Minute)
		px.SetMode(ProxyPass)
		t.Logf("%s: the read failed after %s: %v", name, took.Round(10*time.Millisecond), err)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("%s: read gave %d bytes, %v; want EIO", name, len(b), err)
		}
		// Reads resume once the link is back; for up to the cache's short
		// memory of the failed fetch (1 s) a read may still get EIO.
		waitFor(t, time.Minute, name+": a read after healing that does not fail with EIO", func() bool {
			b, _, err = readWithin(t, mf, 2*time.Minute)
			return !errors.Is(err, syscall.EIO)
		})
		mustMatch(t, name+": read after healing", sf, b, err)
	}

	m7, s7 := f(7)
	px.SetSlow(1 << 20)
	b, took, err := readWithin(t, m7, 2*time.Minute)
	px.SetMode(ProxyPass)
	t.Logf("slow (1 MiB/s): 4 MiB read in %s", took.Round(10*time.Millisecond))
	mustMatch(t, "read through a slow link", s7, b, err)
	// A lower bound: load only makes the read slower. The first MiB may
	// have come by readahead along the stream before the proxy slowed.
	if took < 2*time.Second {
		t.Fatalf("4 MiB through a 1 MiB/s proxy in %s: the proxy did not throttle", took)
	}
}

// healedFault returns a check of one fault healed while a read waits on
// it: with the proxy in mode, cmp of the source file against the mounted
// one starts and the test waits until the read is held by the fault: cmp
// waits in a read of the mounted file and the proxy saw the mount try to
// get through (a GET_CHUNKS frame it holds, in a stall; a connection it
// refused, in a drop or reset). Then ls of the directory listed before
// answers, the proxy heals, and cmp finishes with the files equal.
func healedFault(t *testing.T, px *FaultProxy, mode FaultMode, root string, entries int) func(mounted, source string) {
	name := mode.String() + " healed"
	return func(mounted, source string) {
		t.Helper()
		asked, refused := px.Frames(frameGetChunks), px.Refused()
		px.SetMode(mode)
		cmp := startReader(t, "cmp", source, mounted)
		held := cmp.heldIn(mounted)
		waitFor(t, time.Minute, name+": cmp held in a read of the mounted file by the fault", func() bool {
			if ended, err := cmp.ended(); ended {
				t.Fatalf("%s: cmp ended (%v) while the fault was on (it needed no link, or failed where a fault within --timeout must only delay it): %s", name, err, cmp.out.String())
			}
			tried := px.Frames(frameGetChunks) > asked
			if mode != ProxyStall {
				tried = px.Refused() > refused
			}
			return held() && tried
		})
		listWithin(t, root, entries, time.Minute)
		if ended, err := cmp.ended(); ended {
			t.Fatalf("%s: cmp ended (%v) before the proxy healed: %s", name, err, cmp.out.String())
		}
		px.SetMode(ProxyPass)
		select {
		case err := <-cmp.done:
			if err != nil {
				t.Fatalf("%s: read across the fault: %v: %s", name, err, cmp.out.String())
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s: the read did not finish within 2 min after the proxy healed", name)
		}
	}
}
