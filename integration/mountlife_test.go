package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// names lists a directory's entry names, sorted.
func names(t *testing.T, dir string) ([]string, error) {
	t.Helper()
	es, err := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, err
}

// TestMountSnapshotForgotten: snapshots forgotten on the server while the
// mount serves them. latest moves at once to the newest snapshot left
// (never "No such file"), and a forgotten snapshot's directory is gone on
// the next lookup and listing of its group, without waiting for the
// mount's 30 s list refresh.
func TestMountSnapshotForgotten(t *testing.T) {
	dir := t.TempDir()
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	var times []string
	for i := range 4 { // snapshot i holds f0 .. fi
		when := time.Date(2026, 11, 20+i, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d", i)), []byte(when), 0o644); err != nil {
			t.Fatal(err)
		}
		srv.MustClient(tok, "backup", "--time", when, srv.Repo("/host/life"), "root.tree:"+src)
		times = append(times, when)
	}
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/host/life"))
	forget := func(when string) { MustRun(t, "forget", "--datastore", srv.Datastore, "/host/life/"+when) }
	ls := func(p ...string) ([]string, error) { return names(t, filepath.Join(append([]string{mp}, p...)...)) }

	// The newest snapshot goes after a listing of the group and of
	// latest: latest lists at once, and latest/root lists the snapshot
	// before it.
	if got, err := ls(); err != nil || len(got) != 5 {
		t.Fatalf("ls mountpoint: %v, %v; want 4 snapshots and latest", got, err)
	}
	if got, err := ls("latest"); err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("ls latest: %v, %v; want root", got, err)
	}
	forget(times[3])
	if got, err := ls("latest"); err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("ls latest right after the newest snapshot was forgotten: %v, %v; want root", got, err)
	}
	if got, err := ls("latest", "root"); err != nil || !slices.Equal(got, []string{"f0", "f1", "f2"}) {
		t.Fatalf("ls latest/root right after the newest snapshot was forgotten: %v, %v; want the previous snapshot's f0 f1 f2", got, err)
	}
	if target, err := os.Readlink(filepath.Join(mp, "latest")); err != nil || target != times[2] {
		t.Fatalf("latest -> %q, %v; want %s", target, err, times[2])
	}
	if got, err := ls(); err != nil || slices.Contains(got, times[3]) {
		t.Fatalf("ls mountpoint after the refresh: %v, %v; want %s gone", got, err, times[3])
	}

	// An older snapshot goes: its directory answers ENOENT on its next
	// use, and the group's listing drops it at once.
	forget(times[0])
	if _, err := ls(times[0], "root"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("ls %s/root after it was forgotten: %v; want ENOENT", times[0], err)
	}
	if got, err := ls(); err != nil || !slices.Equal(got, []string{times[1], times[2], "latest"}) {
		t.Fatalf("ls mountpoint: %v, %v; want %s, %s and latest", got, err, times[1], times[2])
	}
	if _, err := os.Stat(filepath.Join(mp, times[0])); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("stat %s after it was forgotten: %v; want ENOENT", times[0], err)
	}
	if got, err := os.ReadFile(filepath.Join(mp, "latest", "root", "f2")); err != nil || string(got) != times[2] {
		t.Fatalf("latest/root/f2: %q, %v", got, err)
	}
}

// busyMount backs up a 4 MiB file, mounts the snapshot from the local
// datastore and opens the file in the mount: the mountpoint is busy.
func busyMount(t *testing.T) (m *Mount, held *os.File, want []byte) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want = make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i * 7 / 4096)
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "big"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(dir, "ds")
	InitDatastore(t, ds)
	MustRun(t, "backup", "--datastore", ds, "/host/busy", "root.tree:"+src)
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	m = StartMount(t, nil, mp, "--datastore", ds, "--readahead", "0", "/host/busy/latest")
	t.Cleanup(func() { // after a failure, no mount left behind
		if Mounted(mp) {
			exec.Command("umount", "-l", mp).Run()
		}
	})
	held, err := os.Open(filepath.Join(mp, "root", "big"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	if _, err := held.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	return m, held, want
}

// notDead fails the test if the mountpoint is a dead FUSE mount (stat
// fails with "Transport endpoint is not connected") or still mounted.
func notDead(t *testing.T, mp string) {
	t.Helper()
	if _, err := os.Stat(mp); err != nil {
		t.Fatalf("stat %s after the mount process was told to end: %v", mp, err)
	}
	if Mounted(mp) {
		t.Fatalf("%s is still mounted", mp)
	}
}

// TestMountSignalWhileBusy: SIGTERM to the mount process while a file in
// the mount is open detaches the mount at once (umount -l), so the
// mountpoint is free, and serves the file's holder until it closes it;
// then the process exits 0. It says so on stderr.
func TestMountSignalWhileBusy(t *testing.T) {
	m, held, want := busyMount(t)
	m.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, time.Minute, "the busy mount to be detached", func() bool { return !Mounted(m.Dir) })
	notDead(t, m.Dir)
	got := make([]byte, len(want))
	if _, err := held.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reading the held file after the mount was detached: %v (equal: %v)", err, bytes.Equal(got, want))
	}
	select {
	case err := <-m.exited:
		t.Fatalf("the mount process ended (%v) while a file was still open in it:\n%s", err, m.Stderr())
	default:
	}
	if !strings.Contains(m.Stderr(), "busy") || !strings.Contains(m.Stderr(), m.Dir) {
		t.Errorf("stderr does not say the mountpoint is busy:\n%s", m.Stderr())
	}
	held.Close()
	select {
	case err := <-m.exited:
		if err != nil {
			t.Fatalf("the mount process exited with %v after the holder let go:\n%s", err, m.Stderr())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the mount process did not end within a minute of the last holder letting go:\n%s", m.Stderr())
	}
	notDead(t, m.Dir)
}

// TestMountSecondSignalWhileBusy: a second SIGTERM ends the process at
// once even while a file is held; the mountpoint is not left dead.
func TestMountSecondSignalWhileBusy(t *testing.T) {
	m, held, _ := busyMount(t)
	m.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, time.Minute, "the busy mount to be detached", func() bool { return !Mounted(m.Dir) })
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.exited:
		if err != nil {
			t.Fatalf("the mount process exited with %v after a second SIGTERM:\n%s", err, m.Stderr())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the mount process did not end within a minute of a second SIGTERM:\n%s", m.Stderr())
	}
	notDead(t, m.Dir)
	if _, err := held.ReadAt(make([]byte, 4096), 2<<20); err == nil {
		t.Errorf("a read of the held file after the mount process ended succeeded")
	}
}

var statsRE = regexp.MustCompile(`cache: hits=\d+ misses=\d+ disk_hits=\d+ zero_hits=(\d+) fetches=(\d+)`)

// cacheStats asks the mount process for its cache statistics (SIGUSR1)
// and returns its zero hits and fetches.
func cacheStats(t *testing.T, m *Mount) (zeroHits, fetches int) {
	t.Helper()
	before := len(statsRE.FindAllString(m.Stderr(), -1))
	m.cmd.Process.Signal(syscall.SIGUSR1)
	var all [][]string
	waitFor(t, time.Minute, "cache statistics on SIGUSR1", func() bool {
		all = statsRE.FindAllStringSubmatch(m.Stderr(), -1)
		return len(all) > before
	})
	last := all[len(all)-1]
	zeroHits, _ = strconv.Atoi(last[1])
	fetches, _ = strconv.Atoi(last[2])
	return zeroHits, fetches
}

// TestMountOddZeroChunksNotFetched: reading an image whose last chunk is
// 12 KiB + 5 bytes of zeros, and a tree file of 70001 zero bytes, through
// a real mount fetches nothing for them: the cache knows zero chunks of
// every size by digest.
func TestMountOddZeroChunksNotFetched(t *testing.T) {
	dir := t.TempDir()
	img := append(bytes.Repeat([]byte("backupfs"), 512<<10), make([]byte, 12<<10+5)...) // 4 MiB of data, a zero tail
	if err := os.WriteFile(filepath.Join(dir, "disk.img"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "zeros"), make([]byte, 70001), 0o644); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(dir, "ds")
	InitDatastore(t, ds)
	MustRun(t, "backup", "--datastore", ds, "/host/zero", "disk.img:"+filepath.Join(dir, "disk.img"), "root.tree:"+src)
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	m := StartMount(t, nil, mp, "--datastore", ds, "--readahead", "0", "/host/zero/latest")

	f, err := os.Open(filepath.Join(mp, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mp, "root", "zeros")); err != nil {
		t.Fatal(err)
	}
	zero0, fetched0 := cacheStats(t, m)

	tail := make([]byte, 12<<10+5)
	if _, err := f.ReadAt(tail, int64(len(img)-len(tail))); err != nil || !bytes.Equal(tail, make([]byte, len(tail))) {
		t.Fatalf("reading the image's zero tail: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(mp, "root", "zeros")); err != nil || !bytes.Equal(got, make([]byte, 70001)) {
		t.Fatalf("reading a file of 70001 zeros: %d bytes, %v", len(got), err)
	}
	zero1, fetched1 := cacheStats(t, m)
	if fetched1 != fetched0 || zero1 <= zero0 {
		t.Fatalf("reading zero chunks of odd sizes: %d fetches (want none) and %d zero hits:\n%s",
			fetched1-fetched0, zero1-zero0, m.Stderr())
	}
}
