/*
 * check_inline.c - inline content (ST_INLINE, docs/FORMAT.md section 7):
 * a small file and its attributes live in the commit's header, so that a
 * small file's store is one block; every version reads back as written,
 * across growth past the limit and back, compaction (plain, sealed, and
 * sealed by the compaction itself), reopening, and handles opened without
 * the flag; a torn area is a torn commit, and damage to a known one is
 * an error, never an older version.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

#define LIMIT 3891 /* ST_INLINE's content limit */

static struct st_key key_a = {{0x1a, 0x2b, 0x3c}};

/* What one commit should show. */
struct model {
	uint8_t *data;
	size_t size;
	uint8_t meta[256];
	size_t meta_len;
	bool has_meta;
};

static void model_free(struct model *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].data);
	free(m);
}

static void check_version(st_store *st, const struct st_version *v, const struct model *m)
{
	st_store *ver;
	uint8_t *buf = malloc(m->size + 1);
	void *meta;
	size_t mlen;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(v->size, m->size);
	ck_assert_int_eq(st_open_version_at(st, v, &ver), ST_OK);
	ck_assert_int_eq(st_file_read(ver, 0, buf, m->size + 1), (ssize_t)m->size);
	ck_assert_msg(m->size == 0 || memcmp(buf, m->data, m->size) == 0,
		      "version %llu: content differs", (unsigned long long)v->seq);
	st_close(ver);
	ck_assert_int_eq(st_version_meta(st, v, &meta, &mlen), ST_OK);
	if (m->has_meta) {
		ck_assert_uint_eq(mlen, m->meta_len);
		ck_assert(mlen == 0 || memcmp(meta, m->meta, mlen) == 0);
	} else {
		ck_assert_ptr_null(meta);
	}
	free(meta);
	free(buf);
}

/* Every version of st against models m[0..n) (oldest first). */
static void check_all(st_store *st, const struct model *m, size_t n)
{
	struct st_version *v;
	size_t nv;

	ck_assert_int_eq(st_versions_list(st, &v, &nv), ST_OK);
	ck_assert_uint_eq(nv, n);
	for (size_t i = 0; i < nv; i++) /* newest first */
		check_version(st, &v[i], &m[n - 1 - i]);
	free(v);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
}

/* Random writes, truncates, holes and attributes around the limit, a
 * commit after each few; every version checked against a model, then
 * again after a compaction that keeps them all and after a reopen. */
static void random_history(const struct st_key *k, int flags, uint64_t seed)
{
	struct st_open_opts o = {.key = k};
	const struct st_retention all = {.min_count = UINT32_MAX};
	struct st_compact_opts co = {.keep = &all};
	char *p = tu_path(tu_dir, "r.rev");
	size_t cap = 64, n = 0, size = 0;
	struct model *m = calloc(cap, sizeof(*m)), cur = {0};
	uint8_t *data = calloc(1, 3 * LIMIT), buf[3 * LIMIT];
	uint64_t rs = seed;
	st_store *st;

	ck_assert(m && data);
	ck_assert_int_eq(
	    st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER | ST_NOSYNC | flags, &o, &st), ST_OK);
	for (int step = 0; step < 400; step++) {
		unsigned op = (unsigned)(tu_rand(&rs) % 10);
		/* Mostly near the limit, sometimes well past it. */
		size_t span = tu_rand(&rs) % 4 == 0 ? 3 * LIMIT : LIMIT + 64;
		size_t off = (size_t)(tu_rand(&rs) % span), len = (size_t)(tu_rand(&rs) % 700);

		if (off + len > 3 * LIMIT)
			len = 3 * LIMIT - off;
		if (op < 5) {
			tu_fill(&rs, buf, len);
			ck_assert_int_eq(st_file_write(st, off, buf, len), ST_OK);
			memcpy(data + off, buf, len);
			if (len && off + len > size) /* an empty write extends nothing */
				size = off + len;
		} else if (op == 5) {
			ck_assert_int_eq(st_file_truncate(st, off), ST_OK);
			if (off < size)
				memset(data + off, 0, size - off);
			size = off;
		} else if (op == 6) {
			ck_assert_int_eq(st_file_truncate(st, 0), ST_OK);
			memset(data, 0, size);
			size = 0;
		} else if (op == 7) {
			size_t end = off + len < size ? off + len : size;

			ck_assert_int_eq(st_file_punch(st, off, len), ST_OK);
			if (off < end)
				memset(data + off, 0, end - off);
		} else if (op == 8) {
			/* Long ones may not fit beside the content; empty ones
			 * are never inline. */
			cur.meta_len = tu_rand(&rs) % 4 == 0   ? 200
				       : tu_rand(&rs) % 8 == 0 ? 0
							       : (size_t)(tu_rand(&rs) % 60) + 1;
			tu_fill(&rs, cur.meta, cur.meta_len);
			cur.has_meta = true;
			ck_assert_int_eq(st_file_set_meta(st, cur.meta, cur.meta_len), ST_OK);
		}
		if (op >= 8 || tu_rand(&rs) % 3 == 0) {
			if (n == cap) {
				m = realloc(m, (cap *= 2) * sizeof(*m));
				ck_assert_ptr_nonnull(m);
			}
			ck_assert_int_eq(st_commit(st, NULL), ST_OK);
			m[n] = cur;
			m[n].size = size;
			m[n].data = malloc(size + 1);
			memcpy(m[n].data, data, size);
			n++;
		}
	}
	check_all(st, m, n);
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	check_all(st, m, n);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC | flags, &o, &st), ST_OK);
	check_all(st, m, n);
	st_close(st);
	model_free(m, n);
	free(data);
	free(p);
}

START_TEST(random_plain)
{
	random_history(NULL, ST_INLINE, 1 + (uint64_t)_i);
}
END_TEST

START_TEST(random_sealed)
{
	random_history(&key_a, ST_INLINE, 11 + (uint64_t)_i);
}
END_TEST

START_TEST(random_onesync)
{
	random_history(NULL, ST_INLINE | ST_ONESYNC, 21 + (uint64_t)_i);
}
END_TEST

/* A small file and its attributes: one block, in the clear only if plain. */
START_TEST(small_file_is_one_block)
{
	static const char text[] = "a small file, kept in its header";
	static const char attrs[] = "owner, mode and the directories";
	const struct st_key *keys[2] = {NULL, &key_a};

	for (int i = 0; i < 2; i++) {
		struct st_open_opts o = {.key = keys[i]};
		char *p = tu_path(tu_dir, i ? "s.rev" : "p.rev");
		char buf[64] = {0};
		st_store *st;

		ck_assert_int_eq(st_open(p, ST_KIND_FILE,
					 ST_CREATE | ST_DEFER | ST_ONESYNC | ST_INLINE, &o, &st),
				 ST_OK);
		ck_assert_int_eq(st_file_write(st, 0, text, sizeof(text)), ST_OK);
		ck_assert_int_eq(st_file_set_meta(st, attrs, sizeof(attrs)), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		st_close(st);
		ck_assert_uint_le(tu_file_size(p), 4096);
		ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, &o, &st), ST_OK);
		ck_assert_int_eq(st_file_read(st, 0, buf, sizeof(buf)), (ssize_t)sizeof(text));
		ck_assert_str_eq(buf, text);
		ck_assert_int_eq(st_file_seek(st, 3, SEEK_DATA), 3);
		ck_assert_int_eq(st_file_seek(st, 3, SEEK_HOLE), (int64_t)sizeof(text));
		ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
		st_close(st);
		if (i) {
			struct st_raw_report r;

			ck_assert_int_eq(st_check_sealed_file(p, &r), ST_OK);
			ck_assert_uint_eq(r.headers, 1);
		}
		free(p);
	}
}
END_TEST

/* A store with inline headers, opened by a handle without ST_INLINE:
 * its content is carried, then spilled when it grows. */
START_TEST(handle_without_flag)
{
	char *p = tu_path(tu_dir, "f.rev");
	uint8_t big[8000], buf[8000];
	st_store *st;

	memset(big, 'q', sizeof(big));
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER | ST_INLINE, NULL, &st),
			 ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, "hello", 5), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_set_mtime(st, 42), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, buf, 10), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(st_file_write(st, 5, big, sizeof(big) - 5), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_mem_eq(buf + 5, big, sizeof(big) - 5);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	free(p);
}
END_TEST

/* The area of the newest header torn (its last sector garbled): the store
 * opens at the commit before, as after a torn one-sync region; if the
 * caller knows that commit was made, it is damage. */
START_TEST(torn_area)
{
	struct st_open_opts o = {0};
	char *p = tu_path(tu_dir, "t.rev");
	uint8_t text[3000], buf[3000];
	struct st_version v;
	st_store *st;
	FILE *f;

	memset(text, 'a', sizeof(text));
	ck_assert_int_eq(
	    st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER | ST_ONESYNC | ST_INLINE, NULL, &st),
	    ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, text, sizeof(text)), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	memset(text, 'b', sizeof(text));
	ck_assert_int_eq(st_file_write(st, 0, text, sizeof(text)), ST_OK);
	ck_assert_int_eq(st_commit(st, &v), ST_OK);
	st_close(st);
	ck_assert_uint_eq(v.offset, 4096);
	f = fopen(p, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert(fseek(f, (long)(v.offset + 2048), SEEK_SET) == 0);
	ck_assert_uint_eq(fwrite("garbage!", 1, 8, f), 8);
	fclose(f);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, &o, &st), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	ck_assert_uint_eq(buf[0], 'a');
	st_close(st);
	o.min_seq = v.seq;
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, &o, &st), ST_ECORRUPT);
	free(p);
}
END_TEST

/* A plain store with inline headers sealed by a compaction: attributes
 * that no longer fit beside the content go to a record. */
START_TEST(sealed_by_compaction)
{
	const struct st_retention all = {.min_count = UINT32_MAX};
	struct st_compact_opts co = {.keep = &all, .seal = &key_a};
	struct st_open_opts o = {.key = &key_a};
	struct model m[2] = {{0}};
	char *p = tu_path(tu_dir, "c.rev");
	uint8_t text[LIMIT];
	st_store *st;

	memset(text, 'c', sizeof(text));
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER | ST_INLINE, NULL, &st),
			 ST_OK);
	/* Content and attributes that fill a plain header's block. */
	ck_assert_int_eq(st_file_write(st, 0, text, 3800), ST_OK);
	memset(m[0].meta, 'm', 100);
	ck_assert_int_eq(st_file_set_meta(st, m[0].meta, 100), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_write(st, 3800, text, LIMIT - 3800), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	m[0].data = text;
	m[0].size = 3800;
	m[0].meta_len = 100;
	m[0].has_meta = true;
	m[1] = m[0];
	m[1].size = LIMIT;
	check_all(st, m, 2);
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, &o, &st), ST_OK);
	check_all(st, m, 2);
	st_close(st);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, random_plain, 0, 3);
	tcase_add_loop_test(tc, random_sealed, 0, 2);
	tcase_add_loop_test(tc, random_onesync, 0, 2);
	tcase_add_test(tc, small_file_is_one_block);
	tcase_add_test(tc, handle_without_flag);
	tcase_add_test(tc, torn_area);
	tcase_add_test(tc, sealed_by_compaction);
}

int main(void)
{
	return tu_main("inline", 120, add_tests, NULL);
}
