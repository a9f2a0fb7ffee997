#!/bin/sh
# SIGKILL of the daemon at random points during compaction: crash_writer
# (tests/crash_writer.c) makes, changes and fsyncs files in a mount whose
# compactor compacts every store after every commit (compact_frag=0,
# compact_min_mb=0, the namespace included), slowed down to a few MB/s so
# that a copy of these small stores lasts long enough to be cut; the daemon
# gets SIGKILL at a random moment. After each kill the backing directory is
# mounted with the compactor off: no *.compact may be left (every tenth
# time a stale ns.rev.compact is planted first), and crash_writer
# checks every file against its model (every fsynced byte is there, no
# byte is one never written, every file reads). At the end, after a clean
# unmount, fsck.revfs finds every store sound.
#
#   REVFS_BIN=build sh tests/test_compact_kill.sh
#
# Environment: COMPACT_KILLS (default 50), CRASH_SEED (the writer's seed and
# the kill times; default random), COMPACT_KILL_MBPS (the compactor's rate,
# default 2).
set -u
. "$(dirname "$0")/fslib.sh"
. "$(dirname "$0")/crashlib.sh"

KILLS=${COMPACT_KILLS:-50}
MBPS=${COMPACT_KILL_MBPS:-2}
OPTS="compact_frag=0,compact_min_mb=0,compact_mbps=$MBPS"
CRASH_AGE_MS=0 # compaction does not change what the flush interval bounds
crash_start compact-kill
during=0
compactions=0

leftovers() {
	find "$FS_BACKING" -name '*.compact' | wc -l
}
# Just before each kill: whether a copy is under way, and the compactor's
# count so far (the test must show that compactions really ran).
crash_kill_before() {
	[ "$(leftovers)" != 0 ] && during=$((during + 1))
	n=$(sed -n 's/^compactions //p' "$FS_MNT/.revfs/stats" 2>/dev/null)
	compactions=$((compactions + ${n:-0}))
}

echo "test_compact_kill: $KILLS kills, CRASH_SEED=$SEED, compact_mbps=$MBPS"
t0=$(date +%s)
fs_mkfs --keep=latest
FS_MOUNT_OPTS=writeback=1 # odd iterations: on
fs_mount -o "$OPTS"
crash_init
iter=1
while [ "$iter" -le "$KILLS" ]; do
	crash_kill_after "$(rnd 150 1200)"
	# The namespace's copy is short and seldom cut: leave one now and then.
	[ $((iter % 10)) = 0 ] && echo stale >"$FS_BACKING/ns.rev.compact"
	# The writer's mounts alternate: the kernel's writeback cache on, off.
	FS_MOUNT_OPTS=writeback=$(((iter + 1) % 2))
	crash_check -o compact=0
	[ "$(leftovers)" = 0 ] || crash_fail "a stale *.compact survived the mount: $(find "$FS_BACKING" -name '*.compact')"
	fs_umount
	fs_mount -o "$OPTS"
	iter=$((iter + 1))
done
crash_final -o compact=0
[ "$(leftovers)" = 0 ] || crash_fail "a *.compact is left after a clean unmount"
"$REVFS_BIN/fsck.revfs" -n -f "$FS_BACKING" >"$FS_TMP/fsck.out" 2>&1 ||
	{ cat "$FS_TMP/fsck.out" >&2; crash_fail "fsck.revfs -n -f after the kills"; }
echo "test_compact_kill: $KILLS kills, $during during a copy, $compactions compactions before them" \
	"($(($(date +%s) - t0)) s)"
[ "$during" -gt 0 ] || crash_fail "no kill came during a compaction"
[ "$compactions" -gt 0 ] || crash_fail "no compaction ran"
echo "PASS: test_compact_kill"
