#!/usr/bin/env bash
# bench_compact.sh - figures of the compactor in a mounted revfs, printed with
# their goals; it never passes or fails on a figure.
#   (a) p99 write and fsync latency of a steady writer (4 KiB writes at
#       random offsets, an fsync every 32) into a file that is compacted
#       again and again (compact_frag=0: every commit queues a compaction),
#       divided by the same run with the compactor off (goal <= 1.25), in
#       rounds: the median of the rounds' ratios;
#   (b) the final-lock hold times (p99 and max) from .revfs/stats over
#       (a)'s compacted runs (goal p99 < 10 ms);
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
#   -r ROUNDS   (a) runs the compactor off and on this many times each, in
#               turn, and gives the median of the rounds' ratios (env
#               BENCH_ROUNDS, 3)
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
ROUNDS=${BENCH_ROUNDS:-3}
PARTS=acd
while getopts s:t:r:p:h opt; do
	case $opt in
	s) SCALE=$OPTARG ;;
	t) SECS=$OPTARG ;;
	p) PARTS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
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
	lat_run() { # $1: mount options, $2: where the stats go; prints the writer's line
		fresh
		fs_mount -o "$1"
		head -c $((LAT_MB * 1048576)) /dev/urandom >"$FS_MNT/w" && sync_file "$FS_MNT/w"
		out=$("$FSIO" latwrite "$FS_MNT/w" "$SECS" 32) || fs_fail "latwrite"
		cp "$FS_MNT/.revfs/stats" "$2"
		fs_umount
		echo "$out"
	}
	median() { # of the numbers on stdin
		sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
	}
	echo
	echo "(a) steady writer into a $LAT_MB MiB file (4 KiB random writes, fsync every 32), $SECS s," \
		"$ROUNDS rounds of the compactor off and on, in turn ($(uptime | sed 's/.*load/load/'))"
	printf '    %-24s %12s %12s %12s %12s %8s %8s\n' "" "write p50" "write p99" "fsync p50" \
		"fsync p99" writes fsyncs
	: >"$FS_TMP/ratios"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		# Which side goes first alternates: load that drifts hits both.
		if [ $((r % 2)) = 1 ]; then
			base=$(lat_run compact=0 "$FS_TMP/stats.base")
			with=$(lat_run compact_frag=0,compact_min_mb=1 "$FS_TMP/stats.$r")
		else
			with=$(lat_run compact_frag=0,compact_min_mb=1 "$FS_TMP/stats.$r")
			base=$(lat_run compact=0 "$FS_TMP/stats.base")
		fi
		for side in base with; do
			line=${!side}
			printf '    %-24s %9s us %9s us %9s us %9s us %8s %8s\n' \
				"$r: $([ $side = base ] && echo "compactor off" || echo "compacted all along")" \
				"$(kv write_p50_us "$line")" "$(kv write_p99_us "$line")" \
				"$(kv fsync_p50_us "$line")" "$(kv fsync_p99_us "$line")" \
				"$(kv writes "$line")" "$(kv fsyncs "$line")"
		done
		S=$FS_TMP/stats.$r
		echo "$(ratio "$(kv write_p99_us "$with")" "$(kv write_p99_us "$base")")" \
			"$(ratio "$(kv fsync_p99_us "$with")" "$(kv fsync_p99_us "$base")")" \
			"$(sed -n 's/^compaction_lock_hold_p99_us //p' "$S")" \
			"$(sed -n 's/^compaction_lock_hold_max_us //p' "$S")" >>"$FS_TMP/ratios"
		echo "       ratios: write p99 $(sed -n "${r}p" "$FS_TMP/ratios" | cut -d' ' -f1)," \
			"fsync p99 $(sed -n "${r}p" "$FS_TMP/ratios" | cut -d' ' -f2);" \
			"$(sed -n 's/^compactions //p' "$S") compactions," \
			"$(sed -n 's/^compaction_passes //p' "$S") catch-up passes," \
			"$(sed -n 's/^compaction_failures //p' "$S") failed;" \
			"flusher waits for a compacting store $(sed -n 's/^flush_compaction_wait_us //p' "$S") us;" \
			"writer stalls $(sed -n 's/^writer_stall_us //p' "$S") us"
		r=$((r + 1))
	done
	echo "    write p99 ratio, median of the rounds: $(cut -d' ' -f1 "$FS_TMP/ratios" | median) (goal <= 1.25)"
	echo "    fsync p99 ratio, median of the rounds: $(cut -d' ' -f2 "$FS_TMP/ratios" | median) (goal <= 1.25)"
	echo
	echo "(b) final-lock hold over (a)'s compacted runs: p99 of each run" \
		"$(cut -d' ' -f3 "$FS_TMP/ratios" | tr '\n' ' ')us (median $(cut -d' ' -f3 "$FS_TMP/ratios" | median) us)," \
		"max $(cut -d' ' -f4 "$FS_TMP/ratios" | sort -g | tail -1) us (goal p99 < 10000 us)"
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
