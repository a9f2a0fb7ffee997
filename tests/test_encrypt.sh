#!/bin/sh
# An encrypted vault (mkfs.revfs --encrypt): what the backing directory
# shows, what it refuses, what it catches.
#
#   - a scripted session (names, contents, xattrs, a symlink, renames, an
#     atomic save, history, a compaction, a remount with the passphrase
#     from a descriptor): then grep -r of the backing directory finds none
#     of the names, contents and xattr values written;
#   - a wrong passphrase is refused and the backing directory is unchanged
#     (sha256 of every file before and after); without a terminal or a key
#     fsck.revfs checks the stores' structure only, and says so;
#   - tampering: two stores swapped, a store put back as it was earlier, a
#     byte flipped: each reads as EIO, fsck with the key names it, and
#     fsck without it finds the flipped byte;
#   - the passphrase changed (revfs-tune), then the recovery key mkfs
#     printed used after a forgotten one; a key-file vault;
#   - one superblock copy damaged: the vault still mounts, fsck writes it;
#   - the crash test and fsx, in an encrypted mount (FS_ENCRYPT=1).
set -u
. "$(dirname "$0")/fslib.sh"
fs_setup
FSCK=$REVFS_BIN/fsck.revfs
TUNE=$REVFS_BIN/revfs-tune
PASS=$FS_TMP/pass
OUT=$FS_TMP/out
# Quick scrypt parameters for a test; the defaults are timed in the notes.
KDF="--kdf-n=1024"
echo "correct horse battery" >"$PASS"

sums() { # every file of the backing directory, with its sha256
	(cd "$FS_BACKING" && find . -type f ! -name .lock | sort | xargs sha256sum)
}
mount_pass() { # mount with the passphrase in file $1, from descriptor 3
	exec 3<"$1"
	fs_mount -o passphrase_fd=3
	exec 3<&-
}

"$REVFS_BIN/mkfs.revfs" --encrypt --passphrase-fd=3 $KDF "$FS_BACKING" 3<"$PASS" >"$OUT" ||
	fs_fail "mkfs --encrypt: $(cat "$OUT")"
grep -q "encryption:  AES-256-GCM" "$OUT" || fs_fail "mkfs did not say it encrypts: $(cat "$OUT")"
RECOVERY=$(awk '/^recovery key/ { getline; print $1 }' "$OUT")
[ ${#RECOVERY} = 71 ] || fs_fail "no recovery key printed: $(cat "$OUT")"

# The session. Every word below must stay out of the backing directory.
mount_pass "$PASS"
M=$FS_MNT
mkdir "$M/alphadirsecret" || fs_fail mkdir
echo "bravocontentsecret" >"$M/alphadirsecret/charlienamesecret" || fs_fail write
setfattr -n user.deltaxattrsecret -v echovaluesecret "$M/alphadirsecret/charlienamesecret" ||
	fs_fail setfattr
ln -s foxtrottargetsecret "$M/golflinksecret" || fs_fail symlink
mv "$M/alphadirsecret/charlienamesecret" "$M/alphadirsecret/hotelrenamedsecret" || fs_fail mv
# An atomic save: the path's history goes on.
echo "indiasavedsecret" >"$M/alphadirsecret/.tmp-julietsecret" &&
	sync "$M/alphadirsecret/.tmp-julietsecret" &&
	mv "$M/alphadirsecret/.tmp-julietsecret" "$M/alphadirsecret/hotelrenamedsecret" ||
	fs_fail "atomic save"
head -c 3000000 /dev/urandom >"$M/big" && sync "$M/big"
for k in 1 2 3; do
	yes "kilocompactsecret $k" | head -c 500000 >"$M/big" && sync "$M/big"
done
"$REVFS_BIN/revfs-compact" "$M/big" >"$OUT" 2>&1 || fs_fail "revfs-compact: $(cat "$OUT")"
n=$(ls "$M/.revfs/history/alphadirsecret/hotelrenamedsecret" | wc -l)
[ "$n" -ge 2 ] || fs_fail "history of the saved path: $n versions"
fs_umount
mount_pass "$PASS"
[ "$(cat "$M/alphadirsecret/hotelrenamedsecret")" = indiasavedsecret ] || fs_fail "remount: content"
[ "$(readlink "$M/golflinksecret")" = foxtrottargetsecret ] || fs_fail "remount: symlink"
v=$(getfattr --only-values -n user.deltaxattrsecret "$M/alphadirsecret/hotelrenamedsecret" \
	2>/dev/null)
[ -z "$v" ] || fs_fail "the xattr went with the replaced file, yet reads '$v'"
cat "$M/.revfs/history/alphadirsecret/hotelrenamedsecret"/* | grep -qx bravocontentsecret ||
	fs_fail "the replaced version is not in the history"
fs_umount
# Offline, the backing directory's stores compacted with the key.
"$REVFS_BIN/revfs-compact" --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 ||
	fs_fail "revfs-compact of the backing directory: $(cat "$OUT")"
"$FSCK" -f -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 ||
	fs_fail "fsck after revfs-compact: $(cat "$OUT")"
for w in alphadirsecret bravocontentsecret charlienamesecret deltaxattrsecret echovaluesecret \
	foxtrottargetsecret golflinksecret hotelrenamedsecret indiasavedsecret julietsecret \
	kilocompactsecret; do
	if grep -rqa "$w" "$FS_BACKING"; then
		fs_fail "'$w' is in the backing directory: $(grep -rla "$w" "$FS_BACKING")"
	fi
done
echo "test_encrypt: a session's names, contents, xattrs and history: none in the clear"

# A wrong passphrase: refused, nothing written.
sums >"$FS_TMP/sums.before"
echo "wrong horse" >"$FS_TMP/wrong"
exec 3<"$FS_TMP/wrong"
"$REVFS_BIN/revfs" -o passphrase_fd=3 "$FS_BACKING" "$FS_MNT" 2>"$OUT" &&
	fs_fail "mounted with a wrong passphrase"
exec 3<&-
grep -q "wrong passphrase" "$OUT" || fs_fail "wrong passphrase: $(cat "$OUT")"
sums >"$FS_TMP/sums.after"
cmp -s "$FS_TMP/sums.before" "$FS_TMP/sums.after" || fs_fail "a refused mount changed files"
setsid -w "$FSCK" -n "$FS_BACKING" </dev/null >"$OUT" 2>&1 &&
	grep -q "only its stores' structure is checked" "$OUT" ||
	fs_fail "fsck without the key: $(cat "$OUT")"
"$FSCK" -f -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 ||
	fs_fail "fsck with the key: $(cat "$OUT")"

# Tampering. Two files of one size, whose stores are then swapped.
mount_pass "$PASS"
echo "lima one" >"$M/one" && echo "lima two" >"$M/two" && sync "$M/one" "$M/two"
i1=$(stat -c %i "$M/one") i2=$(stat -c %i "$M/two")
fs_umount
s1=$FS_BACKING/ino/$(printf %02x $((i1 & 255)))/$i1.rev
s2=$FS_BACKING/ino/$(printf %02x $((i2 & 255)))/$i2.rev
[ "$(stat -c %s "$s1")" = "$(stat -c %s "$s2")" ] || fs_fail "the two stores differ in size"
cp "$s1" "$FS_TMP/s1" && cp "$s2" "$s1" && cp "$FS_TMP/s1" "$s2"
mount_pass "$PASS"
cat "$M/one" >/dev/null 2>&1 && fs_fail "a store swapped in from another file read"
cat "$M/two" >/dev/null 2>&1 && fs_fail "the other swapped store read"
fs_umount
"$FSCK" -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1
[ $? = 4 ] && grep -q "$i1.rev" "$OUT" && grep -q "authentication" "$OUT" ||
	fs_fail "fsck of swapped stores: $(cat "$OUT")"
cp "$s2" "$s1" && cp "$FS_TMP/s1" "$s2" # as they were
cp "$FS_TMP/s1" "$FS_TMP/s1.old"
# A store put back as it was before its newest commit (a replay).
mount_pass "$PASS"
echo "lima one, later" >"$M/one" && sync "$M/one"
fs_umount
cp "$FS_TMP/s1.old" "$s1"
mount_pass "$PASS"
cat "$M/one" >/dev/null 2>&1 && fs_fail "a store replayed from before read as data"
fs_umount
"$FSCK" -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1
[ $? = 4 ] && grep -q "^\[323\]" "$OUT" || fs_fail "fsck of a replayed store: $(cat "$OUT")"
# A flipped byte in the middle of the sealed data of "two".
sz=$(stat -c %s "$s2")
printf '\377' | dd of="$s2" bs=1 seek=$((sz / 3)) conv=notrunc status=none
mount_pass "$PASS"
cat "$M/two" >/dev/null 2>&1 && fs_fail "a flipped byte read as data"
fs_umount
"$FSCK" -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1
[ $? = 4 ] && grep -q "$i2.rev" "$OUT" || fs_fail "fsck of a flipped byte: $(cat "$OUT")"
"$FSCK" -n --no-key "$FS_BACKING" >"$OUT" 2>&1
[ $? = 4 ] && grep -q "^\[212\] ino/.*/$i2.rev" "$OUT" ||
	fs_fail "fsck without the key, of a flipped byte: $(cat "$OUT")"
echo "test_encrypt: swapped, replayed and flipped stores read as EIO; fsck names them"

# A new passphrase; then a forgotten one and the recovery key.
echo "new horse" >"$FS_TMP/pass2"
"$TUNE" -q --new-passphrase --passphrase-fd=3 --new-passphrase-fd=4 $KDF "$FS_BACKING" \
	3<"$PASS" 4<"$FS_TMP/pass2" >"$OUT" 2>&1 || fs_fail "revfs-tune --new-passphrase: $(cat "$OUT")"
exec 3<"$PASS"
"$REVFS_BIN/revfs" -o passphrase_fd=3 "$FS_BACKING" "$FS_MNT" 2>/dev/null &&
	fs_fail "the old passphrase still mounts"
exec 3<&-
mount_pass "$FS_TMP/pass2"
[ "$(cat "$M/alphadirsecret/hotelrenamedsecret")" = indiasavedsecret ] ||
	fs_fail "after the new passphrase"
fs_umount
echo "$RECOVERY" >"$FS_TMP/recovery"
echo "third horse" >"$FS_TMP/pass3"
"$TUNE" -q --new-passphrase --recovery-key-fd=3 --new-passphrase-fd=4 --kdf=pbkdf2 \
	--kdf-n=1000 "$FS_BACKING" 3<"$FS_TMP/recovery" 4<"$FS_TMP/pass3" >"$OUT" 2>&1 ||
	fs_fail "revfs-tune with the recovery key: $(cat "$OUT")"
"$TUNE" "$FS_BACKING" | grep -q "PBKDF2-HMAC-SHA256, 1000 iterations" ||
	fs_fail "revfs-tune shows: $("$TUNE" "$FS_BACKING")"
mount_pass "$FS_TMP/pass3"
[ "$(cat "$M/alphadirsecret/hotelrenamedsecret")" = indiasavedsecret ] ||
	fs_fail "after the recovery key"
fs_umount
echo "test_encrypt: passphrase changed, then recovered with the recovery key"

# One of the two superblocks damaged: the key slot lives on in the other.
printf 'XXXX' | dd of="$FS_BACKING/revfs.super" bs=1 seek=300 conv=notrunc status=none
mount_pass "$FS_TMP/pass3"
[ "$(cat "$M/alphadirsecret/hotelrenamedsecret")" = indiasavedsecret ] ||
	fs_fail "with one superblock damaged"
fs_umount
"$FSCK" -y --passphrase-fd=3 "$FS_BACKING" 3<"$FS_TMP/pass3" >"$OUT" 2>&1
grep -q "^\[108\] revfs.super" "$OUT" || fs_fail "fsck of a damaged superblock: $(cat "$OUT")"
"$FSCK" -n --passphrase-fd=3 "$FS_BACKING" 3<"$FS_TMP/pass3" >"$OUT" 2>&1 ||
	fs_fail "fsck after the superblock was written: $(cat "$OUT")"

# A vault wrapped by a key file.
fs_cleanup_backing() { rm -rf "$FS_BACKING" && mkdir "$FS_BACKING"; }
fs_cleanup_backing
head -c 48 /dev/urandom >"$FS_TMP/kf"
head -c 48 /dev/urandom >"$FS_TMP/kf.other"
"$REVFS_BIN/mkfs.revfs" -q --key-file="$FS_TMP/kf" "$FS_BACKING" >/dev/null ||
	fs_fail "mkfs --key-file"
"$REVFS_BIN/revfs" -o key_file="$FS_TMP/kf.other" "$FS_BACKING" "$FS_MNT" 2>"$OUT" &&
	fs_fail "mounted with another key file"
fs_mount -o key_file="$FS_TMP/kf"
echo "mikekeyfilesecret" >"$M/f" && sync "$M/f"
fs_umount
grep -rqa mikekeyfilesecret "$FS_BACKING" && fs_fail "key-file vault: content in the clear"
echo "test_encrypt: key file, superblock copy: ok"

# A plain vault converted, history included (revfs-tune --encrypt).
fs_cleanup_backing
fs_mkfs
fs_mount
echo "novemberfirstsecret" >"$M/oscarnamesecret" && sync "$M/oscarnamesecret"
echo "novembersecondsecret" >"$M/oscarnamesecret" && sync "$M/oscarnamesecret"
setfattr -n user.papaxattr -v quebecvaluesecret "$M/oscarnamesecret" || fs_fail setfattr
mkdir "$M/romeodirsecret" && echo y >"$M/romeodirsecret/f"
fs_umount
grep -rqa oscarnamesecret "$FS_BACKING" || fs_fail "the plain vault does not show its names"
"$TUNE" --encrypt --new-passphrase-fd=3 $KDF "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 ||
	fs_fail "revfs-tune --encrypt: $(cat "$OUT")"
grep -q "recovery key" "$OUT" || fs_fail "no recovery key from the conversion: $(cat "$OUT")"
for w in novemberfirstsecret novembersecondsecret oscarnamesecret papaxattr quebecvaluesecret \
	romeodirsecret; do
	grep -rqa "$w" "$FS_BACKING" && fs_fail "'$w' is still in the converted vault"
done
"$REVFS_BIN/revfs" "$FS_BACKING" "$FS_MNT" </dev/null 2>/dev/null &&
	fs_fail "the converted vault mounted without its passphrase"
mount_pass "$PASS"
[ "$(cat "$M/oscarnamesecret")" = novembersecondsecret ] || fs_fail "converted: content"
cat "$M/.revfs/history/oscarnamesecret"/* | grep -qx novemberfirstsecret ||
	fs_fail "converted: the first version is gone"
[ "$(getfattr --only-values -n user.papaxattr "$M/oscarnamesecret" 2>/dev/null)" = \
	quebecvaluesecret ] || fs_fail "converted: xattr"
fs_umount
"$FSCK" -f -n --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 ||
	fs_fail "fsck of the converted vault: $(cat "$OUT")"
"$TUNE" --encrypt --passphrase-fd=3 "$FS_BACKING" 3<"$PASS" >"$OUT" 2>&1 &&
	fs_fail "an encrypted vault encrypted again"
echo "test_encrypt: a plain vault converted with its history"

# The crash test and fsx, sealed.
FS_ENCRYPT=1 CRASH_ITERS=${ENCRYPT_CRASH_ITERS:-6} sh "$(dirname "$0")/test_crash.sh" \
	>"$OUT" 2>&1 || { cat "$OUT"; fs_fail "the crash test in an encrypted mount"; }
tail -1 "$OUT"
FS_ENCRYPT=1 FSX_OPS=${ENCRYPT_FSX_OPS:-10000} sh "$(dirname "$0")/test_fsx.sh" >"$OUT" 2>&1 ||
	{ cat "$OUT"; fs_fail "fsx in an encrypted mount"; }
tail -1 "$OUT"
echo "test_encrypt: ok"
