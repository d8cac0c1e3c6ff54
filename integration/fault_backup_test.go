package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// writeRandom writes size incompressible, deterministic bytes (seeded).
func writeRandom(t *testing.T, path string, size int, seed uint64) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'b', 'f', 's'})
	b := make([]byte, size)
	r.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var newChunksRE = regexp.MustCompile(`new in (\d+) of (\d+) chunks`)

// newChunks is how many chunks a backup's summary says the server did not
// already have.
func newChunks(t *testing.T, out string) int {
	t.Helper()
	m := newChunksRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup output has no \"new in N of M chunks\": %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// oneLineError fails unless r failed with a single stderr line holding want.
func oneLineError(t *testing.T, what string, r Result, want string) {
	t.Helper()
	msg := strings.TrimSpace(r.Stderr)
	if r.Code == 0 || strings.Contains(msg, "\n") || !strings.Contains(strings.ToLower(msg), want) {
		t.Fatalf("%s: exit %d, stderr %q; want a failure with one line containing %q", what, r.Code, msg, want)
	}
	t.Logf("%s: %s", what, msg)
}

// TestBackupServerKilledAtStage: the server is SIGKILLed at an exact step
// of a backup (the proxy's frame hook kills it before the frame reaches
// it): after a restart no partial snapshot is listed, the previous
// snapshot verifies and restores, and the next backup succeeds, uploads
// fewer chunks than the first and stores again none the killed one stored.
func TestBackupServerKilledAtStage(t *testing.T) {
	stages := []struct {
		name        string
		typ         byte
		chunksReach bool   // the killed backup's new chunks were stored
		step        string // what the error names as the step that failed
	}{
		{"first UPLOAD_CHUNK", 0x32, false, "upload chunk"},
		{"first UPLOAD_FILE", 0x34, true, "upload root.tree."},
		{"BACKUP_FINISH", 0x35, true, "finish backup"},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), src)
			writeRandom(t, filepath.Join(src, "a.bin"), 12<<20, 1)
			ds := filepath.Join(dir, "ds")
			srv := StartServer(t, ds)
			tok := srv.Token("admin", "read:*", "backup:*")
			n1 := uploaded(t, srv.MustClient(tok, "backup", "--time", "2026-01-01T00:00:00Z", srv.Repo("/vm/100"), "root.tree:"+src))

			writeRandom(t, filepath.Join(src, "b.bin"), 3<<20, 2)
			before := len(chunkFiles(t, ds))
			px := StartFaultProxy(t, srv)
			var once sync.Once
			px.OnFrame(st.typ, func(int64) { once.Do(srv.Kill) })
			r := srv.Client(tok, "backup", "--time", "2026-01-02T00:00:00Z", px.Repo("/vm/100"), "root.tree:"+src)
			if px.Frames(st.typ) == 0 {
				t.Fatalf("the backup sent no frame 0x%02x: the kill point was never reached (exit %d: %s)", st.typ, r.Code, r.Stderr)
			}
			oneLineError(t, "backup with the server killed at "+st.name, r, "connection lost")
			if !strings.Contains(r.Stderr, st.step) {
				t.Fatalf("backup with the server killed at %s: stderr %q does not name the step %q", st.name, r.Stderr, st.step)
			}
			stored := len(chunkFiles(t, ds)) - before
			if st.chunksReach != (stored > 0) {
				t.Fatalf("killed at %s: %d new chunk files on the server; want them stored: %v", st.name, stored, st.chunksReach)
			}

			srv.Restart()
			if snaps := strings.Fields(srv.MustClient(tok, "ls", srv.Repo("/vm/100"))); len(snaps) != 1 || !strings.Contains(snaps[0], "2026-01-01") {
				t.Fatalf("snapshots after the kill: %q; want only the first", snaps)
			}
			if out := MustRun(t, "verify", "--datastore", ds); !strings.Contains(out, ": 0 bad") {
				t.Fatalf("verify after the kill: %s", out)
			}
			out := srv.MustClient(tok, "backup", "--time", "2026-01-03T00:00:00Z", srv.Repo("/vm/100"), "root.tree:"+src)
			n3, new3 := uploaded(t, out), newChunks(t, out)
			t.Logf("first backup uploaded %d chunks; killed one stored %d; the next uploaded %d, %d new", n1, stored, n3, new3)
			if n3 >= n1 {
				t.Errorf("the backup after the kill uploaded %d chunks, the first %d; want fewer", n3, n1)
			}
			if st.chunksReach && new3 != 0 {
				t.Errorf("the backup after the kill stored %d new chunks; want 0 (the killed backup's chunks reused)", new3)
			}
			restored := filepath.Join(dir, "restored")
			srv.MustClient(tok, "restore", srv.Repo("/vm/100/latest/root.tree"), restored)
			Sh(t, "diff", "-r", src, restored)
			if out := MustRun(t, "verify", "--datastore", ds); !strings.Contains(out, "verified 2 snapshots") || !strings.Contains(out, ": 0 bad") {
				t.Fatalf("verify after the next backup: %s", out)
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes on dir until the test ends.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	Sh(t, "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	t.Cleanup(func() { Sh(t, "umount", "-l", dir) })
}

// usedBytes is how much of the filesystem holding dir is in use.
func usedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Blocks-s.Bfree) * s.Bsize
}

// TestBackupDiskFull: a backup bigger than its datastore's filesystem (a
// 24 MiB tmpfs), locally and over the network, fails with one clear line,
// publishes nothing, leaves the datastore verifying clean and gives its
// space back (the aborted backup removes the chunks it stored); after a
// plain gc (default grace) a small backup then succeeds.
func TestBackupDiskFull(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), small)
	big := filepath.Join(dir, "big")
	os.Mkdir(big, 0o755)
	writeRandom(t, filepath.Join(big, "big.bin"), 40<<20, 3)

	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "network"}[remote]
		t.Run(name, func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			mountTmpfs(t, ds, "24m")
			InitDatastore(t, ds)
			run, repo := func(args ...string) Result { return Run(t, args...) }, "/vm/1"
			dsArgs := []string{"--datastore", ds}
			gcArgs := []string{"gc", "--datastore", ds}
			if remote {
				srv := StartServer(t, ds)
				tok := srv.Token("admin", "read:*", "backup:*", "admin:*")
				run = func(args ...string) Result { return srv.Client(tok, args...) }
				repo, dsArgs = srv.Repo("/vm/1"), nil
				// The server holds its datastore: gc runs inside it.
				gcArgs = []string{"gc", srv.Repo("/")}
			}
			must := func(args ...string) string {
				t.Helper()
				r := run(args...)
				if r.Code != 0 {
					t.Fatalf("backupfs %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
				}
				return r.Stdout
			}
			with := func(args ...string) []string { return append(append(args[:1:1], dsArgs...), args[1:]...) }
			must(with("backup", "--time", "2026-01-01T00:00:00Z", repo, "small.tree:"+small)...)
			base := usedBytes(t, ds)

			r := run(with("backup", "--time", "2026-01-02T00:00:00Z", repo, "big.tree:"+big)...)
			oneLineError(t, "backup into a full datastore", r, "no space left")
			ended := usedBytes(t, ds)
			if snaps := strings.Fields(must(with("ls", repo)...)); len(snaps) != 1 || !strings.Contains(snaps[0], "2026-01-01") {
				t.Fatalf("snapshots after the failed backup: %q; want only the first", snaps)
			}
			if out := MustRun(t, "verify", "--datastore", ds); !strings.Contains(out, "verified 1 snapshots") || !strings.Contains(out, ": 0 bad") {
				t.Fatalf("verify after the failed backup: %s", out)
			}
			// Plain gc, with its default grace, as the docs tell users.
			must(gcArgs...)
			afterGC := usedBytes(t, ds)
			t.Logf("datastore use: %d KiB after the first backup, %d KiB once the failed backup ended, %d KiB after gc",
				base>>10, ended>>10, afterGC>>10)
			if ended > base+1<<20 || afterGC > base+1<<20 {
				t.Fatalf("the failed backup's space was not given back (the aborted backup removes its new chunks)")
			}
			must(with("backup", "--time", "2026-01-03T00:00:00Z", repo, "small.tree:"+small)...)
			if out := MustRun(t, "verify", "--datastore", ds); !strings.Contains(out, ": 0 bad") {
				t.Fatalf("verify at the end: %s", out)
			}
		})
	}
}
