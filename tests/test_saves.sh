#!/bin/sh
# A version is a save (issue: history people can trust, point 2): an fsync,
# the last writer's close, or, for a file kept open and written, every
# save_s seconds. The flusher's other commits (each flush interval, the
# dirty limit) are interim: not listed once a later commit exists, not
# counted by the retention rule, dropped by compaction.
#
#   - 10 saves of a 100 MiB file by cp make 10 versions, each complete
#     (before: 36 versions, 26 of them partial);
#   - a writer that opens a file and writes 1.5 s later leaves no empty
#     version; an fsync with nothing new after an interim commit is a save;
#   - a log kept open and appended to gets a version every save_s;
#   - compaction keeps saves and drops the interim commits between them.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs
H=$FS_MNT/.revfs/history
DMG=$REVFS_BIN/tests/fsck_damage

versions() { ls "$H/$1" 2>/dev/null | wc -l; }
wait_versions() { # FILE N: until FILE lists N versions (10 s at most)
	i=0
	while [ "$(versions "$1")" != "$2" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fs_fail "$1: $(versions "$1") versions, want $2"
		sleep 0.1
	done
}
store_of() {
	i=$(stat -c %i "$1")
	echo "$FS_BACKING/ino/$(printf %02x $((i & 255)))/$i.rev"
}

fs_mount -o compact=0
head -c 100M /dev/urandom >"$FS_TMP/base"
for k in 1 2 3 4 5 6 7 8 9 10; do
	printf 'save %02d' "$k" | dd of="$FS_TMP/base" conv=notrunc status=none
	cp "$FS_TMP/base" "$FS_MNT/big" || fs_fail "cp $k"
	# Until the close's save is listed (meanwhile an interim commit may be
	# the newest, and listed as such).
	i=0
	until [ "$(versions big)" = "$k" ] && v=$(ls "$H/big" | sort | tail -1) &&
		cmp -s "$FS_TMP/base" "$H/big/$v"; do
		i=$((i + 1))
		[ $i -gt 100 ] && fs_fail "save $k: $(versions big) versions"
		sleep 0.1
	done
done
for v in $(ls "$H/big"); do
	[ "$(stat -c %s "$H/big/$v")" = 104857600 ] || fs_fail "version $v of big is partial"
done
n=0
for v in $(ls "$H/big" | sort); do
	n=$((n + 1))
	[ "$(head -c 7 "$H/big/$v")" = "save $(printf %02d $n)" ] || fs_fail "version $v is not save $n"
done
commits=$("$DMG" versions "$(store_of "$FS_MNT/big")" | wc -l)
echo "test_saves: 10 saves of 100 MiB: 10 versions listed, $commits commits in the store"

# A slow writer: open, wait past the flush interval, write, close.
(sleep 1.5 && printf 'late data') >"$FS_MNT/slow"
wait_versions slow 1
[ "$(cat "$H/slow/$(ls "$H/slow")")" = "late data" ] || fs_fail "slow: the version is not the save"
# An fsync with nothing new after an interim commit saves that state.
exec 3>"$FS_MNT/synced"
printf 'one' >&3
sleep 1.5 # an interim commit
dd if=/dev/null of="$FS_MNT/synced" oflag=append conv=notrunc,fsync status=none
printf ' two' >&3
exec 3>&-
wait_versions synced 2
fs_umount

# A log kept open: a version every save_s (2 s) while it is written.
fs_mount -o compact=0,save_s=2,flush_ms=200
exec 3>>"$FS_MNT/log"
for i in $(seq 1 16); do
	echo "line $i" >&3
	sleep 0.5
done
n=$(versions log)
[ "$n" -ge 3 ] && [ "$n" -le 6 ] || fs_fail "log: $n versions in 8 s with save_s=2"
exec 3>&-
fs_umount

# Compaction keeps the saves, drops the interim commits between them.
fs_mount -o flush_ms=100
exec 3>"$FS_MNT/c"
for i in 1 2 3 4 5; do
	printf 'x%s' "$i" >&3
	sleep 0.3
done
exec 3>&-
echo more >>"$FS_MNT/c"
wait_versions c 2
headers() { "$DMG" versions "$(store_of "$FS_MNT/c")" | wc -l; }
[ "$(headers)" -gt 2 ] || fs_fail "c: no interim commits to drop ($(headers) headers)"
"$REVFS_BIN/revfs-compact" -q "$FS_MNT/c" || fs_fail "revfs-compact c"
[ "$(headers)" = 2 ] || fs_fail "compaction kept interim commits: $(headers) headers"
[ "$(versions c)" = 2 ] || fs_fail "c: compaction dropped a save"
printf 'x1x2x3x4x5more\n' | cmp - "$FS_MNT/c" || fs_fail "c after compaction: $(cat "$FS_MNT/c")"
fs_umount
echo "test_saves: ok"
