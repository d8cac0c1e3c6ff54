package server

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
)

// hardWaitLog waits until the server's log has a line containing every sub.
func hardWaitLog(t *testing.T, e *srvEnv, subs ...string) {
	t.Helper()
	if !e.logHas(5*time.Second, subs...) {
		t.Fatalf("no log line with %q in:\n%s", subs, e.logs)
	}
}

// Wrong, revoked and out-of-scope tokens and chunks asked by digest
// without a granting index are denied with a clear error AND logged;
// no secret ever reaches the log.
func TestHardenSecurityDeniedAndLogged(t *testing.T) {
	e := srvStart(t, Limits{})
	ds := e.snapshot(srvHostA, srvT0, srvChunks(3, 2, 4096))
	e.snapshot(srvHostB, srvT0, srvChunks(4, 2, 4096))
	readA := e.token("reader-a", "read:host/a", "backup:host/a")
	gone := e.token("gone", "read:*")
	secrets := []string{readA, gone}
	must(t, e.toks.Revoke("gone"))

	t.Run("wrong token", func(t *testing.T) {
		bad := readA[:len(readA)-4] + "AAAA"
		secrets = append(secrets, bad)
		c := e.dialRaw(bad, wire.Version)
		wantError(t, c.hello, wire.CodeDenied, "invalid or revoked token")
		c.waitClosed()
		hardWaitLog(t, e, "denied", `"\"reader-a\""`)
	})
	t.Run("garbage token", func(t *testing.T) {
		c := e.dialRaw("hunter2-not-a-token", wire.Version)
		secrets = append(secrets, "hunter2-not-a-token")
		wantError(t, c.hello, wire.CodeDenied, "invalid or revoked token")
		hardWaitLog(t, e, "denied", "(malformed)")
	})
	t.Run("revoked token", func(t *testing.T) {
		c := e.dialRaw(gone, wire.Version)
		wantError(t, c.hello, wire.CodeDenied, "invalid or revoked token")
		hardWaitLog(t, e, "denied", `gone`)
	})
	c := e.dial(readA)
	t.Run("out of scope read", func(t *testing.T) {
		wantError(t, c.call(wire.TListSnapshots, 1, wire.ListSnapshots{Group: srvHostB.String()}.Append(nil)), wire.CodeNotFound, `no group "host/b" readable with token "reader-a"`)
		hardWaitLog(t, e, "denied read", "group=host/b", "token=reader-a")
		f := c.call(wire.TGetFile, 2, wire.GetFile{Group: srvHostB.String(), Time: srvT0.Unix(), Name: catalog.ManifestName}.Append(nil))
		wantError(t, f, wire.CodeNotFound, "host/b")
	})
	t.Run("out of scope backup", func(t *testing.T) {
		f := c.call(wire.TBackupBegin, 3, wire.BackupBegin{Group: srvHostB.String(), Time: srvT0.Add(time.Hour).Unix()}.Append(nil))
		wantError(t, f, wire.CodeDenied, `token "reader-a" may not back up "host/b"`)
		hardWaitLog(t, e, "denied backup", "group=host/b", "token=reader-a")
	})
	t.Run("chunk by digest without grant", func(t *testing.T) {
		_, codes := c.chunks(4, ds...)
		for _, d := range ds {
			if codes[d] != wire.CodeDenied {
				t.Fatalf("chunk %s without its index: code %v", d, codes[d])
			}
		}
		hardWaitLog(t, e, "denied chunks", "count=2", "token=reader-a")
		// With the index downloaded, the same digests are served.
		_, err := c.getFile(5, srvHostA.String(), srvT0, "disk.img.fidx")
		must(t, err)
		if blobs, _ := c.chunks(6, ds...); len(blobs) != len(ds) {
			t.Fatalf("granted chunks: %d of %d served", len(blobs), len(ds))
		}
	})
	e.shutdown(5 * time.Second)
	logs := e.logs.String()
	for _, s := range secrets {
		secret := s[strings.LastIndexByte(s, '.')+1:]
		if strings.Contains(logs, secret) {
			t.Fatalf("log holds a secret %q:\n%s", secret, logs)
		}
	}
}

// Plain TCP (no TLS) gets no answer and is closed; the server logs it and
// keeps serving TLS clients.
func TestHardenPlainTCPRefused(t *testing.T) {
	e := srvStart(t, Limits{FrameTimeout: 2 * time.Second})
	tok := e.token("r", "read:*")
	other := e.dial(tok)
	nc, err := net.Dial("tcp", e.addr)
	must(t, err)
	defer nc.Close()
	hello := wire.AppendFrame(nil, wire.Frame{Type: wire.THello, Payload: wire.ClientHello{Version: wire.Version, Token: tok}.Append(nil)})
	_, err = nc.Write(hello)
	must(t, err)
	must(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 512)
	var got []byte
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("plain TCP connection not closed")
			}
			break
		}
	}
	if len(got) >= wire.HeaderSize && wire.Type(got[0]) == wire.THello {
		t.Fatalf("plain TCP got a HELLO: %q", got)
	}
	hardWaitLog(t, e, "connection refused", "tls handshake")
	other.ping()
	if strings.Contains(e.logs.String(), tok[strings.LastIndexByte(tok, '.')+1:]) {
		t.Fatal("token secret logged")
	}
}
