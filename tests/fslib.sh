# Shared shell helpers of the tests that mount revfs. Source it, do not run it.
#
#   . tests/fslib.sh
#   fs_setup            # makes $FS_TMP, $FS_BACKING, $FS_MNT; traps cleanup
#   fs_mkfs [args]      # mkfs.revfs on $FS_BACKING
#   fs_mount [-o opts]  # mounts $FS_BACKING on $FS_MNT, waits until it is up
#   fs_umount           # unmounts (flushes everything first)
#   fs_kill             # SIGKILL of the daemon, then detaches the dead mount
#   fs_reap PID         # waits (bounded) until a killed daemon is gone
#   fs_user_add NAME    # a system user for the test, removed on exit
#
# Binaries come from $REVFS_BIN (default build/). Every mount made here is
# unmounted on exit, whether the test passed or not. FS_KEEP_LOG=FILE keeps a
# copy of the daemon's log there when the temporary directory goes.

REVFS_BIN=${REVFS_BIN:-build}
case $REVFS_BIN in /*) ;; *) REVFS_BIN=$(pwd)/$REVFS_BIN ;; esac
FS_PID=""

fs_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Whether $1 is mounted; a dead daemon's mount (ENOTCONN) counts.
fs_mounted() {
	grep -q " $1 " /proc/self/mounts 2>/dev/null
}

fs_cleanup() {
	if [ -n "${FS_MNT:-}" ] && fs_mounted "$FS_MNT"; then
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then
		kill -9 "$FS_PID" 2>/dev/null
		fs_reap "$FS_PID" || true
		FS_PID=""
	fi
	for u in ${FS_USERS:-}; do
		userdel "$u" 2>/dev/null
	done
	FS_USERS=
	[ -n "${FS_TMP:-}" ] && { [ -n "${FS_KEEP_LOG:-}" ] && cp "$FS_TMP/revfs.log" "$FS_KEEP_LOG" 2>/dev/null; rm -rf "$FS_TMP"; }
}

fs_setup() {
	FS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/revfs-test.XXXXXX")
	FS_BACKING=$FS_TMP/backing
	FS_MNT=$FS_TMP/mnt
	mkdir -p "$FS_MNT"
	trap fs_cleanup EXIT
	trap 'exit 130' INT TERM
}

# fs_user_add NAME: makes a system user NAME with a group of its own, no
# home and no login, for a test run as root; fs_cleanup removes it.
fs_user_add() {
	userdel "$1" 2>/dev/null # left by a run that was killed
	useradd -r -M -U -s /usr/sbin/nologin "$1" || fs_fail "useradd $1"
	FS_USERS="${FS_USERS:-} $1"
}

# FS_ENCRYPT=1: the vault is encrypted, with a key file of the test's
# (every fs_mkfs and fs_mount of the test use it): any test runs sealed.
fs_mkfs() {
	if [ -n "${FS_ENCRYPT:-}" ]; then
		[ -s "$FS_TMP/vault.key" ] || head -c 64 /dev/urandom >"$FS_TMP/vault.key"
		set -- --key-file="$FS_TMP/vault.key" "$@"
	fi
	"$REVFS_BIN/mkfs.revfs" "$@" "$FS_BACKING" >/dev/null || fs_fail "mkfs.revfs $*"
}

# Runs the daemon in the foreground in the background, so that the test knows
# its pid (for fs_kill) and sees its stderr in $FS_TMP/revfs.log. FS_MOUNT_OPTS,
# if set, are -o options every mount of the test gets first.
fs_mount() {
	"$REVFS_BIN/revfs" -f ${FS_ENCRYPT:+-o key_file="$FS_TMP/vault.key"} \
		${FS_MOUNT_OPTS:+-o "$FS_MOUNT_OPTS"} "$@" "$FS_BACKING" "$FS_MNT" \
		2>>"$FS_TMP/revfs.log" &
	FS_PID=$!
	i=0
	while ! mountpoint -q "$FS_MNT"; do
		if ! kill -0 "$FS_PID" 2>/dev/null; then
			FS_PID=""
			cat "$FS_TMP/revfs.log" >&2
			fs_fail "revfs did not mount"
		fi
		i=$((i + 1))
		[ $i -gt 500 ] && fs_fail "revfs did not mount in 10 s"
		sleep 0.02
	done
	# The connection's number (fusectl's name for it): the device's minor.
	FS_CONN=$(awk -v m="$FS_MNT" '$5 == m { print $3 }' /proc/self/mountinfo | tail -n 1)
	FS_CONN=${FS_CONN#*:}
}

fs_umount() {
	fusermount3 -u "$FS_MNT" || fs_fail "fusermount3 -u"
	if [ -n "$FS_PID" ]; then
		wait "$FS_PID" || {
			rc=$?
			tail -n 20 "$FS_TMP/revfs.log" >&2
			fs_fail "revfs exited with status $rc (its log's last lines above)"
		}
		FS_PID=""
	fi
}

# fs_reap PID: waits until the daemon PID, sent SIGKILL, has no thread left,
# then reaps it. A thread stuck in the kernel for 20 s (waiting for its own
# filesystem, say) would keep the process and its mount forever: then this
# shows where each thread waits, aborts the FUSE connection of the last
# fs_mount (FS_CONN; through fusectl, mounted for that moment if it is not)
# and returns 1.
fs_reap() {
	_n=0
	while [ $_n -lt 200 ]; do
		_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
		[ -z "$_st" ] && break
		[ "$_st" = Z ] && [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ] && break
		sleep 0.1
		_n=$((_n + 1))
	done
	[ $_n -lt 200 ] && { wait "$1" 2>/dev/null; return 0; }
	echo "the killed daemon $1 still has threads after 20 s:" >&2
	for _t in /proc/$1/task/*; do
		echo "thread ${_t##*/}, state $(sed 's/.*) //' "$_t/stat" | cut -d' ' -f1):" >&2
		cat "$_t/stack" >&2 2>/dev/null
	done
	_ctl=/sys/fs/fuse/connections
	_own=
	if [ -n "${FS_CONN:-}" ]; then
		[ -d "$_ctl/$FS_CONN" ] || { mount -t fusectl fusectl "$_ctl" 2>/dev/null && _own=1; }
		echo 1 >"$_ctl/$FS_CONN/abort" 2>/dev/null && echo "aborted connection $FS_CONN" >&2
		[ -n "$_own" ] && umount "$_ctl"
	fi
	wait "$1" 2>/dev/null
	return 1
}

fs_kill() {
	[ -n "$FS_PID" ] || fs_fail "fs_kill: no daemon"
	kill -9 "$FS_PID"
	_p=$FS_PID
	FS_PID=""
	fs_reap "$_p" || fs_fail "a daemon killed with SIGKILL did not end"
	fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	true
}
