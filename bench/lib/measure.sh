# bench/lib/measure.sh, sourced by bench/run: the mount (cold restarts,
# perf) and the measurements, each local then through the mount.

# ---- the mount -------------------------------------------------------------------
# start_mount: cold page cache, a fresh mount process (its cache empty).
start_mount() {
	stop_mount
	cold
	local what=${FUNCNAME[1]}${1:+-$1}
	echo "=== bench/run: $what $mount_opts" >>"$work/mount.log"
	# shellcheck disable=SC2086 # mount_opts is split on purpose
	"$b" mount $mount_opts "127.0.0.1:$port:/" "$mnt" 2>>"$work/mount.log" &
	mpid=$!
	for _ in $(seq 500); do
		if mountpoint -q "$mnt"; then
			start_perf "$what"
			return
		fi
		kill -0 "$mpid" 2>/dev/null || die "mount exited: $(tail -5 "$work/mount.log")"
		sleep 0.01
	done
	die "mount did not come up"
}

# start_perf NAME: with --profile, sample the mount and the server (999 Hz,
# call graphs) until stop_mount, into perf-NAME-RUN.data; stop_perf writes
# the flat profiles (dso, symbol over 0.5%) of each next to it as .txt.
start_perf() {
	[ "$profile" = 1 ] || return 0
	perf record -F 999 -g -p "$mpid,$spid" -o "$work/perf-$1-$i.data" >/dev/null 2>&1 &
	perfpid=$!
	perfname=$work/perf-$1-$i
	sleep 0.2 # perf attaches
}

stop_perf() {
	[ -n "${perfpid:-}" ] || return 0
	kill -INT "$perfpid" 2>/dev/null || true
	wait "$perfpid" 2>/dev/null || true
	local who pid
	for who in mount:$mpid server:$spid; do
		pid=${who#*:}
		echo "== ${who%:*} (pid $pid); % of all samples of both processes" >>"$perfname.txt"
		perf report -i "$perfname.data" --pid "$pid" --stdio --no-children -g none --sort dso,symbol \
			--percent-limit 0.5 2>/dev/null | grep -v -e '^#' -e '^$' | cut -c1-120 >>"$perfname.txt" || true
	done
	perfpid=""
}

stop_mount() {
	stop_perf
	[ -n "${mpid:-}" ] || return 0
	kill -USR1 "$mpid" 2>/dev/null && sleep 0.1 # cache stats into mount.log
	stop_pid "$mpid"
	mpid=""
	if mountpoint -q "$mnt"; then umount -l "$mnt"; fi
}

# stop_pid PID: SIGTERM, and SIGKILL if it is still there after 5 s (a
# mount being tuned may hang on exit; the run must not).
stop_pid() {
	kill "$1" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null && log "pid $1 did not stop on SIGTERM: killed"
	wait "$1" 2>/dev/null || true
}

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$mpid/status"; }

# ---- the FUSE floor -------------------------------------------------------------
# start_floor DIR: cold page cache, and DIR mounted at $floor through go-fuse's
# loopback file system with backupfs's mount parameters (bench/fusefloor).
# The same operation through it and on DIR directly shows what FUSE itself
# costs on this machine: no network, cache, verification or decompression.
start_floor() { # DIR [-mem]
	stop_floor
	cold
	"$work/fusefloor" ${2:-} "$1" "$floor" 2>>"$work/floor.log" &
	fpid=$!
	for _ in $(seq 500); do
		if mountpoint -q "$floor"; then return; fi
		kill -0 "$fpid" 2>/dev/null || die "fusefloor exited: $(tail -5 "$work/floor.log")"
		sleep 0.01
	done
	die "fusefloor did not come up"
}

stop_floor() {
	[ -n "${fpid:-}" ] || return 0
	stop_pid "$fpid"
	fpid=""
	if mountpoint -q "$floor"; then umount -l "$floor"; fi
}

# ---- measurements ----------------------------------------------------------------
measure_seq() { # KEY LOCAL MOUNTED "GROUP ARCHIVE [PATH]" [RSS_KEY]
	log "$1: dd bs=1M, local, FUSE floor, pipeline floor, mount"
	rec_once "${1}_bytes" "$(stat -c %s "$2")"
	timed "${1}_local_s" dd if="$2" of=/dev/null bs=1M
	start_floor "$(dirname "$2")"
	timed "${1}_floor_s" dd if="$floor/$(basename "$2")" of=/dev/null bs=1M
	stop_floor
	# shellcheck disable=SC2086 # $4 is split into arguments on purpose
	measure_pipefloor "$1" $4
	start_mount "$1"
	timed "${1}_mount_s" dd if="$3" of=/dev/null bs=1M
	if [ -n "${5:-}" ]; then rec "$5" "$(hwm)"; fi
}

# measure_pipefloor KEY GROUP ARCHIVE [PATH]: the same bytes' chunks read
# cold from the datastore, sent over TLS and verified in one process, with
# no protocol, cache or FUSE (bench/pipefloor): the least a cold read
# through any mount of this datastore costs here. Then, cold again, only
# the reading of the blob files: the datastore's share of it.
measure_pipefloor() {
	local key=$1 out
	shift
	cold
	out=$("$work/pipefloor" "$work/ds" "$@" 2>>"$work/cmd.log") || die "$key: pipefloor failed (see $work/cmd.log)"
	[[ $out =~ wall_s=([0-9.]+)\ cpu_s=([0-9.]+) ]] || die "$key: pipefloor said: $out"
	rec "${key}_pipe_s" "${BASH_REMATCH[1]}"
	rec "${key}_pipe_cpu_s" "${BASH_REMATCH[2]}"
	cold
	out=$("$work/pipefloor" -read-only "$work/ds" "$@" 2>>"$work/cmd.log") || die "$key: pipefloor -read-only failed (see $work/cmd.log)"
	[[ $out =~ wall_s=([0-9.]+) ]] || die "$key: pipefloor -read-only said: $out"
	rec "${key}_blobs_s" "${BASH_REMATCH[1]}"
}

# measure_cp: the whole tree copied to the tmpfs at $out, cold each time:
# local cp -a (then again warm), cp -a through the FUSE floor, backupfs
# restore over the same server with no mount, cp -a out of the mount (then
# again warm, in the same mount). Once per invocation
# the restored and the copied trees are compared with the source.
measure_cp() {
	log "cp -a of the tree: local, FUSE floor, backupfs restore, mount"
	timed cp_local_s cp -a "$tree" "$out/copy-local"
	rm -rf "$out/copy-local"
	warm cp_local_warm_s cp -a "$tree" "$out/copy-local"
	rm -rf "$out/copy-local"
	start_floor "$tree"
	timed cp_floor_s cp -a "$floor" "$out/copy-floor"
	stop_floor
	rm -rf "$out/copy-floor"
	stop_mount # the restore runs alone, as a user runs it
	timed restore_tree_s "$b" restore "127.0.0.1:$port:/host/bench/latest/data.tree" "$out/copy-restore"
	check_tree restore "$out/copy-restore"
	start_mount
	timed cp_mount_s cp -a "$mtree" "$out/copy-mount"
	rec rss_cp_kib "$(hwm)"
	check_tree cp "$out/copy-mount"
	rm -rf "$out/copy-restore" "$out/copy-mount"
	# The same copy again in the same mount, warm: the kernel keeps the
	# pages, entries and attributes, so no READ, LOOKUP or fetch comes,
	# only what every copy through FUSE costs (xattr requests, cp's own
	# work): a floor for any cold copy out of a FUSE mount.
	warm cp_mount_warm_s cp -a "$mtree" "$out/copy-mount"
	rm -rf "$out/copy-mount"
	if [ "$i" = 1 ]; then count_cp_requests; fi
}

# check_tree KEY DIR [SOURCE]: once per invocation, DIR must equal SOURCE
# (default the tree as last backed up; diff -r, symlinks not followed);
# records KEY_equal 1 or 0 and a note.
check_tree() {
	local flag=checked_$1
	[ -z "${!flag:-}" ] || return 0
	printf -v "$flag" 1
	if diff -r --no-dereference "${3:-$tree}" "$2" >"$work/diff-$1.log" 2>&1; then
		rec "${1}_equal" 1
	else
		rec "${1}_equal" 0
		echo "note $1 of the tree DIFFERS from the source: $(head -3 "$work/diff-$1.log" | tr '\n' ' ')" >>"$raw"
	fi
}

# count_cp_requests: one more cp -a out of a fresh mount, cold, with
# --debug (untimed: logging every request slows it), and the FUSE requests
# it received counted by type from go-fuse's "rx N: OPCODE" lines, as
# cpreq_OPCODE keys and one note.
count_cp_requests() {
	log "cp -a out of the mount with --debug: FUSE requests by type (untimed)"
	local saved=$mount_opts counts total
	mount_opts="--debug $mount_opts"
	start_mount requests
	mount_opts=$saved
	cp -a "$mtree" "$out/copy-debug"
	stop_mount
	rm -rf "$out/copy-debug"
	sed -n '/^=== bench\/run: count_cp_requests-requests/,$p' "$work/mount.log" |
		grep -oE 'rx [0-9]+: [A-Z_]+' | awk '{print $3}' | sort | uniq -c | sort -rn >"$work/cp-requests.txt"
	total=$(awk '{s += $1} END {print s + 0}' "$work/cp-requests.txt")
	rec cpreq_total "$total"
	counts=$(awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1}' "$work/cp-requests.txt")
	awk '{print "cpreq_" $2, $1}' "$work/cp-requests.txt" >>"$raw"
	echo "note FUSE requests of one cold cp -a out of the mount (--debug, untimed): $total: $counts" >>"$raw"
	if [ "$keep" = 0 ]; then # the request log is large
		sed -i '/^=== bench\/run: count_cp_requests-requests/,/^=== bench\/run:/{/^=== bench\/run:/!d}' "$work/mount.log"
	fi
}

# measure_restore_img: the image restored over the server (no mount) to
# the tmpfs at $out, against a cold local cp of the image there; the
# restored image is compared with the original once.
measure_restore_img() {
	log "backupfs restore of the image, local cp"
	stop_mount
	timed restore_img_local_s cp "$data/disk.img" "$out/disk-local.img"
	rm -f "$out/disk-local.img"
	timed restore_img_s "$b" restore "127.0.0.1:$port:/vm/bench/latest/disk.img" "$out/disk.img"
	if [ -z "${checked_img:-}" ]; then
		checked_img=1
		if cmp -s "$data/disk.img" "$out/disk.img"; then rec restore_img_equal 1; else
			rec restore_img_equal 0
			echo "note backupfs restore of the image DIFFERS from the original" >>"$raw"
		fi
	fi
	rm -f "$out/disk.img"
}

measure_find() {
	log "find | wc -l of the tree, local, FUSE floors (loopback, in memory), mount"
	local t0 nl nm
	cold
	t0=$(now)
	nl=$(find "$tree" | wc -l)
	rec find_local_s "$(since "$t0")"
	start_floor "$tree"
	t0=$(now)
	find "$floor" | wc -l >/dev/null
	rec find_floor_s "$(since "$t0")"
	start_floor "$tree" -mem # builds the tree in memory before it mounts
	cold
	t0=$(now)
	find "$floor" | wc -l >/dev/null
	rec find_memfloor_s "$(since "$t0")"
	stop_floor
	start_mount
	t0=$(now)
	nm=$(find "$mtree" | wc -l)
	rec find_mount_s "$(since "$t0")"
	if [ "$nl" = "$nm" ]; then rec find_equal 1; else
		rec find_equal 0
		echo "note find counts differ: local $nl, mount $nm" >>"$raw"
	fi
}

measure_fio() { # JOBS
	log "fio randread 4k, $1 job(s), ${fio_runtime}s, local then mount"
	local args=(--readonly --rw=randread --bs=4k --ioengine=psync --iodepth=1 --direct=0 --invalidate=1
		--runtime="$fio_runtime" --time_based --numjobs="$1" --group_reporting --output-format=json)
	cold
	fio --name=local "${args[@]}" --filename="$data/disk.img" >"$work/fio$1-local.json" 2>>"$work/cmd.log" ||
		die "fio failed (see $work/cmd.log)"
	start_mount "$1"
	fio --name=mount "${args[@]}" --filename="$mimg" >"$work/fio$1-mount.json" 2>>"$work/cmd.log" ||
		die "fio on the mount failed (see $work/cmd.log)"
	local where iops p50 p99 out
	for where in local mount; do
		read -r iops p50 p99 < <("$work/report" fio "$work/fio$1-$where.json") || die "fio $1 $where: no result"
		rec "fio$1_${where}_iops" "$iops"
		rec "fio$1_${where}_p50" "$p50"
		rec "fio$1_${where}_p99" "$p99"
	done
	if [ "$1" = 1 ]; then
		# The same random reads over the protocol with no mount (cold, one
		# chunk at a time, DEMAND; bench/fetchfloor): what each of fio's
		# cache misses costs before FUSE adds its round trip.
		stop_mount
		cold
		out=$("$work/fetchfloor" -n 3000 "127.0.0.1:$port" vm/bench disk.img 2>>"$work/cmd.log") || die "fetchfloor failed (see $work/cmd.log)"
		[[ $out =~ p50_ms=([0-9.]+)\ p99_ms=([0-9.]+) ]] || die "fetchfloor said: $out"
		rec fetch_p50_ms "${BASH_REMATCH[1]}"
		rec fetch_p99_ms "${BASH_REMATCH[2]}"
	fi
}

# measure_ls: from starting the mount process to the first ls that lists
# "host", polled in a tight loop; 5 cold starts, the table takes the median.
measure_ls() {
	log "mount to first ls, 5 cold starts"
	local i res
	for i in 1 2 3 4 5; do
		stop_mount
		cold
		echo "=== bench/run: measure_ls $mount_opts" >>"$work/mount.log"
		# The listing is polled inside one process (bench/lib/firstls.py):
		# a shell loop starting ls and grep each turn timed their start-up
		# from a cold page cache too. It prints the mount's pid and the ms.
		# shellcheck disable=SC2086
		res=$(python3 "$src/bench/lib/firstls.py" host "$mnt" "$work/mount.log" \
			"$b" mount $mount_opts "127.0.0.1:$port:/" "$mnt") || die "first ls: $res"
		mpid=${res%% *}
		rec ls_ms "${res#* }"
	done
}

# measure_rtt: what one request costs. A FUSE request is a round trip
# between processes; when the machine is otherwise idle, each wake-up of a
# process on another CPU is slow on a VM whose idle vCPUs halt. Measured
# with nothing else running and nothing mounted: a pipe between two
# processes as scheduled, the same pinned to one CPU; then listxattr on a
# mounted file (a request to the daemon each time, with the mount's
# latency hint held as it is while requests flow).
measure_rtt() {
	log "round trips: pipe between processes, pinned to one CPU, FUSE listxattr"
	local f
	stop_mount # no mount, so no latency request held (backupfs mount's latency hint)
	rec rtt_pipe_us "$(python3 "$src/bench/lib/rtt.py" pipe 20000)"
	rec rtt_pipe_one_cpu_us "$(taskset -c 0 python3 "$src/bench/lib/rtt.py" pipe 20000)"
	start_mount
	f=$(find "$mtree" -type f -name '*.go' -print -quit)
	[ -n "$f" ] || die "no .go file in the mounted tree"
	rec rtt_fuse_us "$(python3 "$src/bench/lib/rtt.py" xattr "$f" 20000)"
}
