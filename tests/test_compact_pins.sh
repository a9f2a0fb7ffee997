#!/bin/sh
# revfs-compact on an unmounted backing directory keeps pinned versions
# (setfattr -n user.revfs.pin), whatever --keep says: with --keep=latest only
# the newest version and the pinned ones are left, and they read back whole.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs
fs_mount
for v in one two three four; do
	echo "$v" >"$FS_MNT/notes.txt" && sync "$FS_MNT/notes.txt" || fs_fail "write $v"
done
echo other >"$FS_MNT/other" && sync "$FS_MNT/other" || fs_fail "write other"
echo other2 >"$FS_MNT/other" && sync "$FS_MNT/other" || fs_fail "write other2"
H=$FS_MNT/.revfs/history/notes.txt
first=$(ls "$H" | sort | head -1)
second=$(ls "$H" | sort | sed -n 2p)
[ "$(cat "$H/$first")" = one ] && [ "$(cat "$H/$second")" = two ] || fs_fail "history before"
setfattr -n user.revfs.pin -v "$second" "$FS_MNT/notes.txt" || fs_fail "pin"
nbefore=$(ls "$H" | wc -l)
fs_umount

"$REVFS_BIN/revfs-compact" -q --keep=latest "$FS_BACKING" || fs_fail "revfs-compact --keep=latest"

fs_mount
left=$(ls "$H" | sort | tr '\n' ' ')
[ "$(ls "$H" | wc -l)" -lt "$nbefore" ] || fs_fail "nothing dropped: $left"
[ -f "$H/$second" ] || fs_fail "the pinned version $second was dropped: $left"
[ "$(cat "$H/$second")" = two ] || fs_fail "the pinned version reads wrong"
[ -f "$H/$first" ] && fs_fail "an unpinned old version survived --keep=latest: $left"
[ "$(cat "$FS_MNT/notes.txt")" = four ] || fs_fail "the newest content changed"
[ "$(ls "$FS_MNT/.revfs/history/other" | wc -l)" = 1 ] || fs_fail "other: not only its newest"
[ "$(cat "$FS_MNT/other")" = other2 ] || fs_fail "other: content"
fs_umount
echo "test_compact_pins: ok"
