// Package client is the network side of a mount and of a backup: it dials
// a `backupfs serve` (remote/server) over TLS, pinning the server's
// certificate, and speaks the wire protocol of remote/PROTOCOL.md on one
// multiplexed connection. It owns dialing and the first connection's clear
// errors (dial.go), reconnecting with backoff and replaying grants
// (retry.go, client.go), the connection's calls and answer frames
// (conn.go, frames.go: zstd CHUNK payloads are received into a
// wire.BufPool), chunk fetches with priorities and batched readahead
// (fetch.go), the read operations (ops.go), backup sessions with their
// uploads (backup.go, upload.go), and both client halves of push mode
// (push.go: DialPush asks a server to pull from this side; Over is the
// server's client over such a connection, never redialed). Client is a chunk source for the cache
// (backup.Repository) and Backup a backup.Sink. A read flows fs -> cache ->
// remote/client -> (wire) -> remote/server -> store.
//
// It verifies every chunk it receives against its digest (the reader of a
// snapshot, package backup, checks index files against the manifest) and
// bounds what a server's answers can make it allocate. It never imports package server (the two sides share only
// remote/wire and remote/auth).
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// ClientConfig says how to reach a server.
type ClientConfig struct {
	Addr        string // host:port
	Token       string
	Fingerprint string // the server certificate's SHA-256; required
	// Timeout bounds every request, retries included (default 60 s).
	Timeout time.Duration
	// ConnectTimeout bounds one connection attempt: TCP connect, TLS
	// handshake and HELLO (default 5 s: see Client).
	ConnectTimeout time.Duration
	// Log gets the reconnects of an established session (warnings) and
	// the connection's details (debug); nil discards them.
	Log *slog.Logger
	// Unseal opens a sealed chunk's blob and checks it against its id
	// (package seal's Sealer.OpenShared, with the key of a sealed backup);
	// nil: a sealed chunk fails with store.ErrSealed. It owns blob (a
	// receive buffer) and may decrypt it in place; aliases says whether
	// plain is blob's buffer.
	Unseal func(d catalog.Digest, blob []byte) (plain []byte, aliases bool, err error)
}

// Client reads from a server (it implements backup.Repository) and makes
// backups on it (Begin). It is safe for concurrent use: requests share one
// multiplexed connection.
//
// The first connection (Dial) is made once, within a few seconds
// (connectTimeout): a server that is down, or a port where something else
// listens, fails at once with an error naming the address and what was
// found there, instead of being retried for the request timeout: nothing
// suggests it will get better. Once a session is established, reads are
// idempotent: when the connection breaks, the client reconnects with
// exponential backoff and jitter (retry.go), downloads again the
// index files it had (the server grants chunks per connection) and
// re-issues what was in flight, until the request's timeout. The loss,
// failed reconnects and the reconnect are logged as warnings. Readahead fetches are
// batched into GET_CHUNKS of several digests; a demand fetch goes alone
// at high priority and promotes a queued readahead fetch of its digest
// (fetch.go).
type Client struct {
	cfg  ClientConfig
	tls  *tls.Config
	log  *slog.Logger
	base context.Context
	stop context.CancelFunc

	mu     sync.Mutex
	cc     *clientConn
	dialMu sync.Mutex
	grants map[fileKey]struct{} // index files downloaded: replayed after a reconnect
	retry  retryState           // the reconnect schedule, under mu (retry.go)

	ra raQueue // readahead fetches, batched (fetch.go)

	// inverted: a client over a connection the server dialed (Over); it
	// is never redialed.
	inverted bool
	session  *clientConn
}

type fileKey struct {
	group string
	time  int64
	name  string
}

// Dial connects to a server and says hello, once: a wrong fingerprint,
// token or version, a refused connection, something else than a backupfs
// server, or no answer within a few seconds fails at once with an error
// naming the address and the finding.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tcfg, err := auth.ClientConfig(cfg.Fingerprint)
	if err != nil {
		return nil, err
	}
	base, stop := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, tls: tcfg, log: cfg.Log, base: base, stop: stop, grants: map[fileKey]struct{}{}}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cc, err := dialConn(ctx, cfg.Addr, tcfg, cfg.Token, cfg.connectLimit())
	if cc != nil {
		cc.unseal = cfg.Unseal
	}
	if err != nil {
		stop()
		var ce errConn
		if errors.As(err, &ce) {
			err = ce.err // nothing retries it: a plain error
		}
		return nil, fmt.Errorf("connect %w", err)
	}
	c.cc = cc
	c.logConnected(cc)
	return c, nil
}

// Close ends the connection.
func (c *Client) Close() error {
	c.stop()
	c.mu.Lock()
	cc := c.cc
	c.cc = nil
	c.mu.Unlock()
	if cc != nil {
		cc.write(wireGoodbye())
		cc.fail(errConn{errors.New("client closed")})
	}
	return nil
}

// conn returns the live connection, or dials a new one (and replays the
// grants) when the reconnect schedule allows; before that it returns the
// last dial's error, for do to wait and retry.
func (c *Client) conn(ctx context.Context) (*clientConn, error) {
	if cc := c.live(); cc != nil {
		return cc, nil
	}
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	if cc := c.live(); cc != nil {
		return cc, nil
	}
	if err := c.base.Err(); err != nil {
		return nil, errClientClosed
	}
	if c.inverted {
		return nil, fmt.Errorf("%w: %v", ErrSessionLost, c.session.broken()) // %v: not an errConn, never retried
	}
	if err := c.notYet(); err != nil {
		return nil, err
	}
	cc, err := dialConn(ctx, c.cfg.Addr, c.tls, c.cfg.Token, c.cfg.connectLimit())
	if cc != nil {
		cc.unseal = c.cfg.Unseal
	}
	if err == nil {
		if err = c.replayGrants(ctx, cc); err != nil {
			cc.fail(errConn{err})
		}
	}
	if err != nil {
		c.dialFailed(err)
		return nil, err
	}
	c.mu.Lock()
	c.cc = cc
	c.mu.Unlock()
	c.log.Warn("reconnected", "server", c.cfg.Addr, "name", cc.name)
	c.logConnected(cc)
	return cc, nil
}

func (c *Client) logConnected(cc *clientConn) {
	suite := ""
	if tc, ok := cc.nc.(*tls.Conn); ok {
		suite = tls.CipherSuiteName(tc.ConnectionState().CipherSuite) // TLS_AES_128_GCM_SHA256 with AES-NI
	}
	c.log.Debug("connected", "server", c.cfg.Addr, "name", cc.name, "tls", suite)
}

// replayGrants downloads again the index files read on an earlier
// connection, so their chunks are served on this one.
func (c *Client) replayGrants(ctx context.Context, cc *clientConn) error {
	c.mu.Lock()
	keys := make([]fileKey, 0, len(c.grants))
	for k := range c.grants {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if _, err := cc.getFile(ctx, k, maxFileSize); err != nil {
			return err
		}
	}
	return nil
}

// do runs op on a live connection, retrying connection failures on the
// reconnect schedule until the request timeout; answers (not found,
// denied, ...) are returned at once.
func (c *Client) do(ctx context.Context, what string, op func(context.Context, *clientConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cc, err := c.conn(ctx)
		if err == nil {
			err = op(ctx, cc)
		}
		var ce errConn
		if err == nil || !errors.As(err, &ce) {
			if cc != nil && (errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrTooLarge)) {
				// A server that breaks the protocol may keep sending
				// (endless MORE frames): hang up; the next request redials.
				cc.fail(errConn{err})
			}
			return err
		}
		if cc != nil {
			c.lost(cc, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: gave up after %s: %w (%w)", c.cfg.Addr, what, c.cfg.Timeout, ce, ctx.Err()) // one line
		case <-time.After(max(c.retryWait(), ownBackoff(attempt))):
		}
	}
}

// Groups lists the groups the token may read, sorted.
func (c *Client) Groups() ([]catalog.Group, error) {
	var out []catalog.Group
	err := c.do(c.base, "list groups", func(ctx context.Context, cc *clientConn) (err error) {
		out, err = cc.listGroups(ctx)
		return err
	})
	return out, err
}

// Snapshots lists a group's snapshots, oldest first.
func (c *Client) Snapshots(g catalog.Group) ([]time.Time, error) {
	var out []time.Time
	err := c.do(c.base, "list snapshots", func(ctx context.Context, cc *clientConn) (err error) {
		out, err = cc.listSnapshots(ctx, g)
		return err
	})
	return out, err
}

// ReadFile downloads a snapshot's manifest or index file. An index file
// read this way lets the connection fetch the chunks it references.
func (c *Client) ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error) {
	return c.ReadFileMax(g, t, name, maxFileSize)
}

// ReadFileMax is ReadFile of a file of at most limit bytes (and at most
// ReadFile's 1 GiB): a larger one fails (wire.ErrTooLarge) at its first
// frame, before its bytes are received. backupfs sync bounds a manifest by
// its format's size and an index file by the size its manifest declares.
func (c *Client) ReadFileMax(g catalog.Group, t time.Time, name string, limit int64) ([]byte, error) {
	if err := validFileName(name); err != nil {
		return nil, err
	}
	k := fileKey{group: g.String(), time: t.Unix(), name: name}
	lim := uint64(min(max(limit, 0), maxFileSize))
	var out []byte
	err := c.do(c.base, "read "+name, func(ctx context.Context, cc *clientConn) (err error) {
		out, err = cc.getFile(ctx, k, lim)
		return err
	})
	if err == nil && name != catalog.ManifestName {
		c.mu.Lock()
		c.grants[k] = struct{}{}
		c.mu.Unlock()
	}
	return out, err
}

// Chunk fetches one chunk as a demand read and verifies its digest.
func (c *Client) Chunk(d catalog.Digest) ([]byte, error) {
	return c.ChunkContext(c.base, d, true)
}

// ChunkContext fetches one chunk and verifies its digest; demand says a
// reader is blocked on it (the server serves those before readahead).
// Readahead fetches are batched (see fetch.go). If ctx ends first,
// ChunkContext returns ctx.Err(); a readahead fetch goes on.
func (c *Client) ChunkContext(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	if demand {
		return c.demand(ctx, d)
	}
	return c.readahead(ctx, d)
}
