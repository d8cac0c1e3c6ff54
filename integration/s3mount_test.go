package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestS3LocalMountStoreRestart: a mount of the object store itself
// (--datastore s3://..., no server; TestS3Serve is the server variant).
// The store hangs (SIGSTOP: connections accepted, nothing answers), then
// is killed: a read of data not cached fails with EIO within a few of the
// mount's --timeout (which bounds a local mount's object store requests:
// the store's own default, 60 s, is more than netFaultEIO) and never gives
// wrong bytes; resumed or restarted, the same reads give the right bytes,
// and a listing made before answers throughout.
func TestS3LocalMountStoreRestart(t *testing.T) {
	src := t.TempDir()
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), filepath.Join(src, "fmt"))
	for i := range 4 {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("f%d.bin", i)), 4<<20, uint64(200+i))
	}
	s := NewS3Datastore(t)
	s.MustRun(t, "backup", "--datastore", s.URL, "/vm/1", "root.tree:"+src)
	mp := mountpoint(t)
	StartMount(t, s.Env(), mp, "--datastore", s.URL, "--timeout", netFaultTimeout.String(),
		"--readahead", "1MiB", "/vm/1/latest")
	root := filepath.Join(mp, "root")
	es, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	f := func(i int) (mounted, source string) {
		name := fmt.Sprintf("f%d.bin", i)
		return filepath.Join(root, name), filepath.Join(src, name)
	}
	m0, s0 := f(0)
	b, _, err := readWithin(t, m0, 2*time.Minute)
	mustMatch(t, "read with the store up", s0, b, err)

	m1, s1 := f(1)
	s.Pause()
	storeDown(t, "hung", root, len(es), m1)
	s.Resume()
	storeBack(t, "resumed", m1, s1)

	m2, s2 := f(2)
	s.Kill()
	storeDown(t, "killed", root, len(es), m2)
	s.Restart()
	storeBack(t, "restarted", m2, s2)
	for _, i := range []int{0, 3} {
		mi, si := f(i)
		b, _, err := readWithin(t, mi, 2*time.Minute)
		mustMatch(t, "read after the store's restart", si, b, err)
	}
	Sh(t, "diff", "-r", filepath.Join(src, "fmt"), filepath.Join(root, "fmt"))
}

// storeDown reads a file not cached with the store down: EIO within
// netFaultEIO, while a directory listed before still lists.
func storeDown(t *testing.T, how, root string, entries int, mounted string) {
	t.Helper()
	b, took, err := readWithin(t, mounted, netFaultEIO)
	listWithin(t, root, entries, time.Minute)
	t.Logf("store %s: the read failed after %s: %v", how, took.Round(10*time.Millisecond), err)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("a read with the store %s gave %d bytes, %v; want EIO", how, len(b), err)
	}
}

// storeBack reads the file again once the store is back: the right bytes
// (for up to the cache's short memory of the failed fetch, 1 s, a read
// may still get EIO).
func storeBack(t *testing.T, how, mounted, source string) {
	t.Helper()
	var b []byte
	var err error
	waitFor(t, time.Minute, "a read after the store "+how+" that does not fail with EIO", func() bool {
		b, _, err = readWithin(t, mounted, 2*time.Minute)
		return !errors.Is(err, syscall.EIO)
	})
	mustMatch(t, "read after the store "+how, source, b, err)
}
