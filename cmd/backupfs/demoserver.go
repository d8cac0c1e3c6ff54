package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/server"
)

// demoServer is the server the demo runs in-process on 127.0.0.1.
type demoServer struct {
	addr, fingerprint, tokenFile string
	stop                         func()
}

// startDemoServer serves s on a free loopback port with a fresh demo token
// (written to a 0600 file, revoked again by stop).
func startDemoServer(ctx context.Context, e env, st *serverState) (*demoServer, error) {
	s, toks, cert := st.store, st.tokens, st.cert
	name := fmt.Sprintf("demo-%d", time.Now().Unix())
	secret, err := toks.Create(name, []auth.Rule{{Perm: auth.PermRead, Pattern: "host/demo"}, {Perm: auth.PermBackup, Pattern: "host/demo"}})
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(os.TempDir(), name+".token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.NewServer(server.ServerConfig{Store: s, Tokens: toks, TLS: auth.ServerConfig(cert), Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(e.stdout, "serving %s on %s (fingerprint %s) with token %s\n", s.String(), ln.Addr(), auth.Fingerprint(cert), name)
	stop := func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
		toks.Revoke(name)
		os.Remove(tokenFile)
	}
	return &demoServer{addr: ln.Addr().String(), fingerprint: auth.Fingerprint(cert), tokenFile: tokenFile, stop: stop}, nil
}
