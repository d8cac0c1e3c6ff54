# bench/lib/setup.sh, sourced by bench/run: the data sets, the server and
# the backups. Uses bench/run's helpers and variables ($work, $b, $raw, ...).

# ---- data sets (cached across runs, keyed by $version) ----------------------
version=v3 # bump when the data sets change (v3: issue 13's shape)
data=/var/tmp/backupfs-bench-data/$version

# fix_times IMG: mke2fs -d copies each file's atime and ctime from the staging
# tree (ctime cannot be set there); set both to a fixed time on every inode in
# use, so the image has the same bytes every time it is made.
fix_times() {
	dumpe2fs "$1" 2>/dev/null | awk '
		/^Inodes per group:/ {ipg = $4}
		/^Group [0-9]+:/ {g = $2 + 0; split("", free)}
		/^  Free inodes:/ {
			sub(/^  Free inodes: */, "")
			n = split($0, parts, /, */)
			for (k = 1; k <= n; k++) {
				if (parts[k] == "") continue
				m = split(parts[k], r, "-")
				lo = r[1] + 0; hi = (m == 2 ? r[2] : r[1]) + 0
				for (x = lo; x <= hi; x++) free[x] = 1
			}
			for (ino = g * ipg + 1; ino <= (g + 1) * ipg; ino++)
				if (!(ino in free)) printf "sif <%d> atime 202601010000\nsif <%d> ctime 202601010000\n", ino, ino
		}' >"$1.debugfs"
	E2FSPROGS_FAKE_TIME=1767225600 debugfs -w -f "$1.debugfs" "$1" >/dev/null 2>&1 # its superblock write time too
	rm -f "$1.debugfs"
}

make_data() {
	if [ "$fresh" = 1 ]; then rm -rf "$data"; fi
	if [ -f "$data/COMPLETE" ]; then
		log "data sets cached in $data ($(cat "$data/COMPLETE"))"
		return
	fi
	log "making the data sets in $data (once; --fresh rebuilds)"
	rm -rf "$data" && mkdir -p "$data"
	# Issue 13's shape, one tree: real files nobody here wrote (the Go
	# toolchain and /usr/include, whole: ~25k entries, ~400 MiB) beside big
	# files (256 MiB random, 64 MiB base64 text, 32 MiB zeros) and links.
	"$work/gentree" copy -bytes $((2 << 30)) -out "$data/tree/real" "$(go env GOROOT)" /usr/include >&2
	"$work/gentree" big -out "$data/tree/big" >&2
	touch -d @1767225600 "$data/tree/real" "$data/tree/big" "$data/tree" # made here: fixed mtimes
	# The image: the whole tree (zeros become holes) in 1 GiB of ext4; fixed
	# UUID, hash seed and time so mke2fs writes the same bytes.
	cp -al "$data/tree" "$data/stage"
	E2FSPROGS_FAKE_TIME=1767225600 mke2fs -q -t ext4 -U 6b61636b-7570-4673-8062-656e63680001 \
		-E hash_seed=6b61636b-7570-4673-8062-656e63680002,root_owner=0:0 \
		-d "$data/stage" -F "$data/disk.img" 1G
	fix_times "$data/disk.img"
	rm -rf "$data/stage"
	local files bytes used
	files=$(find "$data/tree" | wc -l)
	bytes=$(find "$data/tree" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
	used=$(dumpe2fs -h "$data/disk.img" 2>/dev/null | awk -F: '/^Block count/ {n=$2} /^Free blocks/ {f=$2} /^Block size/ {s=$2} END {printf "%d", (n-f)*s/1048576}')
	echo "tree $files entries $((bytes >> 20)) MiB, image 1024 MiB ext4 with $used MiB used" >"$data/COMPLETE"
	log "$(cat "$data/COMPLETE")"
}

# ---- server and backups --------------------------------------------------------
# start_server: a new server over an empty datastore (the previous one, if
# any, stopped and deleted), so every first backup is a first backup.
start_server() {
	local ds=$work/ds
	stop_mount
	if [ -n "${spid:-}" ]; then stop_pid "$spid"; fi
	rm -rf "$ds"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$b" init --datastore "$ds" >/dev/null
	BACKUPFS_FINGERPRINT=$("$b" fingerprint --datastore "$ds")
	BACKUPFS_TOKEN=$("$b" token --datastore "$ds" create bench --allow 'read:*' --allow 'backup:*' 2>/dev/null | tail -1)
	export BACKUPFS_FINGERPRINT BACKUPFS_TOKEN
	"$b" serve --datastore "$ds" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
	spid=$!
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
		kill -0 "$spid" 2>/dev/null || die "server exited: $(cat "$work/serve.log")"
		sleep 0.02
	done
	die "server did not listen on 127.0.0.1:$port"
}

# run_backups backs the tree (/host/bench, data.tree) and the image
# (/vm/bench, disk.img) up in two groups, so each archive is timed alone and
# the second tree backup does not re-read the image.
run_backups() {
	tree=$work/tree
	rm -rf "$tree"
	cp -al "$data/tree" "$tree" # hardlinks: cheap, and gentree change replaces files
	local repo=127.0.0.1:$port
	rec_once tree_bytes "$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {print s}')"
	rec_once img_bytes "$(stat -c %s "$data/disk.img")"
	if want backup; then
		timed tree_read_local_s sh -c "tar -cf - -C '$tree' . | cat"
	fi
	log "first backup of the tree, cold"
	timed "$(bkey backup1_s)" "$b" backup --time 2026-01-01T00:00:00Z "$repo:/host/bench" data.tree:"$tree"
	if want seal; then seal_backup tree "$(bkey backup1_s)" /host/bench-sealed data.tree:"$tree"; fi
	log "backup of the image, cold"
	timed "$(bkey backup_img_s)" "$b" backup --time 2026-01-01T00:00:00Z "$repo:/vm/bench" disk.img:"$data/disk.img"
	if want seal; then seal_backup img "$(bkey backup_img_s)" /vm/bench-sealed disk.img:"$data/disk.img"; fi
	if want sync; then
		# Pull both groups into an empty datastore over the same loopback
		# (issue 15: as a ratio to backupfs restore of the same data).
		sync_ds=$work/sync-ds
		rm -rf "$sync_ds"
		"$b" init --datastore "$sync_ds" >/dev/null
		log "first sync of the tree and the image, cold"
		timed sync1_s "$b" sync --datastore "$sync_ds" --group host/bench --group vm/bench "$repo:/"
	fi
	if want backup || want sync; then
		changed=$("$work/gentree" change "$tree")
		log "second backup of the tree, cold"
		timed "$(bkey backup2_s)" "$b" backup --time 2026-01-01T01:00:00Z "$repo:/host/bench" data.tree:"$tree"
	fi
	if want sync; then
		log "second sync, after the 1% change, cold"
		timed sync2_s "$b" sync --datastore "$sync_ds" --group host/bench --group vm/bench "$repo:/"
	fi
	mtree=$mnt/host/bench/latest/data
	mimg=$mnt/vm/bench/latest/disk.img
}

