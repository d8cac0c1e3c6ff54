package fs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/internal/syncbuf"
	"golang.org/x/sys/unix"
)

// TestMount mounts for real (as root, with /dev/fuse) to check Mount's
// refusals and one read through the kernel. Without root it skips; as root
// a missing /dev/fuse fails the test.
func TestMount(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("running as root but FUSE is missing: %v", err)
	}
	f := newFixture(t)
	o := Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}}
	dir := t.TempDir()
	full := t.TempDir()
	write(t, filepath.Join(full, "x"), nil)
	for _, tc := range []struct{ dir, want string }{
		{full, "not empty"},
		{filepath.Join(full, "x"), "not a directory"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		if _, err := Mount(tc.dir, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Mount(%s): %v, want %q", tc.dir, err, tc.want)
		}
	}
	srv, err := Mount(dir, o)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() { srv.Unmount() })
	if _, err := Mount(dir, o); err == nil || !strings.Contains(err.Error(), "already mounted") {
		t.Errorf("second Mount: %v, want already mounted", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "vm/100/latest/root/files/fg"))
	want, _ := os.ReadFile(filepath.Join(f.src, "files/fg"))
	if err != nil || string(got) != string(want) {
		t.Errorf("read through the mount: %v, %d bytes of %d", err, len(got), len(want))
	}
	if err := os.WriteFile(filepath.Join(dir, "vm/x"), nil, 0o644); err == nil {
		t.Error("a write through the mount succeeded")
	}
	// The kernel's readahead for the mount is raised to the largest read.
	var st unix.Stat_t
	must(t, unix.Stat(dir, &st))
	ra, err := os.ReadFile(fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil || strings.TrimSpace(string(ra)) != strconv.Itoa(maxRead>>10) {
		t.Errorf("read_ahead_kb of the mount: %q, %v; want %d", ra, err, maxRead>>10)
	}
	must(t, srv.Unmount())
}

// TestMountLargeReadsQuiet: 1 MiB reads through the kernel come back
// whole and leave nothing in the log. With go-fuse's splice on, every READ
// first tried a pipe, and one of 1 MiB failed to grow it and logged
// "trySplice" each time.
func TestMountLargeReadsQuiet(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	var logged syncbuf.Buffer
	dir := t.TempDir()
	srv, err := Mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{},
		Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })
	want, err := os.ReadFile(filepath.Join(f.src, "files/fg"))
	if err != nil || len(want) < 1<<20 {
		t.Fatalf("fixture file: %d bytes, %v", len(want), err)
	}
	fh, err := os.Open(filepath.Join(dir, "vm/100/latest/root/files/fg"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	got := make([]byte, len(want))
	if n, err := io.ReadFull(fh, got); err != nil || !bytes.Equal(got[:n], want) {
		t.Fatalf("read %d bytes, %v; equal %v", n, err, bytes.Equal(got, want))
	}
	if s := logged.String(); strings.Contains(s, "trySplice") {
		t.Errorf("the mount logged splice failures:\n%s", s)
	}
}

// TestMountXattrs reads xattrs through the kernel: shown by default,
// EOPNOTSUPP with NoXattrs (the kernel stops asking after one ENOSYS).
func TestMountXattrs(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	if !f.xattr {
		t.Skip("the temp file system takes no user xattrs")
	}
	for _, hide := range []bool{false, true} {
		dir := t.TempDir()
		srv, err := Mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}, NoXattrs: hide})
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		p := filepath.Join(dir, "vm/100/latest/root/files/fc")
		list, val := make([]byte, 64), make([]byte, 64)
		n, lerr := unix.Listxattr(p, list)
		m, gerr := unix.Getxattr(p, "user.note", val)
		if hide && (lerr != unix.EOPNOTSUPP || gerr != unix.EOPNOTSUPP) {
			t.Errorf("NoXattrs: listxattr %v, getxattr %v, want EOPNOTSUPP", lerr, gerr)
		}
		if !hide && (lerr != nil || gerr != nil || string(list[:n]) != "user.empty\x00user.note\x00" || string(val[:m]) != "hello") {
			t.Errorf("listxattr %q %v; getxattr %q %v", list[:n], lerr, val[:m], gerr)
		}
		must(t, srv.Unmount())
	}
}

// TestMountReaddirplus lists directories through the kernel (which uses
// READDIRPLUS: entries come with their attributes) and checks each
// entry's lstat against the source, including a snapshot's tree, which
// is listed without attributes and looked up on use.
func TestMountReaddirplus(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	dir := t.TempDir()
	srv, err := Mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	defer srv.Unmount()
	if es, err := os.ReadDir(dir); err != nil || len(es) != 2 || es[1].Name() != "root" || !es[1].IsDir() {
		t.Fatalf("snapshot listing: %v %v", es, err)
	}
	for _, sub := range []string{".", "files", "a"} {
		es, err := os.ReadDir(filepath.Join(dir, "root", sub))
		if err != nil || len(es) == 0 {
			t.Fatalf("readdir %s: %d entries, %v", sub, len(es), err)
		}
		for _, e := range es {
			var got, want unix.Stat_t
			must(t, unix.Lstat(filepath.Join(dir, "root", sub, e.Name()), &got))
			must(t, unix.Lstat(filepath.Join(f.src, sub, e.Name()), &want))
			if got.Mode != want.Mode || got.Size != want.Size && want.Mode&unix.S_IFMT != unix.S_IFDIR ||
				got.Mtim != want.Mtim || got.Uid != want.Uid {
				t.Errorf("%s/%s: mode %o size %d mtime %v, want %o %d %v", sub, e.Name(), got.Mode, got.Size, got.Mtim, want.Mode, want.Size, want.Mtim)
			}
		}
	}
}

// TestMountSkipsOpendir walks directories through the kernel: after the
// first OPENDIR is answered ENOSYS the kernel sends none, listings read
// without a handle are whole and in order from any offset, and a second
// listing comes from the kernel's cache.
func TestMountSkipsOpendir(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	dir := t.TempDir()
	m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer m.srv.Unmount()
	if !m.dirs.on.Load() {
		t.Fatal("the kernel does not offer zero-message opendirs (Linux 5.1 and later do)")
	}
	snap := filepath.Join(dir, "vm/100", catalog.FormatTime(time2), "root")
	var walked []string
	walk := func() {
		walked = walked[:0]
		must(t, filepath.WalkDir(snap, func(p string, d iofs.DirEntry, err error) error {
			walked = append(walked, p)
			return err
		}))
	}
	walk()
	first := slices.Clone(walked)
	var want []string
	must(t, filepath.WalkDir(f.src, func(p string, d iofs.DirEntry, err error) error {
		want = append(want, snap+strings.TrimPrefix(p, f.src))
		return err
	}))
	if !slices.Equal(first, want) {
		t.Fatalf("walk through the mount:\n%q\nwant\n%q", first, want)
	}
	if n := m.dirs.opendirs.Load(); n != 1 {
		t.Errorf("the kernel sent %d OPENDIRs, want only the first", n)
	}
	calls := f.cache.Stats()
	walk()
	if !slices.Equal(walked, first) {
		t.Errorf("second walk differs: %q", walked)
	}
	if got := f.cache.Stats(); got.Hits+got.Misses != calls.Hits+calls.Misses {
		t.Errorf("second walk read the catalog again (%d reads, then %d): the kernel did not cache the listings", calls.Hits+calls.Misses, got.Hits+got.Misses)
	}
}

// TestMountListingsRefresh: a kernel-cached listing of a group or a type
// shows a new snapshot or group once the list refreshes, because the
// directory's mtime follows its listing.
func TestMountListingsRefresh(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	dir := t.TempDir()
	m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}, Refresh: time.Second})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer m.srv.Unmount()
	list := func(p string) string {
		es, err := os.ReadDir(filepath.Join(dir, p))
		must(t, err)
		var ns []string
		for _, e := range es {
			ns = append(ns, e.Name())
		}
		return strings.Join(ns, " ")
	}
	t1, t2 := catalog.FormatTime(time1), catalog.FormatTime(time2)
	if got := list("vm/100"); got != t1+" "+t2+" latest" {
		t.Fatalf("group lists %q", got)
	}
	if got := list("vm"); got != "100" {
		t.Fatalf("type lists %q", got)
	}
	t3 := catalog.FormatTime(time2.Add(time.Hour))
	from := filepath.Join(f.store.Dir(), "vm/100", t2)
	copyDir(t, from, filepath.Join(f.store.Dir(), "vm/100", t3))
	copyDir(t, from, filepath.Join(f.store.Dir(), "vm/101", t2))
	// Past the kernel's attribute timeout and the refresh interval, the
	// next listing from offset 0 checks the mtime: wait for that, not for
	// a guess at how long it takes on a loaded machine.
	var group, typ string
	if !waitFor(func() bool {
		group, typ = list("vm/100"), list("vm")
		return group == t1+" "+t2+" "+t3+" latest" && typ == "100 101"
	}) {
		t.Errorf("after a snapshot and a group were added, the group lists %q and the type %q", group, typ)
	}
}

// TestMountBigDirectory lists a directory too big for one READDIRPLUS
// reply: the handle-less reads after the first start at the kernel's
// offset, and the listing is whole, in order, without repeats.
func TestMountBigDirectory(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	src := t.TempDir()
	var want []string
	for i := range 700 {
		name := fmt.Sprintf("entry-with-a-long-name-so-replies-fill-up-%04d", i)
		write(t, filepath.Join(src, name), nil)
		want = append(want, name)
	}
	g := catalog.Group{Type: "ct", ID: "7"}
	w, err := f.store.Begin(g, time1)
	must(t, err)
	_, err = backup.Run(context.Background(), w, backup.Options{Group: g, Time: time1,
		Archives: []backup.Spec{{Name: "root.tree", Path: src}}}, &backup.Stats{})
	must(t, err)
	dir := t.TempDir()
	m, err := mount(dir, Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{}})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer m.srv.Unmount()
	reads := m.dirs.reads.Load()
	es, err := os.ReadDir(filepath.Join(dir, "ct/7/latest/root"))
	must(t, err)
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d entries, want %d in order; first difference near %q", len(got), len(want), firstDiff(got, want))
	}
	if n := m.dirs.reads.Load() - reads; n < 3 {
		t.Errorf("%d handle-less reads: the listing fit in one reply, so offsets were not tested", n)
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return "the end"
}
