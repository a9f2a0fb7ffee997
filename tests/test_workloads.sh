#!/bin/sh
# Real programs in a revfs mount, each checked against what it must produce:
#   build   the tarball of this repository (git archive HEAD) untarred in the
#           mount equals the tarball (tar --compare), `make` builds there, the
#           programs it built run from the mount, after a remount make finds
#           everything up to date (times kept), make clean and rm -rf leave
#           nothing
#   git     init, commits with edits, renames, deletes, a branch and a merge,
#           gc; fsck --full --strict is clean, before and after a remount,
#           with the same HEAD and a clean status
#   sqlite  4000 transactions (inserts, updates, deletes; SQL_TX=1000 scales
#           them) in rollback journal mode and in WAL mode: integrity_check is
#           ok and the dump equals that of the same script run outside the
#           mount, before and after a remount
#   sqlcrash the daemon gets SIGKILL in the middle of a stream of
#           transactions (rollback journal in TRUNCATE mode, and WAL):
#           after a remount the database is intact and holds every
#           transaction whose COMMIT had returned
#
#   REVFS_BIN=build sh tests/test_workloads.sh
#   WORKLOADS="git sqlite" REVFS_BIN=build sh tests/test_workloads.sh
#
# Needs git, sqlite3, make, cc, nm, tar.
set -u
. "$(dirname "$0")/fslib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORKLOADS=${WORKLOADS:-build git sqlite sqlcrash}
SQL_TX=${SQL_TX:-1000}
# Run from make check, the parent make's variables (BUILD, SAN...) would
# reach the inner make through MAKEFLAGS: the tree builds as a user would.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES BUILD SAN OPT CFLAGS
for t in git sqlite3 make cc nm tar awk cksum; do
	command -v "$t" >/dev/null 2>&1 || fs_fail "needs $t"
done

fs_setup
t0=$(date +%s)
ts=$t0

# Progress with the time each part took.
done_part() {
	now=$(date +%s)
	echo "workloads: $1 ok ($((now - ts)) s)"
	ts=$now
}

remount() {
	fs_umount
	fs_mount
}

# The tarball comes from the repository as the caller's git sees it, before
# HOME changes below.
git -C "$REPO" archive --format=tar HEAD >"$FS_TMP/src.tar" || fs_fail "git archive HEAD"

# A git of our own: the user's configuration must not change what runs.
export HOME="$FS_TMP/home" GIT_CONFIG_NOSYSTEM=1 TZ=UTC
mkdir -p "$HOME"
{
	git config --global user.name "revfs test" &&
		git config --global user.email "test@example.invalid" &&
		git config --global init.defaultBranch main &&
		git config --global safe.directory '*' &&
		git config --global gc.auto 0 &&
		git config --global commit.gpgsign false
} || fs_fail "git config"

fs_mkfs
fs_mount

part_build() {
	S=$FS_MNT/src
	mkdir "$S" || fs_fail "mkdir src"
	tar -xf "$FS_TMP/src.tar" -C "$S" || fs_fail "untar into the mount"
	tar -df "$FS_TMP/src.tar" -C "$S" >"$FS_TMP/tar.out" 2>&1 ||
		{ cat "$FS_TMP/tar.out" >&2; fs_fail "the untarred tree differs from the tarball"; }
	make -C "$S" -j"$(nproc)" >"$FS_TMP/make.out" 2>&1 ||
		{ tail -30 "$FS_TMP/make.out" >&2; fs_fail "make in the mount"; }
	[ -s "$S/build/libstore.a" ] || fs_fail "make did not build build/libstore.a"
	# Every member of the archive must parse: nm reads them all.
	nm "$S/build/libstore.a" >/dev/null 2>"$FS_TMP/nm.out" ||
		{ cat "$FS_TMP/nm.out" >&2; fs_fail "nm of the library built in the mount"; }
	# Programs built in the mount run from it (exec maps them from revfs).
	for p in revfs mkfs.revfs; do
		[ -x "$S/build/$p" ] || continue
		"$S/build/$p" --help >/dev/null 2>&1 || "$S/build/$p" -h >/dev/null 2>&1 ||
			fs_fail "$p built in the mount does not run"
	done
	# Times must survive: after a remount nothing is out of date.
	remount
	make -q -C "$S" || fs_fail "after a remount make wants to rebuild (times not kept?)"
	tar -df "$FS_TMP/src.tar" -C "$S" >"$FS_TMP/tar.out" 2>&1 ||
		{ cat "$FS_TMP/tar.out" >&2; fs_fail "after a remount the tree differs from the tarball"; }
	make -C "$S" clean >/dev/null || fs_fail "make clean"
	[ ! -e "$S/build" ] || fs_fail "make clean left build/"
	rm -rf "$S" || fs_fail "rm -rf of the source tree"
	[ ! -e "$S" ] || fs_fail "rm -rf left the tree"
	remount
	[ ! -e "$S" ] || fs_fail "the removed tree is back after a remount"
	done_part build
}

part_git() {
	R=$FS_MNT/repo
	git init -q "$R" || fs_fail "git init"
	tar -xf "$FS_TMP/src.tar" -C "$R" || fs_fail "untar into the repo"
	git -C "$R" add -A && git -C "$R" commit -q -m import || fs_fail "first commit"
	n=1
	while [ $n -le 8 ]; do
		# Edits, a new file, a rename and a delete in every commit.
		for f in $(git -C "$R" ls-files | awk -v n=$n 'NR % 9 == n % 9' | head -6); do
			echo "edit $n of $f" >>"$R/$f"
		done
		seq 1 $((n * 500)) >"$R/new-$n.txt"
		f=$(git -C "$R" ls-files 'tests/*' | sed -n "${n}p")
		if [ -n "$f" ]; then
			git -C "$R" mv "$f" "$f.moved$n" || fs_fail "git mv $f"
		fi
		f=$(git -C "$R" ls-files 'docs/*' 'store/*' | sed -n "$((n + 1))p")
		if [ -n "$f" ]; then
			git -C "$R" rm -q -f "$f" || fs_fail "git rm $f"
		fi
		git -C "$R" add -A && git -C "$R" commit -q -m "change $n" || fs_fail "commit $n"
		n=$((n + 1))
	done
	git -C "$R" checkout -q -b side || fs_fail "branch"
	echo side >>"$R/README.md"
	git -C "$R" commit -q -am "on the side" || fs_fail "commit on the branch"
	git -C "$R" checkout -q main || fs_fail "checkout main"
	echo main >"$R/only-main.txt"
	git -C "$R" add -A && git -C "$R" commit -q -m "on main" || fs_fail "commit on main"
	git -C "$R" merge -q --no-edit side || fs_fail "merge"
	git -C "$R" gc -q || fs_fail "git gc"
	git -C "$R" fsck --full --strict >"$FS_TMP/fsck.out" 2>&1 ||
		{ cat "$FS_TMP/fsck.out" >&2; fs_fail "git fsck after gc"; }
	[ "$(git -C "$R" rev-list --count HEAD)" = 12 ] || fs_fail "history has not 12 commits"
	head=$(git -C "$R" rev-parse HEAD)
	[ -z "$(git -C "$R" status --porcelain)" ] || fs_fail "status not clean"
	remount
	git -C "$R" fsck --full --strict >"$FS_TMP/fsck.out" 2>&1 ||
		{ cat "$FS_TMP/fsck.out" >&2; fs_fail "git fsck after a remount"; }
	[ "$(git -C "$R" rev-parse HEAD)" = "$head" ] || fs_fail "HEAD changed across a remount"
	[ -z "$(git -C "$R" status --porcelain)" ] || fs_fail "status not clean after a remount"
	# The work tree equals the commit: a fresh checkout of every file.
	git -C "$R" diff --quiet HEAD || fs_fail "work tree differs from HEAD after a remount"
	rm -rf "$R" || fs_fail "rm -rf repo"
	done_part git
}

# The transactions: deterministic, so that a run outside the mount gives the
# expected database. $1 transactions; $2 the journal mode; $3 synchronous
# (EXTRA: in rollback journal mode only EXTRA syncs the directory after the
# journal is deleted, which is the commit; without it the last commit may
# roll back after a crash on any filesystem).
sql_script() {
	awk -v ntx="$1" -v mode="$2" -v sync="$3" 'BEGIN {
		print "PRAGMA journal_mode=" mode ";"
		print "PRAGMA synchronous=" sync ";"
		print "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, n INTEGER);"
		print "CREATE INDEX IF NOT EXISTS t_k ON t(k);"
		print "CREATE TABLE IF NOT EXISTS done(i INTEGER PRIMARY KEY);"
		for (i = 1; i <= ntx; i++) {
			v = sprintf("%0" (20 + (i * 37) % 700) "d", i)
			printf "BEGIN;\n"
			printf "INSERT INTO t(k, v, n) VALUES (\047k%d\047, \047%s\047, %d);\n", (i * 7919) % 100003, v, i
			if (i % 3 == 0)
				printf "UPDATE t SET n = n + %d, v = v || \047u\047 WHERE id IN (SELECT id FROM t WHERE id %% 11 = %d ORDER BY id DESC LIMIT 5);\n", i, i % 11
			if (i % 5 == 0)
				printf "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE n %% 13 = %d LIMIT 3);\n", i % 13
			if (i % 500 == 0)
				printf "INSERT INTO t(k, v, n) SELECT \047bulk\047 || x, printf(\047%%.500d\047, x), x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) SELECT x FROM c);\n"
			printf "INSERT INTO done(i) VALUES (%d);\n", i
			printf "COMMIT;\n"
			printf "SELECT \047committed \047 || %d;\n", i
		}
	}'
}

sql_sum() {
	sqlite3 "$1" .dump | grep -v '^PRAGMA' | cksum
}

# Rollback journal and WAL with an fsync at every commit, and WAL with fsyncs
# only at checkpoints, which gives many more transactions in the same time.
part_sqlite() {
	for cfg in "delete FULL $SQL_TX" "wal FULL $SQL_TX" "wal NORMAL $((SQL_TX * 2))"; do
		set -- $cfg
		mode=$1
		ntx=$3
		sql_script $ntx $mode $2 >"$FS_TMP/tx.sql"
		ref=$FS_TMP/ref-$mode-$2.db
		db=$FS_MNT/$mode-$2.db
		{ echo "PRAGMA synchronous=OFF;"; cat "$FS_TMP/tx.sql"; } | sqlite3 -bail "$ref" >/dev/null ||
			fs_fail "sqlite3 outside the mount"
		sqlite3 -bail "$db" <"$FS_TMP/tx.sql" >"$FS_TMP/sql.out" 2>&1 ||
			{ tail -5 "$FS_TMP/sql.out" >&2; fs_fail "sqlite3 ($mode) in the mount"; }
		[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] ||
			fs_fail "integrity_check ($mode) in the mount"
		want=$(sql_sum "$ref")
		[ "$(sql_sum "$db")" = "$want" ] || fs_fail "$mode database differs from the reference"
		remount
		[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] ||
			fs_fail "integrity_check ($mode) after a remount"
		[ "$(sql_sum "$db")" = "$want" ] ||
			fs_fail "$mode database differs from the reference after a remount"
		[ "$(sqlite3 "$db" 'SELECT count(*) FROM done;')" = $ntx ] ||
			fs_fail "$mode: not $ntx transactions after a remount"
		echo "workloads: sqlite $cfg transactions ok"
	done
	rm -f "$FS_MNT"/*.db "$FS_MNT"/*.db-* || fs_fail "rm of the databases"
	done_part sqlite
}

# The rollback journal in TRUNCATE mode, not DELETE: there a COMMIT's last
# step is the journal's unlink and a sync of its directory, and SQLite's
# unix VFS counts a directory it cannot open for that sync as synced. A
# kill between the unlink and that open (ENOTCONN) makes COMMIT return
# with the unlink never committed: after the remount the journal is hot
# and rolls the transaction back (seen once in many runs: "85 committed,
# the database has 84"). TRUNCATE's last step is an fsync of the journal
# itself, which fails with the mount.
part_sqlcrash() {
	for mode in truncate wal; do
		db=$FS_MNT/crash-$mode.db
		sql_script 20000 $mode EXTRA >"$FS_TMP/tx.sql"
		sqlite3 -bail "$db" <"$FS_TMP/tx.sql" >"$FS_TMP/sql.out" 2>&1 &
		spid=$!
		sleep 2
		fs_kill
		wait $spid
		# The last "committed i" printed: its COMMIT had returned.
		last=$(sed -n 's/^committed //p' "$FS_TMP/sql.out" | tail -1)
		[ -n "$last" ] || fs_fail "sqlcrash ($mode): no transaction committed in 2 s"
		fs_mount
		[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] ||
			fs_fail "sqlcrash ($mode): integrity_check after the kill"
		got=$(sqlite3 "$db" 'SELECT count(*), max(i) FROM done;')
		# Every committed transaction, at most the one in flight more, no gap.
		case $got in
		"$last|$last" | "$((last + 1))|$((last + 1))") ;;
		*) fs_fail "sqlcrash ($mode): $last committed, the database has (count|max) $got" ;;
		esac
		echo "workloads: sqlcrash ($mode): killed after $last transactions, all there"
	done
	rm -f "$FS_MNT"/crash-*.db* || fs_fail "rm of the databases"
	done_part sqlcrash
}

for w in $WORKLOADS; do
	case $w in
	build) part_build ;;
	git) part_git ;;
	sqlite) part_sqlite ;;
	sqlcrash) part_sqlcrash ;;
	*) fs_fail "unknown workload $w" ;;
	esac
done
# Each part removed what it made.
left=$(ls -A "$FS_MNT" | grep -v '^\.revfs$')
[ -z "$left" ] || fs_fail "left in the mount: $left"
fs_umount
echo "PASS: workloads ($WORKLOADS) in $(($(date +%s) - t0)) s"
