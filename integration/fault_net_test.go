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

// netFaultTimeout is the mount's --timeout in these tests. A read the
// proxy keeps from the server fails with EIO within netFaultEIO: the
// timeout plus slack for a loaded machine. (The kernel asks for a failed
// page twice more; the cache remembers the failed fetch for a moment, so
// those retries fail at once instead of waiting a timeout each.)
const (
	netFaultTimeout = 5 * time.Second
	netFaultEIO     = netFaultTimeout + 4*time.Second
)

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
// mounts the snapshot through a fault proxy with --timeout 5s.
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
// bytes. A fault that outlasts it: the read fails with EIO (within 3 x
// the timeout, see netFaultEIO), and succeeds once healed. Throughout, ls of the
// directory listed before answers, and no read ever returns wrong bytes.
func TestMountNetworkFaults(t *testing.T) {
	px, src, root, entries := netFaultSetup(t)
	f := func(i int) (mounted, source string) {
		name := fmt.Sprintf("f%d.bin", i)
		return filepath.Join(root, name), filepath.Join(src, name)
	}
	m0, s0 := f(0)
	b, _, err := readWithin(t, m0, 30*time.Second)
	mustMatch(t, "read with no fault", s0, b, err)

	healed := []struct {
		name string
		mode FaultMode
	}{{"stall healed", ProxyStall}, {"drop healed", ProxyDrop}, {"reset healed", ProxyReset}}
	for i, c := range healed {
		mf, sf := f(1 + i)
		px.SetMode(c.mode)
		type res struct {
			b   []byte
			err error
		}
		done := make(chan res, 1)
		go func() { b, err := os.ReadFile(mf); done <- res{b, err} }()
		time.Sleep(time.Second)
		listWithin(t, root, entries, 3*time.Second)
		px.SetMode(ProxyPass)
		select {
		case r := <-done:
			mustMatch(t, c.name+": read across the fault", sf, r.b, r.err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the read did not finish within 30 s after the proxy healed", c.name)
		}
	}

	lasting := []struct {
		name string
		mode FaultMode
	}{{"stall lasting", ProxyStall}, {"drop lasting", ProxyDrop}, {"reset lasting", ProxyReset}}
	for i, c := range lasting {
		mf, sf := f(4 + i)
		px.SetMode(c.mode)
		b, took, err := readWithin(t, mf, netFaultEIO)
		listWithin(t, root, entries, 3*time.Second)
		px.SetMode(ProxyPass)
		t.Logf("%s: the read failed after %s: %v", c.name, took.Round(10*time.Millisecond), err)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("%s: read gave %d bytes, %v; want EIO", c.name, len(b), err)
		}
		// Reads resume once the link is back; for up to the cache's short
		// memory of the failed fetch (1 s) a read may still get EIO.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			b, _, err = readWithin(t, mf, 30*time.Second)
			if !errors.Is(err, syscall.EIO) || time.Now().After(deadline) {
				break
			}
		}
		mustMatch(t, c.name+": read after healing", sf, b, err)
	}

	m7, s7 := f(7)
	px.SetSlow(1 << 20)
	b, took, err := readWithin(t, m7, 60*time.Second)
	px.SetMode(ProxyPass)
	t.Logf("slow (1 MiB/s): 4 MiB read in %s", took.Round(10*time.Millisecond))
	mustMatch(t, "read through a slow link", s7, b, err)
	if took < 2*time.Second {
		t.Fatalf("4 MiB through a 1 MiB/s proxy in %s: the proxy did not throttle", took)
	}
}
