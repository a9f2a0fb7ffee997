#!/bin/sh
# Sparse files: st_blocks reports what a file really holds, not its size
# (before, a 100 MB file with 5 MB of data said 100 MB to du, and tar
# --sparse and cp copied the holes as data). Checked before the flush (the
# dirty bytes count), after it, and after a remount (the inode record keeps
# the store's live bytes); a dense file still counts all its bytes.
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
echo "test_sparse: ok"
