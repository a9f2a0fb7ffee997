#!/bin/sh
# fsck.revfs -y interrupted at many moments: after each of its repairs
# (FSCK_TEST_STOP_AFTER=N: SIGKILL, SIGINT or SIGTERM right after the N-th
# repair) and at random times (SIGKILL and SIGINT at a random moment within
# the time a whole run takes). Each
# time the backing directory must be no worse than before (every file that
# read back before the run still reads the same), a second -y must complete
# the job, and a third must find it clean; after that every undamaged file
# reads back as written. SIGINT and SIGTERM must give exit status 32.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
DMG=$REVFS_BIN/tests/fsck_damage
REF=$FS_TMP/ref
OUT=$FS_TMP/out
DAMAGED=$FS_TMP/damaged
FILES="small d/e/f d/g big f1 f2 f3 f4 f5 f6"

store_of() { # inode number -> its store's path
	echo "$FS_BACKING/ino/$(printf %02x $(($1 & 255)))/$1.rev"
}

flip() { # flip FILE OFFSET: inverts one byte
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# A random number in 0..$1-1.
rnd() {
	echo $(($(od -An -tu4 -N4 /dev/urandom | tr -d ' ') % $1))
}

# md5 of every file in FILES as the mount shows it, "-" if it does not read.
# Mounts a copy of the backing directory, so the daemon changes nothing the
# next fsck sees.
readable() {
	rm -rf "$FS_TMP/copy" && cp -a "$FS_BACKING" "$FS_TMP/copy"
	save=$FS_BACKING
	FS_BACKING=$FS_TMP/copy
	fs_mount
	for f in $FILES; do
		s=$({ md5sum <"$FS_MNT/$f"; } 2>/dev/null) || s=-
		echo "$f ${s%% *}"
	done
	fs_umount
	FS_BACKING=$save
	rm -rf "$FS_TMP/copy"
}

# --- a backing directory with several kinds of damage, kept in $DAMAGED ----
fs_mkfs
fs_mount
mkdir -p "$REF" "$FS_MNT/d/e"
echo hello >"$FS_MNT/small"
head -c 70000 /dev/urandom >"$FS_MNT/d/e/f"
head -c 9000 /dev/urandom >"$FS_MNT/d/g"
head -c 400000 /dev/urandom >"$FS_MNT/big"
for i in 1 2 3 4 5 6; do head -c $((i * 30000)) /dev/urandom >"$FS_MNT/f$i"; done
sync "$FS_MNT/big"
head -c 4096 /dev/urandom | dd of="$FS_MNT/big" conv=notrunc 2>/dev/null
sync "$FS_MNT/big"
for f in $FILES; do mkdir -p "$REF/$(dirname $f)" && cp "$FS_MNT/$f" "$REF/$f"; done
I_SMALL=$(stat -c %i "$FS_MNT/small")
I_BIG=$(stat -c %i "$FS_MNT/big")
I_F3=$(stat -c %i "$FS_MNT/f3")
fs_umount
BIG=$(store_of "$I_BIG")
H2=$("$DMG" versions "$BIG" | awk 'NR == 1 {print $2}')
flip "$BIG" $((H2 + 40))				 # newest header: a rewind
flip "$(store_of "$I_F3")" 50000			 # its only version: a salvage
"$DMG" nlink "$FS_BACKING" "$I_SMALL" 7 || fs_fail "damage nlink"
"$DMG" dangling "$FS_BACKING" 1 ghost 777 || fs_fail "damage dangling"
mkdir -p "$FS_BACKING/ino/0f"
cp "$(store_of "$I_SMALL")" "$FS_BACKING/ino/0f/9999.rev" # an orphan store
cp "$BIG" "$BIG.compact"					 # a stale compaction
cp -a "$FS_BACKING" "$DAMAGED"

# How many repairs a whole run makes, and how long it takes.
t0=$(date +%s%N)
"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
[ $? = 1 ] || { cat "$OUT"; fs_fail "uninterrupted -y: exit not 1"; }
RUN_MS=$((($(date +%s%N) - t0) / 1000000 + 1))
NFIX=$(sed -n 's/.* \([0-9][0-9]*\) fixed, .*/\1/p' "$OUT")
[ "${NFIX:-0}" -ge 6 ] || { cat "$OUT"; fs_fail "only ${NFIX:-0} repairs"; }

rm -rf "$FS_BACKING" && cp -a "$DAMAGED" "$FS_BACKING"
BEFORE=$(readable)
echo "$BEFORE" | grep -q "^small [0-9a-f]" || fs_fail "small does not read before fsck"

# after_interrupt NAME: the directory is no worse, a second -y completes,
# a third is clean, and the undamaged files read back as written.
after_interrupt() {
	now=$(readable)
	echo "$BEFORE" | while read -r f sum; do
		[ "$sum" = - ] && continue
		echo "$now" | grep -qx "$f $sum" || { echo "$f"; break; }
	done >"$FS_TMP/worse"
	[ -s "$FS_TMP/worse" ] && fs_fail "$1: $(cat "$FS_TMP/worse") read fine before, not after"
	"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
	rc=$?
	[ $rc = 0 ] || [ $rc = 1 ] || { cat "$OUT"; fs_fail "$1: second run exit $rc"; }
	"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT"; fs_fail "$1: third run exit $?"; }
	fs_mount
	for f in small d/e/f d/g f1 f2 f4 f5 f6; do
		cmp -s "$REF/$f" "$FS_MNT/$f" || fs_fail "$1: $f differs after repair"
	done
	fs_umount
}

fresh() {
	rm -rf "$FS_BACKING" && cp -a "$DAMAGED" "$FS_BACKING"
}

# --- stopped right after each repair ------------------------------------------
n=1
while [ $n -le "$NFIX" ]; do
	for sig in kill int term; do
		fresh
		FSCK_TEST_STOP_AFTER=$n:$sig "$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
		rc=$?
		case $sig in
		kill) [ $rc = 137 ] || { cat "$OUT"; fs_fail "stop $n kill: exit $rc, not killed"; } ;;
		*)
			[ $((rc & 32)) = 32 ] || { cat "$OUT"; fs_fail "stop $n $sig: exit $rc, no 32"; }
			grep -q "interrupted" "$OUT" || fs_fail "stop $n $sig: no message"
			;;
		esac
		after_interrupt "stop after repair $n ($sig)"
		# One signal per repair is enough past the first few.
		[ $n -gt 3 ] && break
	done
	n=$((n + 1))
done

# --- at random moments within a whole run's time -------------------------------------
hits=0
for i in 1 2 3 4 5 6; do
	for sig in KILL INT; do
		fresh
		"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1 &
		pid=$!
		ms=$(rnd "$RUN_MS")
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		kill -s $sig $pid 2>/dev/null
		wait $pid 2>/dev/null
		rc=$?
		[ $rc = 1 ] || hits=$((hits + 1))
		# It may have finished first (exit 1); else killed, or cancelled (32).
		case $sig in
		KILL) [ $rc = 1 ] || [ $rc = 137 ] || fs_fail "random kill: exit $rc" ;;
		INT) [ $rc = 1 ] || [ $((rc & 32)) = 32 ] || fs_fail "random SIGINT: exit $rc" ;;
		esac
		after_interrupt "random $sig $i"
	done
done
echo "test_fsck_interrupt: ok ($NFIX repairs in a ${RUN_MS} ms run; $hits of 12 random signals arrived before it ended)"
