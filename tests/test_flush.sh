#!/bin/sh
# test_flush.sh - when the flusher commits, with a flush interval of an hour:
# a file written past 32 MiB is committed while it is written (a commit
# appears with no fsync, long before the interval), and several times
# during a long write, commits that are interim and not listed as versions
# once a later one exists; a small file waits for its fsync; the streamed
# file reads back whole after a remount; an fsync beside a stream waits
# for none of its rounds.
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

# An fsync beside a stream commits its own file beside the flusher's
# rounds, which commit the stream 32 MiB at a time, back to back: it waits
# for none of them. When a round has its file, it waits for that file's
# commit, which the round makes first, apart from the stream's. Each fsync
# is counted (flush_fsync_batch_files, flush_fsync_round_waits), and at
# most one in 100 (what the disk may delay) takes half a round. (When an
# fsync that came during a round waited for the next one, 34 and 35 of
# 1000 took that long, and the mean fsync was four times as long.)
rstat() { awk -v k="$1" '$1 == k { print $2 }' "$FS_MNT/.revfs/stats"; }
STOP=$FS_TMP/stream.stop
(
	while [ ! -e "$STOP" ]; do
		dd if=/dev/zero of="$BIG" bs=1M count=96 conv=notrunc status=none || exit
	done
) &
spid=$!
stream_fail() {
	: >"$STOP"
	wait $spid
	fs_fail "$@"
}
r0=$(rstat flush_busy_rounds) t0=$(rstat flush_round_total_us)
i=0
while [ "$(rstat flush_busy_rounds)" -lt $((r0 + 3)) ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && stream_fail "the stream started no round in 30 s"
	sleep 0.1
done
r1=$(rstat flush_busy_rounds) t1=$(rstat flush_round_total_us)
slow=$(((t1 - t0) / (r1 - r0) / 2))
f0=$(rstat flush_fsync_batch_files) w0=$(rstat flush_fsync_round_waits)
# Sets of 1000 until the stream's rounds ran beside at least 4 times (a
# round under TSan takes a third of a second).
n=0 nslow=0 sets=0
while [ $sets -lt 4 ] && [ $(($(rstat flush_busy_rounds) - r1)) -lt 4 ]; do
	out=$("$REVFS_BIN/tests/appender" sync "$FS_MNT/log" 1000 $slow) ||
		stream_fail "appender sync: $out"
	echo "test_flush: 1000 fsyncs beside a stream: $out (slow: over $slow us, half a round)"
	n=$((n + 1000)) nslow=$((nslow + ${out##*fsync_slow=})) sets=$((sets + 1))
done
rounds=$(($(rstat flush_busy_rounds) - r1))
files=$(($(rstat flush_fsync_batch_files) - f0)) waits=$(($(rstat flush_fsync_round_waits) - w0))
: >"$STOP"
wait $spid
echo "test_flush: $n fsyncs beside $rounds rounds: $files committed in fsync batches," \
	"$waits waited for a round, $nslow took half a round"
[ "$rounds" -ge 2 ] || fs_fail "the stream made $rounds rounds while the fsyncs ran, want 2 or more"
[ $((files + waits)) -ge $n ] ||
	fs_fail "$files fsyncs committed in batches and $waits waited for a round: $((n - files - waits)) went another way"
[ $((waits * 10)) -le $n ] || fs_fail "$waits of $n fsyncs waited for a round, want a tenth at most"
[ "$nslow" -le $((n / 100)) ] || fs_fail "$nslow of $n fsyncs took over half a round"
fs_umount
echo "test_flush: ok"
