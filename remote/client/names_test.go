package client_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/remotetest/badnames"
)

// The client refuses bad names before anything goes on the wire.
func TestHardenNamesClientSide(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	cl := srv.Dial(srv.Token("all", "read:*", "backup:*"))
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	host := catalog.Group{Type: "host", ID: "a"}
	for _, n := range badnames.Files {
		if _, err := cl.ReadFile(host, at, n); !errors.Is(err, catalog.ErrName) && !hardRefusal(err) {
			t.Errorf("ReadFile(%q): %v", n, err)
		}
	}
	for _, g := range badnames.Groups {
		grp := catalog.Group{Type: "host", ID: g}
		if _, err := cl.Snapshots(grp); err == nil {
			t.Errorf("Snapshots(%q) succeeded", grp)
		}
		if _, err := cl.ReadFile(grp, at, catalog.ManifestName); err == nil {
			t.Errorf("ReadFile(%q) succeeded", grp)
		}
		if b, err := cl.Begin(grp, at); err == nil {
			b.Abort()
			t.Errorf("Begin(%q) succeeded", grp)
		}
	}
	if ents, err := os.ReadDir(srv.Dir); err != nil || len(ents) == 0 {
		t.Fatalf("empty datastore: %v", err)
	}
	if gs, _ := srv.Store.Groups(); len(gs) != 0 {
		t.Fatalf("groups created: %v", gs)
	}
}

// hardRefusal says err is a clear refusal (not a lost connection).
func hardRefusal(err error) bool {
	var se *client.ServerError
	return errors.As(err, &se)
}
