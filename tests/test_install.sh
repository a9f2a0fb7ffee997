#!/bin/sh
# make install into a temporary PREFIX, then the programs as mkfs(8), fsck(8)
# and mount(8) find them: "mkfs -t revfs DIR", "fsck -t revfs DIR" (its exit
# status passed through), the command mount(8) runs for "-t fuse.revfs"
# (mount.fuse3 with PATH at the prefix), and, as root with unshare(1),
# "mount -t fuse.revfs", an fstab line and the settings of the example
# systemd unit (docs/revfs-example.mount, which systemd-analyze verifies)
# themselves in a private mount namespace. The installed man pages are
# found by man(1), every page renders with no groff warning, and make
# uninstall leaves no file behind, with DESTDIR too. The real /usr/local is
# never written.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=$FS_TMP/prefix
ORIG_PATH=$PATH

# The programs are those of $REVFS_BIN as built: -o keeps make from
# rebuilding them (with other flags) if a source changed since.
minstall() { # minstall TARGET VAR=VALUE...
	t=$1
	shift
	make -s -C "$ROOT" BUILD="$REVFS_BIN" -o "$REVFS_BIN/revfs" -o "$REVFS_BIN/mkfs.revfs" \
		-o "$REVFS_BIN/fsck.revfs" -o "$REVFS_BIN/revfs-compact" -o "$REVFS_BIN/revfs-tune" \
		"$@" "$t" >"$FS_TMP/make.out" 2>&1 ||
		{
			cat "$FS_TMP/make.out" >&2
			fs_fail "make $t $*"
		}
}
# The daemons started here run detached; each writes "pid N on MNT" into the
# backing directory's lock file and lets go of it once it has committed.
wait_unlocked() { # wait_unlocked BACKING
	i=0
	while ! flock -n "$1/.lock" true; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			pid=$(sed -n 's/^pid \([0-9]*\) .*/\1/p' "$1/.lock")
			[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
			fs_fail "the daemon of $1 did not exit after its unmount"
		fi
		sleep 0.05
	done
}
local_files() { # what of revfs the real /usr/local holds
	ls -l /usr/local/bin /usr/local/sbin /usr/local/share/man/man8 2>/dev/null | grep -i revfs
}
before=$(local_files)

# --- install ---------------------------------------------------------------
minstall install PREFIX="$P"
for f in bin/revfs bin/revfs-compact sbin/mkfs.revfs sbin/fsck.revfs sbin/revfs-tune; do
	[ -x "$P/$f" ] || fs_fail "install: no $P/$f"
	[ "$(stat -c %a "$P/$f")" = 755 ] || fs_fail "install: $f is not mode 755"
	cmp -s "$P/$f" "$REVFS_BIN/$(basename "$f")" || fs_fail "install: $f is not the build's"
done
for m in revfs mkfs.revfs fsck.revfs revfs-compact revfs-tune; do
	[ "$(stat -c %a "$P/share/man/man8/$m.8" 2>/dev/null)" = 644 ] ||
		fs_fail "install: no man page $m.8 of mode 644"
	if command -v man >/dev/null; then
		[ "$(MANPATH=$P/share/man man -w "$m")" = "$P/share/man/man8/$m.8" ] ||
			fs_fail "man does not find the installed $m.8"
	fi
done
[ "$(find "$P" ! -type d | wc -l)" = 10 ] || fs_fail "install put other than 10 files: $(find "$P")"
# The example systemd mount unit parses (its man page is the one installed).
if command -v systemd-analyze >/dev/null; then
	cp "$ROOT/docs/revfs-example.mount" "$FS_TMP/mnt-vault.mount"
	(cd "$FS_TMP" && MANPATH=$P/share/man systemd-analyze verify ./mnt-vault.mount) \
		>"$FS_TMP/out" 2>&1 || fs_fail "systemd-analyze verify: $(cat "$FS_TMP/out")"
else
	echo "test_install: no systemd-analyze: the example unit not verified"
fi

PATH=$P/bin:$P/sbin:$ORIG_PATH
export PATH
for p in revfs mkfs.revfs fsck.revfs revfs-compact revfs-tune; do
	case $(command -v $p) in "$P"/*) ;; *) fs_fail "$p is not found on PATH in the prefix" ;; esac
	$p --version | grep -q "^$p [0-9]" || fs_fail "$p --version"
	$p --help | grep -q "^Usage: $p" || fs_fail "$p --help"
done

# --- mkfs -t revfs, fsck -t revfs ------------------------------------------
B=$FS_BACKING
if command -v mkfs >/dev/null; then
	mkfs -t revfs -L inst "$B" >"$FS_TMP/out" 2>&1 || fs_fail "mkfs -t revfs: $(cat "$FS_TMP/out")"
	grep -q "label: inst" "$FS_TMP/out" || fs_fail "mkfs -t revfs did not run mkfs.revfs"
else
	echo "test_install: no mkfs(8): mkfs.revfs run by name"
	mkfs.revfs -q -L inst "$B" || fs_fail "mkfs.revfs"
fi
[ -f "$B/revfs.super" ] || fs_fail "mkfs -t revfs made no superblock"
if command -v fsck >/dev/null; then
	# fsck -N says what it would run: the checker in the prefix.
	fsck -N -t revfs "$B" | grep -q "$P/sbin/fsck.revfs" || fs_fail "fsck -t revfs runs another fsck.revfs"
	fsck -t revfs -n "$B" >"$FS_TMP/out" 2>&1 || fs_fail "fsck -t revfs -n: $(cat "$FS_TMP/out")"
	grep -q "0 problems" "$FS_TMP/out" || fs_fail "fsck -t revfs -n: not clean: $(cat "$FS_TMP/out")"
	# A stale compaction file: 4 (left) with -n, 1 (fixed) with -p, then 0.
	echo stale >"$B/ns.rev.compact"
	fsck -t revfs -n "$B" >/dev/null 2>&1
	[ $? = 4 ] || fs_fail "fsck -t revfs -n on a leftover: exit status not 4"
	fsck -t revfs -p "$B" >/dev/null 2>&1
	[ $? = 1 ] || fs_fail "fsck -t revfs -p on a leftover: exit status not 1"
	[ -e "$B/ns.rev.compact" ] && fs_fail "fsck -t revfs -p left the leftover"
	fsck -t revfs -n "$B" >/dev/null 2>&1 || fs_fail "fsck -t revfs: not clean after -p"
else
	echo "test_install: no fsck(8): skipped fsck -t revfs"
fi

# --- mount -t fuse.revfs ---------------------------------------------------
# mount(8) drops PATH and runs "/sbin/mount.fuse3 BACKING MNT -o OPTS -t
# fuse.revfs", which starts "revfs" through /bin/sh; run that step with
# PATH at the prefix.
M=$FS_MNT
# A retention rule through -o: its items joined by '+', since mount and
# libfuse split option values at commas.
KEEP=keep=all:1h+hourly:1d+daily:30d+min:10
want=""
helper=""
for h in /sbin/mount.fuse3 /usr/sbin/mount.fuse3; do [ -x $h ] && helper=$h && break; done
if [ -n "$helper" ]; then
	$helper "$B" "$M" -o rw,noatime,flush_ms=500,$KEEP -t fuse.revfs 2>"$FS_TMP/out" ||
		fs_fail "mount.fuse3 -t fuse.revfs: $(cat "$FS_TMP/out")"
	grep -q " $M fuse.revfs " /proc/self/mounts || fs_fail "mount.fuse3: no fuse.revfs mount"
	echo one >"$M/notes.txt" && sync "$M/notes.txt" || fs_fail "mount.fuse3: cannot write"
	fusermount3 -u "$M" || fs_fail "fusermount3 -u after mount.fuse3"
	wait_unlocked "$B"
	want=one
else
	echo "test_install: no mount.fuse3: the mount(8) step skipped"
fi

# mount(8) itself: in a private mount namespace, the prefix's bin is bound
# over /usr/local/bin, in the helper shell's default PATH (mount is run with
# no PATH at all, to show it plays no part). Nothing outside that namespace
# sees the bind mount; the shell inside always unmounts.
if [ -n "$helper" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
	unshare -m true 2>/dev/null; then
	echo "$B $M fuse.revfs rw,noatime,flush_ms=500,$KEEP 0 0" >"$FS_TMP/fstab"
	unshare -m sh -c '
		set -u
		B=$1 M=$2 P=$3 T=$4 U=$5 K=$6
		trap "fusermount3 -u \"\$M\" 2>/dev/null" EXIT
		mount --bind "$P/bin" /usr/local/bin || exit 10
		env -u PATH mount -t fuse.revfs "$B" "$M" -o flush_ms=500,$K || exit 11
		[ "$(cat "$M/notes.txt")" = one ] || exit 12
		echo two >"$M/notes.txt" || exit 13
		fusermount3 -u "$M" || exit 14
		i=0; while ! flock -n "$B/.lock" true; do
			i=$((i + 1)); [ $i -gt 300 ] && exit 15; sleep 0.05; done
		mount --fstab "$T/fstab" "$M" || exit 16
		[ "$(cat "$M/notes.txt")" = two ] || exit 17
		fusermount3 -u "$M" || exit 18
		i=0; while ! flock -n "$B/.lock" true; do
			i=$((i + 1)); [ $i -gt 300 ] && exit 19; sleep 0.05; done
		# The [Mount] settings of the example unit, mounted as systemd does.
		eval "$(sed -n "s/^\\(What\\|Where\\|Type\\|Options\\)=/u_\\1=/p" "$U")" || exit 20
		[ "$u_What" = /srv/vault ] && [ "$u_Where" = /mnt/vault ] || exit 21
		mount -t "$u_Type" -o "$u_Options" "$B" "$M" || exit 22
		echo three >>"$M/notes.txt" || exit 23
		fusermount3 -u "$M" || exit 24
	' sh "$B" "$M" "$P" "$FS_TMP" "$ROOT/docs/revfs-example.mount" "$KEEP"
	rc=$?
	wait_unlocked "$B"
	[ $rc = 0 ] || fs_fail "mount -t fuse.revfs in a private namespace: step $rc failed"
	want="two
three"
else
	echo "test_install: not root or no unshare: mount -t fuse.revfs itself not run"
fi
# The data written through both mounts, read by a mount of the test's own.
if [ -n "$want" ]; then
	fs_mount
	[ "$(cat "$M/notes.txt")" = "$want" ] || fs_fail "data written through mount(8) lost"
	fs_umount
fi

# --- uninstall -------------------------------------------------------------
PATH=$ORIG_PATH
minstall uninstall PREFIX="$P"
left=$(find "$P" ! -type d)
[ -z "$left" ] || fs_fail "uninstall left: $left"

# DESTDIR: everything under it, nothing else; uninstall through it.
S=$FS_TMP/stage
minstall install DESTDIR="$S" PREFIX=/usr
[ -x "$S/usr/bin/revfs" ] && [ -x "$S/usr/sbin/fsck.revfs" ] &&
	[ -f "$S/usr/share/man/man8/revfs.8" ] || fs_fail "install with DESTDIR: files missing"
[ "$(find "$S" ! -type d | wc -l)" = 10 ] || fs_fail "install with DESTDIR: not 10 files"
minstall uninstall DESTDIR="$S" PREFIX=/usr
[ -z "$(find "$S" ! -type d)" ] || fs_fail "uninstall with DESTDIR left files"
[ "$(local_files)" = "$before" ] || fs_fail "the real /usr/local changed"

# --- the man pages render with no warning ------------------------------------
if command -v groff >/dev/null; then
	for m in "$ROOT"/docs/*.8; do
		out=$(groff -ww -z -man "$m" 2>&1)
		[ -z "$out" ] || fs_fail "groff warns on $(basename "$m"): $out"
	done
else
	echo "test_install: no groff: man pages not rendered"
fi
echo "test_install: ok"
