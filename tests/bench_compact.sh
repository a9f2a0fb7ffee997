#!/usr/bin/env bash
# bench_compact.sh - figures of the compactor in a mounted revfs, printed with
# their goals; it never passes or fails on a figure.
#   (a) p99 write and fsync latency of a steady writer (4 KiB writes at
#       random offsets, an fsync every 32) into a file that is compacted
#       again and again (compact_frag=0: every commit queues a compaction),
#       divided by the same run with the compactor off (goal <= 1.25);
#   (b) the final-lock hold times (p50, p99, max) from .revfs/stats over
#       run (a) (goal p99 < 10 ms);
#   (c) compaction throughput: revfs-compact of a file with N MiB live
#       against cp (and an fsync) of a file of that size on the backing
#       disk (goal >= 0.5);
#   (d) backing directory size after 1 GiB of random 4 KiB overwrites into
#       a 256 MiB file with keep=latest, once the compactor is idle (goal at
#       most 1.3 times the file's size).
#
# Usage: tests/bench_compact.sh [-s SCALE] [-t SECONDS] [-p PARTS]
#   -s SCALE    size multiplier of (c) and (d) (env BENCH_SCALE, 1.0)
#   -t SECONDS  length of each writer run of (a) (env BENCH_SECONDS, 10)
#   -p PARTS    the parts to run, e.g. -p a (default acd; (b) is measured
#               over (a)'s run and comes with it)
# Binaries come from $REVFS_BIN (default build/). As root, caches are
# dropped before each side of (c); otherwise both read warm and say so.
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REVFS_BIN=${REVFS_BIN:-$ROOT/build}
. "$ROOT/tests/fslib.sh"

SCALE=${BENCH_SCALE:-1.0}
SECS=${BENCH_SECONDS:-10}
PARTS=acd
while getopts s:t:p:h opt; do
	case $opt in
	s) SCALE=$OPTARG ;;
	t) SECS=$OPTARG ;;
	p) PARTS=$OPTARG ;;
	*)
		sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 2
		;;
	esac
done
for b in revfs mkfs.revfs revfs-compact; do
	[ -x "$REVFS_BIN/$b" ] || fs_fail "$REVFS_BIN/$b is not built"
done

fs_setup
mkdir -p "$FS_TMP/bin"
FSIO=$FS_TMP/bin/bench_fsio
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes \
	-Wmissing-prototypes -o "$FSIO" "$ROOT/tests/bench_fsio.c" || fs_fail "cannot compile bench_fsio"

mib() { # SCALE times $1 MiB, at least 1, in MiB
	awk -v s="$SCALE" -v m="$1" 'BEGIN { v = int(s * m); print v < 1 ? 1 : v }'
}
kv() { # the value of key $1 in the key=value line $2
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
stat_of() { # a line of .revfs/stats
	sed -n "s/^$1 //p" "$FS_MNT/.revfs/stats"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}
fresh() { # a new backing directory with keep=latest
	rm -rf "$FS_BACKING"
	fs_mkfs --keep=latest
}
sync_file() {
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"
}
# Waits (up to $1 s) until no compaction runs and none is queued.
wait_idle() {
	i=0
	while [ "$(stat_of compaction_queue)" != 0 ] ||
		[ -n "$(find "$FS_BACKING" -name '*.compact' -print -quit)" ]; do
		i=$((i + 1))
		[ $i -gt $(($1 * 10)) ] && return 1
		sleep 0.1
	done
}
CAN_DROP=no
[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] && CAN_DROP=yes
drop_caches() {
	sync
	[ "$CAN_DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches
	true
}

want() { # whether part $1 was asked for
	case $PARTS in *"$1"*) return 0 ;; esac
	return 1
}

echo "revfs compaction figures (scale $SCALE, writer runs of $SECS s, $(nproc) CPUs)"

# --- (a) and (b) --------------------------------------------------------------
if want a; then
	LAT_MB=64
	lat_run() { # $1: mount options; prints the writer's line
		fresh
		fs_mount -o "$1"
		head -c $((LAT_MB * 1048576)) /dev/urandom >"$FS_MNT/w" && sync_file "$FS_MNT/w"
		out=$("$FSIO" latwrite "$FS_MNT/w" "$SECS" 32) || fs_fail "latwrite"
		cp "$FS_MNT/.revfs/stats" "$FS_TMP/stats.last"
		fs_umount
		echo "$out"
	}
	base=$(lat_run compact=0)
	with=$(lat_run compact_frag=0,compact_min_mb=1)
	S=$FS_TMP/stats.last
	st() { sed -n "s/^$1 //p" "$S"; }
	echo
	echo "(a) steady writer into a $LAT_MB MiB file (4 KiB random writes, fsync every 32), $SECS s"
	printf '    %-22s %12s %12s %12s %12s %8s %8s\n' "" "write p50" "write p99" "fsync p50" "fsync p99" \
		writes fsyncs
	for side in base with; do
		line=${!side}
		printf '    %-22s %9s us %9s us %9s us %9s us %8s %8s\n' \
			"$([ $side = base ] && echo "compactor off" || echo "compacted all along")" \
			"$(kv write_p50_us "$line")" "$(kv write_p99_us "$line")" \
			"$(kv fsync_p50_us "$line")" "$(kv fsync_p99_us "$line")" \
			"$(kv writes "$line")" "$(kv fsyncs "$line")"
	done
	echo "    write p99 ratio: $(ratio "$(kv write_p99_us "$with")" "$(kv write_p99_us "$base")") (goal <= 1.25)"
	echo "    fsync p99 ratio: $(ratio "$(kv fsync_p99_us "$with")" "$(kv fsync_p99_us "$base")") (goal <= 1.25)"
	echo "    compactions during the run: $(st compactions), catch-up passes $(st compaction_passes)," \
		"failures $(st compaction_failures)"
	echo "    flusher waits for a compacting store: $(st flush_compaction_waits)," \
		"$(st flush_compaction_wait_us) us in all; writer stalls: $(st writer_stalls)," \
		"$(st writer_stall_us) us"
	echo "    flush rounds with files: $(st flush_busy_rounds), p99 $(st flush_round_p99_us) us," \
		"max $(st flush_round_max_us) us"
	echo
	echo "(b) final-lock hold over (a), last $(awk -v n="$(st compactions)" 'BEGIN { print n < 256 ? n : 256 }') compactions:" \
		"p50 $(st compaction_lock_hold_p50_us) us, p99 $(st compaction_lock_hold_p99_us) us," \
		"max $(st compaction_lock_hold_max_us) us (goal p99 < 10000 us)"
fi

# --- (c) ----------------------------------------------------------------------
if want c; then
	N=$(mib 256)
	fresh
	fs_mount -o compact=0
	for _ in 1 2; do # two versions: half the store is garbage
		head -c $((N * 1048576)) /dev/urandom >"$FS_MNT/c" && sync_file "$FS_MNT/c"
	done
	before=$(du -sb "$FS_BACKING" | cut -f1)
	drop_caches
	t0=$(date +%s%N)
	"$REVFS_BIN/revfs-compact" "$FS_MNT/c" >"$FS_TMP/rc.out" 2>&1 || {
		cat "$FS_TMP/rc.out" >&2
		fs_fail "revfs-compact"
	}
	t1=$(date +%s%N)
	after=$(du -sb "$FS_BACKING" | cut -f1)
	fs_umount
	head -c $((N * 1048576)) /dev/urandom >"$FS_TMP/cp.src"
	drop_caches
	t2=$(date +%s%N)
	cp "$FS_TMP/cp.src" "$FS_TMP/cp.dst" && sync "$FS_TMP/cp.dst"
	t3=$(date +%s%N)
	rm -f "$FS_TMP/cp.src" "$FS_TMP/cp.dst"
	mbs_c=$(awk -v n="$N" -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", n * 1.048576 / (t / 1e9) }')
	mbs_cp=$(awk -v n="$N" -v t=$((t3 - t2)) 'BEGIN { printf "%.1f", n * 1.048576 / (t / 1e9) }')
	echo
	echo "(c) compaction of a file with $N MiB live ($((before / 1048576)) -> $((after / 1048576)) MiB backing)," \
		"caches $([ $CAN_DROP = yes ] && echo dropped || echo warm)"
	echo "    revfs-compact: $(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.2f", t / 1e9 }') s, $mbs_c MB/s of live data"
	echo "    cp + fsync on the backing disk: $(awk -v t=$((t3 - t2)) 'BEGIN { printf "%.2f", t / 1e9 }') s, $mbs_cp MB/s"
	echo "    ratio: $(ratio "$mbs_c" "$mbs_cp") (goal >= 0.5)"
fi

# --- (d) ----------------------------------------------------------------------
if want d; then
	F=$(mib 256)
	W=$(mib 1024)
	fresh
	fs_mount
	head -c $((F * 1048576)) /dev/urandom >"$FS_MNT/d" && sync_file "$FS_MNT/d"
	t0=$(date +%s)
	out=$("$FSIO" randwrite "$FS_MNT/d" 3600 $((W * 256)) 1024) || fs_fail "randwrite"
	t1=$(date +%s)
	idle=yes
	wait_idle 300 || idle="no (gave up after 300 s)"
	t2=$(date +%s)
	size=$(du -sb "$FS_BACKING" | cut -f1)
	comps=$(stat_of compactions)
	fs_umount
	echo
	echo "(d) $W MiB of random 4 KiB overwrites (fsync every 1024) into a $F MiB file, keep=latest," \
		"default compactor"
	echo "    writes: $(kv writes "$out") in $((t1 - t0)) s; compactions: $comps;" \
		"compactor idle: $idle, $((t2 - t1)) s after the writer"
	echo "    backing directory: $((size / 1048576)) MiB, $(ratio "$size" $((F * 1048576))) x the file" \
		"(goal <= 1.3; the default compact_frag=30 lets a store reach 1/0.7 = 1.43 x before it is compacted)"
fi
