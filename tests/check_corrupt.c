/*
 * check_corrupt.c - one flipped bit anywhere in a store file is either
 * harmless (padding, garbage) or reported as ST_ECORRUPT with the offset of
 * the damaged record or page, and everything it did not touch still reads
 * back exactly. Never wrong data, never a crash.
 *
 * To know what each byte is, the test reads the file's layout itself from
 * the on-disk format (block markers, records, headers, tree nodes, data
 * records), independently of the engine's decoders.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- the on-disk format, as far as this test needs it ------------------ */

#define BS	    4096u
#define MARK_HEADER 0x01
#define REC_HDR	    8u	 /* u32 length, u32 crc */
#define HDR_REC	    137u /* marker, length, crc, 128-byte payload */
#define HDR_ROOT    56u	 /* offset of the root pointer in the header payload */
#define DATA_FIXED  12u	 /* type, flags, reserved, npages, tail */
#define T_LEAF	    2
#define T_INTERIOR  3

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Physical end of n stream bytes from pos: each block's first byte is a
 * marker that the stream skips. */
static uint64_t phys_end(uint64_t pos, uint64_t n)
{
	while (n) {
		uint64_t room;

		if (pos % BS == 0)
			pos++;
		room = BS - pos % BS;
		if (room > n)
			room = n;
		pos += room;
		n -= room;
	}
	return pos;
}

struct span {
	uint64_t lo, hi; /* [lo, hi) of the file */
};

static bool in(struct span s, uint64_t x)
{
	return x >= s.lo && x < s.hi;
}

#define MAX_SPANS 4096
#define MAX_PAGES 64
#define MAX_VERS  16

/* What one page of the newest version depends on besides its tree. */
struct pagedep {
	bool data;	   /* false: a hole */
	struct span head;  /* the data record's length, crc and head */
	struct span bytes; /* the page inside the record */
};

struct layout {
	uint8_t *img;
	uint64_t size;
	uint64_t hdr[MAX_VERS];	    /* header block of each seq */
	unsigned nvers;		    /* seqs 0 .. nvers - 1 */
	struct span all[MAX_SPANS]; /* read by some version: st_check ALL */
	unsigned nall;
	struct span newest[MAX_SPANS]; /* read by the newest version's tree */
	unsigned nnew;
	struct span root; /* the newest root (a leaf: the store is small) */
	struct pagedep pg[MAX_PAGES];
	uint64_t npages;
};

/* Copies n stream bytes starting at pos out of the image. */
static void sget(const struct layout *l, uint64_t pos, uint8_t *out, size_t n)
{
	ck_assert_uint_le(phys_end(pos, n), l->size);
	while (n) {
		size_t room;

		if (pos % BS == 0)
			pos++;
		room = BS - pos % BS;
		if (room > n)
			room = n;
		memcpy(out, l->img + pos, room);
		out += room;
		pos += room;
		n -= room;
	}
}

static void add(struct span *v, unsigned *n, struct span s)
{
	ck_assert_uint_lt(*n, MAX_SPANS);
	v[(*n)++] = s;
}

static bool in_any(const struct span *v, unsigned n, uint64_t x)
{
	for (unsigned i = 0; i < n; i++)
		if (in(v[i], x))
			return true;
	return false;
}

/* Walks the node at pos and what it points to; newest: also fill in the
 * newest version's page map. */
static void walk_node(struct layout *l, uint64_t pos, bool newest)
{
	uint8_t lenb[4], *rec, *p;
	uint32_t len, count;
	struct span s;

	sget(l, pos, lenb, 4);
	len = be32(lenb);
	ck_assert_uint_lt(len, 1u << 20);
	rec = malloc(REC_HDR + len);
	ck_assert_ptr_nonnull(rec);
	sget(l, pos, rec, REC_HDR + len);
	s.lo = pos;
	s.hi = phys_end(pos, REC_HDR + len);
	add(l->all, &l->nall, s);
	if (newest)
		add(l->newest, &l->nnew, s);
	p = rec + REC_HDR;
	count = (uint32_t)p[2] << 8 | p[3];
	if (p[0] == T_INTERIOR) {
		/* Every page read goes through one root; a deeper tree would
		 * need the path of each page, which this small store avoids. */
		ck_assert_msg(!newest, "the newest tree is not a single leaf");
		p += 4;
		for (uint32_t i = 0; i < count; i++) {
			uint32_t kl = (uint32_t)p[0] << 8 | p[1];
			walk_node(l, be64(p + 2 + kl), false);
			p += 2 + kl + 24;
		}
		free(rec);
		return;
	}
	ck_assert_int_eq(p[0], T_LEAF);
	if (newest)
		l->root = s;
	p += 4;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t kl = (uint32_t)p[0] << 8 | p[1], vl = be32(p + 2);
		const uint8_t *k = p + 6, *v = k + kl;
		uint64_t page = be64(k), at = be64(v);
		uint32_t rnp = be32(v + 8), first = be32(v + 12), np = be32(v + 16);
		uint8_t head[REC_HDR + DATA_FIXED];
		uint32_t rtail, hlen = REC_HDR + DATA_FIXED + 4 * rnp;
		struct span hs = {at, phys_end(at, hlen)};

		ck_assert(kl == 8 && vl == 24);
		sget(l, at, head, sizeof(head));
		ck_assert_uint_eq(be32(head + REC_HDR + 4), rnp);
		rtail = be32(head + REC_HDR + 8);
		add(l->all, &l->nall, hs);
		if (newest)
			add(l->newest, &l->nnew, hs);
		for (uint32_t j = first; j < first + np; j++) {
			uint64_t o = hlen + (uint64_t)j * BS;
			struct span ps = {phys_end(at, o),
					  phys_end(at, o + (j + 1 == rnp ? rtail : BS))};

			add(l->all, &l->nall, ps);
			if (!newest)
				continue;
			add(l->newest, &l->nnew, ps);
			ck_assert_uint_lt(page + (j - first), MAX_PAGES);
			l->pg[page + (j - first)].data = true;
			l->pg[page + (j - first)].head = hs;
			l->pg[page + (j - first)].bytes = ps;
		}
		p += 6 + kl + vl;
	}
	free(rec);
}

static int ver_cb(void *arg, const struct st_version *v)
{
	struct layout *l = arg;

	ck_assert_uint_lt(v->seq, MAX_VERS);
	l->hdr[v->seq] = v->offset;
	if (v->seq + 1 > l->nvers)
		l->nvers = (unsigned)v->seq + 1;
	return 0;
}

static void layout_read(struct layout *l, const char *path)
{
	FILE *f = fopen(path, "rb");
	st_store *st;

	memset(l, 0, sizeof(*l));
	l->size = tu_file_size(path);
	l->img = malloc(l->size);
	ck_assert(f && l->img);
	ck_assert_uint_eq(fread(l->img, 1, l->size, f), l->size);
	fclose(f);
	ck_assert_int_eq(st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	ck_assert_int_eq(st_versions(st, ver_cb, l), ST_OK);
	l->npages = (st_file_size(st) + BS - 1) / BS;
	st_close(st);
	ck_assert_uint_le(l->npages, MAX_PAGES);
	for (unsigned s = 0; s < l->nvers; s++) {
		uint64_t h = l->hdr[s], root;

		ck_assert_int_eq(l->img[h], MARK_HEADER);
		root = be64(l->img + h + 1 + REC_HDR + HDR_ROOT);
		add(l->all, &l->nall, (struct span){h, h + HDR_REC});
		if (root)
			walk_node(l, root, s + 1 == l->nvers);
	}
	/* The newest header closes the file. */
	ck_assert_uint_eq(l->hdr[l->nvers - 1] + HDR_REC, l->size);
}

/* ---- the store under test ------------------------------------------------ */

#define NV  5 /* versions 0 (empty) .. 4 */
#define CAP (MAX_PAGES * BS)

struct model {
	uint8_t buf[NV][CAP];
	uint64_t size[NV];
};

static void put(st_store *st, struct model *m, int v, uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len);

	ck_assert_ptr_nonnull(p);
	tu_fill(&seed, p, len);
	ck_assert_int_eq(st_file_write(st, off, p, len), ST_OK);
	memcpy(m->buf[v] + off, p, len);
	if (off + len > m->size[v])
		m->size[v] = off + len;
	free(p);
}

static void cut(st_store *st, struct model *m, int v, uint64_t size)
{
	ck_assert_int_eq(st_file_truncate(st, size), ST_OK);
	if (size < m->size[v])
		memset(m->buf[v] + size, 0, m->size[v] - size);
	m->size[v] = size;
}

static void next_version(st_store *st, struct model *m, int v)
{
	struct st_version ver;

	ck_assert_int_eq(st_commit(st, &ver), ST_OK);
	ck_assert_uint_eq(ver.seq, (uint64_t)v);
	if (v + 1 < NV) {
		memcpy(m->buf[v + 1], m->buf[v], CAP);
		m->size[v + 1] = m->size[v];
	}
}

/* Several extents in separate data records, holes, a partial last page, a
 * record no version references, and dead records of older versions. */
static void build(const char *path, struct model *m)
{
	st_store *st;

	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(st_open(path, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	memcpy(m->buf[1], m->buf[0], CAP);
	put(st, m, 1, 0, 5 * BS, 1);
	put(st, m, 1, 10 * BS, 3 * BS, 2);
	next_version(st, m, 1);
	put(st, m, 2, 2 * BS + 50, 100, 3);
	put(st, m, 2, 20 * BS, BS, 4);
	put(st, m, 2, 20 * BS, BS, 5); /* the first one becomes garbage */
	next_version(st, m, 2);
	cut(st, m, 3, 12 * BS + 100);
	put(st, m, 3, 15 * BS, 2 * BS, 6);
	next_version(st, m, 3);
	put(st, m, 4, 30 * BS + 1000, 7000, 7);
	put(st, m, 4, 7 * BS, 2 * BS + 1, 8);
	next_version(st, m, 4);
	st_close(st);
}

/* ---- one flip ---------------------------------------------------------------- */

struct stats {
	unsigned flips, harmless, caught, header;
};

/* The offset a read of page p must fail at after a flip at x, or -1. */
static int64_t page_expect(const struct layout *l, uint64_t p, uint64_t x)
{
	/* A damaged block marker is reported where it is; anything else at the
	 * start of the record or page holding it. */
	if (in(l->root, x))
		return x % BS == 0 ? (int64_t)x : (int64_t)l->root.lo;
	if (!l->pg[p].data)
		return -1;
	if (in(l->pg[p].head, x))
		return x % BS == 0 ? (int64_t)x : (int64_t)l->pg[p].head.lo;
	if (in(l->pg[p].bytes, x))
		return x % BS == 0 ? (int64_t)x : (int64_t)l->pg[p].bytes.lo;
	return -1;
}

static void read_all_pages(st_store *st, const struct layout *l, const uint8_t *want, uint64_t size,
			   uint64_t x, unsigned bit)
{
	uint8_t buf[BS];

	for (uint64_t p = 0; p * BS < size; p++) {
		size_t len = size - p * BS < BS ? (size_t)(size - p * BS) : BS;
		int64_t exp = page_expect(l, p, x);
		ssize_t n = st_file_read(st, p * BS, buf, len);

		if (exp < 0) {
			ck_assert_msg(n == (ssize_t)len,
				      "flip at %llu bit %u: page %llu gave %zd (%s), want data",
				      (unsigned long long)x, bit, (unsigned long long)p, n,
				      st_last_error()->msg);
			ck_assert_msg(memcmp(buf, want + p * BS, len) == 0,
				      "flip at %llu bit %u: page %llu reads wrong data",
				      (unsigned long long)x, bit, (unsigned long long)p);
			continue;
		}
		ck_assert_msg(n == ST_ECORRUPT,
			      "flip at %llu bit %u: page %llu gave %zd, want ST_ECORRUPT",
			      (unsigned long long)x, bit, (unsigned long long)p, n);
		ck_assert_msg(st_last_error()->offset == (uint64_t)exp,
			      "flip at %llu bit %u: page %llu: error at %llu, want %lld (%s)",
			      (unsigned long long)x, bit, (unsigned long long)p,
			      (unsigned long long)st_last_error()->offset, (long long)exp,
			      st_last_error()->msg);
	}
}

/* The store at seq holds exactly version seq of m, and everything checks. */
static void expect_intact(st_store *st, const struct model *m, uint64_t seq, const char *what)
{
	uint8_t *back = malloc(CAP);
	struct st_version cur;

	st_current(st, &cur);
	ck_assert_msg(cur.seq == seq, "%s: at seq %llu, want %llu", what,
		      (unsigned long long)cur.seq, (unsigned long long)seq);
	ck_assert_int_eq(st_file_read(st, 0, back, CAP), (ssize_t)m->size[seq]);
	ck_assert_msg(memcmp(back, m->buf[seq], m->size[seq]) == 0, "%s: wrong data", what);
	ck_assert_msg(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL) == ST_OK, "%s: %s", what,
		      st_last_error()->msg);
	free(back);
}

static int noop_cb(void *arg, const struct st_version *v)
{
	(void)arg;
	(void)v;
	return 0;
}

/* A flip in the newest header: the open refuses, unless told to recover,
 * and then the previous version is all there. */
static void flip_newest_header(const char *path, const struct layout *l, const struct model *m,
			       uint64_t x, unsigned bit, struct stats *s)
{
	uint64_t top = l->nvers - 1;
	char what[64];
	st_store *st;
	int rc;

	snprintf(what, sizeof(what), "flip at %llu bit %u (newest header)", (unsigned long long)x,
		 bit);
	s->header++;
	rc = st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st);
	if (rc == ST_OK) {
		/* Only the marker byte may be read as "never committed": a
		 * commit that did not reach its flip looks the same. */
		ck_assert_msg(x == l->hdr[top], "%s: opened anyway", what);
		expect_intact(st, m, top - 1, what);
		st_close(st);
		return;
	}
	ck_assert_msg(rc == ST_ECORRUPT, "%s: open gave %d", what, rc);
	ck_assert_msg(st_last_error()->offset == l->hdr[top], "%s: error at %llu", what,
		      (unsigned long long)st_last_error()->offset);
	ck_assert_int_eq(st_open(path, ST_KIND_FILE, ST_READONLY | ST_RECOVER, NULL, &st), ST_OK);
	expect_intact(st, m, top - 1, what);
	st_close(st);
}

static void flip_one(const char *path, const struct layout *l, const struct model *m, uint64_t x,
		     unsigned bit, struct stats *s)
{
	uint64_t top = l->nvers - 1;
	bool reach_new = in_any(l->newest, l->nnew, x);
	bool reach_all = in_any(l->all, l->nall, x);
	bool old_header = false;
	st_store *st;
	int rc;

	s->flips++;
	tu_flip_bit(path, x, bit);
	if (x >= l->hdr[top]) {
		flip_newest_header(path, l, m, x, bit, s);
		tu_flip_bit(path, x, bit);
		return;
	}
	for (unsigned v = 0; v < top; v++)
		old_header |= x >= l->hdr[v] && x < l->hdr[v] + HDR_REC;

	rc = st_open(path, ST_KIND_FILE, ST_READONLY, NULL, &st);
	ck_assert_msg(rc == ST_OK, "flip at %llu bit %u: open gave %d (%s)", (unsigned long long)x,
		      bit, rc, st_last_error()->msg);
	read_all_pages(st, l, m->buf[top], m->size[top], x, bit);

	rc = st_check(st, ST_CHECK_DATA);
	ck_assert_msg(rc == (reach_new ? ST_ECORRUPT : ST_OK),
		      "flip at %llu bit %u: st_check gave %d (%s)", (unsigned long long)x, bit, rc,
		      st_last_error()->msg);
	rc = st_check(st, ST_CHECK_DATA | ST_CHECK_ALL);
	ck_assert_msg(rc == (reach_all ? ST_ECORRUPT : ST_OK),
		      "flip at %llu bit %u: st_check ALL gave %d (%s)", (unsigned long long)x, bit,
		      rc, st_last_error()->msg);
	if (rc != ST_OK)
		ck_assert_msg(st_last_error()->offset <= x && x - st_last_error()->offset < 2 * BS,
			      "flip at %llu bit %u: st_check ALL blames %llu",
			      (unsigned long long)x, bit,
			      (unsigned long long)st_last_error()->offset);
	rc = st_versions(st, noop_cb, NULL);
	ck_assert_msg(rc == (old_header ? ST_ECORRUPT : ST_OK),
		      "flip at %llu bit %u: st_versions gave %d", (unsigned long long)x, bit, rc);
	/* Seeks touch the same records as reads; only no crash is asked. */
	(void)st_file_seek(st, 0, SEEK_DATA);
	(void)st_file_seek(st, 0, SEEK_HOLE);
	st_close(st);
	if (reach_all)
		s->caught++;
	else
		s->harmless++;
	tu_flip_bit(path, x, bit);
}

/* Bytes worth every flip: structure, and the edges of every span. */
static bool interesting(const struct layout *l, uint64_t x)
{
	if (x % BS == 0 || x >= l->hdr[l->nvers - 1])
		return true;
	for (unsigned i = 0; i < l->nall; i++) {
		const struct span *s = &l->all[i];
		if (x + 16 >= s->lo && x < s->lo + 48)
			return true;
		if (x + 16 >= s->hi && x < s->hi + 16)
			return true;
	}
	for (unsigned v = 0; v < l->nvers; v++)
		if (x >= l->hdr[v] && x < l->hdr[v] + HDR_REC)
			return true;
	return false;
}

START_TEST(bit_flips)
{
	static struct model m;
	static struct layout l;
	char *orig = tu_path(tu_dir, "orig.rev"), *copy = tu_path(tu_dir, "copy.rev");
	struct stats s = {0};

	build(orig, &m);
	layout_read(&l, orig);
	ck_assert_uint_eq(l.nvers, NV);
	tu_copy_file(orig, copy);
	for (uint64_t x = 0; x < l.size; x++) {
		if (x % BS == 0) {
			for (unsigned bit = 0; bit < 8; bit++)
				flip_one(copy, &l, &m, x, bit, &s);
		} else if (interesting(&l, x) || x % 61 == 0) {
			flip_one(copy, &l, &m, x, (unsigned)(x * 3 % 8), &s);
		}
	}
	/* The copy is back to the original, bit for bit. */
	{
		uint8_t *a = malloc(l.size);
		FILE *f = fopen(copy, "rb");
		ck_assert(a && f && fread(a, 1, l.size, f) == l.size);
		fclose(f);
		ck_assert(memcmp(a, l.img, l.size) == 0);
		free(a);
	}
	ck_assert_uint_gt(s.caught, 100);
	ck_assert_uint_gt(s.harmless, 10);
	ck_assert_uint_gt(s.header, 100);
	free(l.img);
	free(orig);
	free(copy);
}
END_TEST

/* Recovery with a writable handle drops the damaged newest header for
 * good, and the store takes commits again. */
START_TEST(recover_after_header_flip)
{
	static struct model m;
	static struct layout l;
	char *orig = tu_path(tu_dir, "orig.rev"), *copy = tu_path(tu_dir, "copy.rev");
	uint64_t top;

	build(orig, &m);
	layout_read(&l, orig);
	top = l.nvers - 1;
	for (uint64_t x = l.hdr[top] + 1; x < l.size; x += 3) {
		st_store *st;
		uint8_t back[100];
		struct st_version ver;

		tu_copy_file(orig, copy);
		tu_flip_bit(copy, x, (unsigned)(x % 8));
		ck_assert_int_eq(st_open(copy, ST_KIND_FILE, 0, NULL, &st), ST_ECORRUPT);
		ck_assert_int_eq(st_open(copy, ST_KIND_FILE, ST_RECOVER, NULL, &st), ST_OK);
		expect_intact(st, &m, top - 1, "writable recover");
		ck_assert_int_eq(st_file_write(st, 1, "recovered", 9), ST_OK);
		ck_assert_int_eq(st_commit(st, &ver), ST_OK);
		ck_assert_uint_eq(ver.seq, top);
		st_close(st);
		ck_assert_int_eq(st_open(copy, ST_KIND_FILE, 0, NULL, &st), ST_OK);
		ck_assert_int_eq(st_file_read(st, 0, back, sizeof(back)), sizeof(back));
		ck_assert(memcmp(back + 1, "recovered", 9) == 0);
		ck_assert(back[0] == m.buf[top - 1][0] && back[10] == m.buf[top - 1][10]);
		ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
		st_close(st);
	}
	free(l.img);
	free(orig);
	free(copy);
}
END_TEST

/*
 * A well-formed header anywhere but where it was written is not a version
 * (FORMAT.md, section 7, FEAT_RO_SELF): a copy in a block after the newest
 * commit, exposed by a marker that reads 0x01, is damage the plain open
 * reports (not an older version it silently serves), and recovery passes
 * over it. A store opened as another store (another identity) is refused.
 * Without identities (a store made before them) the copy still wins: the
 * reason the feature exists.
 */
static void forge_tail(const char *path)
{
	uint8_t hdr[137];
	uint64_t end = tu_file_size(path), blk = (end + 4095) / 4096 * 4096;
	int fd = open(path, O_RDWR);

	/* The store's first header: seq 1, no predecessor, at offset 0 or
	 * after the first commit's records; its block starts with 0x01. */
	ck_assert_int_ge(fd, 0);
	for (uint64_t b = 0; b < end; b += 4096) {
		ck_assert_int_eq(pread(fd, hdr, 1, (off_t)b), 1);
		if (hdr[0] == 1) {
			ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), (off_t)b), sizeof(hdr));
			break;
		}
	}
	ck_assert_int_eq(hdr[0], 1);
	ck_assert_int_eq(pwrite(fd, hdr, sizeof(hdr), (off_t)blk), sizeof(hdr));
	close(fd);
}

START_TEST(header_copies)
{
	static const uint8_t id[ST_ID_SIZE] = "0123456789abcde", other[ST_ID_SIZE] = "x";
	const struct st_open_opts with = {.id = id}, wrong = {.id = other};
	char *a = tu_path(tu_dir, "a.rev"), *b = tu_path(tu_dir, "b.rev");
	struct st_version v;
	st_store *st;

	for (int round = 0; round < 2; round++) {
		const char *path = round ? b : a;
		const struct st_open_opts *o = round ? NULL : &with;

		ck_assert_int_eq(st_open(path, ST_KIND_FILE, ST_CREATE | ST_DEFER, o, &st), ST_OK);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(st_file_write(st, (uint64_t)i * 5000, "version", 7),
					 ST_OK);
			ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		}
		st_close(st);
		forge_tail(path);
	}
	/* With identities: the copy is refused, by position, with or
	 * without the identity given; recovery finds the real newest. */
	ck_assert_int_eq(st_open(a, ST_KIND_FILE, ST_READONLY, &with, &st), ST_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(st_last_error()->msg, "another position"));
	ck_assert_int_eq(st_open(a, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_ECORRUPT);
	ck_assert_int_eq(st_open(a, ST_KIND_FILE, ST_READONLY | ST_RECOVER, &with, &st), ST_OK);
	st_current(st, &v);
	ck_assert_uint_eq(v.seq, 3);
	st_close(st);
	ck_assert_int_eq(st_open(a, ST_KIND_FILE, ST_READONLY | ST_RECOVER, &wrong, &st),
			 ST_ECORRUPT);
	/* Without: the copy is taken for the newest version (seq 1). */
	ck_assert_int_eq(st_open(b, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	st_current(st, &v);
	ck_assert_uint_eq(v.seq, 1);
	st_close(st);
	free(a);
	free(b);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, bit_flips);
	tcase_add_test(tc, recover_after_header_flip);
	tcase_add_test(tc, header_copies);
}

int main(void)
{
	return tu_main("corrupt", 300, add_tests, NULL);
}
