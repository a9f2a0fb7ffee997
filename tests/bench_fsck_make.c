/*
 * bench_fsck_make.c - makes a backing directory for tests/bench_fsck.sh
 * straight through the store library, which is much faster than writing
 * it through a mount and gives the same bytes on disk:
 *
 *   bench_fsck_make DIR NFILES TOTAL_BYTES VERSIONS
 *
 * NFILES regular files in 100 directories, each with VERSIONS versions.
 * The first version writes the whole file; each later one rewrites a
 * different slice of it, so every version keeps data of its own. The
 * files total TOTAL_BYTES; the stores hold about twice that. Stores are written without
 * fdatasync (ST_NOSYNC): the benchmark syncs once and drops the caches.
 * Exits 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ns_make.h"
#include "ns.h"

#define NDIRS	100u
#define MADE_NS 1700000000000000000ll /* every inode's times */

static int fail(const char *what)
{
	fprintf(stderr, "bench_fsck_make: %s: %s\n", what, st_last_error()->msg);
	return 1;
}

/* xorshift: fast bytes that do not compress. */
static void fill(uint8_t *buf, size_t len, uint64_t *s)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		memcpy(buf + i, s, 8);
	}
}

/* One file store: version 1 the whole file, then a slice per version. */
static int make_store(const char *dir, uint64_t ino, uint64_t size, unsigned versions, uint8_t *buf,
		      uint64_t *seed)
{
	char path[4096], sub[4200];
	uint64_t slice = versions > 1 ? size / (versions - 1) : size;
	st_store *st;

	if (ns_store_path(dir, ino, path, sizeof(path)) != ST_OK)
		return fail("path");
	snprintf(sub, sizeof(sub), "%s/ino/%02x", dir, (unsigned)(ino & 0xff));
	if (mkdir(sub, 0700) != 0 && errno != EEXIST)
		return fail(sub);
	if (st_open(path, ST_KIND_FILE, ST_CREATE | ST_EXCL | ST_NOSYNC, NULL, &st) != ST_OK)
		return fail(path);
	for (unsigned v = 0; v < versions; v++) {
		uint64_t off = v == 0 ? 0 : (v - 1) * slice;
		uint64_t len = v == 0 ? size : slice;

		if (off + len > size)
			len = size - off;
		fill(buf, len, seed);
		if (st_file_write(st, off, buf, len) != ST_OK || st_commit(st, NULL) != ST_OK) {
			st_close(st);
			return fail(path);
		}
	}
	st_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096], name[32];
	const char *what;
	uint64_t nfiles, total, size, seed = 0x9e3779b97f4a7c15ull, ino;
	unsigned versions;
	uint8_t *buf;
	st_store *ns;
	int rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_fsck_make DIR NFILES TOTAL_BYTES VERSIONS\n");
		return 2;
	}
	nfiles = strtoull(argv[2], NULL, 10);
	total = strtoull(argv[3], NULL, 10);
	versions = (unsigned)strtoul(argv[4], NULL, 10);
	if (!nfiles || !versions)
		return 2;
	/* The files total TOTAL_BYTES; their stores hold about twice that
	 * (version 1 writes the file, the others rewrite it once more in
	 * slices) plus a few blocks of tree and header per version. */
	size = total / nfiles / 8 * 8;
	buf = malloc(size + 8);
	if (!buf)
		return 1;
	if ((what = ns_make_dir(argv[1])) != NULL)
		return fail(what);
	snprintf(path, sizeof(path), "%s/%s", argv[1], NS_STORE_NAME);
	if (st_open(path, ST_KIND_KV, ST_CREATE | ST_EXCL | ST_NOSYNC, NULL, &ns) != ST_OK)
		return fail(path);
	/* Inodes 2..101 are directories d00..d99; files follow. */
	if (ns_put_inode(ns, NS_ROOT_INO, S_IFDIR | 0755, 2 + NDIRS, 0, NS_ROOT_INO, MADE_NS) !=
	    ST_OK)
		goto out;
	for (unsigned d = 0; d < NDIRS; d++) {
		snprintf(name, sizeof(name), "d%02u", d);
		if (ns_put_inode(ns, 2 + d, S_IFDIR | 0755, 2, 0, NS_ROOT_INO, MADE_NS) != ST_OK ||
		    ns_put_dirent(ns, NS_ROOT_INO, name, 2 + d, S_IFDIR) != ST_OK)
			goto out;
	}
	for (uint64_t i = 0; i < nfiles; i++) {
		ino = 2 + NDIRS + i;
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		if (make_store(argv[1], ino, size, versions, buf, &seed) ||
		    ns_put_inode(ns, ino, S_IFREG | 0644, 1, size, 0, MADE_NS) != ST_OK ||
		    ns_put_dirent(ns, 2 + i % NDIRS, name, ino, S_IFREG) != ST_OK)
			goto out;
		/* Staged puts live in memory: commit now and then. */
		if (i % 1000 == 999 && st_commit(ns, NULL) != ST_OK)
			goto out;
	}
	if (ns_next_ino_put(ns, 2 + NDIRS + nfiles) != ST_OK || ns_clean_set(ns, true) != ST_OK)
		goto out;
	if (st_commit(ns, NULL) != ST_OK)
		goto out;
	rc = 0;
out:
	if (rc)
		fail("namespace");
	st_close(ns);
	free(buf);
	return rc;
}
