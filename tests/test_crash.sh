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
#
# The iterations alternate between the kernel's writeback cache on
# (-o writeback=1: the writes of the writer wait in the kernel's page
# cache until its writeback, at fsync, close or a push) and off, the long
# ones too (iteration i has it on if i + i/10 is odd).
set -u
. "$(dirname "$0")/fslib.sh"
. "$(dirname "$0")/crashlib.sh"

ITERS=${CRASH_ITERS:-50}
LONG_EVERY=${CRASH_LONG_EVERY:-10}
crash_start crash
echo "crash test: $ITERS iterations, CRASH_SEED=$SEED"
t0=$(date +%s)
fs_mkfs
wb_of() { # ITERATION: 1 if its writer has the writeback cache
	echo $((($1 + $1 / 10) % 2))
}
FS_MOUNT_OPTS=writeback=$(wb_of 1)
fs_mount
crash_init

iter=1
while [ "$iter" -le "$ITERS" ]; do
	if [ "$LONG_EVERY" -gt 0 ] && [ $((iter % LONG_EVERY)) -eq 0 ]; then
		ms=$(rnd 3000 4000)
	else
		ms=$(rnd 50 800)
	fi
	crash_kill_after "$ms"
	# The mount the check makes is the next iteration's.
	FS_MOUNT_OPTS=writeback=$(wb_of $((iter + 1)))
	crash_check
	printf '%3d: writeback %d, kill at %4d ms; %s; %s\n' "$iter" "$(wb_of "$iter")" "$ms" \
		"$(sed -n 's/^crash_writer: stopped after \([^:]*\):.*/\1/p' "$FS_TMP/writer.out")" \
		"$(sed -n 's/^crash check: \([0-9].*\)/\1/p' "$FS_TMP/check.out")"
	iter=$((iter + 1))
done
crash_final
echo "PASS: crash test, $ITERS iterations in $(($(date +%s) - t0)) s, CRASH_SEED=$SEED"
