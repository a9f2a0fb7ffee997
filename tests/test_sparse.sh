#!/bin/sh
# Sparse files.
#
# st_blocks reports what a file really holds, not its size (before, a 100
# MB file with 5 MB of data said 100 MB to du, and tar --sparse and cp
# copied the holes as data). Checked before the flush (the dirty bytes
# count), after it, and after a remount (the inode record keeps the store's
# live bytes); a dense file still counts all its bytes.
#
# fallocate: punch hole and zero range (before: EOPNOTSUPP), on committed
# bytes, on bytes still dirty and on both, across page boundaries; the
# range reads as zeros, the size stays (zero range may grow it), the whole
# pages stop taking room, SEEK_HOLE finds them, the version before keeps
# its bytes, and all of it survives a remount. Collapse and insert say
# EOPNOTSUPP.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs

blocks_kib() { # st_blocks of $1, in KiB
	echo $(($(stat -c %b "$1") * $(stat -c %B "$1") / 1024))
}
between() { # NAME VALUE LOW HIGH
	[ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || fs_fail "$1: $2 KiB, expected $3..$4"
}

fs_mount
truncate -s 100M "$FS_MNT/sparse"
head -c 5M /dev/urandom >"$FS_TMP/data"
dd if="$FS_TMP/data" of="$FS_MNT/sparse" bs=1M seek=50 conv=notrunc status=none
between "sparse, dirty" "$(blocks_kib "$FS_MNT/sparse")" 5120 5300
sync "$FS_MNT/sparse"
between "sparse, committed" "$(blocks_kib "$FS_MNT/sparse")" 5120 5300
head -c 3000000 /dev/urandom >"$FS_MNT/dense" && sync "$FS_MNT/dense"
between "dense" "$(blocks_kib "$FS_MNT/dense")" 2930 3000
: >"$FS_MNT/empty" && sync "$FS_MNT/empty"
between "empty" "$(blocks_kib "$FS_MNT/empty")" 0 4
du_k=$(du -k "$FS_MNT/sparse" | cut -f1)
between "du" "$du_k" 5120 5300
# tar --sparse stores the data, not the holes.
tar --sparse -cf "$FS_TMP/s.tar" -C "$FS_MNT" sparse
between "tar --sparse" $(($(stat -c %s "$FS_TMP/s.tar") / 1024)) 5120 5400
fs_umount

fs_mount
between "sparse, remounted" "$(blocks_kib "$FS_MNT/sparse")" 5120 5300
between "dense, remounted" "$(blocks_kib "$FS_MNT/dense")" 2930 3000
cmp -n 5242880 -i 0:52428800 "$FS_TMP/data" "$FS_MNT/sparse" || fs_fail "sparse data"
fs_umount

# --- fallocate: punch hole, zero range ---------------------------------------
fs_mount
head -c 8M /dev/urandom >"$FS_TMP/p" && cp "$FS_TMP/p" "$FS_MNT/p" && sync "$FS_MNT/p"
cp "$FS_TMP/p" "$FS_TMP/want"
zero() { # OFF LEN: the reference gets zeros there (within its size)
	dd if=/dev/zero of="$FS_TMP/want" bs=1 seek="$1" count="$2" conv=notrunc status=none
}
# On committed bytes: 3 MiB and 5 bytes, from an unaligned offset.
fallocate -p -o 1000001 -l 3145733 "$FS_MNT/p" || fs_fail "punch hole"
zero 1000001 3145733
cmp "$FS_TMP/want" "$FS_MNT/p" || fs_fail "punch: before the flush"
# On dirty bytes, and across dirty and committed ones.
head -c 300000 /dev/urandom >"$FS_TMP/w"
dd if="$FS_TMP/w" of="$FS_MNT/p" bs=1 seek=5000000 conv=notrunc status=none
dd if="$FS_TMP/w" of="$FS_TMP/want" bs=1 seek=5000000 conv=notrunc status=none
fallocate -p -o 5100000 -l 100000 "$FS_MNT/p" && zero 5100000 100000
fallocate -z -o 5250000 -l 1000000 --keep-size "$FS_MNT/p" && zero 5250000 1000000
cmp "$FS_TMP/want" "$FS_MNT/p" || fs_fail "punch and zero over dirty bytes"
[ "$(stat -c %s "$FS_MNT/p")" = 8388608 ] || fs_fail "punch changed the size"
sync "$FS_MNT/p"
cmp "$FS_TMP/want" "$FS_MNT/p" || fs_fail "punch: after the flush"
# The 3 MiB hole and the 1 MB zeroed range take no room.
between "punched" "$(blocks_kib "$FS_MNT/p")" 4000 4300
# SEEK_HOLE finds the first whole page of the hole.
seek=$("$REVFS_BIN/tests/posix_ops" -s "$FS_MNT/p")
[ "$seek" = "hole 1003520 data 4145152" ] || fs_fail "SEEK_HOLE/DATA: $seek"
# Zero range past the end grows the file; punch without --keep-size and
# collapse are refused.
fallocate -z -o 8388000 -l 10000 "$FS_MNT/p" || fs_fail "zero range past the end"
zero 8388000 10000
[ "$(stat -c %s "$FS_MNT/p")" = 8398000 ] || fs_fail "zero range did not grow the file"
fallocate -c -o 0 -l 4096 "$FS_MNT/p" 2>/dev/null && fs_fail "collapse range accepted"
# The version before the holes keeps its bytes.
v=$(ls "$FS_MNT/.revfs/history/p" | head -1)
cmp "$FS_TMP/p" "$FS_MNT/.revfs/history/p/$v" || fs_fail "the first version changed"
fs_umount
fs_mount
cmp "$FS_TMP/want" "$FS_MNT/p" || fs_fail "punch: after a remount"
fs_umount
echo "test_sparse: ok"
