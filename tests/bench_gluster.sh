#!/bin/sh
# What a vault on GlusterFS costs (make bench-gluster): on a one-brick
# volume of this machine (tests/glusterlib.sh; taken down at the end),
# against the plain local disk in the same run, in -r alternating rounds
# (median of each):
#
#   seq     256 MiB written and fsynced (MB/s)
#   files   2,000 files of 4 KiB made (files/s)
#   fsync   500 appends of 4 KiB, each fsynced (p50 and p99 latency)
#   cp -r   a copy of this source tree (s)
#
# on: the local disk, revfs on the local disk, Gluster alone, revfs on
# Gluster (default settings). Then the time a failover takes, from the
# unmount through one client to mounted through the other, with the
# default settings and with the strict ones (-o settle_ms=0).
#
#   tests/bench_gluster.sh [-r ROUNDS]
set -u
ROUNDS=3
while getopts r: o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-r ROUNDS]" >&2; exit 2 ;;
	esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "bench_gluster: needs root" >&2; exit 1; }
. "$ROOT/tests/glusterlib.sh"
fs_setup
gl_start
FSIO=$FS_TMP/bench_fsio
cc -std=c11 -D_GNU_SOURCE -O2 -o "$FSIO" "$ROOT/tests/bench_fsio.c" || fs_fail "bench_fsio"
kv() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'; }

LOCAL=$FS_TMP/local
mkdir -p "$LOCAL" "$FS_TMP/revfs-local" "$G/c1/plain"
"$REVFS_BIN/mkfs.revfs" -q "$FS_TMP/revfs-local" || fs_fail "mkfs local"
"$REVFS_BIN/mkfs.revfs" -q "$G/c1/vault" || fs_fail "mkfs gluster"

# target NAME: the directory to work in (mounting revfs where needed)
start() {
	case $1 in
	disk) D=$LOCAL/w ;;
	gluster) D=$G/c1/plain/w ;;
	revfs-disk) FS_BACKING=$FS_TMP/revfs-local; fs_mount; D=$FS_MNT/w ;;
	revfs-gluster) FS_BACKING=$G/c1/vault; fs_mount; D=$FS_MNT/w ;;
	esac
	rm -rf "$D" && mkdir -p "$D"
}
stop() {
	rm -rf "$D"
	case $1 in revfs-*) fs_umount ;; esac
}

TARGETS="disk revfs-disk gluster revfs-gluster"
for r in $(seq 1 "$ROUNDS"); do
	for t in $TARGETS; do
		start "$t"
		"$FSIO" seqwrite "$D/seq" 268435456 1048576 >"$FS_TMP/o" || fs_fail "seq on $t"
		kv mbps "$FS_TMP/o" >>"$FS_TMP/$t.seq"
		mkdir "$D/files" && "$FSIO" files create "$D/files" 2000 20 4096 >"$FS_TMP/o" ||
			fs_fail "files on $t"
		kv fps "$FS_TMP/o" >>"$FS_TMP/$t.files"
		"$FSIO" append "$D/log" 500 4096 >"$FS_TMP/o" || fs_fail "fsync on $t"
		kv p50_us "$FS_TMP/o" >>"$FS_TMP/$t.p50"
		kv p99_us "$FS_TMP/o" >>"$FS_TMP/$t.p99"
		t0=$(date +%s.%N)
		cp -r "$ROOT/store" "$ROOT/ns" "$ROOT/fs" "$ROOT/fsck" "$ROOT/tests" "$ROOT/docs" \
			"$D/" && sync || fs_fail "cp -r on $t"
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$FS_TMP/$t.cp"
		stop "$t"
	done
done

printf '%-14s %10s %10s %10s %10s %8s\n' target "seq MB/s" "files/s" "fsync p50" "fsync p99" "cp -r s"
for t in $TARGETS; do
	printf '%-14s %10s %10s %8sus %8sus %8s\n' "$t" "$(median <"$FS_TMP/$t.seq")" \
		"$(median <"$FS_TMP/$t.files")" "$(median <"$FS_TMP/$t.p50")" \
		"$(median <"$FS_TMP/$t.p99")" "$(median <"$FS_TMP/$t.cp")"
done

# Failovers: unmounted through client 1, mounted through client 2.
failover() { # failover OPTIONS: seconds from the unmount to mounted
	FS_BACKING=$G/c1/vault
	fs_mount ${1:+-o "$1"}
	echo x >>"$FS_MNT/f" && sync "$FS_MNT/f"
	t0=$(date +%s.%N)
	fs_umount
	FS_BACKING=$G/c2/vault
	fs_mount ${1:+-o "$1"}
	t1=$(date +%s.%N)
	fs_umount
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
for r in $(seq 1 "$ROUNDS"); do failover ""; done | median >"$FS_TMP/fo.default"
gl_strict
for r in $(seq 1 "$ROUNDS"); do failover settle_ms=0; done | median >"$FS_TMP/fo.strict"
echo "failover (unmount on one client to mounted on the other): default settings" \
	"$(cat "$FS_TMP/fo.default") s, strict settings with -o settle_ms=0 $(cat "$FS_TMP/fo.strict") s"
