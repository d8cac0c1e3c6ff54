package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// TestRemoteAdmin: forget, prune, verify and gc through the server, each
// with and without its permission; gc --datastore beside a running
// server is refused; and a gc through the server with no grace at all,
// run while a network backup has uploaded its chunks but not yet its
// index files, removes none of them: the backup commits (the
// oldest-writer rule).
func TestRemoteAdmin(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), src)
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("writer", "read:*", "backup:*")
	times := []string{"2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z"}
	for _, at := range times {
		srv.MustClient(tok, "backup", "--time", at, srv.Repo("/host/a"), "src.tree:"+src)
		srv.MustClient(tok, "backup", "--time", at, srv.Repo("/host/b"), "src.tree:"+src)
	}
	refused := func(token string, want string, args ...string) {
		t.Helper()
		r := srv.Client(token, args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("backupfs %s: exit %d, stderr %q; want refused with %q", strings.Join(args, " "), r.Code, r.Stderr, want)
		}
	}

	// forget and prune: prune:GROUP.
	refused(tok, "needs the permission prune:host/a", "forget", srv.Repo("/host/a/"+times[0]))
	pruner := srv.Token("pruner", "prune:host/a")
	out := srv.MustClient(pruner, "forget", srv.Repo("/host/a/"+times[0]))
	if !strings.Contains(out, "forgot /host/a/"+times[0]) {
		t.Fatalf("forget through the server: %q", out)
	}
	refused(pruner, "needs the permission prune:host/b", "prune", "--keep-last", "1", srv.Repo("/host/b"))
	refused(pruner, "needs the permission prune:*", "prune", "--keep-last", "1", srv.Repo("/"))
	out = srv.MustClient(pruner, "prune", "--keep-last", "1", "--dry-run", srv.Repo("/host/a"))
	if !strings.Contains(out, "would remove /host/a/"+times[1]) || !strings.Contains(out, "keep /host/a/"+times[2]+" (keep-last)") {
		t.Fatalf("prune --dry-run through the server:\n%s", out)
	}
	bPruner := srv.Token("bpruner", "prune:host/b")
	out = srv.MustClient(bPruner, "prune", "--keep-within", "25h", "--dry-run", srv.Repo("/host/b"))
	if !strings.Contains(out, "keep /host/b/"+times[1]+" (keep-within)") || !strings.Contains(out, "would remove /host/b/"+times[0]) {
		t.Fatalf("prune --keep-within 25h --dry-run through the server:\n%s", out)
	}
	if ls := srv.MustClient(tok, "ls", srv.Repo("/host/a")); strings.Count(ls, "\n") != 2 {
		t.Fatalf("a dry run removed something, or forget did not:\n%s", ls)
	}

	// protect: prune:GROUP; a protected snapshot survives forget and prune.
	refused(tok, "needs the permission prune:host/b", "protect", srv.Repo("/host/b/"+times[0]))
	if out := srv.MustClient(bPruner, "protect", srv.Repo("/host/b/"+times[0])); !strings.Contains(out, "protected /host/b/"+times[0]) {
		t.Fatalf("protect: %q", out)
	}
	refused(bPruner, "is protected", "forget", srv.Repo("/host/b/"+times[0]))
	out = srv.MustClient(bPruner, "prune", "--keep-last", "1", srv.Repo("/host/b"))
	if !strings.Contains(out, "keep /host/b/"+times[0]+" (protected)") || !strings.Contains(out, "remove /host/b/"+times[1]) {
		t.Fatalf("prune with a protected snapshot:\n%s", out)
	}
	srv.MustClient(bPruner, "protect", "--unprotect", srv.Repo("/host/b/"+times[0]))
	srv.MustClient(bPruner, "forget", srv.Repo("/host/b/"+times[0]))

	// verify: verify:GROUP for a group, admin:* for everything.
	checker := srv.Token("checker", "verify:host/b")
	out = srv.MustClient(checker, "verify", srv.Repo("/host/b"))
	if !strings.Contains(out, "verified 1 snapshots") || !strings.Contains(out, ": 0 bad") {
		t.Fatalf("verify of host/b (one snapshot left) through the server:\n%s", out)
	}
	refused(checker, "needs the permission admin:*", "verify", srv.Repo("/"))
	refused(checker, "needs the permission verify:host/a", "verify", srv.Repo("/host/a"))

	// gc: admin:* through the server; --datastore beside it is refused.
	refused(tok, "needs the permission admin:*", "gc", srv.Repo("/"))
	if r := Run(t, "gc", "--datastore", srv.Datastore); r.Code != 1 || !strings.Contains(r.Stderr, "a running server holds this datastore") {
		t.Fatalf("gc --datastore beside a running server: exit %d, %q", r.Code, r.Stderr)
	}
	root := srv.Token("root", "admin:*", "read:*", "backup:*")
	out = srv.MustClient(root, "gc", srv.Repo("/"))
	if !strings.Contains(out, "gc: ") {
		t.Fatalf("gc through the server: %q", out)
	}

	// A backup that has uploaded every chunk and not yet its index files,
	// and a gc with no grace in between.
	if err := os.WriteFile(filepath.Join(src, "fresh.txt"), []byte(strings.Repeat("new content ", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	px := StartFaultProxy(t, srv)
	var gcOut Result
	px.OnFrame(byte(wire.TUploadFile), func(n int64) {
		if n == 1 {
			gcOut = srv.Client(root, "gc", "--grace", "0", srv.Repo("/"))
		}
	})
	r := srv.Client(root, "backup", "--full-read", "--time", "2026-11-04T10:00:00Z", px.Repo("/host/c"), "src.tree:"+src)
	if gcOut.Code != 0 || !strings.Contains(gcOut.Stdout, "gc: ") {
		t.Fatalf("gc during the backup: exit %d %q %q", gcOut.Code, gcOut.Stdout, gcOut.Stderr)
	}
	if r.Code != 0 {
		t.Fatalf("the backup a zero-grace gc ran beside failed: exit %d\n%s\n%s\ngc said: %s", r.Code, r.Stdout, r.Stderr, gcOut.Stdout)
	}
	out = srv.MustClient(root, "verify", srv.Repo("/"))
	if !strings.Contains(out, ": 0 bad") {
		t.Fatalf("verify after the gc beside a backup:\n%s", out)
	}
}

// TestScheduledJobs: serve --job runs gc and verify on a short schedule,
// `backupfs jobs` shows each one's last run, result and next run (admin:*
// only), and a verify job that finds a missing chunk is listed FAILED and
// logged.
func TestScheduledJobs(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), src)
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{Args: []string{
		"--job", "gc every 1s", "--job", "verify host/* every 1s", "--metrics-listen", "127.0.0.1:0"}})
	root := srv.Token("root", "admin:*", "read:*", "backup:*")
	srv.MustClient(root, "backup", srv.Repo("/host/a"), "src.tree:"+src)
	jobsOut := func() string { return srv.MustClient(root, "jobs", srv.Repo("/")) }
	// Both jobs may have run before the backup existed (the verify then
	// says no group matches): wait for a verify of its snapshot.
	waitJobs(t, func() bool {
		out := jobsOut()
		return strings.Count(out, " ok: ") == 2 && strings.Contains(out, "verified 1 snapshots")
	}, jobsOut)
	if out := jobsOut(); !strings.Contains(out, "gc every 1s | runs ") || !strings.Contains(out, "verify host/* every 1s | runs ") ||
		!strings.Contains(out, "verified 1 snapshots") || !strings.Contains(out, " | next ") {
		t.Fatalf("jobs:\n%s", out)
	}
	if r := srv.Client(srv.Token("reader", "read:*"), "jobs", srv.Repo("/")); r.Code == 0 || !strings.Contains(r.Stderr, "admin:*") {
		t.Fatalf("jobs with a read token: exit %d, %q", r.Code, r.Stderr)
	}
	// A chunk goes missing: the verify job fails, is listed and logged.
	var victim string
	filepath.WalkDir(filepath.Join(srv.Datastore, ".chunks"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && victim == "" {
			victim = p
		}
		return nil
	})
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, func() bool { return strings.Contains(jobsOut(), "FAILED") }, jobsOut)
	if !strings.Contains(srv.Log(), "job failed") {
		t.Fatalf("the failed job is not in the server log:\n%s", srv.Log())
	}
	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("serve did not log its metrics address:\n%s", srv.Log())
	}
	if n := scrape(t, m[1])["backupfs_server_job_failures_total"]; n < 1 {
		t.Fatalf("job failures in the metrics: %d, want at least 1", n)
	}
}

// waitJobs polls the server's job listing until cond holds (jobs run
// every second; the bound is generous for a loaded machine).
func waitJobs(t *testing.T, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not get there:\n%s", show())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNoAdminFeature: a server started with --no-admin announces no
// administration in its HELLO, and the client says so before asking,
// whatever the token may do.
func TestNoAdminFeature(t *testing.T) {
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{Args: []string{"--no-admin"}})
	root := srv.Token("root", "admin:*")
	r := srv.Client(root, "gc", srv.Repo("/"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "the server does not offer administration") {
		t.Fatalf("gc against --no-admin: exit %d, %q", r.Code, r.Stderr)
	}
}

// TestNotesAndTags: a note and tags given at backup time show in
// snapshots; backup tag changes them later through the server (prune:GROUP
// only), and a bad tag is refused before anything is uploaded.
func TestNotesAndTags(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "sort"), src)
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("writer", "read:*", "backup:*")
	const at = "2026-11-05T10:00:00Z"
	srv.MustClient(tok, "backup", "--time", at, "--note", "before the upgrade", "--tag", "weekly", "--tag", "keep",
		srv.Repo("/host/t"), "src.tree:"+src)
	type row struct {
		Tags []string
		Note string
	}
	var rows []row
	decode(t, srv.MustClient(tok, "snapshots", "--json", srv.Repo("/host/t")), &rows)
	if len(rows) != 1 || rows[0].Note != "before the upgrade" || strings.Join(rows[0].Tags, ",") != "weekly,keep" {
		t.Fatalf("snapshots after a backup with --note and --tag: %+v", rows)
	}
	if r := srv.Client(tok, "backup", "--tag", "no spaces", srv.Repo("/host/t"), "src.tree:"+src); r.Code != 1 || !strings.Contains(r.Stderr, "tag") ||
		strings.Contains(r.Stdout, "snapshot /") {
		t.Fatalf("backup with a bad tag: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	refusedArgs := []string{"tag", "--add", "audited", srv.Repo("/host/t/" + at)}
	if r := srv.Client(tok, refusedArgs...); r.Code == 0 || !strings.Contains(r.Stderr, "prune:host/t") {
		t.Fatalf("tag without prune:host/t: exit %d, %q", r.Code, r.Stderr)
	}
	editor := srv.Token("editor", "prune:host/t", "read:host/t")
	out := srv.MustClient(editor, "tag", "--add", "audited", "--remove", "keep", "--note", "checked", srv.Repo("/host/t/"+at))
	if !strings.Contains(out, "tags [weekly,audited]") || !strings.Contains(out, `note "checked"`) {
		t.Fatalf("tag through the server: %q", out)
	}
	decode(t, srv.MustClient(tok, "snapshots", "--json", srv.Repo("/host/t")), &rows)
	if rows[0].Note != "checked" || strings.Join(rows[0].Tags, ",") != "weekly,audited" {
		t.Fatalf("snapshots after tag: %+v", rows)
	}
	if v := MustRun(t, "verify", "--datastore", srv.Datastore); !strings.Contains(v, ": 0 bad") {
		t.Fatalf("verify after tag:\n%s", v)
	}
}
