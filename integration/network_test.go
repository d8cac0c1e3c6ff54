package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var uploadedRE = regexp.MustCompile(`uploaded (\d+) chunks`)

func uploaded(t *testing.T, out string) int {
	t.Helper()
	m := uploadedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup output does not say how many chunks it uploaded: %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestNetworkRoundTrip backs up GOROOT/src over loopback TLS, lists and
// restores it, and checks that a second backup after a small change
// uploads only the changed chunks.
func TestNetworkRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")

	first := srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src)
	n1 := uploaded(t, first)
	groups := srv.MustClient(tok, "ls", srv.Repo("/"))
	if strings.TrimSpace(groups) != "host/goroot" {
		t.Fatalf("ls over the network: %q", groups)
	}
	out := filepath.Join(t.TempDir(), "r")
	srv.MustClient(tok, "restore", srv.Repo("/host/goroot/latest/src.tree"), out)
	Sh(t, "diff", "-r", "--no-dereference", src, out)
	if a, b := Metadata(t, src), Metadata(t, out); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("metadata differs after a network restore:\n%s", DiffLines(a, b, 20))
	}

	for _, p := range []string{"fmt/print.go", "os/file.go"} {
		f, err := os.OpenFile(filepath.Join(src, p), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("// changed\n")
		f.Close()
	}
	second := srv.MustClient(tok, "backup", "--time", "2026-11-21T10:00:00Z", srv.Repo("/host/goroot"), "src.tree:"+src)
	n2 := uploaded(t, second)
	t.Logf("first backup uploaded %d chunks, second (2 files changed) %d", n1, n2)
	if n1 < 100 || n2 == 0 || n2 > 8 {
		t.Fatalf("uploads: first %d, second %d; want the second to upload only the few changed chunks", n1, n2)
	}
	out2 := filepath.Join(t.TempDir(), "r2")
	srv.MustClient(tok, "restore", srv.Repo("/host/goroot/latest/src.tree"), out2)
	Sh(t, "diff", "-r", "--no-dereference", src, out2)
	MustRun(t, "verify", "--datastore", srv.Datastore)
}

// TestNetworkAccess: wrong token, wrong fingerprint, scope and read-only
// tokens are refused with a clear message.
func TestNetworkAccess(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src", "fmt")
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	admin := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(admin, "backup", srv.Repo("/host/a"), "a.tree:"+src)
	srv.MustClient(admin, "backup", srv.Repo("/host/b"), "b.tree:"+src)
	onlyA := srv.Token("reader-a", "read:host/a")
	backupOnly := srv.Token("writer", "backup:host/*")

	check := func(name string, r Result, want string) {
		t.Helper()
		if r.Code == 0 || !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want one line containing %q", name, r.Code, r.Stderr, want)
		}
	}
	check("wrong token", srv.Client("bfs1.admin.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ls", srv.Repo("/")), "denied")
	good := srv.Fingerprint
	srv.Fingerprint = strings.Repeat("ab", 32)
	check("wrong fingerprint", srv.Client(admin, "ls", srv.Repo("/")), "fingerprint")
	srv.Fingerprint = good

	if out := srv.MustClient(onlyA, "ls", srv.Repo("/")); strings.TrimSpace(out) != "host/a" {
		t.Errorf("reader of host/a lists %q, want only host/a", out)
	}
	check("read out of scope", srv.Client(onlyA, "ls", srv.Repo("/host/b")), "not found")
	check("restore out of scope", srv.Client(onlyA, "restore", srv.Repo("/host/b/latest/b.tree"), filepath.Join(t.TempDir(), "x")), "not found")
	check("reader backs up", srv.Client(onlyA, "backup", srv.Repo("/host/a"), "a.tree:"+src), "denied")
	check("writer reads", srv.Client(backupOnly, "restore", srv.Repo("/host/a/latest/a.tree"), filepath.Join(t.TempDir(), "y")), "not found")
	srv.MustClient(backupOnly, "backup", srv.Repo("/host/c"), "c.tree:"+src)

	MustRun(t, "token", "--datastore", srv.Datastore, "revoke", "reader-a")
	check("revoked token", srv.Client(onlyA, "ls", srv.Repo("/")), "denied")
}
