#!/bin/bash
# Figures for fsck.revfs: the time of "fsck.revfs -n" (the newest version
# of every store in full, the headers of the others) and "fsck.revfs -f -n"
# (every version in full), each with cold caches, on a backing directory of
# 10,000 files of 2 GiB in all (about twice that in stores), 20 versions
# per file; against reading the same bytes (every store file) with cat.
# The ratios to cat say how far each run is from being disk bound. cat
# reads one file after the other and waits for each; "cat, 4 at a time"
# keeps the disk busier and is the better measure of what the disk gives.
#
#   tests/bench_fsck.sh [-s SCALE] [-k] [-d DIR]
#
# -s scales the number of files and the bytes (0.1: 1,000 files, 205 MiB of files).
# -k keeps the backing directory. -d DIR times a backing directory made
# before with -k (and keeps it). Caches are dropped only as root; without
# root the "cold" figures are warm, and the script says so. After each
# drop, the share of the store bytes still cached is checked (fincore).
set -eu
SCALE=1
KEEP=0
REUSE=
while getopts s:kd: opt; do
	case $opt in
	s) SCALE=$OPTARG ;;
	k) KEEP=1 ;;
	d) REUSE=$OPTARG; KEEP=1 ;;
	*) echo "usage: $0 [-s SCALE] [-k] [-d DIR]" >&2; exit 2 ;;
	esac
done
REVFS_BIN=${REVFS_BIN:-build/bench}
FSCK=$REVFS_BIN/fsck.revfs
MAKE_DIR=$REVFS_BIN/tests/bench_fsck_make
NFILES=$(awk "BEGIN { printf \"%d\", 10000 * $SCALE }")
TOTAL=$(awk "BEGIN { printf \"%d\", 2147483648 * $SCALE }")
VERSIONS=20
TMP=$(mktemp -d "${TMPDIR:-/tmp}/revfs-bench-fsck.XXXXXX")
DIR=${REUSE:-$TMP/backing}
if [ "$KEEP" = 1 ]; then
	trap 'rm -f "$TMP"/*.out; rmdir "$TMP" 2>/dev/null || true' EXIT
else
	trap 'rm -rf "$TMP"' EXIT
fi

now() { date +%s.%N; }
secs() { awk "BEGIN { printf \"%.2f\", $2 - $1 }"; }

stores() { find "$DIR" -type f -name '*.rev' -print0; }

# Drops the page cache, then checks that the stores really left it.
cold() {
	local cached
	sync
	if ! { [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }; then
		WARM=" (caches could not be dropped: not root; figures are warm)"
		return
	fi
	command -v fincore >/dev/null || return 0
	cached=$(stores | xargs -0 fincore -b -n -o RES | awk '{ s += $1 } END { printf "%.0f", s }')
	if [ "$cached" -gt $((BYTES / 100)) ]; then
		WARM=" (after a drop, $((cached >> 20)) MiB of the stores were still cached)"
	fi
}
WARM=""

if [ -n "$REUSE" ]; then
	echo "bench_fsck: the backing directory $DIR, made before"
else
	echo "bench_fsck: $NFILES files, $VERSIONS versions each, $((TOTAL >> 20)) MiB of files, in $DIR"
	t0=$(now)
	"$MAKE_DIR" "$DIR" "$NFILES" "$TOTAL" "$VERSIONS"
	sync
	t1=$(now)
	echo "made in $(secs "$t0" "$t1") s"
fi
BYTES=$(find "$DIR" -type f -name '*.rev' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
echo "$(find "$DIR" -type f -name '*.rev' | wc -l) stores, $((BYTES >> 20)) MiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME OUT: fsck.revfs with the options that follow, output in OUT.
run_fsck() {
	local out=$1 rc=0
	shift
	"$FSCK" "$@" "$DIR" >"$out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		cat "$out"
		echo "fsck.revfs $*: exit $rc"
		exit 1
	fi
}
cat_all() { stores | xargs -0 cat >/dev/null; }
cat_4() { stores | xargs -0 -P 4 -n 64 cat >/dev/null; }

# timed VAR CMD...: runs CMD with cold caches; VAR gets its seconds.
timed() {
	local var=$1 t0 t1
	shift
	cold
	t0=$(now)
	"$@"
	t1=$(now)
	eval "$var=$(secs "$t0" "$t1")"
}

timed N run_fsck "$TMP/n.out" -n
tail -1 "$TMP/n.out"
timed F run_fsck "$TMP/f.out" -f -n
timed C cat_all
timed C4 cat_4

echo "cold caches$WARM; load after: $(cut -d' ' -f1-3 /proc/loadavg):"
printf '  %-22s %8s s\n' "cat of every store" "$C" "cat, 4 at a time" "$C4" \
	"fsck.revfs -n" "$N" "fsck.revfs -f -n" "$F"
awk "BEGIN { printf \"  ratio -n / cat:    %6.2f  (to cat, 4 at a time: %.2f)\n\", $N / $C, $N / $C4;
	printf \"  ratio -f -n / cat: %6.2f  (to cat, 4 at a time: %.2f)\n\", $F / $C, $F / $C4;
	printf \"  ratio -n / -f -n:  %6.2f\n\", $N / $F;
	printf \"  cat: %.0f MiB/s, 4 at a time: %.0f MiB/s\n\", $BYTES / 1048576 / $C, $BYTES / 1048576 / $C4 }"
