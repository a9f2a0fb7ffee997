#!/bin/sh
# Damage reads as damage: stores that lost their newest versions while the
# daemon was stopped (the last 4 KiB zeroed, the newest header cut off, the
# store emptied, deleted, or its only header torn, a byte of the newest
# commit flipped, which a one-sync commit's checksum finds but which must
# not pass for a commit a crash tore), and a copy of a header
# that a damaged marker exposes. Before the namespace carried each store's
# newest seq, these files read as an older version (padded with NUL bytes
# to the namespace's size) or as an empty file, and the torn store was
# removed at mount; the forged header made the file roll back.
#
# Each case: reads and writes of the file fail with EIO and the daemon's
# log names it; nothing is committed on top (the store's bytes stay as the
# damage left them); fsck.revfs -n reports the expected problem; fsck -y
# repairs (exit 1), a second fsck finds nothing (exit 0); the mount then
# serves what the store really holds, and the undamaged file is intact.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
DMG=$REVFS_BIN/tests/fsck_damage
OUT=$FS_TMP/out

store_of() { # file in the mount -> its store's path
	i=$(stat -c %i "$1")
	echo "$FS_BACKING/ino/$(printf %02x $((i & 255)))/$i.rev"
}

newest_header() { # store -> offset of its newest header
	"$DMG" versions "$1" | awk 'NR == 1 {print $2}'
}

fs_mkfs
fs_mount -o compact=0
head -c 5000000 /dev/urandom >"$FS_TMP/v1"
head -c 6000 /dev/urandom >"$FS_TMP/v2"
for f in zeroed cut emptied deleted forged flipped ok; do
	cp "$FS_TMP/v1" "$FS_MNT/$f" && sync "$FS_MNT/$f"
	cat "$FS_TMP/v2" >>"$FS_MNT/$f" && sync "$FS_MNT/$f"
done
head -c 5000 /dev/urandom >"$FS_MNT/torn" && sync "$FS_MNT/torn"
cat "$FS_TMP/v1" "$FS_TMP/v2" >"$FS_TMP/v12"
for f in zeroed cut emptied deleted forged flipped torn ok; do
	eval "S_$f=\$(store_of \"\$FS_MNT/\$f\")"
	eval "I_$f=\$(stat -c %i \"\$FS_MNT/\$f\")"
done
fs_umount

# The damage, with the daemon stopped.
size=$(stat -c %s "$S_zeroed")
dd if=/dev/zero of="$S_zeroed" bs=1 seek=$((size - 4096)) count=4096 conv=notrunc status=none
truncate -s $(($(newest_header "$S_cut") + 1)) "$S_cut"
: >"$S_emptied"
rm "$S_deleted"
truncate -s $(($(newest_header "$S_torn") + 60)) "$S_torn"
at=$(($(newest_header "$S_flipped") - 3000)) # the appended data, in its region
b=$(dd if="$S_flipped" bs=1 skip=$at count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf %03o $((b ^ 1)))" | dd of="$S_flipped" bs=1 seek=$at conv=notrunc status=none
flipped_sum=$(cksum <"$S_flipped")
torn_size=$(stat -c %s "$S_torn")
# The forgery: a copy of the store's own first header, in a block after its
# newest commit, behind a marker that reads "header" (one bit flipped).
first=$("$DMG" versions "$S_forged" | awk 'END {print $2}')
end=$(stat -c %s "$S_forged")
blk=$(((end + 4095) / 4096 * 4096))
truncate -s "$blk" "$S_forged"
printf '\001' >>"$S_forged"
dd if="$S_forged" bs=1 skip=$((first + 1)) count=136 status=none >>"$FS_TMP/hdr"
cat "$FS_TMP/hdr" >>"$S_forged"
forged_size=$(stat -c %s "$S_forged")

fs_mount -o compact=0
for f in zeroed cut emptied deleted torn forged flipped; do
	cat "$FS_MNT/$f" >/dev/null 2>"$OUT" && fs_fail "$f: read as data"
	grep -q "Input/output error" "$OUT" || fs_fail "$f: read: $(cat "$OUT")"
	(echo more >>"$FS_MNT/$f") 2>"$OUT" && fs_fail "$f: appended to"
	grep -q "Input/output error" "$OUT" || fs_fail "$f: append: $(cat "$OUT")"
	truncate -s 10 "$FS_MNT/$f" 2>"$OUT" && fs_fail "$f: truncated"
	grep -q "Input/output error" "$OUT" || fs_fail "$f: truncate: $(cat "$OUT")"
	eval "i=\$I_$f"
	grep -q "inode $i: .*fsck.revfs repairs it" "$FS_TMP/revfs.log" ||
		fs_fail "$f: no log line: $(cat "$FS_TMP/revfs.log")"
done
cmp "$FS_TMP/v12" "$FS_MNT/ok" || fs_fail "the undamaged file"
fs_umount
# Nothing was committed on top, nothing cut or removed.
[ "$(stat -c %s "$S_torn")" = "$torn_size" ] || fs_fail "the torn store was changed"
[ "$(stat -c %s "$S_forged")" = "$forged_size" ] || fs_fail "the forged store was changed"
[ "$(cksum <"$S_flipped")" = "$flipped_sum" ] || fs_fail "the flipped store was changed"
[ ! -e "$S_deleted" ] || fs_fail "the deleted store was made again"
[ ! -s "$S_emptied" ] || fs_fail "the emptied store was written"

"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] || { cat "$OUT"; fs_fail "fsck -n: exit not 4"; }
expect() { # CODE INODE: fsck reported problem CODE about inode INODE
	grep -q "^\[$1\] .*\(inode $2\|/$2\.rev\)" "$OUT" || { cat "$OUT"; fs_fail "no [$1] for inode $2"; }
}
expect 323 "$I_zeroed"
expect 323 "$I_cut"
expect 313 "$I_deleted"
expect 205 "$I_emptied"
expect 204 "$I_torn"
expect 201 "$I_forged"
expect 323 "$I_flipped"
grep -q "^\[203\] .*/$I_flipped\.rev: .*do not match its checksum" "$OUT" ||
	{ cat "$OUT"; fs_fail "flipped: the commit not named"; }
grep -q "inode $I_ok\b" "$OUT" && fs_fail "the undamaged file reported"
"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
[ $? = 1 ] || { cat "$OUT"; fs_fail "fsck -y: exit not 1"; }
# A store removed as empty, or rebuilt from nothing, leaves its file empty.
expect 313 "$I_emptied"
grep -q "^\[323\] inode $I_torn\b\|^\[313\] inode $I_torn\b" "$OUT" ||
	{ cat "$OUT"; fs_fail "torn: record not repaired"; }
"$FSCK" -f -n "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT"; fs_fail "second fsck: exit $?"; }

# What the stores really hold: the first version, or nothing.
fs_mount
for f in zeroed cut flipped; do
	cmp "$FS_TMP/v1" "$FS_MNT/$f" || fs_fail "$f: not its first version after repair"
done
for f in emptied deleted torn; do
	[ "$(stat -c %s "$FS_MNT/$f")" = 0 ] || fs_fail "$f: not empty after repair"
done
cmp "$FS_TMP/v12" "$FS_MNT/forged" || fs_fail "forged: newest version lost"
[ "$(ls "$FS_MNT/.revfs/history/forged" | wc -l)" = 2 ] || fs_fail "forged: history"
echo again >>"$FS_MNT/zeroed" || fs_fail "zeroed: write after repair"
cmp "$FS_TMP/v12" "$FS_MNT/ok" || fs_fail "the undamaged file"
fs_umount

# The whole vault rolled back (a namespace older than the last unmount left,
# as a stale client of a distributed filesystem shows it, or a restore of
# part of the directory): fsck reports 326 and changes nothing, a mount
# waits -o fence_wait_s, then refuses and writes nothing; once the storage
# shows the vault again, both are content. A missing fence (327) is
# written anew.
cp "$FS_BACKING/ns.rev" "$FS_TMP/ns.now"
cp "$FS_BACKING/revfs.fence" "$FS_TMP/fence.now"
fs_mount
echo later >"$FS_MNT/later" && sync "$FS_MNT/later"
fs_umount
cp "$FS_BACKING/ns.rev" "$FS_TMP/ns.later"
cp "$FS_TMP/ns.now" "$FS_BACKING/ns.rev"
"$FSCK" -f -y "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] || fs_fail "rolled back: fsck exit $?: $(cat "$OUT")"
grep -q "^\[326\] ns.rev" "$OUT" || fs_fail "rolled back: no 326: $(cat "$OUT")"
cmp -s "$FS_TMP/ns.now" "$FS_BACKING/ns.rev" || fs_fail "rolled back: fsck changed the namespace"
t0=$(date +%s)
"$REVFS_BIN/revfs" -o fence_wait_s=2 "$FS_BACKING" "$FS_MNT" 2>"$OUT" &&
	fs_fail "rolled back: mounted"
[ $(($(date +%s) - t0)) -ge 2 ] || fs_fail "rolled back: refused without waiting"
grep -q "older view of the vault" "$OUT" || fs_fail "rolled back: mount said: $(cat "$OUT")"
cmp -s "$FS_TMP/ns.now" "$FS_BACKING/ns.rev" || fs_fail "rolled back: the mount wrote"
cp "$FS_TMP/ns.later" "$FS_BACKING/ns.rev"
rm "$FS_BACKING/revfs.fence"
"$FSCK" -f -y "$FS_BACKING" >"$OUT" 2>&1
[ $? = 1 ] && grep -q "^\[327\]" "$OUT" || fs_fail "no fence: $(cat "$OUT")"
"$FSCK" -f -n "$FS_BACKING" >"$OUT" 2>&1 || fs_fail "after the fence was written: $(cat "$OUT")"
fs_mount
[ "$(cat "$FS_MNT/later")" = later ] || fs_fail "the vault back as it was"

# After an unclean end, too: the fence follows the namespace's commits (at
# most once a flush interval), not only the mount's first one. A namespace
# of the mount's start is older than the fence once the mount committed
# and the fence thread recorded it.
cp "$FS_BACKING/ns.rev" "$FS_TMP/ns.start"
before=$(sed -n 's/^fence_writes //p' "$FS_MNT/.revfs/stats")
echo sooner >"$FS_MNT/sooner" && sync "$FS_MNT/sooner"
n=0
while [ "$(sed -n 's/^fence_writes //p' "$FS_MNT/.revfs/stats")" = "$before" ]; do
	n=$((n + 1))
	[ $n -le 100 ] || fs_fail "the fence did not follow a namespace commit in 5 s"
	sleep 0.05
done
fs_kill
cp "$FS_BACKING/ns.rev" "$FS_TMP/ns.later"
cp "$FS_TMP/ns.start" "$FS_BACKING/ns.rev"
"$FSCK" -f -n "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] && grep -q "^\[326\] ns.rev" "$OUT" ||
	fs_fail "rolled back after a kill: fsck: $(cat "$OUT")"
"$REVFS_BIN/revfs" -o fence_wait_s=1 "$FS_BACKING" "$FS_MNT" 2>"$OUT" &&
	fs_fail "rolled back after a kill: mounted"
grep -q "older view of the vault" "$OUT" || fs_fail "rolled back after a kill: $(cat "$OUT")"
cp "$FS_TMP/ns.later" "$FS_BACKING/ns.rev"
fs_mount
[ "$(cat "$FS_MNT/sooner")" = sooner ] || fs_fail "after a kill: the vault back as it was"
fs_umount
echo "test_damage: ok"
