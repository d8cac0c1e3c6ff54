package remotetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
)

// BackupTree backs up dir as root.tree of g over the client.
func BackupTree(t testing.TB, c *client.Client, g catalog.Group, at time.Time, dir string) (*client.Backup, *backup.Stats) {
	t.Helper()
	return Backup(t, c, backup.Options{Group: g, Time: at, Archives: []backup.Spec{{Name: "root.tree", Path: dir}}})
}

// Backup runs the backup o describes over the client.
func Backup(t testing.TB, c *client.Client, o backup.Options) (*client.Backup, *backup.Stats) {
	t.Helper()
	b, err := c.Begin(o.Group, o.Time)
	if err != nil {
		t.Fatal(err)
	}
	var st backup.Stats
	if _, err := backup.Run(context.Background(), b, o, &st); err != nil {
		t.Fatal(err)
	}
	return b, &st
}

// WriteFiles writes files (path relative to dir -> content) under dir,
// making the directories they need.
func WriteFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
