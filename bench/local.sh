#!/usr/bin/env bash
# Local backup/restore throughput against cp -a and cat of the same data,
# measured in the same run from a cold page cache (needs root to drop it).
# Usage: bench/local.sh [IMAGE_SIZE_BYTES]   (not part of CI)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-$((1 << 30))}
work=$(mktemp -d /var/tmp/backupfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/backupfs" ./cmd/backupfs
go run ./bench/gendata -size "$size" -text "$(go env GOROOT)/src" "$work/disk.img"
tree="$work/tree"
cp -a "$(go env GOROOT)/src" "$tree"
bytes_tree=$(du -sb --apparent-size "$tree" | cut -f1)

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { local t0 t1; cold; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk "BEGIN{print $t1 - $t0}"; }
row() { # name bytes baseline_s backupfs_s
	printf '%-28s %9.2f s %9.2f s %8.1f MB/s %7.2fx\n' "$1" "$3" "$4" "$(awk "BEGIN{print $2 / $4 / 1e6}")" "$(awk "BEGIN{print $4 / $3}")"
}
ds="$work/ds"
b="$work/backupfs"
"$b" init --datastore "$ds" >/dev/null
printf '%-28s %11s %11s %13s %8s\n' operation baseline backupfs "backupfs rate" ratio

t_cat=$(secs cat "$work/disk.img")
t_img=$(secs "$b" backup --datastore "$ds" --time 2026-01-01T00:00:00Z /vm/1 disk.img:"$work/disk.img")
row "image backup vs cat" "$size" "$t_cat" "$t_img"

t_cp=$(secs cp -a "$tree" "$work/copy1")
t_tree=$(secs "$b" backup --datastore "$ds" --time 2026-01-01T00:00:00Z /host/1 src.tree:"$tree")
row "tree backup vs cp -a" "$bytes_tree" "$t_cp" "$t_tree"

t_tree2=$(secs "$b" backup --datastore "$ds" --time 2026-01-01T01:00:00Z /host/1 src.tree:"$tree")
row "unchanged 2nd tree backup" "$bytes_tree" "$t_tree" "$t_tree2"

t_rimg=$(secs "$b" restore --datastore "$ds" /vm/1/latest/disk.img "$work/restored.img")
t_cpimg=$(secs cp "$work/disk.img" "$work/copy.img")
row "image restore vs cp" "$size" "$t_cpimg" "$t_rimg"

t_rtree=$(secs "$b" restore --datastore "$ds" /host/1/latest/src.tree "$work/restored")
t_cp2=$(secs cp -a "$tree" "$work/copy2")
row "tree restore vs cp -a" "$bytes_tree" "$t_cp2" "$t_rtree"
cmp "$work/disk.img" "$work/restored.img"
diff -r "$tree" "$work/restored"
echo "datastore: $(du -sh "$ds" | cut -f1) for $(du -sh --apparent-size "$tree" | cut -f1) tree + $(du -sh --apparent-size "$work/disk.img" | cut -f1) image"
