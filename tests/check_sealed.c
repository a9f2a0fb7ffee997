/*
 * check_sealed.c - sealed stores (st_open_opts.key, docs/FORMAT.md
 * section 20): nothing written shows in the file, not even after a
 * compaction; a sealed store needs its key and a plain one refuses one;
 * and every way of moving sealed bytes around that keeps their crcs
 * right fails authentication: a record of another store, a record moved
 * within its store, a header put back from earlier, the wrong key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

#define SECRET "the secret plans of a user, in plain text"

static struct st_key key_a = {{0xa1, 0xa2}}, key_b = {{0xb1, 0xb2}};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	ck_assert(n > 0 && fseek(f, 0, SEEK_SET) == 0);
	buf = malloc((size_t)n);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool file_has(const char *path, const char *needle)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);
	bool found = memmem(buf, len, needle, strlen(needle)) != NULL;

	free(buf);
	return found;
}

/* Offsets of the data records of one 4096-byte page: their length field
 * says so (head 12, one crc, the sealed page), their type byte is data. */
static size_t find_page_records(const char *path, uint64_t *at, size_t max)
{
	static const uint8_t len[4] = {0, 0, 0x10, 0x2c}; /* 4140 */
	size_t n = 0, flen;
	uint8_t *buf = slurp(path, &flen);

	for (size_t i = 1; i + 9 < flen && n < max; i++)
		if (i % 4096 && memcmp(buf + i, len, 4) == 0 && buf[i + 8] == 1)
			at[n++] = i;
	free(buf);
	return n;
}

/* The physical length of n stream bytes at pos: a block's marker byte
 * within them is skipped (docs/FORMAT.md, section 5). */
static size_t phys_len(uint64_t pos, size_t n)
{
	uint64_t p = pos;

	while (n) {
		size_t k;

		if (p % 4096 == 0)
			p++;
		k = 4096 - p % 4096;
		k = k < n ? k : n;
		p += k;
		n -= k;
	}
	return (size_t)(p - pos);
}

/* Copies n bytes of file from at src to file to at dst. */
static void splice(const char *from, uint64_t src, const char *to, uint64_t dst, size_t n)
{
	FILE *f = fopen(from, "rb"), *g = fopen(to, "r+b");
	uint8_t *buf = malloc(n);

	ck_assert(f && g && buf);
	ck_assert(fseek(f, (long)src, SEEK_SET) == 0);
	ck_assert_uint_eq(fread(buf, 1, n, f), n);
	ck_assert(fseek(g, (long)dst, SEEK_SET) == 0);
	ck_assert_uint_eq(fwrite(buf, 1, n, g), n);
	fclose(f);
	fclose(g);
	free(buf);
}

/* A file store with key k: one page of c at 0, one of d at 4096, each
 * its own commit. */
static char *make_file(const char *name, const struct st_key *k, char c, char d)
{
	struct st_open_opts o = {.key = k};
	char *p = tu_path(tu_dir, name);
	uint8_t page[4096];
	st_store *st;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, &o, &st), ST_OK);
	memset(page, c, sizeof(page));
	memcpy(page, SECRET, sizeof(SECRET) - 1);
	ck_assert_int_eq(st_file_write(st, 0, page, sizeof(page)), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	memset(page, d, sizeof(page));
	ck_assert_int_eq(st_file_write(st, 4096, page, sizeof(page)), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	return p;
}

static int read_back(const char *p, const struct st_key *k, uint8_t *buf, size_t len)
{
	struct st_open_opts o = {.key = k};
	st_store *st;
	int rc = st_open(p, ST_KIND_FILE, ST_READONLY, &o, &st);
	ssize_t n;

	if (rc != ST_OK)
		return rc;
	n = st_file_read(st, 0, buf, len);
	st_close(st);
	return n < 0 ? (int)n : ST_OK;
}

START_TEST(nothing_shows)
{
	struct st_open_opts o = {.key = &key_a};
	char *f = make_file("f.rev", &key_a, 'x', 'y'), *kv = tu_path(tu_dir, "kv.rev");
	char *plain = make_file("plain.rev", NULL, 'x', 'y');
	uint8_t buf[8192];
	st_store *st;
	void *val;
	size_t vlen;

	ck_assert(file_has(plain, SECRET)); /* the test can see it */
	ck_assert(!file_has(f, SECRET));
	ck_assert_int_eq(read_back(f, &key_a, buf, sizeof(buf)), ST_OK);
	ck_assert_mem_eq(buf, SECRET, sizeof(SECRET) - 1);
	ck_assert_uint_eq(buf[4095], 'x');
	ck_assert_uint_eq(buf[4096], 'y');
	/* A key-value store: neither keys nor values show. */
	ck_assert_int_eq(st_open(kv, ST_KIND_KV, ST_CREATE | ST_NOSYNC, &o, &st), ST_OK);
	for (int i = 0; i < 300; i++) {
		char k[64], v[64];

		snprintf(k, sizeof(k), "secret-name-%03d", i);
		snprintf(v, sizeof(v), "secret-value-%03d", i);
		ck_assert_int_eq(st_kv_put(st, k, strlen(k), v, strlen(v)), ST_OK);
	}
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	ck_assert(!file_has(kv, "secret-name"));
	ck_assert(!file_has(kv, "secret-value"));
	ck_assert_int_eq(st_open(kv, ST_KIND_KV, ST_READONLY, &o, &st), ST_OK);
	ck_assert_int_eq(st_kv_get(st, "secret-name-123", 15, &val, &vlen), ST_OK);
	ck_assert_mem_eq(val, "secret-value-123", 16);
	free(val);
	st_close(st);
	/* Compacted (the file store, with versions: copied and sealed anew). */
	o.key = &key_a;
	ck_assert_int_eq(st_open(f, ST_KIND_FILE, ST_NOSYNC, &o, &st), ST_OK);
	ck_assert_int_eq(st_compact(st, NULL, NULL), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	ck_assert(!file_has(f, SECRET));
	ck_assert_int_eq(read_back(f, &key_a, buf, sizeof(buf)), ST_OK);
	ck_assert_mem_eq(buf, SECRET, sizeof(SECRET) - 1);
	free(f);
	free(kv);
	free(plain);
}
END_TEST

START_TEST(key_required)
{
	char *f = make_file("f.rev", &key_a, 'x', 'y'), *plain = make_file("p.rev", NULL, 'x', 'y');
	uint8_t buf[8192];

	/* Without a key, with the wrong key; a plain store with a key. */
	ck_assert_int_eq(read_back(f, NULL, buf, sizeof(buf)), ST_EKEY);
	ck_assert_int_eq(read_back(f, &key_b, buf, sizeof(buf)), ST_ECORRUPT);
	ck_assert_int_eq(read_back(plain, &key_a, buf, sizeof(buf)), ST_EKEY);
	ck_assert_int_eq(read_back(f, &key_a, buf, sizeof(buf)), ST_OK);
	free(f);
	free(plain);
}
END_TEST

START_TEST(moved_bytes_fail)
{
	char *a = make_file("a.rev", &key_a, 'a', 'A'), *b = make_file("b.rev", &key_b, 'b', 'B');
	char *c = tu_path(tu_dir, "c.rev");
	uint64_t ra[4], rb[4];
	uint8_t buf[8192];

	/* Both files have the same shape: the same two page records, at the
	 * same places. */
	ck_assert_uint_eq(find_page_records(a, ra, 4), 2);
	ck_assert_uint_eq(find_page_records(b, rb, 4), 2);
	ck_assert_uint_eq(ra[0], rb[0]);
	ck_assert_uint_eq(ra[1], rb[1]);
	ck_assert_int_eq(read_back(a, &key_a, buf, sizeof(buf)), ST_OK);
	ck_assert_int_eq(read_back(b, &key_b, buf, sizeof(buf)), ST_OK);
	ck_assert_uint_eq(buf[0], 't');

	/* A record of another store, put at the same place: its crc is
	 * right, its seal is not. */
	tu_copy_file(a, c);
	splice(b, rb[0], c, ra[0], phys_len(ra[0], 8 + 4140));
	ck_assert_int_eq(read_back(c, &key_a, buf, sizeof(buf)), ST_ECORRUPT);
	ck_assert_msg(strstr(st_last_error()->msg, "authentication"), "%s", st_last_error()->msg);

	/* The store's own two page records swapped. */
	tu_copy_file(a, c);
	ck_assert_uint_eq(phys_len(ra[0], 8 + 4140), phys_len(ra[1], 8 + 4140));
	splice(a, ra[1], c, ra[0], phys_len(ra[0], 8 + 4140));
	splice(a, ra[0], c, ra[1], phys_len(ra[0], 8 + 4140));
	ck_assert_int_eq(read_back(c, &key_a, buf, sizeof(buf)), ST_ECORRUPT);

	/* The newest header replaced by the one before it (a replay): the
	 * store opens at neither as if nothing happened. */
	{
		struct st_open_opts o = {.key = &key_a};
		struct st_version *v;
		size_t nv;
		st_store *st;

		ck_assert_int_eq(st_open(a, ST_KIND_FILE, ST_READONLY, &o, &st), ST_OK);
		ck_assert_int_eq(st_versions_list(st, &v, &nv), ST_OK);
		st_close(st);
		ck_assert_uint_ge(nv, 2);
		tu_copy_file(a, c);
		splice(a, v[1].offset, c, v[0].offset, 1 + 8 + 128 + 28);
		free(v);
		ck_assert_int_eq(st_open(c, ST_KIND_FILE, ST_READONLY, &o, &st), ST_ECORRUPT);
		ck_assert_msg(strstr(st_last_error()->msg, "authentication"), "%s",
			      st_last_error()->msg);
	}
	free(a);
	free(b);
	free(c);
}
END_TEST

/* Without the key: crcs and lengths over the sealed bytes. */
START_TEST(check_without_key)
{
	char *f = make_file("f.rev", &key_a, 'x', 'y'), *plain = make_file("p.rev", NULL, 'x', 'y');
	struct st_raw_report r;
	uint64_t rec[4];

	ck_assert_int_eq(st_check_sealed_file(f, &r), ST_OK);
	ck_assert_uint_eq(r.headers, 3); /* the empty store's, then two commits */
	ck_assert_uint_eq(r.pages, 2);
	ck_assert_uint_ge(r.records, 4); /* two data records, two leaves at least */
	ck_assert_int_eq(st_check_sealed_file(plain, &r), ST_ECORRUPT);
	/* A bit of the second page's ciphertext: its crc says so, and where. */
	ck_assert_uint_eq(find_page_records(f, rec, 4), 2);
	tu_flip_bit(f, rec[1] + phys_len(rec[1], 8 + 12 + 4 + 100) - 1, 5);
	ck_assert_int_eq(st_check_sealed_file(f, &r), ST_ECORRUPT);
	ck_assert_uint_eq(st_last_error()->offset, rec[1]);
	free(f);
	free(plain);
}
END_TEST

/* A plain store sealed by a compaction: every save kept, none in the clear. */
START_TEST(sealed_by_compaction)
{
	char *p = make_file("p.rev", NULL, 'x', 'y');
	const struct st_retention all = {.min_count = UINT32_MAX};
	struct st_compact_opts co = {.keep = &all, .seal = &key_a};
	struct st_open_opts o = {.key = &key_a};
	struct st_compact_stats cs;
	uint8_t buf[8192];
	st_store *st;

	ck_assert(file_has(p, SECRET));
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, NULL, &st), ST_OK);
	ck_assert_int_eq(st_compact(st, &co, &cs), ST_OK);
	ck_assert_uint_eq(cs.versions_kept, cs.versions_before);
	/* The handle goes on, sealed: a commit after the switch. */
	memset(buf, 'z', 4096);
	ck_assert_int_eq(st_file_write(st, 8192, buf, 4096), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert(!file_has(p, SECRET));
	ck_assert_int_eq(read_back(p, NULL, buf, sizeof(buf)), ST_EKEY);
	ck_assert_int_eq(read_back(p, &key_a, buf, sizeof(buf)), ST_OK);
	ck_assert_mem_eq(buf, SECRET, sizeof(SECRET) - 1);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_NOSYNC, &o, &st), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	ck_assert_uint_eq(cs.versions_kept, 3);
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_EINVAL); /* sealed already */
	st_close(st);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, nothing_shows);
	tcase_add_test(tc, key_required);
	tcase_add_test(tc, moved_bytes_fail);
	tcase_add_test(tc, check_without_key);
	tcase_add_test(tc, sealed_by_compaction);
}

int main(void)
{
	return tu_main("sealed", 60, add_tests, NULL);
}
