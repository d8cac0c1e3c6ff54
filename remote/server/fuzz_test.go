package server

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// FuzzServerConn feeds arbitrary bytes, after a valid HELLO, into a server
// connection over net.Pipe (no TLS) and checks that the connection ends
// soon after the peer closes: no panic, no hang. Seeds in
// testdata/fuzz/FuzzServerConn hold frame sequences for every request
// type (see srvFuzzSeeds in fuzzseed_test.go).
func FuzzServerConn(f *testing.F) {
	dir := f.TempDir()
	st, err := store.Init(dir, store.Options{})
	must(f, err)
	toks, err := auth.OpenTokens(dir)
	must(f, err)
	secret, err := toks.Create("fz", []auth.Rule{{Perm: auth.PermRead, Pattern: "*"}, {Perm: auth.PermBackup, Pattern: "host/c"}})
	must(f, err)
	env := &srvEnv{t: f, st: st}
	env.snapshot(srvHostA, srvT0, srvChunks(1, 2, 4096))
	lim := Limits{InFlight: 8, Buffered: 1 << 20, FrameTimeout: 200 * time.Millisecond, IdleTimeout: time.Second, MaxFile: 1 << 20}
	srv, err := NewServer(ServerConfig{Store: st.Datastore(), Tokens: toks, Log: slog.New(slog.DiscardHandler), Limits: lim})
	must(f, err)
	hello := wire.AppendFrame(nil, wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version, Token: secret}.Append(nil)})
	f.Fuzz(func(t *testing.T, data []byte) {
		cli, sc := net.Pipe()
		srv.start(sc)
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, cli); close(drained) }()
		_ = cli.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := cli.Write(hello); err == nil {
			_, _ = cli.Write(data)
		}
		cli.Close()
		<-drained
		deadline := time.Now().Add(10 * time.Second)
		for srv.Stats().Open != 0 {
			if time.Now().After(deadline) {
				t.Fatal("server connection did not end after the peer closed")
			}
			time.Sleep(time.Millisecond)
		}
	})
}
