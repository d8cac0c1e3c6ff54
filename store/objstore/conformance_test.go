package objstore

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/s3test"
	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/storetest"
)

// localClock is Config.Now, moved by the suite's Age with the objects.
type localClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *localClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *localClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// config is a Config for srv under prefix.
func config(srv *s3test.Server, prefix string, now func() time.Time) Config {
	return Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: prefix,
		AccessKey: srv.Access, SecretKey: srv.Secret, Timeout: 20 * time.Second, Now: now}
}

// TestDatastoreConformance runs the Datastore suite on the object store,
// on a real versitygw: Age moves the objects' LastModified back (file
// mtimes in the POSIX backend) and the local clock forward.
func TestDatastoreConformance(t *testing.T) {
	srv := s3test.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T) *storetest.Harness {
		n++
		prefix := "ds" + string(rune('a'+n))
		c := &localClock{}
		cfg := config(srv, prefix, c.Now)
		s, err := Init(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := func(d catalog.Digest) string { return srv.Path(prefix + "/" + chunkKey(d)) }
		return &storetest.Harness{
			Store: s,
			Age: func(d time.Duration) {
				srv.Age(d)
				c.Advance(d)
			},
			Corrupt: func(d catalog.Digest) {
				b, err := os.ReadFile(path(d))
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)-1] ^= 0x55
				if err := os.WriteFile(path(d), b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			Delete: func(d catalog.Digest) {
				if err := os.Remove(path(d)); err != nil {
					t.Fatal(err)
				}
			},
			Reopen: func() store.Datastore {
				s, err := Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
		}
	})
}
