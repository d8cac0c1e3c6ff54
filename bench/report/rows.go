package main

import (
	"fmt"
	"slices"
)

// buildRows makes the table from the medians, in the order of issue 13's
// table, then issue 5's remaining rows. Times are seconds in raw; rates are
// MiB / seconds. A ratio is the median of the ratios of each run's pair
// (both measured in the same run), not the ratio of the medians.
func buildRows(r raw) []row {
	var rows []row
	add := func(x row, ok bool) {
		if ok {
			rows = append(rows, x)
		}
	}
	// Each "floor" row is the operation above it through go-fuse's
	// loopback file system (bench/fusefloor) over the local files: what
	// FUSE alone costs on this machine. A "pipeline floor" row is the same
	// bytes' chunks read cold from the datastore, sent over TLS and
	// verified in one process, with no protocol, cache or FUSE
	// (bench/pipefloor): the least a cold read through the mount costs,
	// in seconds and in CPU seconds; and the reading of the blob files
	// alone, its datastore's share. No targets.
	add(within(r, "cp -a of the tree out of the mount", "cp_mount_s", "cp_local_s", 5, "cp_equal"))
	add(versusRestore(r))
	add(slower(r, "  floor: cp -a via go-fuse loopback", "cp_floor_s", "cp_local_s"))
	add(slower(r, "  floor: cp -a out of the same mount again, warm", "cp_mount_warm_s", "cp_local_warm_s"))
	add(warmVersusRestore(r))
	add(within(r, "backupfs restore of the tree (local: cp -a)", "restore_tree_s", "cp_local_s", 3, "restore_equal"))
	add(within(r, "backupfs restore of the image (local: cp)", "restore_img_s", "restore_img_local_s", 2.4, "restore_img_equal"))
	for _, s := range []struct{ key, what, short string }{
		{"seq_file", "dd bs=1M of the 256 MiB random file", "the file"},
		{"seq_img", "dd bs=1M of the 1 GiB image", "the image"},
	} {
		add(rate(r, s.what, s.key, "mount", 600, 0.6))
		add(rate(r, "  floor: "+s.short+" via go-fuse loopback", s.key, "floor", 0, 0))
		add(rate(r, "  pipeline floor: "+s.short+", no FUSE", s.key, "pipe", 0, 0))
		add(info(r, "  pipeline floor: "+s.short+", CPU time", "CPU s", s.key+"_pipe_cpu_s"))
		add(rate(r, "  pipeline floor: "+s.short+", blob reads only", s.key, "blobs", 0, 0))
	}
	add(within(r, "find | wc -l of the tree", "find_mount_s", "find_local_s", 0.5, "find_equal"))
	add(slower(r, "  floor: find via go-fuse loopback", "find_floor_s", "find_local_s"))
	add(slower(r, "  floor: find via go-fuse, the tree in memory", "find_memfloor_s", "find_local_s"))
	for _, jobs := range []string{"1", "8"} {
		k, name := "fio"+jobs, "rand 4 KiB read, psync, "+jobs+" job(s)"
		lim50, lim99 := 0.5, 2.0
		if jobs == "8" { // the issues set targets for iodepth 1 only
			lim50, lim99 = 0, 0
		}
		add(latency(r, name+", p50", k, "p50", lim50))
		if jobs == "1" {
			add(fetchFloor(r, "  floor: one chunk fetch, no FUSE, p50", "p50"))
		}
		add(latency(r, name+", p99", k, "p99", lim99))
		if jobs == "1" {
			add(fetchFloor(r, "  floor: one chunk fetch, no FUSE, p99", "p99"))
		}
		add(iops(r, name+", IOPS", k))
	}
	add(absolute(r, "mount to first ls answering, median of 5", "ms", "ls_ms", 1, 50))
	// Issue 5's rule is cache size + 64 MiB: 128 MiB at the default 64 MiB
	// cache, issue 13's bound.
	rss := defaultCacheMiB + 64.0
	if c, ok := r.med("cache_mib"); ok {
		rss = c + 64
	}
	add(absolute(r, "peak RSS of the mount after dd of the image", "MiB", "rss_seq_kib", 1.0/1024, rss))
	add(absolute(r, "peak RSS of the mount after cp -a", "MiB", "rss_cp_kib", 1.0/1024, rss))
	add(info(r, "round trip between two processes (pipe)", "us", "rtt_pipe_us"))
	add(info(r, "the same, both pinned to one CPU", "us", "rtt_pipe_one_cpu_us"))
	add(info(r, "FUSE round trip on the mount (listxattr)", "us", "rtt_fuse_us"))
	add(syncVersusRestore(r))
	add(syncSpeedup(r))
	add(backupRate(r))
	add(secondBackup(r))
	add(imageBackup(r))
	return append(rows, sealRows(r)...)
}

// defaultCacheMiB is backupfs mount's default --cache-size.
const defaultCacheMiB = 64

const mib = 1 << 20

func ptr[T any](v T) *T { return &v }

// ratio is the median over runs of num[k] / den[k], each run's pair; with
// unequal counts (a key measured once per invocation), the ratio of the
// medians.
func (r raw) ratio(num, den string) (float64, bool) {
	a, b := r.vals[num], r.vals[den]
	if len(a) == 0 || len(b) == 0 {
		return 0, false
	}
	if len(a) != len(b) {
		n, _ := r.med(num)
		d, _ := r.med(den)
		return n / d, true
	}
	q := make([]float64, len(a))
	for k := range a {
		q[k] = a[k] / b[k]
	}
	slices.Sort(q)
	if len(q)%2 == 1 {
		return q[len(q)/2], true
	}
	return (q[len(q)/2-1] + q[len(q)/2]) / 2, true
}

// differs says whether an equality check (key 1 or 0) failed: such a row
// is never "yes".
func (r raw) differs(key string) bool {
	v, has := r.med(key)
	return key != "" && has && v != 1
}

// info is a mount-side figure with no target: what a request costs.
func info(r raw, op, unit, key string) (row, bool) {
	m, ok := r.med(key)
	if !ok {
		return row{}, false
	}
	return row{Op: op, Unit: unit, Backupfs: m, Target: "-"}, true
}

// rate compares throughput in MiB/s: KEY_bytes over KEY_local_s and
// KEY_SIDE_s (side "mount", "floor", "pipe" or "blobs"). The target is at
// least minMiB MiB/s and at least minRatio x local; 0 and 0 mean none.
func rate(r raw, op, key, side string, minMiB, minRatio float64) (row, bool) {
	b, ok1 := r.med(key + "_bytes")
	l, ok2 := r.med(key + "_local_s")
	m, ok3 := r.med(key + "_" + side + "_s")
	ratio, ok4 := r.ratio(key+"_local_s", key+"_"+side+"_s")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return row{}, false
	}
	x := row{Op: op, Unit: "MiB/s", Local: ptr(b / l / mib), Backupfs: b / m / mib, Ratio: &ratio, Target: "-"}
	if minMiB > 0 || minRatio > 0 {
		x.Target = fmt.Sprintf(">= %g MiB/s, %gx", minMiB, minRatio)
		x.OK = ptr(b/m/mib >= minMiB && ratio >= minRatio)
	}
	return x, true
}

// slower compares durations with no target: KEY over LOCAL, both seconds.
func slower(r raw, op, key, local string) (row, bool) {
	l, ok1 := r.med(local)
	m, ok2 := r.med(key)
	ratio, ok3 := r.ratio(key, local)
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	return row{Op: op, Unit: "s", Local: &l, Backupfs: m, Ratio: &ratio, Target: "-"}, true
}

// within is a duration with an absolute bound of max seconds, shown beside
// its local counterpart; a failed equality check (equal) makes it "NO".
func within(r raw, op, key, local string, max float64, equal string) (row, bool) {
	m, ok := r.med(key)
	if !ok {
		return row{}, false
	}
	x := row{Op: op, Unit: "s", Backupfs: m, Target: fmt.Sprintf("<= %g s", max), OK: ptr(m <= max && !r.differs(equal))}
	if l, ok := r.med(local); ok {
		x.Local = &l
		if q, ok := r.ratio(key, local); ok {
			x.Ratio = &q
		}
	}
	return x, true
}

// versusRestore is issue 13's main row: cp -a out of the mount as a
// multiple of backupfs restore of the same tree in the same run.
func versusRestore(r raw) (row, bool) {
	q, ok := r.ratio("cp_mount_s", "restore_tree_s")
	if !ok {
		return row{}, false
	}
	return row{Op: "  cp -a out of the mount / backupfs restore", Unit: "x", Backupfs: q, Target: "<= 1.2 x",
		OK: ptr(q <= 1.2 && !r.differs("cp_equal") && !r.differs("restore_equal"))}, true
}

// warmVersusRestore: the warm copy out of the mount (no READ, LOOKUP or
// fetch: only what every copy through FUSE costs) over backupfs restore of
// the same run. Above 1.2, versusRestore's target is out of reach for a
// cold copy through this kernel interface on this machine. No target.
func warmVersusRestore(r raw) (row, bool) {
	q, ok := r.ratio("cp_mount_warm_s", "restore_tree_s")
	if !ok {
		return row{}, false
	}
	return row{Op: "    warm cp -a out of the mount / backupfs restore", Unit: "x", Backupfs: q, Target: "-"}, true
}

// latency is a fio percentile in ms; max 0 means no target.
func latency(r raw, op, key, pct string, max float64) (row, bool) {
	l, ok1 := r.med(key + "_local_" + pct)
	m, ok2 := r.med(key + "_mount_" + pct)
	q, ok3 := r.ratio(key+"_mount_"+pct, key+"_local_"+pct)
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	x := row{Op: op, Unit: "ms", Local: &l, Backupfs: m, Ratio: &q, Target: "-"}
	if max > 0 {
		x.Target, x.OK = fmt.Sprintf("<= %g ms", max), ptr(m <= max)
	}
	return x, true
}

// fetchFloor is bench/fetchfloor's percentile (fetch_PCT_ms) beside fio's
// local one at 1 job: what a cold random read over the protocol costs with
// no FUSE, no cache and no mount.
func fetchFloor(r raw, op, pct string) (row, bool) {
	l, ok1 := r.med("fio1_local_" + pct)
	m, ok2 := r.med("fetch_" + pct + "_ms")
	q, ok3 := r.ratio("fetch_"+pct+"_ms", "fio1_local_"+pct)
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	return row{Op: op, Unit: "ms", Local: &l, Backupfs: m, Ratio: &q, Target: "-"}, true
}

func iops(r raw, op, key string) (row, bool) {
	l, ok1 := r.med(key + "_local_iops")
	m, ok2 := r.med(key + "_mount_iops")
	q, ok3 := r.ratio(key+"_mount_iops", key+"_local_iops")
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	return row{Op: op, Unit: "IOPS", Local: &l, Backupfs: m, Ratio: &q, Target: "-"}, true
}

// absolute is a mount-only figure with an upper bound, scaled to unit.
func absolute(r raw, op, unit, key string, scale, max float64) (row, bool) {
	m, ok := r.med(key)
	if !ok {
		return row{}, false
	}
	m *= scale
	return row{Op: op, Unit: unit, Backupfs: m, Target: fmt.Sprintf("<= %g %s", max, unit), OK: ptr(m <= max)}, true
}

// syncVersusRestore: the first backupfs sync of the tree and the image
// into an empty datastore over the same loopback, as a multiple of
// backupfs restore of the same two (issue 15). No target.
func syncVersusRestore(r raw) (row, bool) {
	s, ok1 := r.med("sync1_s")
	t, ok2 := r.med("restore_tree_s")
	i, ok3 := r.med("restore_img_s")
	if !ok1 || !ok2 || !ok3 || t+i <= 0 {
		return row{}, false
	}
	q := s / (t + i)
	return row{Op: "first sync of tree and image / their backupfs restores", Unit: "x", Backupfs: q, Target: "-"}, true
}

// syncSpeedup: the first sync's seconds over the second's, after the 1%
// change; issue 15's target is at least 10.
func syncSpeedup(r raw) (row, bool) {
	q, ok := r.ratio("sync1_s", "sync2_s")
	if !ok {
		return row{}, false
	}
	return row{Op: "second sync after 1% change, times faster than the first", Unit: "x", Backupfs: q,
		Target: ">= 10 x", OK: ptr(q >= 10)}, true
}
