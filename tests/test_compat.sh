#!/bin/sh
# A vault made before stores named their identity and inode records their
# store's seq (tests/vaults/format1.tar.gz: made by mkfs.revfs and revfs of
# that release, holding notes.txt with two versions and an xattr, a
# directory tree, a symlink) mounts, reads, takes new writes and checks
# clean, and keeps its form: its superblock still has no feature bit, so the
# programs it was made with can still use it.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
tar xzf "$(dirname "$0")/vaults/format1.tar.gz" -C "$FS_TMP" || fs_fail "unpack"
rm -rf "$FS_BACKING" && mv "$FS_TMP/vault" "$FS_BACKING"

features() { # the superblock's three feature words, as 24 hex digits
	od -An -tx1 -j 12 -N 12 "$FS_BACKING/revfs.super" | tr -d ' \n'
}
[ "$(features)" = 000000000000000000000000 ] || fs_fail "the fixture has feature bits"
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck of the old vault"; }

fs_mount
printf 'first\nsecond\n' | cmp - "$FS_MNT/notes.txt" || fs_fail "notes.txt"
seq 1 2000 | cmp - "$FS_MNT/dir/sub/numbers" || fs_fail "numbers"
[ "$(readlink "$FS_MNT/link")" = notes.txt ] || fs_fail "link"
[ "$(getfattr --only-values -n user.color "$FS_MNT/notes.txt" 2>/dev/null)" = blue ] ||
	fs_fail "xattr"
[ "$(ls "$FS_MNT/.revfs/history/notes.txt" | wc -l)" = 2 ] || fs_fail "history"
echo third >>"$FS_MNT/notes.txt" && sync "$FS_MNT/notes.txt"
head -c 100000 /dev/urandom >"$FS_TMP/new" && cp "$FS_TMP/new" "$FS_MNT/new"
fs_umount
fs_mount
printf 'first\nsecond\nthird\n' | cmp - "$FS_MNT/notes.txt" || fs_fail "notes.txt after a write"
cmp "$FS_TMP/new" "$FS_MNT/new" || fs_fail "a new file in the old vault"
[ "$(ls "$FS_MNT/.revfs/history/notes.txt" | wc -l)" = 3 ] || fs_fail "history after a write"
fs_umount
[ "$(features)" = 000000000000000000000000 ] || fs_fail "the old vault got feature bits"
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck after use"; }
echo "test_compat: ok"
