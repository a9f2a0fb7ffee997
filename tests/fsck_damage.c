/*
 * fsck_damage.c - damages a backing directory's namespace the way only a
 * bug or a bad disk would, for test_fsck.sh, through store/store.h (a new
 * commit each time, so the store itself stays valid):
 *
 *   fsck_damage versions STORE          seq, header offset, size per version
 *   fsck_damage nlink DIR INO N         sets inode INO's link count to N
 *   fsck_damage dangling DIR PARENT NAME INO
 *                                       an entry naming an inode with no record
 *   fsck_damage cycle DIR PARENT NAME   directory NAME in PARENT is cut from
 *                                       PARENT and hung under its own first
 *                                       subdirectory as "loop"
 *
 * Exits 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../store/store.h"

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

static int open_ns(const char *dir, st_store **ns)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, ST_NS_NAME);
	return st_open(path, ST_KIND_KV, 0, NULL, ns);
}

static int get_inode(st_store *ns, uint64_t ino, struct st_inode *a)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_INODE, ino, NULL, 0, key), vlen, tlen;
	const void *t;
	void *val;
	int rc = st_kv_get(ns, key, klen, &val, &vlen);

	if (rc)
		return rc;
	rc = st_ns_inode_decode(val, vlen, a, &t, &tlen);
	free(val);
	return rc;
}

static int put_inode(st_store *ns, uint64_t ino, const struct st_inode *a)
{
	uint8_t key[ST_NS_KEY_MAX], rec[ST_NS_INODE_SIZE];
	size_t klen = st_ns_key(ST_NS_INODE, ino, NULL, 0, key);
	int len = st_ns_inode_encode(a, NULL, 0, rec, sizeof(rec));

	return len < 0 ? len : st_kv_put(ns, key, klen, rec, (size_t)len);
}

static int put_dirent(st_store *ns, uint64_t parent, const char *name, uint64_t ino, uint8_t type)
{
	uint8_t key[ST_NS_KEY_MAX], val[ST_NS_DIRENT_SIZE];
	size_t klen = st_ns_key(ST_NS_DIRENT, parent, name, strlen(name), key);

	st_ns_dirent_encode(ino, type, val);
	return st_kv_put(ns, key, klen, val, sizeof(val));
}

struct first_dir {
	st_store *ns;
	uint64_t ino;
};

static int first_dir_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct first_dir *f = arg;
	uint64_t ino;
	uint8_t type;

	(void)key;
	(void)klen;
	if (st_ns_dirent_decode(val, vlen, &ino, &type) == ST_OK && type == 4) {
		f->ino = ino;
		return 1;
	}
	return 0;
}

static int cycle(st_store *ns, uint64_t parent, const char *name)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_DIRENT, parent, name, strlen(name), key), vlen;
	struct first_dir f = {ns, 0};
	struct st_inode a;
	uint64_t dir;
	uint8_t type, pfx[9];
	void *val;

	if (st_kv_get(ns, key, klen, &val, &vlen))
		return die("no such entry");
	st_ns_dirent_decode(val, vlen, &dir, &type);
	free(val);
	st_ns_key(ST_NS_DIRENT, dir, NULL, 0, pfx);
	st_kv_range(ns, pfx, 9, first_dir_cb, &f);
	if (!f.ino) {
		fprintf(stderr, "fsck_damage: %s has no subdirectory\n", name);
		return 1;
	}
	if (st_kv_del(ns, key, klen) || put_dirent(ns, f.ino, "loop", dir, 4) ||
	    get_inode(ns, dir, &a))
		return die("cycle");
	a.parent = f.ino;
	return put_inode(ns, dir, &a) ? die("cycle") : 0;
}

int main(int argc, char **argv)
{
	struct st_inode a;
	st_store *st;
	int rc = 1;

	if (argc == 3 && !strcmp(argv[1], "versions")) {
		if (st_open(argv[2], ST_KIND_FILE, ST_READONLY, NULL, &st))
			return die(argv[2]);
		rc = st_versions(st, print_cb, NULL) ? die("versions") : 0;
		st_close(st);
		return rc;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of fsck_damage.c\n");
		return 2;
	}
	if (open_ns(argv[2], &st))
		return die("namespace");
	if (!strcmp(argv[1], "nlink") && argc == 5) {
		uint64_t ino = strtoull(argv[3], NULL, 10);

		rc = get_inode(st, ino, &a) ? die("no such inode") : 0;
		a.nlink = (uint32_t)strtoul(argv[4], NULL, 10);
		if (!rc)
			rc = put_inode(st, ino, &a) ? die("put") : 0;
	} else if (!strcmp(argv[1], "dangling") && argc == 6) {
		rc = put_dirent(st, strtoull(argv[3], NULL, 10), argv[4],
				strtoull(argv[5], NULL, 10), 8)
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
