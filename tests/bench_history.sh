#!/bin/bash
# Figures for the history tree, with cold caches (dropped as root):
# listing .revfs/history/f of a file with 10,000 versions (ls, and ls -l
# against ls -l of a plain directory of as many files in the same mount,
# which costs the same FUSE requests), reading its oldest and its newest
# version; and opening .revfs/at/<t>/
# (the first lookup of a moment, then a path three levels down) on a tree
# of 1,000 files and on one of 100,000, to show the cost does not grow
# with the tree. Then a path saved SAVES times by atomic saves (a temp
# file renamed over it: a lineage of SAVES files): ls -l of its history
# and cat of its oldest version after a remount, cold; and the namespace's
# bytes per save once compacted (revfs-compact --keep=latest).
#
#   tests/bench_history.sh [-v VERSIONS] [-n NFILES] [-a SAVES]
set -eu
VERSIONS=10000
NFILES=100000
SAVES=1000
while getopts v:n:a: opt; do
	case $opt in
	v) VERSIONS=$OPTARG ;;
	n) NFILES=$OPTARG ;;
	a) SAVES=$OPTARG ;;
	*) echo "usage: $0 [-v VERSIONS] [-n NFILES] [-a SAVES]" >&2; exit 2 ;;
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

# A lineage: SAVES atomic saves of one path.
echo "bench_history: $SAVES atomic saves of one path"
"$REVFS_BIN/mkfs.revfs" -q "$TMP/lin"
mount_it "$TMP/lin"
for i in $(seq "$SAVES"); do
	printf 'save %d\n' "$i" >"$MNT/.f.tmp" && mv "$MNT/.f.tmp" "$MNT/f"
done
sync "$MNT/f"
umount_it
ns0=$(stat -c %s "$TMP/lin/ns.rev")
mount_it "$TMP/lin"
H=$MNT/.revfs/history/f
timed lin_lsl ls -l "$H"
oldest=$(ls "$H" | head -1)
timed lin_old cat "$H/$oldest"
got=$(ls "$H" | wc -l)
[ "$got" = "$SAVES" ] || { echo "bench_history: $got versions listed, not $SAVES" >&2; exit 1; }
[ "$(cat "$H/$oldest")" = "save 1" ] || { echo "bench_history: the oldest is not save 1" >&2; exit 1; }
umount_it
"$REVFS_BIN/revfs-compact" -q --keep=latest "$TMP/lin"
ns1=$(stat -c %s "$TMP/lin/ns.rev")
echo
echo "a path saved $SAVES times by atomic saves$WARM:"
echo "  ls -l of its history: $T_lin_lsl s; cat of its oldest version: $T_lin_old s;" \
	"namespace $ns0 bytes, $ns1 compacted: $((ns1 / SAVES)) bytes per save"
