package cache

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// diskTier is the persistent chunk store under Options.Dir: one file per
// chunk, Dir/<first 2 hex>/<64 hex>, holding the plain bytes.
type diskTier struct {
	dir string
	max int64
	log *slog.Logger

	used     atomic.Int64 // bytes on disk, as last counted plus writes since
	evicting atomic.Bool
	warnOnce sync.Once // write failures are logged once

	// writeFile writes a new entry; tests replace it to inject failures.
	writeFile func(dir, name string, data []byte) error
}

// tmpPrefix marks files being written; ones left by a crash are removed
// at open.
const tmpPrefix = ".tmp-"

// openDisk opens the disk tier at dir, creating it, and counts what an
// earlier cache left there.
func openDisk(dir string, max int64, log *slog.Logger) (*diskTier, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: disk tier: %w", err)
	}
	t := &diskTier{dir: dir, max: max, log: log, writeFile: writeAtomic}
	files, err := t.scan(true)
	if err != nil {
		return nil, fmt.Errorf("cache: disk tier: %w", err)
	}
	var used int64
	for _, f := range files {
		used += f.size
	}
	t.used.Store(used)
	if used > max {
		t.evict()
	}
	return t, nil
}

// path is where d's entry lives.
func (t *diskTier) path(d catalog.Digest) (dir, name string) {
	h := d.String()
	dir = filepath.Join(t.dir, h[:2])
	return dir, filepath.Join(dir, h)
}

// get returns d's bytes if a good copy of size bytes is on disk. A copy of
// the wrong length or digest is removed, so the caller fetches it again.
func (t *diskTier) get(d catalog.Digest, size int) ([]byte, bool) {
	_, name := t.path(d)
	f, err := os.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	if fi.Size() != int64(size) {
		t.drop(name, fi.Size(), fmt.Sprintf("length %d, want %d", fi.Size(), size))
		return nil, false
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		t.log.Warn("cache: disk tier: read failed", "file", name, "err", err)
		return nil, false
	}
	if catalog.Sum(data) != d {
		t.drop(name, fi.Size(), "digest mismatch")
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(name, now, now) // recency for eviction; best effort
	return data, true
}

// drop removes a corrupt entry.
func (t *diskTier) drop(name string, size int64, why string) {
	t.log.Warn("cache: disk tier: corrupt entry removed, fetching again", "file", name, "reason", why)
	if os.Remove(name) == nil {
		t.used.Add(-size)
	}
}

// put stores d's bytes, best effort: a failure is logged once and
// otherwise ignored.
func (t *diskTier) put(d catalog.Digest, data []byte) {
	dir, name := t.path(d)
	if err := t.writeFile(dir, name, data); err != nil {
		t.warnOnce.Do(func() {
			t.log.Warn("cache: disk tier: write failed; reads go on without it (logged once)", "dir", t.dir, "err", err)
		})
		return
	}
	if t.used.Add(int64(len(data))) > t.max {
		t.evict()
	}
}

// writeAtomic writes data to name through a temporary file and a rename,
// so a reader never sees a partial entry.
func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// diskFile is one entry found by scan.
type diskFile struct {
	name  string
	size  int64
	mtime time.Time
}

// scan lists the entries, removing temporary files if clean is set.
func (t *diskTier) scan(clean bool) ([]diskFile, error) {
	var files []diskFile
	err := filepath.WalkDir(t.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil // unreadable parts are skipped, not fatal
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if clean {
				os.Remove(p)
			}
			return nil
		}
		if _, perr := catalog.ParseDigest(e.Name()); perr != nil {
			return nil // not ours
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, diskFile{p, fi.Size(), fi.ModTime()})
		}
		return nil
	})
	return files, err
}

// evict removes the least recently used entries until the tier is at 90%
// of its bound. One pass runs at a time; a write that lands during a pass
// finds the flag taken and leaves the work to the pass's owner, who checks
// the count again after releasing it. Passes stop when one removes
// nothing, so a directory whose files cannot be removed does not make it
// spin.
func (t *diskTier) evict() {
	for {
		if t.used.Load() <= t.max || !t.evicting.CompareAndSwap(false, true) {
			return
		}
		removed := t.evictPass()
		t.evicting.Store(false)
		if !removed {
			return
		}
	}
}

// evictPass recounts the tier from the directory (so other mounts sharing
// it are accounted for), removes the oldest entries by modification time,
// and corrects the byte count, keeping the writes made since the scan. It
// reports whether it removed anything.
func (t *diskTier) evictPass() bool {
	before := t.used.Load()
	files, _ := t.scan(false)
	slices.SortFunc(files, func(a, b diskFile) int { return a.mtime.Compare(b.mtime) })
	var used int64
	for _, f := range files {
		used += f.size
	}
	removed := int64(0)
	for _, f := range files {
		if used-removed <= t.max/10*9 {
			break
		}
		if os.Remove(f.name) == nil {
			removed += f.size
		}
	}
	t.used.Add(used - removed - before)
	return removed > 0
}
