package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// connectTimeout bounds one connection attempt by default
// (ClientConfig.ConnectTimeout): TCP connect, TLS handshake and HELLO. A
// backupfs server answers all three within milliseconds; something that
// does not answer within seconds is not a backupfs server, or not one
// that can serve.
const connectTimeout = 5 * time.Second

// connectLimit is the bound of one connection attempt.
func (cfg *ClientConfig) connectLimit() time.Duration {
	if cfg.ConnectTimeout > 0 {
		return cfg.ConnectTimeout
	}
	return connectTimeout
}

// ErrNotServer reports a connection to something that answered, but not
// as a backupfs server does (plain HTTP, or anything else than TLS).
var ErrNotServer = errors.New("remote: not a backupfs server")

// dialConn connects, handshakes TLS and exchanges HELLO, within the
// connect timeout (and ctx). Its errors name addr and what was found
// there: connection refused, plain HTTP or something else than TLS, a
// connection closed during the handshake, no answer in time. A wrong
// certificate, token or version is final; anything else is an errConn (a
// reconnect may retry it).
func dialConn(ctx context.Context, addr string, tcfg *tls.Config, token string, limit time.Duration) (*clientConn, error) {
	cc, err := dialHello(ctx, addr, tcfg, token, limit)
	if err != nil {
		return nil, err
	}
	go cc.readLoop()
	return cc, nil
}

// dialHello is dialConn without the reader: nothing is read from the
// connection past the server's HELLO (DialPush reads on by itself).
func dialHello(ctx context.Context, addr string, tcfg *tls.Config, token string, limit time.Duration) (*clientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, connectError(ctx, addr, limit, "TCP connect", err)
	}
	tc := tls.Client(raw, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeError(ctx, addr, limit, err)
	}
	cc := &clientConn{nc: tc, open: map[uint32]*call{}, done: make(chan struct{}), next: 1, born: time.Now()}
	if err := cc.hello(ctx, token); err != nil {
		tc.Close()
		var ce errConn
		if errors.As(err, &ce) {
			return nil, connectError(ctx, addr, limit, "HELLO", ce.err)
		}
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return cc, nil
}

// handshakeError says what answered the TLS handshake. A certificate that
// is not the pinned one is final.
func handshakeError(ctx context.Context, addr string, limit time.Duration, err error) error {
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) || errors.Is(err, ErrFingerprint) {
		return fmt.Errorf("%s: TLS handshake: %w", addr, err)
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		if string(rh.RecordHeader[:]) == "HTTP/" {
			return errConn{fmt.Errorf("%s: %w: it answered plain HTTP", addr, ErrNotServer)}
		}
		return errConn{fmt.Errorf("%s: %w: it answered %q, not TLS", addr, ErrNotServer, rh.RecordHeader[:])}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return errConn{fmt.Errorf("%s: TLS handshake: connection closed by the other end (not a backupfs server?)", addr)}
	}
	return connectError(ctx, addr, limit, "TLS handshake", err)
}

// connectError names a failed step of a connection attempt; a step that
// ran out of time says so with the limit.
func connectError(ctx context.Context, addr string, limit time.Duration, step string, err error) error {
	var ne net.Error
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errConn{fmt.Errorf("%s: no answer within %s (%s; not a backupfs server?)", addr, limit, step)}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errConn{fmt.Errorf("%s: connection refused (no server listens there)", addr)}
	}
	return errConn{fmt.Errorf("%s: %s: %w", addr, step, err)}
}
