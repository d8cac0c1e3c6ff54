package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/store"
)

// TestGetFileScope: the real server's GET_FILE answers only for groups the
// token may read, even to a client that skips listing and asks for a
// snapshot's files by group, time and name (the CLI lists first, so
// TestNetworkAccess stops at the listing). A reader of host/a downloads
// host/a's manifest and index, byte for byte, and gets NOT_FOUND for
// host/b's, the same answer as for a group that does not exist, naming
// nothing of host/b's contents; the failed download grants none of host/b's
// chunks. A backup:host/b token reads host/b's previous index only inside
// its backup session, on the session's connection: not before, and not
// from another connection while the session is open.
func TestGetFileScope(t *testing.T) {
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	admin := srv.Token("admin", "read:*", "backup:*")
	t1 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, g := range []string{"a", "b"} {
		img := filepath.Join(t.TempDir(), g+"secret.img")
		writeRandom(t, img, 1<<20, uint64(g[0]))
		srv.MustClient(admin, "backup", "--time", catalog.FormatTime(t1), srv.Repo("/host/"+g), g+"secret.img:"+img)
	}
	ga, gb := catalog.Group{Type: "host", ID: "a"}, catalog.Group{Type: "host", ID: "b"}
	files := func(g catalog.Group) []string {
		return []string{catalog.ManifestName, g.ID + "secret.img" + catalog.FixedIndexSuffix}
	}

	reader := dialServer(t, srv, srv.Token("reader-a", "read:host/a"))
	for _, name := range files(ga) {
		got, err := reader.ReadFile(ga, t1, name)
		want := datastoreFile(t, srv, ga, t1, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reader of host/a: %s: %d bytes, %v; want the datastore's %d bytes", name, len(got), err, len(want))
		}
	}
	for _, name := range files(gb) {
		got, err := reader.ReadFile(gb, t1, name)
		if err == nil || len(got) != 0 {
			t.Fatalf("reader of host/a downloaded host/b's %s: %d bytes, %v", name, len(got), err)
		}
		checkNotFound(t, "host/a reader, host/b's "+name, err, readFileErr(t, reader, "host/zz", t1, name), "bsecret")
	}
	d := firstChunk(t, datastoreFile(t, srv, gb, t1, files(gb)[1]))
	if data, err := reader.Chunk(d); !errors.Is(err, client.ErrDenied) {
		t.Fatalf("host/a reader fetched host/b's chunk after a refused index download: %d bytes, %v; want denied", len(data), err)
	}

	writer := dialServer(t, srv, srv.Token("writer-b", "backup:host/b"))
	for _, name := range files(gb) {
		_, err := writer.ReadFile(gb, t1, name)
		checkNotFound(t, "backup:host/b token outside a session, "+name, err, readFileErr(t, writer, "host/zz", t1, name), "bsecret")
	}
	b, err := writer.Begin(gb, t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	if prev, ok := b.Previous(); !ok || !prev.Equal(t1) || b.Note() != "" {
		t.Fatalf("backup session of host/b: previous %v (%v), note %q; want %v read in the session", prev, ok, b.Note(), t1)
	}
	for _, name := range files(gb) {
		_, err := writer.ReadFile(gb, t1, name)
		checkNotFound(t, "backup:host/b token beside its session, "+name, err, readFileErr(t, writer, "host/zz", t1, name), "bsecret")
	}
}

// dialServer connects a protocol client to srv with token.
func dialServer(t *testing.T, srv *Server, token string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: token, Fingerprint: srv.Fingerprint, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// datastoreFile reads a snapshot's file straight from the server's
// datastore directory.
func datastoreFile(t *testing.T, srv *Server, g catalog.Group, at time.Time, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Datastore, g.Type, g.ID, catalog.FormatTime(at), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readFileErr is the error of downloading a file of a group by its name,
// which may be a group that does not exist.
func readFileErr(t *testing.T, c *client.Client, group string, at time.Time, name string) error {
	t.Helper()
	g, err := catalog.ParseGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadFile(g, at, name)
	return err
}

// checkNotFound: err is a one-line not-found answer, the same as absent
// (the error for a group that does not exist) once the group names are
// blanked, and it holds no secret.
func checkNotFound(t *testing.T, what string, err, absent error, secret string) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), secret) {
		t.Fatalf("%s: %v; want one not-found line naming nothing of its contents", what, err)
	}
	blank := strings.NewReplacer("host/b", "G", "host/zz", "G")
	if absent == nil || blank.Replace(err.Error()) != blank.Replace(absent.Error()) {
		t.Fatalf("%s: %q, but a missing group gets %v: the answer tells an existing group apart", what, err, absent)
	}
}

// firstChunk is the first chunk digest of an encoded index.
func firstChunk(t *testing.T, b []byte) catalog.Digest {
	t.Helper()
	idx, err := catalog.DecodeIndex(b)
	if err != nil || idx.NumChunks() == 0 {
		t.Fatalf("index: %d bytes, %v", len(b), err)
	}
	_, _, d := idx.Chunk(0)
	return d
}
