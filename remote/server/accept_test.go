package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Each connection bound admits up to its value and closes the next
// connection at once; the ones admitted are untouched, and a slot freed is
// used again.
func TestServerConnBounds(t *testing.T) {
	const big = 1000
	tests := []struct {
		name  string
		lim   Limits
		srcs  []string // where the 3 held connections and the refused 4th come from
		freed string   // after one held connection closes, this source gets in
	}{
		{"per source", Limits{MaxConnsPerSource: 3, MaxConns: big, MaxHandshakes: big}, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"}, "127.0.0.1"},
		{"handshaking", Limits{MaxHandshakes: 3, MaxConns: big, MaxConnsPerSource: big}, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, "127.0.0.4"},
		{"total", Limits{MaxConns: 3, MaxHandshakes: big, MaxConnsPerSource: big}, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, "127.0.0.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.lim.HandshakeTimeout = time.Minute
			e := srvStart(t, tt.lim)
			var held []net.Conn
			for i, src := range tt.srcs {
				nc, err := e.tcpFrom(src)
				must(t, err)
				defer nc.Close()
				held = append(held, nc)
				e.waitSeen(int64(i + 1))
			}
			if st := e.srv.Stats(); st.Open != 3 || st.Refused != 1 || st.Handshaking != 3 {
				t.Fatalf("open %d, refused %d, handshaking %d; want 3, 1, 3", st.Open, st.Refused, st.Handshaking)
			}
			waitEOF(t, held[3]) // closed at once: no byte, no wait for a timeout
			hardWaitLog(t, e, "connections refused", strings.ReplaceAll(tt.name, " ", "_")+"=1")
			held[0].Close()
			e.waitOpen(2)
			nc, err := e.tcpFrom(tt.freed)
			must(t, err)
			defer nc.Close()
			e.waitSeen(5)
			if st := e.srv.Stats(); st.Open != 3 || st.Refused != 1 {
				t.Fatalf("after a slot freed: open %d, refused %d; want 3, 1", st.Open, st.Refused)
			}
		})
	}
}

// A logged-in connection no longer counts as handshaking: with one
// handshake slot, clients log in one after the other and all stay.
func TestServerLoggedInLeavesHandshaking(t *testing.T) {
	e := srvStart(t, Limits{MaxHandshakes: 1})
	tok := e.token("r", "read:*")
	var cs []*rawClient
	for range 5 {
		cs = append(cs, e.dial(tok))
	}
	for _, c := range cs {
		c.ping()
	}
	if st := e.srv.Stats(); st.Handshaking != 0 || st.Open != 5 || st.Refused != 0 {
		t.Fatalf("handshaking %d, open %d, refused %d; want 0, 5, 0", st.Handshaking, st.Open, st.Refused)
	}
}

// waitEOF checks the server closed nc without sending anything.
func waitEOF(t *testing.T, nc net.Conn) {
	t.Helper()
	must(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := nc.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || errors.As(err, &ne) && ne.Timeout() || err == nil {
		t.Fatalf("refused connection: read %d bytes, %v; want it closed at once", n, err)
	}
}

// failingListener fails Accept with "too many open files" while fail is
// positive, then accepts from the real listener.
type failingListener struct {
	net.Listener
	fail atomic.Int64
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Accept errors (out of file descriptors) do not end Serve: it pauses,
// retries, logs them at a rate limit and serves the next client; only
// Shutdown or a listener closed by someone else ends it.
func TestServerAcceptErrorsRetried(t *testing.T) {
	e := srvStart(t, Limits{}) // for its store, tokens and TLS; a second listener below
	tok := e.token("r", "read:*")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	fl := &failingListener{Listener: ln}
	fl.fail.Store(8) // 5+10+20+40+80+160+320+640 ms of pauses
	served := make(chan error, 1)
	start := time.Now()
	go func() { served <- e.srv.Serve(fl) }()
	other := &srvEnv{t: t, addr: ln.Addr().String(), tlsCfg: e.tlsCfg}
	c := other.dial(tok) // accepted after the failures
	c.ping()
	if fl.fail.Load() >= 0 {
		t.Fatalf("%d accept failures left", fl.fail.Load())
	}
	if n, most := strings.Count(e.logs.String(), "accept failed: retrying"), 1+int(time.Since(start)/srvRefusedEvery); n < 1 || n > most {
		t.Fatalf("%d log lines for 8 accept errors, want 1..%d (rate limit):\n%s", n, most, e.logs)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	ln.Close() // closed by someone else: Serve ends with the error
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve returned %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener closed")
	}
}

// Shutdown ends Serve in its pause after an accept error.
func TestServerShutdownDuringAcceptPause(t *testing.T) {
	e := srvStart(t, Limits{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	fl := &failingListener{Listener: ln}
	fl.fail.Store(1 << 40)
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(fl) }()
	for fl.fail.Load() > 1<<40-3 { // pausing
		time.Sleep(10 * time.Millisecond)
	}
	must(t, e.shutdown(10*time.Second))
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v after Shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

// The defaults keep the sockets within half of what the file limit
// leaves after the reserve, keep per source < handshaking < total (so one
// source cannot fill the handshake slots), and explicit values win.
func TestLimitsDefaultsFitFileLimit(t *testing.T) {
	tests := []struct {
		nofile                       uint64
		conns, handshakes, perSource int
	}{
		{128, 32, 8, 4},
		{1024, 480, 120, 30},
		{1 << 20, 4096, 1024, 256},
		{^uint64(0), 4096, 1024, 256}, // RLIM_INFINITY
		{16, 8, 8, 4},
	}
	for _, tt := range tests {
		l := Limits{}.withDefaults(tt.nofile)
		if l.MaxConns != tt.conns || l.MaxHandshakes != tt.handshakes || l.MaxConnsPerSource != tt.perSource {
			t.Errorf("nofile %d: conns %d, handshakes %d, per source %d; want %d, %d, %d",
				tt.nofile, l.MaxConns, l.MaxHandshakes, l.MaxConnsPerSource, tt.conns, tt.handshakes, tt.perSource)
		}
		if tt.nofile >= 128 && uint64(2*l.MaxConns+srvFDReserve) > tt.nofile {
			t.Errorf("nofile %d: %d connections leave less than half to the store", tt.nofile, l.MaxConns)
		}
	}
	l := Limits{MaxConns: 7, MaxHandshakes: 5, MaxConnsPerSource: 2, HandshakeTimeout: time.Hour}.withDefaults(128)
	if l.MaxConns != 7 || l.MaxHandshakes != 5 || l.MaxConnsPerSource != 2 || l.HandshakeTimeout != time.Hour {
		t.Errorf("explicit limits changed: %+v", l)
	}
	if l := (Limits{FrameTimeout: time.Second}).withDefaults(128); l.HandshakeTimeout != time.Second {
		t.Errorf("HandshakeTimeout %v with FrameTimeout 1s, want 1s", l.HandshakeTimeout)
	}
	if l := (Limits{}).withDefaults(128); l.HandshakeTimeout != 10*time.Second {
		t.Errorf("HandshakeTimeout %v by default, want 10s", l.HandshakeTimeout)
	}
}

// Go raised the soft open file limit to the hard one when this process
// started, which the server's defaults count on instead of raising it.
func TestGoRaisedFileLimit(t *testing.T) {
	var r syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r))
	if got := srvNoFile(); got != r.Cur || r.Cur < r.Max-1 {
		t.Fatalf("srvNoFile %d, rlimit soft %d hard %d: want the soft limit raised to the hard one", got, r.Cur, r.Max)
	}
}

func TestSrvSource(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 9}, "2001:db8:1:2::/64"},
		{&net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}, "10.0.0.1"},
		{pipeAddr{}, "pipe:pipe"},
	}
	for _, tt := range tests {
		if got := srvSource(tt.addr); got != tt.want {
			t.Errorf("srvSource(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// The rate-limited log writes the first event at once and the others in
// one line when the period ends, with counts per kind.
func TestSrvLogLimit(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	l := srvNewLogLimit(log, slog.LevelWarn, "refused")
	l.every = 200 * time.Millisecond
	text := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
	l.note("total", "last", "a")
	if got := text(); !strings.Contains(got, "count=1 total=1 last=a") {
		t.Fatalf("first event: %q", got)
	}
	for i := range 999 {
		l.note([]string{"total", "per_source"}[i%2], "last", "b")
	}
	if n := strings.Count(text(), "refused"); n != 1 {
		t.Fatalf("%d lines within the period, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(text(), "refused") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no line when the period ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := text(); !strings.Contains(got, "count=999 per_source=499 total=500 last=b") {
		t.Fatalf("second line: %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
