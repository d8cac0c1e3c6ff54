#!/usr/bin/env bash
# Reads through a backupfs mount against the same reads of the original
# files on local disk, in one run, each from cold: the page cache dropped
# and the mount restarted (its own cache empty). Needs root (drop_caches,
# direct FUSE mount). Usage: bench/mount.sh [IMAGE_SIZE_BYTES] (not in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-$((1 << 30))}
work=$(mktemp -d /var/tmp/backupfs-mbench.XXXXXX)
b="$work/backupfs"
cleanup() {
	[ -n "${mpid:-}" ] && kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null || true
	[ -n "${spid:-}" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
	umount -l "$work/mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$b" ./cmd/backupfs
go run ./bench/gendata -size "$size" -text "$(go env GOROOT)/src" "$work/disk.img"
cp -a "$(go env GOROOT)/src" "$work/tree"
ds="$work/ds"
export BACKUPFS_FINGERPRINT=$("$b" fingerprint --datastore "$ds")
export BACKUPFS_TOKEN=$("$b" token --datastore "$ds" create bench --allow 'read:*' --allow 'backup:*' 2>/dev/null | tail -1)
"$b" serve --datastore "$ds" --listen 127.0.0.1:17464 2>"$work/serve.log" & spid=$!
sleep 0.5
repo=127.0.0.1:17464:/vm/1
"$b" backup "$repo" disk.img:"$work/disk.img" src.tree:"$work/tree" >/dev/null
mkdir "$work/mnt"

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk "BEGIN{print $t1 - $t0}"; }
remount() {
	[ -n "${mpid:-}" ] && { kill "$mpid"; wait "$mpid" || true; }
	cold
	"$b" mount "$@" "$repo/latest" "$work/mnt" 2>>"$work/mount.log" & mpid=$!
	for _ in $(seq 100); do mountpoint -q "$work/mnt" && return; sleep 0.05; done
	echo "mount did not come up" >&2; exit 1
}
row() { printf '%-34s %9.2f s %9.2f s %8.2fx\n' "$1" "$2" "$3" "$(awk "BEGIN{print $3 / $2}")"; }
printf '%-34s %11s %11s %9s\n' operation local backupfs ratio

cold; t_dd=$(secs dd if="$work/disk.img" of=/dev/null bs=1M)
remount; t_mdd=$(secs dd if="$work/mnt/disk.img" of=/dev/null bs=1M)
row "dd bs=1M of the image (cold)" "$t_dd" "$t_mdd"
echo "  -> $(awk "BEGIN{printf \"%.0f MB/s local, %.0f MB/s through the mount\", $size/$t_dd/1e6, $size/$t_mdd/1e6}")"

cold; t_cp=$(secs cp -a "$work/tree" "$work/copy1")
remount; t_mcp=$(secs cp -a "$work/mnt/src" "$work/copy2")
row "cp -a of GOROOT/src (cold)" "$t_cp" "$t_mcp"

cold; t_find=$(secs find "$work/tree")
remount; t_mfind=$(secs find "$work/mnt/src")
row "find of GOROOT/src (cold)" "$t_find" "$t_mfind"

remount --readahead 0; t_mdd0=$(secs dd if="$work/mnt/disk.img" of=/dev/null bs=1M)
row "dd through the mount, readahead 0" "$t_mdd" "$t_mdd0"
remount --fuse-background 12; t_mdd12=$(secs dd if="$work/mnt/disk.img" of=/dev/null bs=1M)
row "dd through the mount, background 12" "$t_mdd" "$t_mdd12"
remount --fuse-background 12; t_mcp12=$(secs cp -a "$work/mnt/src" "$work/copy3")
row "cp -a through the mount, bg 12" "$t_mcp" "$t_mcp12"
diff -r "$work/tree" "$work/copy2" >/dev/null && echo "cp -a from the mount equals the source"
grep -E "VmHWM" /proc/$mpid/status || true
