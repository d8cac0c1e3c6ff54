package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tierFixture is a server holding one snapshot of a tree (GOROOT's
// net/http) and a pseudo-random image, and a client environment for it.
type tierFixture struct {
	srv       *Server
	env       []string
	tree, img string
	dir       string
}

func newTierFixture(t *testing.T, imgSize int) *tierFixture {
	t.Helper()
	dir := t.TempDir()
	f := &tierFixture{dir: dir, tree: filepath.Join(GoRoot(t), "src", "net", "http"), img: filepath.Join(dir, "disk.img")}
	writeRandom(t, f.img, imgSize, 23)
	f.srv = StartServer(t, filepath.Join(dir, "ds"))
	tok := f.srv.Token("admin", "read:*", "backup:*")
	f.srv.MustClient(tok, "backup", f.srv.Repo("/vm/23"), "src.tree:"+f.tree, "disk.img:"+f.img)
	f.env = []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + f.srv.Fingerprint}
	return f
}

// mount mounts the snapshot at a new mountpoint with extra flags.
func (f *tierFixture) mount(t *testing.T, args ...string) *Mount {
	t.Helper()
	mp, err := os.MkdirTemp(f.dir, "mnt")
	if err != nil {
		t.Fatal(err)
	}
	return StartMount(t, f.env, mp, append(args, f.srv.Repo("/vm/23/latest"))...)
}

// readAll reads everything through m and compares it with the sources.
func (f *tierFixture) readAll(t *testing.T, m *Mount) {
	t.Helper()
	Sh(t, "diff", "-r", "--no-dereference", f.tree, filepath.Join(m.Dir, "src"))
	Sh(t, "cmp", f.img, filepath.Join(m.Dir, "disk.img"))
}

// tierEntry is one file of a disk tier: path, size, and whether its bytes
// hash to its name (the chunk's digest).
type tierEntry struct {
	path string
	size int64
	good bool
}

// tierEntries lists the chunk files under tier (not temporary files).
func tierEntries(t *testing.T, tier string) []tierEntry {
	t.Helper()
	var out []tierEntry
	for _, p := range strings.Fields(Sh(t, "find", tier, "-type", "f")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out = append(out, tierEntry{p, int64(len(b)), hex.EncodeToString(sum[:]) == filepath.Base(p)})
	}
	return out
}

// TestCacheDirServesRemount: what a mount with --cache-dir read is read
// again by a new mount from the tier alone, the server stopped, byte for
// byte; a tier entry with a flipped byte is never served: the next mount
// (server back) fetches that chunk again and replaces the entry.
func TestCacheDirServesRemount(t *testing.T) {
	f := newTierFixture(t, 8<<20)
	tier := filepath.Join(f.dir, "tier")
	m := f.mount(t, "--cache-dir", tier)
	f.readAll(t, m)
	m.Stop()
	entries := tierEntries(t, tier)
	if len(entries) < 64 { // 8 MiB of image alone is 64 chunks of 128 KiB
		t.Fatalf("tier holds %d entries after reading everything; want at least 64", len(entries))
	}
	for _, e := range entries {
		if !e.good {
			t.Fatalf("tier entry %s does not hash to its name", e.path)
		}
	}

	// The tier holds chunks, not index files: a lookup of the tree and a
	// first read of the image load their index files (fs/doc.go) while
	// the server is up; then the server stops and every chunk (file bytes
	// and the tree's metadata) must come from the tier: the mount fetches
	// none at all.
	m = f.mount(t, "--cache-dir", tier)
	Sh(t, "stat", filepath.Join(m.Dir, "src"))
	Sh(t, "head", "-c", "1", filepath.Join(m.Dir, "disk.img"))
	f.srv.Stop()
	f.readAll(t, m)
	if _, fetches := cacheStats(t, m); fetches != 0 {
		t.Fatalf("remount with the server stopped fetched %d chunks; want all from the tier", fetches)
	}
	m.Stop()
	f.corruptOneEntry(t, tier, entries)
}

// corruptOneEntry flips a byte of the largest tier entry, restarts the
// server and reads everything through a new mount: the bytes are exact,
// that chunk alone is fetched, and the entry is replaced by a good copy.
func (f *tierFixture) corruptOneEntry(t *testing.T, tier string, entries []tierEntry) {
	t.Helper()
	victim := entries[0]
	for _, e := range entries {
		if e.size > victim.size {
			victim = e
		}
	}
	flipMiddleByte(t, victim.path)
	f.srv.Restart()
	m := f.mount(t, "--cache-dir", tier)
	f.readAll(t, m)
	if _, fetches := cacheStats(t, m); fetches != 1 {
		t.Errorf("remount after corrupting one entry fetched %d chunks; want exactly that one", fetches)
	}
	m.Stop()
	if !strings.Contains(m.Stderr(), "corrupt entry removed") || !strings.Contains(m.Stderr(), filepath.Base(victim.path)) {
		t.Errorf("mount log does not report the corrupt entry %s:\n%s", victim.path, m.Stderr())
	}
	b, err := os.ReadFile(victim.path)
	if err != nil {
		t.Fatalf("corrupt entry not replaced: %v", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != filepath.Base(victim.path) || int64(len(b)) != victim.size {
		t.Fatalf("entry %s after the refetch: %d bytes not hashing to its name", victim.path, len(b))
	}
}

// TestCacheDirSizeBound: reading 24 MiB through a mount whose tier is
// bounded to 4 MiB leaves at most 4 MiB of entries (du -sb counts the
// tier's directories too: 4 KiB each is the slack allowed), and the tier
// is still used (it is not left empty).
func TestCacheDirSizeBound(t *testing.T) {
	const bound = 4 << 20
	f := newTierFixture(t, 24<<20)
	tier := filepath.Join(f.dir, "tier")
	m := f.mount(t, "--cache-dir", tier, "--cache-dir-size", strconv.Itoa(bound))
	f.readAll(t, m)
	m.Stop()
	var files int64
	for _, e := range tierEntries(t, tier) {
		files += e.size
	}
	dirs := int64(len(strings.Fields(Sh(t, "find", tier, "-type", "d"))))
	du, err := strconv.ParseInt(strings.Fields(Sh(t, "du", "-sb", tier))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tier: %d bytes in entries, du -sb %d, %d directories", files, du, dirs)
	if files > bound || du > bound+dirs*4096 {
		t.Fatalf("tier holds %d bytes of entries (du -sb %d, %d directories) after reading 24 MiB; bound %d", files, du, dirs, bound)
	}
	if files < bound/2 {
		t.Fatalf("tier holds %d bytes after reading 24 MiB with a bound of %d; eviction should stop at 90%%", files, bound)
	}
}
