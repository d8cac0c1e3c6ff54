package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTreeRoundTripGoroot backs up a real tree nobody here wrote (the Go
// toolchain's own sources), restores it, and compares contents with diff -r
// and metadata with find -printf; then restores a subdirectory and a file.
func TestTreeRoundTripGoroot(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src")
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/goroot", "src.tree:"+src)

	snaps := strings.Fields(MustRun(t, "ls", "--datastore", ds, "/host/goroot"))
	if len(snaps) != 1 || !strings.HasSuffix(snaps[0], "Z") || len(snaps[0]) != len("2026-11-21T10:00:00Z") {
		t.Fatalf("ls /host/goroot = %q, want one RFC 3339 time", snaps)
	}
	out := filepath.Join(t.TempDir(), "restored")
	MustRun(t, "restore", "--datastore", ds, "/host/goroot/latest/src.tree", out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata differs after restore:\n%s", DiffLines(a, b, 20))
	}

	sub := filepath.Join(t.TempDir(), "http")
	MustRun(t, "restore", "--datastore", ds, "/host/goroot/"+snaps[0]+"/src.tree/net/http", sub)
	Sh(t, "diff", "-r", filepath.Join(src, "net/http"), sub)

	one := filepath.Join(t.TempDir(), "fmt.go")
	MustRun(t, "restore", "--datastore", ds, "/host/goroot/latest/src.tree/fmt/print.go", one)
	Sh(t, "cmp", filepath.Join(src, "fmt/print.go"), one)

	var rows []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Size uint64 `json:"size"`
	}
	js := MustRun(t, "ls", "--datastore", ds, "--json", "/host/goroot/latest/src.tree/fmt")
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, js)
	}
	fi, err := os.Stat(filepath.Join(src, "fmt/print.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r.Name == "print.go" {
			found = r.Size == uint64(fi.Size())
		}
	}
	if !found {
		t.Fatalf("ls --json of fmt lacks print.go with size %d: %s", fi.Size(), js)
	}
}

// TestRestoreRefusesToOverwrite: restore never writes over existing data.
func TestRestoreRefusesToOverwrite(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src", "fmt")
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/a", "fmt.tree:"+src)
	target := t.TempDir()
	keep := filepath.Join(target, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Run(t, "restore", "--datastore", ds, "/host/a/latest/fmt.tree", target)
	if r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Fatalf("restore into a non-empty dir: exit %d, stderr %q; want a refusal", r.Code, r.Stderr)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Fatalf("existing file changed to %q", b)
	}
	for _, bad := range []string{"/host/a/latest/fmt.tree/../etc", "/host/a/latest/fmt.tree//x", "host/a", "/host/a/latest/x.zip"} {
		r := Run(t, "restore", "--datastore", ds, bad, filepath.Join(t.TempDir(), "x"))
		if r.Code == 0 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("restore %q: exit %d, stderr %q; want one clear line and a non-zero exit", bad, r.Code, r.Stderr)
		}
	}
}

// TestSecondBackupGrowsLittle: after a small change, a second backup of a
// copy of GOROOT/src grows the datastore by under 5%.
func TestSecondBackupGrowsLittle(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "--time", "2026-11-20T10:00:00Z", "/host/goroot", "src.tree:"+src)
	first := duBytes(t, ds)

	edit := func(p string, f func([]byte) []byte) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"fmt/print.go", "net/http/server.go", "os/file.go", "sort/sort.go", "strings/builder.go"} {
		edit(filepath.Join(src, p), func(b []byte) []byte { return append(b, "// edited\n"...) })
	}
	edit(filepath.Join(src, "runtime/proc.go"), func(b []byte) []byte {
		mid := len(b) / 2
		return append(append(append([]byte{}, b[:mid]...), "/* inserted */"...), b[mid:]...)
	})
	MustRun(t, "backup", "--datastore", ds, "--time", "2026-11-21T10:00:00Z", "/host/goroot", "src.tree:"+src)
	second := duBytes(t, ds)
	growth := float64(second-first) / float64(first)
	t.Logf("datastore: %d bytes after the first backup, %d after the second: +%.2f%%", first, second, 100*growth)
	if growth >= 0.05 {
		t.Fatalf("second backup grew the datastore by %.2f%%, want under 5%%", 100*growth)
	}
	out := filepath.Join(t.TempDir(), "r")
	MustRun(t, "restore", "--datastore", ds, "/host/goroot/latest/src.tree", out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
}

func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	f := strings.Fields(Sh(t, "du", "-sb", dir))
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCorruptChunkCaught flips a byte in a stored chunk: restore fails with
// a clear error, verify reports it with a non-zero exit and marks it, and
// a new backup of the same data repairs the datastore.
func TestCorruptChunkCaught(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src", "fmt")
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "--time", "2026-11-20T10:00:00Z", "/host/a", "fmt.tree:"+src)
	victim := largestChunk(t, ds)
	flipMiddleByte(t, victim)

	r := Run(t, "restore", "--datastore", ds, "/host/a/latest/fmt.tree", filepath.Join(t.TempDir(), "r"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "corrupt") {
		t.Fatalf("restore with a corrupt chunk: exit %d, stderr %q; want a corrupt-chunk error", r.Code, r.Stderr)
	}
	r = Run(t, "verify", "--datastore", ds)
	if r.Code == 0 || !strings.Contains(r.Stdout, "BAD") || !strings.Contains(r.Stdout, filepath.Base(victim)) {
		t.Fatalf("verify: exit %d, stdout %q; want BAD naming %s", r.Code, r.Stdout, filepath.Base(victim))
	}
	MustRun(t, "backup", "--datastore", ds, "--time", "2026-11-21T10:00:00Z", "/host/a", "fmt.tree:"+src)
	MustRun(t, "verify", "--datastore", ds)
	out := filepath.Join(t.TempDir(), "r")
	MustRun(t, "restore", "--datastore", ds, "/host/a/2026-11-20T10:00:00Z/fmt.tree", out)
	Sh(t, "diff", "-r", src, out)
}

func largestChunk(t *testing.T, ds string) string {
	t.Helper()
	var best string
	var size int64
	err := filepath.Walk(filepath.Join(ds, ".chunks"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > size {
			best, size = p, fi.Size()
		}
		return err
	})
	if err != nil || best == "" {
		t.Fatalf("no chunk files under %s: %v", ds, err)
	}
	return best
}

// TestPruneGCForget keeps what the policy says, frees space with gc, and
// leaves the kept snapshot complete.
func TestPruneGCForget(t *testing.T) {
	ds := NewDatastore(t)
	base := filepath.Join(GoRoot(t), "src")
	times := []string{"2026-11-18T10:00:00Z", "2026-11-19T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"}
	for i, dir := range []string{"fmt", "sort", "strings", "bufio"} {
		MustRun(t, "backup", "--datastore", ds, "--time", times[i], "/vm/100", "root.tree:"+filepath.Join(base, dir))
	}
	if r := Run(t, "prune", "--datastore", ds, "/vm/100"); r.Code == 0 {
		t.Fatal("prune without a keep option succeeded; want a refusal")
	}
	out := MustRun(t, "prune", "--datastore", ds, "/vm/100", "--keep-last", "2")
	if strings.Count(out, "remove ") != 2 || !strings.Contains(out, "keep /vm/100/"+times[3]) {
		t.Fatalf("prune --keep-last 2:\n%s", out)
	}
	MustRun(t, "forget", "--datastore", ds, "/vm/100/"+times[2])
	before := duBytes(t, ds)
	gc := MustRun(t, "gc", "--datastore", ds, "--grace", "0s")
	after := duBytes(t, ds)
	if after >= before || !strings.Contains(gc, "removed") {
		t.Fatalf("gc freed nothing: %d -> %d bytes\n%s", before, after, gc)
	}
	snaps := strings.Fields(MustRun(t, "ls", "--datastore", ds, "/vm/100"))
	if len(snaps) != 1 || snaps[0] != times[3] {
		t.Fatalf("snapshots left: %q, want only %s", snaps, times[3])
	}
	MustRun(t, "verify", "--datastore", ds)
	r := filepath.Join(t.TempDir(), "r")
	MustRun(t, "restore", "--datastore", ds, "/vm/100/latest/root.tree", r)
	Sh(t, "diff", "-r", filepath.Join(base, "bufio"), r)
}

// TestBackupCLIErrors: bad arguments give one clear line and a non-zero exit.
func TestBackupCLIErrors(t *testing.T) {
	ds := NewDatastore(t)
	cases := [][]string{
		{"backup", "--datastore", ds, "/vm/../etc", "a.tree:/tmp"},
		{"backup", "--datastore", ds, "/vm/100", "a.zip:/tmp"},
		{"backup", "--datastore", ds, "/vm/100", "a.tree:/does/not/exist"},
		{"backup", "--datastore", ds, "/nas/100", "a.tree:/tmp"},
		{"ls", "--datastore", filepath.Join(ds, "missing")},
		{"ls", "--datastore", ds, "/vm/100/yesterday"},
	}
	for _, c := range cases {
		r := RunCmd(t, exec.Command(Binary(t), c...))
		if r.Code == 0 || r.Stderr == "" || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line and a non-zero exit", c, r.Code, r.Stderr)
		}
	}
}
