#!/bin/sh
# revfs-compact: offline on a backing directory (stores shrink with
# --keep=latest, the default rule keeps this hour's versions, a dry run
# changes no byte, refused while mounted, a bad rule refused, new stores keep
# the directory's owner) and online through the daemon (a file, a directory,
# a dry run, EACCES for a user who may not write, pause and resume), with
# the content checked after every step and after a remount.
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
RC=$REVFS_BIN/revfs-compact
LIVE=524288 # bytes of each test file
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

sync_file() {
	dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none || fs_fail "fsync $1"
}
store_bytes() { # total bytes of the file stores
	find "$FS_BACKING/ino" -name '*.rev' -type f -exec stat -c %s {} + |
		awk '{ s += $1 } END { print s + 0 }'
}
store_of() { # the store of a file in the mount
	ino=$(stat -c %i "$1")
	echo "$FS_BACKING/ino/$(printf '%02x' $((ino & 255)))/$ino.rev"
}
sums() { # md5 of every store (of the file stores with "ino")
	find "$FS_BACKING/${1:-}" -name '*.rev' -type f | sort | xargs md5sum
}
# Writes 512 KiB to $1 (and its reference copy), then overwrites 64 KiB
# pieces of it $2 times, each made durable: one version per fsync.
fragment() {
	ref=$FS_TMP/ref/$(echo "$1" | tr / _)
	[ -f "$ref" ] || head -c $LIVE /dev/urandom >"$ref"
	cp "$ref" "$FS_MNT/$1" && sync_file "$FS_MNT/$1"
	n=0
	while [ $n -lt "$2" ]; do
		head -c 65536 /dev/urandom >"$FS_TMP/blk"
		dd if="$FS_TMP/blk" of="$ref" bs=65536 seek=$((n % 8)) conv=notrunc status=none
		dd if="$FS_TMP/blk" of="$FS_MNT/$1" bs=65536 seek=$((n % 8)) conv=notrunc,fsync \
			status=none || fs_fail "write $1"
		n=$((n + 1))
	done
}
# versions SAME|ONE: in revfs-compact -v's lines for the file stores, every
# store kept all of its (at least 12) versions, or only one.
versions() {
	grep "ino/\|$FS_MNT" "$FS_TMP/out" | sed -n 's/.*versions \([0-9]*\) -> \([0-9]*\))$/\1 \2/p' |
		awk -v m="$1" '{ n++ } m == "SAME" && ($1 != $2 || $1 < 12) { bad = 1 }
			m == "ONE" && ($2 != 1 || $1 < 12) { bad = 1 }
			END { exit bad || n == 0 }' || fs_fail "versions not $1: $(cat "$FS_TMP/out")"
}
same() {
	for f in a b d/c; do
		cmp "$FS_TMP/ref/$(echo $f | tr / _)" "$FS_MNT/$f" || fs_fail "$f differs $*"
	done
}
expect() { # expect STATUS PATTERN command...: exit status and a line of its output
	want=$1 pat=$2
	shift 2
	"$@" >"$FS_TMP/out" 2>&1
	got=$?
	[ "$got" = "$want" ] || fs_fail "$* exited $got, not $want: $(cat "$FS_TMP/out")"
	[ -z "$pat" ] || grep -q -- "$pat" "$FS_TMP/out" || fs_fail "$*: no '$pat' in: $(cat "$FS_TMP/out")"
}

# Usage.
expect 0 "Usage:" "$RC" --help
expect 0 "revfs-compact" "$RC" --version
expect 2 "expected a PATH" "$RC"
expect 2 "" "$RC" --no-such-option "$FS_TMP"
expect 2 "bad --keep rule" "$RC" --keep=bogus "$FS_TMP"
expect 2 "take one PATH" "$RC" --pause --resume "$FS_TMP"

# Fragmented files: one version per fsync.
mkdir -p "$FS_TMP/ref"
fs_mkfs
fs_mount -o compact=0
mkdir "$FS_MNT/d"
fragment a 12
fragment b 12
fragment d/c 12
same "after writing"

# Refused while mounted, dry run included; nothing touched. (The namespace
# changes at the unmount: only the file stores are compared.)
sums ino >"$FS_TMP/sum0"
expect 1 "is mounted (pid .* on .*); run revfs-compact on paths inside the mount" \
	"$RC" "$FS_BACKING"
expect 1 "is mounted" "$RC" --dry-run "$FS_BACKING"
fs_umount
sums ino >"$FS_TMP/sum1"
cmp -s "$FS_TMP/sum0" "$FS_TMP/sum1" || fs_fail "a refused run changed a store"
sums >"$FS_TMP/sum1"

# Offline: a dry run says what would be reclaimed and changes nothing.
before=$(store_bytes)
expect 0 "about .* could be reclaimed" "$RC" --dry-run -v "$FS_BACKING"
grep -q "ino/.*\.rev: .*about .* to reclaim" "$FS_TMP/out" || fs_fail "no per-store line"
sums >"$FS_TMP/sum2"
cmp -s "$FS_TMP/sum1" "$FS_TMP/sum2" || fs_fail "--dry-run changed a store"
[ -e "$FS_BACKING/ino" ] && [ -z "$(find "$FS_BACKING" -name '*.compact')" ] ||
	fs_fail "--dry-run left a *.compact"

# The default rule keeps every version of the last hour: nothing dropped.
expect 0 "compacted 4 files" "$RC" -v "$FS_BACKING"
versions SAME
[ "$(store_bytes)" -le "$before" ] || fs_fail "the stores grew: $before -> $(store_bytes)"

# --keep=latest: one version each, the stores shrink to about their data;
# run as root on a directory owned by someone else, new files keep that owner.
chown -R 65534:65534 "$FS_BACKING"
expect 0 "compacted 4 files" "$RC" -v --keep=latest "$FS_BACKING"
versions ONE
after=$(store_bytes)
[ "$after" -lt $((before * 2 / 3)) ] && [ "$after" -lt $((3 * LIVE * 6 / 5)) ] ||
	fs_fail "the stores did not shrink to their data: $before -> $after"
[ -z "$(find "$FS_BACKING" ! -user 65534)" ] ||
	fs_fail "files changed owner: $(find "$FS_BACKING" ! -user 65534)"
[ -z "$(find "$FS_BACKING" -name '*.compact')" ] || fs_fail "a *.compact was left"
chown -R 0:0 "$FS_BACKING"
fs_mount -o compact=0
same "after offline compaction and a remount"
fs_umount

# Online, with the mount's own rule; the background compactor stays out.
chmod 755 "$FS_TMP" # the unprivileged user must reach the mount
fs_mount -o compact=0,keep=latest,allow_other
fragment a 12
fragment b 12
fragment d/c 12
sa=$(store_of "$FS_MNT/a")
size_a=$(stat -c %s "$sa")
sums >"$FS_TMP/sum3"
expect 0 "dry run: 1 file, .*; about .* could be reclaimed" "$RC" --dry-run "$FS_MNT/a"
sums >"$FS_TMP/sum4"
cmp -s "$FS_TMP/sum3" "$FS_TMP/sum4" || fs_fail "an online --dry-run changed a store"

# A user who may not write the file (root's, 0644) is refused by the daemon.
chmod 0644 "$FS_MNT/a"
expect 1 "permission denied" $NOBODY "$RC" "$FS_MNT/a"
expect 1 "only root or the owner" $NOBODY "$RC" --pause "$FS_MNT"
[ "$(stat -c %s "$sa")" = "$size_a" ] || fs_fail "a refused compaction changed the store"

# A file, then the whole mount (a directory walk).
expect 0 "compacted 1 file: " "$RC" -v "$FS_MNT/a"
versions ONE
[ "$(stat -c %s "$sa")" -lt $((LIVE * 6 / 5)) ] ||
	fs_fail "online: $sa did not shrink: $size_a -> $(stat -c %s "$sa")"
same "after compacting a"
before=$(store_bytes)
expect 0 "compacted 3 files: " "$RC" "$FS_MNT"
after=$(store_bytes)
[ "$after" -lt $((before * 2 / 3)) ] && [ "$after" -lt $((3 * LIVE * 6 / 5)) ] ||
	fs_fail "online: the mount did not shrink to its data: $before -> $after"
expect 0 "" "$RC" -q "$FS_MNT/d"
[ -s "$FS_TMP/out" ] && fs_fail "-q printed: $(cat "$FS_TMP/out")"
same "after compacting the mount"

# Pause and resume by root; paths that are not for the tool.
expect 0 "paused" "$RC" --pause "$FS_MNT/d"
expect 0 "running again" "$RC" --resume "$FS_MNT"
expect 1 "read-only version tree" "$RC" "$FS_MNT/.revfs"
expect 1 "not in a revfs mount" "$RC" "$FS_TMP/ref"
expect 2 "applies to backing directories only" "$RC" --keep=latest "$FS_MNT"
fs_umount
fs_mount
same "after online compaction and a remount"
fs_umount
echo "test_compact_tool: ok"
