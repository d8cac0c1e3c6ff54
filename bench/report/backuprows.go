package main

// The backup rows: issue 5's targets, unchanged by issue 13.

// backupRate is the first tree backup in MB/s; local is a cold read of
// the same tree (tar | cat), the rate the disk allows.
func backupRate(r raw) (row, bool) {
	b, ok1 := r.med("tree_bytes")
	s, ok2 := r.med("backup1_s")
	if !ok1 || !ok2 {
		return row{}, false
	}
	x := row{Op: "first backup of the tree over TLS", Unit: "MB/s", Backupfs: b / s / 1e6,
		Target: ">= 150 MB/s", OK: ptr(b/s/1e6 >= 150)}
	if l, ok := r.med("tree_read_local_s"); ok {
		x.Local = ptr(b / l / 1e6)
		if q, ok := r.ratio("tree_read_local_s", "backup1_s"); ok {
			x.Ratio = &q
		}
	}
	return x, true
}

// secondBackup: local column is the first backup, ratio first/second.
func secondBackup(r raw) (row, bool) {
	first, ok1 := r.med("backup1_s")
	second, ok2 := r.med("backup2_s")
	ratio, ok3 := r.ratio("backup1_s", "backup2_s")
	if !ok1 || !ok2 || !ok3 {
		return row{}, false
	}
	return row{Op: "second backup, 1% changed (local = first)", Unit: "s", Local: &first, Backupfs: second,
		Ratio: &ratio, Target: ">= 5 x faster", OK: ptr(ratio >= 5)}, true
}

// imageBackup is informational: the issue sets no target for it.
func imageBackup(r raw) (row, bool) {
	b, ok1 := r.med("img_bytes")
	s, ok2 := r.med("backup_img_s")
	if !ok1 || !ok2 {
		return row{}, false
	}
	x := row{Op: "first backup of the image over TLS", Unit: "MB/s", Backupfs: b / s / 1e6, Target: "-"}
	if l, ok := r.med("seq_img_local_s"); ok {
		x.Local = ptr(b / l / 1e6)
		if q, ok := r.ratio("seq_img_local_s", "backup_img_s"); ok {
			x.Ratio = &q
		}
	}
	return x, true
}
