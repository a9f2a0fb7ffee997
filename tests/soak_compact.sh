#!/bin/sh
# soak_compact.sh - a long run of the compactor under load: make soak (not
# part of make check). Until SOAK_SECONDS have passed, rounds of random
# length on one backing directory, each on a fresh mount whose compactor
# compacts every store after every commit (compact_frag=0,
# compact_min_mb=0, the namespace included); each round draws its rate
# (compact_mbps: the default or 8) and its retention (-o keep=latest, or every
# version):
#   - fsx (tests/fsx.c) in a directory of its own: 3 processes on 12 files,
#     reads, writes, mmap reads and writes, truncates, fsyncs, renames,
#     links, unlinks while open, checked against its model as it goes;
#   - a version writer: rewrites 4 files with random bytes and fsyncs each
#     time, notes the version (user.revfs.version) and its sha256, and
#     every few versions reads all noted versions back through
#     .revfs/history/ while compactions run: every version still there
#     must match, the newest of each file must be there, and with "every
#     version" kept, all of the round's.
# After a round: compactions ran and none failed; then an unmount and a
# mount (sometimes two), and every round's fsx files match the manifest
# fsx left and every kept version reads back exactly.
#
#   REVFS_BIN=build sh tests/soak_compact.sh [-t SECONDS] [-s SEED]
#
# Rounds start until SOAK_SECONDS have passed (default 600; -t), and the
# last one runs to its end. SOAK_SEED (-s; default random): the rounds'
# draws and fsx seeds follow from it, the timing does not.
set -u
. "$(dirname "$0")/fslib.sh"
. "$(dirname "$0")/fsxlib.sh"

SECS=${SOAK_SECONDS:-600}
SEED=${SOAK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
while getopts t:s: opt; do
	case $opt in
	t) SECS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	*)
		echo "usage: soak_compact.sh [-t SECONDS] [-s SEED]" >&2
		exit 2
		;;
	esac
done
FSX=$REVFS_BIN/tests/fsx
[ -x "$FSX" ] || fs_fail "$FSX is not built"
FPID=""
VPID=""
round=0

soak_cleanup() {
	rc=$?
	if [ "$rc" != 0 ] && [ -f "${FS_TMP:-}/revfs.log" ]; then
		keep=$(mktemp "${TMPDIR:-/tmp}/revfs-soak-log.XXXXXX")
		cp "$FS_TMP/revfs.log" "$keep"
		echo "--- revfs log (last 30 lines; all of it kept in $keep)" >&2
		tail -n 30 "$keep" >&2
	fi
	for p in $FPID $VPID; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	fs_cleanup
}
soak_fail() {
	fs_fail "$* (round $round, SOAK_SEED=$SEED)"
}
# A random integer in [lo, hi] from the seed, the round and $1.
draw() {
	awk -v s="$SEED" -v r="$round" -v k="$1" -v lo="$2" -v hi="$3" \
		'BEGIN { srand((s * 7919 + r * 104729 + k) % 2147483647); print lo + int(rand() * (hi - lo + 1)) }'
}
stat_of() {
	sed -n "s/^$1 //p" "$FS_MNT/.revfs/stats"
}

# Reads back every noted version ("file seq sha256" lines in $FS_TMP/vers):
# one still there must match, the newest of each file must be there, and
# with $1 = all, so must every version noted since line $2.
check_versions() {
	: >"$FS_TMP/vnewest"
	awk '{ last[$1] = $2 } END { for (f in last) print f, last[f] }' "$FS_TMP/vers" \
		>"$FS_TMP/vnewest"
	n=0
	while read -r f seq sum; do
		n=$((n + 1))
		h=$FS_MNT/.revfs/history/vers/$f/$seq
		# A version the rule drops may go between a look and a read;
		# once open, it reads whole.
		if sha256sum "$h" >"$FS_TMP/vsum" 2>/dev/null; then
			[ "$(cut -c1-64 "$FS_TMP/vsum")" = "$sum" ] ||
				soak_fail "version $seq of vers/$f differs from what was written"
		elif grep -qx "$f $seq" "$FS_TMP/vnewest"; then
			soak_fail "the newest version $seq of vers/$f is gone"
		elif [ "$1" = all ] && [ "$n" -gt "$2" ]; then
			soak_fail "version $seq of vers/$f is gone; the rule keeps every version"
		fi
	done <"$FS_TMP/vers"
}

# The version writer of a round: until $FS_TMP/stop exists.
versions() {
	i=0
	while [ ! -e "$FS_TMP/stop" ]; do
		f=v$((i % 4))
		head -c "$(($(od -An -N3 -tu4 /dev/urandom) % 400000))" /dev/urandom >"$FS_TMP/vbuf"
		dd if="$FS_TMP/vbuf" of="$FS_MNT/vers/$f" conv=fsync status=none 2>"$FS_TMP/v.err" ||
			soak_fail "version writer: $(cat "$FS_TMP/v.err")"
		seq=$(getfattr --absolute-names --only-values -n user.revfs.version "$FS_MNT/vers/$f") ||
			soak_fail "version writer: user.revfs.version of vers/$f"
		echo "$f $seq $(sha256sum <"$FS_TMP/vbuf" | cut -c1-64)" >>"$FS_TMP/vers"
		i=$((i + 1))
		[ $((i % 8)) = 0 ] && check_versions "$1" "$2"
	done
	exit 0
}

fs_setup
trap soak_cleanup EXIT
fs_mkfs
: >"$FS_TMP/vers"
fs_mount -o compact=0
mkdir "$FS_MNT/vers" || fs_fail "mkdir"
fs_umount
echo "soak: $SECS s, SOAK_SEED=$SEED"
t0=$(date +%s)
total=0
while [ $(($(date +%s) - t0)) -lt "$SECS" ]; do
	round=$((round + 1))
	ops=$(draw 1 5000 40000)
	mbps=$([ "$(draw 2 0 1)" = 0 ] && echo 0 || echo 8)
	keep=$([ "$(draw 3 0 1)" = 0 ] && echo latest || echo "all:30d")
	fseed=$(draw 4 1 2000000000)
	rule=$([ "$keep" = latest ] && echo latest || echo all)
	from=$(wc -l <"$FS_TMP/vers")
	fs_mount -o "compact_frag=0,compact_min_mb=0,compact_mbps=$mbps,keep=$keep"
	mkdir "$FS_MNT/r$round" || soak_fail "mkdir"
	rm -f "$FS_TMP/stop"
	timeout -k 10 $((300 + ops / 50)) "$FSX" -n "$ops" -s "$fseed" -f 12 -p 3 \
		-o "$FS_TMP/manifest.$round" "$FS_MNT/r$round" >"$FS_TMP/fsx.out" 2>&1 &
	FPID=$!
	versions "$rule" "$from" &
	VPID=$!
	wait "$FPID" || { cat "$FS_TMP/fsx.out" >&2; soak_fail "fsx -n $ops -s $fseed -f 12 -p 3"; }
	FPID=""
	touch "$FS_TMP/stop"
	wait "$VPID" || soak_fail "the version writer failed"
	VPID=""
	check_versions "$rule" "$from"
	n=$(stat_of compactions)
	[ "${n:-0}" -gt 0 ] || soak_fail "no compaction ran"
	[ "$(stat_of compaction_failures)" = 0 ] || soak_fail "compactions failed: $(cat "$FS_MNT/.revfs/stats")"
	total=$((total + n))
	printf 'round %d: fsx %d ops, compact_mbps=%s, keep=%s: %d compactions, %d versions noted (%d s)\n' \
		"$round" "$ops" "$mbps" "$keep" "$n" "$(($(wc -l <"$FS_TMP/vers") - from))" \
		"$(($(date +%s) - t0))"
	fs_umount
	for _ in $(seq "$(draw 5 1 2)"); do
		fs_mount -o compact=0
		r=1
		while [ $r -le $round ]; do
			fsx_check_manifest "$FS_TMP/manifest.$r" "$FS_MNT/r$r"
			r=$((r + 1))
		done
		check_versions latest 0
		fs_umount
	done
done
[ "$round" -gt 0 ] || fs_fail "no round ran"
echo "PASS: soak, $round rounds, $total compactions in $(($(date +%s) - t0)) s, SOAK_SEED=$SEED"
