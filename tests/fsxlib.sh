# Shared by the tests that run tests/fsx.c in a mount (test_fsx.sh, the
# soak). Source it after fslib.sh.

# The fsx files in directory $2 against the manifest $1 that fsx wrote
# there: the same names, contents (sha256), sizes, link counts and hard
# links. Fails the test (fs_fail) on a difference.
fsx_check_manifest() {
	manifest=$1
	dir=$2
	awk '!/^#/ { print $1 "  " $5 }' "$manifest" >"$FS_TMP/sums"
	awk '!/^#/ { print $5 }' "$manifest" | sort >"$FS_TMP/want"
	(cd "$dir" && ls -A) | grep -E '^fsx\.[0-9]+$' | sort >"$FS_TMP/have"
	if ! cmp -s "$FS_TMP/want" "$FS_TMP/have"; then
		diff "$FS_TMP/want" "$FS_TMP/have" >&2
		fs_fail "after remount: the fsx names differ (<: left by fsx, >: in the mount)"
	fi
	[ -s "$FS_TMP/want" ] || return 0
	(cd "$dir" && sha256sum --quiet --strict -c "$FS_TMP/sums") >&2 ||
		fs_fail "after remount: file contents differ from what fsx left"
	# shellcheck disable=SC2046 # one word per name: fsx names have no spaces
	(cd "$dir" && stat -c '%s %h %i %n' $(cat "$FS_TMP/want")) >"$FS_TMP/stat" ||
		fs_fail "after remount: stat"
	# Names of one file (one group in the manifest) share an inode number;
	# names of different files do not.
	awk 'FNR == NR { if (!/^#/) { size[$5] = $2; nlink[$5] = $3; group[$5] = $4 } next }
	{
		name = $4; g = group[name]
		if ($1 != size[name] || $2 != nlink[name]) {
			printf "%s: size %s, %s links; fsx left %s, %s\n", name, $1, $2,
				size[name], nlink[name]
			bad = 1
		}
		if (g in ino) {
			if (ino[g] != $3) {
				printf "%s: inode %s, but its other name %s has %s\n", name, $3,
					g, ino[g]
				bad = 1
			}
		} else if ($3 in owner) {
			printf "%s: inode %s, also that of %s, a different file\n", name, $3,
				owner[$3]
			bad = 1
		} else {
			ino[g] = $3
			owner[$3] = g
		}
	}
	END { exit bad }' "$manifest" "$FS_TMP/stat" >&2 ||
		fs_fail "after remount: sizes, link counts or hard links differ from what fsx left"
}
