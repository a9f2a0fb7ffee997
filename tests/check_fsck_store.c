/*
 * check_fsck_store.c - what fsck asks of store/ beyond the daemon's needs:
 * st_rewind, which makes an older version a store's newest by copying the
 * file's prefix to "<store>.fsck" and renaming it over the store. Checked:
 * the versions and bytes that remain, a damaged newest header found with
 * ST_RECOVER and cut off, refusals (writable handle, missing version), and
 * a failure at every write-like step, after which the store is the old
 * file or the rewound one, each whole, and no temp file is left.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define EXPECT_EQ(a, b)                                                                            \
	do {                                                                                       \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                   \
		if (a_ != b_)                                                                      \
			ck_abort_msg("%s:%d: %s == %jd, %s == %jd (%s)", __FILE__, __LINE__, #a,   \
				     a_, #b, b_, st_last_error()->msg);                            \
	} while (0)

/* Makes a file store with versions 0..4; version k holds k * 5000 bytes of
 * the byte 'a' + k. Returns the path (malloc()ed). */
static char *make_store(void)
{
	char *path = tu_path(tu_dir, "f.rev");
	uint8_t buf[20000];
	st_store *st;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	for (int k = 1; k <= 4; k++) {
		memset(buf, 'a' + k, sizeof(buf));
		EXPECT_EQ(st_file_write(st, 0, buf, (size_t)k * 5000), ST_OK);
		EXPECT_EQ(st_commit(st, NULL), ST_OK);
	}
	st_close(st);
	return path;
}

/* The store at path opens without recovery at version seq with its bytes. */
static void expect_version(const char *path, uint64_t seq)
{
	uint8_t buf[20000];
	struct st_version v;
	st_store *st;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	st_current(st, &v);
	EXPECT_EQ(v.seq, seq);
	EXPECT_EQ(v.size, seq * 5000);
	EXPECT_EQ(st_file_read(st, 0, buf, sizeof(buf)), (ssize_t)(seq * 5000));
	for (size_t i = 0; i < seq * 5000; i++)
		if (buf[i] != 'a' + seq)
			ck_abort_msg("version %ju: byte %zu is %d", (uintmax_t)seq, i, buf[i]);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	EXPECT_EQ(tu_file_size(path), v.offset + 137);
	st_close(st);
}

static void expect_no_temp(const char *path)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s.fsck", path);
	if (access(tmp, F_OK) == 0)
		ck_abort_msg("%s left behind", tmp);
}

START_TEST(rewind_to_older)
{
	char *path = make_store();
	st_store *st;
	int n = 0;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_rewind(st, 2), ST_OK);
	st_close(st);
	expect_version(path, 2);
	expect_no_temp(path);
	/* The older versions are still there, and a writer goes on from 2. */
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	EXPECT_EQ(st_file_write(st, 0, "z", 1), ST_OK);
	EXPECT_EQ(st_commit(st, NULL), ST_OK);
	st_close(st);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	for (uint64_t s = 0; s <= 3; s++) {
		st_store *v;

		EXPECT_EQ(st_open_version(st, s, &v), ST_OK);
		st_close(v);
		n++;
	}
	EXPECT_EQ(n, 4);
	st_close(st);
	free(path);
}
END_TEST

START_TEST(rewind_refusals)
{
	char *path = make_store();
	st_store *st;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	EXPECT_EQ(st_rewind(st, 2), ST_EINVAL);
	st_close(st);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_rewind(st, 9), ST_ENOTFOUND);
	st_close(st);
	expect_version(path, 4);
	expect_no_temp(path);
	free(path);
}
END_TEST

/* A damaged newest header: found by ST_RECOVER, then cut off for good. */
START_TEST(rewind_past_damaged_header)
{
	char *path = make_store();
	struct st_version v;
	st_store *st;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	st_current(st, &v);
	st_close(st);
	tu_flip_bit(path, v.offset + 40, 3);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_ECORRUPT);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY | ST_RECOVER, NULL, &st), ST_OK);
	st_current(st, &v);
	EXPECT_EQ(v.seq, 3);
	EXPECT_EQ(st_rewind(st, v.seq), ST_OK);
	st_close(st);
	expect_version(path, 3);
	free(path);
}
END_TEST

/* A tail after the newest header (an uncommitted append) is dropped. */
START_TEST(rewind_trims_tail)
{
	char *path = make_store();
	char buf[100];
	FILE *f;
	st_store *st;

	memset(buf, 'q', sizeof(buf));
	f = fopen(path, "ab");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_rewind(st, 4), ST_OK);
	st_close(st);
	expect_version(path, 4);
	free(path);
}
END_TEST

/* st_tail: what follows the newest header, and whether it is a reserve
 * of zeros (no damage) or anything else (the start of a torn commit). */
START_TEST(tail_zeros_or_not)
{
	char *path = make_store();
	char buf[9000];
	uint64_t len = 1;
	bool zeros = false;
	FILE *f;
	st_store *st;

	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_tail(st, &len, &zeros), ST_OK);
	EXPECT_EQ(len, 0);
	ck_assert(zeros);
	st_close(st);
	/* A reserve: zeros past the end, across several reads. */
	memset(buf, 0, sizeof(buf));
	f = fopen(path, "ab");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_tail(st, &len, &zeros), ST_OK);
	EXPECT_EQ(len, sizeof(buf));
	ck_assert(zeros);
	st_close(st);
	/* One byte that is not zero, at the very end: not a reserve. */
	f = fopen(path, "ab");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputc(1, f), 1);
	fclose(f);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	EXPECT_EQ(st_tail(st, &len, &zeros), ST_OK);
	EXPECT_EQ(len, sizeof(buf) + 1);
	ck_assert(!zeros);
	st_close(st);
	free(path);
}
END_TEST

/* Every write-like step fails in turn (and everything after it, as in a
 * crash): the store is then the old file or the rewound one. */
START_TEST(rewind_faults)
{
	char *path = make_store(), *orig = tu_path(tu_dir, "orig.rev");
	int done = 0;

	tu_copy_file(path, orig);
	for (uint64_t at = 1; !done && at < 200; at++) {
		struct tu_faults fl = {.fail_at = at, .mode = TU_EIO, .sticky = true};
		struct st_open_opts o = {.ops = &tu_fault_ops, .ops_ctx = &fl};
		struct st_version v;
		st_store *st;
		int rc;

		tu_copy_file(orig, path);
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, &o, &st), ST_OK);
		rc = st_rewind(st, 1);
		st_close(st);
		done = !fl.fired;
		if (done)
			EXPECT_EQ(rc, ST_OK);
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
		st_current(st, &v);
		st_close(st);
		if (rc == ST_OK || v.seq == 1)
			expect_version(path, 1);
		else
			expect_version(path, 4);
	}
	ck_assert_msg(done, "st_rewind never got through");
	free(orig);
	free(path);
}
END_TEST

/* Flips the first byte of a run of 64 c's in the file, the first one at
 * or after the first run plus skip bytes. */
static void flip_run(const char *path, int c, size_t skip)
{
	uint8_t run[64], *buf = malloc(1 << 20);
	FILE *f = fopen(path, "r+b");
	size_t n;
	uint8_t *p;

	ck_assert(buf && f);
	memset(run, c, sizeof(run));
	n = fread(buf, 1, 1 << 20, f);
	p = memmem(buf, n, run, sizeof(run));
	ck_assert_msg(p, "no run of %c", c);
	p = memmem(p + skip, n - (size_t)(p + skip - buf), run, sizeof(run));
	ck_assert_msg(p, "no run of %c past %zu", c, skip);
	fseek(f, (long)(p - buf), SEEK_SET);
	fputc(c ^ 0xff, f);
	fclose(f);
	free(buf);
}

/* st_check with ST_CHECK_ALL reads data shared by many versions once
 * (fsck -f): what it skips must never hide damage. Version 1 writes four
 * pages, 2 rewrites page 3, 3 rewrites page 0: a flip in data only
 * version 1 still uses, or in data every version shares, is found. */
START_TEST(check_all_shared_data)
{
	static const int fill[3][2] = {{0, 'P'}, {3, 'Q'}, {0, 'R'}};
	char *path = tu_path(tu_dir, "s.rev");
	uint8_t page[ST_PAGE_SIZE];
	st_store *st;

	for (int damage = 0; damage < 3; damage++) {
		unlink(path);
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
		for (int v = 0; v < 3; v++) {
			memset(page, fill[v][1], sizeof(page));
			for (int i = 0; i < (v == 0 ? 4 : 1); i++)
				EXPECT_EQ(st_file_write(st,
							(uint64_t)(fill[v][0] + i) * ST_PAGE_SIZE,
							page, sizeof(page)),
					  ST_OK);
			/* Version 1's page 3 is 'S', so 2's 'Q' is only its own. */
			if (v == 0) {
				memset(page, 'S', sizeof(page));
				EXPECT_EQ(st_file_write(st, 3 * ST_PAGE_SIZE, page, sizeof(page)),
					  ST_OK);
			}
			EXPECT_EQ(st_commit(st, NULL), ST_OK);
		}
		st_close(st);
		if (damage == 1)
			flip_run(path, 'S', 0); /* only version 1 reads it */
		else if (damage == 2)
			flip_run(path, 'P', ST_PAGE_SIZE + 64); /* page 1: every version */
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA), damage == 2 ? ST_ECORRUPT : ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), damage ? ST_ECORRUPT : ST_OK);
		st_close(st);
	}
	free(path);
}
END_TEST

/* Bytes read through the store's pread, for the tests below. */
static uint64_t bytes_read;

static ssize_t counting_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	ssize_t r = st_posix_ops.pread(ctx, fd, buf, len, off);

	if (r > 0)
		bytes_read += (uint64_t)r;
	return r;
}

/* The offset in the file at path of the first run of bytes equal to pat. */
static uint64_t find_bytes(const char *path, const void *pat, size_t len)
{
	FILE *f = fopen(path, "rb");
	uint64_t size = tu_file_size(path), at = 0;
	uint8_t *buf = malloc(size);

	ck_assert(f && buf);
	ck_assert_uint_eq(fread(buf, 1, size, f), size);
	fclose(f);
	while (at + len <= size && memcmp(buf + at, pat, len))
		at++;
	ck_assert_msg(at + len <= size, "pattern not found in %s", path);
	free(buf);
	return at;
}

/* One data record that each later version cuts into more extents (as a
 * file rewritten a slice at a time): a check of every version reads and
 * verifies it once, not once per version (about 10 times the file). */
START_TEST(check_all_reads_once)
{
	char *path = tu_path(tu_dir, "once.rev");
	static uint8_t buf[256 * ST_PAGE_SIZE];
	struct st_ops ops = st_posix_ops;
	struct st_open_opts opts = {.ops = &ops};
	uint64_t size;
	st_store *st;

	ops.pread = counting_pread;
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	memset(buf, 'x', sizeof(buf));
	EXPECT_EQ(st_file_write(st, 0, buf, sizeof(buf)), ST_OK);
	EXPECT_EQ(st_commit(st, NULL), ST_OK);
	for (int v = 1; v < 10; v++) {
		EXPECT_EQ(st_file_write(st, (uint64_t)v * 25 * ST_PAGE_SIZE, "y", 1), ST_OK);
		EXPECT_EQ(st_commit(st, NULL), ST_OK);
	}
	st_close(st);
	size = tu_file_size(path);
	EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, &opts, &st), ST_OK);
	bytes_read = 0;
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	ck_assert_msg(bytes_read <= size + size / 8, "read %llu bytes of a %llu-byte store",
		      (unsigned long long)bytes_read, (unsigned long long)size);
	ck_assert_uint_ge(bytes_read, 256 * ST_PAGE_SIZE);
	st_close(st);
	free(path);
}
END_TEST

/*
 * A tree of many leaves, shared by six versions, each of which replaces
 * one leaf: a check of every version walks a shared subtree once. Damage
 * in the leaf only version 1 reaches is found by that walk (and not by a
 * check of the newest); damage in a leaf all share, by both.
 */
START_TEST(check_all_shared_nodes)
{
	char *path = tu_path(tu_dir, "nodes.rev");
	uint8_t page[ST_PAGE_SIZE], key[8] = {0};
	st_store *st;

	memset(page, 'x', sizeof(page));
	for (int damage = 0; damage < 3; damage++) {
		unlink(path);
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
		/* Every other page: one extent each, about 1,500 in 15 leaves. */
		for (uint64_t p = 0; p < 3000; p += 2)
			EXPECT_EQ(st_file_write(st, p * ST_PAGE_SIZE, page, 100), ST_OK);
		EXPECT_EQ(st_commit(st, NULL), ST_OK);
		for (uint64_t v = 1; v <= 5; v++) {
			EXPECT_EQ(st_file_write(st, v * 500 * ST_PAGE_SIZE + 2, "y", 1), ST_OK);
			EXPECT_EQ(st_commit(st, NULL), ST_OK);
		}
		st_close(st);
		/* A key's first copy is in version 1's leaf (written first). Page
		 * 500 is replaced in version 2; page 2802 never is. */
		key[6] = damage == 1 ? 0x01 : 0x0a;
		key[7] = damage == 1 ? 0xf4 : 0xf2;
		if (damage)
			tu_flip_bit(path, find_bytes(path, key, sizeof(key)) + 10, 3);
		EXPECT_EQ(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA), damage == 2 ? ST_ECORRUPT : ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), damage ? ST_ECORRUPT : ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_ALL), damage ? ST_ECORRUPT : ST_OK);
		st_close(st);
	}
	free(path);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, check_all_reads_once);
	tcase_add_test(tc, check_all_shared_nodes);
	tcase_add_test(tc, check_all_shared_data);
	tcase_add_test(tc, rewind_to_older);
	tcase_add_test(tc, rewind_refusals);
	tcase_add_test(tc, rewind_past_damaged_header);
	tcase_add_test(tc, rewind_trims_tail);
	tcase_add_test(tc, tail_zeros_or_not);
	tcase_add_test(tc, rewind_faults);
}

int main(void)
{
	return tu_main("fsck_store", 60, add_tests, NULL);
}
