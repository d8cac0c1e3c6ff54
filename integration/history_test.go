package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHistoryView: the mount's GROUP/.history over three snapshots, with a
// file changed in each, one unchanged and one deleted after the first: each
// lists its distinct versions as links to the snapshots, the links read
// the bytes of their version, and the group's listing (so find and cp -a)
// does not show .history.
func TestHistoryView(t *testing.T) {
	src := t.TempDir()
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	put := func(name, data string) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		// Each write gets its own mtime, as edits on a real machine do.
		at := time.Date(2026, 1, 1, 0, 0, len(data), 0, time.UTC)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	times := []string{"2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z"}
	contents := []string{"one", "two!", "three"}
	put("same.txt", "never changes")
	put("gone.txt", "deleted after the first")
	for i, at := range times {
		put("etc/changed.conf", contents[i])
		if i == 1 {
			if err := os.Remove(filepath.Join(src, "gone.txt")); err != nil {
				t.Fatal(err)
			}
		}
		srv.MustClient(tok, "backup", "--time", at, srv.Repo("/host/web"), "root.tree:"+src)
	}

	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp, srv.Repo("/host/web"))
	if ls := Sh(t, "ls", "-a", mp); strings.Contains(ls, ".history") {
		t.Fatalf("the group's listing shows .history:\n%s", ls)
	}
	hist := filepath.Join(mp, ".history", "root")
	if got := strings.Fields(Sh(t, "ls", hist)); !slices.Equal(got, []string{"etc", "gone.txt", "same.txt"}) {
		t.Fatalf("ls .history/root = %q, want the union of every snapshot's names", got)
	}
	versions := func(name string) []string {
		t.Helper()
		return strings.Fields(Sh(t, "ls", filepath.Join(hist, name)))
	}
	if got := versions("etc/changed.conf"); !slices.Equal(got, times) {
		t.Fatalf("versions of etc/changed.conf = %q, want %q", got, times)
	}
	for i, at := range times {
		link := filepath.Join(hist, "etc/changed.conf", at)
		b, err := os.ReadFile(link)
		if err != nil || string(b) != contents[i] {
			t.Fatalf("read %s = %q, %v; want %q", link, b, err, contents[i])
		}
		target, err := os.Readlink(link)
		if want := "../../../../" + at + "/root/etc/changed.conf"; err != nil || target != want {
			t.Fatalf("readlink %s = %q, %v; want %q", link, target, err, want)
		}
	}
	if got := versions("same.txt"); !slices.Equal(got, times[:1]) {
		t.Fatalf("versions of the unchanged same.txt = %q, want only the first snapshot", got)
	}
	if got := versions("gone.txt"); !slices.Equal(got, times[:1]) {
		t.Fatalf("versions of gone.txt = %q, want the first snapshot (deleted in the second)", got)
	}
	if b, err := os.ReadFile(filepath.Join(hist, "gone.txt", times[0])); err != nil || string(b) != "deleted after the first" {
		t.Fatalf("read the deleted file's version: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(hist, "etc", "nope")); !os.IsNotExist(err) {
		t.Fatalf("stat of a path no snapshot has: %v, want not exist", err)
	}
	if n := strings.Count(Sh(t, "find", mp, "-name", "changed.conf"), "\n"); n != 3 {
		t.Fatalf("find over the group finds changed.conf %d times, want 3 (once per snapshot, none in .history)", n)
	}
}
