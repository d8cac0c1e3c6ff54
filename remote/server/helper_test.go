package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/syncbuf"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvEnv is a real server over TLS on 127.0.0.1 with a temp datastore.
type srvEnv struct {
	t      testing.TB
	st     *store.Store
	toks   *auth.Tokens
	srv    *Server
	addr   string
	tlsCfg *tls.Config // client side, pinned
	logs   *syncbuf.Buffer
	done   chan error
	once   sync.Once
	err    error
}

func srvStart(t testing.TB, lim Limits, opts ...func(*ServerConfig)) *srvEnv {
	t.Helper()
	return srvStartWrap(t, lim, nil, opts...)
}

// srvStartWrap is srvStart with the server's datastore wrapped by wrap (if
// not nil); srvEnv.st is the directory store under it.
func srvStartWrap(t testing.TB, lim Limits, wrap func(store.Datastore) store.Datastore, opts ...func(*ServerConfig)) *srvEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Init(dir, store.Options{})
	must(t, err)
	toks, err := auth.OpenTokens(dir)
	must(t, err)
	cert, err := auth.LoadOrCreateCert(dir)
	must(t, err)
	ccfg, err := auth.ClientConfig(auth.Fingerprint(cert))
	must(t, err)
	e := &srvEnv{t: t, st: st, toks: toks, tlsCfg: ccfg, logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ds := st.Datastore()
	if wrap != nil {
		ds = wrap(ds)
	}
	cfg := ServerConfig{Store: ds, Tokens: toks, TLS: auth.ServerConfig(cert), Log: log, Limits: lim, Name: "test"}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = NewServer(cfg)
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	e.addr = ln.Addr().String()
	go func() { e.done <- e.srv.Serve(ln) }()
	t.Cleanup(func() { e.shutdown(10 * time.Second) })
	return e
}

// shutdown stops the server and checks Serve returned nil (idempotent).
func (e *srvEnv) shutdown(d time.Duration) error {
	e.once.Do(func() { e.err = e.doShutdown(d) })
	return e.err
}

func (e *srvEnv) doShutdown(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	select {
	case serr := <-e.done:
		if serr != nil {
			e.t.Errorf("Serve returned %v after Shutdown", serr)
		}
	case <-time.After(d):
		e.t.Errorf("Serve did not return after Shutdown")
	}
	return err
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// token creates a token from rules like "read:host/a".
func (e *srvEnv) token(name string, rules ...string) string {
	var rs []auth.Rule
	for _, r := range rules {
		rule, err := auth.ParseRule(r)
		must(e.t, err)
		rs = append(rs, rule)
	}
	secret, err := e.toks.Create(name, rs)
	must(e.t, err)
	return secret
}

// snapshot publishes a snapshot of g at t holding one image of the chunks.
func (e *srvEnv) snapshot(g catalog.Group, t time.Time, chunks [][]byte) []catalog.Digest {
	e.t.Helper()
	w, err := e.st.Begin(g, t)
	must(e.t, err)
	iw, err := catalog.NewFixedIndexWriter(uint32(len(chunks[0])))
	must(e.t, err)
	var ds []catalog.Digest
	for _, c := range chunks {
		d := catalog.Sum(c)
		_, err := w.PutChunk(d, c)
		must(e.t, err)
		must(e.t, iw.Add(d, len(c)))
		ds = append(ds, d)
	}
	idx := iw.Encode(t)
	must(e.t, w.WriteFile("disk.img.fidx", idx))
	must(e.t, w.Commit(srvManifest(g, t, iw.Size(), idx)))
	return ds
}

func srvManifest(g catalog.Group, t time.Time, size uint64, idx []byte) *catalog.Manifest {
	return &catalog.Manifest{
		Version: catalog.ManifestVersion, Group: g.String(), Time: catalog.FormatTime(t),
		Archives: []catalog.Archive{{Name: "disk.img", Kind: catalog.KindImage, Size: size,
			Files: []catalog.IndexFile{{Name: "disk.img.fidx", Size: int64(len(idx)), SHA256: catalog.Sum(idx)}}}},
	}
}

// srvChunks returns n random chunks of size bytes (the last may be shorter).
func srvChunks(seed uint64, n, size int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		for j := range out[i] {
			out[i][j] = byte(r.Uint32())
		}
	}
	return out
}

// rawClient speaks frames to the server directly.
type rawClient struct {
	t     testing.TB
	nc    net.Conn
	hello wire.Frame // the server's answer to HELLO
}

// dialRaw connects and sends a HELLO with token and version.
func (e *srvEnv) dialRaw(token string, version uint16) *rawClient {
	e.t.Helper()
	tc, err := tls.Dial("tcp", e.addr, e.tlsCfg)
	must(e.t, err)
	c := &rawClient{t: e.t, nc: tc}
	e.t.Cleanup(func() { tc.Close() })
	c.send(wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: version, Token: token}.Append(nil)})
	c.hello = c.recv()
	return c
}

// dial connects with a good hello.
func (e *srvEnv) dial(token string) *rawClient {
	e.t.Helper()
	c := e.dialRaw(token, wire.Version)
	if c.hello.Type != wire.THello {
		e.t.Fatalf("hello answered %v %q", c.hello.Type, c.hello.Payload)
	}
	return c
}

func (c *rawClient) send(f wire.Frame) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	must(c.t, wire.WriteFrame(c.nc, f))
}

func (c *rawClient) sendBytes(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	must(c.t, err)
}

// next reads one frame (io.EOF or an error when the server closed).
func (c *rawClient) next() (wire.Frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return wire.ReadFrame(c.nc)
}

func (c *rawClient) recv() wire.Frame {
	c.t.Helper()
	f, err := c.next()
	must(c.t, err)
	return f
}

// call sends a one-frame request and returns its single answer frame.
func (c *rawClient) call(t wire.Type, id uint32, payload []byte) wire.Frame {
	c.t.Helper()
	c.send(wire.Frame{Type: t, ID: id, Payload: payload})
	f := c.recv()
	if f.ID != id {
		c.t.Fatalf("answer to id %d has id %d (%v)", id, f.ID, f.Type)
	}
	return f
}

// wantError checks f is an ERROR with code and a message containing sub.
func wantError(t testing.TB, f wire.Frame, code wire.Code, sub string) wire.Error {
	t.Helper()
	if f.Type != wire.TError {
		t.Fatalf("got %v, want ERROR %v", f.Type, code)
	}
	e, err := wire.DecodeError(f.Payload)
	must(t, err)
	if e.Code != code || !strings.Contains(e.Message, sub) {
		t.Fatalf("got ERROR %v %q, want %v containing %q", e.Code, e.Message, code, sub)
	}
	return e
}

// getFile downloads a file.
func (c *rawClient) getFile(id uint32, g string, at time.Time, name string) ([]byte, error) {
	c.t.Helper()
	c.send(wire.Frame{Type: wire.TGetFile, ID: id, Payload: wire.GetFile{Group: g, Time: at.Unix(), Name: name}.Append(nil)})
	asm := wire.NewFileAssembler(wire.MaxFileTotal)
	for {
		f := c.recv()
		if f.Type == wire.TError {
			e, _ := wire.DecodeError(f.Payload)
			return nil, e
		}
		fd, err := wire.DecodeFileData(f.Payload)
		must(c.t, err)
		done, err := asm.Add(fd, f.More())
		must(c.t, err)
		if done {
			return asm.Bytes(), nil
		}
	}
}

// chunks asks for digests and returns the answers by digest (CHUNK: the
// blob; MISSING: nil) and the codes of the MISSING ones.
func (c *rawClient) chunks(id uint32, ds ...catalog.Digest) (map[catalog.Digest][]byte, map[catalog.Digest]wire.Code) {
	c.t.Helper()
	c.send(wire.Frame{Type: wire.TGetChunks, ID: id, Payload: wire.GetChunks{Digests: ds}.Append(nil)})
	blobs, codes := map[catalog.Digest][]byte{}, map[catalog.Digest]wire.Code{}
	for range ds {
		f := c.recv()
		switch f.Type {
		case wire.TChunk:
			ch, err := wire.DecodeChunk(f.Payload)
			must(c.t, err)
			blobs[ch.Digest] = ch.Blob
		case wire.TMissing:
			m, err := wire.DecodeMissing(f.Payload)
			must(c.t, err)
			codes[m.Digest] = m.Code
		default:
			c.t.Fatalf("GET_CHUNKS answered %v", f.Type)
		}
	}
	return blobs, codes
}

// waitClosed reads until the server closes; it returns the frames seen.
func (c *rawClient) waitClosed() []wire.Frame {
	c.t.Helper()
	var fs []wire.Frame
	for {
		f, err := c.next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("server did not close the connection")
			}
			if !errors.Is(err, io.EOF) {
				c.t.Logf("closed with %v", err)
			}
			return fs
		}
		fs = append(fs, f)
	}
}

// ping checks the connection works.
func (c *rawClient) ping() {
	c.t.Helper()
	f := c.call(wire.TPing, 0, wire.Ping{Nonce: 42}.Append(nil))
	if p, err := wire.DecodePing(f.Payload); f.Type != wire.TPong || err != nil || p.Nonce != 42 {
		c.t.Fatalf("PING answered %v %v", f.Type, err)
	}
}
