package integration

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// Server is a real `backupfs serve` process on 127.0.0.1.
type Server struct {
	t           testing.TB
	Datastore   string
	Addr        string // 127.0.0.1:PORT
	Fingerprint string
	mu          sync.Mutex // guards cmd and exited: a fault proxy's hook may Kill from its goroutine
	cmd         *exec.Cmd
	exited      chan struct{}
	opts        ServerOpts
	stderr      syncbuf.Buffer // every line the server logged
}

// ServerOpts change how StartServerWith runs `backupfs serve`.
type ServerOpts struct {
	// Wrap is a command the server runs under, e.g. {"prlimit",
	// "--nofile=128", "--"}: the backupfs command line is appended to it.
	Wrap []string
	// Args are extra flags for serve.
	Args []string
}

var listenRE = regexp.MustCompile(`listen(?:=|":")(127\.0\.0\.1:\d+)`) // text or JSON log

// StartServer starts backupfs serve on a free port of 127.0.0.1 over the
// datastore (made with backupfs init if it does not exist) and waits until
// it listens; the server is killed when the test ends.
func StartServer(t testing.TB, datastore string) *Server {
	t.Helper()
	return StartServerWith(t, datastore, ServerOpts{})
}

// StartServerWith is StartServer with options.
func StartServerWith(t testing.TB, datastore string, o ServerOpts) *Server {
	t.Helper()
	s := &Server{t: t, Datastore: datastore, opts: o}
	InitDatastore(t, datastore)
	s.Fingerprint = strings.TrimSpace(MustRun(t, "fingerprint", "--datastore", datastore))
	s.start("127.0.0.1:0")
	t.Cleanup(func() { s.Kill() })
	return s
}

func (s *Server) start(listen string) {
	s.t.Helper()
	argv := append(append([]string{}, s.opts.Wrap...), Binary(s.t), "serve", "--datastore", s.Datastore, "--listen", listen)
	cmd := exec.Command(argv[0], append(argv[1:], s.opts.Args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.stderr.Write([]byte(sc.Text() + "\n"))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			if testing.Verbose() {
				s.t.Log("server: " + sc.Text())
			}
		}
	}()
	go func() { cmd.Wait(); close(exited) }()
	select {
	case a := <-addr:
		if s.Addr != a { // a restart keeps the address; don't race the proxy's reads
			s.Addr = a
		}
	case <-exited:
		s.t.Fatal("backupfs serve exited before listening")
	case <-time.After(time.Minute): // generous: a loaded machine
		s.t.Fatal("backupfs serve did not report its address within a minute")
	}
}

// Kill ends the server with SIGKILL (no clean shutdown) and waits.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// Exited reports whether the server process has ended.
func (s *Server) Exited() bool {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	select {
	case <-exited:
		return true
	default:
		return false
	}
}

// Pid is the server process's id.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Log returns what the server has logged so far.
func (s *Server) Log() string { return s.stderr.String() }

// Stop ends the server with SIGTERM (graceful shutdown) and waits.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
}

// Restart starts the server again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.start(s.Addr)
}

// Token creates a token with the given --allow rules and returns its secret.
func (s *Server) Token(name string, allow ...string) string {
	s.t.Helper()
	args := []string{"token", "--datastore", s.Datastore, "create", name}
	for _, a := range allow {
		args = append(args, "--allow", a)
	}
	out := strings.TrimSpace(MustRun(s.t, args...))
	lines := strings.Split(out, "\n")
	return lines[len(lines)-1]
}

// Client runs the backupfs binary as a client of this server with token.
func (s *Server) Client(token string, args ...string) Result {
	s.t.Helper()
	cmd := exec.Command(Binary(s.t), args...)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+token, "BACKUPFS_FINGERPRINT="+s.Fingerprint)
	return RunCmd(s.t, cmd)
}

// MustClient is Client that fails the test unless the command exits 0.
func (s *Server) MustClient(token string, args ...string) string {
	s.t.Helper()
	r := s.Client(token, args...)
	if r.Code != 0 {
		s.t.Fatalf("backupfs %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Repo is the server's repository path prefix: "127.0.0.1:PORT:" + path.
func (s *Server) Repo(path string) string { return s.Addr + ":" + path }
