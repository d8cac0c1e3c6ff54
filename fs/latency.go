package fs

import (
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// cpuLatencyDevice is the kernel's PM QoS interface for CPU wake-up latency
// (Documentation/power/pm_qos_interface.rst): a program writes the most
// latency it tolerates, as an int32 in microseconds, and the request holds
// while the file stays open.
const cpuLatencyDevice = "/dev/cpu_dma_latency"

// latencyRate says when requests flow: at least latencyMin requests
// within latencyProbe take the request, and fewer than latencyMin within
// latencyIdle drop it. A walk or a copy sends thousands per 100 ms; a
// program polling a file now and then (watch, a monitoring agent) sends
// too few to keep CPUs polling for it.
const (
	latencyProbe = 2 * time.Millisecond
	latencyIdle  = 100 * time.Millisecond
	latencyMin   = 4
)

// latencyHint keeps idle CPUs quick to wake while the mount answers
// requests.
//
// Every FUSE request is a round trip between processes: the kernel wakes a
// reader thread of the mount, and the reply wakes the caller. A CPU with
// nothing to run goes idle, and waking it again can be slow: on a VM whose
// idle vCPUs halt (cpuidle haltpoll without guest polling), a pipe round
// trip between two processes took 46 us, and 5.7 us while a zero-latency
// request was held. A cold find through the mount took 0.44-0.69 s
// against 0.32-0.39 s with it, and cp -a 10.9-11.4 s against 7.7-8.2 s;
// the same commands on local disk barely change (bench/README.md).
//
// So while requests flow (latencyRate), latencyHint holds a request of
// 0 us: it writes 0 to /dev/cpu_dma_latency and keeps the file open, and
// cpuidle polls instead of entering idle states. When they stop it closes
// the file, which drops the request, so an idle mount costs no CPU. Only
// root may open the device; when it cannot be opened the hint turns
// itself off for good and the mount works as without it.
// Options.NoLatencyHint turns it off.
type latencyHint struct {
	fuse.RawFileSystem
	path        string
	probe, idle time.Duration
	log         *slog.Logger

	reqs  atomic.Int64  // requests so far
	busy  atomic.Bool   // the holder is awake: requests need not kick it
	off   atomic.Bool   // the device cannot be used
	kick  chan struct{} // wakes the holder (buffered: one pending kick)
	done  chan struct{} // closed by stop
	once  sync.Once
	taken atomic.Int64 // how many times the request was taken (tests)
}

func newLatencyHint(fs fuse.RawFileSystem, path string, probe, idle time.Duration, log *slog.Logger) *latencyHint {
	h := &latencyHint{RawFileSystem: fs, path: path, probe: probe, idle: idle, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go h.hold()
	return h
}

// mark counts a request and wakes the holder if it sleeps.
func (h *latencyHint) mark() {
	h.reqs.Add(1)
	if !h.busy.Load() && !h.off.Load() && h.busy.CompareAndSwap(false, true) {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// hold waits for a request, takes the latency request if more follow
// within h.probe, and holds it while they keep coming, until unmount.
func (h *latencyHint) hold() {
	for {
		select {
		case <-h.kick:
		case <-h.done:
			return
		}
		if h.count(h.probe) >= latencyMin && !h.holdWhileBusy() {
			return
		}
		// Asleep again: the next request kicks. One that came between
		// the last count and here is not missed for long: flowing
		// requests come again.
		h.busy.Store(false)
	}
}

// count waits d and returns how many requests came meanwhile (0 at
// unmount).
func (h *latencyHint) count(d time.Duration) int64 {
	n := h.reqs.Load()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return h.reqs.Load() - n
	case <-h.done:
		return 0
	}
}

// holdWhileBusy takes the request and drops it once fewer than latencyMin
// requests came in h.idle. It returns false when it is done for good
// (unmount, or the device cannot be used).
func (h *latencyHint) holdWhileBusy() bool {
	f, err := h.take()
	if err != nil {
		h.off.Store(true)
		h.log.Debug("cpu latency hint off", "err", err)
		return false
	}
	defer f.Close() // drops the request
	if h.taken.Add(1) == 1 {
		h.log.Info("holding a zero CPU wake-up latency request while requests flow (--no-latency-hint turns it off)")
	}
	for {
		n := h.count(h.idle)
		select {
		case <-h.done:
			return false
		default:
		}
		if n < latencyMin {
			return true
		}
	}
}

// take opens the device and asks for zero wake-up latency.
func (h *latencyHint) take() (*os.File, error) {
	f, err := os.OpenFile(h.path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write([]byte{0, 0, 0, 0}); err != nil { // int32 0
		f.Close()
		return nil, err
	}
	return f, nil
}

// stop ends the holder, dropping the request; it may be called more than
// once.
func (h *latencyHint) stop() { h.once.Do(func() { close(h.done) }) }

// OnUnmount stops the holder.
func (h *latencyHint) OnUnmount() {
	h.stop()
	h.RawFileSystem.OnUnmount()
}

// The requests a caller waits for; FORGET and the like are not.

func (h *latencyHint) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	h.mark()
	return h.RawFileSystem.Lookup(cancel, header, name, out)
}

func (h *latencyHint) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	h.mark()
	return h.RawFileSystem.GetAttr(cancel, in, out)
}

func (h *latencyHint) Readlink(cancel <-chan struct{}, header *fuse.InHeader) ([]byte, fuse.Status) {
	h.mark()
	return h.RawFileSystem.Readlink(cancel, header)
}

func (h *latencyHint) GetXAttr(cancel <-chan struct{}, header *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	h.mark()
	return h.RawFileSystem.GetXAttr(cancel, header, attr, dest)
}

func (h *latencyHint) ListXAttr(cancel <-chan struct{}, header *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	h.mark()
	return h.RawFileSystem.ListXAttr(cancel, header, dest)
}

func (h *latencyHint) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	h.mark()
	return h.RawFileSystem.Open(cancel, in, out)
}

func (h *latencyHint) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	h.mark()
	return h.RawFileSystem.Read(cancel, in, buf)
}

func (h *latencyHint) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	h.mark()
	return h.RawFileSystem.OpenDir(cancel, in, out)
}

func (h *latencyHint) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	h.mark()
	return h.RawFileSystem.ReadDir(cancel, in, out)
}

func (h *latencyHint) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	h.mark()
	return h.RawFileSystem.ReadDirPlus(cancel, in, out)
}
