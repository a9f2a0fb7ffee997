# Shared by the tests that kill the daemon under tests/crash_writer.c
# (test_crash.sh, test_compact_kill.sh). Source it after fslib.sh, then:
#
#   crash_start NAME        # fs_setup; SEED, W and the cleanup trap
#   crash_vars NAME         # SEED, W... only (the caller's own setup and
#                           # trap, which calls crash_stop_writer)
#   crash_init              # (mounted) crash_writer init: the first state
#   crash_kill_after MS     # the writer works MS ms, then SIGKILL of the
#                           # daemon; the writer must stop with "dead fs"
#   crash_check [args]      # fs_mount args, then crash_writer check of what
#                           # the last kill left, and every file reads
#   crash_final             # clean unmount, mount, the tree is unchanged
#
# Environment: CRASH_SEED (the writer's seed and the kill times; default
# random), CRASH_AGE_MS (crash_check's -a; 0 turns the age check off).
# crash_kill_before, if defined, runs just before each kill.
# On a failure the backing directory, the writer's logs and states and the
# daemon's stderr are kept in a directory whose name is printed.

# A random integer in [lo, hi] that depends only on the seed and $iter.
rnd() {
	awk -v s="$SEED" -v i="$iter" -v lo="$1" -v hi="$2" \
		'BEGIN { srand((s * 7919 + i) % 2147483647); print lo + int(rand() * (hi - lo + 1)) }'
}

crash_stop_writer() {
	if [ -n "${WPID:-}" ]; then
		kill -9 "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
}

crash_cleanup() {
	crash_stop_writer
	fs_cleanup
}

# Keeps what is needed to look into a failure, then fails.
crash_fail() {
	echo "FAIL: $* (iteration $iter, CRASH_SEED=$SEED)" >&2
	[ -n "$FS_PID" ] && fs_kill
	keep=$(mktemp -d "${TMPDIR:-/tmp}/revfs-$CRASH_NAME-fail.XXXXXX")
	cp -a "$FS_BACKING" "$keep/backing" 2>/dev/null
	cp "$FS_TMP"/log.* "$FS_TMP"/state.* "$FS_TMP"/*.out "$FS_TMP/revfs.log" "$keep/" 2>/dev/null
	echo "kept for a look: $keep" >&2
	exit 1
}

# The harness's variables alone, for a test that sets up (and traps) its
# own world: its trap must call crash_stop_writer.
crash_vars() {
	CRASH_NAME=$1
	SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	AGE_MS=${CRASH_AGE_MS:-2500}
	W=$REVFS_BIN/tests/crash_writer
	WPID=""
	iter=0
	[ -x "$W" ] || fs_fail "$W is not built"
}

crash_start() {
	crash_vars "$1"
	fs_setup
	trap crash_cleanup EXIT
}

crash_init() {
	"$W" init "$FS_MNT/crash" "$FS_TMP/state.0" || crash_fail "crash_writer init"
	state=$FS_TMP/state.0
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

crash_kill_after() {
	log=$FS_TMP/log.$iter
	"$W" write -s $((SEED + iter)) -t 60 "$FS_MNT/crash" "$state" "$log" 2>"$FS_TMP/writer.out" &
	WPID=$!
	sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"
	command -v crash_kill_before >/dev/null && crash_kill_before
	kill_ns=$(date +%s%N)
	fs_kill
	wait_writer
	# 3: the writer met ENOTCONN/EIO, which is what a dead daemon gives.
	[ "$wrc" = 3 ] || crash_fail "writer exit status $wrc: $(cat "$FS_TMP/writer.out")"
}

crash_check() {
	fs_mount "$@"
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
	grep -v '^crash check: [0-9]' "$FS_TMP/check.out" >&2
	state=$FS_TMP/state.$iter
}

# After a clean unmount nothing may be uncertain: the tree must come back
# exactly as the last check found it. Leaves it unmounted.
crash_final() {
	fs_umount
	fs_mount "$@"
	: >"$FS_TMP/log.final"
	"$W" check "$FS_MNT/crash" "$state" "$FS_TMP/log.final" "$FS_TMP/state.final" \
		2>"$FS_TMP/check.out" ||
		{ cat "$FS_TMP/check.out" >&2; crash_fail "check after a clean unmount"; }
	cmp -s "$state" "$FS_TMP/state.final" || crash_fail "the tree changed across a clean unmount"
	fs_umount
}
