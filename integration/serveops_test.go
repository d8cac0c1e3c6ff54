package integration

import (
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var metricsAddrRE = regexp.MustCompile(`msg=metrics addr=(\S+)`)

// scrape fetches http://addr/metrics and parses the text format: every
// line a # HELP, a # TYPE (counter or gauge) before its sample, or a
// sample `name integer`; anything else fails the test.
func scrape(t *testing.T, addr string) map[string]int64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	name := `[a-zA-Z_:][a-zA-Z0-9_:]*`
	help := regexp.MustCompile(`^# HELP (` + name + `) \S.*$`)
	typ := regexp.MustCompile(`^# TYPE (` + name + `) (counter|gauge)$`)
	sample := regexp.MustCompile(`^(` + name + `) (-?\d+)$`)
	typed := map[string]string{}
	out := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if m := typ.FindStringSubmatch(l); m != nil {
			typed[m[1]] = m[2]
			continue
		}
		if help.MatchString(l) {
			continue
		}
		m := sample.FindStringSubmatch(l)
		if m == nil || typed[m[1]] == "" {
			t.Fatalf("/metrics: line %q is not a typed sample of the text format", l)
		}
		if typed[m[1]] == "counter" && !strings.HasSuffix(m[1], "_total") {
			t.Errorf("/metrics: counter %s does not end in _total", m[1])
		}
		out[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
	}
	return out
}

// TestServeMetrics: serve --metrics-listen exposes the server's counters in
// the Prometheus text format, and they move with what clients do: a
// backup (requests, bytes in, a committed backup, none running), a denied
// listing (an error), a reader (chunks and bytes out).
func TestServeMetrics(t *testing.T) {
	srv := StartServerWith(t, filepath.Join(t.TempDir(), "ds"), ServerOpts{Args: []string{"--metrics-listen", "127.0.0.1:0"}})
	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("serve did not log its metrics address:\n%s", srv.Log())
	}
	before := scrape(t, m[1])
	for _, k := range []string{"backupfs_server_requests_total", "backupfs_server_backups_committed_total", "backupfs_server_received_bytes_total"} {
		if v, ok := before[k]; !ok || v != 0 {
			t.Errorf("before any client: %s = %d (present %v), want 0", k, v, ok)
		}
	}
	tok := srv.Token("g", "read:host/g", "backup:host/g")
	src := t.TempDir()
	data := strings.Repeat("metrics ", 1<<16) // 512 KiB
	os.WriteFile(filepath.Join(src, "f"), []byte(data), 0o644)
	srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+src)
	if r := srv.Client(tok, "ls", srv.Repo("/host/other")); r.Code == 0 {
		t.Fatalf("ls of a group the token may not read succeeded")
	}
	if r := srv.Client(tok, "backup", "--time", "2026-11-21T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+src, "gone.tree:"+filepath.Join(src, "gone")); r.Code == 0 {
		t.Fatalf("a backup of a missing directory succeeded")
	}
	srv.MustClient(tok, "restore", srv.Repo("/host/g/2026-11-20T10:00:00Z/src.tree"), filepath.Join(t.TempDir(), "out"))

	after := scrape(t, m[1])
	d := func(k string) int64 { return after[k] - before[k] }
	for k, ok := range map[string]bool{
		"backupfs_server_backups_committed_total":   d("backupfs_server_backups_committed_total") == 1,
		"backupfs_server_backups_running":           after["backupfs_server_backups_running"] == 0,
		"backupfs_server_backups_aborted_total":     d("backupfs_server_backups_aborted_total") == 1,
		"backupfs_server_requests_total":            d("backupfs_server_requests_total") >= 5,
		"backupfs_server_request_errors_total":      d("backupfs_server_request_errors_total") >= 1,
		"backupfs_server_received_bytes_total":      d("backupfs_server_received_bytes_total") > 0,
		"backupfs_server_sent_bytes_total":          d("backupfs_server_sent_bytes_total") > 0,
		"backupfs_server_chunks_served_total":       d("backupfs_server_chunks_served_total") >= 1,
		"backupfs_server_chunks_uploaded_new_total": d("backupfs_server_chunks_uploaded_new_total") >= 1,
		"backupfs_server_connections_total":         d("backupfs_server_connections_total") >= 3,
	} {
		if !ok {
			t.Errorf("%s: before %d, after %d", k, before[k], after[k])
		}
	}
}

// TestServeConfigFile: serve --config reads settings from the file; flags
// on the command line win (the harness's --datastore and --listen over
// the file's); a bad key stops the server with one line naming FILE:LINE.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "serve.conf")
	os.WriteFile(conf, []byte("# test\n[serve]\ndatastore = \"/nonexistent/ds\"\nlisten = 127.0.0.1:1\nmax_conns = 7\nmetrics_listen = 127.0.0.1:0 # on\n"), 0o600)
	srv := StartServerWith(t, filepath.Join(dir, "ds"), ServerOpts{Args: []string{"--config", conf}})
	if !strings.Contains(srv.Log(), "max_conns=7 ") || !metricsAddrRE.MatchString(srv.Log()) || srv.Addr == "127.0.0.1:1" {
		t.Errorf("serve with %s: want max_conns=7 and metrics from the file, the flags' datastore and listen:\n%s", conf, srv.Log())
	}
	os.WriteFile(conf, []byte("max_conns = 7\nmax_cons = 8\n"), 0o600)
	r := Run(t, "serve", "--config", conf, "--datastore", srv.Datastore, "--listen", "127.0.0.1:0")
	if r.Code != 1 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, conf+":2: config: unknown key max-cons") {
		t.Errorf("bad key: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestMountMetrics: mount --metrics-listen exposes the cache statistics
// in the text format; reading a file moves the fetch counters by at least
// its size.
func TestMountMetrics(t *testing.T) {
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("g", "read:host/g", "backup:host/g")
	src := t.TempDir()
	data := make([]byte, 1<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(src, "f"), data, 0o644)
	srv.MustClient(tok, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/host/g"), "src.tree:"+src)
	mp := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, []string{"BACKUPFS_TOKEN=" + tok, "BACKUPFS_FINGERPRINT=" + srv.Fingerprint}, mp,
		"--metrics-listen", "127.0.0.1:0", srv.Repo("/host/g"))
	addr := metricsAddrRE.FindStringSubmatch(m.Stderr())
	if addr == nil {
		t.Fatalf("mount did not log its metrics address:\n%s", m.Stderr())
	}
	before := scrape(t, addr[1])
	Sh(t, "cmp", filepath.Join(src, "f"), filepath.Join(mp, "2026-11-20T10:00:00Z", "src", "f"))
	after := scrape(t, addr[1])
	const p = "backupfs_mount_cache_"
	if d := after[p+"fetched_bytes_total"] - before[p+"fetched_bytes_total"]; d < int64(len(data)) {
		t.Errorf("reading %d bytes moved %sfetched_bytes_total by %d", len(data), p, d)
	}
	if after[p+"fetches_total"] <= before[p+"fetches_total"] || after[p+"bytes"] <= 0 {
		t.Errorf("fetches_total %d -> %d, bytes %d: want more fetches and bytes in memory", before[p+"fetches_total"], after[p+"fetches_total"], after[p+"bytes"])
	}
}
