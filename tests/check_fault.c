/*
 * check_fault.c - a write that fails anywhere in a commit (or in the buffer
 * flush of a large st_file_write) must leave the store at its last good
 * version: readable byte for byte, clean under st_check, and writable
 * again, whether the failure is one-off or the disk stays dead.
 *
 * Each case first counts the write-like calls of the operation with no
 * fault, then fails each of them in turn, in every mode; and runs twice,
 * with two-sync commits and with one-sync commits (ST_ONESYNC).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* 0 or ST_ONESYNC, from each test's loop index: every open below adds it. */
static int fault_flags;

/* ---- fault ops that also record what each write-like call was ---------- */

#define MAX_CALLS 256

enum call_kind { C_PWRITE = 1, C_SYNC, C_TRUNC, C_OTHER };

/* The log tells the tests which call is the commit point (the marker flip,
 * the last write of a commit) and which calls a short write can shorten. */
struct rec {
	struct tu_faults f; /* what tu_fault_ops sees */
	unsigned n;
	enum call_kind kind[MAX_CALLS];
	size_t len[MAX_CALLS];
};

static void rec_log(struct rec *r, enum call_kind k, size_t len)
{
	if (r->n < MAX_CALLS) {
		r->kind[r->n] = k;
		r->len[r->n] = len;
	}
	r->n++;
}

static int ro_open(void *ctx, const char *path, int flags, mode_t mode)
{
	return tu_fault_ops.open(&((struct rec *)ctx)->f, path, flags, mode);
}

static int ro_close(void *ctx, int fd)
{
	return tu_fault_ops.close(&((struct rec *)ctx)->f, fd);
}

static ssize_t ro_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	return tu_fault_ops.pread(&((struct rec *)ctx)->f, fd, buf, len, off);
}

static ssize_t ro_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	rec_log(ctx, C_PWRITE, len);
	return tu_fault_ops.pwrite(&((struct rec *)ctx)->f, fd, buf, len, off);
}

static int ro_fdatasync(void *ctx, int fd)
{
	rec_log(ctx, C_SYNC, 0);
	return tu_fault_ops.fdatasync(&((struct rec *)ctx)->f, fd);
}

static int ro_fsync(void *ctx, int fd)
{
	rec_log(ctx, C_SYNC, 0);
	return tu_fault_ops.fsync(&((struct rec *)ctx)->f, fd);
}

static int ro_ftruncate(void *ctx, int fd, off_t len)
{
	rec_log(ctx, C_TRUNC, 0);
	return tu_fault_ops.ftruncate(&((struct rec *)ctx)->f, fd, len);
}

static int ro_fstat(void *ctx, int fd, struct stat *sb)
{
	return tu_fault_ops.fstat(&((struct rec *)ctx)->f, fd, sb);
}

static int ro_stat(void *ctx, const char *path, struct stat *sb)
{
	return tu_fault_ops.stat(&((struct rec *)ctx)->f, path, sb);
}

static int ro_rename(void *ctx, const char *a, const char *b)
{
	rec_log(ctx, C_OTHER, 0);
	return tu_fault_ops.rename(&((struct rec *)ctx)->f, a, b);
}

static int ro_unlink(void *ctx, const char *path)
{
	rec_log(ctx, C_OTHER, 0);
	return tu_fault_ops.unlink(&((struct rec *)ctx)->f, path);
}

static int ro_fsync_dir(void *ctx, const char *d)
{
	rec_log(ctx, C_SYNC, 0);
	return tu_fault_ops.fsync_dir(&((struct rec *)ctx)->f, d);
}

static const struct st_ops rec_ops = {
    .open = ro_open,
    .close = ro_close,
    .pread = ro_pread,
    .pwrite = ro_pwrite,
    .fdatasync = ro_fdatasync,
    .fsync = ro_fsync,
    .ftruncate = ro_ftruncate,
    .fstat = ro_fstat,
    .stat = ro_stat,
    .rename = ro_rename,
    .unlink = ro_unlink,
    .fsync_dir = ro_fsync_dir,
};

/* Counting restarts here: only what follows is under test. */
static void arm(struct rec *r, enum tu_fault mode, uint64_t fail_at, bool sticky)
{
	memset(r, 0, sizeof(*r));
	r->f.mode = mode;
	r->f.fail_at = fail_at;
	r->f.sticky = sticky;
}

static st_store *open_faulty(const char *path, int kind, struct rec *r)
{
	struct st_open_opts o = {.ops = &rec_ops, .ops_ctx = r};
	st_store *st;

	arm(r, TU_EIO, 0, false);
	ck_assert_int_eq(st_open(path, kind, fault_flags, &o, &st), ST_OK);
	return st;
}

static const char *mode_name(enum tu_fault m)
{
	return m == TU_EIO ? "EIO" : m == TU_ENOSPC ? "ENOSPC" : "SHORT";
}

/*
 * What a fault at call fail_at of the dry run log d does. A short write is
 * only a failure if something after it fails: with sticky faults the next
 * write-like call; without, nothing (the writer retries the rest).
 */
static bool expect_error(const struct rec *d, enum tu_fault mode, uint64_t fail_at, bool sticky)
{
	if (mode != TU_SHORT)
		return true;
	if (!sticky)
		return false;
	return fail_at < d->n || (d->kind[fail_at - 1] == C_PWRITE && d->len[fail_at - 1] > 1);
}

static int expected_code(enum tu_fault mode)
{
	return mode == TU_EIO ? ST_EIO : ST_ENOSPC;
}

/* Index (1-based) of the last pwrite of the dry run: the commit point. */
static uint64_t last_pwrite(const struct rec *d)
{
	uint64_t at = 0;

	for (unsigned i = 0; i < d->n && i < MAX_CALLS; i++)
		if (d->kind[i] == C_PWRITE)
			at = i + 1;
	return at;
}

/* Whether the marker flip reached the file and nothing could undo it. */
static bool flip_landed_for_good(const struct rec *d, enum tu_fault mode, uint64_t fail_at,
				 bool sticky)
{
	uint64_t flip = last_pwrite(d);

	if (!sticky)
		return false; /* the rollback's truncate cuts it off again */
	return flip < fail_at || (flip == fail_at && mode == TU_SHORT);
}

/* ---- the file model -------------------------------------------------------- */

#define MODEL_CAP (8u << 20)

struct fmodel {
	uint8_t *buf; /* MODEL_CAP bytes, zero past size */
	uint64_t size;
};

enum { OP_WRITE = 1, OP_TRUNC };
struct fop {
	int op;
	uint64_t off; /* the new size for OP_TRUNC */
	size_t len;
	uint64_t seed;
};

static void fm_init(struct fmodel *m)
{
	m->buf = calloc(1, MODEL_CAP);
	ck_assert_ptr_nonnull(m->buf);
	m->size = 0;
}

static void fm_copy(struct fmodel *to, const struct fmodel *from)
{
	fm_init(to);
	memcpy(to->buf, from->buf, MODEL_CAP);
	to->size = from->size;
}

static void fm_free(struct fmodel *m)
{
	free(m->buf);
	m->buf = NULL;
}

static void fm_apply(struct fmodel *m, const struct fop *o)
{
	uint64_t seed = o->seed;

	if (o->op == OP_WRITE) {
		ck_assert(o->off + o->len <= MODEL_CAP);
		tu_fill(&seed, m->buf + o->off, o->len);
		if (o->off + o->len > m->size)
			m->size = o->off + o->len;
	} else {
		if (o->off < m->size)
			memset(m->buf + o->off, 0, m->size - o->off);
		m->size = o->off;
	}
}

/* Stages o on st; returns what the store said. */
static int st_apply(st_store *st, const struct fop *o)
{
	uint64_t seed = o->seed;
	uint8_t *p;
	int rc;

	if (o->op == OP_TRUNC)
		return st_file_truncate(st, o->off);
	p = malloc(o->len);
	ck_assert_ptr_nonnull(p);
	tu_fill(&seed, p, o->len);
	rc = st_file_write(st, o->off, p, o->len);
	free(p);
	return rc;
}

static void apply_all(st_store *st, struct fmodel *m, const struct fop *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (st)
			ck_assert_int_eq(st_apply(st, &ops[i]), ST_OK);
		if (m)
			fm_apply(m, &ops[i]);
	}
}

/* The committed content of st is exactly m. */
static void fm_verify(st_store *st, const struct fmodel *m, const char *what)
{
	uint8_t *back = malloc(m->size + 8192);
	ssize_t n;

	ck_assert_ptr_nonnull(back);
	n = st_file_read(st, 0, back, m->size + 8192);
	ck_assert_msg(n == (ssize_t)m->size, "%s: read %zd bytes, want %llu (%s)", what, n,
		      (unsigned long long)m->size, st_last_error()->msg);
	ck_assert_msg(memcmp(back, m->buf, m->size) == 0, "%s: content differs", what);
	/* A small unaligned read through the middle, too. */
	if (m->size > 10000) {
		uint64_t off = m->size / 2 - 777;
		n = st_file_read(st, off, back, 3333);
		ck_assert_int_eq(n, 3333);
		ck_assert_msg(memcmp(back, m->buf + off, 3333) == 0, "%s: unaligned read", what);
	}
	free(back);
}

/* ---- the file store under test -------------------------------------------- */

#define NBASE 4

/* Each base version, as the ops that make it from the one before. */
static const struct fop base_ops[NBASE][3] = {
    {{OP_WRITE, 0, 300 * 1024, 11}},
    {{OP_WRITE, 5000, 10000, 12}, {OP_WRITE, 1 << 20, 70001, 13}},
    {{OP_TRUNC, 900001, 0, 0}, {OP_WRITE, 4096 * 40, 4096 * 3, 14}},
    {{OP_WRITE, 123, 1, 15}, {OP_WRITE, 950000, 12345, 16}},
};

/* The commit under test: a multi-page write, an unaligned one, a truncate. */
static const struct fop next_ops[] = {
    {OP_WRITE, 4096 * 7 + 100, 200000, 21},
    {OP_WRITE, 77777, 3000, 22},
    {OP_TRUNC, 940000 + 17, 0, 0},
};
#define NNEXT (sizeof(next_ops) / sizeof(next_ops[0]))

/* What a recovered store must still be able to commit. */
static const struct fop after_ops[] = {
    {OP_WRITE, 4096 * 2 + 1, 9000, 31},
    {OP_TRUNC, 500000, 0, 0},
};
#define NAFTER (sizeof(after_ops) / sizeof(after_ops[0]))

struct fbase {
	char *path;
	struct fmodel v[NBASE + 1]; /* v[seq]: content at seq (v[0] empty) */
};

static void fbase_build(struct fbase *b)
{
	st_store *st;
	struct st_version ver;

	b->path = tu_path(tu_dir, "base.rev");
	fm_init(&b->v[0]);
	ck_assert_int_eq(st_open(b->path, ST_KIND_FILE, ST_CREATE | fault_flags, NULL, &st), ST_OK);
	for (int i = 0; i < NBASE; i++) {
		size_t n = 0;
		while (n < 3 && base_ops[i][n].op)
			n++;
		fm_copy(&b->v[i + 1], &b->v[i]);
		apply_all(st, &b->v[i + 1], base_ops[i], n);
		ck_assert_int_eq(st_commit(st, &ver), ST_OK);
		ck_assert_uint_eq(ver.seq, (uint64_t)i + 1);
		ck_assert_uint_eq(ver.size, b->v[i + 1].size);
	}
	st_close(st);
}

static void fbase_free(struct fbase *b)
{
	for (int i = 0; i <= NBASE; i++)
		fm_free(&b->v[i]);
	free(b->path);
}

/* Every version 1..top of st holds what the models say; top is current. */
static void verify_versions(st_store *st, struct fmodel *const *models, uint64_t top,
			    const char *what)
{
	struct st_version cur;

	st_current(st, &cur);
	ck_assert_msg(cur.seq == top, "%s: at seq %llu, want %llu", what,
		      (unsigned long long)cur.seq, (unsigned long long)top);
	fm_verify(st, models[top], what);
	for (uint64_t s = 1; s < top; s++) {
		st_store *old;
		ck_assert_int_eq(st_open_version(st, s, &old), ST_OK);
		fm_verify(old, models[s], what);
		st_close(old);
	}
	ck_assert_msg(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL) == ST_OK, "%s: st_check: %s", what,
		      st_last_error()->msg);
}

/* Commits after_ops on a store whose content is m, and checks the result
 * survives a reopen. */
static void commit_after(const char *path, st_store *st, const struct fmodel *m, uint64_t seq)
{
	struct fmodel next;
	struct st_version ver;

	fm_copy(&next, m);
	apply_all(st, &next, after_ops, NAFTER);
	ck_assert_int_eq(st_commit(st, &ver), ST_OK);
	ck_assert_uint_eq(ver.seq, seq + 1);
	fm_verify(st, &next, "after recovery");
	st_close(st);
	ck_assert_int_eq(st_open(path, ST_KIND_FILE, fault_flags, NULL, &st), ST_OK);
	fm_verify(st, &next, "after recovery, reopened");
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	fm_free(&next);
}

/* Calls the commit of next_ops makes when nothing fails. */
static void file_dry_run(struct fbase *b, const char *path, struct rec *d)
{
	st_store *st;

	tu_copy_file(b->path, path);
	st = open_faulty(path, ST_KIND_FILE, d);
	apply_all(st, NULL, next_ops, NNEXT);
	arm(d, TU_EIO, 0, false);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert_uint_gt(d->n, 0);
	ck_assert_uint_le(d->n, MAX_CALLS);
	ck_assert_uint_gt(last_pwrite(d), 0);
}

/* The base versions, the model of the next commit (next_ops on top),
 * every version's model in order, and a dry run of that commit's calls. */
static void file_setup(struct fbase *b, struct fmodel *next, struct fmodel **models,
		       const char *path, struct rec *dry)
{
	fbase_build(b);
	fm_copy(next, &b->v[NBASE]);
	apply_all(NULL, next, next_ops, NNEXT);
	for (int i = 0; i <= NBASE; i++)
		models[i] = &b->v[i];
	models[NBASE + 1] = next;
	file_dry_run(b, path, dry);
}

START_TEST(file_commit_faults)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	struct fbase b;
	struct fmodel next;
	struct fmodel *models[NBASE + 2];
	char *path = tu_path(tu_dir, "f.rev");
	static const enum tu_fault modes[] = {TU_EIO, TU_ENOSPC, TU_SHORT};
	struct rec dry, r;
	unsigned tried = 0;

	file_setup(&b, &next, models, path, &dry);

	for (size_t mi = 0; mi < 3; mi++) {
		for (uint64_t at = 1; at <= dry.n; at++) {
			enum tu_fault mode = modes[mi];
			bool want_err = expect_error(&dry, mode, at, true);
			bool maybe_new = flip_landed_for_good(&dry, mode, at, true);
			char what[96];
			struct st_version cur;
			st_store *st;
			int rc;

			snprintf(what, sizeof(what), "file commit, %s at call %llu of %u",
				 mode_name(mode), (unsigned long long)at, dry.n);
			tu_copy_file(b.path, path);
			st = open_faulty(path, ST_KIND_FILE, &r);
			apply_all(st, NULL, next_ops, NNEXT);
			arm(&r, mode, at, true);
			rc = st_commit(st, NULL);
			ck_assert_msg(r.f.fired, "%s: the fault never fired", what);
			if (want_err) {
				ck_assert_msg(rc == expected_code(mode),
					      "%s: st_commit gave %d (%s)", what, rc,
					      st_strerror(rc));
				ck_assert_int_eq(st_last_error()->sys_errno,
						 mode == TU_EIO ? EIO : ENOSPC);
				/* The handle itself never shows the failed commit. */
				st_current(st, &cur);
				ck_assert_uint_eq(cur.seq, NBASE);
				fm_verify(st, &b.v[NBASE], what);
			} else {
				ck_assert_msg(rc == ST_OK, "%s: st_commit gave %d", what, rc);
			}
			st_close(st);

			ck_assert_int_eq(st_open(path, ST_KIND_FILE, fault_flags, NULL, &st),
					 ST_OK);
			st_current(st, &cur);
			if (!want_err || (maybe_new && cur.seq == NBASE + 1)) {
				/* Once the marker flip is in the file and the disk
				 * stays dead, nothing can take it back: st_commit
				 * failed, yet the version is there after a reopen,
				 * as after a crash past the commit point. Either
				 * outcome is allowed then, each exactly. */
				verify_versions(st, models, NBASE + 1, what);
				commit_after(path, st, &next, NBASE + 1);
			} else {
				verify_versions(st, models, NBASE, what);
				commit_after(path, st, &b.v[NBASE], NBASE);
			}
			tried++;
		}
	}
	ck_assert_uint_eq(tried, 3 * dry.n);
	fm_free(&next);
	fbase_free(&b);
	free(path);
}
END_TEST

/* One-off faults: the same handle goes on and commits once they pass. */
START_TEST(file_commit_faults_transient)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	struct fbase b;
	struct fmodel next;
	struct fmodel *models[NBASE + 2];
	char *path = tu_path(tu_dir, "f.rev");
	static const enum tu_fault modes[] = {TU_EIO, TU_ENOSPC, TU_SHORT};
	struct rec dry, r;

	file_setup(&b, &next, models, path, &dry);

	for (size_t mi = 0; mi < 3; mi++) {
		for (uint64_t at = 1; at <= dry.n; at++) {
			enum tu_fault mode = modes[mi];
			bool want_err = expect_error(&dry, mode, at, false);
			char what[96];
			struct st_version cur, ver;
			st_store *st;
			int rc;

			snprintf(what, sizeof(what), "file commit, one-off %s at call %llu of %u",
				 mode_name(mode), (unsigned long long)at, dry.n);
			tu_copy_file(b.path, path);
			st = open_faulty(path, ST_KIND_FILE, &r);
			apply_all(st, NULL, next_ops, NNEXT);
			arm(&r, mode, at, false);
			rc = st_commit(st, &ver);
			ck_assert_msg(r.f.fired, "%s: the fault never fired", what);
			if (want_err) {
				ck_assert_msg(rc == expected_code(mode),
					      "%s: st_commit gave %d (%s)", what, rc,
					      st_strerror(rc));
				st_current(st, &cur);
				ck_assert_uint_eq(cur.seq, NBASE);
				fm_verify(st, &b.v[NBASE], what);
				ck_assert_uint_eq(st_file_size(st), b.v[NBASE].size);
				/* Faults off: the same handle commits the same changes. */
				arm(&r, mode, 0, false);
				apply_all(st, NULL, next_ops, NNEXT);
				rc = st_commit(st, &ver);
				ck_assert_msg(rc == ST_OK, "%s: retry gave %d (%s)", what, rc,
					      st_last_error()->msg);
			} else {
				ck_assert_msg(rc == ST_OK, "%s: st_commit gave %d", what, rc);
			}
			ck_assert_uint_eq(ver.seq, NBASE + 1);
			fm_verify(st, &next, what);
			ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
			st_close(st);

			ck_assert_int_eq(st_open(path, ST_KIND_FILE, fault_flags, NULL, &st),
					 ST_OK);
			verify_versions(st, models, NBASE + 1, what);
			commit_after(path, st, &next, NBASE + 1);
		}
	}
	fm_free(&next);
	fbase_free(&b);
	free(path);
}
END_TEST

/* ---- faults inside st_file_write: the buffer flush of a large write -------- */

/* A small write that sits in the writer's buffer, then one larger than the
 * buffer (4 MiB), which must flush it part way. */
static const struct fop big_ops[] = {
    {OP_WRITE, 3000, 1000, 41},
    {OP_WRITE, 12345, (5u << 20) + 777, 42},
};
#define NBIG (sizeof(big_ops) / sizeof(big_ops[0]))

/* Stages big_ops, stopping at the first failure; returns its code. */
static int stage_big(st_store *st)
{
	for (size_t i = 0; i < NBIG; i++) {
		int rc = st_apply(st, &big_ops[i]);
		if (rc != ST_OK)
			return rc;
	}
	return ST_OK;
}

static void file_write_faults(bool sticky)
{
	struct fbase b;
	struct fmodel next;
	struct fmodel *models[NBASE + 2];
	char *path = tu_path(tu_dir, "w.rev");
	static const enum tu_fault modes[] = {TU_EIO, TU_ENOSPC, TU_SHORT};
	struct rec dry, r;
	st_store *st;

	fbase_build(&b);
	fm_copy(&next, &b.v[NBASE]);
	apply_all(NULL, &next, big_ops, NBIG);
	for (int i = 0; i <= NBASE; i++)
		models[i] = &b.v[i];
	models[NBASE + 1] = &next;

	tu_copy_file(b.path, path);
	st = open_faulty(path, ST_KIND_FILE, &r);
	arm(&r, TU_EIO, 0, false);
	ck_assert_int_eq(stage_big(st), ST_OK);
	dry = r; /* before the rollback's own calls */
	ck_assert_msg(dry.n > 0, "a write past the buffer size made no write-like call");
	ck_assert_uint_le(dry.n, MAX_CALLS);
	st_rollback(st);
	st_close(st);

	for (size_t mi = 0; mi < 3; mi++) {
		for (uint64_t at = 1; at <= dry.n; at++) {
			enum tu_fault mode = modes[mi];
			bool want_err = expect_error(&dry, mode, at, sticky);
			char what[96];
			struct st_version cur, ver;
			int rc;

			snprintf(what, sizeof(what), "st_file_write, %s%s at call %llu of %u",
				 sticky ? "" : "one-off ", mode_name(mode), (unsigned long long)at,
				 dry.n);
			tu_copy_file(b.path, path);
			st = open_faulty(path, ST_KIND_FILE, &r);
			arm(&r, mode, at, sticky);
			rc = stage_big(st);
			ck_assert_msg(r.f.fired, "%s: the fault never fired", what);
			if (!want_err) {
				ck_assert_msg(rc == ST_OK, "%s: gave %d", what, rc);
				ck_assert_int_eq(st_commit(st, &ver), ST_OK);
				fm_verify(st, &next, what);
				st_close(st);
				continue;
			}
			ck_assert_msg(rc == expected_code(mode), "%s: gave %d (%s)", what, rc,
				      st_strerror(rc));
			st_current(st, &cur);
			ck_assert_uint_eq(cur.seq, NBASE);
			fm_verify(st, &b.v[NBASE], what);
			/* Records staged before the failure may have gone with the
			 * buffer, so the whole transaction is dropped. */
			ck_assert_uint_eq(st_file_size(st), b.v[NBASE].size);
			if (!sticky) {
				struct fmodel one;

				/* Nothing of the failed transaction may come back with
				 * the next commit. */
				arm(&r, mode, 0, false);
				fm_copy(&one, &b.v[NBASE]);
				apply_all(st, &one, after_ops, 1);
				ck_assert_int_eq(st_commit(st, &ver), ST_OK);
				ck_assert_uint_eq(ver.seq, NBASE + 1);
				fm_verify(st, &one, what);
				ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
				/* The same write goes through with the fault gone. */
				ck_assert_int_eq(stage_big(st), ST_OK);
				apply_all(NULL, &one, big_ops, NBIG);
				ck_assert_int_eq(st_commit(st, &ver), ST_OK);
				fm_verify(st, &one, what);
				st_close(st);
				ck_assert_int_eq(
				    st_open(path, ST_KIND_FILE, fault_flags, NULL, &st), ST_OK);
				fm_verify(st, &one, what);
				ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
				st_close(st);
				fm_free(&one);
				continue;
			}
			st_close(st);
			ck_assert_int_eq(st_open(path, ST_KIND_FILE, fault_flags, NULL, &st),
					 ST_OK);
			verify_versions(st, models, NBASE, what);
			ck_assert_int_eq(stage_big(st), ST_OK);
			ck_assert_int_eq(st_commit(st, &ver), ST_OK);
			ck_assert_uint_eq(ver.seq, NBASE + 1);
			st_close(st);
			ck_assert_int_eq(st_open(path, ST_KIND_FILE, fault_flags, NULL, &st),
					 ST_OK);
			verify_versions(st, models, NBASE + 1, what);
			st_close(st);
		}
	}
	fm_free(&next);
	fbase_free(&b);
	free(path);
}

/* A failed write drops the transaction, so the next commit may well have
 * nothing staged; "commits even when nothing changed" must hold then. */
START_TEST(empty_commit_after_failed_write)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	struct fbase b;
	char *path = tu_path(tu_dir, "e.rev");
	struct rec r;
	struct st_version ver;
	st_store *st;

	fbase_build(&b);
	tu_copy_file(b.path, path);
	st = open_faulty(path, ST_KIND_FILE, &r);
	arm(&r, TU_EIO, 1, false);
	ck_assert_int_eq(stage_big(st), ST_EIO);
	arm(&r, TU_EIO, 0, false);
	ck_assert_int_eq(st_commit(st, &ver), ST_OK);
	ck_assert_uint_eq(ver.seq, NBASE + 1);
	fm_verify(st, &b.v[NBASE], "empty commit");
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	fbase_free(&b);
	free(path);
}
END_TEST

START_TEST(file_write_faults_sticky)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	file_write_faults(true);
}
END_TEST

START_TEST(file_write_faults_transient)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	file_write_faults(false);
}
END_TEST

/* ---- the key-value store ------------------------------------------------------ */

#define NKEYS	 6000
#define KV_NBASE 3

/* The model: generation of each key, 0 when absent; a value is a function
 * of (key, generation). */
struct kmodel {
	uint16_t gen[NKEYS];
};

static size_t kv_key(unsigned i, char *out)
{
	return (size_t)snprintf(out, 16, "key/%05u", i);
}

static size_t kv_val(unsigned i, unsigned gen, uint8_t *out)
{
	uint64_t seed = (uint64_t)i << 16 | gen;
	size_t len = 1 + (i * 7u + gen * 13u) % 120;

	tu_fill(&seed, out, len);
	return len;
}

/* A deterministic batch of puts and deletes: applied to m, and staged on st
 * if not NULL. */
static void kv_mutate(st_store *st, struct kmodel *m, uint64_t seed, unsigned nput, unsigned ndel)
{
	char key[16];
	uint8_t val[128];

	for (unsigned n = 0; n < nput + ndel; n++) {
		unsigned i = (unsigned)(tu_rand(&seed) % NKEYS);
		size_t kl = kv_key(i, key);

		if (n < nput) {
			unsigned g = m->gen[i] + 1u;
			size_t vl = kv_val(i, g, val);
			m->gen[i] = (uint16_t)g;
			if (st)
				ck_assert_int_eq(st_kv_put(st, key, kl, val, vl), ST_OK);
		} else {
			m->gen[i] = 0;
			if (st)
				ck_assert_int_eq(st_kv_del(st, key, kl), ST_OK);
		}
	}
}

struct kv_walk {
	const struct kmodel *m;
	unsigned next; /* next key index to look at */
	const char *what;
};

static int kv_walk_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct kv_walk *w = arg;
	char key[16];
	uint8_t val[128];
	size_t want_kl, want_vl;

	while (w->next < NKEYS && w->m->gen[w->next] == 0)
		w->next++;
	ck_assert_msg(w->next < NKEYS, "%s: extra key %.*s", w->what, (int)kl, (const char *)k);
	want_kl = kv_key(w->next, key);
	ck_assert_msg(kl == want_kl && memcmp(k, key, kl) == 0, "%s: got key %.*s, want %s",
		      w->what, (int)kl, (const char *)k, key);
	want_vl = kv_val(w->next, w->m->gen[w->next], val);
	ck_assert_msg(vl == want_vl && memcmp(v, val, vl) == 0, "%s: bad value of %s", w->what,
		      key);
	w->next++;
	return 0;
}

static void km_verify(st_store *st, const struct kmodel *m, const char *what)
{
	struct kv_walk w = {m, 0, what};
	char key[16];
	void *v;
	size_t vl;

	ck_assert_msg(st_kv_range(st, "", 0, kv_walk_cb, &w) == ST_OK, "%s: range: %s", what,
		      st_last_error()->msg);
	while (w.next < NKEYS && m->gen[w.next] == 0)
		w.next++;
	ck_assert_msg(w.next == NKEYS, "%s: key %u missing", what, w.next);
	/* Point lookups, present and absent. */
	for (unsigned i = 0; i < NKEYS; i += 97) {
		uint8_t val[128];
		size_t kl = kv_key(i, key);
		int rc = st_kv_get(st, key, kl, &v, &vl);

		if (m->gen[i] == 0) {
			ck_assert_msg(rc == ST_ENOTFOUND, "%s: %s should be absent", what, key);
			continue;
		}
		ck_assert_msg(rc == ST_OK, "%s: get %s: %d", what, key, rc);
		ck_assert(vl == kv_val(i, m->gen[i], val) && memcmp(v, val, vl) == 0);
		free(v);
	}
}

struct kbase {
	char *path;
	struct kmodel v[KV_NBASE + 2]; /* v[seq]; v[KV_NBASE + 1]: after the commit under test */
};

static const struct {
	unsigned nput, ndel;
} kv_batches[KV_NBASE + 1] = {{NKEYS / 2, 0}, {800, 300}, {1500, 100}, {500, 250}};

static void kbase_build(struct kbase *b)
{
	st_store *st;

	b->path = tu_path(tu_dir, "kbase.rev");
	memset(&b->v[0], 0, sizeof(b->v[0]));
	ck_assert_int_eq(st_open(b->path, ST_KIND_KV, ST_CREATE | fault_flags, NULL, &st), ST_OK);
	for (int i = 0; i < KV_NBASE; i++) {
		b->v[i + 1] = b->v[i];
		kv_mutate(st, &b->v[i + 1], 100 + (uint64_t)i, kv_batches[i].nput,
			  kv_batches[i].ndel);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	st_close(st);
	b->v[KV_NBASE + 1] = b->v[KV_NBASE];
	kv_mutate(NULL, &b->v[KV_NBASE + 1], 200, kv_batches[KV_NBASE].nput,
		  kv_batches[KV_NBASE].ndel);
}

/* Stages the commit under test on a store at b's newest base version. */
static void kv_stage_next(st_store *st, const struct kbase *b)
{
	struct kmodel scratch = b->v[KV_NBASE];

	kv_mutate(st, &scratch, 200, kv_batches[KV_NBASE].nput, kv_batches[KV_NBASE].ndel);
}

static void kv_verify_versions(st_store *st, const struct kbase *b, uint64_t top, const char *what)
{
	struct st_version cur;

	st_current(st, &cur);
	ck_assert_msg(cur.seq == top, "%s: at seq %llu, want %llu", what,
		      (unsigned long long)cur.seq, (unsigned long long)top);
	km_verify(st, &b->v[top], what);
	for (uint64_t s = 1; s < top; s++) {
		st_store *old;
		ck_assert_int_eq(st_open_version(st, s, &old), ST_OK);
		km_verify(old, &b->v[s], what);
		st_close(old);
	}
	ck_assert_msg(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL) == ST_OK, "%s: st_check: %s", what,
		      st_last_error()->msg);
}

/* A recovered kv store at version seq (content m) must take a new commit. */
static void kv_commit_after(const char *path, st_store *st, const struct kmodel *m, uint64_t seq)
{
	struct kmodel after = *m;
	struct st_version ver;

	kv_mutate(st, &after, 300, 200, 50);
	ck_assert_int_eq(st_commit(st, &ver), ST_OK);
	ck_assert_uint_eq(ver.seq, seq + 1);
	km_verify(st, &after, "kv after recovery");
	st_close(st);
	ck_assert_int_eq(st_open(path, ST_KIND_KV, fault_flags, NULL, &st), ST_OK);
	km_verify(st, &after, "kv after recovery, reopened");
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
}

static void kv_commit_faults(bool sticky)
{
	static struct kbase b; /* large: off the stack */
	char *path = tu_path(tu_dir, "k.rev");
	static const enum tu_fault modes[] = {TU_EIO, TU_ENOSPC, TU_SHORT};
	struct rec dry, r;
	st_store *st;

	kbase_build(&b);
	tu_copy_file(b.path, path);
	st = open_faulty(path, ST_KIND_KV, &dry);
	kv_stage_next(st, &b);
	arm(&dry, TU_EIO, 0, false);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert_uint_gt(dry.n, 0);
	ck_assert_uint_le(dry.n, MAX_CALLS);

	for (size_t mi = 0; mi < 3; mi++) {
		for (uint64_t at = 1; at <= dry.n; at++) {
			enum tu_fault mode = modes[mi];
			bool want_err = expect_error(&dry, mode, at, sticky);
			bool maybe_new = flip_landed_for_good(&dry, mode, at, sticky);
			char what[96];
			struct st_version cur;
			int rc;

			snprintf(what, sizeof(what), "kv commit, %s%s at call %llu of %u",
				 sticky ? "" : "one-off ", mode_name(mode), (unsigned long long)at,
				 dry.n);
			tu_copy_file(b.path, path);
			st = open_faulty(path, ST_KIND_KV, &r);
			kv_stage_next(st, &b);
			arm(&r, mode, at, sticky);
			rc = st_commit(st, NULL);
			ck_assert_msg(r.f.fired, "%s: the fault never fired", what);
			if (want_err) {
				ck_assert_msg(rc == expected_code(mode),
					      "%s: st_commit gave %d (%s)", what, rc,
					      st_strerror(rc));
				st_current(st, &cur);
				ck_assert_uint_eq(cur.seq, KV_NBASE);
				/* The failed commit's puts are still staged, for the
				 * next commit to retry. */
				km_verify(st, &b.v[KV_NBASE + 1], what);
				if (!sticky) {
					arm(&r, mode, 0, false);
					rc = st_commit(st, NULL);
					ck_assert_msg(rc == ST_OK, "%s: retry gave %d (%s)", what,
						      rc, st_last_error()->msg);
					km_verify(st, &b.v[KV_NBASE + 1], what);
				}
			} else {
				ck_assert_msg(rc == ST_OK, "%s: st_commit gave %d", what, rc);
			}
			st_close(st);

			ck_assert_int_eq(st_open(path, ST_KIND_KV, fault_flags, NULL, &st), ST_OK);
			st_current(st, &cur);
			if (!want_err || !sticky || (maybe_new && cur.seq == KV_NBASE + 1)) {
				kv_verify_versions(st, &b, KV_NBASE + 1, what);
				kv_commit_after(path, st, &b.v[KV_NBASE + 1], KV_NBASE + 1);
			} else {
				kv_verify_versions(st, &b, KV_NBASE, what);
				kv_commit_after(path, st, &b.v[KV_NBASE], KV_NBASE);
			}
		}
	}
	free(b.path);
	free(path);
}

START_TEST(kv_commit_faults_sticky)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	kv_commit_faults(true);
}
END_TEST

START_TEST(kv_commit_faults_transient)
{
	fault_flags = _i ? ST_ONESYNC : 0;
	kv_commit_faults(false);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, file_commit_faults, 0, 2);
	tcase_add_loop_test(tc, file_commit_faults_transient, 0, 2);
	tcase_add_loop_test(tc, file_write_faults_sticky, 0, 2);
	tcase_add_loop_test(tc, file_write_faults_transient, 0, 2);
	tcase_add_loop_test(tc, empty_commit_after_failed_write, 0, 2);
	tcase_add_loop_test(tc, kv_commit_faults_sticky, 0, 2);
	tcase_add_loop_test(tc, kv_commit_faults_transient, 0, 2);
}

int main(void)
{
	return tu_main("fault", 300, add_tests, NULL);
}
