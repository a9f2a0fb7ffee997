#!/bin/sh
# POSIX behaviour against the backing filesystem: runs the posix_ops battery
# in a plain directory and in a revfs mount and fails, showing the diff, if
# the two transcripts differ in anything (results, errno names, normalized
# stat). A second part runs permission cases as an unprivileged user
# (EACCES/EPERM under default_permissions, chown rules, setuid/setgid
# cleared), in a world-writable directory that root prepared.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup

OPS=$REVFS_BIN/tests/posix_ops
[ -x "$OPS" ] || fs_fail "$OPS not built"
if [ "$(id -u)" -ne 0 ]; then
	echo "test_posix: SKIP (needs root: chown, mknod, setpriv)"
	exit 0
fi
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

fs_mkfs
fs_mount -o allow_other,writeback=0
# The unprivileged user must be able to walk down to both trees.
#
# The daemon's own semantics are compared with the kernel's writeback
# cache off (the default), where every operation reaches it. Then the
# battery runs again with the cache on (-o writeback=1), where the kernel keeps times and
# pages itself: the same transcript, except where that kernel's FUSE
# writeback cache differs from ext4 (a read served from its cache does not
# update atime; truncate(2) to the same size leaves the times).
chmod 0711 "$FS_TMP"
mkdir "$FS_TMP/ref"

# transcript ROOT OUT: the whole battery as root, then the user part.
transcript() {
	mkdir "$1/all" "$1/perm" || return 1
	chmod 0777 "$1/perm" || return 1
	"$OPS" "$1/all" >"$2" 2>&1 || {
		echo "posix_ops exited $?" >>"$2"
		return 1
	}
	"$OPS" -p "$1/perm" >>"$2" 2>&1 || {
		echo "posix_ops -p exited $?" >>"$2"
		return 1
	}
	$NOBODY "$OPS" -u "$1/perm" >>"$2" 2>&1 || {
		echo "posix_ops -u exited $?" >>"$2"
		return 1
	}
}

start=$(date +%s)
transcript "$FS_TMP/ref" "$FS_TMP/ref.out" ||
	fs_fail "posix_ops on the reference directory: $(tail -3 "$FS_TMP/ref.out")"
transcript "$FS_MNT" "$FS_TMP/mnt.out"
rc=$?

fail=0
compare() { # compare WHAT REF OUT
	if ! diff -u "$2" "$3" >"$FS_TMP/diff"; then
		echo "test_posix: $1: revfs differs from the reference (- reference, + revfs):" >&2
		cat "$FS_TMP/diff" >&2
		fail=1
	fi
}
compare "battery" "$FS_TMP/ref.out" "$FS_TMP/mnt.out"
[ $rc -eq 0 ] || {
	echo "test_posix: posix_ops on revfs did not run to the end" >&2
	fail=1
}

# What the battery left behind, before and after a remount: nothing may
# live only in the kernel's caches or the daemon's memory.
"$OPS" -w "$FS_TMP/ref" >"$FS_TMP/ref.walk" 2>&1 || fs_fail "posix_ops -w on the reference"
"$OPS" -w "$FS_MNT" >"$FS_TMP/mnt.walk" 2>&1
compare "tree after the battery" "$FS_TMP/ref.walk" "$FS_TMP/mnt.walk"
fs_umount
fs_mount -o allow_other,writeback=0
"$OPS" -w "$FS_MNT" >"$FS_TMP/mnt2.walk" 2>&1
compare "tree after a remount" "$FS_TMP/ref.walk" "$FS_TMP/mnt2.walk"
fs_umount

# With the writeback cache: a fresh vault, the same battery; what differs
# must be one of the known differences, line for line.
fs_mkfs -f
fs_mount -o allow_other,writeback=1
grep -q "^writeback pushed" "$FS_MNT/.revfs/stats" || fs_fail "the writeback cache is not on"
transcript "$FS_MNT" "$FS_TMP/wb.out" || fail=1
diff "$FS_TMP/ref.out" "$FS_TMP/wb.out" | grep '^[<>]' | grep -v -x -F \
	-e '< times: times f = atime now mtime set' -e '> times: times f = atime set mtime set' \
	-e '< truncate: mtime f = now' -e '> truncate: mtime f = unchanged' \
	-e '< truncate: ctime changed f = yes' -e '> truncate: ctime changed f = no' \
	>"$FS_TMP/wb.diff"
if [ -s "$FS_TMP/wb.diff" ]; then
	echo "test_posix: with the writeback cache, revfs differs from the reference (< reference, > revfs):" >&2
	cat "$FS_TMP/wb.diff" >&2
	fail=1
fi
[ "$(diff "$FS_TMP/ref.out" "$FS_TMP/wb.out" | grep -c '^[<>]')" -le 6 ] ||
	{ echo "test_posix: with the writeback cache: more differences than the known ones" >&2; fail=1; }
"$OPS" -w "$FS_MNT" >"$FS_TMP/wb.walk" 2>&1
compare "tree with the writeback cache" "$FS_TMP/ref.walk" "$FS_TMP/wb.walk"
fs_umount
fs_mount -o allow_other,writeback=1
"$OPS" -w "$FS_MNT" >"$FS_TMP/wb2.walk" 2>&1
compare "tree with the writeback cache, after a remount" "$FS_TMP/ref.walk" "$FS_TMP/wb2.walk"
fs_umount

[ $fail -eq 0 ] || exit 1
echo "test_posix: ok ($(wc -l <"$FS_TMP/ref.out") lines, $(($(date +%s) - start)) s)"
