/*
 * check_model.c - the tree and the file store against simple in-memory
 * models: random operations (writes, holes and truncates for files), the store checked after every
 * commit and reopened from disk at random points. The file store keeps
 * small files inline (ST_INLINE): the file shrinks back to small now and
 * then and stays small a while, and is reopened with the flag or without.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- key-value model: a sorted array -------------------------------------- */

#define NKEYS 6000

struct mval {
	uint8_t *v; /* NULL: absent */
	size_t len;
};

static struct mval model[NKEYS];

static size_t key_of(unsigned i, char *buf)
{
	/* varied lengths and shared prefixes, so order is not index order */
	return (size_t)sprintf(buf, "k%u/%0*u", i % 37, (int)(1 + i % 7), i);
}

struct range_state {
	const char *prefix;
	size_t plen;
	unsigned next; /* index into the sorted key list */
	char (*sorted)[32];
	unsigned nsorted;
	int mismatches;
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int range_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct range_state *r = arg;
	char key[64];
	unsigned idx;

	ck_assert(kl < sizeof(key));
	memcpy(key, k, kl);
	key[kl] = 0;
	ck_assert_msg(r->next < r->nsorted, "range gave an extra key %s", key);
	ck_assert_str_eq(key, r->sorted[r->next]);
	ck_assert(sscanf(strchr(key, '/') + 1, "%u", &idx) == 1);
	ck_assert(model[idx].v && model[idx].len == vl && memcmp(model[idx].v, v, vl) == 0);
	r->next++;
	return 0;
}

static void check_range(st_store *st, const char *prefix)
{
	static char sorted[NKEYS][32];
	struct range_state r = {prefix, strlen(prefix), 0, sorted, 0, 0};
	char key[32];

	for (unsigned i = 0; i < NKEYS; i++) {
		if (!model[i].v)
			continue;
		key_of(i, key);
		if (strncmp(key, prefix, r.plen) == 0)
			strcpy(sorted[r.nsorted++], key);
	}
	qsort(sorted, r.nsorted, sizeof(sorted[0]), key_cmp);
	ck_assert_int_eq(st_kv_range(st, prefix, r.plen, range_cb, &r), 0);
	ck_assert_uint_eq(r.next, r.nsorted);
}

/* Loop 1 of each model runs on a sealed store. */
static const struct st_open_opts *model_opts(int loop)
{
	static const struct st_key key = {{0x0d, 0xe1}};
	static const struct st_open_opts sealed = {.key = &key};

	return loop ? &sealed : NULL;
}

START_TEST(kv_model)
{
	char *p = tu_path(tu_dir, "kv.rev");
	uint64_t seed = 42, ops = 0, commits = 0, reopens = 0;
	uint8_t val[6000];
	char key[32];
	st_store *st;

	memset(model, 0, sizeof(model));
	ck_assert_int_eq(st_open(p, ST_KIND_KV, ST_CREATE | ST_NOSYNC, model_opts(_i), &st), ST_OK);
	while (ops < 100000) {
		unsigned batch = 1 + (unsigned)(tu_rand(&seed) % 200);

		for (unsigned b = 0; b < batch; b++, ops++) {
			unsigned i = (unsigned)(tu_rand(&seed) % NKEYS), op = tu_rand(&seed) % 10;
			size_t kl = key_of(i, key);

			if (op < 6) { /* insert or overwrite */
				size_t vl = tu_rand(&seed) % 64 == 0 ? 2000 + tu_rand(&seed) % 4000
								     : tu_rand(&seed) % 120;
				tu_fill(&seed, val, vl);
				ck_assert_int_eq(st_kv_put(st, key, kl, val, vl), ST_OK);
				free(model[i].v);
				model[i].v = malloc(vl ? vl : 1);
				memcpy(model[i].v, val, vl);
				model[i].len = vl;
			} else if (op < 9) {
				ck_assert_int_eq(st_kv_del(st, key, kl), ST_OK);
				free(model[i].v);
				model[i].v = NULL;
			} else {
				void *v;
				size_t vl;
				int rc = st_kv_get(st, key, kl, &v, &vl);
				if (!model[i].v) {
					ck_assert_int_eq(rc, ST_ENOTFOUND);
				} else {
					ck_assert_int_eq(rc, ST_OK);
					ck_assert(vl == model[i].len &&
						  memcmp(v, model[i].v, vl) == 0);
					free(v);
				}
			}
		}
		if (tu_rand(&seed) % 8 == 0) /* staged changes are seen by range */
			check_range(st, "k3");
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		commits++;
		ck_assert_msg(st_check(st, 0) == ST_OK, "check: %s", st_last_error()->msg);
		if (tu_rand(&seed) % 4 == 0) {
			char prefix[8];
			snprintf(prefix, sizeof(prefix), "k%u", (unsigned)(tu_rand(&seed) % 37));
			check_range(st, tu_rand(&seed) % 5 ? prefix : "");
		}
		if (tu_rand(&seed) % 25 == 0) {
			st_close(st);
			ck_assert_int_eq(st_open(p, ST_KIND_KV, ST_NOSYNC, model_opts(_i), &st),
					 ST_OK);
			reopens++;
			check_range(st, "");
		}
	}
	check_range(st, "");
	{
		struct st_info in;
		unsigned live = 0;
		for (unsigned i = 0; i < NKEYS; i++)
			live += model[i].v != NULL;
		ck_assert_int_eq(st_info(st, &in), ST_OK);
		ck_assert_uint_eq(in.entries, live);
	}
	ck_assert_msg(st_check(st, ST_CHECK_ALL) == ST_OK, "%s", st_last_error()->msg);
	st_close(st);
	for (unsigned i = 0; i < NKEYS; i++)
		free(model[i].v);
	ck_assert(commits > 500 && reopens > 10);
	free(p);
}
END_TEST

/* ---- file model: a byte array --------------------------------------------- */

#define FMAX (6u << 20)

static void check_file(st_store *st, const uint8_t *m, uint64_t size, uint64_t *seed)
{
	static uint8_t buf[FMAX];

	ck_assert_uint_eq(st_file_size(st), size);
	ck_assert_int_eq(st_file_read(st, 0, buf, FMAX), (ssize_t)size);
	if (memcmp(buf, m, size) != 0) {
		uint64_t i = 0;
		while (buf[i] == m[i])
			i++;
		ck_abort_msg("byte %llu of %llu: %u, want %u", (unsigned long long)i,
			     (unsigned long long)size, buf[i], m[i]);
	}
	for (int i = 0; i < 8 && size; i++) {
		uint64_t off = tu_rand(seed) % size, len = tu_rand(seed) % 20000;
		ssize_t want = (ssize_t)(off + len > size ? size - off : len);
		ck_assert_int_eq(st_file_read(st, off, buf, len), want);
		ck_assert(memcmp(buf, m + off, (size_t)want) == 0);
	}
}

START_TEST(file_model)
{
	char *p = tu_path(tu_dir, "f.rev");
	static uint8_t m[FMAX], data[1 << 20];
	uint64_t seed = 7, size = 0;
	st_store *st;

	memset(m, 0, sizeof(m));
	ck_assert_int_eq(
	    st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC | ST_INLINE, model_opts(_i), &st),
	    ST_OK);
	for (int round = 0; round < 400; round++) {
		int nops = 1 + (int)(tu_rand(&seed) % 12);
		/* Rounds of small writes: a file truncated small then stays
		 * under the inline limit a while, or grows past it. */
		bool small = round % 40 >= 25 && tu_rand(&seed) % 8;

		for (int k = 0; k < nops; k++) {
			unsigned op = tu_rand(&seed) % 10;

			if (op < 7) {
				/* aligned runs, unaligned bits, appends, sparse jumps */
				uint64_t off = tu_rand(&seed) % (FMAX - sizeof(data));
				uint64_t len = tu_rand(&seed) % 3 == 0
						   ? tu_rand(&seed) % sizeof(data)
						   : tu_rand(&seed) % 9000;
				if (tu_rand(&seed) % 3 == 0)
					off &= ~4095ull;
				if (tu_rand(&seed) % 4 == 0)
					off = size;
				if (off + len > FMAX)
					off = FMAX - len;
				/* A small file stays small for a while (inline). */
				if (small) {
					off = tu_rand(&seed) % 3500;
					len = tu_rand(&seed) % 400;
				}
				tu_fill(&seed, data, len);
				ck_assert_int_eq(st_file_write(st, off, data, len), ST_OK);
				memcpy(m + off, data, len);
				if (len && off + len > size) /* writing nothing extends nothing */
					size = off + len;
			} else if (op == 7) {
				/* a hole: inside a page, across pages, or many pages */
				uint64_t off = tu_rand(&seed) % FMAX;
				uint64_t len = tu_rand(&seed) % 2 ? tu_rand(&seed) % 9000
								  : tu_rand(&seed) % (FMAX / 4);
				uint64_t end;

				if (small)
					len %= 900;
				end = off + len < size ? off + len : size;
				ck_assert_int_eq(st_file_punch(st, off, len), ST_OK);
				if (off < end)
					memset(m + off, 0, end - off);
			} else {
				uint64_t ns = tu_rand(&seed) % (FMAX / 2);
				if (tu_rand(&seed) % 2)
					ns &= ~4095ull;
				if (small || tu_rand(&seed) % 5 == 0) /* small again */
					ns = tu_rand(&seed) % 2 ? 0 : tu_rand(&seed) % 3000;
				ck_assert_int_eq(st_file_truncate(st, ns), ST_OK);
				if (ns < size)
					memset(m + ns, 0, size - ns);
				size = ns;
			}
		}
		ck_assert_uint_eq(st_file_size(st), size);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		ck_assert_msg(st_check(st, 0) == ST_OK, "check: %s", st_last_error()->msg);
		check_file(st, m, size, &seed);
		if (tu_rand(&seed) % 20 == 0) {
			st_close(st);
			ck_assert_int_eq(st_open(p, ST_KIND_FILE,
						 ST_NOSYNC | (tu_rand(&seed) % 2 ? ST_INLINE : 0),
						 model_opts(_i), &st),
					 ST_OK);
			check_file(st, m, size, &seed);
		}
	}
	ck_assert_msg(st_check(st, ST_CHECK_DATA) == ST_OK, "%s", st_last_error()->msg);
	st_close(st);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, kv_model, 0, 2);
	tcase_add_loop_test(tc, file_model, 0, 2);
}

int main(void)
{
	return tu_main("model", 600, add_tests, NULL);
}
