# bench/lib/seal.sh, sourced by bench/run: sealed backups against plain
# ones (--only seal, issue 20). The same tree and image backed up sealed
# into groups of their own on the same server, then read out of the mount
# with the key, each figure beside the plain one of the same run. Uses
# bench/run's helpers and variables ($work, $b, $raw, $i, ...).

# make_key: a key file in the work directory, made once per invocation
# with the cheapest KDF (--kdf-time 1 --kdf-memory 1MiB), so the figures
# are sealing's (keyed ids, XChaCha20-Poly1305), not the passphrase's: a
# key made with the defaults adds its KDF (~0.5 s) once to every command.
make_key() {
	seal_keyfile=$work/bench.key
	[ -f "$seal_keyfile" ] && return
	export BACKUPFS_PASSWORD=bench # read only by commands given --keyfile
	"$b" key --kdf-time 1 --kdf-memory 1MiB create "$seal_keyfile" >/dev/null 2>>"$work/cmd.log" ||
		die "backupfs key create failed (see $work/cmd.log)"
}

# seal_mark: the CPU seconds so far of bench/run's waited-for children
# (a backup client) and of the server (/proc/PID/stat fields 16+17 and
# 14+15). With --only seal, timed calls it after dropping the caches, so
# seal_cpu after it counts the timed command alone.
seal_mark() {
	seal_cpu0=("$(proc_cpu $$ 16 17)" "$(proc_cpu "$spid" 14 15)")
}

proc_cpu() { # PID FIELD FIELD
	awk -v t="$(getconf CLK_TCK)" -v a="$2" -v b="$3" '{printf "%.2f", ($a + $b) / t}' "/proc/$1/stat"
}

# seal_cpu KEY: the client's and the server's CPU seconds since seal_mark,
# as KEY_client_cpu_s and KEY_server_cpu_s; marks again.
seal_cpu() {
	local c s
	if [ -z "${seal_cpu0[*]:-}" ]; then # never marked: nothing to count from
		seal_mark
		return
	fi
	c=$(proc_cpu $$ 16 17) s=$(proc_cpu "$spid" 14 15)
	rec "${1}_client_cpu_s" "$(awk -v a="$c" -v b="${seal_cpu0[0]}" 'BEGIN {printf "%.2f", a - b}')"
	rec "${1}_server_cpu_s" "$(awk -v a="$s" -v b="${seal_cpu0[1]}" 'BEGIN {printf "%.2f", a - b}')"
	seal_mark
}

# seal_backup WHAT PLAINKEY GROUP ARCHIVE:SOURCE: the source just backed up
# plain (its seconds recorded under PLAINKEY) backed up again, cold, sealed
# into GROUP on the same server. Keyed ids share no chunk with the plain
# backup, so it uploads every chunk: a first backup too. Records the pair as seal_backup_WHAT_plain_s and
# seal_backup_WHAT_s, and each one's client and server CPU seconds.
seal_backup() {
	local what=$1 plain=$2 group=$3 source=$4
	seal_cpu "seal_backup_${what}_plain"
	rec "seal_backup_${what}_plain_s" "$(awk -v k="$plain" '$1 == k {v = $2} END {print v}' "$raw")"
	make_key
	log "sealed backup into $group, cold"
	timed "seal_backup_${what}_s" "$b" backup --keyfile "$seal_keyfile" --time 2026-01-01T00:00:00Z \
		"127.0.0.1:$port:$group" "$source"
	seal_cpu "seal_backup_${what}"
}

# measure_seal: cp -a of the tree and dd bs=1M of the image out of the
# mount, plain and sealed, each pair back to back, cold, each in a fresh
# mount: the plain one without a key, as a user mounts a plain backup, the
# sealed one with --keyfile. Both copy the tree as first backed up (the
# plain side its first snapshot, not the 1%-changed latest). The order in
# each pair alternates with the run (odd runs: plain first). The mount
# process's CPU seconds (a fresh mount: its start, then the operation) are
# recorded beside each figure. Once per
# invocation the sealed copy is compared with the source (diff -r) and the
# sealed image with the original (cmp).
measure_seal() {
	log "sealed against plain: cp -a of the tree, dd of the image, out of the mount"
	local order=(plain sealed) side
	if [ $((i % 2)) = 0 ]; then order=(sealed plain); fi
	for side in "${order[@]}"; do seal_cp "$side"; done
	for side in "${order[@]}"; do seal_dd "$side"; done
	stop_mount
}

# seal_mount SIDE WHAT: a fresh mount, cold; given the key for "sealed"
# (with --profile, perf-seal_mount-WHAT-SIDE-RUN.data).
seal_mount() {
	if [ "$1" = plain ]; then
		start_mount "$2-plain"
		return
	fi
	local saved=$mount_opts
	mount_opts="--keyfile $seal_keyfile $mount_opts"
	start_mount "$2-sealed"
	mount_opts=$saved
}

seal_cp() { # SIDE
	local k=seal_cp_s dir=$mnt/host/bench-sealed/latest/data
	if [ "$1" = plain ]; then k=seal_cp_plain_s dir=$mnt/host/bench/2026-01-01T00:00:00Z/data; fi
	seal_mount "$1" cp
	timed "$k" cp -a "$dir" "$out/copy-seal"
	rec "${k%_s}_mount_cpu_s" "$(proc_cpu "$mpid" 14 15)"
	if [ "$1" = sealed ]; then check_tree seal_cp "$out/copy-seal" "$data/tree"; fi
	rm -rf "$out/copy-seal"
}

seal_dd() { # SIDE
	local k=seal_img_s img=$mnt/vm/bench-sealed/latest/disk.img
	if [ "$1" = plain ]; then k=seal_img_plain_s img=$mimg; fi
	seal_mount "$1" dd
	timed "$k" dd if="$img" of=/dev/null bs=1M
	rec "${k%_s}_mount_cpu_s" "$(proc_cpu "$mpid" 14 15)"
	if [ "$1" = sealed ] && [ -z "${checked_seal_img:-}" ]; then
		checked_seal_img=1
		if cmp -s "$data/disk.img" "$img"; then rec seal_img_equal 1; else
			rec seal_img_equal 0
			echo "note the sealed image in the mount DIFFERS from the original" >>"$raw"
		fi
	fi
}
