package server

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/remotetest/badnames"
	"github.com/backupfs/backupfs/remote/wire"
)

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
	for _, g := range badnames.Groups {
		send(wire.TListSnapshots, wire.ListSnapshots{Group: g}.Append(nil))
		send(wire.TGetFile, wire.GetFile{Group: g, Time: srvT0.Unix(), Name: catalog.ManifestName}.Append(nil))
		send(wire.TBackupBegin, wire.BackupBegin{Group: g, Time: srvT0.Add(time.Hour).Unix()}.Append(nil))
	}
	for _, n := range badnames.Files {
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
