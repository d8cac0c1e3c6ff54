package server

import (
	"syscall"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// Limits bound what one connection may hold, and how many connections the
// server holds; zero fields take the defaults of PROTOCOL.md.
type Limits struct {
	// InFlight is the most requests in flight per connection (256); more
	// are answered ERROR BUSY.
	InFlight int
	// Buffered bounds the bytes of partially received uploads per
	// connection (64 MiB), counted by the total each upload announces in
	// its first frame. One upload at a time is admitted whatever its size
	// (up to MaxFile), so a large index file can always be uploaded;
	// another that would exceed Buffered is answered ERROR BUSY.
	Buffered int64
	// FrameTimeout bounds the arrival of a frame from its first byte
	// (30 s) and each write of a batch of answer frames.
	FrameTimeout time.Duration
	// IdleTimeout closes a connection (with GOODBYE) when no frame starts
	// for that long (5 min).
	IdleTimeout time.Duration
	// MaxFile bounds an uploaded file (1 GiB, wire.MaxFileTotal).
	MaxFile uint64

	// HandshakeTimeout bounds the TLS handshake and the HELLO exchange,
	// from accept (10 s, or FrameTimeout if that is shorter).
	HandshakeTimeout time.Duration
	// MaxConns bounds the connections open at once (default from the
	// file descriptor limit, at most 4096: see srvConnDefaults).
	MaxConns int
	// MaxConnsPerSource bounds the connections open at once from one
	// source: an IPv4 address, or an IPv6 /64 (default MaxConns/16, at
	// least 4).
	MaxConnsPerSource int
	// MaxHandshakes bounds the connections that have not finished TLS and
	// HELLO yet (default MaxConns/4, at least 8).
	MaxHandshakes int
}

// srvFDReserve is the file descriptors the connection bounds leave to the
// rest of the process: stdin/out/err, the listener, the runtime's poller,
// the store's files being read or written, the token file.
const srvFDReserve = 64

// srvMaxConnsDefault is MaxConns's default when file descriptors are
// plenty: memory then bounds the server (an idle connection holds about
// 100 KiB: TLS state, a 64 KiB read buffer, two goroutines).
const srvMaxConnsDefault = 4096

func (l Limits) withDefaults(nofile uint64) Limits {
	if l.InFlight <= 0 {
		l.InFlight = 256
	}
	if l.Buffered <= 0 {
		l.Buffered = 64 << 20
	}
	if l.FrameTimeout <= 0 {
		l.FrameTimeout = 30 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 5 * time.Minute
	}
	if l.MaxFile == 0 || l.MaxFile > wire.MaxFileTotal {
		l.MaxFile = wire.MaxFileTotal
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = min(10*time.Second, l.FrameTimeout)
	}
	return l.connDefaults(nofile)
}

// connDefaults fills the connection bounds. A connection holds one file
// descriptor for its socket and, while it works, some for the store's
// files; half of what the reserve leaves goes to sockets, so connections
// at their bound cannot starve the store (nor accept) of descriptors:
// RLIMIT_NOFILE 1024 gives 480 connections (120 handshaking, 30 per
// source), 128 gives 32 (8, 4), a large limit 4096 (1024, 256).
func (l Limits) connDefaults(nofile uint64) Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = int(max(min(srvFDBudget(nofile)/2, srvMaxConnsDefault), 8))
	}
	if l.MaxHandshakes <= 0 {
		l.MaxHandshakes = max(l.MaxConns/4, 8)
	}
	if l.MaxConnsPerSource <= 0 {
		l.MaxConnsPerSource = max(l.MaxConns/16, 4)
	}
	return l
}

// srvNoFile returns the soft RLIMIT_NOFILE (1024 if it cannot be read).
// Go has already raised it to the hard limit (less one) when the process
// started (package syscall's init, since Go 1.19), so the server does not
// raise it itself.
func srvNoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return r.Cur
}

// srvFDBudget is the descriptors of nofile left after the reserve.
func srvFDBudget(nofile uint64) int64 {
	return max(int64(min(nofile, 1<<30))-srvFDReserve, 0)
}
