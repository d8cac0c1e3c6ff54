package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

var (
	srvT0    = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	srvHostA = catalog.Group{Type: "host", ID: "a"}
	srvHostB = catalog.Group{Type: "host", ID: "b"}
)

func TestServerHello(t *testing.T) {
	e := srvStart(t, Limits{})
	good := e.token("alice", "read:*")
	revoked := e.token("bob", "read:*")
	must(t, e.toks.Revoke("bob"))
	tests := []struct {
		name    string
		token   string
		version uint16
		code    wire.Code // 0: HELLO
		msg     string
	}{
		{"good", good, wire.Version, 0, ""},
		{"version", good, wire.Version + 1, wire.CodeVersion, fmt.Sprintf("client speaks protocol %d, server speaks %d", wire.Version+1, wire.Version)},
		{"old version 2", good, 2, wire.CodeVersion, fmt.Sprintf("client speaks protocol 2, server speaks %d", wire.Version)},
		{"old version 3", good, 3, wire.CodeVersion, fmt.Sprintf("client speaks protocol 3, server speaks %d", wire.Version)},
		{"wrong secret", good[:len(good)-3] + "AAA", wire.Version, wire.CodeDenied, "invalid or revoked token"},
		{"revoked", revoked, wire.Version, wire.CodeDenied, "invalid or revoked token"},
		{"malformed", "hunter2", wire.Version, wire.CodeDenied, "invalid or revoked token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dialRaw(tt.token, tt.version)
			if tt.code == 0 {
				h, err := wire.DecodeServerHello(c.hello.Payload)
				if c.hello.Type != wire.THello || err != nil || h.Name != "test" {
					t.Fatalf("hello: %v %+v %v", c.hello.Type, h, err)
				}
				c.ping()
				return
			}
			wantError(t, c.hello, tt.code, tt.msg)
			c.waitClosed()
		})
	}
	logs := e.logs.String()
	for _, secret := range []string{good, revoked, good[len(good)-20:], "hunter2"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret: %s", logs)
		}
	}
	if !strings.Contains(logs, `token="\"bob\""`) && !strings.Contains(logs, `bob`) {
		t.Errorf("denial log does not name the token: %s", logs)
	}
}

func TestServerTokenName(t *testing.T) {
	for in, want := range map[string]string{
		"bfs1.alice.SECRETSECRET": `"alice"`,
		"hunter2":                 "(malformed)",
		"bfs1.nodot":              "(malformed)",
		"bfs1." + strings.Repeat("x", 100) + ".s": `"` + strings.Repeat("x", 64) + `..."`,
	} {
		if got := srvTokenName(in); got != want {
			t.Errorf("srvTokenName(%q) = %s, want %s", in, got, want)
		}
	}
}

// srvReadEnv has host/a and host/b with three chunks each.
func srvReadEnv(t *testing.T) (*srvEnv, []catalog.Digest, []catalog.Digest) {
	e := srvStart(t, Limits{})
	a := e.snapshot(srvHostA, srvT0, srvChunks(1, 3, 4096))
	b := e.snapshot(srvHostB, srvT0, srvChunks(2, 3, 4096))
	return e, a, b
}

func TestServerListScoped(t *testing.T) {
	e, _, _ := srvReadEnv(t)
	c := e.dial(e.token("ra", "read:host/a"))
	f := c.call(wire.TListGroups, 1, nil)
	gs, err := wire.DecodeGroups(f.Payload)
	if f.Type != wire.TGroups || err != nil || len(gs.Groups) != 1 || gs.Groups[0] != "host/a" {
		t.Fatalf("LIST_GROUPS: %v %v %v", f.Type, gs, err)
	}
	f = c.call(wire.TListSnapshots, 2, wire.ListSnapshots{Group: "host/a"}.Append(nil))
	ss, err := wire.DecodeSnapshots(f.Payload)
	if err != nil || len(ss.Times) != 1 || ss.Times[0] != srvT0.Unix() {
		t.Fatalf("LIST_SNAPSHOTS: %v %v", ss, err)
	}
	// Unreadable, missing and malformed groups look alike.
	for i, g := range []string{"host/b", "host/zz", "nonsense"} {
		f = c.call(wire.TListSnapshots, uint32(10+i), wire.ListSnapshots{Group: g}.Append(nil))
		wantError(t, f, wire.CodeNotFound, "no group \""+g+"\" readable with token \"ra\"")
		_, err := c.getFile(uint32(20+i), g, srvT0, catalog.ManifestName)
		if we, ok := err.(wire.Error); !ok || we.Code != wire.CodeNotFound {
			t.Errorf("GET_FILE %s: %v", g, err)
		}
	}
}

func TestServerGetFileAndChunks(t *testing.T) {
	e, a, b := srvReadEnv(t)
	c := e.dial(e.token("ra", "read:host/a"))
	want, err := e.st.ReadFile(srvHostA, srvT0, catalog.ManifestName)
	must(t, err)
	got, err := c.getFile(1, "host/a", srvT0, catalog.ManifestName)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GET_FILE manifest: %v", err)
	}
	// Before any index is downloaded, even a's chunks are denied.
	_, codes := c.chunks(2, a[0])
	if codes[a[0]] != wire.CodeDenied {
		t.Fatalf("chunk before index: %v", codes)
	}
	idx, err := c.getFile(3, "host/a", srvT0, "disk.img.fidx")
	must(t, err)
	if want, _ := e.st.ReadFile(srvHostA, srvT0, "disk.img.fidx"); !bytes.Equal(idx, want) {
		t.Fatal("index bytes differ")
	}
	unknown := catalog.Sum([]byte("not referenced"))
	blobs, codes := c.chunks(4, a[0], a[1], a[2], b[0], unknown)
	for _, d := range a {
		if _, err := store.DecodeBlob(blobs[d], d); err != nil {
			t.Errorf("chunk %s: %v", d, err)
		}
	}
	if codes[b[0]] != wire.CodeDenied || codes[unknown] != wire.CodeDenied || len(codes) != 2 {
		t.Errorf("other group's / unreferenced chunk: %v", codes)
	}
	// A referenced chunk gone from the store is NOT_FOUND; a damaged one CORRUPT.
	chunkPath := func(d catalog.Digest) string {
		h := d.String()
		return filepath.Join(e.st.Dir(), ".chunks", h[:4], h)
	}
	must(t, os.Remove(chunkPath(a[1])))
	blob, _ := os.ReadFile(chunkPath(a[2]))
	blob[len(blob)-1] ^= 1
	must(t, os.WriteFile(chunkPath(a[2]), blob, 0o600))
	_, codes = c.chunks(5, a[1], a[2])
	if codes[a[1]] != wire.CodeNotFound || codes[a[2]] != wire.CodeCorrupt {
		t.Errorf("missing/corrupt: %v", codes)
	}
	if s := e.srv.Stats(); s.ChunksServed != 3 || s.ChunksMissing != 5 {
		t.Errorf("stats %+v", s)
	}
}

// A second reader with host/b can read b's chunks after its own index
// download, while the grant cache is shared.
func TestServerGrantsPerConnection(t *testing.T) {
	e, a, b := srvReadEnv(t)
	ca := e.dial(e.token("ra", "read:host/a"))
	cb := e.dial(e.token("rb", "read:*"))
	_, err := ca.getFile(1, "host/a", srvT0, "disk.img.fidx")
	must(t, err)
	_, codes := cb.chunks(1, a[0])
	if codes[a[0]] != wire.CodeDenied {
		t.Fatalf("grant leaked across connections: %v", codes)
	}
	_, err = cb.getFile(2, "host/b", srvT0, "disk.img.fidx")
	must(t, err)
	blobs, _ := cb.chunks(3, b[0])
	if blobs[b[0]] == nil {
		t.Fatal("b's chunk not served")
	}
}

func TestServerDigestCacheEvicts(t *testing.T) {
	e, a, b := srvReadEnv(t)
	dc := srvNewDigestCache(e.st, 3*catalog.DigestSize) // one table
	ka := srvFileKey{srvSnapKey{"host/a", srvT0.Unix()}, "disk.img.fidx"}
	kb := srvFileKey{srvSnapKey{"host/b", srvT0.Unix()}, "disk.img.fidx"}
	ta, err := dc.get(ka)
	must(t, err)
	if !srvTableHas(ta, &a[1]) || srvTableHas(ta, &b[1]) {
		t.Fatal("table a wrong")
	}
	if _, err := dc.get(kb); err != nil {
		t.Fatal(err)
	}
	if _, ok := dc.m[ka]; ok || dc.used != 3*catalog.DigestSize {
		t.Fatalf("a not evicted: used %d", dc.used)
	}
	if ta, err = dc.get(ka); err != nil || !srvTableHas(ta, &a[2]) {
		t.Fatalf("reload: %v", err)
	}
	if _, err := dc.get(srvFileKey{ka.srvSnapKey, "nope.img.fidx"}); err == nil {
		t.Fatal("missing file loaded")
	}
}
