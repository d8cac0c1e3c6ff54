package remote

// The server half of package remote: `backupfs serve` behind the wire
// protocol of PROTOCOL.md (which is the specification and wins over this
// comment).
//
// # Contract
//
// A Server answers many connections, each with many requests in flight.
// Per connection there is one reader goroutine (it reads frames, decodes
// and checks them, and starts a handler goroutine per request), one writer
// goroutine (it drains two queues of answer frames: the high-priority one
// first, so a DEMAND GET_CHUNKS overtakes readahead), and the handlers.
// Everything a connection holds is bounded: requests in flight
// (Limits.InFlight, more are answered ERROR BUSY), bytes of partially
// received uploads (Limits.Buffered, ERROR BUSY), answer bytes queued for
// writing (a handler waits when its queue is full), blobs read from disk
// at a time (a few per priority), and time (Limits.IdleTimeout between
// frames, Limits.FrameTimeout from a frame's first byte to its last, and
// for writing one batch of frames).
//
// # Access
//
// HELLO authenticates the token (auth.Tokens); the Grant decides the rest.
// LIST_GROUPS shows only groups the grant may read. LIST_SNAPSHOTS and
// GET_FILE of a group the grant cannot read answer NOT_FOUND with the same
// message as for a group that does not exist, so a token cannot probe for
// other groups' names. GET_CHUNKS serves a digest only if an index file
// this connection downloaded with read permission references it (MISSING
// DENIED otherwise). The digests of index files live in one server-wide
// cache of sorted digest tables, bounded in bytes (ServerConfig.DigestCache);
// a connection holds only the keys it was granted and reloads an evicted
// table from the store when it needs it. The token is re-checked
// (Tokens.Valid) at most once a second per connection: a revoked token's
// connections are answered DENIED and closed.
//
// A backup (BACKUP_BEGIN, needs backup permission) may GET_FILE the previous
// snapshot's manifest and index files, but that does not grant its chunks:
// backup does not imply read. Uploaded blobs are verified against their
// digest (store.DecodeBlob, through Store.PutBlob) and stored as received,
// never recompressed. Abort, an error, GOODBYE, Shutdown or a lost
// connection aborts an open backup: nothing is published.
//
// # Errors
//
// A malformed frame or payload, a request with id 0, a frame type the
// server never receives, a HELLO after the first, or an inconsistent
// UPLOAD_FILE sequence is a protocol error: the server sends ERROR
// BAD_REQUEST with id 0 and closes that connection only. A request in the
// wrong state (UPLOAD_CHUNK without BACKUP_BEGIN, ...) is answered ERROR
// BAD_REQUEST for its id and the connection stays. Store errors map to
// NOT_FOUND, CORRUPT, BAD_REQUEST (invalid names or manifests) and
// GENERIC. Read requests can be canceled (CANCEL): frames of the answer not
// yet written are dropped and ERROR CANCELED ends it; backup requests run
// to completion and ignore CANCEL.
//
// # What it must not do
//
// It never logs or echoes a token secret (only the name part of a
// "bfs1.NAME.SECRET"), never serves a chunk the connection was not granted,
// never recompresses a blob, never publishes a backup that did not finish,
// never allocates from a length it has not bounded (wire checks frame sizes
// before allocating; uploads are checked against MaxFile and Buffered
// before they are buffered), and never lets one connection's error or
// stall affect another.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// Limits bound what one connection may hold; zero fields take the
// defaults of PROTOCOL.md.
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
	// (30 s); it also bounds the TLS handshake, the HELLO, and each write
	// of a batch of answer frames.
	FrameTimeout time.Duration
	// IdleTimeout closes a connection (with GOODBYE) when no frame starts
	// for that long (5 min).
	IdleTimeout time.Duration
	// MaxFile bounds an uploaded file (1 GiB, wire.MaxFileTotal).
	MaxFile uint64
}

func (l Limits) withDefaults() Limits {
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
	return l
}

// ServerConfig configures a Server. Store and Tokens are required; TLS
// nil serves plain TCP (tests only; `backupfs serve` always passes one).
type ServerConfig struct {
	Store  *store.Store
	Tokens *auth.Tokens
	TLS    *tls.Config
	Log    *slog.Logger // nil: discard
	Limits Limits
	Name   string // sent in HELLO (default "backupfs")
	// DigestCache bounds the server-wide cache of index digest tables in
	// bytes (default 256 MiB; 32 bytes per chunk referenced).
	DigestCache int64
}

// ServerStats are counters since NewServer.
type ServerStats struct {
	Connections   int64 // connections accepted
	Open          int64 // connections open now
	ChunksServed  int64 // CHUNK answers
	ChunksMissing int64 // MISSING answers
	ChunksNew     int64 // uploaded chunks stored (ACK NEW)
	ChunksKnown   int64 // uploaded chunks the store had
	BytesSent     int64 // frame bytes written, headers included
	BytesReceived int64 // frame bytes read after HELLO, headers included
	Snapshots     int64 // backups published
}

// srvCounters are the atomics behind ServerStats.
type srvCounters struct {
	conns, open, served, missing, upNew, upKnown, sent, received, published atomic.Int64
}

// Server serves a datastore over the wire protocol.
type Server struct {
	cfg     ServerConfig
	lim     Limits
	log     *slog.Logger
	digests *srvDigestCache
	stats   srvCounters

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*srvConn]struct{}
	shutdown bool
	wg       sync.WaitGroup // connection goroutines
}

// NewServer checks cfg and returns a server that serves nothing until
// Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("remote: server: Store and Tokens are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "backupfs"
	}
	if cfg.DigestCache <= 0 {
		cfg.DigestCache = 256 << 20
	}
	return &Server{
		cfg:     cfg,
		lim:     cfg.Limits.withDefaults(),
		log:     cfg.Log,
		digests: srvNewDigestCache(cfg.Store, cfg.DigestCache),
		lns:     make(map[net.Listener]struct{}),
		conns:   make(map[*srvConn]struct{}),
	}, nil
}

// ErrServerClosed is returned by Serve called after Shutdown.
var ErrServerClosed = errors.New("remote: server closed")

// Serve accepts connections on ln until Shutdown (then it returns nil) or
// an accept error (returned). Each connection does its TLS handshake and
// HELLO in its own goroutine, within Limits.FrameTimeout. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("remote: serve: %w", err)
		}
		delay = 0
		s.start(nc)
	}
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// start registers a new connection and serves it in a goroutine.
func (s *Server) start(nc net.Conn) {
	c := s.newConn(nc)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.conns.Add(1)
	s.stats.open.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.stats.open.Add(-1)
		c.serve(s.cfg.TLS)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Shutdown stops accepting, lets every connection finish the answers in
// flight, aborts open backups, says GOODBYE and closes. It waits for the
// connections to end, or for ctx: then it closes the rest at once and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.lns {
		ln.Close()
	}
	conns := make([]*srvConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stop()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return fmt.Errorf("remote: shutdown: %w", ctx.Err())
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	c := &s.stats
	return ServerStats{
		Connections: c.conns.Load(), Open: c.open.Load(),
		ChunksServed: c.served.Load(), ChunksMissing: c.missing.Load(),
		ChunksNew: c.upNew.Load(), ChunksKnown: c.upKnown.Load(),
		BytesSent: c.sent.Load(), BytesReceived: c.received.Load(),
		Snapshots: c.published.Load(),
	}
}
