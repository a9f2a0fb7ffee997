#!/bin/sh
# Where the daemon's messages go: to syslog (facility daemon, "revfs[PID]")
# when it runs in the background, without debug messages; to stderr with -f
# and none to syslog; with -d to stderr with its debug messages and libfuse's
# trace of every request. As root with unshare(1) only: the syslog part runs
# in a private mount namespace whose /dev holds a test logger at /dev/log
# (tests/syslog_sink), so the machine's /dev and logs are not touched.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	echo "test_daemon_log: skipped (needs root and unshare)"
	exit 0
fi
fs_mkfs
T=$FS_TMP
unshare -m sh -c '
	set -u
	T=$1 BIN=$2 B=$3 M=$4
	trap "fusermount3 -u \"\$M\" 2>/dev/null; [ -n \"\${S:-}\" ] && kill \$S" EXIT
	wait_unlocked() {
		i=0; while ! flock -n "$B/.lock" true; do
			i=$((i + 1)); [ $i -gt 300 ] && exit 9; sleep 0.05; done
	}
	# Until the background compactor has compacted a store (a debug message).
	wait_compacted() {
		i=0; while ! grep -q "^compactions [1-9]" "$M/.revfs/stats"; do
			i=$((i + 1)); [ $i -gt 300 ] && exit 7; sleep 0.05; done
	}
	wait_mounted() {
		i=0; while ! mountpoint -q "$M"; do
			i=$((i + 1)); [ $i -gt 300 ] && exit 8; sleep 0.05; done
	}
	mkdir "$T/dev" && mount -t tmpfs tmpfs "$T/dev" || exit 10
	for n in null zero full fuse random urandom tty; do
		[ -e "/dev/$n" ] || continue
		touch "$T/dev/$n" && mount --bind "/dev/$n" "$T/dev/$n" || exit 11
	done
	"$BIN/tests/syslog_sink" "$T/dev/log" "$T/syslog" >"$T/sink.out" &
	S=$!
	i=0; while ! grep -q ready "$T/sink.out" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 200 ] && exit 12; sleep 0.05; done
	mount --rbind "$T/dev" /dev || exit 13

	# In the background: syslog, and nothing on stderr once detached.
	"$BIN/revfs" -o compact_frag=0,compact_min_mb=0 "$B" "$M" 2>"$T/bg.err" || exit 20
	echo one >"$M/f" && sync "$M/f" && echo two >>"$M/f" && sync "$M/f" || exit 21
	wait_compacted
	fusermount3 -u "$M" || exit 23
	wait_unlocked

	# -f: stderr, nothing more in syslog.
	cp "$T/syslog" "$T/syslog.bg"
	"$BIN/revfs" -f "$B" "$M" 2>"$T/fg.err" &
	P=$!
	wait_mounted
	fusermount3 -u "$M" || exit 30
	wait $P || exit 31

	# -d: stderr, with debug messages (of each compaction) and the request trace.
	"$BIN/revfs" -d -o compact_frag=0,compact_min_mb=0 "$B" "$M" 2>"$T/dbg.err" &
	P=$!
	wait_mounted
	echo three >>"$M/f" && sync "$M/f" || exit 40
	wait_compacted
	fusermount3 -u "$M" || exit 42
	wait $P || exit 43
	cp "$T/syslog" "$T/syslog.end"
' sh "$T" "$REVFS_BIN" "$FS_BACKING" "$FS_MNT"
rc=$?
[ $rc = 0 ] || fs_fail "step $rc in the private namespace failed"
# <30>: facility daemon (3 << 3), priority info (6).
grep -q "^<30>.*revfs\[[0-9]*\]: mounted $FS_BACKING on $FS_MNT" "$T/syslog.bg" ||
	fs_fail "background: no 'mounted' in syslog: $(cat "$T/syslog.bg")"
grep -q "^<30>.*revfs\[[0-9]*\]: unmounted $FS_BACKING" "$T/syslog.bg" ||
	fs_fail "background: no 'unmounted' in syslog"
grep -q "compacted inode" "$T/syslog.bg" && fs_fail "background: a debug message in syslog"
[ -s "$T/bg.err" ] && fs_fail "background: stderr: $(cat "$T/bg.err")"
cmp -s "$T/syslog.bg" "$T/syslog.end" || fs_fail "-f or -d wrote to syslog"
grep -q "^revfs: mounted $FS_BACKING" "$T/fg.err" || fs_fail "-f: no 'mounted' on stderr"
grep -q "^revfs: unmounted" "$T/fg.err" || fs_fail "-f: no 'unmounted' on stderr"
grep -q "^revfs: compacted inode" "$T/dbg.err" || fs_fail "-d: no debug message on stderr"
grep -q "unique: [0-9]*, opcode: LOOKUP" "$T/dbg.err" || fs_fail "-d: no request trace"
fs_mount
[ "$(cat "$FS_MNT/f")" = "one
two
three" ] || fs_fail "data written through the three mounts"
fs_umount
echo "test_daemon_log: ok"
