package objstore

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/s3test"
	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/storetest"
)

// proxy is an HTTP proxy in front of versitygw that counts requests by
// method and answers 503 SlowDown while fail > 0 (decremented per answer).
type proxy struct {
	URL      string
	requests atomic.Int64
	copies   atomic.Int64
	fail     atomic.Int64
}

func newProxy(t *testing.T, srv *s3test.Server) *proxy {
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/touched/") {
			p.copies.Add(1)
		}
		if p.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>slow down</Message></Error>`))
			return
		}
		p.fail.Store(0)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// TestLayout: chunks are one object each under a sharded key, and a
// snapshot's manifest is its last object, absent until Commit.
func TestLayout(t *testing.T) {
	srv := s3test.Start(t)
	s, err := Init(config(srv, "lay/out", nil))
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Chunks("layout", 1)[0]
	d := catalog.Sum(c)
	if _, err := s.PutChunk(d, c); err != nil {
		t.Fatal(err)
	}
	h := d.String()
	if _, err := os.Stat(srv.Path("lay/out/chunks/" + h[:4] + "/" + h)); err != nil {
		t.Fatalf("chunk object not at chunks/<4 hex>/<64 hex>: %v", err)
	}
	g, at := catalog.Group{Type: "vm", ID: "1"}, storetest.Epoch
	w, err := s.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	m, err := storetest.Stage(w, g, at, [][]byte{c}, true)
	if err != nil {
		t.Fatal(err)
	}
	manifest := srv.Path("lay/out/" + snapKey(g, at) + catalog.ManifestName)
	if _, err := os.Stat(manifest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("manifest object before Commit: %v", err)
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("manifest object after Commit: %v", err)
	}
}

// TestTouchObject: putting a chunk that is stored writes its touch object
// (versitygw's POSIX backend, unlike AWS, does not move an object's
// LastModified on a copy onto itself, so that is not how chunks are
// touched), whose LastModified GC takes as the chunk's.
func TestTouchObject(t *testing.T) {
	srv := s3test.Start(t)
	c := &localClock{}
	s, err := Init(config(srv, "touch", c.Now))
	if err != nil {
		t.Fatal(err)
	}
	data := storetest.Chunks("touch", 1)[0]
	d := catalog.Sum(data)
	if _, err := s.PutChunk(d, data); err != nil {
		t.Fatal(err)
	}
	srv.Age(48 * time.Hour)
	c.Advance(48 * time.Hour)
	before, err := s.c.head(chunkKey(d))
	if err != nil {
		t.Fatal(err)
	}
	if written, err := s.PutChunk(d, data); err != nil || written {
		t.Fatalf("PutChunk of a stored chunk = %v, %v; want touched, not written", written, err)
	}
	after, err := s.c.head(touchKey(d))
	if err != nil {
		t.Fatal(err)
	}
	if !after.After(before.Add(47 * time.Hour)) {
		t.Fatalf("LastModified %v -> %v: the touch did not move it", before, after)
	}
}

// TestSecondWriterElsewhere: two processes (two Stores) cannot write the
// same snapshot: the lock object is put conditionally.
func TestSecondWriterElsewhere(t *testing.T) {
	srv := s3test.Start(t)
	a, err := Init(config(srv, "two", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(config(srv, "two", nil))
	if err != nil {
		t.Fatal(err)
	}
	g := catalog.Group{Type: "ct", ID: "5"}
	wa, err := a.Begin(g, storetest.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Begin(g, storetest.Epoch); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Begin in another process error = %v, want ErrExists", err)
	}
	m, err := storetest.Stage(wa, g, storetest.Epoch, storetest.Chunks("two", 1), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := wa.Commit(m); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Begin(g, storetest.Epoch); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Begin of a snapshot published elsewhere error = %v, want ErrExists", err)
	}
}

// TestWrongCredentials: a wrong secret is one clear error at Open.
func TestWrongCredentials(t *testing.T) {
	srv := s3test.Start(t)
	if _, err := Init(config(srv, "creds", nil)); err != nil {
		t.Fatal(err)
	}
	cfg := config(srv, "creds", nil)
	cfg.SecretKey = "wrong" + cfg.SecretKey
	_, err := Open(cfg)
	if !errors.Is(err, ErrAccess) || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("Open with a wrong secret error = %v, want one line wrapping ErrAccess", err)
	}
	cfg = config(srv, "nothing-here", nil)
	if _, err := Open(cfg); !errors.Is(err, store.ErrNoDatastore) {
		t.Fatalf("Open of an empty prefix error = %v, want ErrNoDatastore", err)
	}
	cfg.Bucket = "made-by-init"
	if _, err := Open(cfg); !errors.Is(err, store.ErrNoDatastore) {
		t.Fatalf("Open in a missing bucket error = %v, want ErrNoDatastore", err)
	}
	if _, err := Init(cfg); err != nil {
		t.Fatalf("Init in a missing bucket: %v", err)
	}
	if _, err := Open(cfg); err != nil {
		t.Fatalf("Open after Init made the bucket: %v", err)
	}
}

// TestRetries: SlowDown answers are retried with backoff until the store
// answers; a store that keeps failing, or is down, gives ErrUnavailable
// within the deadline, and works again when it is back.
func TestRetries(t *testing.T) {
	srv := s3test.Start(t)
	p := newProxy(t, srv)
	cfg := config(srv, "retry", nil)
	cfg.Endpoint, cfg.Timeout = p.URL, 5*time.Second
	s, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := storetest.Chunks("retry", 1)[0]
	d := catalog.Sum(data)
	p.fail.Store(3)
	if _, err := s.PutChunk(d, data); err != nil {
		t.Fatalf("PutChunk through 3 SlowDown answers: %v", err)
	}
	p.fail.Store(1 << 30)
	if _, err := s.Chunk(d); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Chunk while the store says SlowDown error = %v, want ErrUnavailable", err)
	}
	p.fail.Store(0)
	srv.Kill()
	if _, err := s.Chunk(d); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Chunk with the store down error = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	if got, err := s.Chunk(d); err != nil || catalog.Sum(got) != d {
		t.Fatalf("Chunk after the restart: %v", err)
	}
}

// TestCacheSavesRequests: with the existence set filled by a listing, a
// backup of new chunks costs one PUT each (no lookups), and chunks this
// process just stored are not touched again.
func TestCacheSavesRequests(t *testing.T) {
	srv := s3test.Start(t)
	p := newProxy(t, srv)
	cfg := config(srv, "cache", nil)
	cfg.Endpoint = p.URL
	s, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	chunks := storetest.Chunks("cache", 40)
	storetest.Backup(t, s, catalog.Group{Type: "vm", ID: "1"}, storetest.Epoch, chunks[:20])
	s, err = Open(cfg) // a new process: the set is rebuilt by a listing
	if err != nil {
		t.Fatal(err)
	}
	p.requests.Store(0)
	for _, c := range chunks[20:] {
		if written, err := s.PutChunk(catalog.Sum(c), c); err != nil || !written {
			t.Fatalf("PutChunk(new) = %v, %v", written, err)
		}
	}
	if n := p.requests.Load(); n > 20+2 {
		t.Fatalf("20 new chunks cost %d requests, want at most 22 (one PUT each and the listing)", n)
	}
	p.copies.Store(0)
	storetest.Backup(t, s, catalog.Group{Type: "vm", ID: "2"}, storetest.Epoch, chunks[20:])
	if n := p.copies.Load(); n != 0 {
		t.Fatalf("a backup of chunks just stored touched %d of them again", n)
	}
}

// TestFileCache: a published index file read once is served from memory
// the next time (no request); a forgotten snapshot's files are not.
func TestFileCache(t *testing.T) {
	srv := s3test.Start(t)
	p := newProxy(t, srv)
	cfg := config(srv, "files", nil)
	cfg.Endpoint = p.URL
	s, err := Init(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := catalog.Group{Type: "vm", ID: "1"}
	storetest.Backup(t, s, g, storetest.Epoch, storetest.Chunks("files", 3))
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Manifest(g, storetest.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	f := m.Archives[0].Files[1]
	first, err := s.ReadFile(g, storetest.Epoch, f.Name)
	if err != nil || catalog.Sum(first) != f.SHA256 {
		t.Fatalf("ReadFile: %v", err)
	}
	first[0] ^= 0xff // a caller's change must not reach the cache
	p.requests.Store(0)
	again, err := s.ReadFile(g, storetest.Epoch, f.Name)
	if err != nil || catalog.Sum(again) != f.SHA256 || p.requests.Load() != 0 {
		t.Fatalf("second ReadFile: %v, %d requests; want the same bytes from memory", err, p.requests.Load())
	}
	if err := s.Forget(g, storetest.Epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFile(g, storetest.Epoch, f.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadFile of a forgotten snapshot's index error = %v, want ErrNotFound", err)
	}
}
