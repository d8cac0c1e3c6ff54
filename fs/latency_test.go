package fs

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/backupfs/backupfs/catalog"
)

// openCount is how many of this process's file descriptors are open on path.
func openCount(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestLatencyHintHoldsWhileBusy drives the hint with requests, a file
// standing in for the device: a flow of requests takes the request (0
// written, file kept open) and holds it, a pause drops it, requests now and
// then never take it, the next flow takes it again, and unmount drops it.
//
// The test waits for each of these to happen rather than flowing for a
// set time: a flow sends bursts until the request is held (a loaded
// machine just takes longer). The idle window is 1 s, so a flow is not
// taken for a pause even when the machine stalls it for a moment.
func TestLatencyHintHoldsWhileBusy(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "cpu_dma_latency")
	must(t, os.WriteFile(dev, nil, 0o600))
	h := newLatencyHint(fuse.NewDefaultRawFileSystem(), dev, 10*time.Millisecond, time.Second, slog.New(slog.DiscardHandler))
	request := func() {
		if st := h.GetAttr(nil, &fuse.GetAttrIn{}, &fuse.AttrOut{}); st != fuse.ENOSYS {
			t.Fatalf("GetAttr = %v, want the wrapped file system's ENOSYS", st)
		}
	}
	// flowUntil sends requests in bursts of 100 until cond holds.
	flowUntil := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !cond(); {
			if time.Now().After(end) {
				t.Fatalf("requests flowed for 30 s: %s did not happen", what)
			}
			for range 100 {
				request()
			}
		}
	}
	flowUntil("the request taken and held", func() bool { return h.taken.Load() >= 1 && openCount(t, dev) == 1 })
	if n := h.taken.Load(); n != 1 {
		t.Fatalf("during one flow of requests: taken %d times; want once, held", n)
	}
	if b, _ := os.ReadFile(dev); len(b) != 4 || binary.NativeEndian.Uint32(b) != 0 {
		t.Fatalf("device got %x, want an int32 0", b)
	}
	if !waitFor(func() bool { return openCount(t, dev) == 0 }) {
		t.Fatal("the request was still held after the requests stopped")
	}
	// Requests 30 ms apart (more on a loaded machine: never fewer) are
	// never 4 within the 10 ms probe.
	for range 15 {
		request()
		time.Sleep(30 * time.Millisecond)
	}
	if n, open := h.taken.Load(), openCount(t, dev); n != 1 || open != 0 {
		t.Fatalf("requests 30 ms apart: taken %d times, %d open; want no new take", n, open)
	}
	flowUntil("the request taken again", func() bool { return h.taken.Load() >= 2 && openCount(t, dev) == 1 })
	if n := h.taken.Load(); n != 2 {
		t.Fatalf("a second flow: taken %d times in all; want twice, held", n)
	}
	h.OnUnmount()
	if !waitFor(func() bool { return openCount(t, dev) == 0 }) {
		t.Fatal("the request was still held after unmount")
	}
}

// TestLatencyHintWithoutDevice: a device that cannot be opened turns the
// hint off at the first flow of requests, and requests go through as
// before.
func TestLatencyHintWithoutDevice(t *testing.T) {
	h := newLatencyHint(fuse.NewDefaultRawFileSystem(), filepath.Join(t.TempDir(), "missing"), time.Millisecond, time.Millisecond, slog.New(slog.DiscardHandler))
	defer h.OnUnmount()
	if !waitFor(func() bool {
		for range 100 {
			if _, st := h.ListXAttr(nil, &fuse.InHeader{}, nil); st != fuse.ENOSYS {
				t.Fatalf("ListXAttr = %v, want the wrapped file system's ENOSYS", st)
			}
		}
		return h.off.Load()
	}) {
		t.Fatal("a flow of requests did not turn the hint off")
	}
	if _, st := h.ListXAttr(nil, &fuse.InHeader{}, nil); st != fuse.ENOSYS || h.taken.Load() != 0 {
		t.Fatalf("after: ListXAttr = %v, taken %d; want ENOSYS, 0", st, h.taken.Load())
	}
}

// cpuLatency reads the kernel's current CPU latency target (µs).
func cpuLatency(t *testing.T) int32 {
	t.Helper()
	b, err := os.ReadFile(cpuLatencyDevice)
	if err != nil || len(b) != 4 {
		t.Fatalf("read %s: %x, %v", cpuLatencyDevice, b, err)
	}
	return int32(binary.NativeEndian.Uint32(b))
}

// TestMountHoldsLatencyHint walks a mounted snapshot through the kernel:
// while the walk runs the mount holds the real device open and the
// kernel's CPU latency target is 0; once it stops the request is dropped.
// With NoLatencyHint the device is never opened.
func TestMountHoldsLatencyHint(t *testing.T) {
	needRoot(t) // also for cpuLatencyDevice
	f := newFixture(t)
	var walks atomic.Int64 // whole walks done
	walk := func(dir string, stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			must(t, filepath.WalkDir(filepath.Join(dir, catalog.FormatTime(time2)), func(p string, d os.DirEntry, err error) error {
				if err == nil {
					_, err = os.Lstat(p) // attributes are cached; listxattr always asks
					_, _ = syscall.Listxattr(p, nil)
				}
				return err
			}))
			walks.Add(1)
		}
	}
	for _, off := range []bool{false, true} {
		dir := t.TempDir()
		m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: testGroup.Type, ID: testGroup.ID}, NoLatencyHint: off})
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		if (m.hint == nil) != off {
			t.Fatalf("NoLatencyHint %v: hint %v", off, m.hint)
		}
		done, stop := make(chan struct{}), make(chan struct{})
		go func() { defer close(done); walk(dir, stop) }()
		if off {
			// Requests flow all the while: the hint would have started
			// within a few of them. Watch for three whole walks (a
			// count, not a time: a loaded machine walks slower).
			end := time.Now().Add(2 * time.Minute)
			for w := walks.Load(); walks.Load() < w+3; time.Sleep(time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("NoLatencyHint: three walks did not finish within 2 min")
				}
				if openCount(t, cpuLatencyDevice) != 0 {
					t.Errorf("NoLatencyHint: the device was open during the walk")
					break
				}
			}
		} else if !waitFor(func() bool { return openCount(t, cpuLatencyDevice) == 1 && cpuLatency(t) == 0 }) {
			t.Errorf("during the walk: device open %d times, CPU latency target %d us; want held, 0", openCount(t, cpuLatencyDevice), cpuLatency(t))
		}
		close(stop)
		<-done
		if !waitFor(func() bool { return openCount(t, cpuLatencyDevice) == 0 }) {
			t.Errorf("NoLatencyHint %v: the request was still held after the walk", off)
		}
		must(t, m.srv.Unmount())
	}
}
