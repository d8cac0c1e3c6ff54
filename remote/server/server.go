// Package server is the backup server, `backupfs serve`, behind the wire
// protocol of remote/PROTOCOL.md (which is the specification and wins over
// this comment). It owns accepting and bounding connections (accept.go,
// limits.go, loglimit.go), a connection's reader, writer and answer queues
// (conn.go, queue.go; CHUNK frames are built in a wire.BufPool), dispatching requests
// (dispatch.go), reads with their per-connection grants (read.go,
// digests.go) and backup sessions and uploads (backup.go, upload.go). It
// serves a store.Datastore (a directory, or an object store: store/objstore);
// it never imports package client (the two sides
// share only remote/wire and remote/auth). A read flows fs -> cache ->
// remote/client -> (wire) -> remote/server -> store.
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
// at a time (a few per priority), and time (Limits.HandshakeTimeout for
// TLS and HELLO, Limits.IdleTimeout between frames, Limits.FrameTimeout
// from a frame's first byte to its last, and for writing one batch of
// frames). The connections themselves are bounded too (# Connections).
//
// # Connections
//
// The server bounds the connections it holds, so that no client can take
// its file descriptors (before the bounds, about 20,000 idle TCP
// connections, or 127 under a limit of 128, made accept fail with "too
// many open files" and Serve return, which ended `backupfs serve`):
//
//   - Limits.MaxConns connections open at once;
//   - Limits.MaxConnsPerSource of them from one source: an IPv4 address,
//     or an IPv6 /64 (one host commonly holds a whole /64);
//   - Limits.MaxHandshakes of them that have not finished TLS and HELLO.
//     These have Limits.HandshakeTimeout (10 s) from accept for both,
//     rather than the 30 s of a frame: a client does both in a few round
//     trips, a connection that does not is not a client.
//
// A new connection over a bound is closed at once, before TLS and without
// an answer. It counts in ServerStats.Refused and in one "connections
// refused" log line per 10 s (the first at once) with counts per bound,
// not in a line per connection; failed handshakes are summed up the same
// way ("handshakes failed"; each is logged at Debug). Admitted connections
// are never closed to make room: a flood from many sources that fills
// MaxHandshakes keeps new clients out until its connections time out, but
// never disturbs the logged-in ones. Accept errors (EMFILE, ENFILE,
// ECONNABORTED, ...) never end Serve: it pauses 5 ms, doubling up to 1 s
// (as net/http does), logs at the same rate limit, and goes on. Only
// Shutdown, or the listener closed by someone else, ends Serve.
//
// The defaults derive from the soft RLIMIT_NOFILE n, which Go has already
// raised to the hard limit when the process started (package syscall,
// since Go 1.19), so the server does not raise it itself. 64 descriptors
// are kept for the rest of the process (listener, poller, stdio, token
// file) and half of what remains goes to sockets: MaxConns = (n-64)/2, at
// most 4096, at least 8. The other half is for the store's files that the
// admitted connections' requests open (a few at a time each; a request
// whose open fails with EMFILE gets ERROR GENERIC, the server goes on).
// MaxHandshakes = MaxConns/4 (at least 8) and MaxConnsPerSource =
// MaxConns/16 (at least 4): per source below handshaking, so one address
// cannot take every handshake slot, and handshaking below total, so
// unfinished handshakes cannot take every connection. That gives:
//
//	n = 1024 (hard limit 1024)          480 connections, 120 handshaking, 30 per source
//	n >= 8256 (systemd: 524288; Docker) 4096, 1024, 256
//	n = 128                             32, 8, 4
//
// 4096 is memory's bound (an idle logged-in connection holds about
// 100 KiB: TLS state, a 64 KiB read buffer, two goroutines; 400 MiB at
// the bound): for a hosting company, thousands of mounts and backups at
// once, 256 per address for a host or a NAT with many VMs, and an
// attacker needs 16 addresses to fill the server, while the ones logged
// in keep being served. Flags of `backupfs serve` set each bound; a
// MaxConns above the file budget is kept, with a warning at start.
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
// # Push
//
// A PUSH (role inversion, push.go; remote/PROTOCOL.md "Push") is taken
// only with ServerConfig.Push set and NoPush clear, from a token that holds
// some backup rule (and some prune rule to remove vanished snapshots), on
// a connection with nothing in flight and no byte read past the PUSH.
// The server then answers ACK, stops its writer once the ACK is flushed,
// and hands the connection to ServerConfig.Push, which pulls over it; the
// group-by-group permission check is the hook's (replicate/push), with
// the server's IdleTimeout and MaxFile as its bounds on the pusher
// (Handover). The connection keeps counting in the connection bounds
// until the hook returns, and Shutdown closes it. The
// other half, ServeInverted, serves a connection this side dialed under a
// fixed Grant (no token, never re-checked) until the peer's PUSH_RESULT.
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
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// ServerConfig configures a Server. Store is required, and Tokens for
// Serve (a server that only serves inverted sessions, ServeInverted, has
// none); TLS nil serves plain TCP (tests only; `backupfs serve` always
// passes one).
type ServerConfig struct {
	Store  store.Datastore
	Tokens *auth.Tokens
	TLS    *tls.Config
	Log    *slog.Logger // nil: discard
	Limits Limits
	Name   string // sent in HELLO (default "backupfs")
	// DigestCache bounds the server-wide cache of index digest tables in
	// bytes (default 256 MiB; 32 bytes per chunk referenced).
	DigestCache int64
	// Jobs, if set, lists the scheduled jobs for ADMIN jobs (jobs.Scheduler).
	Jobs interface{ Lines() []string }
	// NoAdmin turns ADMIN off (answered DENIED; HELLO then lacks
	// wire.FeatureAdmin): for a server whose datastore is administered
	// on its own machine only.
	NoAdmin bool
	// Push, if set, accepts PUSH (role inversion, push.go): it is called
	// with the connection once the PUSH is accepted and pulls over it
	// (package replicate/push); the connection is closed when it returns.
	// Nil, or NoPush, refuses PUSH (DENIED; HELLO then lacks
	// wire.FeaturePush).
	Push   func(ctx context.Context, h Handover)
	NoPush bool
}

// features are the HELLO feature bits this server announces.
func (s *Server) features() uint32 {
	f := wire.FeaturesV4
	if s.cfg.NoAdmin {
		f &^= wire.FeatureAdmin
	}
	if !s.pushOn() {
		f &^= wire.FeaturePush
	}
	if ic, ok := s.cfg.Store.(srvImageChunker); ok && ic.ImageChunkSize() > chunker.DefaultFixedSize {
		f |= wire.FeatureLargeChunks
	}
	return f
}

// srvImageChunker is a datastore that asks for large image chunks (the
// object store: backup.ImageChunker); HELLO passes it on to clients.
type srvImageChunker interface{ ImageChunkSize() int }

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
	Refused       int64 // connections closed at accept: over a connection bound
	Handshaking   int64 // connections open now that have not finished TLS and HELLO
}

// srvCounters are the atomics behind ServerStats.
type srvCounters struct {
	conns, open, served, missing, upNew, upKnown, sent, received, published, refused atomic.Int64
}

// Server serves a datastore over the wire protocol.
type Server struct {
	cfg     ServerConfig
	lim     Limits
	log     *slog.Logger
	digests *srvDigestCache
	slots   [2]int // blob reads at a time per connection (srvSlots)
	stats   srvCounters
	act     srvActivity

	refusals  *srvLogLimit  // connections refused over a bound
	acceptErr *srvLogLimit  // accept errors
	failed    *srvLogLimit  // TLS handshakes or HELLOs that failed
	quit      chan struct{} // closed by Shutdown

	mu          sync.Mutex
	lns         map[net.Listener]struct{}
	conns       map[*srvConn]struct{}
	sources     map[string]int // open connections by source (srvSource)
	handshaking int            // open connections before the end of HELLO
	shutdown    bool
	wg          sync.WaitGroup // connection goroutines
}

// NewServer checks cfg and returns a server that serves nothing until
// Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("remote: server: Store is required")
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
	nofile := srvNoFile()
	s := &Server{
		cfg:       cfg,
		lim:       cfg.Limits.withDefaults(nofile),
		log:       cfg.Log,
		digests:   srvNewDigestCache(cfg.Store, cfg.DigestCache),
		slots:     srvSlots(cfg.Store),
		refusals:  srvNewLogLimit(cfg.Log, slog.LevelWarn, "connections refused"),
		acceptErr: srvNewLogLimit(cfg.Log, slog.LevelWarn, "accept failed: retrying"),
		failed:    srvNewLogLimit(cfg.Log, slog.LevelInfo, "handshakes failed"),
		quit:      make(chan struct{}),
		lns:       make(map[net.Listener]struct{}),
		conns:     make(map[*srvConn]struct{}),
		sources:   make(map[string]int),
	}
	if need := int64(s.lim.MaxConns); need > srvFDBudget(nofile) {
		s.log.Warn("MaxConns exceeds the open file limit: connections may starve the store of file descriptors",
			"max_conns", s.lim.MaxConns, "rlimit_nofile", nofile, "reserve", srvFDReserve)
	}
	return s, nil
}

// Limits returns the limits the server applies, defaults filled in.
func (s *Server) Limits() Limits { return s.lim }

// Shutdown stops accepting, lets every connection finish the answers in
// flight, aborts open backups, says GOODBYE and closes. It waits for the
// connections to end, or for ctx: then it closes the rest at once and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		close(s.quit)
	}
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
		Snapshots: c.published.Load(), Refused: c.refused.Load(),
		Handshaking: s.handshakingNow(),
	}
}
