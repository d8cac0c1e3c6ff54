package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRestoreAsUserDropsSetID: a normal user restoring files that were
// set-user-ID or set-group-ID root cannot keep their owner, so the files
// come back without those bits (as cp -p does), with every other mode bit
// and the times kept; root restoring the same backup keeps them.
func TestRestoreAsUserDropsSetID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to make set-ID files and drop to nobody (CI runs as root)")
	}
	os.Chmod(filepath.Dir(Binary(t)), 0o755)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	files := []struct {
		name       string
		mode, user uint32 // at backup, and as restored by nobody
	}{
		{"suid", 0o4755, 0o755},
		{"sgid", 0o2711, 0o711},
		{"both", 0o6750, 0o750},
		{"plain", 0o640, 0o640},
	}
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+f.name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(tok, "backup", srv.Repo("/host/setid"), "s.tree:"+src)

	asRoot := filepath.Join(t.TempDir(), "root")
	srv.MustClient(tok, "restore", srv.Repo("/host/setid/latest/s.tree"), asRoot)
	asUser := filepath.Join(nobodyDir(t), "user")
	cmd := asNobody(Binary(t), "restore", srv.Repo("/host/setid/latest/s.tree"), asUser)
	cmd.Env = append(os.Environ(), "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint, "HOME=/nonexistent")
	if r := RunCmd(t, cmd); r.Code != 0 {
		t.Fatalf("restore as nobody: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, f := range files {
		for _, c := range []struct {
			dir, owner string
			mode       uint32
		}{{asRoot, "0", f.mode}, {asUser, "65534", f.user}} {
			p := filepath.Join(c.dir, f.name)
			got := Sh(t, "stat", "-c", "%a %u %.9Y", p)
			if want := fmt.Sprintf("%o %s %d.%09d", c.mode, c.owner, mtime.Unix(), mtime.Nanosecond()); strings.TrimSpace(got) != want {
				t.Errorf("%s: mode, owner, mtime %q; want %q", p, strings.TrimSpace(got), want)
			}
		}
	}
}
