// Package remotetest starts real backupfs servers for tests: TLS on
// 127.0.0.1, a token store and a self-signed certificate in the datastore,
// exactly as `backupfs serve` sets them up. Nothing is faked.
package remotetest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/server"
	"github.com/backupfs/backupfs/store"
)

// Server is a running server over a datastore directory.
type Server struct {
	t           testing.TB
	Dir         string
	Addr        string
	Fingerprint string
	Store       *store.Store
	Tokens      *auth.Tokens
	Srv         *server.Server
	cfg         server.ServerConfig
	done        chan error
}

// Start serves the datastore in dir on a free port of 127.0.0.1 until the
// test ends. A missing or empty dir gets a new datastore, as backupfs init
// makes one. Each of opts may change the server's configuration (e.g. set
// its Push hook) before it starts.
func Start(t testing.TB, dir string, opts ...func(*server.ServerConfig)) *Server {
	t.Helper()
	s := &Server{t: t, Dir: dir}
	st, err := store.Open(dir, store.Options{})
	if errors.Is(err, store.ErrNoDatastore) {
		st, err = store.Init(dir, store.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	toks, err := auth.OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := auth.LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Store, s.Tokens, s.Fingerprint = st, toks, auth.Fingerprint(cert)
	s.cfg = server.ServerConfig{Store: st.Datastore(), Tokens: toks, TLS: auth.ServerConfig(cert), Log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&s.cfg)
	}
	s.listen("127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) listen(addr string) {
	s.t.Helper()
	srv, err := server.NewServer(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // a restart may race the old socket's close
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.Srv, s.Addr, s.done = srv, ln.Addr().String(), make(chan error, 1)
	go func() { s.done <- srv.Serve(ln) }()
}

// Stop shuts the server down gracefully (idempotent).
func (s *Server) Stop() {
	if s.Srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Srv.Shutdown(ctx)
	<-s.done
	s.Srv = nil
}

// Restart stops the server and starts a new one on the same address.
func (s *Server) Restart() {
	s.Stop()
	s.listen(s.Addr)
}

// Token creates a token from rules such as "read:*" and returns its secret.
func (s *Server) Token(name string, rules ...string) string {
	s.t.Helper()
	var rs []auth.Rule
	for _, r := range rules {
		rule, err := auth.ParseRule(r)
		if err != nil {
			s.t.Fatal(err)
		}
		rs = append(rs, rule)
	}
	secret, err := s.Tokens.Create(name, rs)
	if err != nil {
		s.t.Fatal(err)
	}
	return secret
}

// Dial connects a client with token.
func (s *Server) Dial(token string) *client.Client {
	s.t.Helper()
	c, err := client.Dial(context.Background(), client.ClientConfig{Addr: s.Addr, Token: token, Fingerprint: s.Fingerprint, Timeout: 20 * time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}
