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

# A vault of the release that brought lineages, before versions kept their
# attributes (tests/vaults/lineage1.tar.gz: f saved three times, twice by
# an atomic save; g twice and given an xattr): its lineage records (form 1)
# read as they are, new ones are written in that form, and its stores get
# no attributes, so that release's programs can still write it.
rm -rf "$FS_BACKING"
tar xzf "$(dirname "$0")/vaults/lineage1.tar.gz" -C "$FS_TMP" || fs_fail "unpack lineage1"
mv "$FS_TMP/vault" "$FS_BACKING"
[ "$(features)" = 00000000000000000000000a ] || fs_fail "lineage1: features $(features)"
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck of lineage1"; }
fs_mount
H=$FS_MNT/.revfs/history
[ "$(cat "$H"/f/* | tr '\n' ' ')" = "one two three " ] || fs_fail "lineage1: f's history"
ls -l "$H/f" >/dev/null || fs_fail "lineage1: ls -l of f's history"
[ "$(cat "$H"/g/* | tr '\n' ' ')" = "g1 g2 " ] || fs_fail "lineage1: g's history"
printf 'four\n' >"$FS_MNT/.f.tmp" && mv "$FS_MNT/.f.tmp" "$FS_MNT/f" && sync "$FS_MNT/f"
echo g3 >"$FS_MNT/g" && sync "$FS_MNT/g"
fs_umount
fs_mount
[ "$(cat "$H"/f/* | tr '\n' ' ')" = "one two three four " ] || fs_fail "lineage1: f after a save"
[ "$(cat "$H"/g/* | tr '\n' ' ')" = "g1 g2 g3 " ] || fs_fail "lineage1: g after a save"
fs_umount
[ "$(features)" = 00000000000000000000000a ] || fs_fail "lineage1 got feature bits: $(features)"
# No store took the attributes feature nor one-sync commits: in every
# header block (marker 01), ro_compat (payload bytes 12..15, block bytes
# 21..24) is 1 and incompat (block bytes 25..28) is 0.
for s in "$FS_BACKING"/ino/*/*.rev; do
	b=0
	while [ $((b * 4096)) -lt "$(stat -c %s "$s")" ]; do
		if [ "$(od -An -tx1 -j $((b * 4096)) -N 1 "$s" | tr -d ' ')" = 01 ]; then
			rc=$(od -An -tx1 -j $((b * 4096 + 21)) -N 8 "$s" | tr -d ' ')
			[ "$rc" = 0000000100000000 ] ||
				fs_fail "lineage1: $s block $b has ro_compat, incompat $rc"
		fi
		b=$((b + 1))
	done
done
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck of lineage1 after use"; }

# revfs-tune --one-sync turns one-sync commits on for such a vault: the
# superblock gets incompat 0x20, new commits are one-sync headers
# (incompat 0x1), the old ones stay, and all of it reads and checks clean.
"$REVFS_BIN/revfs-tune" --one-sync "$FS_BACKING" >"$FS_TMP/out" || fs_fail "revfs-tune --one-sync"
grep -q "commits: *one sync" "$FS_TMP/out" || fs_fail "revfs-tune: $(cat "$FS_TMP/out")"
[ "$(features)" = 00000000000000000000002a ] || fs_fail "one-sync: features $(features)"
fs_mount
echo g4 >>"$FS_MNT/g" && sync "$FS_MNT/g"
fs_umount
fs_mount
[ "$(cat "$H"/g/* | tr '\n' ' ')" = "g1 g2 g3 g3 g4 " ] || fs_fail "one-sync: g's history: $(cat "$H"/g/*)"
fs_umount
g=$(ls -t "$FS_BACKING"/ino/*/*.rev | head -n 1)
last=$("$REVFS_BIN/tests/fsck_damage" versions "$g" | awk 'NR == 1 {print $2}')
[ "$(od -An -tx1 -j $((last + 25)) -N 4 "$g" | tr -d ' ')" = 00000001 ] ||
	fs_fail "one-sync: the newest commit of $g is not a one-sync commit"
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck after one-sync"; }

# revfs-tune --inline keeps small files in their headers from then on:
# superblock incompat 0x4; a new small file is one block whose one
# header (at offset 0) has incompat 0x4; an old store truncated and
# written goes inline too (incompat 0x5, one-sync as well); its history
# reads whole.
"$REVFS_BIN/revfs-tune" --inline "$FS_BACKING" >"$FS_TMP/out" || fs_fail "revfs-tune --inline"
grep -q "small files: *inline" "$FS_TMP/out" || fs_fail "revfs-tune: $(cat "$FS_TMP/out")"
[ "$(features)" = 00000000000000000000002e ] || fs_fail "inline: features $(features)"
fs_mount
echo g5 >"$FS_MNT/g" && sync "$FS_MNT/g"
echo h1 >"$FS_MNT/h" && sync "$FS_MNT/h"
fs_umount
fs_mount
[ "$(cat "$H"/g/* | tr '\n' ' ')" = "g1 g2 g3 g3 g4 g5 " ] || fs_fail "inline: g's history: $(cat "$H"/g/*)"
[ "$(cat "$FS_MNT/h")" = h1 ] || fs_fail "inline: h reads $(cat "$FS_MNT/h")"
hino=$(stat -c %i "$FS_MNT/h")
fs_umount
hs=$(ls "$FS_BACKING"/ino/*/"$hino".rev)
[ "$(stat -c %s "$hs")" -le 4096 ] || fs_fail "inline: h's store is $(stat -c %s "$hs") bytes"
[ "$(od -An -tx1 -j 25 -N 4 "$hs" | tr -d ' ')" = 00000005 ] ||
	fs_fail "inline: h's header at 0 has incompat $(od -An -tx1 -j 25 -N 4 "$hs")"
last=$("$REVFS_BIN/tests/fsck_damage" versions "$g" | awk 'NR == 1 {print $2}')
[ "$(od -An -tx1 -j $((last + 25)) -N 4 "$g" | tr -d ' ')" = 00000005 ] ||
	fs_fail "inline: the newest commit of $g is not inline"
"$FSCK" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || { cat "$FS_TMP/out"; fs_fail "fsck after inline"; }
echo "test_compat: ok"
