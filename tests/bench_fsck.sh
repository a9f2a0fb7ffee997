#!/bin/bash
# Figures for fsck.revfs: the time of "fsck.revfs -n" (the newest version
# of every store in full, the headers of the others) and "fsck.revfs -f -n"
# (every version in full), each with cold caches, on a backing directory of
# 10,000 files of 2 GiB in all (about twice that in stores), 20 versions
# per file; against reading the same bytes (every store file) with cat.
# The ratios to cat say how far each run is from being disk bound.
#
#   tests/bench_fsck.sh [-s SCALE] [-k]
#
# -s scales the number of files and the bytes (0.1: 1,000 files, 205 MiB of files).
# -k keeps the backing directory. Caches are dropped only as root; without
# root the "cold" figures are warm, and the script says so.
set -eu
SCALE=1
KEEP=0
while getopts s:k opt; do
	case $opt in
	s) SCALE=$OPTARG ;;
	k) KEEP=1 ;;
	*) echo "usage: $0 [-s SCALE] [-k]" >&2; exit 2 ;;
	esac
done
REVFS_BIN=${REVFS_BIN:-build/bench}
FSCK=$REVFS_BIN/fsck.revfs
MAKE_DIR=$REVFS_BIN/tests/bench_fsck_make
NFILES=$(awk "BEGIN { printf \"%d\", 10000 * $SCALE }")
TOTAL=$(awk "BEGIN { printf \"%d\", 2147483648 * $SCALE }")
VERSIONS=20
TMP=$(mktemp -d "${TMPDIR:-/tmp}/revfs-bench-fsck.XXXXXX")
DIR=$TMP/backing
[ "$KEEP" = 1 ] || trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }
secs() { awk "BEGIN { printf \"%.2f\", $2 - $1 }"; }

cold() {
	sync
	if [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
		return
	fi
	WARM=" (caches could not be dropped: not root; figures are warm)"
}
WARM=""

echo "bench_fsck: $NFILES files, $VERSIONS versions each, $((TOTAL >> 20)) MiB of files, in $DIR"
t0=$(now)
"$MAKE_DIR" "$DIR" "$NFILES" "$TOTAL" "$VERSIONS"
sync
t1=$(now)
BYTES=$(find "$DIR" -type f -name '*.rev' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
echo "made in $(secs "$t0" "$t1") s: $(find "$DIR" -type f -name '*.rev' | wc -l) stores, $((BYTES >> 20)) MiB"

cold
t0=$(now)
"$FSCK" -n "$DIR" >"$TMP/n.out" 2>&1 || { cat "$TMP/n.out"; echo "fsck -n: exit $?"; exit 1; }
t1=$(now)
N=$(secs "$t0" "$t1")
tail -1 "$TMP/n.out"

cold
t0=$(now)
"$FSCK" -f -n "$DIR" >"$TMP/f.out" 2>&1 || { cat "$TMP/f.out"; echo "fsck -f -n: exit $?"; exit 1; }
t1=$(now)
F=$(secs "$t0" "$t1")

cold
t0=$(now)
find "$DIR" -type f -name '*.rev' -print0 | xargs -0 cat >/dev/null
t1=$(now)
C=$(secs "$t0" "$t1")

echo "cold caches$WARM:"
printf '  %-22s %8s s\n' "cat of every store" "$C" "fsck.revfs -n" "$N" "fsck.revfs -f -n" "$F"
awk "BEGIN { printf \"  ratio -n / cat:    %6.2f\n  ratio -f -n / cat: %6.2f\n  cat: %.0f MiB/s\n\", \
	$N / $C, $F / $C, $BYTES / 1048576 / $C }"
