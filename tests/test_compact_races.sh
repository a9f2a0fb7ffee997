#!/bin/sh
# Races with a compaction under way in a mounted revfs:
#   1. the file is truncated (and written) while a rate-limited copy runs;
#   2. the file is renamed into another directory meanwhile;
#   3. the backing disk (a small tmpfs, root only) fills up mid-copy: the
#      compaction aborts, its temporary file is removed, the store is intact,
#      and writes go on once space is freed.
# Reference copies of every file live outside the mount. SIGKILL of the
# daemon during compactions is test_compact_kill.sh.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs --keep=latest
SMALL=""
t0=$(date +%s)

races_cleanup() {
	fs_cleanup_mnt
	if [ -n "$SMALL" ] && mountpoint -q "$SMALL"; then
		umount "$SMALL" || umount -l "$SMALL"
	fi
	fs_cleanup
}
# The mount before the tmpfs under it.
fs_cleanup_mnt() {
	if fs_mounted "$FS_MNT"; then
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then
		kill -9 "$FS_PID" 2>/dev/null
		fs_reap "$FS_PID" || true
		FS_PID=""
	fi
}
trap races_cleanup EXIT

sync_file() {
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"
}
leftovers() {
	find "$FS_BACKING" -name '*.compact' | wc -l
}
stat_of() {
	sed -n "s/^$1 //p" "$FS_MNT/.revfs/stats"
}
# Waits (up to 10 s) until a compaction's temporary file exists.
wait_copy() {
	i=0
	while [ "$(leftovers)" = 0 ]; do
		i=$((i + 1))
		[ $i -gt 500 ] && fs_fail "$1: no compaction started"
		sleep 0.02
	done
}
# Waits (up to 20 s) until no compaction runs and the queue is empty.
wait_idle() {
	i=0
	while [ "$(leftovers)" != 0 ] || [ "$(stat_of compaction_queue)" != 0 ]; do
		i=$((i + 1))
		[ $i -gt 1000 ] && fs_fail "$1: the compaction did not end"
		sleep 0.02
	done
}
# Writes $2 MiB of random bytes to $1 and its reference twice, each fsynced:
# half the store is garbage, so the compactor takes it.
fragment() {
	for _ in 1 2; do
		head -c $(($2 * 1048576)) /dev/urandom >"$FS_TMP/ref.$1"
		cp "$FS_TMP/ref.$1" "$FS_MNT/$1" && sync_file "$FS_MNT/$1"
	done
}
# Appends the same random bytes to $1 in the mount and to reference $2, fsynced.
append_both() {
	head -c "$3" /dev/urandom >"$FS_TMP/blk"
	cat "$FS_TMP/blk" >>"$2"
	dd if="$FS_TMP/blk" of="$1" oflag=append conv=notrunc,fsync status=none ||
		fs_fail "append to $1"
}
no_failures() {
	grep -q "compaction of inode .* failed" "$FS_TMP/revfs.log" && fs_fail "$1: a compaction failed"
	true
}

# --- 1. truncated during a slow compaction (4 MiB live at 4 MB/s: ~1 s) --------
fs_mount -o compact_mbps=4,compact_min_mb=1
fragment t 4
wait_copy truncate
truncate -s 1000000 "$FS_MNT/t" || fs_fail "truncate during compaction"
truncate -s 1000000 "$FS_TMP/ref.t"
append_both "$FS_MNT/t" "$FS_TMP/ref.t" 123457
[ "$(leftovers)" != 0 ] || echo "test_compact_races: note: the copy ended before the truncate"
wait_idle truncate
cmp "$FS_TMP/ref.t" "$FS_MNT/t" || fs_fail "truncated during compaction: content differs"
[ "$(stat_of compactions)" -ge 1 ] || fs_fail "truncate: no compaction completed"
no_failures truncate
fs_umount
fs_mount -o compact=0
cmp "$FS_TMP/ref.t" "$FS_MNT/t" || fs_fail "truncated during compaction: differs after remount"
[ "$(leftovers)" = 0 ] || fs_fail "truncate: a *.compact is left"
rm "$FS_MNT/t"
fs_umount

# --- 2. renamed during a slow compaction ---------------------------------------
fs_mount -o compact_mbps=4,compact_min_mb=1
mkdir "$FS_MNT/d" || fs_fail "mkdir"
fragment r 4
wait_copy rename
mv "$FS_MNT/r" "$FS_MNT/d/r2" || fs_fail "rename during compaction"
append_both "$FS_MNT/d/r2" "$FS_TMP/ref.r" 65536
wait_idle rename
[ ! -e "$FS_MNT/r" ] || fs_fail "rename: the old name is back"
cmp "$FS_TMP/ref.r" "$FS_MNT/d/r2" || fs_fail "renamed during compaction: content differs"
no_failures rename
fs_umount
fs_mount -o compact=0
cmp "$FS_TMP/ref.r" "$FS_MNT/d/r2" || fs_fail "renamed during compaction: differs after remount"
[ ! -e "$FS_MNT/r" ] || fs_fail "rename: the old name is back after remount"
[ "$(leftovers)" = 0 ] || fs_fail "rename: a *.compact is left"
fs_umount
echo "test_compact_races: truncate and rename ok ($(($(date +%s) - t0)) s)"

# --- 3. the backing disk fills up mid-copy -------------------------------------
if [ "$(id -u)" = 0 ]; then
	SMALL=$FS_TMP/small
	mkdir "$SMALL"
	# The compactor wants room for the live bytes plus 16 MiB above the
	# low-water mark (a tenth of the disk and the file) before it starts:
	# 96 MiB leaves that with a 4 MiB file, and little more.
	mount -t tmpfs -o size=96m tmpfs "$SMALL" || fs_fail "tmpfs"
	saved=$FS_BACKING
	FS_BACKING=$SMALL/backing
	fs_mkfs --keep=latest
	fs_mount -o compact_mbps=2,compact_min_mb=1
	fragment full 4
	wait_copy "full disk"
	# Fill what is left; the copy (at 2 MB/s) meets ENOSPC, or steps
	# aside first for the give-back of history (the disk is below its
	# low-water mark).
	dd if=/dev/zero of="$SMALL/filler" bs=1M status=none 2>/dev/null
	i=0
	while [ "$(stat_of compaction_failures)" = 0 ] &&
		[ "$(stat_of compactions_yielded_to_space)" = 0 ]; do
		i=$((i + 1))
		[ $i -gt 500 ] && fs_fail "full disk: the compaction neither failed nor stepped aside"
		sleep 0.02
	done
	wait_idle "full disk"
	[ "$(leftovers)" = 0 ] || fs_fail "full disk: the temporary file stayed"
	cmp "$FS_TMP/ref.full" "$FS_MNT/full" || fs_fail "full disk: content changed"
	[ "$(stat_of compaction_failures)" = 0 ] ||
		grep -q "compaction of inode .* failed: .*No space left" "$FS_TMP/revfs.log" ||
		fs_fail "full disk: the compaction failed, but not for want of space"
	rm "$SMALL/filler"
	# Writes go on once space is free (the flusher looks again each round).
	append_both "$FS_MNT/full" "$FS_TMP/ref.full" 100000
	cmp "$FS_TMP/ref.full" "$FS_MNT/full" || fs_fail "full disk: a later write differs"
	fs_umount
	fs_mount -o compact=0
	cmp "$FS_TMP/ref.full" "$FS_MNT/full" || fs_fail "full disk: differs after remount"
	[ "$(leftovers)" = 0 ] || fs_fail "full disk: a *.compact is left after remount"
	fs_umount
	umount "$SMALL" || fs_fail "umount tmpfs"
	SMALL=""
	FS_BACKING=$saved
	echo "test_compact_races: full disk ok ($(($(date +%s) - t0)) s)"
else
	echo "test_compact_races: skipped the full disk (needs root for a tmpfs)"
fi
echo "test_compact_races: ok"
