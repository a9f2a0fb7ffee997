#!/bin/sh
# test_fsx.sh - fsx (tests/fsx.c) in a revfs mount: FSX_OPS random operations
# (default 100000) by two processes on four files, checked against fsx's
# model as they go; then an unmount, a remount, and a check that the files
# are still what fsx left: the same names, contents (sha256), sizes, link
# counts and hard links.
#
#   REVFS_BIN=build sh tests/test_fsx.sh
#   FSX_OPS=2000000 sh tests/test_fsx.sh        soak
#   FSX_SEED=N FSX_ARGS="-p 3 -f 8" sh tests/test_fsx.sh
#
# The seed defaults to 1, so that a failure in CI replays as it is; fsx
# prints the command line that replays it.
set -u
. "$(dirname "$0")/fslib.sh"
. "$(dirname "$0")/fsxlib.sh"

ops=${FSX_OPS:-100000}
seed=${FSX_SEED:-1}
FSX=$REVFS_BIN/tests/fsx
[ -x "$FSX" ] || fs_fail "$FSX is not built"

# fs_cleanup passes over a mount whose daemon died (mountpoint(1) fails
# there with ENOTCONN), which would stay behind: detach it first.
fsx_cleanup() {
	if [ -n "${FS_MNT:-}" ] && ! mountpoint -q "$FS_MNT" 2>/dev/null &&
		awk -v m="$FS_MNT" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; then
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	fs_cleanup
}

fs_setup
trap fsx_cleanup EXIT
fs_mkfs
fs_mount ${FSX_MOUNT_OPTS:-}
manifest=$FS_TMP/manifest

# A hang fails too, rather than holding up the run: the limit is generous
# and grows with the number of ops.
# shellcheck disable=SC2086 # FSX_ARGS is a list of options
timeout -k 10 $((120 + ops / 200)) \
	"$FSX" -n "$ops" -s "$seed" -o "$manifest" ${FSX_ARGS:-} "$FS_MNT"
status=$?
if [ $status -ne 0 ]; then
	echo "--- revfs log (last 50 lines)" >&2
	tail -n 50 "$FS_TMP/revfs.log" >&2
	[ $status -eq 124 ] || [ $status -eq 137 ] && fs_fail "fsx -s $seed -n $ops timed out"
	fs_fail "fsx -s $seed -n $ops ${FSX_ARGS:-} (details above)"
fi

if [ -n "${FSX_MIN_COMPACTIONS:-}" ]; then
	n=$(sed -n 's/^compactions //p' "$FS_MNT/.revfs/stats")
	[ "${n:-0}" -ge "$FSX_MIN_COMPACTIONS" ] ||
		fs_fail "only ${n:-0} compactions ran during fsx (want $FSX_MIN_COMPACTIONS)"
	grep -q '^compaction_failures 0$' "$FS_MNT/.revfs/stats" ||
		fs_fail "compactions failed during fsx: $(cat "$FS_MNT/.revfs/stats")"
	echo "fsx: $n compactions ran meanwhile"
fi
fs_umount
fs_mount
fsx_check_manifest "$manifest" "$FS_MNT"
fs_umount
echo "PASS: fsx, $ops ops, seed $seed, files intact after remount"
