#!/bin/sh
# fsck.revfs on backing directories the test damages itself (e2fsprogs'
# f_* tests): bit flips in a store's data, tree nodes and headers, a cut
# store, a deleted store, an orphan store, a wrong link count, a directory
# cycle, an entry naming nothing, stale compaction and temp files, a
# damaged superblock. Each is repaired with -y (exit 1, the expected problem
# codes in the report), then checked again (exit 0), then mounted: every
# file that was not damaged reads back as it was. Also: -n changes no byte,
# -p stops on what is not safe, a newer revfs's feature bits (checked with
# -n, never repaired, compacted or mounted read-write), the lock of a
# mounted directory, usage errors, the summary line, and "fsck -t revfs".
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
DMG=$REVFS_BIN/tests/fsck_damage
REF=$FS_TMP/ref
OUT=$FS_TMP/out

store_of() { # inode number -> its store's path
	echo "$FS_BACKING/ino/$(printf %02x $(($1 & 255)))/$1.rev"
}

flip() { # flip FILE OFFSET: inverts one byte
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# A fresh backing directory: files written through a mount, copies in $REF.
# big has two versions: 200000 random bytes, then its first page rewritten.
populate() {
	fs_cleanup_backing
	fs_mkfs
	fs_mount
	rm -rf "$REF" && mkdir -p "$REF"
	echo hello >"$FS_MNT/small"
	mkdir -p "$FS_MNT/d/e"
	head -c 70000 /dev/urandom >"$FS_MNT/d/e/f"
	head -c 9000 /dev/urandom >"$FS_MNT/d/g"
	ln -s small "$FS_MNT/sym"
	head -c 200000 /dev/urandom >"$FS_MNT/big"
	sync "$FS_MNT/big" "$FS_MNT/small" "$FS_MNT/d/e/f" "$FS_MNT/d/g"
	cp "$FS_MNT/big" "$REF/big.v1"
	head -c 4096 /dev/urandom | dd of="$FS_MNT/big" conv=notrunc 2>/dev/null
	sync "$FS_MNT/big"
	for f in small d/e/f d/g big; do
		mkdir -p "$REF/$(dirname $f)" && cp "$FS_MNT/$f" "$REF/$f"
	done
	I_SMALL=$(stat -c %i "$FS_MNT/small")
	I_BIG=$(stat -c %i "$FS_MNT/big")
	I_D=$(stat -c %i "$FS_MNT/d")
	I_E=$(stat -c %i "$FS_MNT/d/e")
	fs_umount
	BIG=$(store_of "$I_BIG")
	# Header offsets of big's versions: the newest (2) first.
	set -- $("$DMG" versions "$BIG" | awk '{print $2}')
	H2=$1 H1=$2
}

fs_cleanup_backing() {
	rm -rf "$FS_BACKING"
}

# fsck_case NAME RC CODE... : -y exits RC and reports every CODE, then a
# second -y exits 0.
fsck_case() {
	name=$1 want=$2
	shift 2
	"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
	rc=$?
	cp "$OUT" "$OUT.1"
	[ "$rc" = "$want" ] || { cat "$OUT" >&2; fs_fail "$name: first run exit $rc, wanted $want"; }
	for code in "$@"; do
		grep -q "^\[$code\]" "$OUT" || { cat "$OUT" >&2; fs_fail "$name: no problem $code"; }
	done
	"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
	rc=$?
	[ "$rc" = 0 ] || { cat "$OUT" >&2; fs_fail "$name: second run exit $rc, wanted 0"; }
	grep -q "0 problems, 0 fixed, 0 left" "$OUT" || fs_fail "$name: second run summary"
}

# verify NAME [FILE=REFFILE...]: mounts; every file of $REF not overridden
# reads back as it was; each FILE=REF pair compares FILE in the mount to REF.
verify() {
	name=$1
	shift
	fs_mount
	for f in small d/e/f d/g big; do
		case " $* " in *" $f="*) continue ;; esac
		cmp -s "$REF/$f" "$FS_MNT/$f" || fs_fail "$name: $f differs after repair"
	done
	for pair in "$@"; do
		if [ -z "${pair#*=}" ]; then # NAME= : the file is gone
			[ ! -e "$FS_MNT/${pair%%=*}" ] || fs_fail "$name: ${pair%%=*} still there"
			continue
		fi
		cmp -s "${pair#*=}" "$FS_MNT/${pair%%=*}" || fs_fail "$name: ${pair%%=*} differs"
	done
	[ "$(readlink "$FS_MNT/sym")" = small ] || fs_fail "$name: symlink lost"
	fs_umount
}

sum_dir() {
	find "$FS_BACKING" -type f | sort | xargs md5sum
}

# --- a clean directory ----------------------------------------------------
populate
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT"; fs_fail "clean: -n exit $?"; }
grep -Eq "stores, [0-9]+ versions, .* live of .*; 0 problems, 0 fixed, 0 left" "$OUT" ||
	fs_fail "clean: no summary line: $(cat "$OUT")"
"$FSCK" -f -y "$FS_BACKING" >"$OUT" 2>&1 || fs_fail "clean: -f -y exit $?"
"$FSCK" -p "$FS_BACKING" >"$OUT" 2>&1 || fs_fail "clean: -p exit $?"

# --- usage and operational errors -------------------------------------------
"$FSCK" -Q "$FS_BACKING" >/dev/null 2>&1
[ $? = 16 ] || fs_fail "bad option: not 16"
"$FSCK" -n -y "$FS_BACKING" >/dev/null 2>&1
[ $? = 16 ] || fs_fail "-n -y: not 16"
"$FSCK" >/dev/null 2>&1
[ $? = 16 ] || fs_fail "no directory: not 16"
mkdir -p "$FS_TMP/plain"
"$FSCK" -n "$FS_TMP/plain" >/dev/null 2>&1
[ $? = 8 ] || fs_fail "plain directory: not 8"

# --- mounted: -y refused, -n allowed with a warning ---------------------------
# A log appended and fsynced often makes the daemon keep a reserve of zeros
# after the stores' newest headers: no damage, mounted or not.
fs_mount
"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
[ $? = 8 ] || fs_fail "repair while mounted: not 8"
grep -q "is mounted" "$OUT" || fs_fail "repair while mounted: no message"
exec 3>>"$FS_MNT/log"
for i in 1 2 3 4 5 6; do
	echo "line $i" >&3
	sync "$FS_MNT/log"
	mkdir "$FS_MNT/dir$i" && sync "$FS_MNT/dir$i"
done
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT"; fs_fail "-n while mounted: exit $?"; }
grep -q "stale" "$OUT" || fs_fail "-n while mounted: no warning"
grep -q '^\[203\]' "$OUT" && fs_fail "-n while mounted: a reserve reported as a tail"
fs_kill
exec 3>&-
for f in "$FS_BACKING/ns.rev" "$FS_BACKING"/ino/*/*.rev; do
	[ "$(tail -c 4096 "$f" | tr -d '\000' | wc -c)" = 0 ] && zeros=1
done
[ -n "${zeros:-}" ] || fs_fail "no store kept a reserve"
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1
grep -q '^\[203\]' "$OUT" && { cat "$OUT"; fs_fail "-n after a crash: a reserve reported as a tail"; }

# --- bit flip in data only the newest version uses: back to version 1 ------
# The newest commit is a one-sync commit: its region no longer matches its
# checksum, so the store reads as torn there (203, naming the commit) and
# older than the namespace knows (323).
populate
flip "$BIG" $((H1 + 137 + 2000))
fsck_case "data flip" 1 203 323
grep -q "commit at offset $H2 whose bytes do not match its checksum" "$OUT.1" ||
	fs_fail "data flip: the torn commit not named: $(cat "$OUT.1")"
verify "data flip" "big=$REF/big.v1"

# --- bit flip in the newest version's tree node ------------------------------
populate
# big's second commit: one data record of one page (4120 bytes, crossing a
# block marker) right after version 1's header, then its leaf.
flip "$BIG" $((H1 + 137 + 4121 + 30))
fsck_case "tree flip" 1 203 323
verify "tree flip" "big=$REF/big.v1"

# --- bit flip in the newest header ------------------------------------------------
populate
flip "$BIG" $((H2 + 40))
fsck_case "header flip" 1 201
verify "header flip" "big=$REF/big.v1"

# --- data shared by every version: rebuilt from the pages that read ---------
populate
flip "$BIG" 100000
fsck_case "shared data flip" 1 204
fs_mount
[ "$(stat -c %s "$FS_MNT/big")" = 200000 ] || fs_fail "salvage: size changed"
cp "$FS_MNT/big" "$FS_TMP/salvaged" || fs_fail "salvage: big unreadable"
fs_umount
n=$(cmp -l "$REF/big" "$FS_TMP/salvaged" | wc -l)
[ "$n" -gt 0 ] && [ "$n" -le 4096 ] || fs_fail "salvage: $n bytes differ, not one page"
verify "shared data flip" "big=$FS_TMP/salvaged"

# --- a store cut inside its newest header: a torn tail -------------------------
populate
truncate -s $((H2 + 60)) "$BIG"
fsck_case "truncated" 1 203
verify "truncated" "big=$REF/big.v1"

# --- a deleted store: the file is empty ---------------------------------------
populate
rm "$(store_of "$I_SMALL")"
fsck_case "deleted store" 1 313
: >"$FS_TMP/empty"
verify "deleted store" "small=$FS_TMP/empty"

# --- an orphan store: linked into /lost+found ------------------------------------
populate
"$DMG" drop "$FS_BACKING" 1 big || fs_fail "damage drop"
fsck_case "orphan store" 1 315
verify "orphan store" "lost+found/#$I_BIG=$REF/big" "big="

# --- lineage records of no file, in a cycle; a vacated name in a file ------------
populate
"$DMG" lineage "$FS_BACKING" 9999 "$I_SMALL" || fs_fail "damage lineage"
"$DMG" lineage "$FS_BACKING" "$I_BIG" "$I_SMALL" || fs_fail "damage lineage"
"$DMG" lineage "$FS_BACKING" "$I_SMALL" "$I_BIG" || fs_fail "damage lineage"
"$DMG" vacated "$FS_BACKING" "$I_SMALL" name 5 || fs_fail "damage vacated"
fsck_case "lineage" 1 324 325
verify "lineage"

# --- a wrong link count ---------------------------------------------------------
populate
"$DMG" nlink "$FS_BACKING" "$I_SMALL" 7 || fs_fail "damage nlink"
"$DMG" nlink "$FS_BACKING" "$I_D" 9 || fs_fail "damage nlink"
# -p fixes link counts on its own.
"$FSCK" -p "$FS_BACKING" >"$OUT" 2>&1
[ $? = 1 ] || { cat "$OUT"; fs_fail "nlink: -p exit not 1"; }
grep -q "^\[312\]" "$OUT" || fs_fail "nlink: -p did not report 312"
fsck_case "nlink" 0
verify "nlink"
fs_mount
[ "$(stat -c %h "$FS_MNT/small")" = 1 ] || fs_fail "nlink: small has $(stat -c %h "$FS_MNT/small")"
[ "$(stat -c %h "$FS_MNT/d")" = 3 ] || fs_fail "nlink: d has $(stat -c %h "$FS_MNT/d")"
fs_umount

# --- a directory cycle, cut from the root ----------------------------------------
populate
"$DMG" cycle "$FS_BACKING" 1 d || fs_fail "damage cycle"
fsck_case "cycle" 1 310
fs_mount
cmp -s "$REF/d/e/f" "$FS_MNT/lost+found/#$I_E/f" || fs_fail "cycle: d/e/f not in lost+found"
cmp -s "$REF/d/g" "$FS_MNT/lost+found/#$I_E/loop/g" || fs_fail "cycle: d/g not in lost+found"
ls "$FS_MNT/lost+found/#$I_E/loop/e" >/dev/null 2>&1 && fs_fail "cycle: still a cycle"
fs_umount

# --- an entry naming nothing; -p stops on it -------------------------------------
populate
"$DMG" dangling "$FS_BACKING" 1 ghost 777 || fs_fail "damage dangling"
"$FSCK" -p "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] || fs_fail "dangling: -p exit not 4"
grep -q "UNEXPECTED INCONSISTENCY" "$OUT" || fs_fail "dangling: -p message"
fsck_case "dangling" 1 304
verify "dangling"

# --- stale compaction and temp files ------------------------------------------------
populate
cp "$BIG" "$BIG.compact"
cp "$FS_BACKING/ns.rev" "$FS_BACKING/ns.rev.compact"
cp "$BIG" "$BIG.fsck"
fsck_case "leftovers" 1 401 402
[ -e "$BIG.compact" ] || [ -e "$BIG.fsck" ] && fs_fail "leftovers: still there"
verify "leftovers"

# --- a damaged superblock ---------------------------------------------------------
populate
uuid=$(od -An -tx1 -j24 -N16 "$FS_BACKING/revfs.super")
flip "$FS_BACKING/revfs.super" 300
fsck_case "superblock" 1 102
[ "$(od -An -tx1 -j24 -N16 "$FS_BACKING/revfs.super")" = "$uuid" ] ||
	fs_fail "superblock: uuid not kept"
verify "superblock"

# --- a newer revfs's features: checked, never repaired, compacted or mounted rw ------
populate
"$DMG" feature "$FS_BACKING" ro_compat 0x80000000 || fs_fail "set ro_compat"
before=$(sum_dir)
"$FSCK" -y "$FS_BACKING" >"$OUT" 2>&1
rc=$?
[ $((rc & 4)) = 4 ] && grep -q '^\[103\]' "$OUT" || { cat "$OUT"; fs_fail "ro_compat: fsck -y exit $rc"; }
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1 || { cat "$OUT"; fs_fail "ro_compat: fsck -n exit $?"; }
"$REVFS_BIN/revfs-compact" -q "$FS_BACKING" 2>"$OUT" && fs_fail "ro_compat: compacted"
grep -q "can only read" "$OUT" || { cat "$OUT"; fs_fail "ro_compat: revfs-compact message"; }
"$REVFS_BIN/revfs-compact" -q --dry-run "$FS_BACKING" || fs_fail "ro_compat: dry run"
"$REVFS_BIN/revfs" -f "$FS_BACKING" "$FS_MNT" 2>"$OUT" && fs_fail "ro_compat: mounted rw"
grep -q "with -o ro" "$OUT" || { cat "$OUT"; fs_fail "ro_compat: mount message"; }
[ "$(sum_dir)" = "$before" ] || fs_fail "ro_compat: the backing directory changed"
fs_mount -o ro
cmp "$FS_MNT/small" "$REF/small" || fs_fail "ro_compat: small differs read-only"
fs_umount
"$DMG" feature "$FS_BACKING" incompat 0x80000000 || fs_fail "set incompat"
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1
rc=$?
[ $((rc & 4)) = 4 ] && grep -q '^\[103\]' "$OUT" || { cat "$OUT"; fs_fail "incompat: fsck -n exit $rc"; }
"$DMG" feature "$FS_BACKING" incompat 0 && "$DMG" feature "$FS_BACKING" ro_compat 0 ||
	fs_fail "clear the features"
verify "features"

# --- -n changes nothing, and exits 4 ----------------------------------------------
populate
flip "$BIG" $((H2 + 40))
"$DMG" nlink "$FS_BACKING" "$I_SMALL" 3 || fs_fail "damage nlink"
cp "$BIG" "$BIG.compact"
before=$(sum_dir)
"$FSCK" -n "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] || { cat "$OUT"; fs_fail "-n: exit not 4"; }
grep -q "0 fixed" "$OUT" || fs_fail "-n: summary"
[ "$(sum_dir)" = "$before" ] || fs_fail "-n changed the backing directory"
"$FSCK" -f -n "$FS_BACKING" >/dev/null 2>&1
[ "$(sum_dir)" = "$before" ] || fs_fail "-f -n changed the backing directory"

# --- fsck(8) finds it by type ---------------------------------------------------------
if command -v fsck >/dev/null; then
	PATH="$REVFS_BIN:$PATH" fsck -t revfs -y "$FS_BACKING" >"$OUT" 2>&1
	rc=$?
	[ $rc = 1 ] || { cat "$OUT"; fs_fail "fsck -t revfs: exit $rc"; }
	PATH="$REVFS_BIN:$PATH" fsck -t revfs -n "$FS_BACKING" >"$OUT" 2>&1 ||
		fs_fail "fsck -t revfs -n after repair: exit $?"
fi
echo "test_fsck: ok"
