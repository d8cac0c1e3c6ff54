package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrServerClosed is returned by Serve called after Shutdown.
var ErrServerClosed = errors.New("remote: server closed")

// Serve accepts connections on ln until Shutdown (then it returns nil) or
// until ln is closed by someone else (then it returns the accept error).
// Other accept errors (out of file descriptors, a connection reset before
// accept) are retried after a pause that starts at 5 ms and doubles up to
// 1 s, logged at most once per srvRefusedEvery. A connection over one of
// the connection bounds of Limits is closed at once; the others do their
// TLS handshake and HELLO in their own goroutine, within
// Limits.HandshakeTimeout. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.Tokens == nil {
		ln.Close()
		return errors.New("remote: serve: ServerConfig.Tokens is required")
	}
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
		if err == nil {
			delay = 0
			s.start(nc)
			continue
		}
		if s.closing() {
			return nil
		}
		if errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("remote: serve: %w", err)
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		s.acceptErr.note("", "err", err, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-s.quit:
			return nil
		}
	}
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// start admits a new connection and serves it in a goroutine, or closes
// it at once when the server is over a connection bound.
func (s *Server) start(nc net.Conn) {
	source := srvSource(nc.RemoteAddr())
	s.mu.Lock()
	if bound := s.overBound(source); bound != "" {
		s.mu.Unlock()
		nc.Close()
		if bound != "shutdown" {
			s.stats.refused.Add(1)
			s.refusals.note(bound, "last_source", source)
		}
		return
	}
	c := s.newConn(nc)
	c.source, c.shaking = source, true
	s.conns[c] = struct{}{}
	s.sources[source]++
	s.handshaking++
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.conns.Add(1)
	s.stats.open.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.stats.open.Add(-1)
		c.serve(s.cfg.TLS)
		s.remove(c)
	}()
}

// overBound names the bound a new connection from source would exceed
// ("" if none, "shutdown" when the server is shutting down). s.mu is held.
func (s *Server) overBound(source string) string {
	switch {
	case s.shutdown:
		return "shutdown"
	case len(s.conns) >= s.lim.MaxConns:
		return "total"
	case s.sources[source] >= s.lim.MaxConnsPerSource:
		return "per_source"
	case s.handshaking >= s.lim.MaxHandshakes:
		return "handshaking"
	}
	return ""
}

// handshook says c finished TLS and HELLO: it leaves the handshaking count.
func (s *Server) handshook(c *srvConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.shaking {
		c.shaking = false
		s.handshaking--
	}
}

// remove forgets an ended connection.
func (s *Server) remove(c *srvConn) {
	s.handshook(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.sources[c.source]--; s.sources[c.source] <= 0 {
		delete(s.sources, c.source)
	}
}

func (s *Server) handshakingNow() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.handshaking)
}

// srvSource is what MaxConnsPerSource counts by: the IPv4 address, or the
// /64 of an IPv6 address (one host commonly holds a whole /64); an
// address that is not IP counts as itself.
func srvSource(a net.Addr) string {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		return ip.String()
	case ip.Is6():
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return a.Network() + ":" + a.String()
}
