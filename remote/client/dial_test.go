package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
)

// TestDialNotServer: an HTTP server is reported as one, at once, with a
// sentinel a caller can branch on.
func TestDialNotServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, err := client.Dial(context.Background(), client.ClientConfig{Addr: addr, Token: "bfs1.x.y",
		Fingerprint: strings.Repeat("0", 64), Timeout: time.Minute})
	if !errors.Is(err, client.ErrNotServer) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("Dial of an HTTP server: %v; want ErrNotServer naming %s and plain HTTP", err, addr)
	}
}

// TestDialConnectTimeout: ClientConfig.ConnectTimeout bounds the first
// connection attempt in place of the 5 s default, and the error names it.
func TestDialConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never speaks
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = client.Dial(context.Background(), client.ClientConfig{Addr: ln.Addr().String(), Token: "bfs1.x.y",
		Fingerprint: strings.Repeat("0", 64), Timeout: time.Minute, ConnectTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Fatalf("Dial of a silent port with a 300ms connect timeout: %v", err)
	}
}

// TestReconnectSchedule: when an established session's server goes away
// and its port hangs up on every connection, requests in flight share one
// reconnect schedule with backoff: a handful of dials in the timeout, not
// one per request per retry (8 requests redialling on their own timers
// made ~50). The loss and the failed reconnects are logged as warnings;
// the error is one line.
func TestReconnectSchedule(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	var logs syncbuf.Buffer
	c, err := client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: srv.Token("r", "read:*"),
		Fingerprint: srv.Fingerprint, Timeout: 3 * time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Groups(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	dials := hangUpOn(t, srv.Addr)

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Groups() })
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "gave up after 3s") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("request while the server hangs up: %q; want it to give up after the timeout, in one line", err)
		}
	}
	if n := dials.Load(); n < 2 || n > 16 {
		t.Errorf("%d dials in 3 s for 8 requests; want a few, on one schedule with backoff", n)
	}
	for _, want := range []string{"level=WARN msg=\"connection lost, reconnecting\"", "level=WARN msg=\"reconnect failed\"", "server=" + srv.Addr} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	t.Logf("%d dials; log:\n%s", dials.Load(), logs.String())
}

// hangUpOn listens on addr (which a stopped server just left) and closes
// every connection at once, counting them.
func hangUpOn(t *testing.T, addr string) *atomic.Int64 {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old socket's close may race
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			nc.Close()
		}
	}()
	return &n
}
