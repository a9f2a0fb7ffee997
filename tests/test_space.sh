#!/bin/sh
# Live data before history (issue: space), on small backing disks the test
# makes itself (loop-mounted ext4 images, unmounted and detached on any
# exit):
#
#   1. 400 MB: a 100 MB file saved with cp 30 times, sync after each: every
#      save succeeds and reads back exactly; history keeps what fits; the
#      log says what was dropped. A version pinned on the way survives. A
#      file larger than the disk gets ENOSPC and nothing else is lost; once
#      it is deleted, its store (the graveyard) gives way to a new file.
#      fsck.revfs -n is clean after the unmount.
#   2. 200 MB: 5,000 small files written and fsynced, all deleted, written
#      again: no ENOSPC; the namespace's size is reported.
#   3. revfs-compact --dry-run within 5% of the real run, and the same
#      version counts, on a scripted history.
#   4. a history budget set by mkfs.revfs --history-max keeps history under
#      it, oldest first, and the log says so.
#   5. 100 MB with 10% of it reserved for root: a user's writes stop at
#      what the disk has for users (statvfs f_bavail); root still writes.
#
# Prints the writers' waits under disk pressure (p50/p99) and the bytes
# history and the namespace take, from .revfs/stats. SPACE_SAVES and
# SPACE_FILES make 1. and 2. shorter (make tsan).
set -u
. "$(dirname "$0")/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "test_space: SKIP (needs root for loop devices)"; exit 0; }
command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null ||
	{ echo "test_space: SKIP (no mkfs.ext4 or losetup)"; exit 0; }
SAVES=${SPACE_SAVES:-30}
NFILES=${SPACE_FILES:-5000}
PIN_AT=$((SAVES / 3 + 1))
fs_setup
DISK_MNTS=""
DISK_LOOPS=""
space_cleanup() {
	if fs_mounted "$FS_MNT"; then
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then # its files keep the image busy
		kill -9 "$FS_PID" 2>/dev/null
		fs_reap "$FS_PID" || true
		FS_PID=""
	fi
	for m in $DISK_MNTS; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for l in $DISK_LOOPS; do
		losetup -d "$l" 2>/dev/null
	done
	DISK_MNTS= DISK_LOOPS=
	fs_cleanup
}
trap space_cleanup EXIT

# disk NAME SIZE [mkfs.ext4 options]: an ext4 image of SIZE mounted on
# $FS_TMP/NAME, or where loop devices are not allowed a tmpfs of that size
# (DISK_KIND says which); FS_BACKING goes into it.
disk() {
	img=$FS_TMP/$1.img d=$FS_TMP/$1 size=$2
	shift 2
	mkdir -p "$d"
	truncate -s "$size" "$img" || fs_fail "truncate $img"
	mkfs.ext4 -q -F "$@" "$img" || fs_fail "mkfs.ext4 $img"
	if loop=$(losetup -f --show "$img" 2>/dev/null); then
		DISK_LOOPS="$loop $DISK_LOOPS"
		mount "$loop" "$d" || fs_fail "mount $loop"
		DISK_KIND=ext4
	else
		rm -f "$img"
		mount -t tmpfs -o "size=$size" tmpfs "$d" || fs_fail "no loop device, and no tmpfs"
		DISK_KIND=tmpfs
	fi
	DISK_MNTS="$d $DISK_MNTS"
	FS_BACKING=$d/vault
}

stat_of() { # stat_of NAME: a line of .revfs/stats
	sed -n "s/^$1 //p" "$FS_MNT/.revfs/stats"
}

# --- 1. a 100 MB file saved $SAVES times on a 400 MB disk --------------------
disk big 400M
fs_mkfs
fs_mount -o flush_ms=200
SRC=$FS_TMP/src
head -c 100000000 /dev/urandom >"$SRC" || fs_fail "source"
H=$FS_MNT/.revfs/history/f
pinned=""
for i in $(seq 1 "$SAVES"); do
	printf 'save %04d' "$i" | dd of="$SRC" conv=notrunc status=none
	cp "$SRC" "$FS_MNT/f" || {
		grep -E "ENOSPC|gave way|full" "$FS_TMP/revfs.log" | tail -n 8 >&2
		grep space_ "$FS_MNT/.revfs/stats" >&2
		fs_fail "save $i: cp failed"
	}
	sync "$FS_MNT/f" || fs_fail "save $i: sync failed"
	cmp -s "$SRC" "$FS_MNT/f" || fs_fail "save $i does not read back"
	if [ "$i" = "$PIN_AT" ]; then
		pinned=$(ls "$H" | tail -1)
		setfattr -n user.revfs.pin -v "$pinned" "$FS_MNT/f" || fs_fail "pin $pinned"
		cp "$SRC" "$FS_TMP/pinned" || fs_fail "copy of the pinned save"
	fi
done
nv=$(ls "$H" | wc -l)
[ "$nv" -ge 2 ] || fs_fail "history lost the pinned version: $nv versions"
cmp -s "$FS_TMP/pinned" "$H/$pinned" || fs_fail "the pinned version $pinned does not read back"
grep -q "history gave way to live data" "$FS_TMP/revfs.log" || fs_fail "the log says nothing dropped"
p50=$(stat_of space_writer_wait_p50_us) p99=$(stat_of space_writer_wait_p99_us)
hist=$(stat_of space_history_bytes)
echo "test_space: $SAVES saves of 100 MB on a 400 MB disk: $nv versions kept," \
	"history $((hist / 1048576)) MiB; writers waited $(stat_of space_writer_waits) times," \
	"p50 $((p50 / 1000)) ms, p99 $((p99 / 1000)) ms"
[ "$(stat_of space_writer_enospc)" = 0 ] || fs_fail "a writer got ENOSPC"

# A file larger than the disk: ENOSPC, and nothing else goes.
if dd if=/dev/zero of="$FS_MNT/huge" bs=1M count=600 conv=fsync status=none 2>"$FS_TMP/err"; then
	fs_fail "600 MB fitted on a 400 MB disk"
fi
grep -q "No space left" "$FS_TMP/err" || fs_fail "huge file: not ENOSPC: $(cat "$FS_TMP/err")"
cmp -s "$SRC" "$FS_MNT/f" || fs_fail "the live file changed under a full disk"
cmp -s "$FS_TMP/pinned" "$H/$pinned" || fs_fail "the pinned version went under a full disk"
# Deleted, its store stays in the graveyard until space is needed again.
rm "$FS_MNT/huge" || fs_fail "rm huge"
head -c 150000000 /dev/urandom >"$FS_TMP/next"
cp "$FS_TMP/next" "$FS_MNT/next" && sync "$FS_MNT/next" || fs_fail "150 MB after the huge file went"
cmp -s "$FS_TMP/next" "$FS_MNT/next" || fs_fail "next does not read back"
cmp -s "$SRC" "$FS_MNT/f" || fs_fail "f changed"
fs_umount
"$REVFS_BIN/fsck.revfs" -n "$FS_BACKING" >"$FS_TMP/fsck.out" 2>&1 ||
	fs_fail "fsck.revfs -n after disk pressure: $(cat "$FS_TMP/fsck.out")"
rm -f "$FS_TMP/next" "$FS_TMP/pinned"

# --- 2. $NFILES small files, deleted, written again, on a 200 MB disk ---------
disk small 200M
fs_mkfs
fs_mount
mkdir "$FS_MNT/d" || fs_fail "mkdir"
"$REVFS_BIN/tests/smallfiles" "$FS_MNT/d" "$NFILES" 5000 || fs_fail "$NFILES files"
"$REVFS_BIN/tests/smallfiles" -r "$FS_MNT/d" "$NFILES" || fs_fail "rm of $NFILES files"
"$REVFS_BIN/tests/smallfiles" "$FS_MNT/d" "$NFILES" 5000 || fs_fail "$NFILES files again"
[ "$(ls "$FS_MNT/d" | wc -l)" = "$NFILES" ] || fs_fail "files missing"
echo "test_space: $NFILES files twice on a 200 MB disk: namespace" \
	"$(($(stat_of space_namespace_bytes) / 1024)) KiB, graveyard" \
	"$(($(stat_of space_graveyard_bytes) / 1048576)) MiB, history" \
	"$(($(stat_of space_history_bytes) / 1048576)) MiB"
# revfs-compact MNT compacts the namespace too (the rule keeps this
# hour's commits); offline, down to the newest, it is proportional to the
# live tree.
"$REVFS_BIN/revfs-compact" -v "$FS_MNT" >"$FS_TMP/out" 2>&1 || fs_fail "revfs-compact MNT: $(cat "$FS_TMP/out")"
grep -q "(the namespace): " "$FS_TMP/out" || fs_fail "revfs-compact MNT left the namespace: $(cat "$FS_TMP/out")"
fs_umount
"$REVFS_BIN/revfs-compact" -q --keep=latest "$FS_BACKING" || fs_fail "revfs-compact --keep=latest"
nsb=$(stat -c %s "$FS_BACKING/ns.rev")
echo "test_space: namespace compacted to its newest version: $nsb bytes, $((nsb / NFILES)) per live file"
[ "$nsb" -lt $((NFILES * 1024)) ] || fs_fail "the namespace takes $nsb bytes for $NFILES files"

# --- 3. revfs-compact --dry-run against the real run -------------------------
# A scripted history under the rule min:3: a file rewritten whole, a log
# appended to, a small file; the dry run's bytes after within 5% of the
# real run's, and the version counts alike.
FS_BACKING=$FS_TMP/dry
fs_mkfs
fs_mount -o keep=min:3,compact=0
for i in $(seq 1 10); do
	head -c 1000000 /dev/urandom >"$FS_MNT/whole" && sync "$FS_MNT/whole"
	head -c 200000 /dev/urandom >>"$FS_MNT/log" && sync "$FS_MNT/log"
	echo "version $i" >"$FS_MNT/small" && sync "$FS_MNT/small"
done || fs_fail "scripted history"
after_of() { # the "(N -> M bytes)" of revfs-compact's total line: M
	sed -n 's/.*(\([0-9]*\) -> \([0-9]*\) bytes).*/\2/p' "$1"
}
"$REVFS_BIN/revfs-compact" -n -v "$FS_MNT/whole" "$FS_MNT/log" "$FS_MNT/small" \
	>"$FS_TMP/dry.out" 2>&1 || fs_fail "dry run: $(cat "$FS_TMP/dry.out")"
"$REVFS_BIN/revfs-compact" -v "$FS_MNT/whole" "$FS_MNT/log" "$FS_MNT/small" \
	>"$FS_TMP/real.out" 2>&1 || fs_fail "real run: $(cat "$FS_TMP/real.out")"
dry=$(after_of "$FS_TMP/dry.out") real=$(after_of "$FS_TMP/real.out")
[ -n "$dry" ] && [ -n "$real" ] || fs_fail "no totals: $(cat "$FS_TMP/dry.out" "$FS_TMP/real.out")"
[ $((dry * 100)) -ge $((real * 95)) ] && [ $((dry * 100)) -le $((real * 105)) ] ||
	fs_fail "the dry run said $dry bytes after, the real run left $real"
for f in whole log small; do
	d=$(sed -n "s|.*/$f: .*(versions \([0-9]* -> [0-9]*\)).*|\1|p" "$FS_TMP/dry.out")
	r=$(sed -n "s|.*/$f: .*(versions \([0-9]* -> [0-9]*\)).*|\1|p" "$FS_TMP/real.out")
	[ -n "$d" ] && [ "$d" = "$r" ] || fs_fail "$f: the dry run counts versions $d, the real run $r"
done
echo "test_space: dry run $dry bytes after, the real run $real"
# Per file: what its history takes, before and after a compaction to the
# newest version.
hb=$(getfattr --only-values -n user.revfs.history_bytes "$FS_MNT/whole" 2>/dev/null) ||
	fs_fail "user.revfs.history_bytes"
[ "$hb" -ge 1500000 ] || fs_fail "whole keeps 2 old versions of 1 MB, history_bytes says $hb"
"$REVFS_BIN/revfs-compact" -q --purge "$FS_MNT/whole" || fs_fail "purge whole"
hb=$(getfattr --only-values -n user.revfs.history_bytes "$FS_MNT/whole" 2>/dev/null)
[ "$hb" -lt 200000 ] || fs_fail "after a purge, history_bytes says $hb"
fs_umount

# --- 4. a history budget, from the superblock ---------------------------------
FS_BACKING=$FS_TMP/budget
fs_mkfs --history-max=8M
fs_mount -o flush_ms=200
[ "$(stat_of space_history_max_bytes)" = 8388608 ] || fs_fail "the budget is not the superblock's"
stat_of keep | grep -q "all:1h" || fs_fail "stats do not show the rule: $(stat_of keep)"
head -c 2000000 /dev/urandom >"$FS_TMP/two"
for i in $(seq 1 12); do
	printf '%04d' "$i" | dd of="$FS_TMP/two" conv=notrunc status=none
	cp "$FS_TMP/two" "$FS_MNT/two" && sync "$FS_MNT/two" || fs_fail "budget: save $i"
done
i=0
until grep -q "history gave way to its budget" "$FS_TMP/revfs.log"; do
	i=$((i + 1))
	[ $i -gt 150 ] && fs_fail "history was not given back to its budget"
	sleep 0.2
done
sleep 2.5 # the figures of .revfs/stats are at most 2 s old
[ "$(stat_of space_history_bytes)" -le 8388608 ] ||
	fs_fail "history stays over its budget: $(stat_of space_history_bytes) bytes"
cmp -s "$FS_TMP/two" "$FS_MNT/two" || fs_fail "budget: the live file changed"
nv=$(ls "$FS_MNT/.revfs/history/two" | wc -l)
[ "$nv" -ge 2 ] && [ "$nv" -lt 12 ] || fs_fail "budget: $nv versions kept of 12"
echo "test_space: a budget of 8 MiB kept $nv versions of a 2 MB file," \
	"history $(($(stat_of space_history_bytes) / 1024)) KiB"
# revfs-tune shows and changes the settings; a mount takes them at its
# next mount.
"$REVFS_BIN/revfs-tune" "$FS_BACKING" >"$FS_TMP/out" || fs_fail "revfs-tune"
grep -q "history max: 8M" "$FS_TMP/out" || fs_fail "revfs-tune shows: $(cat "$FS_TMP/out")"
"$REVFS_BIN/revfs-tune" -L tuned --history-max=0 --reserve=2% "$FS_BACKING" >"$FS_TMP/out" ||
	fs_fail "revfs-tune a mounted directory"
grep -q "is mounted" "$FS_TMP/out" || fs_fail "revfs-tune did not say the mount takes it later"
fs_umount
"$REVFS_BIN/revfs-tune" "$FS_BACKING" >"$FS_TMP/out" || fs_fail "revfs-tune"
grep -q "label: *tuned" "$FS_TMP/out" && grep -q "history max: none" "$FS_TMP/out" &&
	grep -q "reserve: *2%" "$FS_TMP/out" || fs_fail "revfs-tune after a change: $(cat "$FS_TMP/out")"
"$REVFS_BIN/revfs-tune" --reserve=lots "$FS_BACKING" 2>/dev/null && fs_fail "a bad reserve was taken"
fs_mount
[ "$(stat_of space_history_max_bytes)" = 0 ] || fs_fail "the budget stays after revfs-tune"
total=$(($(stat -f -c %b "$FS_BACKING") * $(stat -f -c %S "$FS_BACKING")))
[ "$(stat_of space_reserve_bytes)" = $((total / 50)) ] ||
	fs_fail "reserve $(stat_of space_reserve_bytes), want 2% of $total"
fs_umount
"$REVFS_BIN/fsck.revfs" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck after revfs-tune: $(cat "$FS_TMP/out")"

# --- 5. a user stops at f_bavail, root does not ------------------------------
disk user 100M -m 10
if [ "$DISK_KIND" = tmpfs ]; then
	echo "test_space: no loop device: a tmpfs has no blocks reserved for root, 5. skipped"
	echo "test_space: ok"
	exit 0
fi
fs_mkfs
fs_user_add revfs_carol
chmod 755 "$FS_TMP"
fs_mount -o allow_other
mkdir "$FS_MNT/carol" && chown revfs_carol: "$FS_MNT/carol" || fs_fail "carol's directory"
CAROL="setpriv --reuid=$(id -u revfs_carol) --regid=$(id -g revfs_carol) --clear-groups"
if $CAROL dd if=/dev/zero of="$FS_MNT/carol/fill" bs=1M count=200 conv=fsync status=none \
	2>"$FS_TMP/err"; then
	fs_fail "a user wrote 200 MB on a 100 MB disk"
fi
grep -q "No space left" "$FS_TMP/err" || fs_fail "user: not ENOSPC: $(cat "$FS_TMP/err")"
root_free=$(($(stat -f -c %f "$FS_BACKING") * $(stat -f -c %S "$FS_BACKING")))
[ "$root_free" -gt 4000000 ] || fs_fail "the user's writes took root's blocks: $root_free left"
head -c 2000000 /dev/urandom >"$FS_TMP/rootfile"
cp "$FS_TMP/rootfile" "$FS_MNT/rootfile" && sync "$FS_MNT/rootfile" ||
	fs_fail "root cannot write after the user filled the disk"
cmp -s "$FS_TMP/rootfile" "$FS_MNT/rootfile" || fs_fail "root's file does not read back"
fs_umount
echo "test_space: ok"
