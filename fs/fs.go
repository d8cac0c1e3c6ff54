package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Repository lists and reads snapshot files (the store and the network
// client implement it). Groups are sorted; Snapshots are oldest first. A
// missing group, snapshot or file is an error that wraps io/fs.ErrNotExist
// (errors.Is): a snapshot forgotten while mounted is told from a failure
// by it.
type Repository interface {
	Groups() ([]catalog.Group, error)
	Snapshots(g catalog.Group) ([]time.Time, error)
	ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error)
}

// Options configure the file system.
type Options struct {
	Repo  Repository
	Cache *cache.Cache
	// Ref is what the root shows: empty (all groups), a type, a group, or
	// one snapshot (Time set; "latest" resolves at mount). Archive and
	// Path must be empty.
	Ref        catalog.Ref
	Log        *slog.Logger  // nil discards
	AllowOther bool          // Mount: let other users in
	Refresh    time.Duration // how often snapshot lists refresh; 0 = 30 s
	Debug      bool          // Mount: log every FUSE request
	// Background is how many asynchronous requests (readahead, parallel
	// reads) the kernel keeps in flight; 0 = 64 (go-fuse's default is 12).
	Background int
	// NoXattrs hides extended attributes: getxattr and listxattr of a
	// file answer ENOSYS, which the kernel remembers for the mount, so
	// it stops asking (cp -a asks three times per file) and callers see
	// EOPNOTSUPP, as on a file system without xattrs.
	NoXattrs bool
	// NoLatencyHint: do not ask the kernel to keep idle CPUs quick to
	// wake while requests flow (see latencyHint; it needs root).
	NoLatencyHint bool
}

// Kernel cache timeouts: long inside snapshots (they never change), short
// above them (new snapshots, "latest").
const (
	longTimeout    = time.Hour
	shortTimeout   = time.Second
	defaultRefresh = 30 * time.Second
	// missRefresh is how old a list may be before a lookup of a name it
	// lacks refreshes it.
	missRefresh = time.Second
)

// filesys is what every node shares.
type filesys struct {
	repo    Repository
	cache   *cache.Cache
	log     *slog.Logger
	refresh time.Duration
	now     func() time.Time
	mounted time.Time // mtime of the synthetic directories
	groups  listCache[catalog.Group]
	// noOpen: the kernel does zero-message opens (it said so at INIT),
	// so a file's Open answers ENOSYS and reads come without a handle.
	noOpen      atomic.Bool
	noXattrs    bool         // Options.NoXattrs
	slots       inoSlots     // tree archives' inode number slots (ino.go)
	storedAhead atomic.Int64 // files storeAhead pushed into the page cache
}

// Root returns the root node for o.Ref. It checks the ref and, for a group
// or a snapshot, that it exists; it reads nothing else.
func Root(o Options) (gofs.InodeEmbedder, error) {
	fsys, err := newFilesys(o)
	if err != nil {
		return nil, err
	}
	return fsys.root(o)
}

// root returns the root node for o.Ref (see Root).
func (fsys *filesys) root(o Options) (gofs.InodeEmbedder, error) {
	r := o.Ref
	switch {
	case r.Archive != "":
		return nil, fmt.Errorf("fs: mount %s: archives are shown inside their snapshot; mount the snapshot", r)
	case r.Type == "":
		return &rootNode{node: node{fsys: fsys}}, nil
	case r.ID == "":
		if err := catalog.ValidType(r.Type); err != nil {
			return nil, err
		}
		return &typeNode{node: node{fsys: fsys}, typ: r.Type}, nil
	case r.Time == "":
		g := r.Group()
		if _, err := o.Repo.Snapshots(g); err != nil {
			return nil, fmt.Errorf("fs: group %s: %w", g, err)
		}
		return newGroupNode(fsys, g), nil
	}
	return snapshotRoot(fsys, r)
}

func newFilesys(o Options) (*filesys, error) {
	if o.Repo == nil || o.Cache == nil {
		return nil, errors.New("fs: Options.Repo and Options.Cache are required")
	}
	f := &filesys{repo: o.Repo, cache: o.Cache, log: o.Log, refresh: o.Refresh, now: time.Now, noXattrs: o.NoXattrs}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.refresh <= 0 {
		f.refresh = defaultRefresh
	}
	f.mounted = f.now()
	return f, nil
}

// snapshotRoot resolves a snapshot ref ("latest" now) and opens its manifest.
func snapshotRoot(fsys *filesys, r catalog.Ref) (gofs.InodeEmbedder, error) {
	g := r.Group()
	var t time.Time
	if r.Time == catalog.Latest {
		ts, err := fsys.repo.Snapshots(g)
		if err != nil {
			return nil, fmt.Errorf("fs: group %s: %w", g, err)
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("fs: group %s has no snapshots", g)
		}
		t = ts[len(ts)-1]
	} else {
		var err error
		if t, err = catalog.ParseTime(r.Time); err != nil {
			return nil, err
		}
	}
	n := newSnapshotNode(fsys, nil, g, t)
	if _, err := n.snapshot(); err != nil {
		return nil, err
	}
	return n, nil
}

// source adapts a Repository to backup.Source; the file system reads
// chunks only through the cache, so Chunk always fails.
type source struct{ Repository }

func (source) Chunk(d catalog.Digest) ([]byte, error) {
	return nil, fmt.Errorf("fs: chunk %s: chunks are read through the cache", d)
}

// KeyFingerprint passes on the repository's key (backup.Keyed), so a
// mount with a key opens sealed snapshots.
func (s source) KeyFingerprint() string {
	if k, ok := s.Repository.(backup.Keyed); ok {
		return k.KeyFingerprint()
	}
	return ""
}

var _ backup.Source = source{}

// listCache holds a list fetched from the repository and when.
type listCache[T comparable] struct {
	mu      sync.Mutex
	val     []T
	at      time.Time
	ok      bool
	changed time.Time // when a refresh last found a different list; zero before
}

// get returns the list, fetching it if it is older than maxAge. A failed
// refresh keeps the old list (logged); only a first fetch fails. The lock
// is held across the fetch, so concurrent callers share one.
func (c *listCache[T]) get(f *filesys, maxAge time.Duration, what string, fetch func() ([]T, error)) ([]T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := f.now()
	if c.ok && now.Sub(c.at) < maxAge {
		return c.val, nil
	}
	v, err := fetch()
	if err != nil {
		if !c.ok {
			return nil, err
		}
		f.log.Warn("backupfs: refresh failed, keeping the old list", "list", what, "err", err)
		v = c.val
	}
	if c.ok && !slices.Equal(v, c.val) {
		c.changed = now
	}
	c.val, c.at, c.ok = v, now, true
	return v, nil
}

// mtime is a listing directory's mtime: base (the mount or the newest
// snapshot) or, if later, when the list last changed. The kernel keeps a
// directory's listing until its mtime changes.
func (c *listCache[T]) mtime(base time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed.After(base) {
		return c.changed
	}
	return base
}

// node is embedded in every node: the shared state, and EROFS for every
// write operation.
type node struct {
	gofs.Inode
	fsys *filesys
}

var _ = (gofs.NodeStatfser)((*node)(nil))

// Statfs reports a read-only file system with nothing free.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	*out = fuse.StatfsOut{}
	out.Bsize = 4096
	out.Frsize = 4096
	out.NameLen = 255
	return 0
}
