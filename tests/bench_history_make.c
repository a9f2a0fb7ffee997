/*
 * bench_history_make.c - makes a backing directory for tests/bench_history.sh
 * straight through the store library (a mount would need one fsync per
 * version):
 *
 *   bench_history_make DIR VERSIONS NFILES
 *
 * /f is a file with VERSIONS versions, one a second ending now: each
 * appends 64 bytes, so version k is 64 * k bytes. /tree holds NFILES empty
 * files in 100 directories d00..d99 (f0, f1, ... in turn), written to the
 * namespace 1,000 files per commit, so the namespace has about
 * NFILES / 1000 versions as well. /flat holds VERSIONS empty files: a
 * plain directory as big as f's history, to compare listings with.
 * Without fdatasync (ST_NOSYNC): the
 * benchmark syncs once. Exits 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ns_make.h"
#include "ns.h"

#define NDIRS	 100u
#define FILE_INO 2u
#define TREE_INO 3u
#define DIR_INO0 4u /* d00 .. d99 */
#define FLAT_INO (DIR_INO0 + NDIRS)

/* The commit clock: one second a version, ending about now. */
static uint64_t fake_now;

static uint64_t tick(void *ctx)
{
	(void)ctx;
	return fake_now += 1000000000ull;
}

static int fail(const char *what)
{
	fprintf(stderr, "bench_history_make: %s: %s\n", what, st_last_error()->msg);
	return 1;
}

static int make_file(const char *dir, uint64_t versions, const struct st_open_opts *o)
{
	char path[4096], sub[4200], line[64];
	st_store *st;

	if (ns_store_path(dir, FILE_INO, path, sizeof(path)) != ST_OK)
		return fail("path");
	snprintf(sub, sizeof(sub), "%s/ino/%02x", dir, FILE_INO);
	if (mkdir(sub, 0700) != 0 && errno != EEXIST)
		return fail(sub);
	if (st_open(path, ST_KIND_FILE, ST_CREATE | ST_EXCL | ST_NOSYNC | ST_DEFER, o, &st) !=
	    ST_OK)
		return fail(path);
	for (uint64_t v = 1; v <= versions; v++) {
		memset(line, ' ', sizeof(line));
		snprintf(line, sizeof(line), "version %llu", (unsigned long long)v);
		line[strlen(line)] = ' ';
		line[sizeof(line) - 1] = '\n';
		if (st_file_write(st, (v - 1) * sizeof(line), line, sizeof(line)) != ST_OK ||
		    st_file_set_mtime(st, fake_now + 1000000000ull) != ST_OK ||
		    st_commit(st, NULL) != ST_OK) {
			st_close(st);
			return fail(path);
		}
	}
	st_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	struct st_open_opts o = {.clock = tick};
	uint64_t versions, nfiles, ino;
	char path[4096], name[32];
	const char *what;
	st_store *ns;
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_history_make DIR VERSIONS NFILES\n");
		return 2;
	}
	versions = strtoull(argv[2], NULL, 10);
	nfiles = strtoull(argv[3], NULL, 10);
	if (!versions)
		return 2;
	fake_now = ((uint64_t)time(NULL) - versions - nfiles / 1000 - 10) * 1000000000ull;
	if ((what = ns_make_dir(argv[1])) != NULL)
		return fail(what);
	if (make_file(argv[1], versions, &o))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", argv[1], NS_STORE_NAME);
	if (st_open(path, ST_KIND_KV, ST_CREATE | ST_EXCL | ST_NOSYNC, &o, &ns) != ST_OK)
		return fail(path);
	if (ns_put_inode(ns, NS_ROOT_INO, S_IFDIR | 0755, 4, 0, NS_ROOT_INO, (int64_t)fake_now) ||
	    ns_put_inode(ns, FLAT_INO, S_IFDIR | 0755, 2, 0, NS_ROOT_INO, (int64_t)fake_now) ||
	    ns_put_dirent(ns, NS_ROOT_INO, "flat", FLAT_INO, S_IFDIR) ||
	    ns_put_inode(ns, FILE_INO, S_IFREG | 0644, 1, versions * 64, 0, (int64_t)fake_now) ||
	    ns_put_dirent(ns, NS_ROOT_INO, "f", FILE_INO, S_IFREG) ||
	    ns_put_inode(ns, TREE_INO, S_IFDIR | 0755, 2 + NDIRS, 0, NS_ROOT_INO,
			 (int64_t)fake_now) ||
	    ns_put_dirent(ns, NS_ROOT_INO, "tree", TREE_INO, S_IFDIR))
		goto out;
	for (unsigned d = 0; d < NDIRS; d++) {
		snprintf(name, sizeof(name), "d%02u", d);
		if (ns_put_inode(ns, DIR_INO0 + d, S_IFDIR | 0755, 2, 0, TREE_INO,
				 (int64_t)fake_now) ||
		    ns_put_dirent(ns, TREE_INO, name, DIR_INO0 + d, S_IFDIR))
			goto out;
	}
	for (uint64_t i = 0; i < versions; i++) {
		ino = FLAT_INO + 1 + i;
		snprintf(name, sizeof(name), "%llu", (unsigned long long)i + 1);
		if (ns_put_inode(ns, ino, S_IFREG | 0644, 1, 0, 0, (int64_t)fake_now) ||
		    ns_put_dirent(ns, FLAT_INO, name, ino, S_IFREG))
			goto out;
	}
	for (uint64_t i = 0; i < nfiles; i++) {
		ino = FLAT_INO + 1 + versions + i;
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		if (ns_put_inode(ns, ino, S_IFREG | 0644, 1, 0, 0, (int64_t)fake_now) ||
		    ns_put_dirent(ns, DIR_INO0 + i % NDIRS, name, ino, S_IFREG))
			goto out;
		if (i % 1000 == 999 && st_commit(ns, NULL) != ST_OK)
			goto out;
	}
	if (ns_next_ino_put(ns, FLAT_INO + 1 + versions + nfiles) || ns_clean_set(ns, true) ||
	    st_commit(ns, NULL) != ST_OK)
		goto out;
	rc = 0;
out:
	if (rc)
		fail("namespace");
	st_close(ns);
	return rc;
}
