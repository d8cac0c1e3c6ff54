#!/usr/bin/env bash
# bench/s3.sh: issue 14's benchmark. The same server operations on the
# directory datastore and on the object store (versitygw, POSIX backend in
# the same work directory, on loopback), in one run: a network backup of
# GOROOT/src and an ext4 image of it, then from cold (server restarted,
# page cache dropped) cp -a of the tree out of the mount and dd of the
# image through it. Prints MB/s for both, the object store's ratio (target
# >= 0.7) and its requests per GiB read and per second of backup (from the
# "object store requests" line serve logs at shutdown). Needs root (FUSE,
# drop_caches), mke2fs and versitygw (PATH or $GOPATH/bin). Not part of CI.
# versitygw runs with --keep-alive; VGW_KEEPALIVE= (empty) runs it without
# (a connection per request: conns= in the request counts shows it).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /var/tmp/backupfs-s3bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	umount -l "$work/mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
[ -n "${VGW_ROOT:-}" ] && trap 'cleanup; rm -rf "$VGW_ROOT"' EXIT
log() { echo "bench/s3: $*" >&2; }
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", (b - a) / 1e9}'; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }

b=$work/backupfs
go build -o "$b" ./cmd/backupfs
vgw=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
[ -x "$vgw" ] || { log "versitygw missing: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"; exit 1; }
tree=$(go env GOROOT)/src
img=$work/disk.img
mke2fs -q -F -t ext4 -d "$tree" "$img" 512M
tree_bytes=$(du -sb --apparent-size "$tree" | cut -f1)
img_bytes=$(stat -c %s "$img")

# versitygw on a free port, credentials for this run only.
port=$((20000 + RANDOM % 20000))
export AWS_ACCESS_KEY_ID=bench$RANDOM AWS_SECRET_ACCESS_KEY=secret$RANDOM$RANDOM
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1 BACKUPFS_STATE_DIR=$work/state
vroot=${VGW_ROOT:-$work/vgw} # e.g. VGW_ROOT=/dev/shm/vgw: the store's disk out of the picture
mkdir -p "$vroot" "$work/state"
# --keep-alive as a deployment runs it: without it versitygw closes every
# connection after one answer (a new TCP connection per request).
"$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$port" ${VGW_KEEPALIVE---keep-alive} --quiet posix "$vroot" >"$work/vgw.log" 2>&1 &
vpid=$!
pids+=($vpid)
# vcpu: CPU seconds versitygw used so far (it shares this machine's cores).
vcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$vpid/stat"; }
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# serve DS: starts the server, sets $addr and $spid.
serve() {
	: >"$work/serve.log"
	"$b" serve --datastore "$1" --listen 127.0.0.1:0 2>"$work/serve.log" &
	spid=$!
	for _ in $(seq 200); do
		addr=$(grep -o 'listen=127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2) && [ -n "$addr" ] && return
		sleep 0.05
	done
	log "serve did not start:"; cat "$work/serve.log" >&2; exit 1
}
# unserve: stops the server; prints its object store request counts.
unserve() {
	kill -TERM "$spid"; wait "$spid" || true
	{ grep -o 'requests="[^"]*"' "$work/serve.log" || true; } | tail -1 | tr -d '"' | sed 's/^requests=//'
}
total() { tr ' ' '\n' | awk -F= '$1 != "conns" {s += $2} END {print s + 0}'; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

# One round per backend and repeat (REPEAT, default 3), alternating, each
# to an empty datastore; the table shows medians (the machine is shared).
declare -A R
med() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; } # NF: the lists start with a space
for i in $(seq "${REPEAT:-3}"); do for be in dir s3; do
	ds=$work/ds-dir$i
	[ $be = s3 ] && ds=s3://bench/ds$i
	"$b" init --datastore "$ds" >/dev/null
	serve "$ds"
	export BACKUPFS_FINGERPRINT=$("$b" fingerprint --datastore "$ds")
	export BACKUPFS_TOKEN=$("$b" token --datastore "$ds" create "bench$i" --allow 'read:*' --allow 'backup:*' | tail -1)
	cold; t0=$(now) c0=$(vcpu)
	"$b" backup "$addr:/vm/1" "src.tree:$tree" "disk.img:$img" >&2
	R[$be.backup]+=" $(secs "$t0")"
	R[$be.backup_vcpu]=$(awk -v a="$c0" -v b="$(vcpu)" 'BEGIN {printf "%.2f", b - a}')
	R[$be.backup_req]=$(unserve)
	serve "$ds"
	mkdir -p "$work/mnt"
	"$b" mount "$addr:/vm/1" "$work/mnt" 2>"$work/mount.log" &
	mpid=$!
	for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
	cold; t0=$(now)
	cp -a "$work/mnt/latest/src" "$work/cp-$be"
	R[$be.cp]+=" $(secs "$t0")"
	cold; t0=$(now)
	dd if="$work/mnt/latest/disk.img" of=/dev/null bs=1M status=none
	R[$be.dd]+=" $(secs "$t0")"
	diff -r "$tree" "$work/cp-$be" >/dev/null || { log "$be: cp -a out of the mount differs from the source"; exit 1; }
	rm -rf "$work/cp-$be"
	kill -TERM "$mpid"; wait "$mpid" || true
	R[$be.read_req]=$(unserve)
	log "round $i, $be: backup/cp -a/dd seconds so far:${R[$be.backup]} /${R[$be.cp]} /${R[$be.dd]}"
done; done
for k in dir.backup dir.cp dir.dd s3.backup s3.cp s3.dd; do R[$k]=$(echo "${R[$k]}" | med); done

mbs() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.1f", n / s / 1e6}'; }
printf '%-32s %10s %10s %8s %s\n' operation dir s3 ratio "target >= 0.7"
for op in backup cp dd; do
	case $op in backup) n=$((tree_bytes + img_bytes)) ;; cp) n=$tree_bytes ;; dd) n=$img_bytes ;; esac
	d=$(mbs "$n" "${R[dir.$op]}") s=$(mbs "$n" "${R[s3.$op]}")
	r=$(awk -v a="$s" -v b="$d" 'BEGIN {printf "%.2f", a / b}')
	ok=$(awk -v r="$r" 'BEGIN {print (r >= 0.7 ? "ok" : "MISSED")}')
	printf '%-32s %10s %10s %8s %s\n' "$op MB/s" "$d" "$s" "$r" "$ok"
done
read_gib=$(awk -v n="$((tree_bytes + img_bytes))" 'BEGIN {print n / 2^30}')
echo "object store, backup: ${R[s3.backup_req]}; versitygw used ${R[s3.backup_vcpu]} CPU s of the backup's ${R[s3.backup]} s ($(awk -v n="$(echo "${R[s3.backup_req]}" | total)" -v s="${R[s3.backup]}" 'BEGIN {printf "%.0f", n / s}') requests/s)"
echo "object store, reads:  ${R[s3.read_req]} ($(awk -v n="$(echo "${R[s3.read_req]}" | field get)" -v g="$read_gib" 'BEGIN {printf "%.0f", n / g}') GETs per GiB read)"
