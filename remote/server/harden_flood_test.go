package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// tcpFrom opens a plain TCP connection to the server from the local
// address src (any 127.0.0.0/8 address works on Linux loopback).
func (e *srvEnv) tcpFrom(src string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", e.addr)
}

// dialFrom is dial from the local address src.
func (e *srvEnv) dialFrom(src, token string) *rawClient {
	e.t.Helper()
	nc, err := e.tcpFrom(src)
	must(e.t, err)
	tc := tls.Client(nc, e.tlsCfg)
	e.t.Cleanup(func() { tc.Close() })
	c := &rawClient{t: e.t, nc: tc}
	c.send(wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version, Token: token}.Append(nil)})
	c.hello = c.recv()
	if c.hello.Type != wire.THello {
		e.t.Fatalf("hello answered %v %q", c.hello.Type, c.hello.Payload)
	}
	return c
}

// waitSeen waits until the server has admitted or refused n connections.
func (e *srvEnv) waitSeen(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := e.srv.Stats()
		if st.Connections+st.Refused >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the server saw %d of %d connections (%d admitted, %d refused)", st.Connections+st.Refused, n, st.Connections, st.Refused)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// list asks for the groups and the snapshots of srvHostA and checks the
// answers; it reports a failure instead of failing, so that it can run in
// any goroutine.
func (c *rawClient) list(id uint32) error {
	for _, req := range []wire.Frame{
		{Type: wire.TListGroups, ID: id},
		{Type: wire.TListSnapshots, ID: id + 1, Payload: wire.ListSnapshots{Group: srvHostA.String()}.Append(nil)},
	} {
		_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := wire.WriteFrame(c.nc, req); err != nil {
			return err
		}
		f, err := c.next()
		if err != nil {
			return err
		}
		if f.ID != req.ID || f.Type != req.Type+1 {
			return fmt.Errorf("%v id %d answered %v id %d", req.Type, req.ID, f.Type, f.ID)
		}
	}
	return nil
}

// Far more idle TCP connections than the bounds, from nine addresses (one
// of them the logged-in client's), held and never starting TLS: the
// server admits no more than its bounds and closes the rest at once,
// logging a line per period rather than per connection; a logged-in
// client lists groups and snapshots the whole time and every list is
// answered; after the flood the server accepts and serves new clients.
func TestHardenFlood(t *testing.T) {
	lim := Limits{MaxConns: 40, MaxConnsPerSource: 10, MaxHandshakes: 20, HandshakeTimeout: time.Minute}
	e := srvStart(t, lim)
	e.snapshot(srvHostA, srvT0, srvChunks(21, 2, 4096))
	tok := e.token("r", "read:*")
	c := e.dial(tok)
	lister := e.dial(tok)
	var lists atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	stopLister := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer stopLister() // before the test ends, whatever happens
	wg.Add(1)
	go func() { // lists concurrently with the flood
		defer wg.Done()
		for id := uint32(2); ; id += 2 {
			select {
			case <-stop:
				return
			default:
			}
			if err := lister.list(id); err != nil {
				t.Errorf("list %d during the flood: %v", id/2, err)
				return
			}
			lists.Add(1)
		}
	}()
	start := time.Now()
	var flood []net.Conn
	defer func() {
		for _, nc := range flood {
			nc.Close()
		}
	}()
	const sources, perSource = 9, 100
	seen := e.srv.Stats().Connections
	for i := range sources {
		src := "127.0.0." + strconv.Itoa(1+i)
		for range perSource {
			nc, err := e.tcpFrom(src)
			must(t, err) // the kernel completes it even if the server closes it at once
			flood = append(flood, nc)
		}
		seen += perSource
		e.waitSeen(seen)
		st := e.srv.Stats()
		if st.Open > int64(lim.MaxConns) || st.Handshaking > int64(lim.MaxHandshakes) {
			t.Fatalf("after %d flood connections: %d open (bound %d), %d handshaking (bound %d)", len(flood), st.Open, lim.MaxConns, st.Handshaking, lim.MaxHandshakes)
		}
		must(t, c.list(uint32(2+2*i)))
	}
	stopLister()
	st := e.srv.Stats()
	if st.Refused < int64(len(flood)-lim.MaxConns) {
		t.Fatalf("%d of %d flood connections refused with at most %d open", st.Refused, len(flood), lim.MaxConns)
	}
	lines := strings.Count(e.logs.String(), "connections refused")
	if most := 2 + int(time.Since(start)/srvRefusedEvery); lines < 1 || lines > most {
		t.Fatalf("%d \"connections refused\" lines for %d refusals, want 1..%d", lines, st.Refused, most)
	}
	for _, nc := range flood {
		nc.Close()
	}
	flood = nil
	e.waitOpen(2)
	after := e.dialFrom("127.0.0.1", tok)
	after.ping()
	must(t, after.list(2))
	t.Logf("%d lists answered during the flood; %d connections refused, %d log lines", lists.Load(), st.Refused, lines)
}
