#!/bin/sh
# Crash test of revfs: a writer (tests/crash_writer.c) works in the mount, the
# daemon gets SIGKILL at a random moment, the same backing directory is
# mounted again, and crash_writer checks that the durability promises held:
# what an fsync/fdatasync covered is there (data and the names leading to
# it), what was done well over a flush interval before the kill is there
# too, no byte is one the writer never wrote, and the store mounts and reads.
# Every iteration starts from what the previous one left.
#
#   REVFS_BIN=build sh tests/test_crash.sh
#
# Environment:
#   CRASH_ITERS       iterations (default 50)
#   CRASH_SEED        seed of the writer and of the kill times (default random)
#   CRASH_AGE_MS      what was done this long before the kill must be kept
#                     without fsync (default 2500: a 1 s flush interval plus
#                     slack); 0 turns that check off
#   CRASH_LONG_EVERY  every Nth iteration the kill comes after 3-4 s instead
#                     of 50-800 ms, so that the age check has work (default 10)
#   CRASH_DIRSYNC     "always": fsync the parent directories at every fsync
#                     (by default half the fsyncs rely on the file alone)
# On a failure the backing directory, the writer logs and states and the
# daemon's stderr are kept in a directory whose name is printed.
set -u
. "$(dirname "$0")/fslib.sh"

ITERS=${CRASH_ITERS:-50}
AGE_MS=${CRASH_AGE_MS:-2500}
LONG_EVERY=${CRASH_LONG_EVERY:-10}
SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
W=$REVFS_BIN/tests/crash_writer
[ -x "$W" ] || fs_fail "$W is not built"

WPID=""
iter=0

crash_cleanup() {
	if [ -n "$WPID" ]; then
		kill -9 "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
	fs_cleanup
}

# Keeps what is needed to look into a failure, then fails.
crash_fail() {
	echo "FAIL: $* (iteration $iter, CRASH_SEED=$SEED)" >&2
	[ -n "$FS_PID" ] && fs_kill
	keep=$(mktemp -d "${TMPDIR:-/tmp}/revfs-crash-fail.XXXXXX")
	cp -a "$FS_BACKING" "$keep/backing" 2>/dev/null
	cp "$FS_TMP"/log.* "$FS_TMP"/state.* "$FS_TMP"/*.out "$FS_TMP/revfs.log" "$keep/" 2>/dev/null
	echo "kept for a look: $keep" >&2
	exit 1
}

# A random integer in [lo, hi] that depends only on the seed and $iter.
rnd() {
	awk -v s="$SEED" -v i="$iter" -v lo="$1" -v hi="$2" \
		'BEGIN { srand((s * 7919 + i) % 2147483647); print lo + int(rand() * (hi - lo + 1)) }'
}

# The writer stops on its own once the mount is gone; it must not hang.
wait_writer() {
	n=0
	while :; do
		st=$(cut -d' ' -f3 "/proc/$WPID/stat" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && break
		n=$((n + 1))
		if [ $n -gt 500 ]; then
			kill -9 "$WPID"
			wait "$WPID"
			WPID=""
			crash_fail "the writer still runs 10 s after the daemon died"
		fi
		sleep 0.02
	done
	wait "$WPID"
	wrc=$?
	WPID=""
}

fs_setup
trap crash_cleanup EXIT
echo "crash test: $ITERS iterations, CRASH_SEED=$SEED"
t0=$(date +%s)
fs_mkfs
fs_mount
"$W" init "$FS_MNT/crash" "$FS_TMP/state.0" || crash_fail "crash_writer init"
state=$FS_TMP/state.0

iter=1
while [ "$iter" -le "$ITERS" ]; do
	if [ "$LONG_EVERY" -gt 0 ] && [ $((iter % LONG_EVERY)) -eq 0 ]; then
		ms=$(rnd 3000 4000)
	else
		ms=$(rnd 50 800)
	fi
	log=$FS_TMP/log.$iter
	"$W" write -s $((SEED + iter)) -t 60 "$FS_MNT/crash" "$state" "$log" 2>"$FS_TMP/writer.out" &
	WPID=$!
	sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
	kill_ns=$(date +%s%N)
	fs_kill
	wait_writer
	# 3: the writer met ENOTCONN/EIO, which is what a dead daemon gives.
	[ "$wrc" = 3 ] || crash_fail "writer exit status $wrc: $(cat "$FS_TMP/writer.out")"

	fs_mount
	"$W" check -k "$kill_ns" -a "$AGE_MS" "$FS_MNT/crash" "$state" "$log" \
		"$FS_TMP/state.$iter" 2>"$FS_TMP/check.out"
	crc=$?
	[ "$crc" = 0 ] || { cat "$FS_TMP/check.out" >&2; crash_fail "check after the kill"; }
	# Everything else in the mount lists and reads too.
	find "$FS_MNT" >/dev/null 2>"$FS_TMP/find.out" ||
		{ cat "$FS_TMP/find.out" >&2; crash_fail "find over the mount"; }
	find "$FS_MNT" -path "$FS_MNT/.revfs" -prune -o -path "$FS_MNT/crash" -prune -o \
		-type f -exec cat {} + >/dev/null 2>"$FS_TMP/find.out" ||
		{ cat "$FS_TMP/find.out" >&2; crash_fail "reading the files in the mount"; }
	printf '%3d: kill at %4d ms; %s; %s\n' "$iter" "$ms" \
		"$(sed -n 's/^crash_writer: stopped after \([^:]*\):.*/\1/p' "$FS_TMP/writer.out")" \
		"$(sed -n 's/^crash check: \([0-9].*\)/\1/p' "$FS_TMP/check.out")"
	grep -v '^crash check: [0-9]' "$FS_TMP/check.out" >&2
	state=$FS_TMP/state.$iter
	iter=$((iter + 1))
done

# After a clean unmount nothing may be uncertain: the tree must come back
# exactly as the last check found it.
fs_umount
fs_mount
: >"$FS_TMP/log.final"
"$W" check "$FS_MNT/crash" "$state" "$FS_TMP/log.final" "$FS_TMP/state.final" \
	2>"$FS_TMP/check.out" || { cat "$FS_TMP/check.out" >&2; crash_fail "check after a clean unmount"; }
cmp -s "$state" "$FS_TMP/state.final" || crash_fail "the tree changed across a clean unmount"
fs_umount
echo "PASS: crash test, $ITERS iterations in $(($(date +%s) - t0)) s, CRASH_SEED=$SEED"
