package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jsonRecords parses every line of log as one JSON object with the keys
// time, level and msg; any other line fails the test.
func jsonRecords(t *testing.T, who, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: a log line is not JSON (%v): %q\nwhole log:\n%s", who, err, line, log)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("%s: record without %q: %q", who, k, line)
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// record returns the first record whose msg is msg.
func record(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// TestLogFormatJSON: serve and mount with --log-format json write only
// JSON records to stderr, carrying the keys of their text lines: the
// server's listen address and fingerprint, the mount's repository and
// mountpoint, the cache statistics on SIGUSR1 as numbers. The mount runs
// with --debug: go-fuse's request lines are records too (its server once
// printed them, and its warnings, as plain lines).
func TestLogFormatJSON(t *testing.T) {
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{Args: []string{"--log-format", "json"}})
	tok := srv.Token("admin", "read:*", "backup:*")
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello"), []byte("hello, world\n"), 0o644)
	srv.MustClient(tok, "backup", "--log-format", "json", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+src)

	mp := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp,
		"--log-format", "json", "--debug", srv.Repo("/host/g"))
	Sh(t, "cmp", filepath.Join(src, "hello"), filepath.Join(mp, "2026-11-20T10:00:00Z", "src", "hello"))
	m.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, "cache statistics on SIGUSR1", func() bool {
		return strings.Contains(m.Stderr(), `"msg":"cache statistics"`)
	})
	m.Stop()
	srv.Stop()

	recs := jsonRecords(t, "serve", srv.Log())
	if r := record(recs, "serving"); r == nil || r["listen"] != srv.Addr || r["fingerprint"] != srv.Fingerprint || r["level"] != "INFO" {
		t.Errorf("serve: no serving record with listen %s and the fingerprint: %v", srv.Addr, r)
	}
	recs = jsonRecords(t, "mount", m.Stderr())
	if r := record(recs, "mounted"); r == nil || r["mountpoint"] != mp || r["repository"] != srv.Repo("/host/g") {
		t.Errorf("mount: no mounted record with the repository and %s: %v", mp, r)
	}
	st := record(recs, "cache statistics")
	for _, k := range []string{"hits", "misses", "fetches", "bytes_fetched", "in_memory"} {
		if _, ok := st[k].(float64); !ok {
			t.Errorf("mount: cache statistics record has no number %q: %v", k, st)
		}
	}
	if n, _ := st["fetches"].(float64); n < 1 {
		t.Errorf("mount: a file was read but the cache statistics show no fetch: %v", st)
	}
	debug := 0
	for _, r := range recs {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "fuse: rx ") {
			debug++
		}
	}
	if debug == 0 {
		t.Error("mount --debug: no request record (msg \"fuse: rx ...\")")
	}
}

// TestLogFormatJSONFailure: a server that cannot start says why as one
// JSON ERROR record with the key err, and exits 1; a --log-format that is
// neither text nor json is refused in one line naming the choices.
func TestLogFormatJSONFailure(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	r := Run(t, "serve", "--log-format", "json", "--datastore", missing, "--listen", "127.0.0.1:0")
	if r.Code != 1 {
		t.Fatalf("serve over a missing datastore: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	recs := jsonRecords(t, "serve", r.Stderr)
	if msg, _ := recs[0]["err"].(string); len(recs) != 1 || recs[0]["level"] != "ERROR" || !strings.Contains(msg, missing) {
		t.Errorf("serve over a missing datastore: want one ERROR record naming %s, got %v", missing, recs)
	}
	r = Run(t, "serve", "--log-format", "xml", "--datastore", missing)
	if r.Code == 0 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "want text or json") {
		t.Errorf("--log-format xml: exit %d, want one line saying text or json:\n%s", r.Code, r.Stderr)
	}
}
