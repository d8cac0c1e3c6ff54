package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDatastoreTypo: every command taking --datastore, given a directory
// that does not exist, fails with one line saying so and how to create it,
// and creates nothing (before, serve and backup made a new empty datastore
// there). The demo's default datastore is the one made implicitly
// (cmd/backupfs TestDemo).
func TestDatastoreTypo(t *testing.T) {
	top := t.TempDir()
	typo := filepath.Join(top, "typo", "ds")
	src := filepath.Join(GoRoot(t), "src", "fmt")
	mp := filepath.Join(top, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	want := "datastore " + typo + " does not exist (create it with `backupfs init --datastore " + typo + "`)"
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0"},
		{"backup", "/host/a", "fmt.tree:" + src},
		{"ls", "/"},
		{"restore", "/host/a/latest/fmt.tree", filepath.Join(top, "out")},
		{"verify"},
		{"prune", "--keep-last", "1"},
		{"gc"},
		{"forget", "/host/a/2026-01-01T00:00:00Z"},
		{"token", "list"},
		{"fingerprint"},
		{"mount", "/host", mp},
		{"demo", "--no-wait"},
	} {
		args = append([]string{args[0], "--datastore", typo}, args[1:]...)
		// serve and demo ran on before the fix: bound them.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := RunCmd(t, exec.CommandContext(ctx, Binary(t), args...))
		cancel()
		if r.Code == 0 || strings.TrimSpace(r.Stderr) != "backupfs "+args[0]+": "+want {
			t.Errorf("backupfs %s: exit %d, stderr %q\nwant one line: backupfs %s: %s", strings.Join(args, " "), r.Code, r.Stderr, args[0], want)
		}
		if _, err := os.Lstat(filepath.Dir(typo)); !os.IsNotExist(err) {
			t.Fatalf("backupfs %s created %s", strings.Join(args, " "), filepath.Dir(typo))
		}
	}
}

// TestInit: init creates a datastore that the other commands then use,
// says so (exit 0) when it exists already, and refuses a directory that
// holds something else, leaving it as it was.
func TestInit(t *testing.T) {
	top := t.TempDir()
	ds := filepath.Join(top, "new", "ds")
	if out := MustRun(t, "init", "--datastore", ds); strings.TrimSpace(out) != "created datastore "+ds {
		t.Errorf("init: %q", out)
	}
	if out := MustRun(t, "init", "--datastore", ds); strings.TrimSpace(out) != "datastore "+ds+" exists already" {
		t.Errorf("init again: %q", out)
	}
	MustRun(t, "backup", "--datastore", ds, "--time", "2026-01-01T00:00:00Z", "/host/a", "fmt.tree:"+filepath.Join(GoRoot(t), "src", "fmt"))
	if out := MustRun(t, "ls", "--datastore", ds, "/host/a"); strings.TrimSpace(out) != "2026-01-01T00:00:00Z" {
		t.Errorf("ls after a backup into the new datastore: %q", out)
	}

	foreign := filepath.Join(top, "home")
	if err := os.MkdirAll(filepath.Join(foreign, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Run(t, "init", "--datastore", foreign)
	oneLineFailure(t, "init on a directory holding photos", r)
	if !strings.Contains(r.Stderr, "not a datastore") {
		t.Errorf("init on a foreign directory: %q, want it to say it is not a datastore", r.Stderr)
	}
	if names, _ := os.ReadDir(foreign); len(names) != 1 || names[0].Name() != "photos" {
		t.Errorf("init on a foreign directory changed it: %v", names)
	}
}
