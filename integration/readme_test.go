package integration

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/syncbuf"
)

// TestReadmeExamples keeps README.md true: every example in it runs here,
// or is a synopsis checked against the binary's --help, or names the
// existing tests that run the same command. An example that is none of
// these fails the test with its line, so a README example added without a
// test breaks CI.
//
// The rules, in order, for each example:
//   - An example is a command line of a code block: an indented (4-space
//     or tab) block after a blank line, or a fenced block. Lines ending in
//     `\` are joined with the next; a `#` after a blank (outside quotes)
//     starts a comment, and comment-only lines are skipped. Inline code in
//     the prose is not an example, but what it names must exist:
//     `backupfs CMD ...` and `CMD --flag ...` are checked as synopses,
//     a lone `--flag` must be a flag of some command.
//   - A synopsis is a line that, after readmeSubst, still holds an
//     UPPERCASE placeholder word (DIR, TYPE, N, ...) or a `[`: its command
//     must be listed by `backupfs help` and each of its --flags by
//     `backupfs CMD --help`.
//   - readmeMapped names tests (or the helpers they call) that run the
//     example's command; go/parser finds them, and their source together
//     must hold the command's subcommand and every --flag (for `export`,
//     the variables).
//   - readmeRuns runs the rest for real, in README order, in one temporary
//     directory: one datastore, one server, real FUSE and loop mounts. The
//     only changes made to a line are readmeSubst's; what the README leaves
//     to the reader (which token a command uses, a passphrase typed at the
//     terminal) is a step's token or env, said there; what the README
//     leaves out (a second backup, so that diff has something to show) is
//     a step's before. Each must exit 0 and print what its want says.
//     Long-running commands (demo, serve, mount) are started, checked and
//     stopped: a mount at the end of its block, as Ctrl-C would.
//
// An example that does not work as written is a defect of the README or
// of the code and fails here, naming its line: the test does not work
// around it. -readme FILE runs the examples of another file (a README
// with a change being tried).
func TestReadmeExamples(t *testing.T) {
	runs, steps, problems := readmePlan(t, *readmeFile)
	for _, p := range problems {
		t.Error(p)
	}
	readmeCIRun(t)
	r := newReadmeEnv(t)
	block := -1
	for i, ex := range runs {
		if ex.block != block {
			r.endBlock()
			block = ex.block
		}
		t.Logf("%s:%d: %s", *readmeFile, ex.line, ex.text)
		r.run(ex, steps[i])
	}
	r.endBlock()
}

// readmeFile is the README TestReadmeExamples reads: -readme FILE points
// it at an edited copy (e.g. to try a README change before making it).
var readmeFile = flag.String("readme", "../README.md", "the README whose examples TestReadmeExamples runs")

// readmeSubst is every change made to an example before it runs or is
// classified: the test's own directory, server and values for the
// README's machine-specific ones. {name} is filled in at run time.
var readmeSubst = strings.NewReplacer(
	"/srv/ds", "{dir}/ds",
	"/srv/offsite", "{dir}/offsite",
	"/srv/vm100", "{dir}/vm100", // a small tree with etc/fstab, *.conf, home/alice
	"root.tree:/ ", "root.tree:{dir}/vm100 ", // not the test machine's whole root
	"/dev/vg0/vm-100-disk-0", "{dir}/vm-100-disk-0.ext4", // a file (ext4 of the tree) for the LV
	"zfs send pool/vm-100@now", "cat {dir}/vm-100-disk-0.ext4", // a stream for zfs send
	"/root/backup.key", "{dir}/backup.key",
	"/root/.backup-pass", "{dir}/backup-pass",
	"/mnt2", "{dir}/mnt2",
	"/mnt", "{dir}/mnt",
	"0.0.0.0:7464", "127.0.0.1:0", // a free port, on loopback only
	"backup.example:7464", "{addr}",
	"backup.example", "{addr}",
	"SERVER", "{addr}",
	"2026-11-21T10:00:00Z", "{first}", // the first snapshot's time
	"bfs1.pve1.…", "{pve1}", // the secret `token create ... pve1` printed
	"3f2a…", "{fingerprint}", // what `fingerprint` printed
)

const (
	readmePass  = "correct horse battery staple"
	readmeFstab = "UUID=1234 / ext4 defaults 0 1\n" // etc/fstab of the tree and its image
)

// readmeRun says how an example is run and checked (matched by prefix).
type readmeRun struct {
	prefix  string
	token   string             // BACKUPFS_TOKEN: the token README made with this name (README leaves the choice to the reader)
	env     []string           // more variables: what a user types at the terminal
	before  func(r *readmeEnv) // setup the README leaves out
	then    string             // shell lines run after it in the same shell
	want    string             // regexp its stdout and stderr must match
	check   func(r *readmeEnv) // more checks
	capture string             // keep the last line of its stdout as {capture}
}

var readmeRuns = []readmeRun{
	{prefix: "go run ./cmd/backupfs demo"},
	{prefix: "backupfs init --datastore /srv/", want: `datastore .*/(ds|offsite)`},
	{prefix: "backupfs backup --datastore /srv/ds /vm/100 ", want: `snapshot /vm/100/\S+: 4 files`},
	{prefix: "backupfs ls --datastore /srv/ds /vm/100/latest/root.tree/etc", want: `fstab`},
	{prefix: "backupfs restore --datastore /srv/ds /vm/100/2026-11-21T10:00:00Z/root.tree/home/alice ./alice", check: func(r *readmeEnv) {
		Sh(r.t, "diff", "-r", r.path("vm100/home/alice"), r.path("cwd/alice"))
	}},
	{prefix: "backupfs prune --datastore /srv/ds --keep-last 3", want: `keep /vm/100/{first} \(keep-last\)\ngc: 1 snapshots`},
	{prefix: "backupfs snapshots --datastore /srv/ds /vm/100", before: secondBackup, want: `(?s)vm/100 .*drive-scsi0.img,root.tree.*\nvm/100 .* root.tree`},
	{prefix: "backupfs stats --datastore /srv/ds", want: `snapshots:\s+2\n`},
	{prefix: "backupfs diff --datastore /srv/ds ", want: `^M\s+/etc/fstab .*\n0 added.*1 modified\n$`},
	{prefix: "backupfs find --datastore /srv/ds /vm/100 /etc/fstab", want: `{first} +root.tree +new .*/etc/fstab\n.*changed .*/etc/fstab\n$`},
	{prefix: "backupfs find --datastore /srv/ds / '*.conf'", want: `new .* /etc/app.conf\n$`},
	{prefix: "backupfs serve --datastore /srv/ds --listen"},
	{prefix: "backupfs fingerprint --datastore /srv/ds", want: `^[0-9a-f]{64}\n$`, capture: "fingerprint"},
	{prefix: "backupfs token create --datastore /srv/ds pve1 ", want: `bfs1\.pve1\.`, capture: "pve1"},
	{prefix: "backupfs token create --datastore /srv/ds ops ", want: `bfs1\.ops\.`, capture: "ops"},
	{prefix: "backupfs token create --datastore /srv/ds root ", want: `bfs1\.root\.`, capture: "root"},
	{prefix: "backupfs token create --datastore /srv/ds offsite ", want: `bfs1\.offsite\.`, capture: "offsite"},
	{prefix: "export BACKUPFS_TOKEN="},
	{prefix: "backupfs backup  backup.example:/vm/100 drive-scsi0.img:", want: `snapshot /vm/100/`},
	{prefix: "backupfs ls      backup.example:/vm/100/latest", want: `^drive-scsi0.img +img +8388608\n$`},
	{prefix: "backupfs restore backup.example:7464:/vm/100/latest/drive-scsi0.img ./disk.img", check: func(r *readmeEnv) {
		Sh(r.t, "cmp", r.path("vm-100-disk-0.ext4"), r.path("cwd/disk.img"))
	}},
	{prefix: "backupfs prune --keep-daily 7 --keep-weekly 4 --dry-run backup.example:/vm/100", token: "ops", want: `keep /vm/100/\S+ \(keep-daily\)\n`},
	{prefix: "backupfs verify backup.example:/vm/100", token: "ops", want: `verified 3 snapshots.*: 0 bad`},
	{prefix: "backupfs gc backup.example:/", token: "root", want: `^gc: 3 snapshots`},
	{prefix: "backupfs protect backup.example:/vm/100/2026-11-21T10:00:00Z", token: "ops", want: `^protected /vm/100/{first}\n$`},
	{prefix: "backupfs prune --keep-within 72h", token: "ops", want: `^(keep /vm/100/\S+ \(keep-within\)\n){3}$`},
	{prefix: "backupfs mount backup.example:/vm/100 /mnt"},
	{prefix: "ls /mnt/.history/root/etc/fstab", want: `^{first}\n\S+\n$`},
	{prefix: "ls /mnt/latest", want: `^drive-scsi0.img\n$`},
	{prefix: "ls /mnt", want: `^{first}\n(\S+\n){2}latest\n$`},
	{prefix: "mount -o loop,ro /mnt/latest/drive-scsi0.img /mnt2", check: func(r *readmeEnv) {
		mnt2 := r.path("mnt2")
		r.umounts = append(r.umounts, mnt2)
		r.t.Cleanup(func() { _ = exec.Command("umount", mnt2).Run() }) // before the FUSE mount's stop, if the test fails
		if b, err := os.ReadFile(filepath.Join(mnt2, "etc/fstab")); string(b) != readmeFstab {
			r.t.Errorf("%s/etc/fstab: %q, %v; want %q", mnt2, b, err, readmeFstab)
		}
	}},
	{prefix: "backupfs sync --datastore /srv/offsite backup.example:/", token: "offsite", want: `synced 3 snapshots`},
	{prefix: "backupfs sync --datastore /srv/offsite --group", token: "offsite", want: `synced 0 snapshots \(3 already there`},
	{prefix: "backupfs token create --datastore /srv/ds nas ", want: `bfs1\.nas\.`, capture: "nas"},
	{prefix: "backupfs sync --push --datastore /srv/offsite", token: "nas", want: `synced 0 snapshots \(3 already there`},
	{prefix: "backupfs key create /root/backup.key", env: []string{"BACKUPFS_PASSWORD=" + readmePass}, want: `^key [0-9a-f]{32} in {dir}/backup.key`},
	{prefix: "backupfs key paperkey /root/backup.key", env: []string{"BACKUPFS_PASSWORD=" + readmePass}, want: `^backupfs key [0-9a-f]{32}\n([A-Z2-7]{5} )+`},
	{prefix: "export BACKUPFS_KEYFILE="},
	{prefix: "backupfs backup --one-file-system SERVER:/vm/100 root.tree:/ ", want: `4 files, .*\nsealed with key [0-9a-f]{32}\n`},
	{prefix: "backupfs ls SERVER:/vm/100", want: `\n\S+  sealed, key [0-9a-f]{32}\n$`},
	{prefix: "backupfs mount SERVER:/vm/100 /mnt", check: func(r *readmeEnv) {
		Sh(r.t, "cmp", r.path("vm100/etc/fstab"), r.path("mnt/latest/root/etc/fstab"))
	}},
	{prefix: "backupfs backup --dry-run /host/web1 root.tree:/etc", want: `dry run: would back up \d+ files`},
	{prefix: "zfs send pool/vm-100@now | backupfs backup SERVER:/vm/100 disk.img:-", want: `8.0 MiB read.*\nsealed with key `},
	{prefix: "source <(backupfs completion bash)", then: "complete -p backupfs", want: `complete .*backupfs`},
}

// readmeEnv is the state the examples share as they run in order.
type readmeEnv struct {
	t       *testing.T
	dir     string            // {dir}: every path the examples name
	vars    map[string]string // {name} values: addr, pve1, fingerprint, ...
	env     []string          // what the examples exported, and PATH, XDG_DATA_HOME
	mounts  []*Mount          // FUSE mounts of the current block
	umounts []string          // other mounts of the current block
}

func (r *readmeEnv) path(p string) string { return filepath.Join(r.dir, p) }

// subst applies readmeSubst and the {name} values to an example.
func (r *readmeEnv) subst(text string) string {
	s := r.expand(readmeSubst.Replace(text))
	if m := regexp.MustCompile(`\{[a-z][a-z0-9]*\}`).FindString(s); m != "" {
		r.t.Fatalf("%s: %s is not known yet", text, m)
	}
	return s
}

// expand fills in the {name} values known so far.
func (r *readmeEnv) expand(s string) string {
	if strings.Contains(s, "{first}") {
		r.vars["first"] = firstSnapshot(r.t, r.path("ds/vm/100"))
	}
	for k, v := range r.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func firstSnapshot(t *testing.T, group string) string {
	ents, err := os.ReadDir(group)
	if err != nil {
		t.Fatal(err)
	}
	var times []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "2") {
			times = append(times, e.Name())
		}
	}
	sort.Strings(times)
	if len(times) == 0 {
		t.Fatalf("no snapshots in %s", group)
	}
	return times[0]
}

// newReadmeEnv makes the files the substitutions name: the tree standing
// for /srv/vm100, an ext4 image of it for the LV, mountpoints, the
// passphrase file; the binary first in PATH; XDG_DATA_HOME for demo's
// default datastore.
func newReadmeEnv(t *testing.T) *readmeEnv {
	r := &readmeEnv{t: t, dir: t.TempDir(), vars: map[string]string{}}
	r.vars["dir"] = r.dir
	for name, body := range map[string]string{
		"vm100/etc/fstab":          readmeFstab,
		"vm100/etc/app.conf":       "level = 3\n",
		"vm100/home/alice/notes":   "buy milk\n",
		"vm100/home/alice/.bashrc": "export EDITOR=vi\n",
		"backup-pass":              readmePass + "\n",
	} {
		if err := os.MkdirAll(filepath.Dir(r.path(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(r.path(name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"cwd", "mnt", "mnt2", "tmp", "xdg"} {
		if err := os.Mkdir(r.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	Sh(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", r.path("vm100"), r.path("vm-100-disk-0.ext4"), "8M")
	r.env = []string{"PATH=" + filepath.Dir(Binary(t)) + ":" + os.Getenv("PATH"), "XDG_DATA_HOME=" + r.path("xdg"), "TMPDIR=" + r.path("tmp")}
	return r
}

// secondBackup changes etc/fstab and backs the tree up again, so that
// snapshots, diff, find and .history have two versions to show.
func secondBackup(r *readmeEnv) {
	if err := os.WriteFile(r.path("vm100/etc/fstab"), []byte("UUID=1234 / ext4 defaults,noatime 0 1\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	MustRun(r.t, "backup", "--datastore", r.path("ds"), "/vm/100", "root.tree:"+r.path("vm100"))
}

// run runs one example and checks it.
func (r *readmeEnv) run(ex example, s readmeRun) {
	t := r.t
	line := r.subst(ex.text)
	if s.before != nil {
		s.before(r)
	}
	var res Result
	switch {
	case strings.HasPrefix(line, "export "):
		r.env = append(r.env, strings.Fields(line)[1:]...)
	case strings.HasPrefix(line, "go run ./cmd/backupfs demo"):
		r.demo(line)
	case strings.HasPrefix(line, "backupfs serve "):
		r.serve(line)
	case strings.HasPrefix(line, "backupfs mount "):
		f := strings.Fields(line)
		r.mounts = append(r.mounts, StartMount(t, r.env, f[len(f)-1], f[2:len(f)-1]...))
	default:
		script := line
		if s.then != "" {
			script += "\n" + s.then
		}
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir, cmd.Env = r.path("cwd"), append(append(os.Environ(), r.env...), s.env...)
		if s.token != "" {
			cmd.Env = append(cmd.Env, "BACKUPFS_TOKEN="+r.vars[s.token])
		}
		res = RunCmd(t, cmd)
		if res.Code != 0 {
			t.Fatalf("%s:%d: %s\nran: %s\nexit %d\nstdout:\n%s\nstderr:\n%s", *readmeFile, ex.line, ex.text, line, res.Code, res.Stdout, res.Stderr)
		}
	}
	if s.want != "" && !regexp.MustCompile(r.expand(s.want)).MatchString(res.Stdout+res.Stderr) {
		t.Errorf("%s:%d: %s: output does not match %q:\nstdout:\n%s\nstderr:\n%s", *readmeFile, ex.line, ex.text, s.want, res.Stdout, res.Stderr)
	}
	if s.capture != "" {
		lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
		r.vars[s.capture] = lines[len(lines)-1]
	}
	if s.check != nil {
		s.check(r)
	}
}

// serve starts the server of the example through the harness, which runs
// exactly `backupfs serve --datastore DIR --listen 127.0.0.1:0` and more
// flags, and learns the port it got.
func (r *readmeEnv) serve(line string) {
	f := strings.Fields(line)
	if len(f) < 6 || f[2] != "--datastore" || f[4] != "--listen" || f[5] != "127.0.0.1:0" {
		r.t.Fatalf("%s: the runner starts serve --datastore DIR --listen ADDR [FLAGS]", line)
	}
	srv := StartServerWith(r.t, f[3], ServerOpts{Args: f[6:]})
	r.vars["addr"] = srv.Addr
}

// demo starts the quickstart as written (go run, from the module root)
// in a process group of its own, waits for it to say where it mounted,
// lists the mount, then sends Ctrl-C's SIGINT to the group: the demo must
// unmount and end without an error line (go run's own exit code is 1
// after an interrupt whatever its program's, so it says nothing).
func (r *readmeEnv) demo(line string) {
	t := r.t
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = "..", append(os.Environ(), r.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var outb, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // if a check below fails
	where := regexp.MustCompile(`Browse the backups: ls (\S+)/latest/sample;`)
	var m []string
	waitFor(t, 5*time.Minute, "the demo to say where it mounted", func() bool { // generous: go run may compile
		select {
		case err := <-exited:
			t.Fatalf("%s exited (%v) before mounting:\n%s\n%s", line, err, outb.String(), errb.String())
		default:
		}
		m = where.FindStringSubmatch(outb.String())
		return m != nil
	})
	mp := m[1]
	waitFor(t, time.Minute, "the demo's mount", func() bool { return Mounted(mp) })
	Sh(t, "cmp", filepath.Join(mp, "latest/sample/etc/hosts"), filepath.Join(mp, "latest/sample/etc/hosts.hardlink"))
	if names := Sh(t, "ls", filepath.Join(mp, "latest/sample")); !strings.Contains(names, "README.txt") {
		t.Errorf("ls %s/latest/sample: %q, want README.txt", mp, names)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
		if Mounted(mp) || strings.Contains(errb.String(), "backupfs demo:") {
			t.Errorf("%s after Ctrl-C: still mounted: %v; stderr:\n%s", line, Mounted(mp), errb.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("%s did not end within a minute of Ctrl-C:\n%s", line, errb.String())
	}
}

// endBlock undoes the mounts of a block: loop mounts first, then the FUSE
// mounts under them, as Ctrl-C would.
func (r *readmeEnv) endBlock() {
	for i := len(r.umounts) - 1; i >= 0; i-- {
		Sh(r.t, "umount", r.umounts[i])
	}
	for _, m := range r.mounts {
		m.Stop()
	}
	r.umounts, r.mounts = nil, nil
}
