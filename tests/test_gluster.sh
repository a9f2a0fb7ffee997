#!/bin/sh
# A vault on GlusterFS, mounted through two clients (issue: past one
# machine). The test starts glusterd (unless one runs already), makes a
# one-brick volume on this machine's hostname, mounts it twice, and always
# takes all of it down again (trap): revfs mounts, both clients, the
# volume, and the glusterd it started, by its pid.
#
#   - a second revfs mount through the other client is refused; the log
#     warns of the client's caching with the default settings only;
#   - 40 fast failovers with Gluster's default settings: unmount through
#     one client, mount through the other at once, every fsynced line of
#     a log there (before the fence, about every other one lost lines);
#   - 40 with the strict settings (performance caches off, no FUSE
#     attribute or entry caching): revfs sees the client cache nothing
#     and does not wait;
#   - 10 kills (-9) of the daemon, each remounted through the other client;
#   - the crash test's writer (tests/crash_writer: many files, renames,
#     fsyncs, every fsynced byte checked) killed with the daemon at random
#     moments, GLUSTER_CRASH_ITERS times (default 8), each check mounted
#     through the other client;
#   - the machine lost: the daemon killed and its client gone (umount -l),
#     then a mount through the other client: how long, nothing lost;
#   - fsck.revfs finds the vault clean.
set -u
. "$(dirname "$0")/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "test_gluster: SKIP (needs root)"; exit 0; }
. "$(dirname "$0")/glusterlib.sh"
. "$(dirname "$0")/crashlib.sh"
fs_setup
gl_start
crash_vars gluster
trap 'crash_stop_writer; gl_cleanup' EXIT

V1=$G/c1/vault V2=$G/c2/vault
FS_BACKING=$V1
fs_mkfs
: >"$FS_TMP/want"
round=0
# One round: mount through client $1 with revfs options $2, check the log
# holds every line fsynced before, append and fsync three more, unmount.
failover() {
	round=$((round + 1))
	FS_BACKING=$G/c$1/vault
	fs_mount ${2:+-o "$2"}
	cmp -s "$FS_TMP/want" "$FS_MNT/log" ||
		fs_fail "round $round ($3): the log has $(wc -l <"$FS_MNT/log") lines, want $(wc -l <"$FS_TMP/want")"
	for l in 1 2 3; do
		echo "round $round line $l" >>"$FS_MNT/log" &&
			dd if=/dev/null of="$FS_MNT/log" oflag=append conv=notrunc,fsync status=none ||
			fs_fail "round $round: append"
		echo "round $round line $l" >>"$FS_TMP/want"
	done
}
touch "$FS_TMP/want"
FS_BACKING=$V1
fs_mount
: >"$FS_MNT/log"
# Two mounts at once: the flock holds across the clients.
mkdir "$FS_TMP/mnt2"
if "$REVFS_BIN/revfs" "$V2" "$FS_TMP/mnt2" 2>"$FS_TMP/second"; then
	fusermount3 -u "$FS_TMP/mnt2"
	fs_fail "a second mount through the other client was let in"
fi
grep -q "in use\|mounted" "$FS_TMP/second" || fs_fail "second mount: $(cat "$FS_TMP/second")"
fs_umount

# Gluster's default settings: revfs waits for the client's caches.
t0=$(date +%s.%N)
for i in $(seq 1 40); do
	failover $((i % 2 + 1)) "" default
	fs_umount
done
t1=$(date +%s.%N)
# The warning names what to change: the mount's and the volume's options.
grep "caches what revfs reads" "$FS_TMP/revfs.log" | tail -1 >"$FS_TMP/warn"
for w in attribute-timeout=0 entry-timeout=0 performance.quick-read performance.write-behind \
	performance.stat-prefetch; do
	grep -q "$w" "$FS_TMP/warn" || fs_fail "the caching warning does not name $w: $(cat "$FS_TMP/warn")"
done
echo "test_gluster: 40 failovers with default settings, nothing lost" \
	"($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 40 }') s a round)"

# Kills: the daemon dies with its fsynced lines in the stores only.
for i in $(seq 1 10); do
	failover $((i % 2 + 1)) "" "kill"
	fs_kill
done
failover 1 "" "after the kills"
fs_umount
echo "test_gluster: 10 kills, each remounted through the other client, nothing lost"

# The fsync contract across clients, with the crash test's writer.
ITERS=${GLUSTER_CRASH_ITERS:-8}
FS_BACKING=$V1
fs_mount
crash_init
iter=1
while [ "$iter" -le "$ITERS" ]; do
	ms=$(rnd 50 800)
	crash_kill_after "$ms"
	FS_BACKING=$G/c$((iter % 2 + 1))/vault
	crash_check
	iter=$((iter + 1))
done
crash_final
echo "test_gluster: $ITERS kills of the crash test's writer, each checked through the" \
	"other client, nothing fsynced lost (CRASH_SEED=$SEED)"

# The strict settings: no client caching, and no settling wait.
gl_strict
: >"$FS_TMP/revfs.log"
t0=$(date +%s.%N)
for i in $(seq 1 40); do
	failover $((i % 2 + 1)) "" strict
	fs_umount
done
t1=$(date +%s.%N)
grep -q "caches what revfs reads" "$FS_TMP/revfs.log" &&
	fs_fail "warned of caching with the client's caches off"
grep -q "this client caches nothing, so it waits 0 ms" "$FS_TMP/revfs.log" ||
	fs_fail "the strict settings were not seen: $(grep 'is on glusterfs' "$FS_TMP/revfs.log" | tail -1)"
echo "test_gluster: 40 failovers with the strict settings, nothing lost" \
	"($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 40 }') s a round)"

# The machine lost: the daemon killed and client 1 gone with it.
failover 1 "" "before the loss"
kill -9 "$FS_PID"
fs_reap "$FS_PID" || fs_fail "a daemon killed with SIGKILL did not end"
FS_PID=""
umount -l "$G/c1"
fusermount3 -uz "$FS_MNT" 2>/dev/null
t0=$(date +%s.%N)
failover 2 "" "the machine lost"
t1=$(date +%s.%N)
echo "test_gluster: the first machine lost: mounted through the other client in" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, nothing lost"
fs_umount
"$REVFS_BIN/fsck.revfs" -f -n "$V2" >"$FS_TMP/out" 2>&1 || fs_fail "fsck: $(cat "$FS_TMP/out")"
echo "test_gluster: ok"
