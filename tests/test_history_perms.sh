#!/bin/sh
# Nobody reads through .revfs what they could not read (issue: history
# people can trust, point 3), as two users the test makes and removes
# (revfs_alice and revfs_bob, each with a group of its own; commands run
# as them with setpriv):
#
#   - a file in alice's 0700 directory: bob cannot list or read its versions
#     through history/ (the mirrored directory was dr-xr-xr-x);
#   - a key kept 0600, then overwritten with public text and chmod 644: bob
#     reads the new version, not the old one;
#   - a file chowned from alice to bob: bob reads his version, not hers;
#   - a file saved in a directory that was 0700 then and is 0755 now: bob
#     reads the versions saved after the chmod, not those before;
#   - at/<then>: a file that was 0644 then and is 0600 now: bob cannot read
#     it there either.
# Each also as alice (allowed where she may) and as root (always). ls -l
# shows each version's owner and mode of its time, and getfattr its xattrs
# of its time; both are kept with the versions, so they hold after the
# namespace is compacted down to its newest version.
set -u
. "$(dirname "$0")/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "test_history_perms: SKIP (needs root)"; exit 0; }
fs_setup
fs_mkfs
fs_user_add revfs_alice
fs_user_add revfs_bob
AU=$(id -u revfs_alice) AG=$(id -g revfs_alice) BU=$(id -u revfs_bob) BG=$(id -g revfs_bob)
ALICE="setpriv --reuid=$AU --regid=$AG --clear-groups"
BOB="setpriv --reuid=$BU --regid=$BG --clear-groups"
H=$FS_MNT/.revfs/history
chmod 755 "$FS_TMP"

save() { # save USER FILE TEXT: writes and fsyncs as USER (umask 077 if $UM)
	$1 sh -c 'umask ${UM:-022}; printf "%s" "$2" >"$1" &&
		dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none' \
		- "$2" "$3" || fs_fail "save $2 as $1"
}
owner_mode() { # owner_mode FILE: "uid mode" as stat shows them
	stat -c '%u %a' "$1"
}
can() { # can USER WHAT CMD...: CMD must succeed as USER
	u=$1 what=$2
	shift 2
	$u "$@" >/dev/null 2>&1 || fs_fail "$what: refused, should be allowed"
}
cannot() { # cannot USER WHAT CMD...: CMD must fail as USER
	u=$1 what=$2
	shift 2
	$u "$@" >/dev/null 2>&1 && fs_fail "$what: allowed, should be refused"
	true
}

fs_mount -o allow_other,flush_ms=100
chmod 755 "$FS_MNT"
mkdir -m 1777 "$FS_MNT/shared"
mkdir -m 755 "$FS_MNT/alice" "$FS_MNT/bob" && chown $AU:$AG "$FS_MNT/alice" &&
	chown $BU:$BG "$FS_MNT/bob"

# A 0700 directory.
$ALICE mkdir -m 700 "$FS_MNT/alice/private"
save "$ALICE" "$FS_MNT/alice/private/inner.txt" "secret one"
save "$ALICE" "$FS_MNT/alice/private/inner.txt" "secret two"
cannot "$BOB" "bob cat private/inner.txt" cat "$FS_MNT/alice/private/inner.txt"
cannot "$BOB" "bob ls history of alice/private" ls "$H/alice/private"
cannot "$BOB" "bob cat history of inner.txt" cat "$H/alice/private/inner.txt/1"
can "$ALICE" "alice ls history of alice/private" ls "$H/alice/private/inner.txt"
can "$ALICE" "alice cat history of inner.txt" cat "$H/alice/private/inner.txt/1"
can "" "root cat history of inner.txt" cat "$H/alice/private/inner.txt/1"

# A key, then public text. A version is as readable as the file was when
# it was saved: the key is made 0600 from the start (umask 077).
UM=077 save "$ALICE" "$FS_MNT/alice/key" "PRIVATE KEY"
$ALICE setfattr -n user.note -v "the key" "$FS_MNT/alice/key"
UM=077 save "$ALICE" "$FS_MNT/alice/key" "PRIVATE KEY"
$ALICE chmod 644 "$FS_MNT/alice/key"
$ALICE setfattr -n user.note -v "public" "$FS_MNT/alice/key"
save "$ALICE" "$FS_MNT/alice/key" "public text!"
n=0
for v in $(ls "$H/alice/key"); do
	n=$((n + 1))
	note=$(getfattr --absolute-names -n user.note --only-values "$H/alice/key/$v" 2>/dev/null)
	case $n:$(cat "$H/alice/key/$v"):$(owner_mode "$H/alice/key/$v"):$note in
	"1:PRIVATE KEY:$AU 400:" | "2:PRIVATE KEY:$AU 400:the key")
		cannot "$BOB" "bob cat the key's version $v" cat "$H/alice/key/$v"
		can "$ALICE" "alice cat the key's version $v" cat "$H/alice/key/$v"
		;;
	"3:public text!:$AU 444:public")
		can "$BOB" "bob cat the public version" cat "$H/alice/key/$v"
		;;
	*) fs_fail "key version $n: $(cat "$H/alice/key/$v"), $(owner_mode "$H/alice/key/$v"), note '$note'" ;;
	esac
done
[ $n = 3 ] || fs_fail "key: $n versions, want 3"

# A file given from alice to bob.
UM=077 save "$ALICE" "$FS_MNT/shared/gift" "alice's draft"
UM=077 save "$ALICE" "$FS_MNT/shared/gift" "alice's draft 2"
chown $BU:$BG "$FS_MNT/shared/gift"
save "$BOB" "$FS_MNT/shared/gift" "bob's now"
n=0
for v in $(ls "$H/shared/gift"); do
	n=$((n + 1))
	case $(cat "$H/shared/gift/$v"):$(owner_mode "$H/shared/gift/$v") in
	"alice's draft"*":$AU 400")
		cannot "$BOB" "bob cat alice's version $v of gift" cat "$H/shared/gift/$v"
		# Hers then, but the file is bob's and 0600 now: the most
		# restrictive wins.
		cannot "$ALICE" "alice cat her version $v of gift" cat "$H/shared/gift/$v"
		can "" "root cat alice's version $v of gift" cat "$H/shared/gift/$v"
		;;
	"bob's now:$BU 400")
		can "$BOB" "bob cat his version $v of gift" cat "$H/shared/gift/$v"
		cannot "$ALICE" "alice cat bob's version $v of gift" cat "$H/shared/gift/$v"
		;;
	*) fs_fail "gift version $n: $(cat "$H/shared/gift/$v"), $(owner_mode "$H/shared/gift/$v")" ;;
	esac
done
[ $n = 3 ] || fs_fail "gift: $n versions, want 3"

# A directory that was 0700 when a version was saved, and is 0755 now.
$ALICE mkdir -m 700 "$FS_MNT/alice/vault"
save "$ALICE" "$FS_MNT/alice/vault/plan" "in the vault"
$ALICE chmod 755 "$FS_MNT/alice/vault"
save "$ALICE" "$FS_MNT/alice/vault/plan" "out in the open"
for v in $(ls "$H/alice/vault/plan"); do
	case $(cat "$H/alice/vault/plan/$v") in
	"in the vault") cannot "$BOB" "bob cat plan $v (dir 0700 then)" cat "$H/alice/vault/plan/$v" ;;
	"out in the open") can "$BOB" "bob cat plan $v (dir 0755 then)" cat "$H/alice/vault/plan/$v" ;;
	*) fs_fail "plan: unexpected version $v" ;;
	esac
	can "$ALICE" "alice cat plan $v" cat "$H/alice/vault/plan/$v"
done

# at/: readable then, not now.
save "$ALICE" "$FS_MNT/alice/was_public" "shared once"
sleep 2.5
t=$(date +%s)
sleep 1.5
$ALICE chmod 600 "$FS_MNT/alice/was_public"
dd if=/dev/null of="$FS_MNT/alice/was_public" oflag=append conv=notrunc,fsync status=none
sleep 0.5
cannot "$BOB" "bob cat at/@$t/alice/was_public (0600 now)" cat "$FS_MNT/.revfs/at/@$t/alice/was_public"
can "$ALICE" "alice cat at/@$t/alice/was_public" cat "$FS_MNT/.revfs/at/@$t/alice/was_public"
pin() { # pin FILE N: pins the Nth version of FILE's history
	setfattr -n user.revfs.pin -v "$(ls "$H/${1#"$FS_MNT"/}" | sed -n "$2p")" "$1" ||
		fs_fail "pin $1 $2"
}
pin "$FS_MNT/alice/key" 1
pin "$FS_MNT/alice/key" 2
pin "$FS_MNT/alice/vault/plan" 1
pin "$FS_MNT/shared/gift" 1
fs_umount

# The owner, mode, directories and xattrs of each version are its store's,
# not the namespace's old versions': compacted down to its newest (and the
# files to their newest and pinned versions), the namespace no longer knows
# them.
"$REVFS_BIN/revfs-compact" -q --keep=latest "$FS_BACKING" || fs_fail "revfs-compact --keep=latest"
fs_mount -o allow_other,flush_ms=100
v=$(ls "$H/alice/key" | head -1)
[ "$(owner_mode "$H/alice/key/$v")" = "$AU 400" ] || fs_fail "key after compaction: $(owner_mode "$H/alice/key/$v")"
cannot "$BOB" "bob cat the key's version after compaction" cat "$H/alice/key/$v"
v=$(ls "$H/alice/key" | sed -n 2p)
[ "$(getfattr --absolute-names -n user.note --only-values "$H/alice/key/$v")" = "the key" ] ||
	fs_fail "key's xattr after compaction"
v=$(ls "$H/alice/vault/plan" | head -1)
cannot "$BOB" "bob cat plan (dir 0700 then) after compaction" cat "$H/alice/vault/plan/$v"
v=$(ls "$H/shared/gift" | head -1)
[ "$(owner_mode "$H/shared/gift/$v")" = "$AU 400" ] || fs_fail "gift after compaction"
fs_umount
echo "test_history_perms: ok"
