package objstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Sentinel errors beyond the store's own.
var (
	// ErrUnavailable: the object store did not answer (down, 5xx, SlowDown)
	// within the deadline, after retries with backoff.
	ErrUnavailable = errors.New("objstore: object store unavailable")
	// ErrAccess: the object store refused the credentials or the request.
	ErrAccess = errors.New("objstore: access denied (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
)

// Keys under the prefix.
const (
	markerKey  = "backupfs-datastore"
	markerText = "backupfs datastore 1 s3\n"
	chunksPfx  = "chunks/"
	touchPfx   = "touched/"
	snapsPfx   = "snapshots/"
	holdsPfx   = "holds/"
	forgetPfx  = "forgetting/"
	badPfx     = "bad/"
	clockKey   = "gc-clock"
	lockName   = "writing" // the lock object of a snapshot being written
)

// Config says where the datastore is and how to reach it.
type Config struct {
	Endpoint  string // e.g. http://127.0.0.1:7070
	Region    string // "" means us-east-1
	Bucket    string
	Prefix    string // "" or a path without leading or trailing slash
	AccessKey string
	SecretKey string
	// Timeout bounds each request with its retries; 0 means 60 s.
	Timeout time.Duration
	// MaxAttempts per request (first try included); 0 means 8.
	MaxAttempts int
	// CacheEntries bounds the chunk existence cache; 0 means 4 Mi entries.
	CacheEntries int
	// CacheFile, if set, keeps the existence cache between runs
	// (cachefile.go): serve sets it to a file in its state directory.
	CacheFile string
	// FileCacheBytes bounds the cache of published index files read; 0
	// means 64 MiB.
	FileCacheBytes int64
	// Now is the local clock, used only for durations measured in this
	// process (a writer's idleness, how long ago it touched a chunk),
	// never compared with the store's times; nil means time.Now.
	Now func() time.Time
}

// ParseURL fills Bucket and Prefix from s3://BUCKET[/PREFIX].
func (c *Config) ParseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%w: %q: want s3://BUCKET/PREFIX", store.ErrInvalid, s)
	}
	c.Bucket, c.Prefix = u.Host, strings.Trim(u.Path, "/")
	if strings.Contains(c.Prefix, "//") {
		return fmt.Errorf("%w: %q: empty path element in the prefix", store.ErrInvalid, s)
	}
	return nil
}

// Store is a datastore in an S3 bucket. It is safe for concurrent use.
type Store struct {
	c     *client
	url   string
	now   func() time.Time
	known *existCache
	files *fileCache
	cache string // Config.CacheFile

	locks [256]sync.Mutex // touch and sweep of one chunk, as in store

	mu      sync.Mutex
	writers map[string]*Writer // snapshots being written here, by snapshot key
	holds   map[string]int     // bases held here, by snapshot key
	seen    sync.Map           // snapshot keys known published (ReadFile)
	gcMu    sync.Mutex
}

// Open opens the datastore cfg names: the bucket must answer with these
// credentials and hold the marker (ErrNoDatastore otherwise: Init makes it).
func Open(cfg Config) (*Store, error) {
	s, err := newStore(cfg, false)
	if err != nil {
		return nil, err
	}
	b, err := s.c.get(markerKey, 1024, func(n int) []byte { return make([]byte, n) })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %s has no datastore marker", store.ErrNoDatastore, s.url)
	case err != nil:
		return nil, fmt.Errorf("objstore: open %s: %w", s.url, err)
	case string(b) != markerText:
		return nil, fmt.Errorf("%w: %s: marker %q", store.ErrNotDatastore, s.url, b)
	}
	return s, nil
}

// Init writes the marker (conditionally: ErrExists when there is one),
// creating the bucket if it does not exist, and opens the datastore. A
// prefix that holds other objects is refused with ErrNotDatastore.
func Init(cfg Config) (*Store, error) {
	s, err := newStore(cfg, true)
	if err != nil {
		return nil, err
	}
	if _, err := Open(cfg); err == nil {
		return nil, fmt.Errorf("%w: %s is a datastore", store.ErrExists, s.url)
	} else if !errors.Is(err, store.ErrNoDatastore) {
		return nil, err
	}
	empty := true
	err = s.c.list("", false, func(object) error { empty = false; return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("objstore: init %s: %w", s.url, err)
	}
	if !empty {
		return nil, fmt.Errorf("%w: %s is not empty and has no datastore marker", store.ErrNotDatastore, s.url)
	}
	if err := s.c.put(markerKey, []byte(markerText), true); err != nil {
		return nil, fmt.Errorf("objstore: init %s: %w", s.url, err)
	}
	return s, nil
}

var errStop = errors.New("stop")

func newStore(cfg Config, create bool) (*Store, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Prefix != "" {
		c.prefix = cfg.Prefix + "/"
	}
	s := &Store{c: c, url: "s3://" + cfg.Bucket + "/" + cfg.Prefix, now: cfg.Now,
		writers: make(map[string]*Writer), holds: make(map[string]int)}
	if s.now == nil {
		s.now = time.Now
	}
	s.known = newExistCache(cfg.CacheEntries)
	if s.cache, err = cacheFilePath(cfg.CacheFile); err != nil {
		return nil, err
	}
	s.files = newFileCache(cfg.FileCacheBytes)
	err = c.checkBucket()
	if create && errors.Is(err, store.ErrNoDatastore) {
		err = c.createBucket()
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: %s at %s: %w", s.url, cfg.Endpoint, err)
	}
	return s, nil
}

// String is the datastore's s3:// URL.
func (s *Store) String() string { return s.url }

// Requests are the requests this Store made so far, by kind.
func (s *Store) Requests() *Requests { return &s.c.n }

// Close keeps the existence cache in Config.CacheFile (if set); the
// SDK's connections close when idle.
func (s *Store) Close() error {
	if s.cache == "" {
		return nil
	}
	return s.saveCacheFile(s.cache)
}

var _ store.Datastore = (*Store)(nil)

func chunkKey(d catalog.Digest) string {
	h := d.String()
	return chunksPfx + h[:4] + "/" + h
}

// touchKey is the empty object whose LastModified is the chunk's last
// touch (see the package doc).
func touchKey(d catalog.Digest) string {
	h := d.String()
	return touchPfx + h[:4] + "/" + h
}

func (s *Store) lockChunk(d catalog.Digest) *sync.Mutex { return &s.locks[d[0]] }

// snapKey is the prefix of a snapshot's objects, ending in "/".
func snapKey(g catalog.Group, t time.Time) string {
	return snapsPfx + g.Type + "/" + g.ID + "/" + catalog.FormatTime(t) + "/"
}
