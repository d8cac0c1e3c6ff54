package store_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/storetest"
)

// fakeClock is Options.Now for the suite's Age.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDatastoreConformance runs the Datastore suite on the directory
// store: its clock moves for Age, and chunk files are edited by hand.
func TestDatastoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *storetest.Harness {
		dir := t.TempDir()
		c := &fakeClock{t: storetest.Epoch}
		s, err := store.Init(dir, store.Options{Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		path := func(d catalog.Digest) string {
			return filepath.Join(dir, ".chunks", d.String()[:4], d.String())
		}
		return &storetest.Harness{
			Store: s.Datastore(),
			Age:   c.Advance,
			Corrupt: func(d catalog.Digest) {
				b, err := os.ReadFile(path(d))
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)-1] ^= 0x55
				if err := os.WriteFile(path(d), b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			Delete: func(d catalog.Digest) {
				if err := os.Remove(path(d)); err != nil {
					t.Fatal(err)
				}
			},
			Reopen: func() store.Datastore {
				s, err := store.Open(dir, store.Options{Now: c.Now})
				if err != nil {
					t.Fatal(err)
				}
				return s.Datastore()
			},
		}
	})
}
