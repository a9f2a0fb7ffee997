#!/bin/sh
# MNT/.revfs/at/<time>/ against snapshots taken with cp -a: a scripted
# history (writes, modes, symlinks, hard links, renames, truncation,
# deletions) is copied aside after each step, and at/<that moment> must
# match the copy byte for byte, with the same names, types, modes, sizes,
# owners and link targets. Every time syntax is tried; a time before
# anything is ENOENT, one past the u64 nanoseconds is now; at/ lists the
# links now and oldest; nothing under at/ can change; cp -a out of at/
# restores; the view survives a remount; fsck accepts the kept stores of
# deleted files, and once compaction with keep=latest has dropped the
# namespace versions that named them, the daemon removes them.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs

A=$FS_MNT/.revfs/at
T=$FS_MNT/tree
SNAP=$FS_TMP/snap

# Everything written so far is committed: the flusher runs every 100 ms,
# and an fsync waits for a round that starts after it (file stores, then
# the namespace).
settle() {
	sleep 0.3
	dd if=/dev/null of="$FS_MNT/.marker" oflag=append conv=notrunc,fsync status=none ||
		fs_fail "fsync of the marker"
}

# Names every moment k after its step is committed; the next step starts a
# second later, so @<t_k> is unambiguous.
STEPS=0
snap() {
	settle
	sleep 1
	STEPS=$((STEPS + 1))
	eval "t_$STEPS=$(date +%s)"
	mkdir -p "$SNAP"
	cp -a "$T" "$SNAP/$STEPS" || fs_fail "cp -a of step $STEPS"
	sleep 1
}

# What a tree looks like, one line per name: type, mode, size for files,
# owner, link target. Sizes of directories and times are left out.
shape() {
	(cd "$1" && find . -printf '%p %y %m %U %G %l\n' | sort) &&
		(cd "$1" && find . -type f -printf '%p %s\n' | sort)
}

same() { # same SNAPDIR ATDIR WHAT
	[ -d "$2" ] || fs_fail "$3: $2 is not a directory"
	diff -r --no-dereference "$1" "$2" >"$FS_TMP/diff" 2>&1 ||
		fs_fail "$3: content differs: $(head -5 "$FS_TMP/diff")"
	shape "$1" >"$FS_TMP/shape.want"
	shape "$2" >"$FS_TMP/shape.got"
	cmp -s "$FS_TMP/shape.want" "$FS_TMP/shape.got" ||
		fs_fail "$3: names or attributes differ: $(diff "$FS_TMP/shape.want" "$FS_TMP/shape.got" | head -6)"
}

fs_mount -o flush_ms=100,compact=0
t_0=$(date +%s)
sleep 1.1

# 1: a small tree.
mkdir -p "$T/src" "$T/docs" "$T/empty"
printf 'int main(void) { return 0; }\n' >"$T/src/a.c"
printf 'read me\n' >"$T/docs/readme"
printf 'secret\n' >"$T/docs/secret" && chmod 600 "$T/docs/secret"
head -c 1048576 /dev/urandom >"$T/big"
: >"$T/zero"
ln -s src/a.c "$T/link"
setfattr -n user.color -v blue "$T/docs/readme" || fs_fail "setfattr"
snap

# 2: appends, a rename, a hard link, truncation, modes.
printf '/* more */\n' >>"$T/src/a.c"
mv "$T/docs/readme" "$T/docs/README"
setfattr -n user.color -v red "$T/docs/README" && setfattr -n user.size -v L "$T/docs/README"
ln "$T/src/a.c" "$T/hard"
truncate -s 100000 "$T/big"
chmod 750 "$T/src"
chmod 4755 "$T/zero"
snap

# 3: deletions, a new directory, an overwrite, a symlink retargeted.
rm "$T/src/a.c"
rm -r "$T/docs"
mkdir "$T/docs2" && printf 'new doc\n' >"$T/docs2/n.txt"
head -c 200000 /dev/urandom >"$T/big"
rm "$T/link" && ln -s docs2/n.txt "$T/link"
snap

# 4: the last name of a file and a big file go; a sparse file comes.
rm "$T/hard" "$T/big"
truncate -s 3000000 "$T/sparse" && printf 'tail' | dd of="$T/sparse" bs=1 seek=2999000 conv=notrunc status=none
snap

# 5: a directory renamed and written into.
mv "$T/src" "$T/src-moved"
printf 'moved\n' >"$T/src-moved/m"
snap

for k in $(seq 1 $STEPS); do
	eval "t=\$t_$k"
	same "$SNAP/$k" "$A/@$t/tree" "at/@$t (step $k)"
done

# The other ways to name a moment.
t=$t_2
same "$SNAP/2" "$A/$(date -d "@$t" +%Y-%m-%dT%H:%M:%S)/tree" "ISO local time"
same "$SNAP/2" "$A/$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)/tree" "ISO UTC"
same "$SNAP/2" "$A/$(date -d "@$t" +%Y-%m-%dT%H:%M:%S%:z)/tree" "ISO with an offset"
same "$SNAP/2" "$A/@$t.5/tree" "@seconds.fraction"
t=$t_3
ago=$(($(date +%s) - t))
same "$SNAP/3" "$A/-${ago}s/tree" "relative seconds"
ago=$(($(date +%s) - t_1))
same "$SNAP/1" "$A/-0m${ago}s/tree" "relative minutes and seconds"
# Before anything, and not a time at all.
for name in "@$((t_0 - 100))" "@100" "1970-01-02" "-100w" "yesterday" "2026-13-01" "2026-02-30" "@12x"; do
	[ -e "$A/$name" ] && fs_fail "at/$name exists"
done
# at/ lists only two links that help: now, and the oldest moment kept.
[ "$(ls "$A" | tr '\n' ' ')" = "now oldest " ] || fs_fail "at/ lists: $(ls "$A")"
[ -L "$A/now" ] && [ -L "$A/oldest" ] || fs_fail "at/now and at/oldest are not links"
n=$(readlink "$A/now")
n=${n#@}
[ $((n - $(date +%s))) -ge 0 ] && [ $((n - $(date +%s))) -le 2 ] || fs_fail "at/now -> @$n"
o=$(readlink "$A/oldest")
o=${o#@}
[ "$o" -le "$t_1" ] || fs_fail "at/oldest -> @$o, after step 1 (@$t_1)"
# The tree now, by a time to come, by now, and by seconds past the last
# nanosecond a u64 holds (which wrapped to 1970 and showed nothing).
same "$T" "$A/2999-01-01/tree" "a time to come"
same "$T" "$A/now/tree" "at/now"
same "$T" "$A/@18446744074/tree" "@18446744074"
same "$T" "$A/@99999999999999999999/tree" "@99999999999999999999"

# Nothing under at/ changes.
d=$A/@$t_2/tree
for what in "touch $d/new" "rm $d/zero" "mkdir $d/x" "mv $d/zero $d/zero2" "chmod 600 $d/zero" \
	"rmdir $d/empty" "ln -s x $d/sym" "ln $d/zero $d/zero3" "setfattr -n user.x -v 1 $d/zero"; do
	$what 2>/dev/null && fs_fail "$what succeeded"
done
(echo x >>"$d/zero") 2>/dev/null && fs_fail "a write under at/ succeeded"
err=$(touch "$d/new" 2>&1)
case $err in *"Read-only file system"*) ;; *) fs_fail "a change under at/ is not EROFS: $err" ;; esac

# Tools that walk the mount stay out of .revfs; below the root the name is
# an ordinary one, and at the root it cannot be made.
mkdir -p "$FS_MNT/plain/.revfs" && echo ordinary >"$FS_MNT/plain/.revfs/f" ||
	fs_fail "a .revfs below the root"
[ "$(cat "$FS_MNT/plain/.revfs/f")" = ordinary ] || fs_fail "plain/.revfs/f"
find "$FS_MNT" | grep -v "^$FS_MNT/plain/" | grep -q '/\.revfs' && fs_fail "find enters .revfs"
du -a "$FS_MNT" | grep -v "$FS_MNT/plain/" | grep -q '/\.revfs' && fs_fail "du enters .revfs"
tar cf - -C "$FS_MNT" . | tar tf - | grep -v '^\./plain/' | grep -q '\.revfs' &&
	fs_fail "tar enters .revfs"
ls -a "$FS_MNT" | grep -q '^\.revfs$' && fs_fail ".revfs is listed at the root"
for what in "mkdir $FS_MNT/.revfs" "touch $FS_MNT/.revfs/x" "ln -s x $FS_MNT/.revfs"; do
	$what 2>/dev/null && fs_fail "$what succeeded"
done
err=$(mkdir "$FS_MNT/.revfs" 2>&1)
case $err in *"File exists"*) ;; *) fs_fail "mkdir .revfs at the root: $err" ;; esac
rm -r "$FS_MNT/plain"

# The xattrs of the time (at/ had none, so cp -a from it lost them).
xa() { getfattr --absolute-names -d "$1" 2>/dev/null | grep -v '^#' | grep . | sort | tr '\n' ' '; }
[ "$(xa "$A/@$t_1/tree/docs/readme")" = 'user.color="blue" ' ] ||
	fs_fail "xattrs at step 1: $(xa "$A/@$t_1/tree/docs/readme")"
[ "$(xa "$A/@$t_2/tree/docs/README")" = 'user.color="red" user.size="L" ' ] ||
	fs_fail "xattrs at step 2: $(xa "$A/@$t_2/tree/docs/README")"
[ "$(getfattr --only-values -n user.color "$A/@$t_1/tree/docs/readme")" = blue ] ||
	fs_fail "getxattr at step 1"
getfattr --absolute-names -n user.none "$A/@$t_1/tree/docs/readme" 2>&1 | grep -q "No such attribute" ||
	fs_fail "getxattr of a missing name at step 1"

# Restoring is copying out.
cp -a "$A/@$t_1/tree/docs" "$FS_MNT/docs.restored" || fs_fail "cp -a out of at/"
same "$SNAP/1/docs" "$FS_MNT/docs.restored" "restored directory"
[ "$(xa "$FS_MNT/docs.restored/readme")" = 'user.color="blue" ' ] ||
	fs_fail "cp -a from at/ lost the xattrs: $(xa "$FS_MNT/docs.restored/readme")"
cp "$A/@$t_2/tree/hard" "$FS_MNT/a.restored" && cmp "$FS_MNT/a.restored" "$SNAP/2/hard" ||
	fs_fail "a deleted file restored by cp"
fs_umount

# The kept stores of deleted files are no orphans to fsck.
"$REVFS_BIN/fsck.revfs" -n "$FS_BACKING" >"$FS_TMP/fsck.out" 2>&1 ||
	fs_fail "fsck after deletions: $(cat "$FS_TMP/fsck.out")"
stores() { find "$FS_BACKING/ino" -name '*.rev' | wc -l; }
before=$(stores)

# A remount shows the same.
fs_mount -o flush_ms=100,compact=0
same "$SNAP/3" "$A/@$t_3/tree" "at/ after a remount"
live=$(find "$FS_MNT" -type f -printf '%i\n' | sort -u | wc -l)
[ "$before" -gt "$live" ] || fs_fail "no store kept for deleted files ($before stores, $live files)"
fs_umount

# keep=latest: once the namespace is compacted, no version names the
# deleted files, and their stores go.
fs_mount -o keep=latest,compact_frag=0,compact_min_mb=0,flush_ms=100
echo more >"$FS_MNT/more" && settle
live=$(find "$FS_MNT" -type f -printf '%i\n' | sort -u | wc -l)
i=0
while [ "$(stores)" -gt "$live" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fs_fail "stores of deleted files not removed: $(stores) stores, $live files"
	echo "$i" >"$FS_MNT/more" && settle
done
[ -e "$A/@$t_1" ] && fs_fail "at/@$t_1 still there after keep=latest"
same "$T" "$A/-0s/tree" "now, after the namespace was compacted"
fs_umount
"$REVFS_BIN/fsck.revfs" -n "$FS_BACKING" >"$FS_TMP/fsck.out" 2>&1 ||
	fs_fail "fsck after the graveyard was reaped: $(cat "$FS_TMP/fsck.out")"
echo "test_at: ok"
