package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// floodFrom opens n plain TCP connections to addr from the local address
// src and returns the ones that connected; they are held, never sending a
// byte, until the caller closes them. A connection the server closes at
// once still counts: the kernel completed it.
func floodFrom(t *testing.T, src, addr string, n int) (conns []net.Conn, failed int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	for range n {
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			failed++
			continue
		}
		conns = append(conns, nc)
	}
	return conns, failed
}

// openFileLimit reads the "Max open files" soft limit of process pid.
func openFileLimit(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Max open files\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no open file limit in /proc/%d/limits:\n%s", pid, b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestServeSurvivesConnectionFlood runs `backupfs serve` with 128 file
// descriptors (prlimit) and floods it from another address (127.0.0.2)
// with ten times as many plain TCP connections that never start TLS. A
// client with a token lists the server's snapshots after every hundred of
// them and after the flood: each `backupfs ls` succeeds and the server
// process lives on. Before the connection bounds, accept failed with
// "too many open files" and the server exited.
func TestServeSurvivesConnectionFlood(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatal("prlimit (util-linux) is required: ", err)
	}
	const nofile, rounds, perRound = 128, 10, 100
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{
		Wrap: []string{"prlimit", "--nofile=" + strconv.Itoa(nofile), "--"},
	})
	if got := openFileLimit(t, srv.Pid()); got != nofile {
		t.Fatalf("server runs with %d open files, want %d", got, nofile)
	}
	tok := srv.Token("reader", "read:*", "backup:*")
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("flood"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.MustClient(tok, "backup", "--time", "2026-12-01T10:00:00Z", srv.Repo("/host/flood"), "root.tree:"+src)
	list := func(when string) {
		t.Helper()
		if srv.Exited() {
			t.Fatalf("%s: the server exited; its log ends:\n%s", when, tail(srv.Log(), 5))
		}
		r := srv.Client(tok, "ls", srv.Repo("/host/flood"))
		if r.Code != 0 || !strings.Contains(r.Stdout, "2026-12-01T10:00:00Z") {
			t.Fatalf("%s: ls exit %d: %q %q", when, r.Code, r.Stdout, r.Stderr)
		}
	}
	start := time.Now()
	var held []net.Conn
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	for i := range rounds {
		conns, failed := floodFrom(t, "127.0.0.2", srv.Addr, perRound)
		held = append(held, conns...)
		if failed > 0 {
			t.Logf("round %d: %d connections failed to connect", i, failed)
		}
		list("after " + strconv.Itoa(len(held)) + " flood connections")
	}
	if len(held) < nofile {
		t.Fatalf("only %d of %d flood connections connected", len(held), rounds*perRound)
	}
	list("with the flood held")
	for _, nc := range held {
		nc.Close()
	}
	held = nil
	list("after the flood")
	logs := srv.Log()
	lines := strings.Count(logs, "connections refused")
	// One line at once, then at most one per 10 s (the server's refusal log).
	if most := 2 + int(time.Since(start)/(10*time.Second)); lines == 0 || lines > most {
		t.Fatalf("%d \"connections refused\" log lines in %v, want 1..%d", lines, time.Since(start), most)
	}
	if strings.Contains(logs, "too many open files") {
		t.Fatalf("the server ran out of file descriptors:\n%s", tail(logs, 5))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// The connection flags of serve are applied: with --max-conns-per-source
// 2 the third connection from one address is closed at once and logged;
// a negative bound is refused with one line.
func TestServeConnectionFlags(t *testing.T) {
	ds := filepath.Join(t.TempDir(), "ds")
	srv := StartServerWith(t, ds, ServerOpts{Args: []string{
		"--max-conns", "10", "--max-conns-per-source", "2", "--max-handshakes", "9", "--handshake-timeout", "1m"}})
	if !strings.Contains(srv.Log(), "max_conns=10 max_conns_per_source=2 max_handshakes=9") {
		t.Fatalf("serve does not report the bounds it was given:\n%s", srv.Log())
	}
	conns, failed := floodFrom(t, "127.0.0.3", srv.Addr, 3)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	if failed != 0 {
		t.Fatalf("%d connections failed", failed)
	}
	if err := conns[2].SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := conns[2].Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
		t.Fatalf("third connection from one address: read %d, %v; want it closed at once", n, err)
	}
	waitFor(t, time.Minute, "a refusal logged", func() bool {
		return strings.Contains(srv.Log(), "connections refused") && strings.Contains(srv.Log(), "per_source=1")
	})
	r := Run(t, "serve", "--datastore", ds, "--listen", "127.0.0.1:0", "--max-conns", "-1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "must not be negative") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("serve --max-conns -1: exit %d, %q", r.Code, r.Stderr)
	}
}
