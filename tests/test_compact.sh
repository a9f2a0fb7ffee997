#!/bin/sh
# The background compactor in a mounted revfs: a fragmented store shrinks
# while its file stays the same; a file written the whole time stays right
# across repeated compactions; a file unlinked, or a daemon killed, while a
# (rate-limited, so slow) compaction runs leaves no *.compact behind and
# loses nothing, and the unlinked file's store goes once the namespace's
# compaction has dropped the versions that named it.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs --keep=latest

sync_file() {
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"
}
store_bytes() { # total bytes of the file stores
	du -sb "$FS_BACKING/ino" | cut -f1
}
leftovers() {
	find "$FS_BACKING" -name '*.compact' | wc -l
}

# 1. Twenty versions of a 4 MiB file: the store shrinks to about one.
fs_mount -o compact_frag=30,compact_min_mb=1
head -c 4194304 /dev/urandom >"$FS_TMP/ref"
for i in $(seq 1 20); do
	head -c 4194304 /dev/urandom >"$FS_TMP/ref"
	cp "$FS_TMP/ref" "$FS_MNT/f" && sync_file "$FS_MNT/f"
done
# The compactor copies in the idle I/O class: on a busy machine (an ASan
# build beside a fuzzer) it took more than 10 s once; 30 s is the bound.
i=0
while [ "$(store_bytes)" -gt 12000000 ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && fs_fail "the store did not shrink in 30 s: $(store_bytes) bytes;" \
		$(grep compaction "$FS_MNT/.revfs/stats")
	sleep 0.1
done
cmp "$FS_TMP/ref" "$FS_MNT/f" || fs_fail "content changed by compaction"
fs_umount
fs_mount
cmp "$FS_TMP/ref" "$FS_MNT/f" || fs_fail "content changed by compaction, after a remount"

# 2. A file written and fsynced the whole time, compacted again and again.
dd if=/dev/zero of="$FS_TMP/w" bs=1M count=4 status=none
cp "$FS_TMP/w" "$FS_MNT/w" && sync_file "$FS_MNT/w"
n=0
while [ $n -lt 300 ]; do
	off=$(($(od -An -N2 -tu2 /dev/urandom) % 1000))
	head -c 4096 /dev/urandom >"$FS_TMP/blk"
	dd if="$FS_TMP/blk" of="$FS_TMP/w" bs=4096 seek=$off conv=notrunc status=none
	dd if="$FS_TMP/blk" of="$FS_MNT/w" bs=4096 seek=$off conv=notrunc,fsync status=none ||
		fs_fail "write during compaction"
	n=$((n + 1))
done
cmp "$FS_TMP/w" "$FS_MNT/w" || fs_fail "a file written during compactions differs"
fs_umount
grep -q "compaction of inode .* failed" "$FS_TMP/revfs.log" && fs_fail "a compaction failed"
[ "$(leftovers)" = 0 ] || fs_fail "a *.compact file was left after a clean unmount"
fs_mount
cmp "$FS_TMP/w" "$FS_MNT/w" || fs_fail "a file written during compactions differs after remount"
fs_umount

# 3. Unlinked while a slow compaction copies it.
fs_mount -o compact_mbps=4,compact_min_mb=1
for i in 1 2 3 4; do
	head -c 8388608 /dev/urandom >"$FS_TMP/ref"
	cp "$FS_TMP/ref" "$FS_MNT/big" && sync_file "$FS_MNT/big"
done
sleep 1 # the compaction is under way, at 4 MB/s
ino=$(stat -c %i "$FS_MNT/big")
store=$FS_BACKING/ino/$(printf '%02x' $((ino & 255)))/$ino.rev
[ -f "$store" ] || fs_fail "no store at $store"
rm "$FS_MNT/big"
fs_umount
[ ! -e "$store.compact" ] || fs_fail "an unlinked file's compaction copy stayed"
# The store stays while a namespace version names the file (.revfs/at/);
# with keep=latest, the namespace's next compaction drops them all.
fs_mount -o compact_frag=0,compact_min_mb=0,flush_ms=100
i=0
while [ -e "$store" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fs_fail "an unlinked file's store stayed: $(ls -l "$store"*)"
	echo "$i" >"$FS_MNT/tick" && sync_file "$FS_MNT/tick"
	sleep 0.1
done
[ ! -e "$store.compact" ] || fs_fail "an unlinked file's compaction copy stayed"
fs_umount

# 4. The daemon killed while a slow compaction runs.
fs_mount -o compact_mbps=4,compact_min_mb=1
for i in 1 2 3 4; do
	head -c 8388608 /dev/urandom >"$FS_TMP/ref"
	cp "$FS_TMP/ref" "$FS_MNT/big2" && sync_file "$FS_MNT/big2"
done
sleep 1
[ "$(leftovers)" -gt 0 ] || echo "test_compact: note: no compaction was running at the kill"
fs_kill
fs_mount
cmp "$FS_TMP/ref" "$FS_MNT/big2" || fs_fail "data lost by a kill during compaction"
[ "$(leftovers)" = 0 ] || fs_fail "a stale *.compact survived the next mount"
fs_umount

# 5. The default retention keeps every version of the last hour: a file
# appended to and fsynced 600 times in a few seconds has nothing to give
# back, and is compacted once (the namespace perhaps once more), not again
# each time it grows by compact_frag.
rm -rf "$FS_BACKING"
fs_mkfs
fs_mount -o compact_min_mb=1
head -c 1048576 /dev/urandom >"$FS_MNT/log" && sync_file "$FS_MNT/log"
for i in $(seq 1 600); do
	echo "entry $i of the log, with some text to make it longer than a line" >>"$FS_MNT/log" &&
		sync_file "$FS_MNT/log"
done
n=$(sed -n 's/^compactions //p' "$FS_MNT/.revfs/stats")
[ "$n" -le 2 ] || fs_fail "$n compactions of stores that retention keeps whole"
[ "$(ls "$FS_MNT/.revfs/history/log" | wc -l)" -ge 601 ] || fs_fail "versions were dropped"
fs_umount
echo "test_compact: ok"
