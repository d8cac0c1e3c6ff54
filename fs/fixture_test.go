package fs

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/cache"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/store"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

var (
	testGroup = catalog.Group{Type: "vm", ID: "100"}
	time1     = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	time2     = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// fixture is a real datastore holding two snapshots of a source tree
// (root.tree) and an image (disk.img), and the reference bytes.
type fixture struct {
	src   string // the tree backed up
	image []byte // the image's bytes
	store *store.Store
	cache *cache.Cache
	xattr bool // the source file system took user xattrs
	dev   bool // a device node could be made (root)
}

// storeSource is the cache's chunk source over the local store.
type storeSource struct{ s *store.Store }

func (a storeSource) Chunk(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	return a.s.Chunk(d)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, data, 0o644))
}

// makeTree fills dir with files of random sizes (some of several chunks),
// directories, a symlink, hardlinks, a fifo, xattrs, a sparse file and,
// as root, a device.
func (f *fixture) makeTree(t testing.TB, dir string, rng *rand.Rand) {
	for i, size := range []int{0, 1, 100, 4096, 70 << 10, 300 << 10, 1 << 20} {
		write(t, filepath.Join(dir, "files", "f"+string(rune('a'+i))), randBytes(rng, size))
	}
	write(t, filepath.Join(dir, "a", "b", "c", "deep.txt"), []byte("deep\n"))
	write(t, filepath.Join(dir, "hard1"), randBytes(rng, 5000))
	must(t, os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "a", "hard2")))
	must(t, os.Symlink("files/fa", filepath.Join(dir, "link")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	must(t, os.Chmod(filepath.Join(dir, "files", "fb"), 0o4751))
	f.xattr = unix.Setxattr(filepath.Join(dir, "files", "fc"), "user.note", []byte("hello"), 0) == nil &&
		unix.Setxattr(filepath.Join(dir, "files", "fc"), "user.empty", nil, 0) == nil
	f.dev = unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) == nil
	sp, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	must(t, sp.Truncate(5<<20))
	_, err = sp.WriteAt(randBytes(rng, 4096), 1<<20)
	must(t, err)
	must(t, sp.Close())
	must(t, os.Chtimes(filepath.Join(dir, "files", "fd"), time1, time.Unix(1234567890, 123456789)))
}

func newFixture(t testing.TB) *fixture {
	rng := rand.New(rand.NewPCG(1, 2))
	tmp := t.TempDir()
	f := &fixture{src: filepath.Join(tmp, "src")}
	f.makeTree(t, f.src, rng)
	f.image = randBytes(rng, 5*(64<<10)+1234)
	copy(f.image[64<<10:], make([]byte, 64<<10)) // one all-zero chunk
	imgPath := filepath.Join(tmp, "disk")
	must(t, os.WriteFile(imgPath, f.image, 0o644))
	var err error
	f.store, err = store.Init(filepath.Join(tmp, "ds"), store.Options{})
	must(t, err)
	for _, at := range []time.Time{time1, time2} {
		w, err := f.store.Begin(testGroup, at)
		must(t, err)
		opt := backup.Options{Group: testGroup, Time: at,
			Archives:  []backup.Spec{{Name: "root.tree", Path: f.src}, {Name: "disk.img", Path: imgPath}},
			Params:    chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10},
			FixedSize: 64 << 10}
		var st backup.Stats
		_, err = backup.Run(context.Background(), w, opt, &st)
		must(t, err)
	}
	f.cache, err = cache.New(storeSource{f.store}, cache.Options{Size: 32 << 20})
	must(t, err)
	return f
}

// root builds the file system for ref and initialises it as go-fuse does
// at mount, so node methods can be called directly.
func (f *fixture) root(t testing.TB, ref catalog.Ref) gofs.InodeEmbedder {
	t.Helper()
	r, err := Root(Options{Repo: f.store, Cache: f.cache, Ref: ref})
	must(t, err)
	gofs.NewNodeFS(r, &gofs.Options{})
	return r
}

// waitFor polls cond every millisecond for up to 30 s (generous: a
// loaded machine) and returns its last answer: for what the mount does in
// the background.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// needRoot skips a test that mounts (mount(2) directly) when not root. CI
// runs as root, so there these tests always run.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a direct mount")
	}
}
