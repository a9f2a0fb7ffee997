#!/bin/sh
# revfs-compact --purge (issue: history people can trust, point 4): the
# owner of a file, or root, removes every past version of it, pins
# included, for the secret saved by mistake; the space comes back and the
# bytes are gone from every file of the backing directory when it
# returns. Others are refused (EPERM) and change nothing. What was written
# but not committed is saved first: the version kept is the file as it is.
# revfs-compact --purge-deleted: root removes the kept versions of every
# deleted file the same way; fsck finds the directory clean after both.
set -u
. "$(dirname "$0")/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "test_purge: SKIP (needs root)"; exit 0; }
fs_setup
fs_mkfs
RC=$REVFS_BIN/revfs-compact
ALICE="setpriv --reuid=2001 --regid=2001 --clear-groups"
BOB="setpriv --reuid=2002 --regid=2002 --clear-groups"
H=$FS_MNT/.revfs/history
chmod 755 "$FS_TMP"

in_backing() { grep -r -a -l -- "$1" "$FS_BACKING" >/dev/null 2>&1; }
save() { # USER FILE TEXT
	$1 sh -c 'printf "%s" "$2" >"$1" && dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none' \
		- "$2" "$3" || fs_fail "save $2"
}

fs_mount -o allow_other,flush_ms=200
chmod 777 "$FS_MNT"
save "$ALICE" "$FS_MNT/notes" "password=SECRET-XYZ-123"
save "$ALICE" "$FS_MNT/notes" "password=(removed)"
$ALICE setfattr -n user.revfs.pin -v 1 "$FS_MNT/notes" || fs_fail "pin"
[ "$(ls "$H/notes" | wc -l)" = 2 ] || fs_fail "two versions before the purge"
in_backing SECRET-XYZ-123 || fs_fail "the secret is not in the backing directory to begin with"

# Not the owner: refused, nothing changes.
$BOB "$RC" --purge "$FS_MNT/notes" >"$FS_TMP/out" 2>&1 && fs_fail "bob purged alice's file"
grep -q "only the file's owner or root may purge it" "$FS_TMP/out" ||
	fs_fail "bob's refusal: $(cat "$FS_TMP/out")"
[ "$(ls "$H/notes" | wc -l)" = 2 ] || fs_fail "a refused purge changed the history"

# The owner: one version left, the pin gone, the secret gone from disk.
$ALICE "$RC" --purge "$FS_MNT/notes" >"$FS_TMP/out" 2>&1 || fs_fail "alice's purge: $(cat "$FS_TMP/out")"
grep -q "^purged 1 file" "$FS_TMP/out" || fs_fail "purge output: $(cat "$FS_TMP/out")"
[ "$(ls "$H/notes" | wc -l)" = 1 ] || fs_fail "purge left $(ls "$H/notes" | wc -l) versions"
[ "$(cat "$FS_MNT/notes")" = "password=(removed)" ] || fs_fail "purge changed the file"
[ -z "$(getfattr --only-values -n user.revfs.pins "$FS_MNT/notes" 2>/dev/null)" ] ||
	fs_fail "the pin survived the purge"
in_backing SECRET-XYZ-123 && fs_fail "the secret is still in the backing directory"

# Unsaved bytes: the purge keeps the file as it is now.
save "" "$FS_MNT/draft" "SECRET-ABC-987"
exec 3>"$FS_MNT/draft"
printf 'clean text' >&3
"$RC" --purge "$FS_MNT/draft" >/dev/null 2>&1 || fs_fail "root's purge of an open file"
exec 3>&-
[ "$(cat "$FS_MNT/draft")" = "clean text" ] || fs_fail "draft after the purge"
in_backing SECRET-ABC-987 && fs_fail "the draft's secret is still in the backing directory"

# A purge takes the path's lineage too: the files atomic saves replaced,
# however far back.
asave() { # USER FILE TEXT: an atomic save (a temp file renamed over FILE)
	$1 sh -c 'printf "%s" "$2" >"$1.tmp" && mv "$1.tmp" "$1" && sync "$1"' - "$2" "$3" ||
		fs_fail "atomic save of $2"
}
asave "" "$FS_MNT/lin" SECRET-LIN-777
asave "" "$FS_MNT/lin" SECRET-LIN-778
asave "" "$FS_MNT/lin" public
[ "$(ls "$H/lin" | wc -l)" = 3 ] || fs_fail "lin: $(ls "$H/lin" | wc -l) versions before the purge"
sleep 0.5
in_backing SECRET-LIN-777 || fs_fail "the replaced file's store is not kept"
"$RC" --purge "$FS_MNT/lin" >/dev/null 2>&1 || fs_fail "purge of lin"
[ "$(ls "$H/lin" | wc -l)" = 1 ] || fs_fail "lin: $(ls "$H/lin" | wc -l) versions after the purge"
in_backing SECRET-LIN-778 && fs_fail "the replaced file's secret is still in the backing directory"
in_backing SECRET-LIN-777 && fs_fail "the oldest replaced file's secret is still in the backing directory"

# A path saved by two users: each version keeps its owner, and a purge by
# the file's owner removes only the versions that were hers. Bob's stays,
# and reads back.
mkdir -m 777 "$FS_MNT/both"
asave "$ALICE" "$FS_MNT/both/doc" SECRET-ALICE-1
asave "$BOB" "$FS_MNT/both/doc" "bob's words"
asave "$ALICE" "$FS_MNT/both/doc" SECRET-ALICE-2
asave "$ALICE" "$FS_MNT/both/doc" "alice's words"
[ "$(ls "$H/both/doc" | wc -l)" = 4 ] || fs_fail "doc: $(ls "$H/both/doc" | wc -l) versions"
[ "$(stat -c %u "$H/both/doc/$(ls "$H/both/doc" | sed -n 2p)")" = 2002 ] ||
	fs_fail "doc: bob's version is not bob's"
sleep 0.5
$BOB "$RC" --purge "$FS_MNT/both/doc" >/dev/null 2>&1 && fs_fail "bob purged alice's doc"
$ALICE "$RC" --purge "$FS_MNT/both/doc" >"$FS_TMP/out" 2>&1 || fs_fail "alice's purge of doc: $(cat "$FS_TMP/out")"
[ "$(cat "$H"/both/doc/* | tr -d '\n')" = "bob's wordsalice's words" ] ||
	fs_fail "doc after alice's purge: $(ls -l "$H/both/doc")"
in_backing SECRET-ALICE-1 && fs_fail "alice's first secret is still in the backing directory"
in_backing SECRET-ALICE-2 && fs_fail "alice's second secret is still in the backing directory"

# Deleted files keep their versions (for .revfs/at/) until root purges them.
save "" "$FS_MNT/gone" "SECRET-DEL-555"
rm "$FS_MNT/gone"
sleep 0.5
in_backing SECRET-DEL-555 || fs_fail "a deleted file's store is not kept"
$BOB "$RC" --purge-deleted "$FS_MNT" >"$FS_TMP/out" 2>&1 && fs_fail "bob purged deleted files"
grep -q "only root may purge the history of deleted files" "$FS_TMP/out" ||
	fs_fail "bob's refusal: $(cat "$FS_TMP/out")"
in_backing SECRET-DEL-555 || fs_fail "a refused purge removed a store"
"$RC" --purge-deleted "$FS_MNT" >"$FS_TMP/out" 2>&1 || fs_fail "root's purge-deleted: $(cat "$FS_TMP/out")"
grep -q "^purged the history of [1-9][0-9]* deleted file" "$FS_TMP/out" ||
	fs_fail "purge-deleted output: $(cat "$FS_TMP/out")"
in_backing SECRET-DEL-555 && fs_fail "the deleted file's secret is still in the backing directory"
[ "$(cat "$FS_MNT/notes")" = "password=(removed)" ] || fs_fail "a live file changed"
fs_umount
"$REVFS_BIN/fsck.revfs" -n "$FS_BACKING" >"$FS_TMP/out" 2>&1 || fs_fail "fsck after the purges: $(cat "$FS_TMP/out")"

# Only in a mount.
"$RC" --purge "$FS_BACKING" >"$FS_TMP/out" 2>&1
[ $? = 2 ] || fs_fail "--purge of a backing directory: not a usage error"
grep -q -- "--purge takes paths in a mount" "$FS_TMP/out" || fs_fail "usage: $(cat "$FS_TMP/out")"
echo "test_purge: ok"
