#!/bin/sh
# Installs what revfs needs to build and test, when it is missing.
# As root on Debian it uses apt-get; otherwise it only says what is missing.
set -eu
pkgs="build-essential pkg-config libfuse3-dev fuse3 libssl-dev check git sqlite3 attr groff-base man-db vim-tiny
glusterfs-server glusterfs-client e2fsprogs util-linux"
[ "${1:-}" = "--fuzz" ] && pkgs="$pkgs clang"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q $missing
else
	echo "deps: missing packages:$missing (install them, or run as root on Debian)" >&2
	exit 1
fi
