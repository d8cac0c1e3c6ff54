package server

import (
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvHeldReads is a datastore that asks for want reads in flight
// (srvReadConcurrency) and holds every ReadBlob until release is closed;
// reached is closed once target reads wait at once.
type srvHeldReads struct {
	store.Datastore
	want, target int
	reached      chan struct{}
	release      chan struct{}

	mu      sync.Mutex
	waiting int
}

func (s *srvHeldReads) ReadConcurrency() int { return s.want }

func (s *srvHeldReads) ReadBlob(d catalog.Digest, buf func(n int) []byte) ([]byte, error) {
	s.mu.Lock()
	if s.waiting++; s.waiting == s.target {
		close(s.reached)
	}
	s.mu.Unlock()
	<-s.release
	return s.Datastore.ReadBlob(d, buf)
}

// TestServerReadConcurrency: a datastore that wants 64 reads in flight
// (the object store) gets 64 of one readahead GET_CHUNKS at a time, not
// the directory datastore's 16; every answer then arrives.
func TestServerReadConcurrency(t *testing.T) {
	const want = 64
	held := &srvHeldReads{want: want, target: want, reached: make(chan struct{}), release: make(chan struct{})}
	e := srvStartWrap(t, Limits{}, func(ds store.Datastore) store.Datastore {
		held.Datastore = ds
		return held
	})
	ds := e.snapshot(srvHostA, srvT0, srvChunks(3, 100, 4096))
	c := e.dial(e.token("ra", "read:host/a"))
	_, err := c.getFile(1, "host/a", srvT0, "disk.img.fidx")
	must(t, err)
	c.send(wire.Frame{Type: wire.TGetChunks, ID: 2, Payload: wire.GetChunks{Digests: ds}.Append(nil)})
	select {
	case <-held.reached:
	case <-time.After(20 * time.Second):
		held.mu.Lock()
		n := held.waiting
		held.mu.Unlock()
		close(held.release)
		t.Fatalf("%d blob reads in flight for one GET_CHUNKS of %d digests; want %d (the store's ReadConcurrency)", n, len(ds), want)
	}
	close(held.release)
	for range ds {
		if f := c.recv(); f.Type != wire.TChunk {
			t.Fatalf("GET_CHUNKS answered %v %q", f.Type, f.Payload)
		}
	}
}
