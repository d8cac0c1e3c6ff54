package fs

import (
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// cpuLatencyDevice is the kernel's PM QoS interface for CPU wake-up latency
// (Documentation/power/pm_qos_interface.rst): a program writes the most
// latency it tolerates, as an int32 in microseconds, and the request holds
// while the file stays open.
const cpuLatencyDevice = "/dev/cpu_dma_latency"

// latencyIdle is how long the mount holds the request after the last FUSE
// request: longer than any pause inside a walk or a copy, short enough
// that an idle mount does not keep CPUs busy.
const latencyIdle = 100 * time.Millisecond

// latencyHint keeps idle CPUs quick to wake while the mount answers
// requests.
//
// Every FUSE request is a round trip between processes: the kernel wakes a
// reader thread of the mount, and the reply wakes the caller. A CPU with
// nothing to run goes idle, and waking it again can be slow: on a VM whose
// idle vCPUs halt (cpuidle haltpoll without guest polling), a pipe round
// trip between two processes took 46 us, and 5.7 us while a zero-latency
// request was held. A cold find through the mount took 0.51-0.55 s
// against 0.34-0.39 s with it, and cp -a 12.9-13.1 s against 8.3-8.7 s;
// the same commands on local disk barely change (bench/README.md).
//
// So while requests arrive, latencyHint holds a request of 0 us: it writes
// 0 to /dev/cpu_dma_latency and keeps the file open, and cpuidle polls
// instead of entering idle states. When no request has come for
// latencyIdle it closes the file, which drops the request, so an idle
// mount costs no CPU. Only root may open the device; when it cannot be
// opened the hint turns itself off for good and the mount works as
// without it. Options.NoLatencyHint turns it off.
type latencyHint struct {
	fuse.RawFileSystem
	path string
	idle time.Duration
	log  *slog.Logger

	busy  atomic.Bool   // a request came since the holder last looked
	off   atomic.Bool   // the device cannot be used
	kick  chan struct{} // wakes the holder (buffered: one pending kick)
	done  chan struct{} // closed at unmount
	taken atomic.Int64  // how many times the request was taken (tests)
}

func newLatencyHint(fs fuse.RawFileSystem, path string, idle time.Duration, log *slog.Logger) *latencyHint {
	h := &latencyHint{RawFileSystem: fs, path: path, idle: idle, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go h.hold()
	return h
}

// mark records a request; on the hot path it is one atomic load.
func (h *latencyHint) mark() {
	if h.busy.Load() || h.off.Load() {
		return
	}
	h.busy.Store(true)
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// hold takes the request when requests start and drops it when they stop
// for h.idle, until unmount.
func (h *latencyHint) hold() {
	for {
		select {
		case <-h.kick:
		case <-h.done:
			return
		}
		f, err := h.take()
		if err != nil {
			h.off.Store(true)
			h.log.Debug("cpu latency hint off", "err", err)
			return
		}
		if h.taken.Add(1) == 1 {
			h.log.Info("holding a zero CPU wake-up latency request while requests flow (--no-latency-hint turns it off)")
		}
		idle := time.NewTicker(h.idle)
		for stop := false; !stop; {
			select {
			case <-idle.C:
				stop = !h.busy.Swap(false)
			case <-h.done:
				stop = true
			}
		}
		idle.Stop()
		f.Close() // drops the request
		// Requests while it was held kicked too; only one since the last
		// look at busy means the request is wanted again.
		select {
		case <-h.kick:
		default:
		}
		if h.busy.Load() {
			select {
			case h.kick <- struct{}{}:
			default:
			}
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

// OnUnmount stops the holder, dropping the request.
func (h *latencyHint) OnUnmount() {
	close(h.done)
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
