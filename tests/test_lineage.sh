#!/bin/sh
# History follows the path (issue: history people can trust, point 1):
# .revfs/history/f/ lists the versions of the file at f and of the files
# it took the place of there, whatever tool saved it. Each save below adds
# exactly one version, and every version reads back as that save wrote it:
#
#   echo > f, cp x f (the same file, rewritten), printf > .f.tmp && mv
#   .f.tmp f (an atomic save), sed -i, vim -u DEFAULTS (writes a backup,
#   renames, writes anew), vim with backupcopy=no, install -m 644 x f,
#   git checkout of another revision, Python's os.replace, rm f then
#   echo > f.
#
# Before, an atomic save started the history again at 1. Also: a file
# moved with mv brings its own history; a pinned version stays pinned and
# listed after atomic saves; version names sort in time order;
# user.revfs.versions and revfs-compact -n -v count the lineage; the
# replaced files' stores stay in the graveyard while the lineage names
# them, and fsck -f finds the directory clean.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
fs_mkfs
H=$FS_MNT/.revfs/history
VIM=$(command -v vim.tiny || command -v vim || true) # deps.sh installs vim-tiny
fsync() { dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"; }
n=0
expect() { # WHAT CONTENT: the save just made is version n+1, and reads CONTENT
	n=$((n + 1))
	i=0
	# history/f may name the replaced file for a tenth of a second
	while [ "$(ls "$H/f" 2>/dev/null | wc -l)" != "$n" ]; do
		i=$((i + 1))
		[ $i -gt 50 ] && fs_fail "$1: $(ls "$H/f" | wc -l) versions, want $n"
		sleep 0.1
	done
	last=$(ls "$H/f" | tail -1)
	[ "$(cat "$H/f/$last")" = "$2" ] || fs_fail "$1: the newest version reads '$(cat "$H/f/$last")'"
	printf '%s\n' "$2" >>"$FS_TMP/want"
}

fs_mount -o flush_ms=100
cd "$FS_MNT" || fs_fail "cd"
: >"$FS_TMP/want"
echo one >f && expect "echo > f" one
printf 'two\n' >"$FS_TMP/x" && cp "$FS_TMP/x" f && expect "cp x f" two
printf 'three\n' >.f.tmp && mv .f.tmp f && expect "atomic save (mv over)" three
sed -i 's/three/four/' f && expect "sed -i" four
if [ -n "$VIM" ]; then
	"$VIM" -u DEFAULTS -i NONE -es -c '%s/four/five/' -c wq f </dev/null && expect "vim -u DEFAULTS" five
	"$VIM" -u DEFAULTS -i NONE -es -c 'set backupcopy=no' -c '%s/five/six/' -c wq f </dev/null &&
		expect "vim backupcopy=no" six
else
	echo "test_lineage: no vim here, its two saves skipped"
	printf 'six\n' >f && expect "echo > f (instead of vim)" six
fi
printf 'seven\n' >"$FS_TMP/x" && install -m 644 "$FS_TMP/x" f && expect "install -m 644" seven
if command -v git >/dev/null; then
	mkdir repo && cd repo && git init -q && git config user.email t@t && git config user.name t &&
		printf 'a\n' >f && git add f && git commit -qm a && printf 'b\n' >f && git commit -qam b &&
		cd .. || fs_fail "git"
	# the history of repo/f: its two commits' checkouts, then another one
	(cd repo && git checkout -q HEAD~1 -- f && fsync f) || fs_fail "git checkout"
	[ "$(cat repo/f)" = a ] || fs_fail "git checkout: repo/f"
	[ "$(ls "$H/repo/f" | wc -l)" -ge 3 ] || fs_fail "git checkout: $(ls "$H/repo/f" | wc -l) versions of repo/f"
fi
# Python's os.replace is rename(2) over the file; perl's rename is the
# same call, for a machine without python3.
if command -v python3 >/dev/null; then
	python3 -c 'import os
with open(".f.py", "w") as h:
    h.write("seven and a half\n")
os.replace(".f.py", "f")' && expect "python os.replace" "seven and a half"
else
	perl -e 'open(my $h, ">", ".f.pl") or die; print $h "seven and a half\n"; close($h) or die;
		rename(".f.pl", "f") or die' && expect "perl rename (as os.replace)" "seven and a half"
fi
rm f && echo eight >f && expect "rm f; echo > f" eight

# Every version, in order, as it was saved.
for v in $(ls "$H/f"); do cat "$H/f/$v"; done | cmp - "$FS_TMP/want" ||
	fs_fail "the versions along the lineage differ: $(for v in $(ls "$H/f"); do cat "$H/f/$v"; done | tr '\n' ' ')"
ls "$H/f" | sort -c || fs_fail "version names do not sort"
[ "$(getfattr --only-values -n user.revfs.versions f)" = "$n" ] ||
	fs_fail "user.revfs.versions: $(getfattr --only-values -n user.revfs.versions f), want $n"
"$REVFS_BIN/revfs-compact" -n -v f >"$FS_TMP/out" 2>&1 || fs_fail "revfs-compact -n -v f: $(cat "$FS_TMP/out")"
grep -q "(versions $n -> " "$FS_TMP/out" || fs_fail "revfs-compact -n -v f: $(cat "$FS_TMP/out"), want $n versions"

# A pin survives atomic saves: pinned versions are kept by compaction
# and stay listed.
first=$(ls "$H/f" | head -1)
printf 'nine\n' >.f.tmp && mv .f.tmp f && expect "atomic save after the checks" nine

# mv brings its own history; the name it leaves takes up nothing (the
# file is alive elsewhere) until a new file is made there.
mv f g
[ "$(ls "$H/g" | wc -l)" = "$n" ] || fs_fail "mv: g has $(ls "$H/g" | wc -l) versions, want $n"
echo ten >f && fsync f
[ "$(ls "$H/f" | wc -l)" = $((n + 1)) ] || fs_fail "a new f after mv: $(ls "$H/f" | wc -l) versions"
cd / || true
fs_umount

# The replaced files' stores are kept for the lineage, and fsck agrees.
"$REVFS_BIN/fsck.revfs" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck: $(cat "$FS_TMP/out")"
fs_mount
[ "$(ls "$H/g" | wc -l)" = "$n" ] || fs_fail "after a remount: g has $(ls "$H/g" | wc -l) versions"
[ "$(cat "$H/g/$first")" = one ] || fs_fail "after a remount: the first version of g"
fs_umount

# The retention rule runs along a lineage: with keep=min:3, after 6 atomic
# saves of p and a remount (the graveyard is reaped at mount), p's history
# lists 3 versions and the replaced files' stores beyond them are gone;
# a pinned one stays.
stores() { find "$FS_BACKING/ino" -name '*.rev' | wc -l; }
fs_mount -o keep=min:3,flush_ms=100
for i in 1 2 3 4 5 6; do
	printf 'p%s\n' "$i" >"$FS_MNT/.p.tmp" && mv "$FS_MNT/.p.tmp" "$FS_MNT/p" && fsync "$FS_MNT/p"
done
[ "$(ls "$H/p" | wc -l)" = 6 ] || fs_fail "p: $(ls "$H/p" | wc -l) versions before thinning"
setfattr -n user.revfs.pin -v "$(ls "$H/p" | head -1)" "$FS_MNT/p" || fs_fail "pin p's oldest"
before=$(stores)
fs_umount
fs_mount -o keep=min:3,flush_ms=100
[ "$(ls "$H/p" | wc -l)" = 4 ] || fs_fail "p after thinning: $(ls "$H/p" | tr '\n' ' ')"
[ "$(cat "$H/p/$(ls "$H/p" | head -1)")" = p1 ] || fs_fail "the pinned version of p went"
[ "$(cat "$H/p/$(ls "$H/p" | tail -1)")" = p6 ] || fs_fail "p's newest"
[ "$(stores)" -le $((before - 2)) ] || fs_fail "replaced stores not removed: $before -> $(stores)"
fs_umount
"$REVFS_BIN/fsck.revfs" -f -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck after thinning: $(cat "$FS_TMP/out")"
echo "test_lineage: ok"
