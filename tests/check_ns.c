/*
 * check_ns.c - the namespace library's typed functions (ns/ns.h):
 *
 *  - a new namespace (ns_format) holds the root, the counter and the
 *    clean mark, and nothing else;
 *  - every record kind round-trips through its put, get, list and del,
 *    staged and after a commit and a reopen, in the order the listings
 *    promise; names at the limit pass, longer ones are refused;
 *  - ns_walk classifies every record, and every kind of malformed one
 *    comes out as NS_REC_BAD (or an undecodable inode) for fsck;
 *  - the lock file: a live holder is "mounted" at once, one on its way
 *    out is waited for (and the wait ends when it lets go, or times out,
 *    or is canceled); the note round-trips;
 *  - store file names and paths; the superblock salvage; mountinfo.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nsint.h"
#include "testutil.h"

#define EXPECT_RC(call, want)                                                                      \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		ck_assert_msg(rc_ == (want), "%s = %d (%s), want %d", #call, rc_,                  \
			      st_last_error()->msg, (want));                                       \
	} while (0)

/* The superblock of the directory fresh() made last (not written). */
static struct ns_super g_sb;

/* A fresh backing directory's namespace, opened. */
static st_store *fresh(const char *sub, char **dir)
{
	st_store *ns;

	*dir = tu_path(tu_dir, sub);
	ck_assert_int_eq(mkdir(*dir, 0700), 0);
	ns_super_init(&g_sb);
	EXPECT_RC(ns_format(*dir, &g_sb, 1234, 5678), ST_OK);
	EXPECT_RC(ns_open(*dir, &g_sb, 0, NULL, &ns), ST_OK);
	return ns;
}

/* ---- a new namespace --------------------------------------------------- */

struct tally {
	unsigned n[NS_REC_BAD + 1];
	const char *last_why;
	uint64_t next_ino;
};

static int tally_cb(void *arg, const struct ns_rec *r)
{
	struct tally *t = arg;

	t->n[r->kind]++;
	if (r->kind == NS_REC_BAD)
		t->last_why = r->why;
	if (r->kind == NS_REC_NEXT_INO)
		t->next_ino = r->next_ino;
	return 0;
}

START_TEST(format_makes_root)
{
	struct ns_inode a;
	struct tally t = {0};
	uint64_t next = 0;
	char *dir, *target = (char *)1, path[4096];
	struct stat sb;
	st_store *ns = fresh("b", &dir);

	EXPECT_RC(ns_inode_get(ns, NS_ROOT_INO, &a, &target), ST_OK);
	ck_assert(S_ISDIR(a.mode));
	ck_assert_uint_eq(a.mode & 07777, 0755);
	ck_assert_uint_eq(a.uid, 1234);
	ck_assert_uint_eq(a.gid, 5678);
	ck_assert_uint_eq(a.nlink, 2);
	ck_assert_uint_eq(a.parent, NS_ROOT_INO);
	ck_assert_ptr_null(target);
	EXPECT_RC(ns_next_ino_get(ns, &next), ST_OK);
	ck_assert_uint_eq(next, NS_ROOT_INO + 1);
	EXPECT_RC(ns_clean_get(ns), ST_OK);
	EXPECT_RC(ns_dir_empty(ns, NS_ROOT_INO), ST_OK);
	EXPECT_RC(ns_walk(ns, tally_cb, &t), ST_OK);
	ck_assert_uint_eq(t.n[NS_REC_INODE], 1);
	ck_assert_uint_eq(t.n[NS_REC_NEXT_INO], 1);
	ck_assert_uint_eq(t.n[NS_REC_CLEAN], 1);
	ck_assert_uint_eq(t.n[NS_REC_BAD], 0);
	st_close(ns);
	/* The folders come with the first mount; a second format is refused. */
	snprintf(path, sizeof(path), "%s/%s", dir, NS_INO_DIR);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	EXPECT_RC(ns_format(dir, &g_sb, 0, 0), ST_EEXIST);
	EXPECT_RC(ns_folders_make(dir), ST_OK);
	ns_folder_path(dir, 0xab, path, sizeof(path));
	ck_assert_int_eq(stat(path, &sb), 0);
	/* ns_wipe leaves an empty directory but for what is not revfs's. */
	ns_store_path(dir, 7, path, sizeof(path));
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	snprintf(path, sizeof(path), "%s/mine", dir);
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	EXPECT_RC(ns_wipe(dir), ST_OK);
	ck_assert_int_eq(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, NS_STORE_NAME);
	ck_assert_int_ne(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, NS_INO_DIR);
	ck_assert_int_ne(stat(path, &sb), 0);
	free(dir);
}
END_TEST

/* ---- every record kind -------------------------------------------------- */

struct names {
	char v[64][NS_NAME_MAX + 1];
	uint64_t ino[64], seq[64];
	size_t n;
};

static int dirent_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	struct names *l = arg;

	ck_assert_uint_eq(strlen(name), nlen);
	ck_assert_uint_eq(type, DT_REG);
	ck_assert_uint_lt(l->n, 64);
	memcpy(l->v[l->n], name, nlen + 1);
	l->ino[l->n++] = ino;
	return 0;
}

static int xattr_cb(void *arg, const char *name, size_t nlen, const void *val, size_t vlen)
{
	struct names *l = arg;

	ck_assert_uint_eq(strlen(name), nlen);
	ck_assert_uint_eq(vlen, nlen); /* each value is its own name */
	ck_assert(memcmp(val, name, vlen) == 0);
	memcpy(l->v[l->n++], name, nlen + 1);
	return 0;
}

static int ino_cb(void *arg, uint64_t ino)
{
	struct names *l = arg;

	l->ino[l->n++] = ino;
	return 0;
}

static int pin_cb(void *arg, uint64_t ino, uint64_t seq)
{
	struct names *l = arg;

	l->ino[l->n] = ino;
	l->seq[l->n++] = seq;
	return 0;
}

static int grave_cb(void *arg, uint64_t ino, uint64_t seq, uint64_t time_ns)
{
	struct names *l = arg;

	ck_assert_uint_eq(time_ns, seq * 1000);
	l->ino[l->n] = ino;
	l->seq[l->n++] = seq;
	return 0;
}

static int stop_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	(void)arg;
	(void)name;
	(void)nlen;
	(void)ino;
	(void)type;
	return 42;
}

/* Checks what records_stage() staged, whether staged or committed. */
static void records_expect(st_store *ns, const char *longest)
{
	struct names l = {0};
	struct ns_inode a;
	char *target;
	uint64_t ino;
	uint8_t type;
	void *val;
	size_t vlen;

	/* Entries by name bytes: "a", "b", longest ("c..."), "z". */
	EXPECT_RC(ns_dirent_list(ns, NS_ROOT_INO, dirent_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_str_eq(l.v[0], "a");
	ck_assert_str_eq(l.v[1], "b");
	ck_assert_str_eq(l.v[2], longest);
	ck_assert_str_eq(l.v[3], "z");
	ck_assert_uint_eq(l.ino[0], 10);
	ck_assert_uint_eq(l.ino[3], 13);
	EXPECT_RC(ns_dirent_list(ns, NS_ROOT_INO, stop_cb, NULL), 42);
	EXPECT_RC(ns_dirent_get(ns, NS_ROOT_INO, longest, &ino, &type), ST_OK);
	ck_assert_uint_eq(ino, 12);
	EXPECT_RC(ns_dirent_get(ns, NS_ROOT_INO, "gone", &ino, &type), ST_ENOTFOUND);
	EXPECT_RC(ns_dir_empty(ns, NS_ROOT_INO), ST_EEXIST);
	EXPECT_RC(ns_dir_empty(ns, 10), ST_OK);
	/* A symlink keeps its target; a file has none. */
	EXPECT_RC(ns_inode_get(ns, 11, &a, &target), ST_OK);
	ck_assert(S_ISLNK(a.mode));
	ck_assert_str_eq(target, "../some/where");
	free(target);
	EXPECT_RC(ns_inode_get(ns, 10, &a, &target), ST_OK);
	ck_assert_ptr_null(target);
	ck_assert_uint_eq(a.size, 4096);
	ck_assert_int_eq(a.mtime_ns, -5); /* before the epoch */
	EXPECT_RC(ns_inode_get(ns, 99, &a, NULL), ST_ENOTFOUND);
	/* xattrs of 10 only, by name. */
	memset(&l, 0, sizeof(l));
	EXPECT_RC(ns_xattr_list(ns, 10, xattr_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0], "trusted.b");
	ck_assert_str_eq(l.v[1], "user.a");
	EXPECT_RC(ns_xattr_get(ns, 10, "user.a", &val, &vlen), ST_OK);
	ck_assert_uint_eq(vlen, 6);
	free(val);
	EXPECT_RC(ns_xattr_get(ns, 11, "user.a", &val, &vlen), ST_ENOTFOUND);
	/* Orphans, pins (of one inode, and of all), graves. */
	memset(&l, 0, sizeof(l));
	EXPECT_RC(ns_orphan_list(ns, ino_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.ino[0], 12);
	ck_assert_uint_eq(l.ino[1], 300);
	memset(&l, 0, sizeof(l));
	EXPECT_RC(ns_pin_list(ns, 10, pin_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.seq[0], 3);
	ck_assert_uint_eq(l.seq[1], 256);
	memset(&l, 0, sizeof(l));
	EXPECT_RC(ns_pin_list(ns, 0, pin_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.ino[2], 266); /* 266 & 0xff == 10: a different inode */
	EXPECT_RC(ns_pin_get(ns, 10, 256), ST_OK);
	EXPECT_RC(ns_pin_get(ns, 10, 4), ST_ENOTFOUND);
	memset(&l, 0, sizeof(l));
	EXPECT_RC(ns_grave_list(ns, grave_cb, &l), ST_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.ino[0], 77);
	ck_assert_uint_eq(l.seq[0], 5);
	EXPECT_RC(ns_next_ino_get(ns, &ino), ST_OK);
	ck_assert_uint_eq(ino, 301);
	EXPECT_RC(ns_clean_get(ns), ST_ENOTFOUND);
}

START_TEST(records_roundtrip)
{
	char *dir, longest[NS_NAME_MAX + 2];
	struct ns_inode f = {.mode = S_IFREG | 0644, .nlink = 1, .size = 4096, .mtime_ns = -5};
	struct ns_inode l = {.mode = S_IFLNK | 0777, .nlink = 1, .size = 13};
	st_store *ns = fresh("b", &dir);

	memset(longest, 'c', sizeof(longest));
	longest[NS_NAME_MAX + 1] = 0;
	/* One byte too long: refused, nothing staged. */
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, longest, 12, DT_REG), ST_ETOOBIG);
	EXPECT_RC(ns_xattr_put(ns, 10, longest, "", 0), ST_ETOOBIG);
	longest[NS_NAME_MAX] = 0;
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, "z", 13, DT_REG), ST_OK);
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, longest, 12, DT_REG), ST_OK);
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, "b", 11, DT_REG), ST_OK);
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, "a", 10, DT_REG), ST_OK);
	EXPECT_RC(ns_dirent_put(ns, NS_ROOT_INO, "gone", 14, DT_REG), ST_OK);
	EXPECT_RC(ns_dirent_del(ns, NS_ROOT_INO, "gone"), ST_OK);
	EXPECT_RC(ns_inode_put(ns, 10, &f, NULL), ST_OK);
	EXPECT_RC(ns_inode_put(ns, 11, &l, "../some/where"), ST_OK);
	EXPECT_RC(ns_inode_put(ns, 99, &f, NULL), ST_OK);
	EXPECT_RC(ns_inode_del(ns, 99), ST_OK);
	EXPECT_RC(ns_xattr_put(ns, 10, "user.a", "user.a", 6), ST_OK);
	EXPECT_RC(ns_xattr_put(ns, 10, "trusted.b", "trusted.b", 9), ST_OK);
	EXPECT_RC(ns_xattr_put(ns, 10, "user.gone", "", 0), ST_OK);
	EXPECT_RC(ns_xattr_del(ns, 10, "user.gone"), ST_OK);
	EXPECT_RC(ns_orphan_put(ns, 300), ST_OK);
	EXPECT_RC(ns_orphan_put(ns, 12), ST_OK);
	EXPECT_RC(ns_orphan_put(ns, 13), ST_OK);
	EXPECT_RC(ns_orphan_del(ns, 13), ST_OK);
	EXPECT_RC(ns_pin_put(ns, 10, 256), ST_OK);
	EXPECT_RC(ns_pin_put(ns, 10, 3), ST_OK);
	EXPECT_RC(ns_pin_put(ns, 266, 1), ST_OK);
	EXPECT_RC(ns_pin_put(ns, 10, 4), ST_OK);
	EXPECT_RC(ns_pin_del(ns, 10, 4), ST_OK);
	EXPECT_RC(ns_grave_put(ns, 77, 5, 5000), ST_OK);
	EXPECT_RC(ns_grave_put(ns, 78, 6, 6000), ST_OK);
	EXPECT_RC(ns_grave_del(ns, 78), ST_OK);
	EXPECT_RC(ns_next_ino_put(ns, 301), ST_OK);
	EXPECT_RC(ns_clean_set(ns, false), ST_OK);
	records_expect(ns, longest); /* staged */
	EXPECT_RC(st_commit(ns, NULL), ST_OK);
	st_close(ns);
	EXPECT_RC(ns_open(dir, &g_sb, ST_READONLY, NULL, &ns), ST_OK);
	records_expect(ns, longest); /* committed */
	st_close(ns);
	free(dir);
}
END_TEST

/* ---- ns_walk: what fsck sees ------------------------------------------- */

static void forge(st_store *ns, uint8_t type, uint64_t ino, const char *name, size_t nlen,
		  const void *val, size_t vlen)
{
	uint8_t key[NSK_MAX + 8];

	EXPECT_RC(st_kv_put(ns, key, ns_key(type, ino, name, nlen, key), val, vlen), ST_OK);
}

struct want {
	enum ns_rec_kind kind;
	const char *why; /* for NS_REC_BAD, a word of it */
};

struct walk_check {
	unsigned n, bad_inodes;
	uint8_t raw[32][NSK_MAX + 8];
	size_t rawlen[32];
};

static int check_cb(void *arg, const struct ns_rec *r)
{
	struct walk_check *w = arg;

	if (r->kind == NS_REC_INODE && r->decode_rc != ST_OK)
		w->bad_inodes++;
	if (r->kind == NS_REC_BAD) {
		ck_assert_ptr_nonnull(r->why);
		memcpy(w->raw[w->n], r->key, r->klen);
		w->rawlen[w->n++] = r->klen;
	}
	return 0;
}

START_TEST(walk_finds_damage)
{
	struct ns_inode f = {.mode = S_IFREG | 0644, .nlink = 1};
	uint8_t rec[NSV_INODE_SIZE], dirent[NSV_DIRENT_SIZE], eight[8] = {0}, sixteen[16] = {0};
	struct walk_check w = {0};
	struct tally t = {0};
	char *dir;
	st_store *ns = fresh("b", &dir);
	uint8_t shortkey[3] = {NSK_INODE, 0, 1};

	ck_assert_int_eq(ns_inode_encode(&f, NULL, 0, rec, sizeof(rec)), (int)NSV_INODE_SIZE);
	ns_dirent_encode(5, DT_REG, dirent);
	/* Good ones of each kind. */
	forge(ns, NSK_DIRENT, 1, "ok", 2, dirent, sizeof(dirent));
	forge(ns, NSK_INODE, 5, NULL, 0, rec, sizeof(rec));
	forge(ns, NSK_XATTR, 5, "user.x\0y", 8, "v", 1); /* a NUL in a name: fsck's call */
	forge(ns, NSK_ORPHAN, 5, NULL, 0, "", 0);
	forge(ns, NSK_PIN, 5, (const char *)eight, 8, "", 0);
	forge(ns, NSK_GRAVE, 6, NULL, 0, sixteen, 16);
	forge(ns, NSK_META, 0, "future", 6, "x", 1);
	/* Malformed: 11 of them. */
	EXPECT_RC(st_kv_put(ns, shortkey, sizeof(shortkey), "", 0), ST_OK);
	forge(ns, 'Q', 1, NULL, 0, "", 0);
	forge(ns, NSK_DIRENT, 1, "a/b", 3, dirent, sizeof(dirent));
	forge(ns, NSK_DIRENT, 1, "..", 2, dirent, sizeof(dirent));
	forge(ns, NSK_DIRENT, 1, "short", 5, dirent, 8);
	forge(ns, NSK_INODE, 7, "n", 1, rec, sizeof(rec));
	forge(ns, NSK_ORPHAN, 8, NULL, 0, "x", 1);
	forge(ns, NSK_GRAVE, 9, NULL, 0, eight, 8);
	forge(ns, NSK_PIN, 5, (const char *)eight, 4, "", 0);
	forge(ns, NSK_XATTR, 5, NULL, 0, "v", 1);
	forge(ns, NSK_META, 0, NSK_META_NEXT_INO, strlen(NSK_META_NEXT_INO), eight, 4);
	/* An inode record that does not decode is an inode, flagged. */
	rec[0] = 9;
	forge(ns, NSK_INODE, 4, NULL, 0, rec, sizeof(rec));
	forge(ns, NSK_INODE, 3, NULL, 0, rec, 10);

	EXPECT_RC(ns_walk(ns, tally_cb, &t), ST_OK);
	ck_assert_uint_eq(t.n[NS_REC_DIRENT], 1);
	ck_assert_uint_eq(t.n[NS_REC_INODE], 4); /* root, 5, and the two undecodable */
	ck_assert_uint_eq(t.n[NS_REC_XATTR], 1);
	ck_assert_uint_eq(t.n[NS_REC_ORPHAN], 1);
	ck_assert_uint_eq(t.n[NS_REC_PIN], 1);
	ck_assert_uint_eq(t.n[NS_REC_GRAVE], 1);
	ck_assert_uint_eq(t.n[NS_REC_META_OTHER], 1);
	ck_assert_uint_eq(t.n[NS_REC_NEXT_INO], 0); /* the only one is malformed */
	ck_assert_uint_eq(t.n[NS_REC_BAD], 11);
	EXPECT_RC(ns_walk(ns, check_cb, &w), ST_OK);
	ck_assert_uint_eq(w.bad_inodes, 2);
	ck_assert_uint_eq(w.n, 11);
	/* Removed by their raw keys, they are gone. */
	for (unsigned i = 0; i < w.n; i++)
		EXPECT_RC(ns_key_del(ns, w.raw[i], w.rawlen[i]), ST_OK);
	memset(&t, 0, sizeof(t));
	EXPECT_RC(ns_walk(ns, tally_cb, &t), ST_OK);
	ck_assert_uint_eq(t.n[NS_REC_BAD], 0);
	/* The typed listings skip what does not decode, and never fail on it. */
	{
		struct names l = {0};

		forge(ns, NSK_DIRENT, 1, "bad", 3, dirent, 3);
		EXPECT_RC(ns_dirent_list(ns, 1, dirent_cb, &l), ST_OK);
		ck_assert_uint_eq(l.n, 1);
		ck_assert_str_eq(l.v[0], "ok");
	}
	st_close(ns);
	free(dir);
}
END_TEST

/* ---- the lock file ---------------------------------------------------------- */

static unsigned waits;
static void count_wait(void *arg, const char *note)
{
	(void)arg;
	ck_assert_str_eq(note, "closing");
	waits++;
}

static bool cancel_now(void *arg)
{
	(void)arg;
	return true;
}

/* A child that holds dir's lock with note, then (after hold_ms, if not 0)
 * lets go. Returns its pid once it holds the lock. */
static pid_t holder(const char *dir, const char *note, unsigned hold_ms)
{
	int p[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const struct ns_lock_wait now = {0};
		int fd = ns_lock_open(dir, false);

		if (fd < 0 || ns_lock_take(fd, &now, NULL, 0) != NS_LOCK_TAKEN ||
		    ns_lock_note_write(fd, note) != 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		if (hold_ms)
			usleep(hold_ms * 1000);
		else
			pause();
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

START_TEST(lock_protocol)
{
	char *dir = tu_path(tu_dir, "b"), note[64];
	struct ns_lock_wait w = {.leaving_ticks = 3, .empty_ticks = 1, .waiting = count_wait};
	int fd;
	pid_t pid;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	/* Read-only: never created. */
	ck_assert_int_eq(ns_lock_open(dir, true), -ENOENT);
	fd = ns_lock_open(dir, false);
	ck_assert_int_ge(fd, 0);

	/* A daemon serving a mount: mounted at once, its note given back. */
	pid = holder(dir, "pid 1 on /\n", 0);
	ck_assert_int_eq(ns_lock_take(fd, &w, note, sizeof(note)), NS_LOCK_MOUNTED);
	ck_assert_str_eq(note, "pid 1 on /");
	reap(pid);

	/* One on its way out that never lets go: waited for, then a timeout. */
	waits = 0;
	pid = holder(dir, "closing\n", 0);
	ck_assert_int_eq(ns_lock_take(fd, &w, note, sizeof(note)), NS_LOCK_TIMEOUT);
	ck_assert_uint_eq(waits, 1);
	/* A wait shorter than quiet_ticks is not said. */
	w.quiet_ticks = 5;
	ck_assert_int_eq(ns_lock_take(fd, &w, NULL, 0), NS_LOCK_TIMEOUT);
	ck_assert_uint_eq(waits, 1);
	w.quiet_ticks = 0;
	w.canceled = cancel_now;
	ck_assert_int_eq(ns_lock_take(fd, &w, NULL, 0), NS_LOCK_CANCELED);
	w.canceled = NULL;
	reap(pid);

	/* An empty note has its own, shorter, patience. */
	pid = holder(dir, "", 0);
	w.leaving_ticks = 50;
	ck_assert_int_eq(ns_lock_take(fd, &w, NULL, 0), NS_LOCK_TIMEOUT);
	reap(pid);

	/* One on its way out that lets go after 200 ms: the lock is ours. */
	pid = holder(dir, "closing\n", 200);
	ck_assert_int_eq(ns_lock_take(fd, &w, NULL, 0), NS_LOCK_TAKEN);
	ck_assert_int_eq(ns_lock_note_write(fd, "pid 2 on /x\n"), 0);
	ns_lock_note_read(fd, note, sizeof(note));
	ck_assert_str_eq(note, "pid 2 on /x");
	reap(pid);
	close(fd);
	free(dir);
}
END_TEST

/* ---- names, paths, the superblock, mounts ------------------------------------ */

START_TEST(store_names)
{
	char buf[64];
	uint64_t ino = 0;

	ck_assert(ns_store_name_parse("1.rev", &ino) && ino == 1);
	ck_assert(ns_store_name_parse("18446744073709551609.rev", &ino) &&
		  ino == 18446744073709551609ull);
	ck_assert(!ns_store_name_parse("18446744073709551616.rev", &ino));
	ck_assert(!ns_store_name_parse("0.rev", &ino));
	ck_assert(!ns_store_name_parse("01.rev", &ino));
	ck_assert(!ns_store_name_parse("12.rev.compact", &ino));
	ck_assert(!ns_store_name_parse("12.rev.fsck", &ino));
	ck_assert(!ns_store_name_parse("12.re", &ino));
	ck_assert(!ns_store_name_parse("x.rev", &ino));
	ck_assert(!ns_store_name_parse("", &ino));
	EXPECT_RC(ns_store_path("/v", 0x1ff, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "/v/ino/ff/511.rev");
	EXPECT_RC(ns_store_path(NULL, 256, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "ino/00/256.rev");
	EXPECT_RC(ns_folder_path("/v", 10, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "/v/ino/0a");
	EXPECT_RC(ns_folder_path(NULL, 10, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "ino/0a/");
	EXPECT_RC(ns_store_path("/v", 1, buf, 10), ST_EINVAL);
}
END_TEST

START_TEST(super_salvage)
{
	char *dir = tu_path(tu_dir, "b"), *f;
	struct ns_super sb, got;
	int fd;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	f = tu_path(dir, NS_SUPER_NAME);
	ns_super_init(&sb);
	snprintf(sb.label, sizeof(sb.label), "photos");
	snprintf(sb.keep, sizeof(sb.keep), "all:2h,min:3");
	EXPECT_RC(ns_super_write(dir, &sb), ST_OK);
	/* A flipped bit in the checksum: nothing else lost. */
	tu_flip_bit(f, NS_SUPER_SIZE - 1, 0);
	EXPECT_RC(ns_super_read(dir, &got), ST_ECORRUPT);
	ns_super_salvage(dir, &got);
	ck_assert(memcmp(got.uuid, sb.uuid, 16) == 0);
	ck_assert_str_eq(got.label, "photos");
	ck_assert_str_eq(got.keep, "all:2h,min:3");
	/* A label that is no longer text, a rule that no longer parses, a
	 * uuid without its version bits: defaults. */
	fd = open(f, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "\x01", 1, 56), 1);
	ck_assert_int_eq(pwrite(fd, "junk", 4, 120), 4);
	ck_assert_int_eq(pwrite(fd, "\x00", 1, 24 + 6), 1);
	close(fd);
	ns_super_salvage(dir, &got);
	ck_assert(memcmp(got.uuid, sb.uuid, 16) != 0);
	ck_assert_str_eq(got.label, "");
	ck_assert_str_eq(got.keep, NS_KEEP_DEFAULT);
	/* No file at all: all defaults, no failure. */
	ck_assert_int_eq(unlink(f), 0);
	ns_super_salvage(dir, &got);
	ck_assert_str_eq(got.keep, NS_KEEP_DEFAULT);
	free(f);
	free(dir);
}
END_TEST

/* ---- identities and record versions (issue: damage) ------------------- */

START_TEST(store_identity)
{
	char *dir, path[4096];
	struct ns_super other;
	struct ns_inode f = {.version = 2,
			     .mode = S_IFREG | 0600,
			     .nlink = 1,
			     .size = 7,
			     .store_seq = 41,
			     .store_bytes = 8192},
			got;
	struct st_info info;
	uint8_t id0[ST_ID_SIZE], id5[ST_ID_SIZE], raw[NSV_INODE2_SIZE], zeros[20] = {0};
	st_store *ns = fresh("id", &dir), *st;
	int fd;

	/* Each store's identity is its own: the namespace's is the uuid. */
	ck_assert_ptr_nonnull(ns_store_id(&g_sb, 0, id0));
	ck_assert_ptr_nonnull(ns_store_id(&g_sb, 5, id5));
	ck_assert(memcmp(id0, g_sb.uuid, ST_ID_SIZE) == 0);
	ck_assert(memcmp(id0, id5, ST_ID_SIZE) != 0);
	EXPECT_RC(st_info(ns, &info), ST_OK);
	ck_assert(info.has_id);
	ck_assert(memcmp(info.id, id0, ST_ID_SIZE) == 0);
	/* Version-2 records carry store_seq; version-1 records still read. */
	EXPECT_RC(ns_inode_put(ns, 5, &f, NULL), ST_OK);
	EXPECT_RC(ns_inode_get(ns, 5, &got, NULL), ST_OK);
	ck_assert_uint_eq(got.version, 2);
	ck_assert_uint_eq(got.store_seq, 41);
	ck_assert_uint_eq(got.store_bytes, 8192);
	f.version = 1;
	EXPECT_RC(ns_inode_put(ns, 6, &f, NULL), ST_OK);
	EXPECT_RC(ns_inode_get(ns, 6, &got, NULL), ST_OK);
	ck_assert_uint_eq(got.version, 1);
	ck_assert_uint_eq(got.store_seq, 0);
	f.version = 2;
	ck_assert_int_eq(ns_inode_encode(&f, NULL, 0, raw, sizeof(raw)), NSV_INODE2_SIZE);
	EXPECT_RC(ns_inode_decode(raw, NSV_INODE2_SIZE - 1, &got, NULL, NULL), ST_ECORRUPT);
	raw[0] = 3;
	EXPECT_RC(ns_inode_decode(raw, NSV_INODE2_SIZE, &got, NULL, NULL), ST_EVERSION);
	EXPECT_RC(st_commit(ns, NULL), ST_OK);
	st_close(ns);
	/* The namespace of another vault, or a file store opened as another
	 * inode's, is not this store: its headers are refused. */
	ns_super_init(&other);
	EXPECT_RC(ns_open(dir, &other, ST_READONLY, NULL, &ns), ST_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(st_last_error()->msg, "another store"));
	EXPECT_RC(ns_open(dir, NULL, ST_READONLY, NULL, &ns), ST_OK); /* position only */
	st_close(ns);
	EXPECT_RC(ns_folders_make(dir), ST_OK);
	EXPECT_RC(ns_file_open(dir, &g_sb, 5, ST_CREATE, NULL, &st), ST_OK);
	st_close(st);
	ns_store_path(dir, 5, path, sizeof(path));
	ck_assert_int_eq(rename(path, (ns_store_path(dir, 6, path + 2048, 2048), path + 2048)), 0);
	EXPECT_RC(ns_file_open(dir, &g_sb, 6, 0, NULL, &st), ST_ECORRUPT);
	/* A vault made before identities: none asked, none given. */
	other = g_sb;
	other.incompat = 0;
	ck_assert_ptr_null(ns_store_id(&other, 0, id0));
	ck_assert_uint_eq(ns_inode_version(&other), 1);
	ck_assert_uint_eq(ns_inode_version(&g_sb), 2);
	/* Salvage takes the features and the uuid from the namespace. */
	EXPECT_RC(ns_super_write(dir, &g_sb), ST_OK);
	snprintf(path, sizeof(path), "%s/%s", dir, NS_SUPER_NAME);
	fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, zeros, 20, 20), 20); /* incompat and uuid */
	close(fd);
	EXPECT_RC(ns_super_read(dir, &other), ST_ECORRUPT);
	ns_super_salvage(dir, &other);
	ck_assert(memcmp(other.uuid, g_sb.uuid, 16) == 0);
	ck_assert_uint_eq(other.incompat, NS_FEAT_DAMAGE | NS_FEAT_LINEAGE | NS_FEAT_VATTR |
					      NS_FEAT_ONESYNC | NS_FEAT_INLINE);
	free(dir);
}
END_TEST

/* ---- lineage and vacated names -------------------------------------------- */

struct pairs {
	char text[256];
};

static int lin_cb(void *arg, uint64_t ino, uint64_t pred, uint64_t cut)
{
	struct pairs *p = arg;
	size_t n = strlen(p->text);

	snprintf(p->text + n, sizeof(p->text) - n, "L%llu<%llu@%llu ", (unsigned long long)ino,
		 (unsigned long long)pred, (unsigned long long)cut);
	return 0;
}

static int vac_cb(void *arg, uint64_t dir, const char *name, size_t nlen, uint64_t ino, uint64_t t)
{
	struct pairs *p = arg;
	size_t n = strlen(p->text);

	ck_assert_uint_eq(strlen(name), nlen);
	snprintf(p->text + n, sizeof(p->text) - n, "V%llu/%s=%llu@%llu ", (unsigned long long)dir,
		 name, (unsigned long long)ino, (unsigned long long)t);
	return 0;
}

static int kinds_walk_cb(void *arg, const struct ns_rec *r)
{
	struct pairs *p = arg;
	size_t n = strlen(p->text);

	if (r->kind == NS_REC_LINEAGE || r->kind == NS_REC_VACATED || r->kind == NS_REC_BAD)
		snprintf(p->text + n, sizeof(p->text) - n, "%c%llu:%llu ",
			 r->kind == NS_REC_LINEAGE   ? 'L'
			 : r->kind == NS_REC_VACATED ? 'V'
						     : 'B',
			 (unsigned long long)r->ino, (unsigned long long)r->child);
	return 0;
}

START_TEST(lineage_records)
{
	char *dir;
	st_store *ns = fresh("lin", &dir);
	struct pairs p = {""};
	const struct ns_linver vers[2] = {{.seq = 7,
					   .time_ns = 900,
					   .size = 10,
					   .offset = 8192,
					   .perm = {0100640, 5, 6},
					   .perm_known = true,
					   .has_xattrs = true},
					  {.seq = 3, .time_ns = 400, .size = 5, .offset = 4096}};
	struct ns_linver *got;
	size_t ngot;
	uint64_t a, b;
	uint8_t key[NSK_MAX];

	/* Form 1 keeps no owners; form 2 keeps those it was given. */
	EXPECT_RC(ns_lineage_put(ns, 1, 12, 11, 1000, vers, 2), ST_OK);
	EXPECT_RC(ns_lineage_put(ns, 2, 11, 10, 500, NULL, 0), ST_OK);
	EXPECT_RC(ns_lineage_put(ns, 2, 30, 12, 1500, vers, 2), ST_OK);
	for (int form = 1; form <= 2; form++) {
		EXPECT_RC(ns_lineage_versions(ns, form == 1 ? 12 : 30, &got, &ngot), ST_OK);
		ck_assert_uint_eq(ngot, 2);
		for (size_t i = 0; i < 2; i++) {
			ck_assert(got[i].seq == vers[i].seq && got[i].time_ns == vers[i].time_ns &&
				  got[i].size == vers[i].size && got[i].offset == vers[i].offset);
			ck_assert(got[i].perm_known == (form == 2 && vers[i].perm_known));
		}
		free(got);
	}
	EXPECT_RC(ns_lineage_versions(ns, 30, &got, &ngot), ST_OK);
	ck_assert(got[0].perm.mode == 0100640 && got[0].perm.uid == 5 && got[0].perm.gid == 6);
	ck_assert(got[0].has_xattrs && !got[1].has_xattrs);
	free(got);
	EXPECT_RC(ns_lineage_get(ns, 30, &a, &b), ST_OK);
	ck_assert(a == 12 && b == 1500);
	EXPECT_RC(ns_lineage_del(ns, 30), ST_OK);
	EXPECT_RC(ns_lineage_versions(ns, 11, &got, &ngot), ST_OK);
	ck_assert(ngot == 0 && got == NULL);
	EXPECT_RC(ns_lineage_get(ns, 12, &a, &b), ST_OK);
	ck_assert(a == 11 && b == 1000);
	EXPECT_RC(ns_lineage_get(ns, 13, &a, &b), ST_ENOTFOUND);
	EXPECT_RC(ns_vacated_put(ns, 1, "f", 12, 2000), ST_OK);
	EXPECT_RC(ns_vacated_put(ns, 1, ".f.swp", 14, 2100), ST_OK);
	EXPECT_RC(ns_vacated_get(ns, 1, "f", &a, &b), ST_OK);
	ck_assert(a == 12 && b == 2000);
	EXPECT_RC(ns_vacated_put(ns, 1, "", 1, 1), ST_ETOOBIG);
	EXPECT_RC(st_commit(ns, NULL), ST_OK);
	EXPECT_RC(ns_lineage_list(ns, lin_cb, &p), ST_OK);
	EXPECT_RC(ns_vacated_list(ns, vac_cb, &p), ST_OK);
	ck_assert_str_eq(p.text, "L11<10@500 L12<11@1000 V1/.f.swp=14@2100 V1/f=12@2000 ");
	EXPECT_RC(ns_vacated_del(ns, 1, "f"), ST_OK);
	EXPECT_RC(ns_lineage_del(ns, 11), ST_OK);
	EXPECT_RC(ns_vacated_get(ns, 1, "f", &a, &b), ST_ENOTFOUND);
	/* fsck's walk classifies both, and a malformed one as bad. */
	EXPECT_RC(st_kv_put(ns, key, ns_key(NSK_LINEAGE, 20, NULL, 0, key), "short", 5), ST_OK);
	p.text[0] = 0;
	EXPECT_RC(ns_walk(ns, kinds_walk_cb, &p), ST_OK);
	ck_assert_str_eq(p.text, "L12:11 B20:0 V1:14 ");
	st_close(ns);
	free(dir);
}
END_TEST

static int root_cb(void *arg, const struct ns_mount *m)
{
	if (strcmp(m->point, "/") != 0)
		return 0;
	ck_assert(m->fstype[0] != 0);
	ck_assert_ptr_nonnull(m->source);
	*(bool *)arg = true;
	return 1;
}

/* Version attributes: what goes in comes back; every cut and every flipped
 * count is refused, never read past its end. */
START_TEST(version_attributes)
{
	struct ns_perm gate[2] = {{040700, 1000, 1000}, {040755, 0, 0}};
	struct ns_meta_xattr x[2] = {{"user.a", 6, "one", 3}, {"user.b", 6, "", 0}};
	struct ns_meta m = {.self = {0100600, 1000, 100},
			    .gate_known = true,
			    .xattrs_known = true,
			    .ngate = 2,
			    .nx = 2,
			    .gate = gate,
			    .x = x},
		       d;
	uint8_t *buf;
	void *out;
	size_t len;

	ck_assert_int_eq(ns_meta_encode(&m, &out, &len), ST_OK);
	buf = out;
	ck_assert_uint_eq(len, 20 + 2 * 12 + (5 + 6 + 3) + (5 + 6));
	ck_assert_int_eq(ns_meta_decode(buf, len, &d), ST_OK);
	ck_assert_uint_eq(d.self.mode, 0100600);
	ck_assert_uint_eq(d.self.uid, 1000);
	ck_assert_uint_eq(d.self.gid, 100);
	ck_assert(d.gate_known && d.xattrs_known);
	ck_assert_uint_eq(d.ngate, 2);
	ck_assert_uint_eq(d.gate[0].mode, 040700);
	ck_assert_uint_eq(d.gate[1].uid, 0);
	ck_assert_uint_eq(d.nx, 2);
	ck_assert_uint_eq(d.x[0].nlen, 6);
	ck_assert_mem_eq(d.x[0].name, "user.a", 6);
	ck_assert_uint_eq(d.x[0].vlen, 3);
	ck_assert_mem_eq(d.x[0].val, "one", 3);
	ck_assert_uint_eq(d.x[1].vlen, 0);
	ns_meta_free(&d);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(ns_meta_decode(buf, cut, &d), ST_ECORRUPT);
	buf[0] = 2;
	ck_assert_int_eq(ns_meta_decode(buf, len, &d), ST_EVERSION);
	buf[0] = 1;
	buf[3] = 200; /* ngate past the end */
	ck_assert_int_eq(ns_meta_decode(buf, len, &d), ST_ECORRUPT);
	buf[3] = 2;
	buf[7] = 3; /* one xattr more than there is */
	ck_assert_int_eq(ns_meta_decode(buf, len, &d), ST_ECORRUPT);
	buf[7] = 2;
	buf[1] = 0x2; /* directories the flags say are not there */
	ck_assert_int_eq(ns_meta_decode(buf, len, &d), ST_ECORRUPT);
	free(buf);
	/* Unknown directories and no xattrs: the fixed part alone. */
	m.gate_known = m.xattrs_known = false;
	ck_assert_int_eq(ns_meta_encode(&m, &out, &len), ST_OK);
	ck_assert_uint_eq(len, 20);
	ck_assert_int_eq(ns_meta_decode(out, len, &d), ST_OK);
	ck_assert(!d.gate_known && !d.xattrs_known && d.ngate == 0 && d.nx == 0);
	free(out);
}
END_TEST

/* The fence: mkfs makes it (clean, at the namespace's commit), it reads
 * back what was written, its file is larger than any client cache keeps
 * whole, and a flipped byte is refused. */
START_TEST(fence_file)
{
	char *dir, path[4096];
	st_store *ns = fresh("fence", &dir);
	struct ns_fence f, g = {.clean = false, .gen = 7, .ns_seq = 42, .time_ns = 99};
	struct st_version v;
	struct stat sb;
	uint8_t b;
	int fd;

	st_current(ns, &v);
	EXPECT_RC(ns_fence_read(dir, NULL, &f), ST_OK);
	ck_assert(f.clean && f.gen == 0 && f.ns_seq == v.seq);
	ck_assert(memcmp(f.uuid, g_sb.uuid, 16) == 0);
	memcpy(g.uuid, g_sb.uuid, 16);
	EXPECT_RC(ns_fence_write(dir, NULL, &g), ST_OK);
	EXPECT_RC(ns_fence_read(dir, NULL, &f), ST_OK);
	ck_assert(!f.clean && f.gen == 7 && f.ns_seq == 42 && f.time_ns == 99);
	snprintf(path, sizeof(path), "%s/%s", dir, NS_FENCE_NAME);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 1 << 20);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, 24 + 7), 1);
	b ^= 1;
	ck_assert_int_eq(pwrite(fd, &b, 1, 24 + 7), 1);
	close(fd);
	EXPECT_RC(ns_fence_read(dir, NULL, &f), ST_ECORRUPT);
	ck_assert_int_eq(unlink(path), 0);
	EXPECT_RC(ns_fence_read(dir, NULL, &f), ST_ENOTFOUND);
	st_close(ns);
	free(dir);
}
END_TEST

START_TEST(mounts_has_root)
{
	bool found = false;

	char backing[64];

	ck_assert_int_eq(ns_mounts(root_cb, &found), 1);
	ck_assert(found);
	/* / is no revfs mount; test_mount.sh checks one that is. */
	ck_assert(!ns_revfs_mount("/", backing, sizeof(backing)));
	ck_assert(!ns_revfs_mount("/no/such/path", backing, sizeof(backing)));
}
END_TEST

/* The key slot: made, written, read back and unwrapped; a wrong secret,
 * a rewrap, the recovery key; every open store sealed. */
START_TEST(key_slot)
{
	const struct ns_keyslot quick = {.kdf = NS_KDF_SCRYPT, .n = 1024, .r = 8, .p = 1};
	const struct ns_keyslot pb = {.kdf = NS_KDF_PBKDF2, .n = 10};
	struct ns_super sb, back;
	char text[NS_RECOVERY_TEXT];
	uint8_t master[ST_KEY_SIZE];
	st_store *st;

	ns_super_init(&sb);
	ck_assert_int_eq(ns_key_create(&sb, &quick, "pass one", 8), ST_OK);
	ck_assert(sb.unlocked && (sb.incompat & NS_FEAT_SEALED));
	memcpy(master, sb.master, sizeof(master));
	ns_key_recovery_text(&sb, text);
	ck_assert_uint_eq(strlen(text), 71);
	ck_assert_int_eq(ns_format(tu_dir, &sb, 0, 0), ST_OK);
	ck_assert_int_eq(ns_super_write(tu_dir, &sb), ST_OK);
	ck_assert_int_eq(ns_super_read(tu_dir, &back), ST_OK);
	ck_assert(!back.unlocked);
	ck_assert_mem_eq(&back.slot, &sb.slot, sizeof(sb.slot));
	/* Locked: no store opens. */
	ck_assert_int_eq(ns_open(tu_dir, &back, ST_READONLY, NULL, &st), ST_EKEY);
	ck_assert_int_eq(ns_key_unlock(&back, "pass two", 8), ST_EKEY);
	ck_assert_int_eq(ns_key_unlock(&back, "pass one", 8), ST_OK);
	ck_assert_mem_eq(back.master, master, sizeof(master));
	ck_assert_int_eq(ns_open(tu_dir, &back, ST_READONLY, NULL, &st), ST_OK);
	st_close(st);
	/* Rewrapped: the old secret no longer opens it, the new one does,
	 * and the master key is the same. */
	ck_assert_int_eq(ns_key_rewrap(&back, &pb, "pass three", 10), ST_OK);
	ns_key_forget(&back);
	ck_assert_int_eq(ns_key_unlock(&back, "pass one", 8), ST_EKEY);
	ck_assert_int_eq(ns_key_unlock(&back, "pass three", 10), ST_OK);
	ck_assert_mem_eq(back.master, master, sizeof(master));
	/* The recovery key, and a wrong one. */
	ns_key_forget(&back);
	ck_assert_int_eq(ns_key_recover(&back, text), ST_OK);
	ck_assert_mem_eq(back.master, master, sizeof(master));
	text[0] = text[0] == '0' ? '1' : '0';
	ck_assert_int_eq(ns_key_recover(&back, text), ST_EKEY);
	ck_assert_int_eq(ns_key_recover(&back, "12-34"), ST_EINVAL);
	/* The fence is sealed too: one rewritten to let an older namespace
	 * in (its crc made right) fails authentication. */
	{
		char *p = tu_path(tu_dir, NS_FENCE_NAME);
		struct ns_fence f;
		uint8_t blk[64];
		FILE *fp;

		ck_assert_int_eq(ns_fence_read(tu_dir, &back, &f), ST_OK);
		fp = fopen(p, "r+b");
		ck_assert(fp && fread(blk, 1, sizeof(blk), fp) == sizeof(blk));
		st_put64(blk + 24, 0);
		st_put32(blk + 56, st_crc32c(0, blk, 56));
		ck_assert(fseek(fp, 0, SEEK_SET) == 0 &&
			  fwrite(blk, 1, sizeof(blk), fp) == sizeof(blk));
		fclose(fp);
		ck_assert_int_eq(ns_fence_read(tu_dir, &back, &f), ST_ECORRUPT);
		ck_assert_int_eq(ns_fence_read(tu_dir, NULL, &f), ST_OK); /* no key: crc only */
		/* Its seal stripped: refused even without the key. */
		st_put32(blk + 8, st_get32(blk + 8) & ~2u);
		st_put32(blk + 56, st_crc32c(0, blk, 56));
		fp = fopen(p, "r+b");
		ck_assert(fp && fwrite(blk, 1, sizeof(blk), fp) == sizeof(blk));
		fclose(fp);
		ns_key_forget(&back);
		ck_assert_int_eq(ns_fence_read(tu_dir, &back, &f), ST_ECORRUPT);
		free(p);
	}
	/* A damaged superblock: the copy keeps the slot. */
	{
		char *p = tu_path(tu_dir, NS_SUPER_NAME);

		tu_flip_bit(p, 320, 3);
		ck_assert_int_eq(ns_super_read(tu_dir, &back), ST_OK);
		ck_assert_mem_eq(&back.slot, &sb.slot, sizeof(sb.slot));
		free(p);
	}
	ns_key_forget(&sb);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, format_makes_root);
	tcase_add_test(tc, records_roundtrip);
	tcase_add_test(tc, walk_finds_damage);
	tcase_add_test(tc, lock_protocol);
	tcase_add_test(tc, store_names);
	tcase_add_test(tc, super_salvage);
	tcase_add_test(tc, store_identity);
	tcase_add_test(tc, lineage_records);
	tcase_add_test(tc, version_attributes);
	tcase_add_test(tc, fence_file);
	tcase_add_test(tc, mounts_has_root);
	tcase_add_test(tc, key_slot);
}

int main(void)
{
	return tu_main("ns", 60, add_tests, NULL);
}
