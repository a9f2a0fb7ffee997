#!/bin/sh
# The kernel's writeback cache (push.c). With it on, a write(2) stays in the
# kernel until its writeback; the daemon's push thread bounds that:
#
# - bound: bytes written to a file kept open, never fsynced nor closed,
#   are committed within about two flush intervals: after four, kill -9 of
#   the daemon loses none of them (five files, flush_ms=300);
# - kill during a push: the daemon, killed with SIGKILL while its pusher
#   syncs under four writers, ends within fs_reap's bound (a syncfs in a
#   thread of its own would wait for its own dead connection forever),
#   its push process too, and the next mount works (6 rounds);
# - gaps: the kernel sends a file's pages in several WRITEs at once, and a
#   WRITE past the end may be served before the one for the bytes in
#   between; a commit must not make those bytes a hole. Four appenders
#   of four files each (tests/appender.c: every byte a function of its
#   offset, never zero, no holes) under flush_ms=100, kill -9 at a random moment, then every
#   file must be a prefix of what was appended (10 rounds, up to 30 until
#   one held a commit below a gap: without one the test proved nothing). A hole the writer made is committed all the
#   same: a file written at 0 and past its end, kept open, is whole after
#   kill -9 two flush intervals later;
# - unmount: the push thread's copy of the mount never makes umount fail
#   (EBUSY), and the daemon still exits once the mount is gone, with
#   everything committed: 20 rounds of mount, write, close, umount at once;
# - times: the kernel keeps the mtime of a write, not of its writeback, and
#   an fsync commits that mtime to the store (it survives kill -9);
# - the cache is off by default, and -o writeback=0 turns it off.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs
FS_MOUNT_OPTS=writeback=1 # every mount below but the last

stat_of() { # NAME: a line of .revfs/stats
	sed -n "s/^$1 //p" "$FS_MNT/.revfs/stats"
}

# --- bound --------------------------------------------------------------------
fs_mount -o flush_ms=300
[ "$(stat_of writeback)" = pushed ] || fs_fail "writeback cache: $(stat_of writeback)"
for n in 1 2 3 4 5; do
	head -c $((n * 7000 + 123)) /dev/urandom >"$FS_TMP/ref$n"
done
# Five writers that keep their files open (and never fsync), until killed.
for n in 1 2 3 4 5; do
	sh -c 'exec 3>"$1"; cat "$2" >&3; sleep 30' sh "$FS_MNT/open$n" "$FS_TMP/ref$n" &
	eval "W$n=\$!"
done
sleep 1.2 # four flush intervals
[ "$(stat_of writeback_pushes)" -ge 2 ] || fs_fail "pushes: $(stat_of writeback_pushes)"
fs_kill
for n in 1 2 3 4 5; do
	eval "kill \$W$n" 2>/dev/null
done
wait 2>/dev/null
fs_mount
for n in 1 2 3 4 5; do
	cmp "$FS_TMP/ref$n" "$FS_MNT/open$n" ||
		fs_fail "open$n: not committed within four flush intervals"
done
fs_umount

# --- kill during a push ------------------------------------------------------
# The push process, the daemon's only child: waits (10 s at most) until
# the push thread has forked it, and prints its pid.
pusher() {
	_w=0
	until _c=$(cat /proc/"$FS_PID"/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep . | head -n 1) &&
		[ -n "$_c" ]; do
		_w=$((_w + 1))
		[ $_w -gt 500 ] && fs_fail "no push process after 10 s"
		sleep 0.02
	done
	echo "$_c"
}
for n in 1 2 3 4 5 6; do
	fs_mount -o flush_ms=50
	for w in 1 2 3 4; do
		dd if=/dev/zero of="$FS_MNT/big$w" bs=1M count=300 status=none 2>/dev/null &
	done
	child=$(pusher) || exit 1
	sleep 0.$((n + 2))
	fs_kill # fails if the daemon does not end
	wait 2>/dev/null # the writers, on a dead mount
	i=0
	while [ -d "/proc/$child" ] && [ "$(cut -d' ' -f3 "/proc/$child/stat" 2>/dev/null)" != Z ]; do
		i=$((i + 1))
		[ $i -gt 250 ] && fs_fail "round $n: the push process outlived the daemon by 5 s"
		sleep 0.02
	done
	fs_mount
	rm -f "$FS_MNT"/big* || fs_fail "round $n: rm after the kill"
	child=$(pusher) || exit 1
	fs_umount
	[ -d "/proc/$child" ] && fs_fail "the push process outlived an unmount"
done

# --- gaps -------------------------------------------------------------------------
holds=0
n=0
# 10 rounds, more (up to 30) until one held a commit: the proof needs one
while [ "$n" -lt 10 ] || { [ "$holds" = 0 ] && [ "$n" -lt 30 ]; }; do
	n=$((n + 1))
	fs_mount -o flush_ms=100
	for w in 1 2 3 4; do
		mkdir -p "$FS_MNT/app/$w"
		"$REVFS_BIN/tests/appender" write "$FS_MNT/app/$w" 4 "$n$w" 2>/dev/null &
	done
	sleep "$(awk -v n="$n" 'BEGIN { srand(n); printf "%.2f", 0.4 + rand() * 1.2 }')"
	h=$(stat_of writeback_gap_holds)
	holds=$((holds + ${h:-0}))
	fs_kill
	wait 2>/dev/null # the appenders, on a dead mount
	fs_mount
	for w in 1 2 3 4; do
		"$REVFS_BIN/tests/appender" check "$FS_MNT/app/$w" 4 ||
			fs_fail "round $n: a file is not what was appended after kill -9"
	done
	rm -r "$FS_MNT/app"
	fs_umount
done
[ "$holds" -gt 0 ] || fs_fail "no commit was held below a gap in $n rounds"
echo "gaps: $holds commits held below a gap in $n rounds"
# A hole the writer made, in a file kept open and never fsynced.
fs_mount -o flush_ms=300
sh -c 'exec 3<>"$1"; printf head >&3; printf tail | dd of="$1" bs=1 seek=3000000 conv=notrunc \
	status=none; exec sleep 30' sh "$FS_MNT/sparse" &
w=$!
sleep 1.5 # five flush intervals
fs_kill
kill "$w" 2>/dev/null
wait 2>/dev/null
fs_mount
[ "$(stat -c %s "$FS_MNT/sparse")" = 3000004 ] ||
	fs_fail "sparse: size $(stat -c %s "$FS_MNT/sparse") after kill -9, not 3000004"
[ "$(dd if="$FS_MNT/sparse" bs=1 skip=3000000 status=none)" = tail ] ||
	fs_fail "sparse: the bytes past the hole are not there after kill -9"
fs_umount

# --- unmount --------------------------------------------------------------------
head -c 1000000 /dev/urandom >"$FS_TMP/big"
# (fs_mount uses $i of its own)
for n in $(seq 1 20); do
	fs_mount
	cp "$FS_TMP/big" "$FS_MNT/f$n" || fs_fail "round $n: cp"
	fs_umount # fails on EBUSY, or if the daemon exits with an error
done
fs_mount
for n in $(seq 1 20); do
	cmp "$FS_TMP/big" "$FS_MNT/f$n" || fs_fail "f$n after its unmount"
done
fs_umount

# --- times ------------------------------------------------------------------------
fs_mount
exec 4>"$FS_MNT/timed"
printf 'written' >&4
before=$(stat -c %Y.%y "$FS_MNT/timed")
sleep 1.1
sync "$FS_MNT/timed" # fsync: the writeback, the kernel's times, the commit
after=$(stat -c %Y.%y "$FS_MNT/timed")
[ "$before" = "$after" ] || fs_fail "mtime moved from $before to $after at fsync"
fs_kill
exec 4>&-
fs_mount
[ "$(stat -c %Y.%y "$FS_MNT/timed")" = "$after" ] ||
	fs_fail "mtime after kill -9: $(stat -c %Y.%y "$FS_MNT/timed"), not $after"
[ "$(cat "$FS_MNT/timed")" = written ] || fs_fail "timed: content"
fs_umount

# --- off -----------------------------------------------------------------------------
FS_MOUNT_OPTS=
fs_mount
[ "$(stat_of writeback)" = off ] || fs_fail "the default: $(stat_of writeback)"
fs_umount
fs_mount -o writeback=1,writeback=0
[ "$(stat_of writeback)" = off ] || fs_fail "-o writeback=0: $(stat_of writeback)"
fs_umount
echo "test_writeback: ok"
