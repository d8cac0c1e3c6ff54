package store

import (
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// Names inside a datastore directory.
const (
	markerName   = ".backupfs-datastore"
	markerText   = "backupfs datastore 1\n"
	chunksDir    = ".chunks"
	tmpDir       = ".tmp"
	trashDir     = ".trash"
	tmpPrefix    = ".tmp-" // temporary files before their rename
	badSuffix    = ".bad"
	dirPerm      = 0o700
	filePerm     = 0o600
	lockStripes  = 256
	maxIndexSize = 1 << 30 // bound on one index file read into memory
)

// Options configures a Store.
type Options struct {
	// Now is the clock used for every mtime the store sets and for GC's
	// cut-off; nil means time.Now.
	Now func() time.Time
}

// Store is a datastore directory. It is safe for concurrent use.
type Store struct {
	dir       string
	now       func() time.Time
	realClock bool     // now is time.Now: new files need no explicit mtime
	chunkDirs sync.Map // .chunks/<4 hex> directories known to exist (never removed)

	// locks serialise touching a chunk against GC removing it.
	locks [lockStripes]sync.Mutex

	mu      sync.Mutex                 // guards writers and the .tmp directory
	writers map[string]*SnapshotWriter // snapshots in progress, by tmp dir name
	served  atomic.Bool                // this process serves the datastore (HoldForServer)
	gc      sync.Mutex                 // held while GC runs

	hookBeforeSweep func()           // tests: runs between GC's mark and sweep
	hookBeforeLock  func(dir string) // tests: between Begin's Mkdir and its flock
}

// Open opens the datastore in dir. It never creates one (Init does): a
// missing or empty dir is refused with ErrNoDatastore, a non-empty dir
// without the datastore marker with ErrNotDatastore.
func Open(dir string, opt Options) (*Store, error) {
	s, err := storeAt(dir, opt)
	if err != nil {
		return nil, err
	}
	if err := s.checkMarker(); err != nil {
		return nil, err
	}
	return s, s.mkdirs()
}

// Init creates a datastore in dir (a missing directory, with its parents,
// or an empty one) and opens it. A dir that is a datastore already is
// refused with ErrExists (Open it instead), one that holds anything else
// with ErrNotDatastore.
func Init(dir string, opt Options) (*Store, error) {
	s, err := storeAt(dir, opt)
	if err != nil {
		return nil, err
	}
	err = s.checkMarker()
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: %s is a datastore", ErrExists, s.dir)
	case !errors.Is(err, ErrNoDatastore):
		return nil, err
	}
	if err := s.create(); err != nil {
		return nil, err
	}
	return s, nil
}

func storeAt(dir string, opt Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := &Store{dir: abs, now: opt.Now, writers: make(map[string]*SnapshotWriter)}
	if s.now == nil {
		s.now, s.realClock = time.Now, true
	}
	return s, nil
}

// checkMarker says whether s.dir is a datastore of this build: nil,
// ErrNoDatastore (missing or empty: nothing was made there) or
// ErrNotDatastore (something else is there).
func (s *Store) checkMarker() error {
	marker, err := os.ReadFile(filepath.Join(s.dir, markerName))
	switch {
	case err == nil && string(marker) == markerText:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s: marker %q, this build reads %q", ErrNotDatastore, s.dir, marker, markerText)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: open %s: %w", s.dir, err)
	}
	ents, err := os.ReadDir(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist", ErrNoDatastore, s.dir)
	case err != nil:
		return fmt.Errorf("store: open %s: %w", s.dir, err)
	case len(ents) == 0:
		return fmt.Errorf("%w: %s is empty", ErrNoDatastore, s.dir)
	}
	return fmt.Errorf("%w: %s is not empty and has no %s", ErrNotDatastore, s.dir, markerName)
}

// create lays out a new datastore in a missing or empty directory; the
// marker is written last: a directory without it is never taken for a
// datastore.
func (s *Store) create() error {
	if err := os.MkdirAll(s.dir, dirPerm); err != nil {
		return fmt.Errorf("store: create %s: %w", s.dir, err)
	}
	if err := s.mkdirs(); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dir, markerName), []byte(markerText), time.Time{})
}

// mkdirs creates the fixed directories (idempotent).
func (s *Store) mkdirs() error {
	dirs := []string{chunksDir, tmpDir, trashDir}
	dirs = append(dirs, catalog.GroupTypes...)
	for _, d := range dirs {
		if err := os.Mkdir(filepath.Join(s.dir, d), dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// Dir returns the datastore's absolute directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) chunkPath(d catalog.Digest) string {
	h := d.String()
	return filepath.Join(s.dir, chunksDir, h[:4], h)
}

func (s *Store) lockChunk(d catalog.Digest) *sync.Mutex {
	return &s.locks[d[0]]
}

func (s *Store) groupPath(g catalog.Group) string {
	return filepath.Join(s.dir, g.Type, g.ID)
}

func (s *Store) snapPath(g catalog.Group, t time.Time) string {
	return filepath.Join(s.dir, g.Type, g.ID, catalog.FormatTime(t))
}

// tmpName names the directory a snapshot is written in. The mapping is
// one to one: the type has no '_' and the time has a fixed length.
func tmpName(g catalog.Group, t time.Time) string {
	return g.Type + "_" + g.ID + "_" + catalog.FormatTime(t)
}

// writeFileAtomic writes data to a temporary file next to path, syncs it,
// sets its mtime (unless zero), renames it to path and syncs the directory.
func writeFileAtomic(path string, data []byte, mtime time.Time) error {
	if _, err := writeFileRename(path, data, mtime, true); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeFileRename writes data to a temporary file next to path, syncs it
// if asked, sets its mtime (unless zero) and renames it to path: readers
// see the old file or the whole new one, never a part. It returns the
// file's mtime (ns) as it was before the rename, so a caller can tell
// later whether someone touched the file since.
func writeFileRename(path string, data []byte, mtime time.Time, sync bool) (stamp int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return 0, err
	}
	name := f.Name()
	_, err = f.Write(data)
	if sync && err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(name, mtime, mtime)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(name)
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return 0, err
	}
	return fi.ModTime().UnixNano(), nil
}

// syncFS flushes the whole filesystem holding the datastore (syncfs(2)):
// every chunk written without its own fsync is durable afterwards.
func (s *Store) syncFS() error {
	f, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("store: syncfs %s: %w", s.dir, err)
	}
	return nil
}

// syncDir fsyncs a directory so renames and creations in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// readBounded reads a whole file, refusing one larger than max before
// allocating. A missing file gives an error wrapping ErrNotFound.
func readBounded(path string, max int64) ([]byte, error) {
	return readBoundedInto(path, max, func(n int) []byte { return make([]byte, n) })
}

// readBoundedInto is readBounded reading into buf(size), which must return
// a slice of exactly size bytes: a caller can read into a pooled buffer, or
// after room for a header. The bytes are returned in that slice.
func readBoundedInto(path string, max int64, buf func(n int) []byte) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, path)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s: %d bytes, at most %d", ErrCorrupt, path, fi.Size(), max)
	}
	b := buf(int(fi.Size()))
	if len(b) != int(fi.Size()) {
		return nil, fmt.Errorf("store: read %s: buffer of %d bytes for %d", path, len(b), fi.Size())
	}
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return b, nil
}
