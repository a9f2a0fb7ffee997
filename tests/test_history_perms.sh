#!/bin/sh
# Nobody reads through .revfs what they could not read (issue: history
# people can trust, point 3, the cases this release covers), as two users
# (uids 2001 "alice" and 2002 "bob", run with setpriv; no account is made):
#
#   - a file in alice's 0700 directory: bob cannot list or read its versions
#     through history/ (the mirrored directory was dr-xr-xr-x);
#   - a key kept 0600, then overwritten with public text and chmod 644: bob
#     reads the new version, not the old one;
#   - a file chowned from alice to bob: bob reads his version, not hers;
#   - at/<then>: a file that was 0644 then and is 0600 now: bob cannot read
#     it there either.
# Each also as alice (allowed where she may) and as root (always).
set -u
. "$(dirname "$0")/fslib.sh"
[ "$(id -u)" = 0 ] || { echo "test_history_perms: SKIP (needs root)"; exit 0; }
fs_setup
fs_mkfs
ALICE="setpriv --reuid=2001 --regid=2001 --clear-groups"
BOB="setpriv --reuid=2002 --regid=2002 --clear-groups"
H=$FS_MNT/.revfs/history
chmod 755 "$FS_TMP"

save() { # save USER FILE TEXT: writes and fsyncs as USER
	$1 sh -c 'printf "%s" "$2" >"$1" && dd if=/dev/null of="$1" oflag=append conv=notrunc,fsync status=none' \
		- "$2" "$3" || fs_fail "save $2 as $1"
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
mkdir -m 755 "$FS_MNT/alice" "$FS_MNT/bob" && chown 2001:2001 "$FS_MNT/alice" &&
	chown 2002:2002 "$FS_MNT/bob"

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

# A key, then public text.
save "$ALICE" "$FS_MNT/alice/key" "PRIVATE KEY"
$ALICE chmod 600 "$FS_MNT/alice/key"
save "$ALICE" "$FS_MNT/alice/key" "PRIVATE KEY"
sleep 2.5 # past the flush rounds that commit the chmod
save "$ALICE" "$FS_MNT/alice/key" "public text"
$ALICE chmod 644 "$FS_MNT/alice/key"
sleep 2.5
save "$ALICE" "$FS_MNT/alice/key" "public text!"
last=$(ls "$H/alice/key" | sort | tail -1)
can "$BOB" "bob cat the public version" cat "$H/alice/key/$last"
[ "$($BOB cat "$H/alice/key/$last")" = "public text!" ] || fs_fail "bob: public version"
for v in $(ls "$H/alice/key"); do
	if [ "$(cat "$H/alice/key/$v")" = "PRIVATE KEY" ]; then
		cannot "$BOB" "bob cat the key's version $v" cat "$H/alice/key/$v"
		can "$ALICE" "alice cat the key's version $v" cat "$H/alice/key/$v"
	fi
done

# A file given from alice to bob.
save "$ALICE" "$FS_MNT/shared/gift" "alice's draft"
$ALICE chmod 600 "$FS_MNT/shared/gift"
save "$ALICE" "$FS_MNT/shared/gift" "alice's draft"
sleep 2.5
chown 2002:2002 "$FS_MNT/shared/gift"
sleep 2.5 # a change of owner counts for the saves a flush round after it
save "$BOB" "$FS_MNT/shared/gift" "bob's now"
for v in $(ls "$H/shared/gift"); do
	case $(cat "$H/shared/gift/$v") in
	"alice's draft") cannot "$BOB" "bob cat alice's version $v of gift" cat "$H/shared/gift/$v" ;;
	"bob's now") can "$BOB" "bob cat his version $v of gift" cat "$H/shared/gift/$v" ;;
	esac
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
fs_umount
echo "test_history_perms: ok"
