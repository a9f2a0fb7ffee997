#!/bin/bash
# Figures for the history tree, with cold caches (dropped as root):
# listing .revfs/history/f of a file with 10,000 versions (ls, and ls -l
# against ls -l of a plain directory of as many files in the same mount,
# which costs the same FUSE requests), reading its oldest and its newest
# version; and opening .revfs/at/<t>/
# (the first lookup of a moment, then a path three levels down) on a tree
# of 1,000 files and on one of 100,000, to show the cost does not grow
# with the tree.
#
#   tests/bench_history.sh [-v VERSIONS] [-n NFILES]
set -eu
VERSIONS=10000
NFILES=100000
while getopts v:n: opt; do
	case $opt in
	v) VERSIONS=$OPTARG ;;
	n) NFILES=$OPTARG ;;
	*) echo "usage: $0 [-v VERSIONS] [-n NFILES]" >&2; exit 2 ;;
	esac
done
REVFS_BIN=${REVFS_BIN:-build/bench}
case $REVFS_BIN in /*) ;; *) REVFS_BIN=$(pwd)/$REVFS_BIN ;; esac
MAKE_DIR=$REVFS_BIN/tests/bench_history_make
TMP=$(mktemp -d "${TMPDIR:-/tmp}/revfs-bench-history.XXXXXX")
MNT=$TMP/mnt
PID=""
cleanup() {
	if grep -q " $MNT " /proc/self/mounts 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	[ -z "$PID" ] || wait "$PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$MNT"

WARM=""
cold() {
	sync
	if [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
		return
	fi
	WARM=" (warm: caches could not be dropped without root)"
}
now() { date +%s.%N; }
# timed NAME CMD...: runs CMD with cold caches; prints and keeps the seconds.
timed() {
	local name=$1 t0 t1
	shift
	cold
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	eval "T_$name=$(awk "BEGIN { printf \"%.3f\", $t1 - $t0 }")"
	eval "printf '  %-44s %s s\n' \"\$*\" \"\$T_$name\""
}

mount_it() {
	"$REVFS_BIN/revfs" -f -o compact=0 "$1" "$MNT" 2>>"$TMP/revfs.log" &
	PID=$!
	for _ in $(seq 100); do mountpoint -q "$MNT" && return; sleep 0.1; done
	echo "bench_history: the mount did not come up" >&2
	cat "$TMP/revfs.log" >&2
	exit 1
}
umount_it() {
	fusermount3 -u "$MNT"
	wait "$PID" || true
	PID=""
}

# One backing directory per tree size; f has VERSIONS versions in both.
for n in 1000 "$NFILES"; do
	echo "bench_history: f with $VERSIONS versions, a tree of $n files"
	"$MAKE_DIR" "$TMP/b$n" "$VERSIONS" "$n"
	mount_it "$TMP/b$n"
	H=$MNT/.revfs/history/f
	At=$MNT/.revfs/at/@$(date +%s)
	timed "ls_$n" ls "$H"
	timed "lsl_$n" ls -l "$H"
	timed "flat_$n" ls -l "$MNT/flat"
	timed "old_$n" cat "$H/1"
	timed "new_$n" cat "$H/$VERSIONS"
	got=$(ls "$H" | wc -l)
	[ "$got" = "$VERSIONS" ] || { echo "bench_history: $got versions listed, not $VERSIONS" >&2; exit 1; }
	timed "at_$n" ls "$At"
	timed "atdeep_$n" stat "$At/tree/d50/f50"
	timed "atdir_$n" ls "$At/tree/d50"
	umount_it
done

ratio() { awk "BEGIN { if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"-\" }"; }
eval "a=\$T_at_$NFILES b=\$T_at_1000 c=\$T_atdeep_$NFILES d=\$T_atdeep_1000"
eval "l=\$T_ls_$NFILES ll=\$T_lsl_$NFILES o=\$T_old_$NFILES f=\$T_flat_$NFILES"
echo
echo "history of a file with $VERSIONS versions$WARM:"
echo "  ls: $l s; ls -l: $ll s (ls -l of a plain directory of as many files in the mount:" \
	"$f s, ratio $(ratio "$ll" "$f")); cat of the oldest version: $o s"
echo "at/<t> on $NFILES files against 1000 files$WARM:"
echo "  first ls of at/<t>: $a s vs $b s (ratio $(ratio "$a" "$b"));" \
	"stat three levels down: $c s vs $d s (ratio $(ratio "$c" "$d"));" \
	"the tree is $((NFILES / 1000))x larger"
