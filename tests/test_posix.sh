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
fs_mount -o allow_other
# The unprivileged user must be able to walk down to both trees.
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
fs_mount -o allow_other
"$OPS" -w "$FS_MNT" >"$FS_TMP/mnt2.walk" 2>&1
compare "tree after a remount" "$FS_TMP/ref.walk" "$FS_TMP/mnt2.walk"
fs_umount

[ $fail -eq 0 ] || exit 1
echo "test_posix: ok ($(wc -l <"$FS_TMP/ref.out") lines, $(($(date +%s) - start)) s)"
