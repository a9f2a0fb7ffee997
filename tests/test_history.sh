#!/bin/sh
# Versions seen and restored with ordinary tools: MNT/.revfs/history/<path>/
# lists one read-only file per version after each flush, with the content,
# size and commit time of that version, for files written, truncated,
# renamed and hard-linked; cp restores (a new version); versions survive a
# remount and compaction by the retention rule; pinned ones survive
# keep=latest; user.revfs.* attributes; nothing under .revfs can change.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs

H=$FS_MNT/.revfs/history
sync_file() {
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"
}
xattr() { # xattr FILE NAME: the value, or nothing
	getfattr --only-values -n "$2" "$1" 2>/dev/null
}
setx() { # setx FILE NAME VALUE
	setfattr -n "$2" -v "$3" "$1"
}
rmx() {
	setfattr -x "$2" "$1"
}

fs_mount -o flush_ms=100,compact=0
mkdir -p "$FS_MNT/d"
printf 'one\n' >"$FS_MNT/d/a" && sync_file "$FS_MNT/d/a"
t1=$(date +%s)
printf 'two two\n' >"$FS_MNT/d/a" && sync_file "$FS_MNT/d/a"
truncate -s 3 "$FS_MNT/d/a" && sync_file "$FS_MNT/d/a"
# Versions are named by their commit time (UTC), so ls lists them in order;
# a file's own versions are also found by their seq (1, 2, 3).
[ "$(ls "$H/d/a" | wc -l)" = 3 ] || fs_fail "versions of d/a: $(ls "$H/d/a" | tr '\n' ' ')"
ls "$H/d/a" | grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$' &&
	fs_fail "version names: $(ls "$H/d/a" | tr '\n' ' ')"
for k in 1 2 3; do
	cmp "$H/d/a/$(ls "$H/d/a" | sed -n ${k}p)" "$H/d/a/$k" || fs_fail "version $k is not the ${k}th listed"
done
[ "$(cat "$H/d/a/1")" = one ] || fs_fail "version 1 content"
[ "$(cat "$H/d/a/2")" = "two two" ] || fs_fail "version 2 content"
[ "$(cat "$H/d/a/3")" = two ] || fs_fail "version 3 (truncated) content"
[ "$(stat -c %s "$H/d/a/2")" = 8 ] || fs_fail "version 2 size"
m=$(stat -c %Y "$H/d/a/1")
[ "$m" -ge $((t1 - 5)) ] && [ "$m" -le $((t1 + 5)) ] || fs_fail "version 1 mtime $m, not the commit time"
[ "$(stat -c %a "$H/d/a/1")" = 444 ] || fs_fail "a version is not read-only"
cmp "$H/d/a/3" "$FS_MNT/d/a" || fs_fail "the newest version differs from the file"
[ "$(xattr "$FS_MNT/d/a" user.revfs.version)" = 3 ] || fs_fail "user.revfs.version"
[ "$(xattr "$FS_MNT/d/a" user.revfs.versions)" = 3 ] || fs_fail "user.revfs.versions"

# Restoring is copying, and makes a new version.
cp "$H/d/a/1" "$FS_MNT/d/a" && sync_file "$FS_MNT/d/a"
[ "$(cat "$FS_MNT/d/a")" = one ] || fs_fail "restore by cp"
[ "$(ls "$H/d/a" | wc -l)" = 4 ] && cmp "$H/d/a/$(ls "$H/d/a" | tail -1)" "$H/d/a/4" ||
	fs_fail "a restore is not a new version"
diff "$H/d/a/1" "$H/d/a/4" >/dev/null || fs_fail "diff of two versions"

# Renamed and hard-linked files carry their history.
mv "$FS_MNT/d/a" "$FS_MNT/b" && ln "$FS_MNT/b" "$FS_MNT/d/link"
[ "$(ls "$H/b" | wc -l)" = 4 ] || fs_fail "history does not follow a rename"
[ "$(ls "$H/d/link" | wc -l)" = 4 ] || fs_fail "history not seen through a hard link"
[ ! -e "$H/d/a" ] || fs_fail "the old name still has a history entry"

# Nothing under .revfs changes.
for what in "touch $H/d/new" "rm $H/b/1" "mkdir $H/x" "mv $H/b/1 $H/b/9"; do
	$what 2>/dev/null && fs_fail "$what succeeded"
done
(echo x >"$H/b/1") 2>/dev/null && fs_fail "write to a version succeeded"
setx "$FS_MNT/b" user.revfs.version 1 2>/dev/null && fs_fail "user.revfs.version was set"

# Pins.
setx "$FS_MNT/b" user.revfs.pin 2 || fs_fail "pin"
setx "$FS_MNT/b" user.revfs.pin 99 2>/dev/null && fs_fail "pinned a version that does not exist"
[ "$(xattr "$FS_MNT/b" user.revfs.pin.2)" = 2 ] || fs_fail "pin not readable"
[ "$(xattr "$FS_MNT/b" user.revfs.pins)" = 2 ] || fs_fail "pin not listed in user.revfs.pins"
getfattr -d -m - "$FS_MNT/b" 2>/dev/null | grep -q revfs && fs_fail "user.revfs.* names are listed"
cp -a "$FS_MNT/b" "$FS_MNT/b.copy" || fs_fail "cp -a of a file with versions"
fs_umount

# Remount: the history is there; keep=latest compaction keeps only the
# newest and the pinned one.
fs_mount -o keep=latest,compact_frag=0,compact_min_mb=0,flush_ms=100
[ "$(ls "$H/b" | wc -l)" = 4 ] || fs_fail "versions lost by a remount"
echo more >>"$FS_MNT/b" && sync_file "$FS_MNT/b"
i=0
while ! { [ "$(ls "$H/b" | wc -l)" = 2 ] && [ -e "$H/b/2" ] && [ -e "$H/b/5" ]; }; do
	i=$((i + 1))
	[ $i -gt 100 ] && fs_fail "keep=latest with a pin kept: $(ls "$H/b" | tr '\n' ' ')"
	sleep 0.1
done
[ "$(cat "$H/b/2")" = "two two" ] || fs_fail "pinned version content after compaction"
rmx "$FS_MNT/b" user.revfs.pin.2 || fs_fail "unpin"
echo last >>"$FS_MNT/b" && sync_file "$FS_MNT/b"
i=0
while [ "$(ls "$H/b" | wc -l)" != 1 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fs_fail "an unpinned version survived keep=latest: $(ls "$H/b" | tr '\n' ' ')"
	sleep 0.1
done
fs_umount

# The default rule keeps every version of the last hour through compaction.
fs_mount -o compact_frag=0,compact_min_mb=0,flush_ms=100
n=$(ls "$H/b" | wc -l)
for i in 1 2 3; do echo "v$i" >>"$FS_MNT/b" && sync_file "$FS_MNT/b"; done
sleep 1
[ "$(ls "$H/b" | wc -l)" = $((n + 3)) ] || fs_fail "the default rule dropped recent versions"

# Tools that walk trees: readdir's type and inode number match stat's for
# every entry below .revfs (a version list is a directory, not a file), no
# two entries share a number, and du, find, ls -R and tar work (du -s
# aborted, find -type f listed the version lists).
mkdir -p "$FS_MNT/w/x" && for i in 1 2; do echo "w$i" >"$FS_MNT/w/x/y" && sync_file "$FS_MNT/w/x/y"; done
du -s "$FS_MNT/.revfs" >/dev/null || fs_fail "du -s .revfs"
find "$FS_MNT/.revfs/history" -type f | grep -vE '/[0-9-]{10}T[0-9:.]{18}Z$' && fs_fail "find -type f lists directories"
[ "$(find "$H/w" -type f | wc -l)" = 2 ] || fs_fail "find: versions of w/x/y"
[ "$(find "$H/w" -type d | wc -l)" = 3 ] || fs_fail "find: w, w/x and w/x/y are directories"
ls -R "$FS_MNT/.revfs" >/dev/null || fs_fail "ls -R .revfs"
tar cf "$FS_TMP/h.tar" -C "$FS_MNT" .revfs/history .revfs/at/now/ || fs_fail "tar of .revfs"
now=$(readlink -f "$FS_MNT/.revfs/at/now") # one moment: now moves on
for d in "$H" "$H/w" "$H/w/x" "$H/w/x/y" "$now" "$now/w"; do
	ls -ai "$d" | while read -r ino name; do
		[ "$name" = . ] || [ "$name" = .. ] && continue
		[ "$(stat -c %i "$d/$name")" = "$ino" ] ||
			fs_fail "$d/$name: readdir says inode $ino, stat $(stat -c %i "$d/$name")"
	done || exit 1
done
# (b and d/link are one file: their entries rightly share numbers.)
dups=$(find "$FS_MNT/.revfs" "$now/w/" -path "$H/b" -prune -o \
	-path "$H/d/link" -prune -o -printf '%i\n' | sort | uniq -d)
[ -z "$dups" ] || fs_fail "entries of .revfs share inode numbers: $dups"
fs_umount
echo "test_history: ok"
