#!/bin/sh
# test_flush.sh - when the flusher commits, with a flush interval of an hour:
# a file written past 32 MiB is committed while it is written (a commit
# appears with no fsync, long before the interval), and several times
# during a long write, commits that are interim and not listed as versions
# once a later one exists; a small file waits for its fsync; the streamed
# file reads back whole after a remount.
set -u
. "$(dirname "$0")/fslib.sh"

fs_setup
fs_mkfs
fs_mount -o flush_ms=3600000

BIG=$FS_MNT/big
SMALL=$FS_MNT/small
H=$FS_MNT/.revfs/history

# versions FILE: how many versions the history lists for FILE.
versions() {
	ls "$H/$1" 2>/dev/null | wc -l
}

# 40 MiB, no fsync: the write itself starts a commit.
dd if=/dev/urandom of="$FS_TMP/big.ref" bs=1M count=100 2>/dev/null ||
	fs_fail "make the reference file"
head -c $((40 << 20)) "$FS_TMP/big.ref" >"$BIG" || fs_fail "write $BIG"
i=0
while [ "$(versions big)" -lt 1 ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fs_fail "no version of a 40 MiB file within 20 s (the interval is an hour)"
	sleep 0.1
done

# A small file written now waits: nothing kicks the flusher for it.
head -c 100000 /dev/urandom >"$SMALL" || fs_fail "write $SMALL"
sleep 1.5
[ "$(versions small)" -eq 0 ] || fs_fail "a small file was committed before its fsync or the interval"
sync "$SMALL" || fs_fail "fsync $SMALL"
[ "$(versions small)" -eq 1 ] || fs_fail "no version of $SMALL after its fsync"

# 100 MiB in one stream, no fsync: committed more than once on the way
# (the store's newest seq counts every commit), but those commits are
# interim: none is listed once a later one exists, so the history gains
# at most one entry (the newest, until the close's save replaces it).
seq() { getfattr --only-values -n user.revfs.version "$BIG" 2>/dev/null; }
n0=$(versions big) s0=$(seq)
cat "$FS_TMP/big.ref" >"$BIG" || fs_fail "rewrite $BIG"
i=0
while [ "$(seq)" -lt $((s0 + 2)) ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fs_fail "a 100 MiB write made $(($(seq) - s0)) commits, want 2 or more"
	sleep 0.1
done
[ "$(versions big)" -le $((n0 + 1)) ] ||
	fs_fail "interim commits listed: $(versions big) versions, were $n0"

fs_umount
fs_mount
cmp "$BIG" "$FS_TMP/big.ref" || fs_fail "$BIG differs after a remount"
fs_umount
echo "test_flush: ok"
