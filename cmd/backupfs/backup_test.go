package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// A second backup of a group in a second that has a snapshot (published
// or being written) takes the next free second; with --time it is an
// error, since the user asked for that time.
func TestBeginSnapshotSameSecond(t *testing.T) {
	s, err := store.Init(filepath.Join(t.TempDir(), "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := catalog.Group{Type: "host", ID: "a"}
	at := time.Now().UTC().Truncate(time.Second)
	held, err := s.Begin(g, at) // a backup of the same second still running
	if err != nil {
		t.Fatal(err)
	}
	defer held.Abort()
	ctx := context.Background()
	opt := backup.Options{Group: g, Time: at}
	if _, err := beginSnapshot(ctx, localRepo{s.Datastore()}, &opt, true); !errors.Is(err, store.ErrExists) {
		t.Fatalf("with --time: %v, want ErrExists", err)
	}
	w, err := beginSnapshot(ctx, localRepo{s.Datastore()}, &opt, false)
	if err != nil {
		t.Fatalf("second backup in the same second: %v", err)
	}
	defer w.Abort()
	if !opt.Time.After(at) || opt.Time.Sub(at) > 3*time.Second {
		t.Fatalf("second backup at %v, want just after %v", opt.Time, at)
	}
}
