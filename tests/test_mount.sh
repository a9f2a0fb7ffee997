#!/bin/sh
# The programs as a user meets them: mkfs.revfs and its refusals, mount
# conventions (mkfs -t, mount -t fuse.revfs, an fstab line, -o ro), the
# lock against a second mount, bad backing directories, options and mount
# points (a file, a live revfs mount; fsck of a mount point), a
# damaged store met while mounted (that file reads EIO, the rest works, the
# log names it), and a full backing disk (ENOSPC, nothing committed lost,
# writes work again once space is freed).
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup

expect_fail() { # expect_fail "what" "stderr pattern" cmd...
	what=$1 pat=$2
	shift 2
	if "$@" >"$FS_TMP/out" 2>&1; then
		fs_fail "$what: succeeded"
	fi
	grep -q -- "$pat" "$FS_TMP/out" || {
		cat "$FS_TMP/out" >&2
		fs_fail "$what: message does not say '$pat'"
	}
}

# --- mkfs.revfs -----------------------------------------------------------
out=$("$REVFS_BIN/mkfs.revfs" -L demo "$FS_BACKING") || fs_fail "mkfs.revfs"
echo "$out" | grep -q "uuid:" || fs_fail "mkfs prints no uuid"
echo "$out" | grep -q "label: demo" || fs_fail "mkfs prints no label"
expect_fail "mkfs over a revfs" "already holds a revfs" "$REVFS_BIN/mkfs.revfs" "$FS_BACKING"
mkdir "$FS_TMP/full" && touch "$FS_TMP/full/x"
expect_fail "mkfs of a non-empty dir" "not empty" "$REVFS_BIN/mkfs.revfs" "$FS_TMP/full"
"$REVFS_BIN/mkfs.revfs" -q -f "$FS_TMP/full" || fs_fail "mkfs -f"
expect_fail "mkfs bad keep" "bad --keep" "$REVFS_BIN/mkfs.revfs" --keep=sometimes "$FS_TMP/k"
expect_fail "mkfs long label" "longer than" "$REVFS_BIN/mkfs.revfs" \
	-L "$(printf '%070d' 0)" "$FS_TMP/k"
if command -v mkfs >/dev/null; then
	PATH="$REVFS_BIN:$PATH" mkfs -t revfs "$FS_TMP/viamkfs" >/dev/null ||
		fs_fail "mkfs -t revfs"
	[ -f "$FS_TMP/viamkfs/revfs.super" ] || fs_fail "mkfs -t revfs made nothing"
fi

# -V and --version print the version, in all four programs; -v and
# --verbose are verbose (mkfs.revfs takes them and says nothing more).
for p in revfs mkfs.revfs fsck.revfs revfs-compact; do
	for o in -V --version; do
		"$REVFS_BIN/$p" $o 2>&1 | grep -q "^$p [0-9]" || fs_fail "$p $o: no version"
	done
done
"$REVFS_BIN/mkfs.revfs" -q -v "$FS_TMP/verbose" || fs_fail "mkfs.revfs -v"
"$REVFS_BIN/mkfs.revfs" -q --verbose "$FS_TMP/verbose2" || fs_fail "mkfs.revfs --verbose"
"$REVFS_BIN/fsck.revfs" -n -v "$FS_TMP/verbose" >/dev/null || fs_fail "fsck.revfs -n -v"
"$REVFS_BIN/fsck.revfs" -n --verbose "$FS_TMP/verbose" >/dev/null || fs_fail "fsck.revfs --verbose"

# --- mounting: errors -----------------------------------------------------
mkdir "$FS_TMP/plain"
expect_fail "mount of a plain dir" "not a revfs" "$REVFS_BIN/revfs" -f "$FS_TMP/plain" "$FS_MNT"
expect_fail "missing backing" "No such file" "$REVFS_BIN/revfs" -f "$FS_TMP/nothing" "$FS_MNT"
expect_fail "no mountpoint" "expected BACKING and MOUNTPOINT" "$REVFS_BIN/revfs" "$FS_BACKING"
expect_fail "bad option" "^revfs: unknown option(s): .-o bogus=1.; see revfs --help" \
	"$REVFS_BIN/revfs" -f -o bogus=1 "$FS_BACKING" "$FS_MNT"
# The command line's own errors are revfs's, and point to --help (they
# were libfuse's bare "fuse: invalid argument" and "unknown option(s)").
expect_fail "bad flag" "revfs: unknown option --bogus; see revfs --help" \
	"$REVFS_BIN/revfs" --bogus "$FS_BACKING" "$FS_MNT"
expect_fail "extra argument" "revfs: unexpected argument 'extra'.*see revfs --help" \
	"$REVFS_BIN/revfs" -f "$FS_BACKING" "$FS_MNT" extra
expect_fail "bad flush_ms" "flush_ms must be" "$REVFS_BIN/revfs" -f -o flush_ms=0 \
	"$FS_BACKING" "$FS_MNT"
# Numbers out of their range, negative, too large for their type or not
# numbers at all are refused, naming the option (they were wrapped, or
# taken silently for the default).
for o in flush_ms=-1 flush_ms=4294967297 dirty_mb=4294967297 compact_frag=4294967296 \
	compact=2 compact=-1 compact_min_mb=x attr_timeout=nan attr_timeout=-1 flush_ms=1e3; do
	expect_fail "-o $o" "${o%%=*} must be" "$REVFS_BIN/revfs" -f -o "$o" "$FS_BACKING" "$FS_MNT"
done
# A mount point must be a directory that exists (revfs mounted on a plain
# file before). timeout: a regression would mount and stay in front.
touch "$FS_TMP/afile"
expect_fail "mount on a file" "is not a directory" timeout 20 "$REVFS_BIN/revfs" -f \
	"$FS_BACKING" "$FS_TMP/afile"
expect_fail "missing mount point" "mount point $FS_TMP/nomnt: No such file" \
	"$REVFS_BIN/revfs" -f "$FS_BACKING" "$FS_TMP/nomnt"
cp -a "$FS_BACKING" "$FS_TMP/badsb"
printf 'X' | dd of="$FS_TMP/badsb/revfs.super" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_fail "damaged superblock" "fsck.revfs" "$REVFS_BIN/revfs" -f "$FS_TMP/badsb" "$FS_MNT"
mountpoint -q "$FS_MNT" && fs_fail "a failed mount left a mount behind"

# --- the lock: a second mount of one backing directory -------------------
fs_mount
# The refusals above came before the backing directory was opened: none
# left it marked as not unmounted cleanly.
grep -q "not unmounted cleanly" "$FS_TMP/revfs.log" &&
	fs_fail "a refused mount left the backing directory unclean"
# Another revfs over a live one would hide it (it stacked silently), and
# fsck of the mount point checks the mount's backing directory instead,
# without making a lock file in the mount.
expect_fail "a revfs over a revfs" "already a revfs mount (of $FS_BACKING)" timeout 20 \
	"$REVFS_BIN/revfs" -f "$FS_TMP/full" "$FS_MNT"
expect_fail "fsck of a mount point" "is a revfs mount of $FS_BACKING" \
	"$REVFS_BIN/fsck.revfs" -y "$FS_MNT"
[ -e "$FS_MNT/.lock" ] && fs_fail "fsck made a lock file in the mount"
mkdir "$FS_TMP/mnt2"
expect_fail "second mount" "already mounted" "$REVFS_BIN/revfs" -f "$FS_BACKING" "$FS_TMP/mnt2"
mountpoint -q "$FS_TMP/mnt2" && fs_fail "second mount happened"

# --- a damaged store while mounted ---------------------------------------
head -c 300000 /dev/urandom >"$FS_MNT/victim"
echo "fine" >"$FS_MNT/other"
sync "$FS_MNT/victim" "$FS_MNT/other" 2>/dev/null || sync
fs_umount
victim=$(ls "$FS_BACKING"/ino/*/*.rev | while read -r f; do
	[ "$(stat -c %s "$f")" -gt 300000 ] && echo "$f"; done | head -1)
[ -n "$victim" ] || fs_fail "no store of the big file"
# Flip bytes in the middle of the data, far from the header.
printf 'ZZZZZZZZ' | dd of="$victim" bs=1 seek=150000 conv=notrunc 2>/dev/null
fs_mount
if cat "$FS_MNT/victim" >/dev/null 2>"$FS_TMP/err"; then
	fs_fail "a damaged store read without error"
fi
grep -q "Input/output error" "$FS_TMP/err" || fs_fail "damaged store: not EIO: $(cat "$FS_TMP/err")"
[ "$(cat "$FS_MNT/other")" = fine ] || fs_fail "other file unreadable next to a damaged one"
echo more >"$FS_MNT/third" || fs_fail "writes stopped after a damaged store"
grep -q "$(basename "$victim")" "$FS_TMP/revfs.log" || fs_fail "the log does not name the store"
rm "$FS_MNT/victim"
fs_umount

# --- the .revfs tree: by name only, read-only -------------------------------
fs_mount
mkdir -p "$FS_MNT/sub" && echo x >"$FS_MNT/sub/f"
[ -d "$FS_MNT/.revfs" ] || fs_fail ".revfs not reachable by name"
ls -a "$FS_MNT" | grep -q '^\.revfs$' && fs_fail "the root's readdir lists .revfs"
find "$FS_MNT" | grep -q '\.revfs' && fs_fail "find enters .revfs"
tar cf - -C "$FS_MNT" . | tar tf - | grep -q '\.revfs' && fs_fail "tar enters .revfs"
grep -q '^compactions [0-9]' "$FS_MNT/.revfs/stats" || fs_fail ".revfs/stats has no counters"
cp "$FS_MNT/.revfs/stats" "$FS_TMP/stats" && [ -s "$FS_TMP/stats" ] || fs_fail "cp of stats"
for what in "touch $FS_MNT/.revfs/new" "mkdir $FS_MNT/.revfs/d" "rm -f $FS_MNT/.revfs/stats" \
	"rmdir $FS_MNT/.revfs" "mv $FS_MNT/.revfs $FS_MNT/x"; do
	$what 2>"$FS_TMP/err" && fs_fail "$what succeeded"
	grep -q "Read-only file system" "$FS_TMP/err" || fs_fail "$what: not EROFS: $(cat "$FS_TMP/err")"
done
(echo x >"$FS_MNT/.revfs/stats") 2>/dev/null && fs_fail "write to .revfs/stats succeeded"
mkdir "$FS_MNT/.revfs" 2>"$FS_TMP/err" && fs_fail "mkdir .revfs at the root succeeded"
grep -q "File exists" "$FS_TMP/err" || fs_fail "mkdir .revfs: not EEXIST"
mkdir "$FS_MNT/sub/.revfs" || fs_fail "a .revfs below the root is an ordinary name"
fs_umount

# --- read-only mounts ------------------------------------------------------
fs_mount -o ro
[ "$(cat "$FS_MNT/other")" = fine ] || fs_fail "ro: cannot read"
if (echo x >"$FS_MNT/new") 2>/dev/null; then fs_fail "ro: write succeeded"; fi
if mkdir "$FS_MNT/newdir" 2>/dev/null; then fs_fail "ro: mkdir succeeded"; fi
fs_umount

# --- mount(8): -t fuse.revfs, an fstab line --------------------------------
# mount.fuse3 runs the daemon with a fixed PATH, so "fuse.revfs" needs revfs
# installed there. The "fuse" type names the program itself and works from
# the build tree; as root with no revfs installed, a link stands in for the
# installed program while the test runs.
link=""
if [ "$(id -u)" = 0 ] && [ -d /usr/local/sbin ] && ! command -v revfs >/dev/null &&
	[ ! -e /usr/local/sbin/revfs ]; then
	ln -s "$REVFS_BIN/revfs" /usr/local/sbin/revfs && link=/usr/local/sbin/revfs
	trap '[ -n "$link" ] && rm -f "$link"; fs_cleanup' EXIT
fi
if command -v mount >/dev/null && command -v mount.fuse3 >/dev/null ||
	[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ]; then
	mount -t fuse "$REVFS_BIN/revfs#$FS_BACKING" "$FS_MNT" -o flush_ms=500 ||
		fs_fail "mount -t fuse revfs#BACKING"
	[ "$(cat "$FS_MNT/other")" = fine ] || fs_fail "mount -t fuse: cannot read"
	fusermount3 -u "$FS_MNT"
	sleep 0.2
	if [ -n "$link" ] || command -v revfs >/dev/null; then
		mount -t fuse.revfs "$FS_BACKING" "$FS_MNT" || fs_fail "mount -t fuse.revfs"
		[ "$(cat "$FS_MNT/other")" = fine ] || fs_fail "mount -t fuse.revfs: cannot read"
		fusermount3 -u "$FS_MNT"
		sleep 0.2
		fstype=fuse.revfs src=$FS_BACKING
	else
		echo "test_mount: revfs not installed: fstab line tested with type fuse"
		fstype=fuse src="$REVFS_BIN/revfs#$FS_BACKING"
	fi
	echo "$src $FS_MNT $fstype rw,noatime,flush_ms=500 0 0" >"$FS_TMP/fstab"
	mount --fstab "$FS_TMP/fstab" "$FS_MNT" || fs_fail "mount from an fstab line"
	echo via-fstab >"$FS_MNT/f" || fs_fail "fstab mount: cannot write"
	fusermount3 -u "$FS_MNT"
	# The daemon commits after the unmount; the next mount waits for it.
	fs_mount
	[ "$(cat "$FS_MNT/f")" = via-fstab ] || fs_fail "fstab mount: data lost"
	fs_umount
fi
[ -n "$link" ] && rm -f "$link" && link=""

# --- a full backing disk -----------------------------------------------------
if [ "$(id -u)" = 0 ]; then
	small=$FS_TMP/small
	mkdir "$small"
	mount -t tmpfs -o size=48m tmpfs "$small" || fs_fail "tmpfs"
	trap 'fusermount3 -u "$FS_MNT" 2>/dev/null; [ -n "$FS_PID" ] && wait "$FS_PID"; umount "$small" 2>/dev/null; fs_cleanup' EXIT
	FS_BACKING=$small/b
	fs_mkfs
	fs_mount
	head -c 4000000 /dev/urandom >"$FS_TMP/keep"
	cp "$FS_TMP/keep" "$FS_MNT/keep" && sync "$FS_MNT/keep" 2>/dev/null
	# A deleted file's store stays for history (the graveyard) until
	# the disk is full: then it goes before writes fail.
	head -c 8000000 /dev/urandom >"$FS_MNT/gone" && sync "$FS_MNT/gone" 2>/dev/null
	rm "$FS_MNT/gone"
	if dd if=/dev/zero of="$FS_MNT/fill" bs=1M count=200 conv=fsync 2>"$FS_TMP/err"; then
		fs_fail "filling a 48 MiB disk with 200 MiB succeeded"
	fi
	grep -q "No space left" "$FS_TMP/err" || fs_fail "full disk: not ENOSPC: $(cat "$FS_TMP/err")"
	cmp "$FS_TMP/keep" "$FS_MNT/keep" || fs_fail "full disk: committed data changed"
	rm -f "$FS_MNT/fill"
	sleep 2.5 # the flusher notices the room
	echo after >"$FS_MNT/after" && sync "$FS_MNT/after" 2>/dev/null ||
		fs_fail "writes do not work again after space was freed"
	grep -q "history gave way to live data: .* dropped [1-9][0-9]* deleted files" "$FS_TMP/revfs.log" ||
		fs_fail "full disk: the stores of deleted files were not given up"
	fs_umount
	fs_mount
	cmp "$FS_TMP/keep" "$FS_MNT/keep" || fs_fail "full disk: data lost after remount"
	[ "$(cat "$FS_MNT/after")" = after ] || fs_fail "full disk: later write lost"
	fs_umount
	umount "$small"
fi
echo "test_mount: ok"
