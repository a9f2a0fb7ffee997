/*
 * check_dirty.c - the dirty sets of fs/dirty.c (the bytes written to a file
 * since the flusher last took them, plus the lowest truncate) against a
 * simple model: a byte array, a "written" map and the lowest truncate.
 *
 * Thousands of random writes (unaligned, overlapping several extents,
 * touching neighbours, filling gaps, appends past the 4 MiB extent cap,
 * in-place overwrites), punched holes and truncates (down and up), with the set's
 * invariants checked after every operation and its bytes compared with the
 * model through dset_overlay (random windows and limits), dset_next_data
 * and dset_data_end. dset_merge_under must equal applying both sets in
 * order, and dset_apply into a real file store, read back after the commit,
 * must equal the model's file, as must the layered read the daemon does
 * before the flush (store, then the flush set, then the dirty set).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revfs.h"
#include "testutil.h"

/* dirty.c's DEXT_MAX: an append that would grow an extent past it starts a
 * new extent. */
#define EXT_CAP (4u << 20)

/* The running sequence, for failure messages. */
static uint64_t g_seed;
static unsigned long g_op;
#define AT_FMT "seed %llu op %lu: "
#define AT     (unsigned long long)g_seed, g_op

/* Checks on the hot paths: Check's own ck_assert records its location
 * through a pipe on every call, which costs more than the checks. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)
#define REQUIRE(cond) CHECK(cond, AT_FMT "%s", AT, #cond)

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- the model ---------------------------------------------------------- */

/* The written map is summed up per block, so the end of a run of data
 * takes a few string scans however long the run. */
#define BLK 4096u

struct model {
	uint64_t u;	/* nothing at or past u is ever written */
	uint8_t *val;	/* the bytes the set should hold */
	uint8_t *wr;	/* 1 where the set holds a byte */
	uint8_t *full;	/* 1 for a block all of whose bytes are written; a 0 after the last */
	uint64_t nblk;	/* blocks */
	uint64_t hi;	/* the end of the last byte in the set */
	uint64_t trunc; /* the lowest truncate, UINT64_MAX none */
	uint8_t *hole;	/* 1 where the set punched a hole (and wr is 0 or newer) */
	uint64_t hhi;	/* the end of the last hole */
	uint8_t *file;	/* NULL, or the whole file: its base and every operation */
	uint64_t fsize;
};

static void m_init(struct model *m, uint64_t u, bool file)
{
	memset(m, 0, sizeof(*m));
	m->u = u;
	m->val = calloc(u, 1);
	m->wr = calloc(u, 1);
	m->nblk = (u + BLK - 1) / BLK;
	m->full = calloc(m->nblk + 1, 1);
	m->hole = calloc(u, 1);
	m->trunc = UINT64_MAX;
	if (file)
		m->file = calloc(u, 1);
	REQUIRE(m->val && m->wr && m->full && m->hole && (!file || m->file));
}

static void m_free(struct model *m)
{
	free(m->val);
	free(m->wr);
	free(m->full);
	free(m->hole);
	free(m->file);
}

/* Empties the set part (a new set begins); the file stays. */
static void m_reset(struct model *m)
{
	memset(m->wr, 0, m->hi);
	memset(m->full, 0, (m->hi + BLK - 1) / BLK);
	m->hi = 0;
	memset(m->hole, 0, m->hhi);
	m->hhi = 0;
	m->trunc = UINT64_MAX;
}

static void m_write(struct model *m, uint64_t off, const uint8_t *buf, size_t len)
{
	REQUIRE(len > 0 && off + len <= m->u);
	memcpy(m->val + off, buf, len);
	memset(m->wr + off, 1, len);
	for (uint64_t b = off / BLK; b <= (off + len - 1) / BLK; b++) {
		uint64_t s = b * BLK;

		m->full[b] = s + BLK <= m->u && !memchr(m->wr + s, 0, BLK);
	}
	if (off + len > m->hi)
		m->hi = off + len;
	if (m->file) {
		memcpy(m->file + off, buf, len);
		if (off + len > m->fsize)
			m->fsize = off + len;
	}
}

static void m_truncate(struct model *m, uint64_t size)
{
	REQUIRE(size <= m->u);
	if (size < m->hi) {
		const uint8_t *last;

		memset(m->wr + size, 0, m->hi - size);
		/* every block from the one holding size on now has a 0 */
		memset(m->full + size / BLK, 0, (m->hi + BLK - 1) / BLK - size / BLK);
		last = memrchr(m->wr, 1, size);
		m->hi = last ? (uint64_t)(last - m->wr) + 1 : 0;
	}
	if (size < m->hhi) {
		const uint8_t *last;

		memset(m->hole + size, 0, m->hhi - size);
		last = memrchr(m->hole, 1, size);
		m->hhi = last ? (uint64_t)(last - m->hole) + 1 : 0;
	}
	if (size < m->trunc)
		m->trunc = size;
	if (m->file) {
		if (size < m->fsize)
			memset(m->file + size, 0, m->fsize - size);
		m->fsize = size;
	}
}

/* A hole over [off, end): the set's bytes there go, and it reads zeros. */
static void m_punch(struct model *m, uint64_t off, uint64_t end)
{
	REQUIRE(off < end && end <= m->u);
	memset(m->hole + off, 1, end - off);
	if (end > m->hhi)
		m->hhi = end;
	if (off < m->hi) {
		uint64_t e = min64(end, m->hi);
		const uint8_t *last;

		memset(m->wr + off, 0, e - off);
		memset(m->full + off / BLK, 0, (e - 1) / BLK - off / BLK + 1);
		last = memrchr(m->wr, 1, m->hi);
		m->hi = last ? (uint64_t)(last - m->wr) + 1 : 0;
	}
	if (m->file && off < m->fsize)
		memset(m->file + off, 0, min64(end, m->fsize) - off);
}

static uint64_t m_next_data(const struct model *m, uint64_t off)
{
	const uint8_t *p;

	if (off >= m->hi)
		return UINT64_MAX;
	p = memchr(m->wr + off, 1, m->hi - off);
	return p ? (uint64_t)(p - m->wr) : UINT64_MAX;
}

/* wr holds 0 and 1, so a run of ones is a string's length. */
static uint64_t ones(const uint8_t *p, uint64_t from, uint64_t to)
{
	return from < to ? from + strnlen((const char *)p + from, to - from) : from;
}

static uint64_t m_data_end(const struct model *m, uint64_t off)
{
	uint64_t b, e;

	if (off >= m->hi)
		return off;
	b = off / BLK;
	e = ones(m->wr, off, min64((b + 1) * BLK, m->hi));
	if (e < (b + 1) * BLK || e >= m->hi)
		return e;
	/* the run reaches the next block: skip the full ones after it */
	e = ones(m->full, b + 1, m->nblk) * BLK;
	return ones(m->wr, e, min64(e + BLK, m->hi));
}

/* ---- checks ------------------------------------------------------------- */

/* Sorted, non-overlapping, non-empty extents (touching is allowed: appends
 * past the cap and writes beside an extent make them), bytes = the sum of
 * the lengths. Returns the end of the last extent. */
static uint64_t check_shape(const struct dset *d)
{
	uint64_t sum = 0, end = 0;

	CHECK(d->n <= d->cap, AT_FMT "n %zu > cap %zu", AT, d->n, d->cap);
	REQUIRE(d->n == 0 || d->v != NULL);
	for (size_t i = 0; i < d->n; i++) {
		const struct dext *e = &d->v[i];

		CHECK(e->len > 0 && e->buf != NULL && e->len <= e->cap,
		      AT_FMT "extent %zu: len %zu cap %zu", AT, i, e->len, e->cap);
		CHECK(i == 0 || end <= e->off,
		      AT_FMT "extent %zu at %llu starts before the last ends (%llu)", AT, i,
		      (unsigned long long)e->off, (unsigned long long)end);
		REQUIRE(e->off + e->len > e->off);
		end = e->off + e->len;
		sum += e->len;
	}
	CHECK(d->bytes == sum, AT_FMT "bytes %llu, extents hold %llu", AT,
	      (unsigned long long)d->bytes, (unsigned long long)sum);
	return end;
}

/* After every operation: the shape, the truncate, dset_empty. */
static void check_inv(const struct dset *d, const struct model *m)
{
	uint64_t end = check_shape(d);

	CHECK(end == m->hi, AT_FMT "set ends at %llu, model at %llu", AT, (unsigned long long)end,
	      (unsigned long long)m->hi);
	CHECK(d->trunc == m->trunc, AT_FMT "trunc %llu, model %llu", AT,
	      (unsigned long long)d->trunc, (unsigned long long)m->trunc);
	REQUIRE(dset_empty(d) == (d->n == 0 && m->hhi == 0 && m->trunc == UINT64_MAX));
}

/* Every extent against the model, and nothing in the model between them. */
static void check_full(const struct dset *d, const struct model *m)
{
	uint64_t p = 0;

	check_inv(d, m);
	for (size_t i = 0; i < d->n; i++) {
		const struct dext *e = &d->v[i];
		uint64_t end = e->off + e->len;

		CHECK(m_next_data(m, p) == e->off,
		      AT_FMT "model has data at %llu, set's extent %zu is at %llu", AT,
		      (unsigned long long)m_next_data(m, p), i, (unsigned long long)e->off);
		CHECK(m_data_end(m, e->off) >= end,
		      AT_FMT "extent %zu [%llu,%llu): model unwritten at %llu", AT, i,
		      (unsigned long long)e->off, (unsigned long long)end,
		      (unsigned long long)m_data_end(m, e->off));
		if (memcmp(m->val + e->off, e->buf, e->len) != 0) {
			size_t k = 0;

			while (m->val[e->off + k] == e->buf[k])
				k++;
			ck_abort_msg(AT_FMT "extent %zu: byte %llu is %u, model %u", AT, i,
				     (unsigned long long)(e->off + k), e->buf[k],
				     m->val[e->off + k]);
		}
		p = end;
	}
	CHECK(m_next_data(m, p) == UINT64_MAX, AT_FMT "model has data at %llu past the set", AT,
	      (unsigned long long)m_next_data(m, p));
	/* The holes: sorted, apart, each all holes in the model, none between. */
	p = 0;
	for (size_t i = 0; i < d->nh; i++) {
		const struct dhole *h = &d->h[i];

		CHECK(h->off < h->end && (i == 0 || h->off > d->h[i - 1].end) && h->end <= m->u,
		      AT_FMT "hole %zu [%llu,%llu) out of order", AT, i, (unsigned long long)h->off,
		      (unsigned long long)h->end);
		CHECK(!memchr(m->hole + p, 1, h->off - p) &&
			  !memchr(m->hole + h->off, 0, h->end - h->off),
		      AT_FMT "hole %zu [%llu,%llu) differs from the model", AT, i,
		      (unsigned long long)h->off, (unsigned long long)h->end);
		p = h->end;
	}
	CHECK(p >= m->hhi, AT_FMT "model has a hole up to %llu past the set's", AT,
	      (unsigned long long)m->hhi);
}

/* dset_overlay over [off, off+len) below limit, into a buffer of one random
 * byte value: the model's written bytes there, the rest untouched. */
static void check_overlay(const struct dset *d, const struct model *m, uint64_t *seed, uint64_t off,
			  size_t len, uint64_t limit)
{
	/* kept between calls: big windows would map and unmap every time */
	static uint8_t *pat, *got;
	static size_t have;
	uint64_t end = off + len, stop = min64(min64(end, limit), m->hi), p = off;
	bool ok = true;

	if (len > have) {
		free(pat);
		free(got);
		have = len;
		pat = malloc(have);
		got = malloc(have);
		REQUIRE(pat && got);
	}
	memset(pat, (int)(tu_rand(seed) & 0xff), len);
	memcpy(got, pat, len);
	dset_overlay(d, off, got, len, limit);
	/* What the set leaves of the buffer: zeros in its holes below limit. */
	for (uint64_t q = off, hend = min64(min64(end, limit), m->hhi); q < hend;) {
		const uint8_t *h = memchr(m->hole + q, 1, hend - q);
		uint64_t a, b;

		if (!h)
			break;
		a = (uint64_t)(h - m->hole);
		b = ones(m->hole, a, hend);
		memset(pat + (a - off), 0, b - a);
		q = b;
	}
	/* by runs: a gap keeps the pattern, a run of the model's bytes below
	 * stop is copied */
	while (ok && p < end) {
		uint64_t a = p < stop ? m_next_data(m, p) : UINT64_MAX, b;

		if (a >= stop)
			a = end;
		ok = memcmp(got + (p - off), pat + (p - off), a - p) == 0;
		if (!ok || a == end)
			break;
		b = min64(m_data_end(m, a), stop);
		ok = memcmp(got + (a - off), m->val + a, b - a) == 0;
		p = b;
	}
	for (size_t i = 0; !ok && i < len; i++) {
		uint64_t q = off + i;
		uint8_t want = q < limit && q < m->hi && m->wr[q] ? m->val[q] : pat[i];

		if (got[i] != want)
			ck_abort_msg(AT_FMT "overlay [%llu,+%zu) limit %llu: byte %llu is %u, "
					    "want %u",
				     AT, (unsigned long long)off, len, (unsigned long long)limit,
				     (unsigned long long)q, got[i], want);
	}
	CHECK(ok, AT_FMT "overlay check: runs and bytes disagree", AT);
}

static void check_at(const struct dset *d, const struct model *m, uint64_t p)
{
	CHECK(dset_next_data(d, p) == m_next_data(m, p),
	      AT_FMT "next_data(%llu) = %llu, model %llu", AT, (unsigned long long)p,
	      (unsigned long long)dset_next_data(d, p), (unsigned long long)m_next_data(m, p));
	CHECK(dset_data_end(d, p) == m_data_end(m, p), AT_FMT "data_end(%llu) = %llu, model %llu",
	      AT, (unsigned long long)p, (unsigned long long)dset_data_end(d, p),
	      (unsigned long long)m_data_end(m, p));
}

/* ---- random operations -------------------------------------------------- */

/* Random bytes the writes take slices of: 2u for a universe of u. */
static uint8_t *pool;
static uint64_t pool_len;

struct run {
	uint64_t rng;
	uint64_t u;	    /* writes stay below u */
	size_t big;	    /* the longest plain random write */
	struct dset *d;	    /* the set under test */
	struct model *m[2]; /* m[0]: the set's own model; m[1] optional */
};

static uint64_t rnd(struct run *r, uint64_t n)
{
	return n ? tu_rand(&r->rng) % n : 0;
}

static size_t rand_len(struct run *r)
{
	uint64_t c = rnd(r, 100);
	uint64_t max = c < 40 ? 64 : c < 75 ? 4096 : c < 95 ? 65536 : r->big;

	return (size_t)(1 + rnd(r, min64(max, r->big)));
}

static void do_write(struct run *r, uint64_t off, size_t len)
{
	const uint8_t *src = pool + rnd(r, 2 * r->u - len + 1);

	CHECK(dset_write(r->d, off, src, len) == 0, AT_FMT "write failed", AT);
	for (int i = 0; i < 2; i++)
		if (r->m[i])
			m_write(r->m[i], off, src, len);
}

static void do_punch(struct run *r, uint64_t off, uint64_t end)
{
	CHECK(dset_punch(r->d, off, end) == 0, AT_FMT "punch failed", AT);
	for (int i = 0; i < 2; i++)
		if (r->m[i])
			m_punch(r->m[i], off, end);
}

static void do_truncate(struct run *r, uint64_t size)
{
	dset_truncate(r->d, size);
	for (int i = 0; i < 2; i++)
		if (r->m[i])
			m_truncate(r->m[i], size);
}

/* A write aimed at the set's shape. */
static void pick_write(struct run *r, uint64_t *offp, size_t *lenp)
{
	const struct dset *d = r->d;
	size_t ia = (size_t)rnd(r, d->n);
	const struct dext *a = d->n ? &d->v[ia] : NULL, *b;
	uint64_t off, end, k;
	size_t len = rand_len(r);

	switch (a ? rnd(r, 8) : 0) {
	case 0:
	case 1: /* anywhere */
		off = rnd(r, r->u);
		break;
	case 2: /* in place: inside one extent, sometimes all of it */
		if (rnd(r, 4) == 0) {
			off = a->off;
			len = a->len;
			break;
		}
		off = a->off + rnd(r, a->len);
		len = (size_t)min64(len, a->off + a->len - off);
		break;
	case 3: /* an append: starts where an extent ends */
		off = a->off + a->len;
		break;
	case 4: /* ends where an extent starts */
		if (a->off == 0) {
			off = 0;
			break;
		}
		off = a->off - min64(len, a->off);
		len = (size_t)(a->off - off);
		break;
	case 5: /* from inside (or just before) an extent to inside or past a later one */
		b = &d->v[ia + rnd(r, min64(d->n - ia, 6))];
		off = a->off + rnd(r, a->len + 1);
		if (rnd(r, 4) == 0)
			off = a->off - (a->off > 0);
		end = b->off + rnd(r, b->len + 2);
		if (end <= off)
			end = off + 1;
		len = (size_t)(end - off);
		break;
	case 6: /* exactly the gap after an extent: joins it to the next */
		off = a->off + a->len;
		if (ia + 1 < d->n && d->v[ia + 1].off > off)
			len = (size_t)(d->v[ia + 1].off - off);
		break;
	default: /* straddling an extent's start or end by a few bytes */
		off = rnd(r, 2) ? a->off : a->off + a->len;
		k = 1 + rnd(r, 16);
		off -= min64(off, k);
		len = (size_t)(k + rnd(r, 17));
		break;
	}
	if (off >= r->u)
		off = r->u - 1;
	if (len > r->u - off)
		len = (size_t)(r->u - off);
	*offp = off;
	*lenp = len;
}

/* A truncate: down anywhere, a little off the top, at extent boundaries,
 * or up. */
static uint64_t pick_trunc(struct run *r)
{
	const struct dset *d = r->d;
	const struct dext *e = d->n ? &d->v[rnd(r, d->n)] : NULL;
	uint64_t top = d->n ? d->v[d->n - 1].off + d->v[d->n - 1].len : 0, b;

	switch (rnd(r, 8)) {
	case 0: /* down anywhere, sometimes to 0 */
		return rnd(r, 16) == 0 ? 0 : rnd(r, top + 1);
	case 1:
	case 2: /* a little off the top */
		return top - min64(top, rnd(r, 4096));
	case 3: /* at or next to an extent's start or end */
		if (!e)
			return 0;
		b = rnd(r, 2) ? e->off : e->off + e->len;
		b = b + rnd(r, 3) - 1 + (b == 0);
		return min64(b, r->u);
	case 4: /* inside an extent */
		return e ? e->off + rnd(r, e->len) : 0;
	case 5: /* the same truncate again, or next to it */
		if (d->trunc <= r->u)
			return min64(d->trunc + rnd(r, 3) - (d->trunc > 0), r->u);
		return top;
	default: /* up */
		return top + rnd(r, r->u - top + 1);
	}
}

/* The checks after each operation, around [lo, hi). */
static void check_local(struct run *r, uint64_t lo, uint64_t hi)
{
	const struct dset *d = r->d;
	const struct model *m = r->m[0];
	uint64_t wlo = lo - min64(lo, rnd(r, 64)), whi = hi + rnd(r, 64), limit, off;
	size_t len;

	check_inv(d, m);
	switch (rnd(r, 5)) {
	case 0:
	case 1:
		limit = UINT64_MAX;
		break;
	case 2:
		limit = wlo + rnd(r, whi - wlo + 1);
		break;
	case 3:
		limit = rnd(r, wlo + 1);
		break;
	default:
		limit = m->trunc;
		break;
	}
	check_overlay(d, m, &r->rng, wlo, (size_t)(whi - wlo), limit);
	/* a window anywhere, sometimes empty */
	off = rnd(r, r->u + 16);
	len = (size_t)rnd(r, min64(r->u, 8192) + 1);
	check_overlay(d, m, &r->rng, off, len, rnd(r, 2) ? UINT64_MAX : off + rnd(r, len + 1));

	if (lo > 0)
		check_at(d, m, lo - 1);
	check_at(d, m, lo);
	if (hi > 0)
		check_at(d, m, hi - 1);
	check_at(d, m, hi);
	check_at(d, m, rnd(r, r->u + 16));
	if (d->n) {
		const struct dext *e = &d->v[rnd(r, d->n)];
		uint64_t p = rnd(r, 2) ? e->off : e->off + e->len;

		check_at(d, m, p);
		check_at(d, m, p + 1);
		if (p > 0)
			check_at(d, m, p - 1);
	}
	if (rnd(r, 64) == 0)
		check_at(d, m, UINT64_MAX);
}

/* One random operation (a write, or one in every trunc_1_in a truncate). */
static void random_op(struct run *r, unsigned trunc_1_in)
{
	uint64_t off, size;
	size_t len;

	if (rnd(r, trunc_1_in) == 0) {
		size = pick_trunc(r);
		do_truncate(r, size);
		check_local(r, size, size);
	} else if (rnd(r, 8) == 0) {
		/* a hole aimed as a write is: inside, across, beside extents */
		pick_write(r, &off, &len);
		do_punch(r, off, off + len);
		check_local(r, off, off + len);
	} else {
		pick_write(r, &off, &len);
		do_write(r, off, len);
		check_local(r, off, off + len);
	}
}

static void run_init(struct run *r, uint64_t seed, uint64_t u, size_t big, struct dset *d,
		     struct model *m0, struct model *m1)
{
	memset(r, 0, sizeof(*r));
	r->rng = seed;
	r->u = u;
	r->big = big;
	if (pool_len < 2 * u) {
		uint64_t s = 42;

		free(pool);
		pool_len = 2 * u;
		pool = malloc(pool_len);
		REQUIRE(pool);
		tu_fill(&s, pool, pool_len);
	}
	r->d = d;
	r->m[0] = m0;
	r->m[1] = m1;
	g_seed = seed;
	g_op = 0;
}

/* nops random operations on a fresh set over a universe of u bytes. */
static void run_random(uint64_t seed, uint64_t u, size_t big, unsigned long nops,
		       unsigned full_every)
{
	struct dset d;
	struct model m;
	struct run r;

	dset_init(&d);
	m_init(&m, u, false);
	run_init(&r, seed, u, big, &d, &m, NULL);
	check_full(&d, &m);
	for (g_op = 1; g_op <= nops; g_op++) {
		if (rnd(&r, 1000) == 0) {
			/* the flusher takes the set: a new one begins */
			check_full(&d, &m);
			dset_release(&d);
			REQUIRE(d.n == 0 && d.v == NULL && d.bytes == 0 && dset_empty(&d));
			m_reset(&m);
		}
		random_op(&r, 12);
		if (g_op % full_every == 0)
			check_full(&d, &m);
	}
	check_full(&d, &m);
	dset_release(&d);
	m_free(&m);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(edge_cases)
{
	struct dset d;
	uint8_t a[64], b[64], buf[64];
	const uint64_t far = 1ull << 50;

	g_seed = 0;
	g_op = 0;
	for (int i = 0; i < 64; i++) {
		a[i] = (uint8_t)(i + 1);
		b[i] = (uint8_t)(0x80 + i);
	}
	dset_init(&d);
	ck_assert(dset_empty(&d));
	ck_assert_uint_eq(dset_next_data(&d, 0), UINT64_MAX);
	ck_assert_uint_eq(dset_data_end(&d, 5), 5);
	memset(buf, 0xee, sizeof(buf));
	dset_overlay(&d, 0, buf, sizeof(buf), UINT64_MAX);
	ck_assert(buf[0] == 0xee && buf[63] == 0xee);
	/* a zero-length write changes nothing */
	ck_assert_int_eq(dset_write(&d, 100, a, 0), 0);
	ck_assert(dset_empty(&d) && d.n == 0 && d.bytes == 0);
	/* a truncate alone makes the set non-empty */
	dset_truncate(&d, 0);
	ck_assert(!dset_empty(&d) && d.trunc == 0 && d.n == 0);
	dset_truncate(&d, 50);
	ck_assert_uint_eq(d.trunc, 0);
	dset_release(&d);
	ck_assert(dset_empty(&d));

	/* appending joins; a write just before an extent only touches it */
	ck_assert_int_eq(dset_write(&d, 10, a, 10), 0);
	ck_assert_int_eq(dset_write(&d, 20, a + 10, 10), 0);
	ck_assert(d.n == 1 && d.v[0].off == 10 && d.v[0].len == 20);
	ck_assert_int_eq(dset_write(&d, 0, b, 10), 0);
	check_shape(&d);
	ck_assert_uint_eq(d.bytes, 30);
	ck_assert_uint_eq(dset_data_end(&d, 0), 30);
	ck_assert_uint_eq(dset_data_end(&d, 9), 30);
	ck_assert_uint_eq(dset_data_end(&d, 29), 30);
	ck_assert_uint_eq(dset_data_end(&d, 30), 30);
	ck_assert_uint_eq(dset_next_data(&d, 10), 10);
	ck_assert_uint_eq(dset_next_data(&d, 30), UINT64_MAX);
	memset(buf, 0, sizeof(buf));
	dset_overlay(&d, 0, buf, 40, UINT64_MAX);
	ck_assert(memcmp(buf, b, 10) == 0 && memcmp(buf + 10, a, 20) == 0 && buf[30] == 0);
	/* the limit cuts the overlay; a limit below the window copies nothing */
	memset(buf, 0, sizeof(buf));
	dset_overlay(&d, 5, buf, 20, 12);
	ck_assert(memcmp(buf, b + 5, 5) == 0 && buf[5] == a[0] && buf[6] == a[1] && buf[7] == 0);
	memset(buf, 0, sizeof(buf));
	dset_overlay(&d, 20, buf, 10, 3);
	ck_assert(buf[0] == 0 && buf[9] == 0);
	/* a truncate on an extent boundary keeps the extent below it whole */
	dset_truncate(&d, 10);
	ck_assert(d.n == 1 && d.v[0].off == 0 && d.v[0].len == 10 && d.bytes == 10);
	ck_assert_uint_eq(d.trunc, 10);
	dset_release(&d);

	/* filling the gap between two extents exactly */
	ck_assert_int_eq(dset_write(&d, 0, a, 10), 0);
	ck_assert_int_eq(dset_write(&d, 20, a + 20, 10), 0);
	ck_assert_int_eq(dset_write(&d, 10, a + 10, 10), 0);
	check_shape(&d);
	ck_assert_uint_eq(d.bytes, 30);
	ck_assert_uint_eq(dset_data_end(&d, 3), 30);
	memset(buf, 0, sizeof(buf));
	dset_overlay(&d, 0, buf, 30, UINT64_MAX);
	ck_assert(memcmp(buf, a, 30) == 0);
	/* one write over all of them, longer at both ends: one extent */
	ck_assert_int_eq(dset_write(&d, 0, b, 40), 0);
	ck_assert(d.n == 1 && d.v[0].len == 40 && d.bytes == 40);
	ck_assert(memcmp(d.v[0].buf, b, 40) == 0);
	dset_release(&d);

	/* far offsets */
	ck_assert_int_eq(dset_write(&d, far, a, 64), 0);
	ck_assert_uint_eq(dset_next_data(&d, 0), far);
	ck_assert_uint_eq(dset_next_data(&d, far + 63), far + 63);
	ck_assert_uint_eq(dset_next_data(&d, far + 64), UINT64_MAX);
	ck_assert_uint_eq(dset_data_end(&d, far + 5), far + 64);
	ck_assert_uint_eq(dset_data_end(&d, far - 1), far - 1);
	ck_assert_uint_eq(dset_next_data(&d, UINT64_MAX), UINT64_MAX);
	ck_assert_uint_eq(dset_data_end(&d, UINT64_MAX), UINT64_MAX);
	memset(buf, 0, sizeof(buf));
	dset_overlay(&d, far - 10, buf, 20, UINT64_MAX);
	ck_assert(buf[9] == 0 && memcmp(buf + 10, a, 10) == 0);
	dset_truncate(&d, far + 10);
	ck_assert(d.n == 1 && d.bytes == 10 && d.trunc == far + 10);
	dset_truncate(&d, far);
	ck_assert(d.n == 0 && d.bytes == 0 && d.trunc == far);
	dset_release(&d);
}
END_TEST

/* The extent cap, exactly: an extent of EXT_CAP takes no more appends.
 * Small appends grow an extent; a large one (64 KiB or more) starts its own. */
START_TEST(extent_cap)
{
	struct dset d;
	size_t chunk = 16384;
	uint8_t *src = malloc(EXT_CAP + 1);
	uint64_t seed = 77;

	ck_assert(src);
	g_seed = seed;
	g_op = 0;
	tu_fill(&seed, src, EXT_CAP + 1);
	dset_init(&d);
	for (size_t off = 0; off < EXT_CAP; off += chunk)
		ck_assert_int_eq(dset_write(&d, off, src + off, chunk), 0);
	ck_assert(d.n == 1 && d.v[0].len == EXT_CAP);
	ck_assert_int_eq(dset_write(&d, EXT_CAP, src + EXT_CAP, 1), 0);
	ck_assert(d.n == 2 && d.v[1].off == EXT_CAP && d.v[1].len == 1);
	ck_assert_uint_eq(dset_data_end(&d, 0), EXT_CAP + 1);
	/* cut back into the full extent: it takes appends up to the cap again */
	dset_truncate(&d, EXT_CAP - 100);
	ck_assert(d.n == 1 && d.bytes == EXT_CAP - 100);
	ck_assert_int_eq(dset_write(&d, EXT_CAP - 100, src + EXT_CAP - 100, 100), 0);
	ck_assert(d.n == 1 && d.v[0].len == EXT_CAP);
	ck_assert(memcmp(d.v[0].buf, src, EXT_CAP) == 0);
	ck_assert_int_eq(dset_write(&d, EXT_CAP, src + EXT_CAP, 1), 0);
	ck_assert(d.n == 2);
	/* an overwrite across the two touching extents merges them */
	ck_assert_int_eq(dset_write(&d, EXT_CAP - 1, src + EXT_CAP - 1, 2), 0);
	check_shape(&d);
	ck_assert_uint_eq(d.bytes, EXT_CAP + 1);
	ck_assert_uint_eq(dset_data_end(&d, 7), EXT_CAP + 1);
	dset_release(&d);
	/* large appends: one extent each, buffers exactly their size */
	dset_init(&d);
	for (size_t off = 0; off < 4 * 65536; off += 65536)
		ck_assert_int_eq(dset_write(&d, off, src + off, 65536), 0);
	ck_assert(d.n == 4 && d.v[3].off == 3 * 65536 && d.v[3].cap == 65536);
	check_shape(&d);
	ck_assert_uint_eq(dset_data_end(&d, 0), 4 * 65536);
	dset_release(&d);
	free(src);
}
END_TEST

/* Long runs of appends past the cap, with in-place overwrites and small
 * truncates: extents made only so never pass the cap (a sequential write
 * never reallocates a huge buffer), and the bytes match. */
START_TEST(appends)
{
	const uint64_t u = 14u << 20;
	struct dset d;
	struct model m;
	struct run r;

	dset_init(&d);
	m_init(&m, u, false);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		uint64_t pos, off;
		size_t len;

		run_init(&r, 0x5eed0000 + seed, u, 512 << 10, &d, &m, NULL);
		pos = rnd(&r, 65536);
		for (g_op = 1; pos < u - (1u << 20); g_op++) {
			uint64_t c = rnd(&r, 20);

			if (c == 0 && d.n) {
				/* overwrite inside one extent */
				const struct dext *e = &d.v[rnd(&r, d.n)];

				off = e->off + rnd(&r, e->len);
				len = (size_t)(1 + rnd(&r, min64(e->off + e->len - off, 100000)));
				do_write(&r, off, len);
				check_local(&r, off, off + len);
			} else if (c == 1 && d.n) {
				/* cut a little off the end, then go on from there */
				uint64_t top = d.v[d.n - 1].off + d.v[d.n - 1].len;

				pos = top - min64(top - d.v[0].off, rnd(&r, 70000));
				do_truncate(&r, pos);
				check_local(&r, pos, pos);
			} else {
				len = c < 4 ? (size_t)(1 + rnd(&r, 100)) : rand_len(&r);
				do_write(&r, pos, len);
				check_local(&r, pos, pos + len);
				pos += len;
			}
			for (size_t i = 0; i < d.n; i++)
				ck_assert_msg(d.v[i].len <= EXT_CAP && d.v[i].cap <= EXT_CAP,
					      AT_FMT "extent %zu: len %zu cap %zu past the cap", AT,
					      i, d.v[i].len, d.v[i].cap);
			if (g_op % 64 == 0)
				check_full(&d, &m);
		}
		ck_assert(d.n >= 3);
		check_full(&d, &m);
		/* then random writes over the long extents */
		for (int i = 0; i < 100; i++, g_op++)
			random_op(&r, 30);
		check_full(&d, &m);
		dset_release(&d);
		m_reset(&m);
	}
	m_free(&m);
}
END_TEST

START_TEST(random_small)
{
	/* many short extents close together: overlaps, touches, gap fills */
	run_random(1, 4096, 512, 10000, 25);
	run_random(2, 65536, 8192, 10000, 50);
	run_random(3, 65536, 65536, 5000, 50);
}
END_TEST

START_TEST(random_large)
{
	/* fewer, longer extents; appends and spans past the cap */
	run_random(4, 12u << 20, 3u << 20, 1200, 100);
}
END_TEST

/* dset_merge_under(newer, older) equals applying older's operations, then
 * newer's, to one model; older is left empty. */
START_TEST(merge_under)
{
	struct model mo, mn, mc;
	struct run r;
	uint64_t us[2] = {4096, 262144};

	for (int k = 0; k < 2; k++) {
		uint64_t u = us[k];

		m_init(&mo, u, false);
		m_init(&mn, u, false);
		m_init(&mc, u, false);
		for (int round = 0; round < 500; round++) {
			struct dset older, newer;
			uint64_t before, nops;

			dset_init(&older);
			dset_init(&newer);
			run_init(&r, 1000 * (uint64_t)(k + 1) + (uint64_t)round, u, u / 8, &older,
				 &mo, &mc);
			nops = rnd(&r, 4) == 0 ? 0 : rnd(&r, 40);
			for (uint64_t i = 0; i < nops; i++, g_op++)
				random_op(&r, 6);
			check_full(&older, &mo);
			r.d = &newer;
			r.m[0] = &mn;
			nops = rnd(&r, 4) == 0 ? 0 : rnd(&r, 40);
			for (uint64_t i = 0; i < nops; i++, g_op++)
				random_op(&r, 6);
			check_full(&newer, &mn);

			before = older.bytes + newer.bytes;
			ck_assert_int_eq(dset_merge_under(&newer, &older), 0);
			ck_assert(dset_empty(&older) && older.n == 0 && older.v == NULL &&
				  older.bytes == 0);
			check_full(&newer, &mc);
			ck_assert(newer.bytes <= before);
			/* the merged set goes on as any other (it owns its buffers) */
			r.m[0] = &mc;
			r.m[1] = NULL;
			for (int i = 0; i < 20; i++, g_op++)
				random_op(&r, 6);
			check_full(&newer, &mc);
			dset_release(&newer);
			dset_release(&older);
			m_reset(&mo);
			m_reset(&mn);
			m_reset(&mc);
		}
		m_free(&mo);
		m_free(&mn);
		m_free(&mc);
	}
}
END_TEST

/* A set laid over a buffer of one byte value, all of [0, u). */
static void lay(const struct dset *d, uint8_t *buf, uint64_t u)
{
	memset(buf, 0xa5, u);
	dset_overlay(d, 0, buf, u, UINT64_MAX);
}

/* dset_split at a random offset of random sets (the flusher's commit below
 * a writeback gap): what lies below goes nowhere, what lies at or past
 * goes to the tail, the truncate stays; the two laid one over the other
 * are the set, as is their merge, and dset_has_below says whether the
 * first part changes anything. */
START_TEST(split)
{
	const uint64_t u = 262144;
	uint8_t *want = malloc(u), *got = malloc(u);
	struct model m;
	struct run r;

	ck_assert(want && got);
	m_init(&m, u, false);
	for (int round = 0; round < 800; round++) {
		struct dset d, tail;
		uint64_t at, before, nops;
		bool below;

		dset_init(&d);
		run_init(&r, 7000 + (uint64_t)round, u, u / 8, &d, &m, NULL);
		nops = rnd(&r, 60);
		for (uint64_t i = 0; i < nops; i++, g_op++)
			random_op(&r, round % 3 ? 1000000 : 8);
		check_full(&d, &m);
		/* mostly inside an extent or a hole, sometimes at an edge */
		at = rnd(&r, 3) == 0 && d.n ? d.v[rnd(&r, d.n)].off : rnd(&r, u + 1);
		lay(&d, want, u);
		before = d.bytes;
		below = dset_has_below(&d, at);
		ck_assert_int_eq(dset_split(&d, at, &tail), 0);
		check_shape(&d);
		check_shape(&tail);
		ck_assert_uint_eq(d.bytes + tail.bytes, before);
		ck_assert(tail.trunc == UINT64_MAX);
		ck_assert(below == !dset_empty(&d));
		for (size_t i = 0; i < d.n; i++)
			ck_assert(d.v[i].off + d.v[i].len <= at);
		for (size_t i = 0; i < d.nh; i++)
			ck_assert(d.h[i].off < d.h[i].end && d.h[i].end <= at);
		for (size_t i = 0; i < tail.n; i++)
			ck_assert(tail.v[i].off >= at);
		for (size_t i = 0; i < tail.nh; i++)
			ck_assert(tail.h[i].off >= at && tail.h[i].off < tail.h[i].end &&
				  (i == 0 || tail.h[i].off > tail.h[i - 1].end));
		memset(got, 0xa5, u);
		dset_overlay(&d, 0, got, u, UINT64_MAX);
		dset_overlay(&tail, 0, got, u, UINT64_MAX);
		ck_assert_msg(memcmp(got, want, u) == 0, AT_FMT "split at %llu lays differently",
			      AT, (unsigned long long)at);
		/* the tail is a set like any other: merged under, it is whole */
		ck_assert_int_eq(dset_merge_under(&tail, &d), 0);
		ck_assert_uint_eq(tail.bytes, before);
		lay(&tail, got, u);
		ck_assert_msg(memcmp(got, want, u) == 0, AT_FMT "merged back at %llu differs", AT,
			      (unsigned long long)at);
		dset_release(&tail);
		dset_release(&d);
		m_reset(&m);
	}
	m_free(&m);
	free(want);
	free(got);
}
END_TEST

/* What a read sees before the flush, as the daemon reads: the committed
 * store below the lowest truncate, then the flush set below the dirty set's
 * truncate, then the dirty set. */
static void check_view(st_store *st, const struct dset *flush, const struct dset *dirty,
		       const struct model *fm, uint8_t *buf)
{
	uint64_t limit = min64(min64(st_file_size(st), flush->trunc), dirty->trunc);
	uint64_t want = min64(limit, fm->fsize);

	memset(buf, 0, fm->fsize);
	ck_assert_int_eq(st_file_read(st, 0, buf, (size_t)want), (ssize_t)want);
	dset_overlay(flush, 0, buf, fm->fsize, dirty->trunc);
	dset_overlay(dirty, 0, buf, fm->fsize, UINT64_MAX);
	ck_assert_msg(memcmp(buf, fm->file, fm->fsize) == 0, AT_FMT "the layered read differs", AT);
}

static void check_store(st_store *st, const struct model *fm, uint8_t *buf)
{
	ck_assert_uint_eq(st_file_size(st), fm->fsize);
	memset(buf, 0xcc, fm->u);
	ck_assert_int_eq(st_file_read(st, 0, buf, fm->u), (ssize_t)fm->fsize);
	if (memcmp(buf, fm->file, fm->fsize) != 0) {
		size_t k = 0;

		while (buf[k] == fm->file[k])
			k++;
		ck_abort_msg(AT_FMT "store byte %zu is %u, model %u (size %llu)", AT, k, buf[k],
			     fm->file[k], (unsigned long long)fm->fsize);
	}
}

/* dset_apply into a file store, as the flusher does it (apply, set the
 * size, commit), round after round over the same store: the store then
 * reads as the model's file. Half the rounds flush a merge of two sets. */
START_TEST(apply_to_store)
{
	const uint64_t u = 5u << 20;
	char *p = tu_path(tu_dir, "f.rev");
	st_store *st;
	struct model fm, mf, md;
	struct run r;
	uint8_t *buf = malloc(u);

	ck_assert(buf);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC, NULL, &st), ST_OK);
	m_init(&fm, u, true);
	m_init(&mf, u, false);
	m_init(&md, u, false);
	for (int round = 0; round < 50; round++) {
		struct dset flush, dirty;
		bool two;

		dset_init(&flush);
		dset_init(&dirty);
		run_init(&r, 5000 + (uint64_t)round, u, 512 << 10, &flush, &mf, &fm);
		two = rnd(&r, 2);
		for (uint64_t i = 0, n = rnd(&r, 40); i < n; i++, g_op++)
			random_op(&r, 5);
		if (two) {
			r.d = &dirty;
			r.m[0] = &md;
			for (uint64_t i = 0, n = rnd(&r, 40); i < n; i++, g_op++)
				random_op(&r, 5);
		}
		check_full(&flush, &mf);
		check_full(&dirty, &md);
		check_view(st, &flush, &dirty, &fm, buf);
		if (two) {
			/* the flusher's retry after a failed commit */
			ck_assert_int_eq(dset_merge_under(&dirty, &flush), 0);
			check_full(&dirty, &fm);
			ck_assert_int_eq(dset_apply(&dirty, st), ST_OK);
		} else {
			check_full(&flush, &fm);
			ck_assert_int_eq(dset_apply(&flush, st), ST_OK);
		}
		/* the set alone leaves the size at most the file's: only a
		 * truncate up is missing, which the flusher adds */
		ck_assert_msg(st_file_size(st) <= fm.fsize, AT_FMT "staged size %llu > %llu", AT,
			      (unsigned long long)st_file_size(st), (unsigned long long)fm.fsize);
		if (st_file_size(st) != fm.fsize)
			ck_assert_int_eq(st_file_truncate(st, fm.fsize), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		check_store(st, &fm, buf);
		if (round % 10 == 9) {
			st_close(st);
			ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_OK);
			check_store(st, &fm, buf);
		}
		dset_release(&flush);
		dset_release(&dirty);
		m_reset(&fm);
		m_reset(&mf);
		m_reset(&md);
	}
	st_close(st);
	m_free(&fm);
	m_free(&mf);
	m_free(&md);
	free(buf);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, edge_cases);
	tcase_add_test(tc, extent_cap);
	tcase_add_test(tc, appends);
	tcase_add_test(tc, random_small);
	tcase_add_test(tc, random_large);
	tcase_add_test(tc, merge_under);
	tcase_add_test(tc, split);
	tcase_add_test(tc, apply_to_store);
}

int main(void)
{
	return tu_main("dirty", 120, add_tests, NULL);
}
