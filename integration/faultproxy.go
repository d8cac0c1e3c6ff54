package integration

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
)

// FaultMode is what a FaultProxy does to the bytes between a client and
// the server.
type FaultMode int

const (
	// ProxyPass forwards everything as fast as it comes.
	ProxyPass FaultMode = iota
	// ProxyDrop closes both sides of every connection (a clean FIN) and
	// closes new connections at once.
	ProxyDrop
	// ProxyStall stops forwarding in both directions but keeps every
	// socket open; new connections are accepted and left waiting.
	ProxyStall
	// ProxyReset aborts every connection with a TCP RST (SetLinger(0) and
	// Close) on both sides, and new connections the same way.
	ProxyReset
	// ProxySlow forwards at most Rate bytes a second in each direction of
	// each connection.
	ProxySlow
)

var modeNames = [...]string{"pass", "drop", "stall", "reset", "slow"}

func (m FaultMode) String() string { return modeNames[m] }

// frameHeaderLen is the wire frame header (remote/PROTOCOL.md): type at
// byte 0, payload length as a little-endian u32 at bytes 8..12.
const frameHeaderLen = 12

// FaultProxy is a fault-injecting proxy between backupfs clients and a
// real server, for tests. It terminates TLS with the server's own
// certificate (read from the datastore), so clients pin the same
// fingerprint, and opens its own TLS connection to the server; between
// the two it sees the plain frames. It parses the client->server stream's
// frame headers and calls the hook set for a frame's type before it
// forwards that frame, which lets a test act at an exact protocol step.
//
// It fakes nothing else: it never alters, reorders or invents bytes.
type FaultProxy struct {
	Addr string // 127.0.0.1:PORT: use it in place of the server's address

	t        testing.TB
	ln       net.Listener
	upstream string
	srvTLS   *tls.Config // what clients see (the server's certificate)
	cliTLS   *tls.Config // how the proxy reaches the server (pinned)

	mu     sync.Mutex
	mode   FaultMode
	rate   int           // bytes a second in ProxySlow
	resume chan struct{} // closed when a stall ends
	conns  map[*proxyConn]struct{}
	hooks  map[byte]func(n int64)

	frames  [256]atomic.Int64 // client->server frames seen, by type
	refused atomic.Int64      // connections closed on arrival by Drop or Reset
}

// proxyConn is one client connection and its upstream twin.
type proxyConn struct {
	down, up       *net.TCPConn // raw sockets: client side, server side
	downTLS, upTLS *tls.Conn
	mu             sync.Mutex // guards up and closed
	closed         bool
	done           chan struct{} // closed by close
}

// StartFaultProxy starts a proxy on a free port of 127.0.0.1 in front of
// srv, in ProxyPass mode; it closes when the test ends. It follows srv
// across Kill and Restart (same address).
func StartFaultProxy(t testing.TB, srv *Server) *FaultProxy {
	t.Helper()
	cert, err := auth.LoadOrCreateCert(srv.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	cliTLS, err := auth.ClientConfig(srv.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{
		Addr: ln.Addr().String(), t: t, ln: ln, upstream: srv.Addr,
		srvTLS: auth.ServerConfig(cert), cliTLS: cliTLS,
		resume: make(chan struct{}), conns: map[*proxyConn]struct{}{}, hooks: map[byte]func(int64){},
	}
	close(p.resume)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Repo is a repository location through the proxy: "127.0.0.1:PORT:" + path.
func (p *FaultProxy) Repo(path string) string { return p.Addr + ":" + path }

// SetMode switches the proxy to m; Drop and Reset act on every open
// connection at once. ProxyPass heals: a stall ends, new connections pass.
func (p *FaultProxy) SetMode(m FaultMode) {
	p.mu.Lock()
	if m == ProxyStall && p.mode != ProxyStall {
		p.resume = make(chan struct{})
	}
	if m != ProxyStall && p.mode == ProxyStall {
		close(p.resume)
	}
	p.mode = m
	var victims []*proxyConn
	if m == ProxyDrop || m == ProxyReset {
		for c := range p.conns {
			victims = append(victims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		c.close(m == ProxyReset)
	}
}

// SetSlow switches to ProxySlow at bytesPerSec in each direction.
func (p *FaultProxy) SetSlow(bytesPerSec int) {
	p.mu.Lock()
	p.rate = bytesPerSec
	p.mu.Unlock()
	p.SetMode(ProxySlow)
}

// OnFrame sets fn to run each time a client->server frame of type typ is
// seen, before the frame is forwarded; n counts such frames from 1. The
// frame waits for fn to return.
func (p *FaultProxy) OnFrame(typ byte, fn func(n int64)) {
	p.mu.Lock()
	p.hooks[typ] = fn
	p.mu.Unlock()
}

// Frames is how many client->server frames of type typ the proxy saw.
func (p *FaultProxy) Frames(typ byte) int64 { return p.frames[typ].Load() }

// Refused is how many connections the proxy closed as they arrived
// because it was in ProxyDrop or ProxyReset mode: a client's attempts to
// reach the server through a fault.
func (p *FaultProxy) Refused() int64 { return p.refused.Load() }

// Close stops accepting and closes every connection.
func (p *FaultProxy) Close() {
	p.ln.Close()
	p.SetMode(ProxyDrop)
}

func (p *FaultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c.(*net.TCPConn))
	}
}

func (p *FaultProxy) handle(down *net.TCPConn) {
	pc := &proxyConn{down: down, done: make(chan struct{})}
	p.mu.Lock()
	mode := p.mode
	if mode != ProxyDrop && mode != ProxyReset {
		p.conns[pc] = struct{}{}
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
		pc.close(false)
	}()
	if mode == ProxyDrop || mode == ProxyReset {
		p.refused.Add(1)
		pc.close(mode == ProxyReset)
		return
	}
	if !p.gate(pc) || !p.connect(pc) {
		return
	}
	go func() {
		p.pump(pc, pc.upTLS, pc.downTLS)
		pc.close(false)
	}()
	p.pumpFrames(pc)
}

// connect finishes the client's handshake and opens the upstream side.
func (p *FaultProxy) connect(pc *proxyConn) bool {
	pc.downTLS = tls.Server(pc.down, p.srvTLS)
	pc.down.SetDeadline(time.Now().Add(10 * time.Second))
	if err := pc.downTLS.Handshake(); err != nil {
		return false
	}
	pc.down.SetDeadline(time.Time{})
	up, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
	if err != nil {
		return false
	}
	pc.mu.Lock()
	if pc.closed { // dropped meanwhile: close the new socket too
		pc.mu.Unlock()
		up.Close()
		return false
	}
	pc.up = up.(*net.TCPConn)
	pc.mu.Unlock()
	pc.upTLS = tls.Client(up, p.cliTLS)
	return pc.upTLS.Handshake() == nil
}

// pumpFrames forwards client->server frame by frame, calling hooks.
func (p *FaultProxy) pumpFrames(pc *proxyConn) {
	var hdr [frameHeaderLen]byte
	for {
		if _, err := io.ReadFull(pc.downTLS, hdr[:]); err != nil {
			return
		}
		typ := hdr[0]
		n := p.frames[typ].Add(1)
		p.mu.Lock()
		hook := p.hooks[typ]
		p.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		if p.forward(pc, pc.upTLS, hdr[:]) != nil {
			return
		}
		payload := int64(binary.LittleEndian.Uint32(hdr[8:12]))
		if p.pump(pc, io.LimitReader(pc.downTLS, payload), pc.upTLS) != nil {
			return
		}
	}
}

// pump forwards r to w until r ends (nil) or either side fails.
func (p *FaultProxy) pump(pc *proxyConn, r io.Reader, w io.Writer) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := p.forward(pc, w, buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// forward writes b to w as the mode allows: waiting out a stall, in
// throttled pieces when slow.
func (p *FaultProxy) forward(pc *proxyConn, w io.Writer, b []byte) error {
	for len(b) > 0 {
		if !p.gate(pc) {
			return net.ErrClosed
		}
		p.mu.Lock()
		mode, rate := p.mode, p.rate
		p.mu.Unlock()
		n := len(b)
		if mode == ProxySlow && rate > 0 {
			n = min(n, max(rate/20, 1))
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if mode == ProxySlow && rate > 0 {
			time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
		}
	}
	return nil
}

// gate waits while the proxy stalls; false if pc was closed meanwhile.
func (p *FaultProxy) gate(pc *proxyConn) bool {
	p.mu.Lock()
	resume := p.resume
	p.mu.Unlock()
	select {
	case <-resume:
	case <-pc.done:
		return false
	}
	select {
	case <-pc.done:
		return false
	default:
		return true
	}
}

// close closes both sockets once, with an RST if rst.
func (pc *proxyConn) close(rst bool) {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return
	}
	pc.closed = true
	close(pc.done)
	socks := []*net.TCPConn{pc.down, pc.up}
	pc.mu.Unlock()
	for _, c := range socks {
		if c == nil {
			continue
		}
		if rst {
			c.SetLinger(0)
		}
		c.Close()
	}
}
