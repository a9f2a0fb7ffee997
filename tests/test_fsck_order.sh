#!/bin/sh
# fsck.revfs checks file stores in worker threads and reports them in the
# main thread: the report must not depend on which worker finished first.
# 120 files of very different sizes (so the workers finish out of order),
# two versions each; a third of the stores get a tail of junk after their
# newest header and a few a flipped byte. Then -n and -f -n run three times
# each: every run gives the same report, with the stores in inode order,
# every damaged store named, and the exit status 4; -y repairs (exit 1) and
# the next -n finds nothing.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
OUT=$FS_TMP/out

store_of() { # inode number -> its store's path
	echo "$FS_BACKING/ino/$(printf %02x $(($1 & 255)))/$1.rev"
}

fs_mkfs
fs_mount
i=0
while [ $i -lt 120 ]; do
	# Every 10th file 3 MB, the others 1 to 40 KB.
	n=$(((i % 10 == 0) ? 3000000 : 1000 + (i * 997) % 40000))
	head -c $n /dev/urandom >"$FS_MNT/f$i"
	sync "$FS_MNT/f$i"
	head -c 5000 /dev/urandom | dd of="$FS_MNT/f$i" conv=notrunc 2>/dev/null
	i=$((i + 1))
done
sync "$FS_MNT"/f*
INOS=$(for f in "$FS_MNT"/f*; do stat -c %i "$f"; done | sort -n)
fs_umount

# Damage: junk after the newest header of every third store; one byte
# flipped in the middle of every eleventh.
k=0
DAMAGED=""
for ino in $INOS; do
	s=$(store_of "$ino")
	if [ $((k % 3)) = 0 ]; then
		head -c $((100 + k)) /dev/urandom >>"$s"
		DAMAGED="$DAMAGED $ino"
	elif [ $((k % 11)) = 0 ]; then
		printf '\377' | dd of="$s" bs=1 seek=$(($(stat -c %s "$s") / 2)) conv=notrunc 2>/dev/null
	fi
	k=$((k + 1))
done

# The inode numbers of the stores the report names, in its order.
named() {
	grep -o 'ino/[0-9a-f][0-9a-f]/[0-9]*\.rev' "$1" | sed 's|.*/||; s|\.rev||'
}

for opts in -n "-f -n"; do
	r=0
	while [ $r -lt 3 ]; do
		"$FSCK" $opts "$FS_BACKING" >"$OUT.$r" 2>&1
		rc=$?
		[ $rc = 4 ] || { cat "$OUT.$r" >&2; fs_fail "fsck $opts: exit $rc, wanted 4"; }
		if [ $r -gt 0 ] && ! cmp -s "$OUT.0" "$OUT.$r"; then
			diff "$OUT.0" "$OUT.$r" >&2
			fs_fail "fsck $opts: run $r reports differently from run 0"
		fi
		r=$((r + 1))
	done
	named "$OUT.0" >"$FS_TMP/order"
	sort -n -c "$FS_TMP/order" || { cat "$OUT.0" >&2; fs_fail "fsck $opts: stores not in inode order"; }
	for ino in $DAMAGED; do
		grep -qx "$ino" "$FS_TMP/order" || { cat "$OUT.0" >&2; fs_fail "fsck $opts: store $ino not named"; }
	done
done

"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
rc=$?
[ $rc = 1 ] || { cat "$OUT" >&2; fs_fail "fsck -y: exit $rc, wanted 1"; }
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT" >&2; fs_fail "fsck -n after -y: exit $?"; }
echo "test_fsck_order: ok ($(echo $DAMAGED | wc -w) stores with a tail; stores named with -f: $(wc -l <"$FS_TMP/order"))"
