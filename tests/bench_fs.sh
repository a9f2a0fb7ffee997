#!/usr/bin/env bash
# bench_fs.sh - filesystem benchmark of revfs. Each workload runs, in the same
# run and on the same disk (a temp dir under ${TMPDIR:-/tmp}), on three
# targets: a plain directory of the underlying filesystem, libfuse's
# passthrough_ll example (compiled here from the libfuse3-dev sources) over a
# plain directory, and revfs. It prints a table of figures and ratios; it
# never passes or fails on timings. Every workload starts on a fresh mount of
# a fresh backing directory; the unmount (which flushes revfs) plus a sync is
# timed and reported separately for the workloads that write.
#
# Usage: tests/bench_fs.sh [-s SCALE] [-t SECONDS] [-w WORKLOADS] [-T TARGETS]
#                          [-r ROUNDS] [-L LOGDIR]
#   -s SCALE      size multiplier of every workload (env BENCH_SCALE, 1.0)
#   -t SECONDS    time limit of one workload on one target, after which it
#                 is reported as "timeout" (env BENCH_TIMEOUT, 60; the
#                 sequential write+read workload gets 1.5 times that)
#   -w WORKLOADS  comma list of workloads 1-8 to run (env BENCH_WORKLOADS, all
#                 but 8; 1 and 2 run together; 7 is 6 with another file
#                 written meanwhile, never fsynced: what an fsync pays for
#                 another file's dirty data; 8 is 200,000 files of 100 bytes:
#                 the space the backing directory takes after the unmount)
#   -T TARGETS    comma list of ext4,passthrough_ll,revfs,revfs0,revfsenc (env
#                 BENCH_TARGETS, all but revfs0 and revfsenc; "ext4" is the
#                 plain temp dir, whatever its filesystem; revfs0 is revfs -o
#                 writeback=0; revfsenc an encrypted vault, with a key file)
#   -r ROUNDS     rounds of every workload (env BENCH_ROUNDS, 3); each round
#                 runs the targets in another order, and the table gives the
#                 median of the rounds
#   -L LOGDIR     keep the daemon's log of each failed workload there
# Binaries of revfs come from $REVFS_BIN (default build/ of this repository);
# without them the revfs column reads "n/a". Cold-cache figures need root
# (to write /proc/sys/vm/drop_caches); without it they are warm and say so.

# The workload functions are called through a variable (run_workload).
# shellcheck disable=SC2317
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REVFS_BIN=${REVFS_BIN:-$ROOT/build}
. "$ROOT/tests/fslib.sh"

SCALE=${BENCH_SCALE:-1.0}
TIMEOUT=${BENCH_TIMEOUT:-60}
WORKLOADS=${BENCH_WORKLOADS:-1,2,3,4,5,6,7}
TARGETS=${BENCH_TARGETS:-ext4,passthrough_ll,revfs}
ROUNDS=${BENCH_ROUNDS:-3}
LOGDIR=""

while getopts s:t:w:T:r:L:h opt; do
	case $opt in
	s) SCALE=$OPTARG ;;
	t) TIMEOUT=$OPTARG ;;
	w) WORKLOADS=$OPTARG ;;
	T) TARGETS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	L) LOGDIR=$OPTARG ;;
	*)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
		exit 2
		;;
	esac
done
case $SCALE in '' | *[!0-9.]* | *.*.*) fs_fail "bad scale '$SCALE'" ;; esac
case $TIMEOUT in '' | *[!0-9]*) fs_fail "bad timeout '$TIMEOUT'" ;; esac
case $ROUNDS in '' | *[!0-9]* | 0) fs_fail "bad number of rounds '$ROUNDS'" ;; esac
awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }' || fs_fail "scale must be > 0"

# --- small helpers ----------------------------------------------------------

# Float arithmetic: calc EXPR [printf format].
calc() {
	awk "BEGIN { printf \"${2:-%.6f}\", $1 }"
}

now() {
	echo "${EPOCHREALTIME:-$(date +%s.%N)}"
}

# scaled BASE MIN: BASE*SCALE rounded, at least MIN.
scaled() {
	awk -v b="$1" -v m="$2" -v s="$SCALE" 'BEGIN { v = int(b * s + 0.5); print (v < m ? m : v) }'
}

# kv KEY FILE: the value of KEY in a bench_fsio result line.
kv() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | head -n 1
}

has() {
	case ",$1," in *",$2,"*) return 0 ;; esac
	return 1
}

# is_mounted DIR: from the mount table, without touching DIR (a stuck daemon
# would block a stat of it).
is_mounted() {
	awk -v m="$(printf '%s' "$1" | sed 's/ /\\040/g')" '$5 == m { f = 1 } END { exit !f }' \
		/proc/self/mountinfo
}

# sync_disk: syncs only the filesystem of the temp dir: a global sync could block on
# somebody else's stuck FUSE mount.
sync_disk() {
	sync -f "$FS_TMP"
}

drop_caches() {
	sync_disk
	[ "$CAN_DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches
	true
}

# --- results ------------------------------------------------------------------

declare -A RES      # RES[row,target,round] = figure, "timeout", "FAIL" or "n/a"
declare -a ROWS=()  # row ids in print order
declare -A ROW_W    # row -> workload number
declare -A ROW_LABEL ROW_UNIT ROW_BETTER ROW_FMT
declare -a NOTES=() # failures and remarks, printed under the table

row() { # row ID WORKLOAD LABEL UNIT BETTER(higher|lower) PRINTF-FORMAT
	ROWS+=("$1")
	ROW_W[$1]=$2
	ROW_LABEL[$1]=$3
	ROW_UNIT[$1]=$4
	ROW_BETTER[$1]=$5
	ROW_FMT[$1]=$6
}

put() { # put ROW VALUE: for the current target and round
	RES[$1,$CUR_T,$ROUND]=$2
}

note() {
	NOTES+=("$*")
	echo "  note: $*" >&2
}

# --- running commands under the workload's time limit -------------------------

CHILD=""    # the pid of the running timed command, for the cleanup
DEADLINE=0  # end of the current workload on the current target
STATUS=ok   # ok, timeout or FAIL: the current workload on the current target
LAST_SECS=0 # the duration of the last brun or t_umount
STEP=0

left() {
	awk -v d="$DEADLINE" -v n="$(now)" 'BEGIN { l = d - n; print (l > 0 ? int(l + 0.999) : 0) }'
}

# fail_step WHAT ERRFILE: records a failure of the current workload.
fail_step() {
	STATUS=FAIL
	local err=""
	[ -n "${2:-}" ] && [ -s "$2" ] && err=": $(tail -n 3 "$2" | tr '\n' ' ')"
	note "workload $CUR_W on $CUR_T: $1$err"
}

# brun CMD...: runs CMD with the time left, stdout in $OUT, stderr in $ERR;
# sets LAST_SECS. Returns non-zero (and sets STATUS) on failure or timeout.
brun() {
	local l rc t0 t1
	STEP=$((STEP + 1))
	OUT=$FS_TMP/out/$STEP.out
	ERR=$FS_TMP/out/$STEP.err
	l=$(left)
	if [ "$l" -le 0 ]; then
		STATUS=timeout
		return 1
	fi
	t0=$(now)
	timeout -k 5 "$l" "$@" >"$OUT" 2>"$ERR" </dev/null &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	t1=$(now)
	CHILD=""
	LAST_SECS=$(calc "$t1 - $t0")
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		STATUS=timeout
		note "workload $CUR_W on $CUR_T: timed out in: $*"
		return 1
	fi
	if [ "$rc" -ne 0 ]; then
		fail_step "'$*' exited with $rc" "$ERR"
		return 1
	fi
	return 0
}

# --- targets ------------------------------------------------------------------
# t_fresh: a new empty backing, nothing mounted. t_mount: mounts it (for ext4
# nothing) and sets DATA to the directory to work in. t_umount: unmounts,
# waits for the daemon to exit, syncs; LAST_SECS is the time of all that.
# t_abort: after a failure, kills the daemon and unmounts, without questions.

t_dir() {
	echo "$FS_TMP/t-$CUR_T"
}

t_fresh() {
	local d
	d=$(t_dir)
	rm -rf "$d" "$d.log"
	mkdir -p "$d/back" "$d/mnt" || return 1
	if [ "$CUR_T" = revfs ] || [ "$CUR_T" = revfs0 ]; then
		rmdir "$d/back"
		brun "$REVFS_BIN/mkfs.revfs" "$d/back" || return 1
	fi
	if [ "$CUR_T" = revfsenc ]; then
		rmdir "$d/back"
		head -c 64 /dev/urandom >"$d.key"
		brun "$REVFS_BIN/mkfs.revfs" --key-file="$d.key" "$d/back" || return 1
	fi
	return 0
}

t_mount() {
	local d rc
	d=$(t_dir)
	case $CUR_T in
	ext4)
		DATA=$d/back
		return 0
		;;
	passthrough_ll)
		(
			ulimit -n "$NOFILE"
			exec "$PT_BIN" -f -o source="$d/back" "$d/mnt"
		) >>"$d.log" 2>&1 &
		;;
	revfs | revfs0 | revfsenc)
		(
			ulimit -n "$NOFILE"
			[ "$CUR_T" = revfs0 ] && set -- -o writeback=0
			[ "$CUR_T" = revfsenc ] && set -- -o key_file="$d.key"
			exec "$REVFS_BIN/revfs" -f "$@" "$d/back" "$d/mnt"
		) >>"$d.log" 2>&1 &
		;;
	esac
	FS_PID=$!
	FS_MNT=$d/mnt
	DATA=$FS_MNT
	until is_mounted "$FS_MNT"; do
		if ! kill -0 "$FS_PID" 2>/dev/null; then
			wait "$FS_PID"
			rc=$?
			FS_PID=""
			fail_step "$CUR_T did not mount, its daemon exited with $rc" "$d.log"
			return 1
		fi
		if [ "$(left)" -le 0 ]; then
			STATUS=timeout
			note "workload $CUR_W on $CUR_T: timed out mounting"
			return 1
		fi
		sleep 0.01
	done
	return 0
}

t_umount() {
	local t0 rc l
	t0=$(now)
	if [ "$CUR_T" != ext4 ]; then
		if ! fusermount3 -u "$FS_MNT" 2>"$FS_TMP/out/umount.err"; then
			fail_step "fusermount3 -u $FS_MNT failed" "$FS_TMP/out/umount.err"
			return 1
		fi
		while kill -0 "$FS_PID" 2>/dev/null; do
			l=$(left)
			if [ "$l" -le 0 ]; then
				STATUS=timeout
				note "workload $CUR_W on $CUR_T: timed out waiting for the daemon to exit after unmount"
				return 1
			fi
			sleep 0.005
		done
		wait "$FS_PID"
		rc=$?
		FS_PID=""
		if [ "$rc" -ne 0 ]; then
			fail_step "the $CUR_T daemon exited with $rc after the unmount" "$(t_dir).log"
			return 1
		fi
	fi
	sync_disk
	LAST_SECS=$(calc "$(now) - $t0")
	return 0
}

t_abort() {
	if [ -n "$CHILD" ]; then
		kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
		CHILD=""
	fi
	[ "${CUR_T:-ext4}" = ext4 ] && return 0
	# The daemon may be stuck: kill it first, then the unmount cannot block.
	if [ -n "$FS_PID" ]; then
		fs_kill
	elif is_mounted "$FS_MNT"; then
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	true
}

bench_cleanup() {
	t_abort
	fs_cleanup
}

# --- workloads ------------------------------------------------------------------
# Each w_* runs one workload on $CUR_T and returns non-zero at its first
# failure or timeout (STATUS says which); rows it did not fill get STATUS.

w_seq() { # workloads 1 and 2
	t_fresh && t_mount || return 1
	brun "$FSIO" seqwrite "$DATA/seq" "$SEQ_BYTES" 1048576 || return 1
	local secs
	secs=$(kv secs "$OUT")
	put seqw "$(kv mbps "$OUT")"
	t_umount || return 1
	put seqw_um "$LAST_SECS"
	put seqw_all "$(calc "$SEQ_BYTES / 1e6 / ($secs + $LAST_SECS)")"
	drop_caches
	t_mount || return 1
	brun "$FSIO" seqread "$DATA/seq" 1048576 || return 1
	put seqr "$(kv mbps "$OUT")"
	t_umount
}

w_rand() { # workload 3
	t_fresh && t_mount || return 1
	brun "$FSIO" seqwrite "$DATA/rand" "$RAND_BYTES" 1048576 || return 1
	t_umount || return 1
	drop_caches
	t_mount || return 1
	brun "$FSIO" randwrite "$DATA/rand" "$RAND_SECS" 1000000000 32 || return 1
	put rand_w "$(kv wps "$OUT")"
	put rand_f "$(kv fps "$OUT")"
	t_umount || return 1
	put rand_um "$LAST_SECS"
	# Not timed: the file must still read back with every page in place.
	t_mount || return 1
	brun "$FSIO" seqread "$DATA/rand" 1048576 || return 1
	t_umount
}

w_files() { # workload 4
	local total=0
	t_fresh && t_mount || return 1
	brun mkdir "$DATA/files" || return 1
	brun "$FSIO" files create "$DATA/files" "$NFILES" 100 4096 || return 1
	put f_cr "$(kv fps "$OUT")"
	total=$(calc "$total + $(kv secs "$OUT")")
	t_umount || return 1
	put f_um1 "$LAST_SECS"
	total=$(calc "$total + $LAST_SECS")
	drop_caches
	t_mount || return 1
	brun "$FSIO" files stat "$DATA/files" "$NFILES" 100 4096 || return 1
	put f_st "$(kv fps "$OUT")"
	total=$(calc "$total + $(kv secs "$OUT")")
	brun "$FSIO" files unlink "$DATA/files" "$NFILES" 100 4096 || return 1
	put f_ul "$(kv fps "$OUT")"
	total=$(calc "$total + $(kv secs "$OUT")")
	t_umount || return 1
	put f_um2 "$LAST_SECS"
	put f_tot "$(calc "$total + $LAST_SECS")"
}

w_tree() { # workload 5
	local n
	t_fresh && t_mount || return 1
	brun tar -xf "$TARBALL" -C "$DATA" || return 1
	put t_x "$LAST_SECS"
	t_umount || return 1
	put t_um1 "$LAST_SECS"
	drop_caches
	t_mount || return 1
	# shellcheck disable=SC2016
	brun sh -c 'cd "$1" && find . | wc -l' sh "$DATA/include" || return 1
	put t_find "$LAST_SECS"
	n=$(tr -d ' ' <"$OUT")
	if [ "$n" != "$TREE_ENTRIES" ]; then
		fail_step "find found $n entries, the tarball has $TREE_ENTRIES"
		return 1
	fi
	brun du -s "$DATA/include" || return 1
	put t_du "$LAST_SECS"
	brun rm -rf "$DATA/include" || return 1
	put t_rm "$LAST_SECS"
	t_umount || return 1
	put t_um2 "$LAST_SECS"
}

w_append() { # workload 6
	t_fresh && t_mount || return 1
	brun "$FSIO" append "$DATA/log" "$NAPPEND" 512 || return 1
	put a_p50 "$(kv p50_us "$OUT")"
	put a_p99 "$(kv p99_us "$OUT")"
	put a_max "$(kv max_us "$OUT")"
	t_umount || return 1
	put a_um "$LAST_SECS"
}

w_small() { # workload 8: many small files, and the space they take
	t_fresh && t_mount || return 1
	brun mkdir "$DATA/small" || return 1
	brun "$FSIO" files create "$DATA/small" "$NSMALL" 200 100 || return 1
	put s_cr "$(kv fps "$OUT")"
	t_umount || return 1
	put s_um "$LAST_SECS"
	# What the disk gives it: the backing directory whole (for revfs the
	# namespace, the stores, their folders and the superblock).
	brun du -sk "$(t_dir)/back" || return 1
	put s_kib "$(cut -f1 "$OUT")"
}

w_busy() { # workload 7: workload 6 beside a writer that never fsyncs
	local bg rc=0 stop=$FS_TMP/busy.stop
	t_fresh && t_mount || return 1
	rm -f "$stop"
	(
		while [ ! -e "$stop" ]; do
			dd if=/dev/zero of="$DATA/big" bs=1M count=32 conv=notrunc status=none || exit
			sleep 0.05
		done
	) &
	bg=$!
	sleep 0.5
	brun "$FSIO" append "$DATA/log" "$NAPPEND" 512 || rc=1
	: >"$stop"
	wait "$bg" 2>/dev/null
	[ $rc = 0 ] || return 1
	put b_p50 "$(kv p50_us "$OUT")"
	put b_p99 "$(kv p99_us "$OUT")"
	t_umount || return 1
}

# run_workload N FUNCTION LIMIT: on every target, ROUNDS times, each round
# starting at another target.
run_workload() {
	local w=$1 fn=$2 limit=$3 t r st k
	local -a order
	CUR_W=$w
	read -r -a order <<<"${TARGETS//,/ }"
	for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	for ((k = 0; k < ${#order[@]}; k++)); do
		t=${order[$(((k + ROUND - 1) % ${#order[@]}))]}
		CUR_T=$t
		STATUS=ok
		if [ "${AVAIL[$t]}" != yes ]; then
			STATUS=n/a
		else
			echo "workload $w on $t, round $ROUND of $ROUNDS..." >&2
			drop_caches
			DEADLINE=$(calc "$(now) + $limit")
			if ! $fn; then
				[ "$STATUS" = ok ] && STATUS=FAIL
				t_abort
				if [ -n "$LOGDIR" ] && [ -s "$(t_dir).log" ]; then
					mkdir -p "$LOGDIR" &&
						cp "$(t_dir).log" "$LOGDIR/workload$w-$t.log" &&
						note "workload $w on $t: daemon log in $LOGDIR/workload$w-$t.log"
				fi
			fi
			rm -rf "$(t_dir)"
		fi
		st=$STATUS
		for r in "${ROWS[@]}"; do
			if [ "${ROW_W[$r]}" = "$w" ] && [ -z "${RES[$r,$t,$ROUND]:-}" ]; then
				RES[$r,$t,$ROUND]=$st
			fi
		done
	done
	done
}

# median ROW TARGET: the median of the rounds' figures; without any, what
# the first round says (timeout, FAIL, n/a).
median() {
	local i v
	local -a vals=()
	for ((i = 1; i <= ROUNDS; i++)); do
		v=${RES[$1,$2,$i]:-n/a}
		case $v in '' | *[!0-9.]*) ;; *) vals+=("$v") ;; esac
	done
	if [ ${#vals[@]} -eq 0 ]; then
		printf '%s' "${RES[$1,$2,1]:-n/a}"
		return
	fi
	printf '%s\n' "${vals[@]}" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- setup --------------------------------------------------------------------

START=$(now)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
fs_setup
trap bench_cleanup EXIT
mkdir -p "$FS_TMP/out" "$FS_TMP/bin"
BASE_FS=$(findmnt -n -o FSTYPE -T "$FS_TMP" 2>/dev/null || echo plain)

declare -A AVAIL=([ext4]=yes [passthrough_ll]=no [revfs]=no [revfs0]=no [revfsenc]=no)
for t in ${TARGETS//,/ }; do
	case $t in ext4 | passthrough_ll | revfs | revfs0 | revfsenc) ;; *) fs_fail "unknown target '$t'" ;; esac
done

FSIO=$FS_TMP/bin/bench_fsio
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes \
	-Wmissing-prototypes -o "$FSIO" "$ROOT/tests/bench_fsio.c" || fs_fail "cannot compile bench_fsio"

# passthrough_ll: compiled from the example shipped with libfuse3-dev.
PT_BIN=$FS_TMP/bin/passthrough_ll
pt_src=$(dpkg -L libfuse3-dev 2>/dev/null | grep '/passthrough_ll\.c\(\.gz\)\{0,1\}$' | head -n 1)
if [ -z "$pt_src" ]; then
	note "passthrough_ll: no source in libfuse3-dev (dpkg -L libfuse3-dev)"
else
	mkdir -p "$FS_TMP/pt-src"
	for f in "$pt_src" "$(dirname "$pt_src")"/passthrough_helpers.h*; do
		[ -e "$f" ] && cp "$f" "$FS_TMP/pt-src/"
	done
	for f in "$FS_TMP"/pt-src/*.gz; do
		[ -e "$f" ] && gunzip -f "$f"
	done
	# shellcheck disable=SC2046
	if cc -O2 -D_FILE_OFFSET_BITS=64 $(pkg-config --cflags fuse3) -o "$PT_BIN" \
		"$FS_TMP/pt-src/passthrough_ll.c" $(pkg-config --libs fuse3) 2>"$FS_TMP/out/pt.err"; then
		AVAIL[passthrough_ll]=yes
	else
		note "passthrough_ll: does not compile: $(head -n 3 "$FS_TMP/out/pt.err" | tr '\n' ' ')"
	fi
fi

if [ -x "$REVFS_BIN/revfs" ] && [ -x "$REVFS_BIN/mkfs.revfs" ]; then
	AVAIL[revfs]=yes
	AVAIL[revfs0]=yes
	AVAIL[revfsenc]=yes
else
	note "revfs: no $REVFS_BIN/revfs and $REVFS_BIN/mkfs.revfs, its column is n/a"
fi

# passthrough_ll keeps a descriptor open per inode it knows: both daemons get
# the same raised limit, so that 20,000 files fit.
NOFILE=$(ulimit -n)
for n in 1048576 262144 65536 "$(ulimit -Hn)"; do
	if [ "$n" != unlimited ] && (ulimit -n "$n") 2>/dev/null; then
		NOFILE=$n
		break
	fi
done

CAN_DROP=no
if sync_disk && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	CAN_DROP=yes
else
	note "cannot drop the page cache (not root?): \"cold\" figures are warm"
fi

SEQ_BYTES=$(($(scaled 1024 16) * 1048576))
RAND_BYTES=$(($(scaled 256 16) * 1048576))
RAND_SECS=$(scaled 20 2)
NFILES=$(scaled 20000 100)
NSMALL=$(scaled 200000 1000)
NAPPEND=$(scaled 2000 100)
# passthrough_ll holds a descriptor per inode it knows: when the limit cannot
# be raised enough, all targets create fewer files, so that the three agree.
if has "$TARGETS" passthrough_ll && [ "${AVAIL[passthrough_ll]}" = yes ] &&
	[ "$NOFILE" != unlimited ] && [ $((NFILES + 1100)) -gt "$NOFILE" ]; then
	note "workload 4 creates $((NOFILE - 1100)) files, not $NFILES: passthrough_ll needs a" \
		"descriptor per file and the open file limit is $NOFILE"
	NFILES=$((NOFILE - 1100))
fi
if has "$TARGETS" passthrough_ll && [ "${AVAIL[passthrough_ll]}" = yes ] &&
	[ "$NOFILE" != unlimited ] && [ $((NSMALL + 1300)) -gt "$NOFILE" ]; then
	note "workload 8 creates $((NOFILE - 1300)) files, not $NSMALL: passthrough_ll needs a" \
		"descriptor per file and the open file limit is $NOFILE"
	NSMALL=$((NOFILE - 1300))
fi

# The source tree: /usr/include (a share of its entries when SCALE < 1),
# tarred once outside every mount.
TARBALL=$FS_TMP/tree.tar
TREE_ENTRIES=0
if has "$WORKLOADS" 5; then
	if [ -d /usr/include ]; then
		(cd /usr && find include | LC_ALL=C sort) >"$FS_TMP/tree.all"
		n=$(wc -l <"$FS_TMP/tree.all")
		keep=$(awk -v n="$n" -v s="$SCALE" 'BEGIN { k = int(n * s + 0.5); print (k > n ? n : (k < 100 ? 100 : k)) }')
		head -n "$keep" "$FS_TMP/tree.all" >"$FS_TMP/tree.list"
		tar -C /usr --no-recursion -cf "$TARBALL" -T "$FS_TMP/tree.list" ||
			fs_fail "cannot make the tarball of /usr/include"
		TREE_ENTRIES=$(tar -tf "$TARBALL" | wc -l)
		TREE_MB=$(calc "$(stat -c %s "$TARBALL") / 1048576" %.0f)
	else
		note "no /usr/include: workload 5 skipped"
		WORKLOADS=${WORKLOADS//5/}
	fi
fi

# --- the table rows -------------------------------------------------------------

row seqw 1 "1 seq write $((SEQ_BYTES / 1048576)) MiB, 1 MiB writes + fsync" MB/s higher %.1f
row seqw_um 1 "  unmount + sync" s lower %.3f
row seqw_all 1 "  write incl. unmount + sync" MB/s higher %.1f
row seqr 1 "2 seq read it, cold cache, 1 MiB reads" MB/s higher %.1f
row rand_w 3 "3 rand 4 KiB writes in $((RAND_BYTES / 1048576)) MiB, ${RAND_SECS} s" writes/s higher %.0f
row rand_f 3 "  fsyncs (one per 32 writes)" fsyncs/s higher %.1f
row rand_um 3 "  unmount + sync" s lower %.3f
row f_cr 4 "4 create $NFILES 4 KiB files in 100 dirs" files/s higher %.0f
row f_um1 4 "  unmount + sync" s lower %.3f
row f_st 4 "  stat, cold cache" files/s higher %.0f
row f_ul 4 "  unlink" files/s higher %.0f
row f_um2 4 "  unmount + sync" s lower %.3f
row f_tot 4 "  total, unmounts included" s lower %.3f
row t_x 5 "5 untar ${TREE_ENTRIES} entries, ${TREE_MB:-0} MiB" s lower %.3f
row t_um1 5 "  unmount + sync" s lower %.3f
row t_find 5 "  find | wc -l, cold cache" s lower %.3f
row t_du 5 "  du -s" s lower %.3f
row t_rm 5 "  rm -rf" s lower %.3f
row t_um2 5 "  unmount + sync" s lower %.3f
row a_p50 6 "6 $NAPPEND appends of 512 B + fdatasync, p50" us lower %.0f
row a_p99 6 "  p99" us lower %.0f
row a_max 6 "  max" us lower %.0f
row a_um 6 "  unmount + sync" s lower %.3f
row b_p50 7 "7 the same beside 32 MiB writes, p50" us lower %.0f
row b_p99 7 "  p99" us lower %.0f
row s_cr 8 "8 create $NSMALL 100 B files in 200 dirs" files/s higher %.0f
row s_um 8 "  unmount + sync" s lower %.3f
row s_kib 8 "  space taken after the unmount (du -sk)" KiB lower %.0f

# --- run ------------------------------------------------------------------------

if has "$WORKLOADS" 1 || has "$WORKLOADS" 2; then
	run_workload 1 w_seq $((TIMEOUT * 3 / 2))
fi
has "$WORKLOADS" 3 && run_workload 3 w_rand "$TIMEOUT"
has "$WORKLOADS" 4 && run_workload 4 w_files "$TIMEOUT"
has "$WORKLOADS" 5 && run_workload 5 w_tree "$TIMEOUT"
has "$WORKLOADS" 6 && run_workload 6 w_append "$TIMEOUT"
has "$WORKLOADS" 7 && run_workload 7 w_busy "$TIMEOUT"
has "$WORKLOADS" 8 && run_workload 8 w_small $((TIMEOUT * 3))

# --- report -----------------------------------------------------------------------

is_num() {
	case $1 in '' | *[!0-9.]*) return 1 ;; esac
	return 0
}

fmt() { # fmt VALUE FORMAT
	if is_num "$1"; then calc "$1" "$2"; else printf '%s' "${1:--}"; fi
}

ratio() { # ratio A B: A/B, or "-"
	if is_num "$1" && is_num "$2" && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
		calc "$1 / $2" %.2f
	else
		printf -- -
	fi
}

echo
echo "revfs filesystem benchmark: scale $SCALE, $(uname -sr), $(nproc) cpus," \
	"per-workload limit ${TIMEOUT} s, cold caches: $CAN_DROP, daemons' open file limit $NOFILE"
echo "Disk: $BASE_FS ($(findmnt -n -o OPTIONS -T "$FS_TMP")) under ${TMPDIR:-/tmp}"
echo "Load average at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Each figure is the median of $ROUNDS rounds; each round ran the targets in another order."
echo "Ratios are revfs/passthrough_ll and revfs/$BASE_FS of the raw figures: where higher is" \
	"better, >1 means revfs is faster; where lower is better (s, us), <1 means revfs is faster."
has "$TARGETS" revfs0 && echo "revfs0 is revfs with -o writeback=0 (no kernel writeback cache)."
has "$TARGETS" revfsenc && echo "revfsenc is revfs on an encrypted vault (a key file); enc/rv is revfsenc/revfs."
echo
fmt_line='%-48s %-8s %-6s %12s %14s %12s %12s %12s %10s %10s %8s\n'
# shellcheck disable=SC2059
printf "$fmt_line" workload unit better "$BASE_FS" passthrough_ll revfs revfs0 revfsenc rv/pt \
	"rv/$BASE_FS" enc/rv
dashes=------------------------------------------------
# shellcheck disable=SC2059
printf "$fmt_line" "$dashes" "${dashes:0:8}" "${dashes:0:6}" "${dashes:0:12}" "${dashes:0:14}" \
	"${dashes:0:12}" "${dashes:0:12}" "${dashes:0:12}" "${dashes:0:10}" "${dashes:0:10}" \
	"${dashes:0:8}"
for r in "${ROWS[@]}"; do
	has "$WORKLOADS" "${ROW_W[$r]}" || { [ "${ROW_W[$r]}" = 1 ] && has "$WORKLOADS" 2; } || continue
	e=$(median "$r" ext4)
	p=$(median "$r" passthrough_ll)
	v=$(median "$r" revfs)
	v0=$(median "$r" revfs0)
	ve=$(median "$r" revfsenc)
	# shellcheck disable=SC2059
	printf "$fmt_line" "${ROW_LABEL[$r]}" "${ROW_UNIT[$r]}" "${ROW_BETTER[$r]}" \
		"$(fmt "$e" "${ROW_FMT[$r]}")" "$(fmt "$p" "${ROW_FMT[$r]}")" \
		"$(fmt "$v" "${ROW_FMT[$r]}")" "$(fmt "$v0" "${ROW_FMT[$r]}")" \
		"$(fmt "$ve" "${ROW_FMT[$r]}")" "$(ratio "$v" "$p")" "$(ratio "$v" "$e")" \
		"$(ratio "$ve" "$v")"
done
if [ ${#NOTES[@]} -gt 0 ]; then
	echo
	echo "Notes:"
	for n in "${NOTES[@]}"; do
		echo "  - $n"
	done
fi
echo
echo "Total time: $(calc "$(now) - $START" %.0f) s"
exit 0
