package store_test

import (
	"testing"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/backup/sourcetest"
	"github.com/backupfs/backupfs/store"
)

// TestSourceConformance runs the repository conformance suite on the
// local datastore; the network client runs the same suite.
func TestSourceConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, dir string) backup.Repository {
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
