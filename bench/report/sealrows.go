package main

import "fmt"

// The sealed rows (issue 20): each sealed figure beside the plain figure of
// the same run, in the local column. Both are throughputs, so the ratio is
// sealed over plain (the median of each run's plain seconds over its sealed
// seconds); the target is that sealing costs at most 10% of it.

// sealTarget is the least sealed/plain throughput ratio: sealing may cost
// at most 10% (issue 20).
const sealTarget = 0.9

func sealRows(r raw) []row {
	backup, read := []string{"client", "server"}, []string{"mount"}
	var rows []row
	for _, s := range []struct {
		op, unit, bytes, key, equal string
		scale                       float64
		what                        string   // in the CPU rows' names
		cpu                         []string // whose CPU seconds are recorded
	}{
		{"sealed backup of the tree (local = plain)", "MB/s", "tree_bytes", "seal_backup_tree", "", 1e6, "tree backup", backup},
		{"sealed backup of the image (local = plain)", "MB/s", "img_bytes", "seal_backup_img", "", 1e6, "image backup", backup},
		{"sealed cp -a of the tree (local = plain)", "MiB/s", "tree_bytes", "seal_cp", "seal_cp_equal", mib, "cp -a", read},
		{"sealed dd bs=1M of the image (local = plain)", "MiB/s", "img_bytes", "seal_img", "seal_img_equal", mib, "dd", read},
	} {
		if x, ok := sealed(r, s.op, s.unit, s.bytes, s.key, s.equal, s.scale); ok {
			rows = append(rows, x)
		}
		for _, who := range s.cpu {
			if x, ok := sealedCPU(r, "  "+who+" CPU of the "+s.what, s.key, who); ok {
				rows = append(rows, x)
			}
		}
	}
	return rows
}

// sealedCPU is the CPU seconds an operation took in one process (a
// backup's client or server, the mount of a read), sealed beside plain,
// the ratio sealed over plain. No target: it says where sealing's cost
// goes (the server verifies a plain chunk's digest, which needs its plain
// bytes, and only the CRC of a sealed one), and on a loaded machine it
// moves less than the seconds do.
func sealedCPU(r raw, op, key, who string) (row, bool) {
	p, ok1 := r.med(key + "_plain_" + who + "_cpu_s")
	s, ok2 := r.med(key + "_" + who + "_cpu_s")
	q, ok3 := r.ratio(key+"_"+who+"_cpu_s", key+"_plain_"+who+"_cpu_s")
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	return row{Op: op, Unit: "CPU s", Local: &p, Backupfs: s, Ratio: &q, Target: "-"}, true
}

// sealed is BYTES over KEY_plain_s (local column) and KEY_s (backupfs),
// in units of scale bytes per second; a failed equality check makes it NO.
func sealed(r raw, op, unit, bytes, key, equal string, scale float64) (row, bool) {
	b, ok1 := r.med(bytes)
	p, ok2 := r.med(key + "_plain_s")
	s, ok3 := r.med(key + "_s")
	q, ok4 := r.ratio(key+"_plain_s", key+"_s")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return row{}, false
	}
	return row{Op: op, Unit: unit, Local: ptr(b / p / scale), Backupfs: b / s / scale, Ratio: &q,
		Target: fmt.Sprintf(">= %g x plain", sealTarget), OK: ptr(q >= sealTarget && !r.differs(equal))}, true
}
