#!/bin/sh
# Recovery after the daemon is killed, in the cases where the namespace and
# a file's store disagree: sizes and mtimes that only the store has (the
# namespace commits them once per interval), a clean unmount after such a
# recovery, an mtime set alone, and a store left under an inode number that
# the namespace never committed.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs

sync_file() { # fsync one file from the shell
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none ||
		fs_fail "fsync $1"
}

fs_mount -o flush_ms=60000
head -c 5000 /dev/urandom >"$FS_TMP/a1"
head -c 5000 /dev/urandom >"$FS_TMP/a2"
cp "$FS_TMP/a1" "$FS_MNT/a" && sync_file "$FS_MNT/a"
cat "$FS_TMP/a2" >>"$FS_MNT/a" && sync_file "$FS_MNT/a"
touch -d 2000-01-01T00:00:00 "$FS_MNT/a" && sync_file "$FS_MNT/a"
fs_kill

fs_mount
cat "$FS_TMP/a1" "$FS_TMP/a2" >"$FS_TMP/a"
cmp "$FS_TMP/a" "$FS_MNT/a" || fs_fail "fsynced appends lost after a kill"
[ "$(stat -c %Y "$FS_MNT/a")" = 946684800 ] || fs_fail "mtime set alone lost after a kill"
fs_umount
# A clean unmount after the recovery keeps what the recovery found.
fs_mount
cmp "$FS_TMP/a" "$FS_MNT/a" || fs_fail "recovered size lost after a clean unmount"
[ "$(stat -c %Y "$FS_MNT/a")" = 946684800 ] || fs_fail "mtime lost after a clean unmount"
echo tail >>"$FS_MNT/a"
fs_umount
fs_mount
{ cat "$FS_TMP/a"; echo tail; } | cmp - "$FS_MNT/a" || fs_fail "append after recovery"
fs_umount

# A store whose inode the namespace never committed (a crash between the
# store's commit and the namespace's): the next new file gets that number
# and must start empty, now and after a remount.
fs_mount
echo keep >"$FS_MNT/k" && sync_file "$FS_MNT/k"
fs_kill
next=$(($(ls "$FS_BACKING"/ino/*/*.rev | sed 's/.*\///; s/\.rev//' | sort -n | tail -1) + 1))
src=$(ls "$FS_BACKING"/ino/*/*.rev | head -1)
dst=$FS_BACKING/ino/$(printf '%02x' $((next & 255)))/$next.rev
cp "$src" "$dst"
fs_mount
truncate -s 8192 "$FS_MNT/fresh"
sync_file "$FS_MNT/fresh"
fs_umount
fs_mount
[ "$(stat -c %s "$FS_MNT/fresh")" = 8192 ] || fs_fail "truncate of a new file"
cmp -n 8192 "$FS_MNT/fresh" /dev/zero ||
	fs_fail "a new file shows bytes of a store left under its inode number"
[ "$(cat "$FS_MNT/k")" = keep ] || fs_fail "fsynced file lost"
fs_umount
echo "test_recover: ok"
