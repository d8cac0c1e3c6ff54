package main

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseFio(t *testing.T) {
	good := `fio: some warning
{"jobs":[{"read":{"iops":961.5,"clat_ns":{"percentile":{"50.000000":717000,"99.000000":9765000}}}}]}`
	tests := []struct {
		name    string
		in      string
		want    fioResult
		wantErr error
	}{
		{"warning before json", good, fioResult{IOPS: 961.5, P50ms: 0.717, P99ms: 9.765}, nil},
		{"no jobs", `{"jobs":[]}`, fioResult{}, errNoJob},
		{"no percentiles", `{"jobs":[{"read":{"iops":5}}]}`, fioResult{}, errNoJob},
		{"no reads", `{"jobs":[{"read":{"iops":0,"clat_ns":{"percentile":{"50.000000":1,"99.000000":2}}}}]}`, fioResult{}, errNoJob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFio([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if math.Abs(got.IOPS-tt.want.IOPS) > 1e-9 || math.Abs(got.P50ms-tt.want.P50ms) > 1e-9 || math.Abs(got.P99ms-tt.want.P99ms) > 1e-9 {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseFio([]byte("not json")); err == nil {
		t.Error("parseFio accepted text that is not JSON")
	}
}

func TestMedian(t *testing.T) {
	r, err := parseRaw(strings.NewReader("a 3\na 1\na 2\nb 4\nb 1\nnote hello world\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{"a": 2, "b": 2.5} {
		if got, ok := r.med(key); !ok || got != want {
			t.Errorf("med(%s) = %v, %v; want %v", key, got, ok, want)
		}
	}
	if _, ok := r.med("c"); ok {
		t.Error("med of a missing key reported a value")
	}
	if len(r.notes) != 1 || r.notes[0] != "hello world" {
		t.Errorf("notes = %q", r.notes)
	}
	if _, err := parseRaw(strings.NewReader("a x\n")); err == nil {
		t.Error("parseRaw accepted a value that is not a number")
	}
}

// TestRows checks the ratios and the ok column against the issues' targets.
func TestRows(t *testing.T) {
	in := `seq_file_bytes 1048576000
seq_file_local_s 1
seq_file_mount_s 2
seq_file_pipe_s 1.25
seq_file_pipe_cpu_s 3.5
seq_file_blobs_s 0.5
seq_img_bytes 1048576000
seq_img_local_s 2
seq_img_mount_s 1.6
cp_local_s 3
cp_local_s 4
cp_local_s 2
cp_mount_s 4.5
cp_mount_s 6
cp_mount_s 4
restore_tree_s 2
restore_tree_s 6
restore_tree_s 4
restore_equal 1
cp_equal 1
cp_floor_s 6
cp_floor_s 8
cp_floor_s 4
restore_img_local_s 1
restore_img_s 2
restore_img_equal 0
find_local_s 0.2
find_mount_s 0.3
find_memfloor_s 0.25
find_equal 0
ls_ms 40
ls_ms 70
ls_ms 45
rss_cp_kib 204800
cache_mib 64
tree_bytes 300000000
backup1_s 1.5
backup2_s 0.25
`
	r, err := parseRaw(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]row{}
	for _, x := range buildRows(r) {
		got[x.Op] = x
	}
	tests := []struct {
		op       string
		backupfs float64
		ratio    float64 // NaN: no ratio
		ok       string  // okText: yes, NO, or - for no target
	}{
		// 500 MiB/s is under 600 though 0.5x... and 0.5x is under 0.6x.
		{"dd bs=1M of the 256 MiB random file", 500, 0.5, "NO"},
		// 625 MiB/s and 1.25x local: both hold.
		{"dd bs=1M of the 1 GiB image", 625, 1.25, "yes"},
		{"  pipeline floor: the file, no FUSE", 800, 0.8, "-"},
		{"  pipeline floor: the file, CPU time", 3.5, math.NaN(), "-"},
		{"  pipeline floor: the file, blob reads only", 2000, 2, "-"},
		// Medians 4.5 s against 3 s local; the per-run ratios 1.5, 1.5, 2.
		{"cp -a of the tree out of the mount", 4.5, 1.5, "yes"},
		// Per run 2.25, 1, 1: the median ratio is 1, though the medians' is 1.125.
		{"  cp -a out of the mount / backupfs restore", 1, math.NaN(), "yes"},
		{"  floor: cp -a via go-fuse loopback", 6, 2, "-"},
		{"backupfs restore of the tree (local: cp -a)", 4, 1.5, "NO"}, // over 3 s
		{"backupfs restore of the image (local: cp)", 2, 2, "NO"},     // differs from the original
		{"find | wc -l of the tree", 0.3, 1.5, "NO"},                  // counts differ
		{"  floor: find via go-fuse, the tree in memory", 0.25, 1.25, "-"},
		{"mount to first ls answering, median of 5", 45, math.NaN(), "yes"},
		{"peak RSS of the mount after cp -a", 200, math.NaN(), "NO"}, // 64 MiB cache: <= 128
		{"first backup of the tree over TLS", 200, math.NaN(), "yes"},
		{"second backup, 1% changed (local = first)", 0.25, 6, "yes"},
	}
	for _, tt := range tests {
		x, found := got[tt.op]
		if !found {
			t.Errorf("%s: no row", tt.op)
			continue
		}
		if math.Abs(x.Backupfs-tt.backupfs) > 1e-9 {
			t.Errorf("%s: backupfs = %v, want %v", tt.op, x.Backupfs, tt.backupfs)
		}
		if (x.Ratio == nil) != math.IsNaN(tt.ratio) || x.Ratio != nil && math.Abs(*x.Ratio-tt.ratio) > 1e-9 {
			t.Errorf("%s: ratio = %v, want %v", tt.op, num(x.Ratio), tt.ratio)
		}
		if okText(x.OK) != tt.ok {
			t.Errorf("%s: ok = %s, want %s", tt.op, okText(x.OK), tt.ok)
		}
	}
	if _, found := got["  floor: the image via go-fuse loopback"]; found {
		t.Error("a row without measurements was printed")
	}
}

// TestVersusRestoreFailsOnDifference: a copy that differs from the source
// never passes, however fast.
func TestVersusRestoreFailsOnDifference(t *testing.T) {
	r, err := parseRaw(strings.NewReader("cp_mount_s 1\nrestore_tree_s 2\ncp_equal 0\ncp_local_s 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range buildRows(r) {
		if !strings.Contains(x.Op, "out of the mount") {
			continue
		}
		n++
		if x.OK == nil || *x.OK {
			t.Errorf("%s: ok %s with a copy that differs", x.Op, okText(x.OK))
		}
	}
	if n != 2 {
		t.Errorf("%d rows of cp -a out of the mount, want 2", n)
	}
}

// TestRowsDefaults: without --cache-size the RSS bound is the default
// cache + 64 MiB, and the round-trip rows carry no target.
func TestRowsDefaults(t *testing.T) {
	r, err := parseRaw(strings.NewReader("rss_seq_kib 133120\nrss_cp_kib 129024\nrtt_fuse_us 24.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]row{}
	for _, x := range buildRows(r) {
		got[x.Op] = x
	}
	for op, want := range map[string]bool{
		"peak RSS of the mount after dd of the image": false, // 130 MiB > 128
		"peak RSS of the mount after cp -a":           true,  // 126 MiB
	} {
		if x := got[op]; x.OK == nil || *x.OK != want || x.Target != "<= 128 MiB" {
			t.Errorf("%s: ok %s, target %q; want %v, <= 128 MiB", op, okText(x.OK), x.Target, want)
		}
	}
	if x, found := got["FUSE round trip on the mount (listxattr)"]; !found || x.Backupfs != 24.5 || x.OK != nil {
		t.Errorf("round-trip row: %+v, found %v", x, found)
	}
}

// TestSealRows: each sealed figure beside the plain one of the same run,
// the ratio sealed over plain throughput as the median of each run's,
// ok at 0.9 and above, NO when the sealed copy or image differs.
func TestSealRows(t *testing.T) {
	in := `tree_bytes 400000000
img_bytes 1048576000
seal_backup_tree_plain_s 2
seal_backup_tree_s 2.5
seal_backup_img_plain_s 3
seal_backup_img_plain_s 4
seal_backup_img_plain_s 2
seal_backup_img_s 3
seal_backup_img_s 4
seal_backup_img_s 2.1
seal_cp_plain_s 10
seal_cp_s 10.5
seal_cp_equal 0
seal_img_plain_s 2
seal_img_s 2.2
seal_img_equal 1
seal_backup_img_plain_client_cpu_s 4
seal_backup_img_client_cpu_s 5
seal_backup_img_plain_server_cpu_s 3.5
seal_backup_img_server_cpu_s 2.1
seal_img_plain_mount_cpu_s 2
seal_img_mount_cpu_s 2.5
`
	r, err := parseRaw(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]row{}
	for _, x := range buildRows(r) {
		got[x.Op] = x
	}
	tests := []struct {
		op            string
		plain, sealed float64
		ratio         float64
		ok            string
	}{
		// 200 against 160 MB/s: 0.8, sealing cost 20%.
		{"sealed backup of the tree (local = plain)", 200, 160, 0.8, "NO"},
		// Per run 1, 1 and 2/2.1: the median ratio is 1 though the medians' is 3/3.
		{"sealed backup of the image (local = plain)", 349.525, 349.525, 1, "yes"},
		// 10/10.5 = 0.952 passes the ratio, but the sealed copy differs.
		{"sealed cp -a of the tree (local = plain)", 400000000 / 10.0 / mib, 400000000 / 10.5 / mib, 10 / 10.5, "NO"},
		{"sealed dd bs=1M of the image (local = plain)", 500, 1000 / 2.2, 2 / 2.2, "yes"},
	}
	for _, tt := range tests {
		x, found := got[tt.op]
		if !found {
			t.Errorf("%s: no row", tt.op)
			continue
		}
		if x.Local == nil || math.Abs(*x.Local-tt.plain) > 1e-3 || math.Abs(x.Backupfs-tt.sealed) > 1e-3 {
			t.Errorf("%s: plain %v, sealed %v; want %v, %v", tt.op, num(x.Local), x.Backupfs, tt.plain, tt.sealed)
		}
		if x.Ratio == nil || math.Abs(*x.Ratio-tt.ratio) > 1e-9 {
			t.Errorf("%s: ratio = %v, want %v", tt.op, num(x.Ratio), tt.ratio)
		}
		if okText(x.OK) != tt.ok || x.Target != ">= 0.9 x plain" {
			t.Errorf("%s: ok %s, target %q; want %s, >= 0.9 x plain", tt.op, okText(x.OK), x.Target, tt.ok)
		}
	}
	// CPU seconds, sealed beside plain, sealed / plain; only where measured.
	for op, want := range map[string][3]float64{
		"  client CPU of the image backup": {4, 5, 1.25},
		"  server CPU of the image backup": {3.5, 2.1, 0.6},
		"  mount CPU of the dd":            {2, 2.5, 1.25},
	} {
		x, found := got[op]
		if !found || x.Local == nil || *x.Local != want[0] || x.Backupfs != want[1] ||
			x.Ratio == nil || math.Abs(*x.Ratio-want[2]) > 1e-9 || x.OK != nil {
			t.Errorf("%s: %+v, found %v; want plain, sealed, ratio %v and no target", op, x, found, want)
		}
	}
	if n := len(sealRows(r)); n != 7 {
		t.Errorf("%d sealed rows, want 7 (4, the image backup's 2 CPU rows, the dd's)", n)
	}
	// A sealed figure without its plain pair is no row.
	r, err = parseRaw(strings.NewReader("tree_bytes 1\nseal_cp_s 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := sealRows(r); len(rows) != 0 {
		t.Errorf("rows without a plain figure: %+v", rows)
	}
}

// TestSyncRows: the first sync as a multiple of the two restores, and the
// second sync's speed-up with issue 15's 10x target.
func TestSyncRows(t *testing.T) {
	r, err := parseRaw(strings.NewReader("sync1_s 6\nsync1_s 8\nsync2_s 0.5\nsync2_s 1\nrestore_tree_s 2\nrestore_img_s 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]row{}
	for _, x := range buildRows(r) {
		got[x.Op] = x
	}
	v, ok := got["first sync of tree and image / their backupfs restores"]
	if !ok || v.Backupfs != 7.0/4 {
		t.Errorf("sync / restore row: %+v (present %v), want 1.75 (median 7 s over 2+2 s)", v, ok)
	}
	s, ok := got["second sync after 1% change, times faster than the first"]
	if !ok || s.Backupfs != 10 || s.OK == nil || !*s.OK {
		t.Errorf("speed-up row: %+v (present %v), want 10 (runs 12x and 8x), ok", s, ok)
	}
}

func TestFetchFloorRows(t *testing.T) {
	r, err := parseRaw(strings.NewReader("fio1_local_p50 0.05\nfio1_local_p99 0.1\nfio1_mount_p50 0.7\nfio1_mount_p99 2.2\n" +
		"fio1_local_iops 20000\nfio1_mount_iops 1400\nfetch_p50_ms 0.5\nfetch_p50_ms 0.6\nfetch_p50_ms 0.7\nfetch_p99_ms 1.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	got := map[string]row{}
	for _, x := range buildRows(r) {
		got[x.Op] = x
		ops = append(ops, x.Op)
	}
	p50, ok := got["  floor: one chunk fetch, no FUSE, p50"]
	if !ok || p50.Backupfs != 0.6 || p50.Unit != "ms" || p50.Local == nil || *p50.Local != 0.05 || p50.OK != nil {
		t.Errorf("p50 floor row: %+v (present %v), want the median 0.6 ms beside local 0.05, no target", p50, ok)
	}
	if p99, ok := got["  floor: one chunk fetch, no FUSE, p99"]; !ok || p99.Backupfs != 1.9 {
		t.Errorf("p99 floor row: %+v (present %v)", p99, ok)
	}
	i := slices.Index(ops, "rand 4 KiB read, psync, 1 job(s), p50")
	if i < 0 || i+1 >= len(ops) || ops[i+1] != "  floor: one chunk fetch, no FUSE, p50" {
		t.Errorf("the p50 floor row does not follow fio's p50: %q", ops)
	}
}
