package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperSetup is a server holding /vm/100 (a tree with a text file and a
// shell script), a token file for it and an empty mountpoint.
type helperSetup struct {
	srv         *Server
	tokenFile   string
	mp, logFile string
}

const helperSnap = "2026-11-20T10:00:00Z"

func newHelperSetup(t *testing.T) helperSetup {
	t.Helper()
	dir := t.TempDir()
	srv := StartServer(t, filepath.Join(dir, "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello"), []byte("hello, fstab\n"), 0o644)
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755)
	srv.MustClient(tok, "backup", "--time", helperSnap, srv.Repo("/vm/100"), "src.tree:"+src)
	h := helperSetup{srv: srv, tokenFile: filepath.Join(dir, "token"), mp: filepath.Join(dir, "mnt"), logFile: filepath.Join(dir, "mount.log")}
	os.WriteFile(h.tokenFile, []byte(tok+"\n"), 0o600)
	os.Mkdir(h.mp, 0o755)
	return h
}

// inMountNamespace runs script with sh in a private mount namespace in
// which /usr/local/sbin holds the backupfs binary: mount(8) runs
// mount.fuse3 with its own PATH, which finds it there as it finds an
// installed one, and nothing outside the namespace changes. An EXIT trap
// unmounts $MP lazily if the script stops half way. The test then waits
// until no process is left serving mp (a mount helper's daemon ends with
// its unmount).
func inMountNamespace(t *testing.T, mp, script string, env ...string) Result {
	t.Helper()
	bin := filepath.Dir(Binary(t))
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`trap 'rc=$?; umount -l "$MP" 2>/dev/null || :; exit $rc' EXIT; mount --bind "$BIN" /usr/local/sbin || exit 99; `+script)
	cmd.Env = append(os.Environ(), append(env, "MP="+mp, "BIN="+bin)...)
	r := RunCmd(t, cmd)
	if r.Code == 99 {
		t.Fatalf("could not bind the binary over /usr/local/sbin: %s", r.Stderr)
	}
	if r.Code != 0 {
		t.Logf("script: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for end := time.Now().Add(20 * time.Second); len(processesWith(mp)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			for _, p := range processesWith(mp) {
				p.Kill()
			}
			t.Fatalf("a process serving %s is left 20 s after the script ended (killed it)", mp)
		}
	}
	return r
}

// processesWith are the processes with s in their command line.
func processesWith(s string) []*os.Process {
	var ps []*os.Process
	all, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range all {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if proc, err := os.FindProcess(pid); err == nil {
				ps = append(ps, proc)
			}
		}
	}
	return ps
}

// fstabLine is contrib/fstab.example's entry pointed at h.
func fstabLine(t *testing.T, h helperSetup) string {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(file)), "contrib", "fstab.example"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			line = l
		}
	}
	f := strings.Fields(line)
	if len(f) != 6 || f[2] != "fuse.backupfs" {
		t.Fatalf("contrib/fstab.example: want one fuse.backupfs entry of 6 fields, got %q", line)
	}
	for k, v := range map[string]string{"token_file": h.tokenFile, "fingerprint": h.srv.Fingerprint, "log_file": h.logFile} {
		re := regexp.MustCompile(`\b` + k + `=[^,]*`)
		if !re.MatchString(f[3]) {
			t.Fatalf("contrib/fstab.example: no %s= option in %q", k, f[3])
		}
		f[3] = re.ReplaceAllLiteralString(f[3], k+"="+v)
	}
	f[0] = strings.Replace(f[0], "backup.example.net:7464", h.srv.Addr, 1)
	f[1] = h.mp
	return strings.Join(f, " ")
}

// TestFstabMount: contrib/fstab.example's line, pointed at a real server,
// mounts with mount(8) (mount -T FSTAB MOUNTPOINT: mount.fuse3 runs the
// helper); mount returns once the mount serves files (read at once, no
// wait), the kernel lists it as fuse.backupfs, nosuid, nodev and
// read-only, the mount logs to log_file, and umount ends the mount
// process.
func TestFstabMount(t *testing.T) {
	h := newHelperSetup(t)
	fstab := filepath.Join(t.TempDir(), "fstab")
	os.WriteFile(fstab, []byte(fstabLine(t, h)+"\n"), 0o644)
	r := inMountNamespace(t, h.mp, `set -e
mount -T "$FSTAB" "$MP"
grep -F " $MP " /proc/self/mountinfo
cat "$MP/`+helperSnap+`/src/hello"
umount "$MP"`, "FSTAB="+fstab)
	if r.Code != 0 {
		t.Fatalf("mount -T fstab: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	info, data, _ := strings.Cut(r.Stdout, "\n")
	for _, want := range []string{" - fuse.backupfs ", "nosuid", "nodev", " ro"} {
		if !strings.Contains(info, want) {
			t.Errorf("mountinfo line lacks %q: %s", want, info)
		}
	}
	if data != "hello, fstab\n" {
		t.Errorf("read right after mount returned: %q", data)
	}
	if b, _ := os.ReadFile(h.logFile); !strings.Contains(string(b), "msg=mounted") {
		t.Errorf("log_file has no mounted line: %q", b)
	}
}

// TestMountHelperOptions: mount -t fuse.backupfs with the options
// mount(8) and fstab users pass: ignored ones are taken, noexec applies
// (a script in the backup does not run), and an unknown option or a
// wrong fingerprint fails the mount command with one line saying why,
// leaving nothing mounted.
func TestMountHelperOptions(t *testing.T) {
	h := newHelperSetup(t)
	opts := "ro,nosuid,nodev,noexec,_netdev,noauto,user,users,defaults,nofail,x-systemd.automount,token_file=" + h.tokenFile
	r := inMountNamespace(t, h.mp, `set -e
mount -t fuse.backupfs "$SRC" "$MP" -o "$OPTS,fingerprint=$FP"
grep -F " $MP " /proc/self/mountinfo
"$MP/`+helperSnap+`/src/run.sh" 2>/dev/null && echo executed || echo refused
umount "$MP"`, "SRC="+h.srv.Repo("/vm/100"), "OPTS="+opts, "FP="+h.srv.Fingerprint)
	if r.Code != 0 {
		t.Fatalf("mount -t fuse.backupfs: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if info, ran, _ := strings.Cut(r.Stdout, "\n"); !strings.Contains(info, "noexec") || ran != "refused\n" {
		t.Errorf("noexec: mountinfo %q, script %q", info, ran)
	}

	for _, tc := range []struct{ opts, want string }{
		{"bogus=1,token_file=" + h.tokenFile + ",fingerprint=" + h.srv.Fingerprint, `unknown mount option "bogus=1"`},
		{"cache_size=lots,token_file=" + h.tokenFile + ",fingerprint=" + h.srv.Fingerprint, "cache-size"},
		{"token_file=" + h.tokenFile + ",fingerprint=" + strings.Repeat("ab", 32), "fingerprint"},
	} {
		r := inMountNamespace(t, h.mp, `mount -t fuse.backupfs "$SRC" "$MP" -o "$OPTS"; rc=$?
grep -F " $MP " /proc/self/mountinfo; exit $rc`, "SRC="+h.srv.Repo("/vm/100"), "OPTS="+tc.opts)
		if r.Code == 0 || r.Stdout != "" || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("-o %s: exit %d, mountinfo %q, stderr %q; want a failure, no mount and one line with %q", tc.opts, r.Code, r.Stdout, r.Stderr, tc.want)
		}
	}
}
