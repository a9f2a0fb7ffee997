/*
 * check_compact.c - online compaction: under concurrent writers and
 * readers, with a crash at each step, with the store deleted under it,
 * aborted, and with retention rules. Every kept version must read back
 * byte for byte; nothing but the store may be left in its directory.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define FSIZE  (64 * 1024)
#define MAXVER 4096

/* Entries in tu_dir other than "." and ".." and keep. */
static int stray_files(const char *keep)
{
	DIR *d = opendir(tu_dir);
	struct dirent *e;
	int n = 0;

	ck_assert(d != NULL);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep))
			n++;
	closedir(d);
	return n;
}

/* ---- the model: the file's bytes at every committed seq -------------------- */

struct model {
	pthread_mutex_t lock; /* guards cur, size and the writes+commit pairs */
	uint8_t cur[FSIZE];
	size_t size;
	uint8_t *ver[MAXVER]; /* content at seq, written once under lock */
	size_t vsize[MAXVER];
	atomic_ulong newest;
};

static void model_snap(struct model *m, uint64_t seq)
{
	ck_assert(seq < MAXVER);
	m->ver[seq] = malloc(FSIZE);
	memcpy(m->ver[seq], m->cur, FSIZE);
	m->vsize[seq] = m->size;
	atomic_store(&m->newest, seq);
}

static void model_free(struct model *m)
{
	for (int i = 0; i < MAXVER; i++)
		free(m->ver[i]);
}

/* One random change and a commit; m->lock held by the caller. */
static void change_and_commit(st_store *st, struct model *m, uint64_t *seed)
{
	uint8_t buf[3 * 4096 + 100];
	struct st_version v;
	int n = 1 + (int)(tu_rand(seed) % 4);

	for (int i = 0; i < n; i++) {
		size_t off = tu_rand(seed) % (FSIZE - sizeof(buf)),
		       len = tu_rand(seed) % sizeof(buf);

		if (tu_rand(seed) % 10 == 0) {
			size_t ns = off;
			ck_assert_int_eq(st_file_truncate(st, ns), ST_OK);
			if (ns < m->size)
				memset(m->cur + ns, 0, FSIZE - ns);
			m->size = ns;
			continue;
		}
		tu_fill(seed, buf, len);
		ck_assert_int_eq(st_file_write(st, off, buf, len), ST_OK);
		memcpy(m->cur + off, buf, len);
		if (len && off + len > m->size) /* writing nothing extends nothing */
			m->size = off + len;
	}
	ck_assert_int_eq(st_commit(st, &v), ST_OK);
	model_snap(m, v.seq);
}

static void expect_version(st_store *v, const struct model *m, uint64_t seq)
{
	static _Thread_local uint8_t buf[FSIZE];
	ssize_t n = st_file_read(v, 0, buf, FSIZE);

	ck_assert_msg(n == (ssize_t)m->vsize[seq], "seq %llu: read %zd, want %zu (%s)",
		      (unsigned long long)seq, n, m->vsize[seq], st_last_error()->msg);
	ck_assert_msg(memcmp(buf, m->ver[seq], (size_t)n) == 0, "seq %llu differs",
		      (unsigned long long)seq);
}

struct chain_ctx {
	const struct model *m;
	st_store *st;
	uint64_t seqs[MAXVER];
	size_t n;
};

static int chain_cb(void *arg, const struct st_version *v)
{
	struct chain_ctx *c = arg;

	c->seqs[c->n++] = v->seq;
	return 0;
}

/* Every version in the chain reads as the model says; returns how many. */
static size_t expect_chain(st_store *st, const struct model *m, struct chain_ctx *c)
{
	c->m = m;
	c->st = st;
	c->n = 0;
	ck_assert_int_eq(st_versions(st, chain_cb, c), 0);
	for (size_t i = 0; i < c->n; i++) {
		st_store *v;
		ck_assert_int_eq(st_open_version(st, c->seqs[i], &v), ST_OK);
		expect_version(v, m, c->seqs[i]);
		st_close(v);
	}
	return c->n;
}

static bool chain_has(const struct chain_ctx *c, uint64_t seq)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->seqs[i] == seq)
			return true;
	return false;
}

/* ---- under load -------------------------------------------------------- */

struct load {
	st_store *st;
	struct model *m;
	atomic_int stop;
	int commits_each;
	atomic_ulong reads;
};

static void *writer(void *arg)
{
	struct load *l = arg;
	uint64_t seed = (uint64_t)pthread_self() | 1;

	for (int i = 0; i < l->commits_each; i++) {
		pthread_mutex_lock(&l->m->lock);
		change_and_commit(l->st, l->m, &seed);
		pthread_mutex_unlock(&l->m->lock);
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(&l->stop)) {
		uint64_t seq = atomic_load(&l->m->newest);
		st_store *v;
		int rc = st_open_version(l->st, seq, &v);

		/* Dropped by retention since: fine. Anything else is not. */
		ck_assert_msg(rc == ST_OK || rc == ST_ENOTFOUND, "open_version: %s",
			      st_last_error()->msg);
		if (rc == ST_OK) {
			expect_version(v, l->m, seq);
			st_close(v);
			atomic_fetch_add(&l->reads, 1);
		}
	}
	return NULL;
}

/* Loop 1 runs it on a sealed store: every copy is sealed anew. */
START_TEST(under_load)
{
	static const struct st_key key = {{0x5e, 0xa1}};
	const struct st_open_opts so = {.key = &key}, *sopts = _i ? &so : NULL;
	static struct model m;
	static struct chain_ctx chain;
	char *p = tu_path(tu_dir, "load.rev");
	static const uint64_t pins[] = {3, 40};
	struct st_retention keep = {.min_count = 20, .pins = pins, .npins = 2};
	struct st_compact_opts o = {.keep = &keep};
	struct st_compact_stats cs;
	struct load l = {.m = &m, .commits_each = 300};
	pthread_t w[3], r[2];
	uint64_t seed = 3;
	int compactions = 0;

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, sopts, &l.st), ST_OK);
	model_snap(&m, 0);
	for (int i = 0; i < 50; i++) /* history before the writers start, pins included */
		change_and_commit(l.st, &m, &seed);
	for (int i = 0; i < 3; i++)
		pthread_create(&w[i], NULL, writer, &l);
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, &l);
	for (int i = 0; i < 3; i++) {
		/* compact for as long as any writer runs */
		while (pthread_tryjoin_np(w[i], NULL) != 0) {
			int rc = st_compact(l.st, &o, &cs);
			ck_assert_msg(rc == ST_OK, "compact: %s", st_last_error()->msg);
			compactions++;
		}
	}
	atomic_store(&l.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	ck_assert_int_eq(st_compact(l.st, &o, &cs), ST_OK);
	compactions++;
	ck_assert_int_eq(st_check(l.st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	ck_assert_uint_eq(expect_chain(l.st, &m, &chain), 22);
	for (uint64_t s = atomic_load(&m.newest), k = 0; k < 20; k++)
		ck_assert(chain_has(&chain, s - k));
	ck_assert(chain_has(&chain, 3) && chain_has(&chain, 40));
	/* a second run has nothing left to drop: same size */
	{
		struct st_compact_stats again;
		ck_assert_int_eq(st_compact(l.st, &o, &again), ST_OK);
		ck_assert_uint_eq(again.bytes_after, again.bytes_before);
	}
	st_close(l.st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, sopts, &l.st), ST_OK);
	ck_assert_uint_eq(expect_chain(l.st, &m, &chain), 22);
	st_close(l.st);
	ck_assert_int_eq(stray_files("load.rev"), 0);
	fprintf(stderr, "under_load: %d compactions, %lu reads\n", compactions,
		(unsigned long)atomic_load(&l.reads));
	ck_assert(compactions > 3 && atomic_load(&l.reads) > 10);
	model_free(&m);
	free(p);
}
END_TEST

START_TEST(shrinks_garbage)
{
	static struct model m;
	char *p = tu_path(tu_dir, "g.rev");
	struct st_compact_stats cs;
	struct st_info before, after;
	uint64_t seed = 11;
	st_store *st;

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	model_snap(&m, 0);
	for (int i = 0; i < 200; i++)
		change_and_commit(st, &m, &seed);
	ck_assert_int_eq(st_info(st, &before), ST_OK);
	ck_assert_int_eq(st_compact(st, NULL, &cs), ST_OK); /* keep the newest only */
	ck_assert_int_eq(st_info(st, &after), ST_OK);
	ck_assert_uint_eq(cs.bytes_before, before.file_bytes);
	ck_assert(cs.bytes_after < before.file_bytes / 10);
	ck_assert_uint_eq(after.file_bytes, cs.bytes_after);
	ck_assert(after.fragmentation < 0.25);
	ck_assert_uint_eq(cs.versions_before, 201);
	ck_assert_uint_eq(cs.versions_kept, 1);
	expect_version(st, &m, 200);
	/* writes go on in the new file */
	change_and_commit(st, &m, &seed);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_OK);
	expect_version(st, &m, 201);
	st_close(st);
	model_free(&m);
	free(p);
}
END_TEST

/* ---- a crash at each step ------------------------------------------------- */

struct step_ctx {
	st_store *st;
	struct model *m;
	enum st_compact_step crash_at;
	uint64_t seed;
	int mode; /* 0: crash (_exit), 1: abort (return non-zero) */
};

static int step_hook(void *arg, enum st_compact_step step)
{
	struct step_ctx *c = arg;

	/* Give the catch-up something to do: commits after the copy. */
	if (step == ST_STEP_COPY || step == ST_STEP_CATCHUP) {
		for (int i = 0; i < 3; i++)
			change_and_commit(c->st, c->m, &c->seed);
		/* and an uncommitted write that must survive the switch */
		ck_assert_int_eq(st_file_write(c->st, 100, "staged!", 7), ST_OK);
		memcpy(c->m->cur + 100, "staged!", 7);
		if (c->m->size < 107)
			c->m->size = 107;
	}
	if (step != c->crash_at)
		return 0;
	if (c->mode == 0)
		_exit(0);
	return 1;
}

static void build_history(const char *p, struct model *m, int n)
{
	uint64_t seed = 21;
	st_store *st;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	model_snap(m, 0);
	for (int i = 0; i < n; i++)
		change_and_commit(st, m, &seed);
	st_close(st);
}

START_TEST(crash_at_each_step)
{
	static struct model m;
	static struct chain_ctx chain;
	char *p = tu_path(tu_dir, "c.rev");
	struct st_retention keep = {.min_count = 5};
	enum st_compact_step step = (enum st_compact_step)_i;

	memset(&m, 0, sizeof(m));
	build_history(p, &m, 30);
	/* The child compacts and dies at the step; its own commits (made in
	 * the hook) are in its model only, so versions past 30 are not
	 * compared below. */
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		struct step_ctx c = {.m = &m, .crash_at = step, .seed = 77};
		struct st_compact_opts o = {.keep = &keep, .hook = step_hook, .hook_arg = &c};
		ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &c.st), ST_OK);
		st_compact(c.st, &o, NULL);
		_exit(3); /* the step was never reached */
	}
	int status;
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	st_store *st;
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	ck_assert_msg(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL) == ST_OK, "%s",
		      st_last_error()->msg);
	/* Versions up to 30 came from the parent's model; every one the
	 * store still has must match, and the rule's five newest of them
	 * are there whichever file survived. */
	chain.n = 0;
	ck_assert_int_eq(st_versions(st, chain_cb, &chain), 0);
	for (size_t i = 0; i < chain.n; i++) {
		st_store *v;
		if (chain.seqs[i] > 30)
			continue;
		ck_assert_int_eq(st_open_version(st, chain.seqs[i], &v), ST_OK);
		expect_version(v, &m, chain.seqs[i]);
		st_close(v);
	}
	for (uint64_t s = 26; s <= 30; s++)
		ck_assert_msg(chain_has(&chain, s), "seq %llu lost", (unsigned long long)s);
	/* The next compaction removes the stale temporary file. */
	ck_assert_int_eq(st_compact(st, NULL, NULL), ST_OK);
	ck_assert_int_eq(stray_files("c.rev"), 0);
	st_close(st);
	model_free(&m);
	free(p);
}
END_TEST

START_TEST(abort_at_each_step)
{
	static struct model m;
	static struct chain_ctx chain;
	char *p = tu_path(tu_dir, "a.rev");
	struct st_retention keep = {.min_count = 5};
	enum st_compact_step step = (enum st_compact_step)_i;
	struct step_ctx c = {.m = &m, .crash_at = step, .seed = 77, .mode = 1};
	struct st_compact_opts o = {.keep = &keep, .hook = step_hook, .hook_arg = &c};
	uint8_t buf[16];
	int rc;

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	build_history(p, &m, 30);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &c.st), ST_OK);
	rc = st_compact(c.st, &o, NULL);
	ck_assert_int_eq(rc, ST_EABORTED);
	/* The staged write survives whatever happened; commit it. */
	ck_assert_int_eq(st_commit(c.st, NULL), ST_OK);
	model_snap(&m, atomic_load(&m.newest) + 1);
	ck_assert_int_eq(st_file_read(c.st, 100, buf, 7), 7);
	ck_assert(memcmp(buf, "staged!", 7) == 0);
	expect_version(c.st, &m, atomic_load(&m.newest));
	ck_assert_int_eq(st_check(c.st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	/* Before the switch nothing changed: every version is still there. */
	if (step <= ST_STEP_LOCKED)
		ck_assert_uint_eq(expect_chain(c.st, &m, &chain), atomic_load(&m.newest) + 1);
	ck_assert_int_eq(stray_files("a.rev"), 0);
	st_close(c.st);
	model_free(&m);
	free(p);
}
END_TEST

/* ---- deletion during compaction ------------------------------------------- */

struct del_ctx {
	const char *path;
	enum st_compact_step at;
};

static int del_hook(void *arg, enum st_compact_step step)
{
	struct del_ctx *d = arg;

	if (step == d->at)
		ck_assert_int_eq(unlink(d->path), 0);
	return 0;
}

START_TEST(deleted_during_compaction)
{
	static struct model m;
	char *p = tu_path(tu_dir, "d.rev");
	struct del_ctx d = {p, _i ? ST_STEP_LOCKED : ST_STEP_COPY};
	struct st_compact_opts o = {.hook = del_hook, .hook_arg = &d};
	uint64_t seed = 4;
	st_store *st;

	memset(&m, 0, sizeof(m));
	build_history(p, &m, 10);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	/* Deleted during the unlocked copy, or just before the final step. */
	ck_assert_int_eq(st_compact(st, &o, NULL), ST_EDELETED);
	ck_assert_int_eq(stray_files("nothing"), 0);
	/* the handle still works on its (now unlinked) file */
	pthread_mutex_init(&m.lock, NULL);
	change_and_commit(st, &m, &seed);
	expect_version(st, &m, atomic_load(&m.newest));
	st_close(st);
	model_free(&m);
	free(p);
}
END_TEST

/* ---- a commit right after the switch ------------------------------------ */

/* The handle is on the new file from ST_STEP_SYNCED on, before that file
 * has the store's name: a commit made then must not be durable (return)
 * before the rename. _i = 0: st_commit; 1: a group commit whose shared
 * syncs are a syncfs; 2: one with per-store syncs. */
struct late_ctx {
	st_store *st;
	const char *path;
	int mode;
	pthread_t th;
	atomic_int done;
	int rc;
	ino_t old_ino;
};

static void *late_commit(void *arg)
{
	struct late_ctx *l = arg;
	int rc = st_file_write(l->st, 0, "late", 4);

	if (rc == ST_OK && l->mode == 0) {
		rc = st_commit(l->st, NULL);
	} else if (rc == ST_OK) {
		struct st_group_opts o = {.sync = l->mode == 1 ? ST_SYNC_FS : ST_SYNC_EACH};

		st_commit_group(&l->st, 1, &o, &rc, NULL);
	}
	l->rc = rc;
	atomic_store(&l->done, 1);
	return NULL;
}

static int late_hook(void *arg, enum st_compact_step step)
{
	struct late_ctx *l = arg;
	struct stat sb;
	int done;

	if (step == ST_STEP_LOCKED) {
		ck_assert_int_eq(stat(l->path, &sb), 0);
		l->old_ino = sb.st_ino;
	}
	if (step != ST_STEP_SYNCED)
		return 0;
	ck_assert_int_eq(pthread_create(&l->th, NULL, late_commit, l), 0);
	usleep(200000);
	/* Still the old file under the name: the commit waits. */
	done = atomic_load(&l->done);
	ck_assert_int_eq(done, 0);
	ck_assert_int_eq(stat(l->path, &sb), 0);
	ck_assert_uint_eq(sb.st_ino, l->old_ino);
	return 0;
}

START_TEST(commit_after_switch_waits)
{
	static struct model m;
	char *p = tu_path(tu_dir, "w.rev");
	struct late_ctx l = {.path = p, .mode = _i};
	struct st_compact_opts o = {.hook = late_hook, .hook_arg = &l};
	struct st_version cur;
	struct stat sb;
	char buf[4];
	st_store *st;

	memset(&m, 0, sizeof(m));
	build_history(p, &m, 10);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &l.st), ST_OK);
	ck_assert_int_eq(st_compact(l.st, &o, NULL), ST_OK);
	ck_assert_int_eq(pthread_join(l.th, NULL), 0);
	ck_assert_int_eq(l.rc, ST_OK);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_ne(sb.st_ino, l.old_ino);
	st_close(l.st);
	/* The late commit is the newest version of the file under the name. */
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	st_current(st, &cur);
	ck_assert_uint_eq(cur.seq, 11);
	ck_assert_int_eq(st_file_read(st, 0, buf, 4), 4);
	ck_assert(memcmp(buf, "late", 4) == 0);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	ck_assert_int_eq(stray_files("w.rev"), 0);
	model_free(&m);
	free(p);
}
END_TEST

/* ---- retention by age ---------------------------------------------------- */

START_TEST(retention_rules)
{
	char *p = tu_path(tu_dir, "r.rev");
	struct st_open_opts oo = {.clock = tu_clock};
	struct st_retention r;
	struct st_compact_opts o = {.keep = &r};
	struct st_compact_stats cs;
	static struct chain_ctx chain;
	const uint64_t H = 3600ull * 1000000000ull, base = 1000 * 24 * H;
	char text[128];
	st_store *st;

	ck_assert_int_eq(st_retention_parse("all:1h,hourly:1d,daily:30d,min:10", &r), ST_OK);
	ck_assert_int_eq(st_retention_format(&r, text, sizeof(text)), ST_OK);
	ck_assert_str_eq(text, "all:1h,hourly:1d,daily:30d,min:10");
	ck_assert_int_eq(st_retention_parse("latest", &r), ST_OK);
	ck_assert_uint_eq(r.min_count, 1);
	ck_assert_int_eq(st_retention_parse("hourly:", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("min:0", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("all:1h,", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("yearly:1d", &r), ST_EINVAL);
	/* '+' joins items too (it survives mount -o), alone or mixed. */
	ck_assert_int_eq(st_retention_parse("all:1h+hourly:1d+daily:30d+min:10", &r), ST_OK);
	ck_assert_int_eq(st_retention_format(&r, text, sizeof(text)), ST_OK);
	ck_assert_str_eq(text, "all:1h,hourly:1d,daily:30d,min:10");
	ck_assert_int_eq(st_retention_parse("all:1h+hourly:1d,min:3", &r), ST_OK);
	ck_assert_uint_eq(r.min_count, 3);
	ck_assert_uint_eq(r.ntiers, 1);
	ck_assert_int_eq(st_retention_parse("all:1h+", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("+all:1h", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("min:3+", &r), ST_EINVAL);
	ck_assert_int_eq(st_retention_parse("latest+min:3", &r), ST_EINVAL);

	/* One commit every 10 minutes for 3 days. */
	tu_clock_ns = base;
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, &oo, &st), ST_OK);
	for (int i = 1; i <= 3 * 24 * 6; i++) {
		tu_clock_ns = base + (uint64_t)i * H / 6;
		ck_assert_int_eq(st_file_write(st, 0, &i, sizeof(i)), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_retention_parse("all:1h,hourly:1d,min:3", &r), ST_OK);
	o.now_ns = tu_clock_ns + 1;
	ck_assert_int_eq(st_compact(st, &o, NULL), ST_OK);
	chain.n = 0;
	ck_assert_int_eq(st_versions(st, chain_cb, &chain), 0);
	/* the last hour: 6 versions (ages 0..50 min), then one per hourly
	 * slot for the rest of the day (23 more, the newest of each hour) */
	ck_assert_uint_eq(chain.n, 6 + 23);
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(chain.seqs[i], 432 - i);
	for (size_t i = 6; i < chain.n; i++) {
		st_store *v;
		int val = 0;
		struct st_version cv;
		ck_assert_int_eq(st_open_version(st, chain.seqs[i], &v), ST_OK);
		st_current(v, &cv);
		/* the newest of its hour: the next one is in the next hour */
		ck_assert_uint_eq((cv.time_ns + H / 6) / H, cv.time_ns / H + 1);
		ck_assert_int_eq(st_file_read(v, 0, &val, sizeof(val)), sizeof(val));
		ck_assert_uint_eq((uint64_t)val, chain.seqs[i]);
		st_close(v);
	}
	ck_assert_int_eq(st_retention_parse("latest", &r), ST_OK);
	ck_assert_int_eq(st_compact(st, &o, &cs), ST_OK);
	ck_assert_uint_eq(cs.quiet_ns, 0); /* it dropped versions */
	chain.n = 0;
	ck_assert_int_eq(st_versions(st, chain_cb, &chain), 0);
	ck_assert_uint_eq(chain.n, 1);
	ck_assert_uint_eq(chain.seqs[0], 432);
	/* Three more versions 10 minutes apart, all younger than an hour:
	 * "all:1h" keeps the four, and will until the oldest (432) is an
	 * hour old, 30 minutes after the last. */
	for (int i = 1; i <= 3; i++) {
		tu_clock_ns += H / 6;
		ck_assert_int_eq(st_file_write(st, 0, &i, sizeof(i)), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_retention_parse("all:1h,daily:30d", &r), ST_OK);
	o.now_ns = tu_clock_ns;
	ck_assert_int_eq(st_compact(st, &o, &cs), ST_OK);
	ck_assert_uint_eq(cs.versions_kept, 4);
	ck_assert_uint_eq(cs.quiet_ns, H / 2);
	/* Past that, or with no "all" window, it cannot say. */
	o.now_ns = tu_clock_ns + H;
	ck_assert_int_eq(st_compact(st, &o, &cs), ST_OK);
	ck_assert_uint_eq(cs.quiet_ns, 0);
	ck_assert_int_eq(st_retention_parse("hourly:1d,min:100", &r), ST_OK);
	ck_assert_int_eq(st_compact(st, &o, &cs), ST_OK);
	ck_assert_uint_eq(cs.versions_kept, cs.versions_before);
	ck_assert_uint_eq(cs.quiet_ns, 0);
	st_close(st);
	free(p);
}
END_TEST

/* A cut overrides the windows and min: what is older goes, unless pinned
 * or the newest. */
START_TEST(retention_cut)
{
	const uint64_t M = 60ull * 1000000000ull, now = 1000 * M;
	struct st_version v[6];
	uint64_t pin = 2;
	struct st_retention r;
	bool keep[6];

	for (int i = 0; i < 6; i++) /* newest first, 10 minutes apart */
		v[i] = (struct st_version){.seq = 6 - (uint64_t)i,
					   .time_ns = now - (uint64_t)i * 10 * M};
	ck_assert_int_eq(st_retention_parse("all:1h,min:10", &r), ST_OK);
	st_retention_keep(&r, now, v, 6, keep);
	for (int i = 0; i < 6; i++)
		ck_assert(keep[i]);
	r.cut_ns = now - 25 * M; /* versions 0..2 are younger */
	r.pins = &pin;
	r.npins = 1;
	st_retention_keep(&r, now, v, 6, keep);
	ck_assert(keep[0] && keep[1] && keep[2]);
	ck_assert(!keep[3] && keep[4] && !keep[5]); /* seq 2 is pinned */
	r.cut_ns = now + M;			    /* everything older: the newest stays */
	st_retention_keep(&r, now, v, 6, keep);
	ck_assert(keep[0] && !keep[1] && !keep[2] && !keep[3] && keep[4] && !keep[5]);
	r.npins = 0;
	r.cut_ns = now - 15 * M; /* a tier keeps nothing older than the cut */
	r.all_ns = 0;
	r.ntiers = 1;
	r.tiers[0].interval_ns = 60 * M;
	r.tiers[0].span_ns = 24 * 60 * M;
	r.min_count = 1;
	r.cut_ns = 0;
	st_retention_keep(&r, now, v, 6, keep); /* the newest of each hour */
	ck_assert(keep[0] && !keep[1] && !keep[4] && keep[5]);
	r.cut_ns = now - 15 * M;
	st_retention_keep(&r, now, v, 6, keep);
	ck_assert(keep[0]);
	for (int i = 1; i < 6; i++)
		ck_assert(!keep[i]);
}
END_TEST

/* ---- key-value stores ----------------------------------------------------- */

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	unsigned *n = arg;

	ck_assert(kl >= 4 && vl == 100);
	ck_assert(memcmp(v, k, 4) == 0);
	(*n)++;
	return 0;
}

START_TEST(kv_compaction)
{
	char *p = tu_path(tu_dir, "kv.rev");
	struct st_compact_stats cs;
	struct st_retention r = {.min_count = 3};
	struct st_compact_opts o = {.keep = &r};
	uint8_t val[100];
	char key[16];
	unsigned n = 0;
	st_store *st, *v;

	ck_assert_int_eq(st_open(p, ST_KIND_KV, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 400; i++) {
			int k = (round * 131 + i * 7) % 5000;
			snprintf(key, sizeof(key), "%04d", k);
			memset(val, 0, sizeof(val));
			memcpy(val, key, 4);
			if (i % 5 == 4)
				ck_assert_int_eq(st_kv_del(st, key, 4), ST_OK);
			else
				ck_assert_int_eq(st_kv_put(st, key, 4, val, sizeof(val)), ST_OK);
		}
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_kv_range(st, "", 0, count_cb, &n), 0);
	ck_assert_int_eq(st_compact(st, &o, &cs), ST_OK);
	ck_assert(cs.bytes_after < cs.bytes_before / 4);
	ck_assert_uint_eq(cs.versions_kept, 3);
	unsigned n2 = 0;
	ck_assert_int_eq(st_kv_range(st, "", 0, count_cb, &n2), 0);
	ck_assert_uint_eq(n, n2);
	ck_assert_int_eq(st_open_version(st, 48, &v), ST_OK);
	ck_assert_int_eq(st_check(v, 0), ST_OK);
	st_close(v);
	ck_assert_int_eq(st_open_version(st, 47, &v), ST_ENOTFOUND);
	ck_assert_int_eq(st_check(st, ST_CHECK_ALL), ST_OK);
	st_close(st);
	free(p);
}
END_TEST

START_TEST(stale_compact_file_removed)
{
	static struct model m;
	char *p = tu_path(tu_dir, "s.rev"), *stale = tu_path(tu_dir, "s.rev.compact");
	FILE *f;
	st_store *st;

	memset(&m, 0, sizeof(m));
	build_history(p, &m, 5);
	f = fopen(stale, "w");
	fputs("left over from a crash", f);
	fclose(f);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	ck_assert_int_eq(st_compact(st, NULL, NULL), ST_OK);
	ck_assert_int_eq(stray_files("s.rev"), 0);
	expect_version(st, &m, 5);
	st_close(st);
	model_free(&m);
	free(stale);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, under_load, 0, 2);
	tcase_add_test(tc, shrinks_garbage);
	tcase_add_loop_test(tc, crash_at_each_step, ST_STEP_COPY, ST_STEP_SWITCHED + 1);
	tcase_add_loop_test(tc, abort_at_each_step, ST_STEP_COPY, ST_STEP_SWITCHED + 1);
	tcase_add_loop_test(tc, deleted_during_compaction, 0, 1);
	tcase_add_loop_test(tc, commit_after_switch_waits, 0, 3);
	tcase_add_test(tc, retention_rules);
	tcase_add_test(tc, retention_cut);
	tcase_add_test(tc, kv_compaction);
	tcase_add_test(tc, stale_compact_file_removed);
}

int main(void)
{
	return tu_main("compact", 900, add_tests, NULL);
}
