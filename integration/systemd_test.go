package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// contribDir is the repository's contrib directory.
func contribDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "contrib")
}

// unitFiles copies contrib/systemd's units to a new directory with
// /usr/local/bin/backupfs replaced by the built binary, and returns it
// with the units' names.
func unitFiles(t *testing.T) (string, []string) {
	t.Helper()
	src := filepath.Join(contribDir(), "systemd")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var names []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/backupfs", Binary(t)))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name())
	}
	for _, want := range []string{"backupfs-serve.service", "backupfs-mount@.service", "backupfs-backup@.service",
		"backupfs-backup@.timer", "backupfs-gc.service", "backupfs-gc.timer", "backupfs-sync.service", "backupfs-sync.timer"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("contrib/systemd has no %s", want)
		}
	}
	return dir, names
}

// TestSystemdUnits: contrib/systemd's units pass systemd-analyze verify
// with no warning (templates as an instance), and every backupfs command
// line in them names a real command and real flags of it. Without
// systemd-analyze (apt-get install systemd) a small parser checks the
// units' sections and keys instead, and the test log says so.
func TestSystemdUnits(t *testing.T) {
	dir, names := unitFiles(t)
	checkExecLines(t, dir, names)
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found (apt-get install systemd): checking sections and keys with the test's own parser")
		checkUnitKeys(t, dir, names)
		return
	}
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(dir, strings.Replace(n, "@.", "@test.", 1)))
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var execRE = regexp.MustCompile(`(?m)^Exec\w+=-?(\S+) (\w+)(.*)$`)

// checkExecLines checks that each Exec line running backupfs names a
// command and flags that `backupfs CMD --help` lists.
func checkExecLines(t *testing.T, dir string, names []string) {
	t.Helper()
	n := 0
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		for _, m := range execRE.FindAllStringSubmatch(string(b), -1) {
			if m[1] != Binary(t) {
				continue
			}
			n++
			help := Run(t, m[2], "--help")
			if help.Code != 0 {
				t.Errorf("%s: backupfs %s --help: exit %d (no such command?)\n%s", name, m[2], help.Code, help.Stderr)
				continue
			}
			for _, w := range strings.Fields(m[3]) {
				out := help.Stderr + help.Stdout
				if strings.HasPrefix(w, "--") && !strings.Contains(out, w+" ") && !strings.Contains(out, w+"[=") { // a bool: --flag[=true|false]
					t.Errorf("%s: backupfs %s has no flag %s", name, m[2], w)
				}
			}
		}
	}
	if n < 4 {
		t.Errorf("found %d backupfs command lines in the units, want at least 4", n)
	}
}

// TestMountUnitMatchesFstab: the .mount unit's options are
// contrib/fstab.example's, which TestFstabMount mounts for real.
func TestMountUnitMatchesFstab(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(contribDir(), "systemd", "mnt-backupfs-vm100.mount"))
	if err != nil {
		t.Fatal(err)
	}
	fstab, err := os.ReadFile(filepath.Join(contribDir(), "fstab.example"))
	if err != nil {
		t.Fatal(err)
	}
	opts := regexp.MustCompile(`(?m)^Options=(\S+)$`).FindSubmatch(unit)
	what := regexp.MustCompile(`(?m)^What=(\S+)$`).FindSubmatch(unit)
	if opts == nil || what == nil || !strings.Contains(string(fstab), string(what[1])+" ") || !strings.Contains(string(fstab), " "+string(opts[1])+" ") {
		t.Errorf("mnt-backupfs-vm100.mount's What= and Options= are not fstab.example's")
	}
}

// TestNotifyReady: under a Type=notify unit (NOTIFY_SOCKET set) serve
// says READY=1 once it listens and mount once the kernel has the mount.
func TestNotifyReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ready := func(what string) string {
		t.Helper()
		buf := make([]byte, 256)
		ln.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
		return string(buf[:n])
	}
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{Wrap: []string{"env", "NOTIFY_SOCKET=" + sock}})
	if got := ready("serve"); got != "READY=1" {
		t.Fatalf("serve notified %q", got)
	}
	tok := srv.Token("admin", "read:*", "backup:*")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	srv.MustClient(tok, "backup", srv.Repo("/host/g"), "src.tree:"+src)
	mp := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mp, 0o755)
	cmd := exec.Command(Binary(t), "mount", srv.Repo("/host/g"), mp)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "BACKUPFS_TOKEN="+tok, "BACKUPFS_FINGERPRINT="+srv.Fingerprint)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait(); exec.Command("umount", "-l", mp).Run() }()
	if got := ready("mount"); got != "READY=1" || !Mounted(mp) {
		t.Errorf("mount notified %q, mounted %v: want READY=1 once mounted", got, Mounted(mp))
	}
}

// unitKeys are the keys the units may use, per section: what
// systemd-analyze verify would check, for machines without it.
var unitKeys = map[string]string{
	"Unit":    " Description Documentation After Wants Requires Before ",
	"Install": " WantedBy RequiredBy ",
	"Timer":   " OnCalendar RandomizedDelaySec Persistent OnBootSec ",
	"Mount":   " What Where Type Options ",
	"Service": " Type User Group StateDirectory StateDirectoryMode Environment EnvironmentFile ExecStartPre ExecStart " +
		"ExecStopPost KillSignal KillMode TimeoutStopSec Restart RestartSec LimitNOFILE NoNewPrivileges ProtectSystem " +
		"ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables ProtectKernelModules ProtectControlGroups " +
		"RestrictAddressFamilies RestrictNamespaces LockPersonality MemoryDenyWriteExecute SystemCallArchitectures " +
		"Nice IOSchedulingClass CPUSchedulingPolicy ReadWritePaths ",
}

// checkUnitKeys checks that every line of the units is a comment, a
// known [Section] or a known Key=value of its section.
func checkUnitKeys(t *testing.T, dir string, names []string) {
	t.Helper()
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		section := ""
		for i, l := range strings.Split(string(b), "\n") {
			key, _, isKV := strings.Cut(l, "=")
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
			case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && unitKeys[l[1:len(l)-1]] != "":
				section = l[1 : len(l)-1]
			case isKV && section != "" && strings.Contains(unitKeys[section], " "+key+" "):
			default:
				t.Errorf("%s:%d: not a known section or key of [%s]: %q", name, i+1, section, l)
			}
		}
	}
}
