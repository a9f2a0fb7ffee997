#!/bin/sh
# fsck.revfs right after an unmount: the daemon still commits what is left
# ("closing" in the lock file) and fsck waits for it instead of checking a
# directory being written (or refusing -y); so does a note that names a
# mount point no longer mounted. A lock held by a mounted daemon is not
# waited for: -n warns and checks, -y refuses (exit 8).
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs
FSCK=$REVFS_BIN/fsck.revfs
L=$FS_BACKING/.lock

hold() { # hold NOTE SECONDS: the lock held by a process of ours, with NOTE in it
	printf '%s\n' "$1" >"$L"
	flock -o "$L" sleep "$2" &
	HOLDER=$!
	i=0
	while flock -n "$L" true; do
		i=$((i + 1))
		[ $i -gt 200 ] && fs_fail "the lock was not taken"
		sleep 0.01
	done
}

# A daemon committing after its unmount: waited for, quietly for 2 s,
# then saying so.
hold closing 1.5
t0=$(date +%s%N)
"$FSCK" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -n after closing: $(cat "$FS_TMP/out")"
t1=$(date +%s%N)
wait $HOLDER
grep -q "waiting for the daemon" "$FS_TMP/out" && fs_fail "fsck spoke of a wait under 2 s"
grep -q "is mounted" "$FS_TMP/out" && fs_fail "fsck took a closing daemon for a mount"
[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fs_fail "fsck did not wait for the lock"
hold closing 3
"$FSCK" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -n after closing: $(cat "$FS_TMP/out")"
wait $HOLDER
grep -q "waiting for the daemon" "$FS_TMP/out" || fs_fail "fsck did not say it waits (3 s)"
hold closing 1
"$FSCK" -y "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -y after closing: $(cat "$FS_TMP/out")"
wait $HOLDER

# A daemon whose mount is gone but which has not said "closing" yet
# (fusermount3 -u returns before the daemon notices): waited for too.
hold "pid 1 on $FS_TMP/unmounted" 1.5
t0=$(date +%s%N)
"$FSCK" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -n after an unmount: $(cat "$FS_TMP/out")"
t1=$(date +%s%N)
wait $HOLDER
grep -q "is mounted" "$FS_TMP/out" && fs_fail "fsck took an unmounted daemon for a mount"
[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fs_fail "fsck did not wait for an unmounted daemon"

# A mounted daemon (its mount point is one): not waited for.
hold "pid 1 on /" 3
t0=$(date +%s%N)
"$FSCK" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -n while mounted: $(cat "$FS_TMP/out")"
t1=$(date +%s%N)
grep -q "warning: .* is mounted" "$FS_TMP/out" || fs_fail "fsck -n while mounted: no warning"
[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fs_fail "fsck -n waited for a mounted daemon"
"$FSCK" -y "$FS_BACKING" >"$FS_TMP/out" 2>&1
[ $? = 8 ] || fs_fail "fsck -y while mounted: exit status not 8"
grep -q "is mounted (its lock is held)" "$FS_TMP/out" || fs_fail "fsck -y while mounted: message"
kill $HOLDER
wait $HOLDER 2>/dev/null

# The real thing: unmount with data still dirty, fsck at once.
fs_mount
mkdir "$FS_MNT/d"
for i in 1 2 3 4 5 6 7 8; do head -c 4000000 /dev/urandom >"$FS_MNT/d/f$i"; done
fusermount3 -u "$FS_MNT" || fs_fail "fusermount3 -u"
"$FSCK" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -n after the unmount: $(cat "$FS_TMP/out")"
grep -q "is mounted" "$FS_TMP/out" && fs_fail "fsck ran while the daemon was still committing"
grep -q " 0 problems" "$FS_TMP/out" || fs_fail "fsck -n after the unmount: $(cat "$FS_TMP/out")"
wait "$FS_PID" || fs_fail "revfs exited with an error"
FS_PID=""
echo "test_fsck_wait: ok"
