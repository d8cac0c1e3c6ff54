package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var reuseRE = regexp.MustCompile(`(\d+) files read, (\d+) unchanged since (\S+) reused unread`)

// changeOnePercent changes every 100th regular file of root (sorted walk
// order): alternately new contents of the same size with a new mtime, and
// a few appended bytes. It also deletes, adds and renames one file. It
// returns how many files the next backup must read.
func changeOnePercent(t *testing.T, root string) int {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	changed := 0
	for i := 50; i < len(files); i += 100 {
		b, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if changed%2 == 0 {
			for j := range b {
				b[j] ^= 0x20
			}
		} else {
			b = append(b, "// changed\n"...)
		}
		if err := os.WriteFile(files[i], b, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(files[i], later, later); err != nil {
			t.Fatal(err)
		}
		changed++
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(files[7]))
	must(os.WriteFile(filepath.Join(root, "fmt", "added.go"), []byte("package fmt // added\n"), 0o644))
	must(os.Rename(files[len(files)-7], files[len(files)-7]+".renamed"))
	return changed + 2
}

// TestIncrementalNetwork backs GOROOT/src up over TLS, changes 1% of the
// files, backs up again (the CLI must report the others reused unread),
// and checks the second snapshot through a FUSE mount and a restore.
func TestIncrementalNetwork(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	first := srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src)
	if !strings.Contains(first, "(no previous snapshot)") {
		t.Fatalf("first backup output: %q", first)
	}
	want := changeOnePercent(t, src)
	second := srv.MustClient(tok, "backup", "--time", "2026-11-21T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src)
	m := reuseRE.FindStringSubmatch(second)
	if m == nil {
		t.Fatalf("second backup does not report reuse: %q", second)
	}
	read, _ := strconv.Atoi(m[1])
	reused, _ := strconv.Atoi(m[2])
	t.Logf("second backup: %d files read, %d reused\n%s", read, reused, second)
	// A few unchanged files next to changed ones are read too, rather than
	// start a reuse run in the middle of a chunk (backup/reuse.go).
	if read < want || read > 3*want || reused < 30*want || m[3] != "/host/goroot/2026-11-20T10:00:00Z" {
		t.Fatalf("second backup read %d files and reused %d from %s; want %d..%d read, the rest reused from the first",
			read, reused, m[3], want, 3*want)
	}

	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/host/goroot"))
	Sh(t, "diff", "-r", "--no-dereference", src, filepath.Join(mp, "latest", "src"))
	if a, b := Metadata(t, src), Metadata(t, filepath.Join(mp, "latest", "src")); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata through the mount differs:\n%s", DiffLines(a, b, 20))
	}
	mnt.Stop()

	out := filepath.Join(t.TempDir(), "r")
	srv.MustClient(tok, "restore", srv.Repo("/host/goroot/latest/src.tree"), out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata differs after restore:\n%s", DiffLines(a, b, 20))
	}

	full := srv.MustClient(tok, "backup", "--full-read", "--time", "2026-11-22T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src)
	if !strings.Contains(full, "(--full-read)") || strings.Contains(full, "reused unread") {
		t.Fatalf("--full-read backup output: %q", full)
	}
	MustRun(t, "verify", "--datastore", srv.Datastore)
}
