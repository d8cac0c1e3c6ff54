package integration

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Times of the corruption datastore's snapshots.
const (
	corruptT1 = "2026-11-20T10:00:00Z"
	corruptT2 = "2026-11-21T10:00:00Z"
)

// corruptFixture is a datastore with several snapshots and archives:
// /host/a at T1 (fmt.tree, sort.tree) and T2 (fmt.tree, sort.tree of a
// different source), /host/b at T1 (b.tree, whose chunks nothing else has).
type corruptFixture struct {
	ds     string
	src    map[string]string // "group/time/archive" -> source directory
	bOnly  string            // largest chunk only /host/b references, relative to ds
	pristn string            // a pristine copy of ds
}

func newCorruptFixture(t *testing.T) *corruptFixture {
	t.Helper()
	base := filepath.Join(GoRoot(t), "src")
	f := &corruptFixture{ds: NewDatastore(t), src: map[string]string{
		"host/a/" + corruptT1 + "/fmt.tree":  filepath.Join(base, "fmt"),
		"host/a/" + corruptT1 + "/sort.tree": filepath.Join(base, "sort"),
		"host/a/" + corruptT2 + "/fmt.tree":  filepath.Join(base, "fmt"),
		"host/a/" + corruptT2 + "/sort.tree": filepath.Join(base, "strings"),
		"host/b/" + corruptT1 + "/b.tree":    filepath.Join(base, "bufio"),
	}}
	MustRun(t, "backup", "--datastore", f.ds, "--time", corruptT1, "/host/a", "fmt.tree:"+filepath.Join(base, "fmt"), "sort.tree:"+filepath.Join(base, "sort"))
	MustRun(t, "backup", "--datastore", f.ds, "--time", corruptT2, "/host/a", "fmt.tree:"+filepath.Join(base, "fmt"), "sort.tree:"+filepath.Join(base, "strings"))
	before := chunkFiles(t, f.ds)
	MustRun(t, "backup", "--datastore", f.ds, "--time", corruptT1, "/host/b", "b.tree:"+filepath.Join(base, "bufio"))
	var size int64
	for p := range chunkFiles(t, f.ds) {
		if fi, err := os.Stat(p); err == nil && !before[p] && fi.Size() > size {
			f.bOnly, size = strings.TrimPrefix(p, f.ds+"/"), fi.Size()
		}
	}
	if f.bOnly == "" {
		t.Fatal("/host/b's backup added no chunk of its own")
	}
	f.pristn = filepath.Join(t.TempDir(), "pristine")
	Sh(t, "cp", "-a", f.ds, f.pristn)
	return f
}

// fresh returns a new copy of the pristine datastore.
func (f *corruptFixture) fresh(t *testing.T) string {
	t.Helper()
	ds := filepath.Join(t.TempDir(), "ds")
	Sh(t, "cp", "-a", f.pristn, ds)
	return ds
}

// flipAt xors one bit of the byte at off (negative: from the middle).
func flipAt(t *testing.T, p string, off int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off = len(b) / 2
	}
	b[off] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// manifestDigestOffset is the offset of the first hex digit of the first
// index file's SHA-256 in a manifest: flipping its low bit keeps the JSON
// valid ('0'<->'1', 'a'<->'`'...) so only the checksum check can catch it.
func manifestDigestOffset(t *testing.T, p string) int {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"sha256": "`))
	if i < 0 {
		t.Fatalf("no sha256 in %s:\n%s", p, b)
	}
	return i + len(`"sha256": "`)
}

// oneLineFailure fails the test unless r is a non-zero exit with exactly
// one non-empty line on stderr.
func oneLineFailure(t *testing.T, what string, r Result) {
	t.Helper()
	if e := strings.TrimSpace(r.Stderr); r.Code == 0 || e == "" || strings.Contains(e, "\n") {
		t.Errorf("%s: exit %d, stderr %q; want one clear line and a non-zero exit", what, r.Code, r.Stderr)
	}
}

// restoreFailure fails the test unless r is a non-zero exit whose stderr
// is one line, or "failed: ..." lines (the files a tree restore could not
// restore) and then one line.
func restoreFailure(t *testing.T, what string, r Result) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	ok := r.Code != 0 && lines[len(lines)-1] != ""
	for _, l := range lines[:len(lines)-1] {
		ok = ok && strings.HasPrefix(l, "failed: ")
	}
	if !ok {
		t.Errorf("%s: exit %d, stderr %q; want a non-zero exit, one line per failed file and one clear line", what, r.Code, r.Stderr)
	}
}

// onlyWholeFiles fails the test if a regular file under out differs from
// its counterpart under src: a failed restore leaves no partial file.
func onlyWholeFiles(t *testing.T, src, out string) {
	t.Helper()
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel := strings.TrimPrefix(p, out+"/")
		if c := RunCmd(t, exec.Command("cmp", filepath.Join(src, rel), p)); c.Code != 0 {
			t.Errorf("restore left %s, not equal to its source: %s%s", rel, c.Stdout, c.Stderr)
		}
		return nil
	})
}

// TestCorruption: a bit flip or a truncation of a chunk, an index file or a
// manifest in a datastore with several snapshots and archives. verify
// reports each (non-zero exit, naming the snapshot and the file or digest);
// restore of what depends on it fails with one line (or a line per file
// it could not restore, then one line), and every file it did restore is
// whole and equal to its source; through a mount the
// dependent reads give EIO (or the snapshot is absent) and never wrong
// bytes, while every other snapshot and archive reads and compares equal.
func TestCorruption(t *testing.T) {
	f := newCorruptFixture(t)
	a1, a2 := "host/a/"+corruptT1, "host/a/"+corruptT2
	cases := []struct {
		name    string
		file    string // relative to the datastore
		damage  func(t *testing.T, p string)
		broken  []string // archives ("group/time/archive") that depend on it
		mention string   // what verify must name
	}{
		{"chunk-flip", f.bOnly, func(t *testing.T, p string) { flipAt(t, p, -1) },
			[]string{"host/b/" + corruptT1 + "/b.tree"}, filepath.Base(f.bOnly)},
		{"chunk-truncate", f.bOnly, truncateHalf,
			[]string{"host/b/" + corruptT1 + "/b.tree"}, filepath.Base(f.bOnly)},
		{"index-flip", a2 + "/sort.tree.payload.didx", func(t *testing.T, p string) { flipAt(t, p, -1) },
			[]string{a2 + "/sort.tree"}, "sort.tree.payload.didx"},
		{"index-truncate", a2 + "/sort.tree.meta.didx", truncateHalf,
			[]string{a2 + "/sort.tree"}, "sort.tree.meta.didx"},
		{"manifest-flip-syntax", a1 + "/manifest.json", func(t *testing.T, p string) { flipAt(t, p, 0) },
			[]string{a1 + "/fmt.tree", a1 + "/sort.tree"}, "manifest"},
		{"manifest-flip-checksum", a1 + "/manifest.json", func(t *testing.T, p string) { flipAt(t, p, manifestDigestOffset(t, p)) },
			[]string{a1 + "/fmt.tree"}, "fmt.tree.meta.didx"},
		{"manifest-truncate", a1 + "/manifest.json", truncateHalf,
			[]string{a1 + "/fmt.tree", a1 + "/sort.tree"}, "manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := f.fresh(t)
			c.damage(t, filepath.Join(ds, c.file))
			broken := map[string]bool{}
			for _, b := range c.broken {
				broken[b] = true
			}
			checkMountAfterCorruption(t, f, ds, broken)
			checkRestoreAfterCorruption(t, f, ds, broken)
			r := Run(t, "verify", "--datastore", ds)
			group := "/" + strings.Join(strings.SplitN(c.broken[0], "/", 4)[:3], "/")
			if r.Code == 0 || !strings.Contains(r.Stdout, "BAD "+group) || !strings.Contains(r.Stdout, c.mention) {
				t.Errorf("verify: exit %d\nstdout:\n%s\nstderr:\n%s\nwant a non-zero exit and BAD %s naming %s", r.Code, r.Stdout, r.Stderr, group, c.mention)
			}
		})
	}
}

// checkRestoreAfterCorruption restores every archive: the broken ones must
// fail with one line (after a line per failed file, if any) and leave only
// whole files equal to their sources, the others must compare equal to
// their sources.
func checkRestoreAfterCorruption(t *testing.T, f *corruptFixture, ds string, broken map[string]bool) {
	t.Helper()
	for arch, src := range f.src {
		out := filepath.Join(t.TempDir(), "r")
		r := Run(t, "restore", "--datastore", ds, "/"+arch, out)
		if broken[arch] {
			restoreFailure(t, "restore of /"+arch, r)
			onlyWholeFiles(t, src, out)
			continue
		}
		if r.Code != 0 {
			t.Errorf("restore of intact /%s: exit %d: %s", arch, r.Code, r.Stderr)
			continue
		}
		if d := RunCmd(t, exec.Command("diff", "-r", src, out)); d.Code != 0 {
			t.Errorf("restore of intact /%s differs from its source:\n%s%s", arch, d.Stdout, d.Stderr)
		}
	}
}

// checkMountAfterCorruption mounts the datastore's /host: intact archives
// compare equal with diff -r; broken ones fail with EIO or are absent, and
// diff never reports differing contents (wrong bytes).
func checkMountAfterCorruption(t *testing.T, f *corruptFixture, ds string, broken map[string]bool) {
	t.Helper()
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	m := StartMount(t, nil, mp, "--datastore", ds, "/host")
	for arch, src := range f.src {
		p := strings.SplitN(arch, "/", 4) // host, group id, time, NAME.tree
		dir := filepath.Join(mp, p[1], p[2], strings.TrimSuffix(p[3], ".tree"))
		d := RunCmd(t, exec.Command("diff", "-r", src, dir))
		out := d.Stdout + d.Stderr
		switch {
		case !broken[arch] && d.Code != 0:
			t.Errorf("intact /%s through the mount differs:\n%s", arch, out)
		case broken[arch] && d.Code == 0:
			t.Errorf("corrupt /%s read through the mount without an error", arch)
		case broken[arch] && (strings.Contains(out, " differ") || strings.Contains(out, "\n<") || strings.Contains(out, "\n>")):
			t.Errorf("corrupt /%s: the mount served wrong bytes:\n%s", arch, out)
		case broken[arch] && !strings.Contains(out, "Input/output error") && !strings.Contains(out, "No such file"):
			t.Errorf("corrupt /%s: diff failed without EIO or absence:\n%s", arch, out)
		}
	}
	m.Stop()
	for arch := range broken {
		snap := arch[:strings.LastIndex(arch, "/")]
		if !strings.Contains(m.Stderr(), "level=ERROR") || !strings.Contains(m.Stderr(), snap) {
			t.Errorf("the mount logged no error naming %s:\n%s", snap, m.Stderr())
		}
	}
}
