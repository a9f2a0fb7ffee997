# A one-brick GlusterFS volume on this machine, mounted through two clients,
# for the tests and benchmarks of a vault on a distributed filesystem.
# Source it after fslib.sh, as root:
#
#   gl_start            # glusterd (unless one runs), the volume, clients
#                       # $G/c1 and $G/c2; traps gl_cleanup
#   gl_client N [OPTS]  # (re)mounts client N with mount options OPTS
#   gl_strict           # the settings under which no client caches
#
# gl_cleanup takes all of it down, whatever happened: a revfs mount on
# $FS_MNT, both clients, the volume, and glusterd if gl_start started it
# (by its pid); then fs_cleanup.

gl() { gluster --mode=script "$@" >>"$G/gluster.log" 2>&1; }

gl_cleanup() {
	if [ -n "${FS_MNT:-}" ] && fs_mounted "$FS_MNT"; then
		[ -n "${FS_PID:-}" ] && kill -9 "$FS_PID" 2>/dev/null
		fusermount3 -u "$FS_MNT" 2>/dev/null || fusermount3 -uz "$FS_MNT" 2>/dev/null
	fi
	for m in "$G/c1" "$G/c2"; do
		fs_mounted "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	if [ -n "${GL_VOL_MADE:-}" ]; then
		gl volume stop "$VOL" force
		gl volume delete "$VOL"
	fi
	[ -n "${GD_PID:-}" ] && kill "$GD_PID" 2>/dev/null
	fs_cleanup
}

gl_client() {
	fs_mounted "$G/c$1" && umount "$G/c$1"
	mount -t glusterfs ${2:+-o "$2"} "$HOST:/$VOL" "$G/c$1" || fs_fail "mount client $1"
}

gl_start() {
	command -v glusterd >/dev/null ||
		fs_fail "no glusterd: tests/deps.sh installs glusterfs-server"
	G=$FS_TMP/gluster
	VOL=revfs$$
	GD_PID="" GL_VOL_MADE=""
	# A brick is named by a host glusterd takes for itself (not localhost).
	HOST=$(hostname)
	getent hosts "$HOST" >/dev/null || HOST=$(hostname -I | awk '{ print $1 }')
	mkdir -p "$G/brick" "$G/c1" "$G/c2"
	trap gl_cleanup EXIT
	if ! pgrep -x glusterd >/dev/null; then
		glusterd -p "$G/glusterd.pid" || fs_fail "glusterd"
		GD_PID=$(cat "$G/glusterd.pid")
		i=0
		until gluster --mode=script volume list >/dev/null 2>&1; do
			i=$((i + 1))
			[ $i -gt 100 ] && fs_fail "glusterd did not answer in 10 s"
			sleep 0.1
		done
	fi
	gl volume create "$VOL" "$HOST:$G/brick" force ||
		fs_fail "volume create: $(tail -3 "$G/gluster.log")"
	GL_VOL_MADE=1
	gl volume start "$VOL" || fs_fail "volume start: $(tail -3 "$G/gluster.log")"
	gl_client 1
	gl_client 2
}

gl_strict() {
	for o in stat-prefetch quick-read open-behind write-behind client-io-threads; do
		gl volume set "$VOL" "performance.$o" off || fs_fail "volume set $o"
	done
	gl_client 1 attribute-timeout=0,entry-timeout=0,negative-timeout=0
	gl_client 2 attribute-timeout=0,entry-timeout=0,negative-timeout=0
}
