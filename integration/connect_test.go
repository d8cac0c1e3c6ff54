package integration

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConnectFailsFast: the first connection of a command to something
// that is not a working backupfs server fails within seconds, with one line
// naming the address and what was found there. Before, it was retried in
// silence for the 60 s request timeout. The bound asserted is generous
// (40 s, for a loaded machine) and still under those 60 s; the time taken
// is logged.
func TestConnectFailsFast(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) string // returns the address
		want  string
	}{
		{"closed port", closedPort, "connection refused"},
		{"plain HTTP server", func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}, "not a backupfs server: it answered plain HTTP"},
		{"TCP server that never speaks", func(t *testing.T) string { return tcpServer(t, false) }, "no answer within 5s"},
		{"TCP server that hangs up", func(t *testing.T) string { return tcpServer(t, true) }, "connection closed by the other end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.start(t)
			cmd := exec.Command(Binary(t), "ls", addr+":/")
			cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN=bfs1.x.y", "BACKUPFS_FINGERPRINT="+strings.Repeat("ab", 32))
			start := time.Now()
			r := RunCmd(t, cmd)
			took := time.Since(start)
			t.Logf("%s in %v: %s", tt.name, took.Round(time.Millisecond), strings.TrimSpace(r.Stderr))
			oneLineFailure(t, tt.name, r)
			if !strings.Contains(r.Stderr, addr) || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("stderr %q: want the address %s and %q", r.Stderr, addr, tt.want)
			}
			if took > 40*time.Second {
				t.Errorf("took %v to fail; want a few seconds", took)
			}
		})
	}
}

// closedPort returns an address of 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// tcpServer accepts connections on 127.0.0.1 and either holds them
// without a word or closes them at once.
func tcpServer(t *testing.T, hangUp bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if hangUp {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
