/*
 * check_commit_io.c - what a commit asks of the disk, through a counting
 * st_ops table: the writeback hints of a large commit (every byte hinted
 * once, in order, never past what was written, none without syncs, and a
 * failing hint fails nothing), and the node cache (a commit of a few
 * random pages into a large tree reads its nodes from memory, not from
 * the file).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define MIB (1024u * 1024u)

struct counting {
	unsigned preads;
	unsigned hints;
	uint64_t hinted_to; /* end of the last hinted range */
	bool hint_gap;	    /* a hint did not start where the last one ended */
	bool hint_past;	    /* a hint went past the file's size */
	bool hint_fails;    /* make every hint fail with EIO */
};

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

static void add(TCase *tc)
{
	tcase_add_test(tc, large_commit_hints_writeback);
	tcase_add_test(tc, no_hints_without_syncs);
	tcase_add_test(tc, failing_hint_fails_nothing);
	tcase_add_test(tc, random_commits_read_nodes_from_cache);
}

int main(void)
{
	return tu_main("commit_io", 120, add, NULL);
}
