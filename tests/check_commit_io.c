/*
 * check_commit_io.c - what a commit asks of the disk, through a counting
 * st_ops table: the writeback hints of a large commit (every byte hinted
 * once, in order, never past what was written, none without syncs, and a
 * failing hint fails nothing), and the node cache (a commit of a few
 * random pages into a large tree reads its nodes from memory, not from
 * the file). And the reserve of zeros that small commits keep ahead of
 * the tail: where it is, that nothing reads it, that closing cuts it.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define MIB (1024u * 1024u)

struct counting {
	unsigned preads;
	unsigned hints;
	uint64_t hinted_to; /* end of the last hinted range */
	bool hint_gap;	    /* a hint did not start where the last one ended */
	bool hint_past;	    /* a hint went past the file's size */
	bool hint_fails;    /* make every hint fail with EIO */
	unsigned syncs;	    /* fdatasyncs */
	unsigned flips;	    /* one-byte writes at a block start: marker flips */
};

static int co_fdatasync(void *ctx, int fd)
{
	((struct counting *)ctx)->syncs++;
	return st_posix_ops.fdatasync(NULL, fd);
}

static ssize_t co_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	if (len == 1 && off % 4096 == 0)
		((struct counting *)ctx)->flips++;
	return st_posix_ops.pwrite(NULL, fd, buf, len, off);
}

static ssize_t co_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	((struct counting *)ctx)->preads++;
	return st_posix_ops.pread(NULL, fd, buf, len, off);
}

static int co_writeback(void *ctx, int fd, off_t off, off_t len)
{
	struct counting *c = ctx;
	struct stat sb;

	c->hints++;
	if (c->hinted_to && (uint64_t)off != c->hinted_to)
		c->hint_gap = true;
	if (fstat(fd, &sb) != 0 || off + len > sb.st_size)
		c->hint_past = true;
	c->hinted_to = (uint64_t)(off + len);
	if (c->hint_fails) {
		errno = EIO;
		return -1;
	}
	return st_posix_ops.writeback(NULL, fd, off, len);
}

/* st_posix_ops with the two counting calls; every other op ignores ctx. */
static struct st_ops counting_ops(void)
{
	struct st_ops o = st_posix_ops;

	o.pread = co_pread;
	o.writeback = co_writeback;
	o.fdatasync = co_fdatasync;
	o.pwrite = co_pwrite;
	return o;
}

static void write_commit_check(int flags, struct counting *c, uint64_t total)
{
	char *p = tu_path(tu_dir, "w.rev");
	struct st_ops ops = counting_ops();
	struct st_open_opts oo = {.ops = &ops, .ops_ctx = c};
	uint8_t *buf = malloc(MIB), *back = malloc(MIB);
	uint64_t seed = 7;
	st_store *st;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | flags, &oo, &st), ST_OK);
	for (uint64_t off = 0; off < total; off += MIB) {
		tu_fill(&seed, buf, MIB);
		ck_assert_int_eq(st_file_write(st, off, buf, MIB), ST_OK);
	}
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	/* Whatever the hints did, the data is all there after a reopen. */
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	seed = 7;
	for (uint64_t off = 0; off < total; off += MIB) {
		tu_fill(&seed, buf, MIB);
		ck_assert_int_eq(st_file_read(st, off, back, MIB), (ssize_t)MIB);
		ck_assert(memcmp(buf, back, MIB) == 0);
	}
	st_close(st);
	free(buf);
	free(back);
	free(p);
}

START_TEST(large_commit_hints_writeback)
{
	struct counting c = {0};
	uint64_t total = 40ull * MIB;

	write_commit_check(0, &c, total);
	/* Every 8 MiB or so: at least four hints, contiguous, behind the tail. */
	ck_assert_uint_ge(c.hints, 4);
	ck_assert(!c.hint_gap);
	ck_assert(!c.hint_past);
	ck_assert_uint_ge(c.hinted_to, total - 8ull * MIB);
	ck_assert_uint_le(c.hinted_to, total + total / 64);
}
END_TEST

START_TEST(no_hints_without_syncs)
{
	struct counting c = {0};

	write_commit_check(ST_NOSYNC, &c, 24ull * MIB);
	ck_assert_uint_eq(c.hints, 0);
}
END_TEST

START_TEST(failing_hint_fails_nothing)
{
	struct counting c = {.hint_fails = true};

	write_commit_check(0, &c, 24ull * MIB);
	ck_assert_uint_ge(c.hints, 2);
}
END_TEST

/*
 * 8192 one-page extents (a tree of about a hundred nodes, several to a
 * block), then commits of 32 random pages each. The nodes a commit reads
 * are the ones the commits before it wrote or read, all in the cache: a
 * few misses from slot collisions at most, never one per node.
 */
START_TEST(random_commits_read_nodes_from_cache)
{
	char *p = tu_path(tu_dir, "r.rev");
	struct counting c = {0};
	struct st_ops ops = counting_ops();
	struct st_open_opts oo = {.ops = &ops, .ops_ctx = &c};
	uint8_t page[4096];
	uint64_t seed = 11;
	unsigned reads = 0;
	st_store *st;
	int commits = 20;

	memset(page, 0x3c, sizeof(page));
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, &oo, &st), ST_OK);
	for (uint64_t i = 0; i < 8192; i++)
		ck_assert_int_eq(st_file_write(st, 2 * i * sizeof(page), page, sizeof(page)),
				 ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	for (int r = 0; r < commits + 2; r++) {
		for (int k = 0; k < 32; k++) {
			uint64_t pg = tu_rand(&seed) % 16384;

			ck_assert_int_eq(st_file_write(st, pg * sizeof(page), page, sizeof(page)),
					 ST_OK);
		}
		c.preads = 0;
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		if (r >= 2) /* the first ones may read what the bulk load evicted */
			reads += c.preads;
	}
	st_close(st);
	/* A node read is two preads (its length, then the whole record); a
	 * commit touches about 30 leaves and their parents. */
	ck_assert_uint_le(reads, 4u * (unsigned)commits);
	free(p);
}
END_TEST

/* The store file's size, from the file itself. */
static uint64_t fsize(const char *p)
{
	struct stat sb;

	ck_assert_int_eq(stat(p, &sb), 0);
	return (uint64_t)sb.st_size;
}

/* Whether bytes [from, to) of the file are all zero. */
static bool zeros(const char *p, uint64_t from, uint64_t to)
{
	FILE *f = fopen(p, "rb");
	bool ok = f != NULL && fseeko(f, (off_t)from, SEEK_SET) == 0;
	int c;

	for (uint64_t i = from; ok && i < to; i++)
		ok = (c = fgetc(f)) == 0;
	if (f)
		fclose(f);
	return ok;
}

#define HDR_END(v) ((v).offset + 137) /* a header record ends 137 bytes in */

/*
 * Small commits in a row (the first two do not count): the file then holds
 * zeros past the newest header, durable with it, that the next commits
 * overwrite. Every version reads back, also from a copy of the file taken
 * with the reserve in place (a crash), the reserve is not garbage to
 * st_info, and st_close cuts it off.
 */
START_TEST(small_commits_keep_a_reserve)
{
	char *p = tu_path(tu_dir, "s.rev"), *crash = tu_path(tu_dir, "crash.rev");
	struct st_version v[12];
	uint8_t page[4096], back[4096];
	struct st_info info;
	st_store *st;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	for (int i = 0; i < 12; i++) {
		memset(page, 'a' + i, sizeof(page));
		ck_assert_int_eq(st_file_write(st, (uint64_t)i * 512, page, 512), ST_OK);
		ck_assert_int_eq(st_commit(st, &v[i]), ST_OK);
		if (i < 1) /* not yet two small commits in a row */
			ck_assert_uint_eq(fsize(p), HDR_END(v[i]));
	}
	/* Some of the 256 KiB reserve left past the newest header, all zeros. */
	ck_assert_uint_ge(fsize(p), HDR_END(v[11]) + 128 * 1024);
	ck_assert(zeros(p, HDR_END(v[11]), fsize(p)));
	ck_assert_int_eq(st_info(st, &info), ST_OK);
	ck_assert_uint_eq(info.file_bytes, fsize(p));
	/* Garbage is counted up to the newest header's end, not the reserve. */
	ck_assert_double_eq_tol(info.fragmentation,
				1.0 - (double)info.live_bytes / (double)HDR_END(v[11]), 1e-9);
	tu_copy_file(p, crash);
	st_close(st);
	ck_assert_uint_eq(fsize(p), HDR_END(v[11]));

	/* The copy reads as the store did: the zeros are an ignored tail. */
	ck_assert_int_eq(st_open(crash, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	for (int i = 0; i < 12; i++) {
		st_store *old;

		ck_assert_int_eq(st_open_version(st, v[i].seq, &old), ST_OK);
		ck_assert_uint_eq(st_file_size(old), (uint64_t)(i + 1) * 512);
		ck_assert_int_eq(st_file_read(old, (uint64_t)i * 512, back, 512), 512);
		memset(page, 'a' + i, 512);
		ck_assert(memcmp(page, back, 512) == 0);
		st_close(old);
	}
	st_close(st);
	/* A writable open trims it and commits after the newest header. */
	ck_assert_int_eq(st_open(crash, ST_KIND_FILE, 0, NULL, &st), ST_OK);
	ck_assert_uint_eq(fsize(crash), HDR_END(v[11]));
	ck_assert_int_eq(st_file_write(st, 0, "z", 1), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, back, 2), 2);
	ck_assert(back[0] == 'z' && back[1] == 'a');
	st_close(st);
	free(p);
	free(crash);
}
END_TEST

/* No reserve for large commits, nor without syncs. */
START_TEST(no_reserve_for_large_or_unsynced_commits)
{
	char *p = tu_path(tu_dir, "l.rev"), *q = tu_path(tu_dir, "n.rev");
	size_t big = 2u * MIB;
	uint8_t *buf = calloc(1, big);
	struct st_version v;
	st_store *st;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(st_file_write(st, (uint64_t)i * big, buf, big), ST_OK);
		ck_assert_int_eq(st_commit(st, &v), ST_OK);
		ck_assert_uint_eq(fsize(p), HDR_END(v));
	}
	st_close(st);
	ck_assert_int_eq(st_open(q, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(st_file_write(st, (uint64_t)i, "x", 1), ST_OK);
		ck_assert_int_eq(st_commit(st, &v), ST_OK);
		ck_assert_uint_eq(fsize(q), HDR_END(v));
	}
	st_close(st);
	free(buf);
	free(p);
	free(q);
}
END_TEST

/* One small commit of 512 bytes of c at off; returns st_commit's code. */
static int small_commit(st_store *st, uint64_t off, int c)
{
	uint8_t b[512];

	memset(b, c, sizeof(b));
	ck_assert_int_eq(st_file_write(st, off, b, sizeof(b)), ST_OK);
	return st_commit(st, NULL);
}

/*
 * The commit that writes the reserve, failed at each of its write-like
 * calls, once or for good: a failed reserve write fails nothing (the
 * commit goes on with what is reserved), any other failure fails the
 * commit; either way the store reopens at a complete version that is
 * the one st_commit said, or, a failure after the flip, the new one.
 */
START_TEST(reserve_faults)
{
	char *p = tu_path(tu_dir, "f.rev");
	struct tu_faults f = {0};
	struct st_open_opts oo = {.ops = &tu_fault_ops, .ops_ctx = &f};
	uint64_t before, calls;
	unsigned ok_despite_fault = 0;
	uint8_t back[1024], want[1024];
	st_store *st;

	/* Dry run: the calls of the second commit, the one that reserves. */
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, &oo, &st), ST_OK);
	ck_assert_int_eq(small_commit(st, 0, 'a'), ST_OK);
	before = f.count;
	ck_assert_int_eq(small_commit(st, 512, 'b'), ST_OK);
	calls = f.count - before;
	ck_assert_uint_ge(fsize(p), 256 * 1024);
	st_close(st);
	ck_assert_uint_gt(calls, 4); /* data, zeros, syncs, flip */

	for (int sticky = 0; sticky < 2; sticky++)
		for (uint64_t k = 1; k <= calls; k++) {
			struct st_version v;
			int rc;

			unlink(p);
			memset(&f, 0, sizeof(f));
			ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, &oo, &st), ST_OK);
			ck_assert_int_eq(small_commit(st, 0, 'a'), ST_OK);
			f.fail_at = f.count + k;
			f.mode = TU_EIO;
			f.sticky = sticky;
			rc = small_commit(st, 512, 'b');
			st_close(st);
			ck_assert(f.fired);
			ok_despite_fault += rc == ST_OK;

			ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
			st_current(st, &v);
			if (rc == ST_OK)
				ck_assert_uint_eq(v.seq, 2);
			else
				ck_assert(v.seq == 1 || (sticky && v.seq == 2));
			memset(want, 'a', 512);
			memset(want + 512, 'b', 512);
			ck_assert_uint_eq(st_file_size(st), v.seq * 512);
			ck_assert_int_eq(st_file_read(st, 0, back, v.seq * 512),
					 (ssize_t)(v.seq * 512));
			ck_assert(memcmp(back, want, v.seq * 512) == 0);
			ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
			st_close(st);
		}
	/* The zeros are written in pieces: failing one of them, once, is
	 * a commit that succeeds. */
	ck_assert_uint_gt(ok_despite_fault, 0);
	free(p);
}
END_TEST

/*
 * ST_ONESYNC: a commit of up to 8 MiB makes one fdatasync and flips
 * nothing; a larger one flips its marker between two. A group of one-sync
 * commits with each store's own syncs makes one per store. Without the
 * flag every commit makes two.
 */
START_TEST(one_sync_commits_sync_once)
{
	static uint8_t big[12u << 20];
	struct st_ops ops = counting_ops();
	struct counting c = {0};
	struct st_open_opts oo = {.ops = &ops, .ops_ctx = &c};
	st_store *sts[3];
	int rcs[3];

	for (int i = 0; i < 3; i++) {
		char name[32];
		char *p;

		snprintf(name, sizeof(name), "o%d.rev", i);
		p = tu_path(tu_dir, name);
		ck_assert_int_eq(
		    st_open(p, ST_KIND_FILE, ST_CREATE | (i < 2 ? ST_ONESYNC : 0), &oo, &sts[i]),
		    ST_OK);
		free(p);
	}
	c.syncs = c.flips = 0;
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(st_file_write(sts[0], (uint64_t)i * 4096, big, 4096), ST_OK);
		ck_assert_int_eq(st_commit(sts[0], NULL), ST_OK);
	}
	ck_assert_uint_eq(c.syncs, 10);
	ck_assert_uint_eq(c.flips, 0);
	c.syncs = 0;
	ck_assert_int_eq(st_file_write(sts[0], 0, big, sizeof(big)), ST_OK);
	ck_assert_int_eq(st_commit(sts[0], NULL), ST_OK);
	ck_assert_uint_eq(c.syncs, 2);
	ck_assert_uint_eq(c.flips, 1);
	c.syncs = c.flips = 0;
	ck_assert_int_eq(st_file_write(sts[2], 0, big, 4096), ST_OK);
	ck_assert_int_eq(st_commit(sts[2], NULL), ST_OK);
	ck_assert_uint_eq(c.syncs, 2);
	ck_assert_uint_eq(c.flips, 1);
	c.syncs = c.flips = 0;
	ck_assert_uint_eq(st_commit_group(sts, 2, NULL, rcs, NULL), 2);
	ck_assert_uint_eq(c.syncs, 2);
	ck_assert_uint_eq(c.flips, 0);
	/* A group with a two-sync store: the second sync point is its alone. */
	c.syncs = c.flips = 0;
	ck_assert_uint_eq(st_commit_group(sts, 3, NULL, rcs, NULL), 3);
	ck_assert_uint_eq(c.syncs, 4);
	ck_assert_uint_eq(c.flips, 1);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(st_check(sts[i], ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
		st_close(sts[i]);
	}
}
END_TEST

static void add(TCase *tc)
{
	tcase_add_test(tc, one_sync_commits_sync_once);
	tcase_add_test(tc, reserve_faults);
	tcase_add_test(tc, small_commits_keep_a_reserve);
	tcase_add_test(tc, no_reserve_for_large_or_unsynced_commits);
	tcase_add_test(tc, large_commit_hints_writeback);
	tcase_add_test(tc, no_hints_without_syncs);
	tcase_add_test(tc, failing_hint_fails_nothing);
	tcase_add_test(tc, random_commits_read_nodes_from_cache);
}

int main(void)
{
	return tu_main("commit_io", 120, add, NULL);
}
