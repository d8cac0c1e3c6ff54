package remote

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
)

// hardBadGroups are group strings no request may resolve to a path.
var hardBadGroups = []string{
	"", "..", "../..", "/x", "host/..", "host/../../etc", "../host/a", "host/a/../../b",
	"host/a\x00b", "host\x00/a", strings.Repeat("a", 300), "host/" + strings.Repeat("b", 250),
	"host/\xff\xfe", "\xc0\xaf/a", "host/a\n", "host/.", "host/a/b", "/",
}

// hardBadFiles are file names no GET_FILE may open.
var hardBadFiles = []string{
	"", "..", "../manifest.json", "../../../etc/passwd", "/etc/passwd", "manifest.json\x00",
	"a\x00.fidx", ".fidx", "x/../disk.img.fidx", "sub/disk.img.fidx", strings.Repeat("a", 300) + ".fidx",
	"\xff\xfe.fidx", ".hidden.fidx", "disk.img", "manifest.json/",
}

// hardTree lists every path under root with its size and mtime.
func hardTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out = append(out, p+"/")
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+fi.ModTime().String())
		return nil
	})
	must(t, err)
	return out
}

// hardWantRefused reads the answer to a request with a bad name: an ERROR
// on the request (NOT_FOUND, DENIED, BAD_REQUEST) or a connection-level
// BAD_REQUEST after which the server closes. It reports whether the
// connection is still usable.
func hardWantRefused(t *testing.T, c *rawClient, id uint32) bool {
	t.Helper()
	f, err := c.next()
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if f.Type != wire.TError {
		t.Fatalf("bad name answered %v", f.Type)
	}
	e, err := wire.DecodeError(f.Payload)
	must(t, err)
	switch {
	case f.ID == 0 && e.Code == wire.CodeBadRequest:
		c.waitClosed()
		return false
	case f.ID == id && (e.Code == wire.CodeNotFound || e.Code == wire.CodeBadRequest || e.Code == wire.CodeDenied):
		return true
	}
	t.Fatalf("bad name answered ERROR %v %q id %d", e.Code, e.Message, f.ID)
	return false
}

// Bad group, time and file names on the wire are refused, per request or
// by closing that connection, and nothing outside the datastore (nor new
// inside it) is created or changed.
func TestHardenNamesOnTheWire(t *testing.T) {
	e := srvStart(t, Limits{})
	e.snapshot(srvHostA, srvT0, srvChunks(1, 2, 4096))
	tok := e.token("all", "read:*", "backup:*")
	parent := filepath.Dir(e.st.Dir())
	canary := filepath.Join(parent, "manifest.json")
	must(t, os.WriteFile(canary, []byte("outside"), 0o600))
	before := hardTree(t, parent)
	other := e.dial(tok)
	c := e.dial(tok)
	id := uint32(1)
	send := func(ft wire.Type, payload []byte) {
		t.Helper()
		id++
		c.send(wire.Frame{Type: ft, ID: id, Payload: payload})
		if !hardWantRefused(t, c, id) {
			c = e.dial(tok)
		}
	}
	for _, g := range hardBadGroups {
		send(wire.TListSnapshots, wire.ListSnapshots{Group: g}.Append(nil))
		send(wire.TGetFile, wire.GetFile{Group: g, Time: srvT0.Unix(), Name: catalog.ManifestName}.Append(nil))
		send(wire.TBackupBegin, wire.BackupBegin{Group: g, Time: srvT0.Add(time.Hour).Unix()}.Append(nil))
	}
	for _, n := range hardBadFiles {
		send(wire.TGetFile, wire.GetFile{Group: srvHostA.String(), Time: srvT0.Unix(), Name: n}.Append(nil))
	}
	for _, at := range []int64{math.MinInt64, math.MaxInt64, -1, 0, srvT0.Unix() + 1} {
		send(wire.TGetFile, wire.GetFile{Group: srvHostA.String(), Time: at, Name: catalog.ManifestName}.Append(nil))
	}
	// Times without a canonical snapshot name (outside years 0..9999).
	for _, at := range []int64{math.MinInt64, math.MaxInt64, 253402300800, -62167219201} {
		send(wire.TBackupBegin, wire.BackupBegin{Group: "host/z", Time: at}.Append(nil))
	}
	other.ping()
	e.shutdown(5 * time.Second)
	after := hardTree(t, parent)
	if !slices.Equal(before, after) {
		t.Fatalf("datastore tree changed:\nbefore %q\nafter  %q", before, after)
	}
	if b, err := os.ReadFile(canary); err != nil || string(b) != "outside" {
		t.Fatalf("canary: %q %v", b, err)
	}
}

// The client refuses bad names before anything goes on the wire.
func TestHardenNamesClientSide(t *testing.T) {
	e := srvStart(t, Limits{})
	cl := hardClient(t, e, e.token("all", "read:*", "backup:*"))
	for _, n := range hardBadFiles {
		if _, err := cl.ReadFile(srvHostA, srvT0, n); !errors.Is(err, catalog.ErrName) && !hardRefusal(err) {
			t.Errorf("ReadFile(%q): %v", n, err)
		}
	}
	for _, g := range hardBadGroups {
		grp := catalog.Group{Type: "host", ID: g}
		if _, err := cl.Snapshots(grp); err == nil {
			t.Errorf("Snapshots(%q) succeeded", grp)
		}
		if _, err := cl.ReadFile(grp, srvT0, catalog.ManifestName); err == nil {
			t.Errorf("ReadFile(%q) succeeded", grp)
		}
		if b, err := cl.Begin(grp, srvT0); err == nil {
			b.Abort()
			t.Errorf("Begin(%q) succeeded", grp)
		}
	}
	if n := len(hardTree(t, filepath.Join(e.st.Dir()))); n == 0 {
		t.Fatal("empty datastore")
	}
	if gs, _ := e.st.Groups(); len(gs) != 0 {
		t.Fatalf("groups created: %v", gs)
	}
}

// hardRefusal says err is a clear refusal (not a lost connection).
func hardRefusal(err error) bool {
	var se *ServerError
	return errors.As(err, &se)
}

// hardClient dials the real client to e.
func hardClient(t *testing.T, e *srvEnv, token string) *Client {
	t.Helper()
	cert, err := auth.LoadOrCreateCert(e.st.Dir()) // loads the server's
	must(t, err)
	cl, err := Dial(context.Background(), ClientConfig{Addr: e.addr, Token: token, Fingerprint: auth.Fingerprint(cert), Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}
