/*
 * fsck_damage.c - damages a backing directory's namespace the way only a
 * bug or a bad disk would, for test_fsck.sh, through the namespace library
 * (a new commit each time, so the store itself stays valid):
 *
 *   fsck_damage versions STORE          seq, header offset, size per version
 *   fsck_damage nlink DIR INO N         sets inode INO's link count to N
 *   fsck_damage dangling DIR PARENT NAME INO
 *                                       an entry naming an inode with no record
 *   fsck_damage cycle DIR PARENT NAME   directory NAME in PARENT is cut from
 *                                       PARENT and hung under its own first
 *                                       subdirectory as "loop"
 *   fsck_damage drop DIR PARENT NAME    removes entry NAME and its inode's
 *                                       record, leaving its store: an
 *                                       orphan store
 *   fsck_damage lineage DIR INO PRED    a lineage record: INO took PRED's place
 *   fsck_damage vacated DIR DIR_INO NAME INO
 *                                       a vacated-name mark
 *   fsck_damage feature DIR ro_compat|incompat BITS
 *                                       sets a superblock feature word, as
 *                                       a newer revfs would
 *
 * Exits 0, or 1 with a message.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ns.h"

static int die(const char *what)
{
	fprintf(stderr, "fsck_damage: %s: %s\n", what, st_last_error()->msg);
	return 1;
}

static int print_cb(void *arg, const struct st_version *v)
{
	(void)arg;
	printf("%llu %llu %llu\n", (unsigned long long)v->seq, (unsigned long long)v->offset,
	       (unsigned long long)v->size);
	return 0;
}

static int first_dir_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	(void)name;
	(void)nlen;
	if (type != DT_DIR)
		return 0;
	*(uint64_t *)arg = ino;
	return 1;
}

static int cycle(st_store *ns, uint64_t parent, const char *name)
{
	struct ns_inode a;
	uint64_t dir, sub = 0;
	uint8_t type;

	if (ns_dirent_get(ns, parent, name, &dir, &type))
		return die("no such entry");
	ns_dirent_list(ns, dir, first_dir_cb, &sub);
	if (!sub) {
		fprintf(stderr, "fsck_damage: %s has no subdirectory\n", name);
		return 1;
	}
	if (ns_dirent_del(ns, parent, name) || ns_dirent_put(ns, sub, "loop", dir, DT_DIR) ||
	    ns_inode_get(ns, dir, &a, NULL))
		return die("cycle");
	a.parent = sub;
	return ns_inode_put(ns, dir, &a, NULL) ? die("cycle") : 0;
}

/* Sets the superblock's ro_compat or incompat word (a newer revfs's). */
static int feature(const char *dir, const char *word, const char *bits)
{
	struct ns_super sb;
	uint32_t v = (uint32_t)strtoul(bits, NULL, 0);
	int rc = ns_super_read(dir, &sb);

	/* A newer format's decodes whole before it is refused. */
	if (rc != ST_OK && rc != ST_EVERSION)
		return die("superblock");
	if (!strcmp(word, "ro_compat"))
		sb.ro_compat = v;
	else if (!strcmp(word, "incompat"))
		sb.incompat = v;
	else
		return die("feature: ro_compat or incompat");
	return ns_super_write(dir, &sb) ? die("superblock") : 0;
}

int main(int argc, char **argv)
{
	struct ns_super sb;
	struct ns_inode a;
	st_store *st;
	int rc = 1;

	if (argc == 3 && !strcmp(argv[1], "versions")) {
		if (st_open(argv[2], ST_KIND_FILE, ST_READONLY, NULL, &st))
			return die(argv[2]);
		rc = st_versions(st, print_cb, NULL) ? die("versions") : 0;
		st_close(st);
		return rc;
	}
	if (argc == 5 && !strcmp(argv[1], "feature"))
		return feature(argv[2], argv[3], argv[4]);
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of fsck_damage.c\n");
		return 2;
	}
	if (ns_super_read(argv[2], &sb) != ST_OK || ns_open(argv[2], &sb, 0, NULL, &st))
		return die("namespace");
	if (!strcmp(argv[1], "nlink") && argc == 5) {
		uint64_t ino = strtoull(argv[3], NULL, 10);

		rc = ns_inode_get(st, ino, &a, NULL) ? die("no such inode") : 0;
		a.nlink = (uint32_t)strtoul(argv[4], NULL, 10);
		if (!rc)
			rc = ns_inode_put(st, ino, &a, NULL) ? die("put") : 0;
	} else if (!strcmp(argv[1], "dangling") && argc == 6) {
		rc = ns_dirent_put(st, strtoull(argv[3], NULL, 10), argv[4],
				   strtoull(argv[5], NULL, 10), DT_REG)
			 ? die("put")
			 : 0;
	} else if (!strcmp(argv[1], "drop") && argc == 5) {
		uint64_t ino;
		uint8_t type;

		rc = ns_dirent_get(st, strtoull(argv[3], NULL, 10), argv[4], &ino, &type) ||
			     ns_dirent_del(st, strtoull(argv[3], NULL, 10), argv[4]) ||
			     ns_inode_del(st, ino)
			 ? die("drop")
			 : 0;
	} else if (!strcmp(argv[1], "lineage") && argc == 5) {
		rc = ns_lineage_put(st, 2, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
				    1, NULL, 0)
			 ? die("put")
			 : 0;
	} else if (!strcmp(argv[1], "vacated") && argc == 6) {
		rc = ns_vacated_put(st, strtoull(argv[3], NULL, 10), argv[4],
				    strtoull(argv[5], NULL, 10), 1)
			 ? die("put")
			 : 0;
	} else if (!strcmp(argv[1], "cycle") && argc == 5) {
		rc = cycle(st, strtoull(argv[3], NULL, 10), argv[4]);
	} else {
		fprintf(stderr, "fsck_damage: bad command\n");
		rc = 2;
	}
	if (rc == 0 && st_commit(st, NULL))
		rc = die("commit");
	st_close(st);
	return rc;
}
