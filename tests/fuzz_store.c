/*
 * fuzz_store.c - libFuzzer target: any byte string, opened as a store of
 * either kind, read-only and with recovery, must be walked (info, versions,
 * check, reads, ranges, seeks) without a crash, a hang or a leak.
 *
 * Random bytes almost never pass a record's checksum, so the engine would
 * stop at the first crc and the fuzzer would see little else. Each input
 * is therefore also tried with its checksums recomputed wherever the
 * format says a record is (headers, the trees they point to, data
 * records, inline areas), which lets mutations reach the decoders behind
 * the crcs.
 *
 * One more property is checked, not just survival: when st_check (with
 * data) passes on a version, reading that version must not find
 * corruption either, and kv keys must come back in order.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ns.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *path;
static int fd = -1;

static void cleanup(void)
{
	if (path)
		unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&path, "%s/fuzz_store.XXXXXX", tmp) < 0)
		abort();
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static void put_file(const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
}

/* The property above broke: say what, and crash so the fuzzer keeps it. */
static void fail(const char *what, uint64_t seq, int rc)
{
	fprintf(stderr, "fuzz_store: %s (seq %llu): %d %s\n", what, (unsigned long long)seq, rc,
		st_last_error()->msg);
	abort();
}

/* ---- walking an opened store ------------------------------------------ */

#define MAX_VERSIONS 64
#define CHUNK	     (256u << 10)
/* A small file may legally describe gigabytes (extents sharing records);
 * reading them all would be a slow input, not a bug. */
#define READ_BUDGET (32ull << 20)

struct seqs {
	uint64_t v[MAX_VERSIONS];
	unsigned n;
};

static int seq_cb(void *arg, const struct st_version *v)
{
	struct seqs *s = arg;

	if (s->n == MAX_VERSIONS)
		return 1;
	s->v[s->n++] = v->seq;
	return 0;
}

struct kv_walk {
	uint8_t last[ST_MAX_KEY];
	size_t last_len;
	bool have_last;
	bool ordered;
	uint64_t n;
};

static int kv_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct kv_walk *w = arg;
	size_t m = kl < w->last_len ? kl : w->last_len;
	int c;

	(void)v;
	if (kl > ST_MAX_KEY || vl > ST_MAX_VALUE)
		w->ordered = false;
	if (w->have_last && kl <= ST_MAX_KEY) {
		c = m ? memcmp(w->last, k, m) : 0;
		if (c > 0 || (c == 0 && w->last_len >= kl))
			w->ordered = false;
	}
	if (kl <= ST_MAX_KEY) {
		memcpy(w->last, k, kl);
		w->last_len = kl;
		w->have_last = true;
	}
	w->n++;
	return 0;
}

static void walk_file(st_store *st, uint64_t seq, bool checked, uint64_t *budget, uint8_t *buf)
{
	struct st_version cur;
	uint64_t off = 0;

	st_current(st, &cur);
	while (off<cur.size && * budget> 0) {
		int64_t d = st_file_seek(st, off, SEEK_DATA);
		int64_t h;
		ssize_t n;

		if (d < 0) {
			if (checked && d != ST_ENOTFOUND)
				fail("SEEK_DATA failed on a checked version", seq, (int)d);
			break;
		}
		if ((uint64_t)d < off || (uint64_t)d >= cur.size)
			fail("SEEK_DATA out of range", seq, (int)d);
		h = st_file_seek(st, (uint64_t)d, SEEK_HOLE);
		if (h >= 0 && ((uint64_t)h < (uint64_t)d || (uint64_t)h > cur.size))
			fail("SEEK_HOLE out of range", seq, (int)h);
		if (h < 0 && checked)
			fail("SEEK_HOLE failed on a checked version", seq, (int)h);
		n = st_file_read(st, (uint64_t)d, buf, CHUNK);
		if (n < 0) {
			if (checked)
				fail("read failed on a checked version", seq, (int)n);
			break;
		}
		if (n == 0 || (size_t)n > CHUNK || (uint64_t)n > cur.size - (uint64_t)d)
			fail("read returned a bad length", seq, (int)n);
		off = (uint64_t)d + (uint64_t)n;
		*budget = *budget > (uint64_t)n ? *budget - (uint64_t)n : 0;
	}
	/* The version's attributes, and the namespace's reading of them. */
	{
		struct ns_meta m;
		void *attrs;
		size_t alen;
		int rc = st_file_meta(st, &attrs, &alen);

		if (checked && rc != ST_OK)
			fail("attributes of a checked version", seq, rc);
		if (rc == ST_OK && attrs && ns_meta_decode(attrs, alen, &m) == ST_OK)
			ns_meta_free(&m);
		free(attrs);
	}
	/* Past the end and in the middle of a page: the edge cases. */
	(void)st_file_read(st, cur.size, buf, 1);
	if (cur.size > 1)
		(void)st_file_read(st, cur.size - 1, buf, 2);
	(void)st_file_seek(st, cur.size, SEEK_HOLE);
}

static void walk_kv(st_store *st, uint64_t seq, bool checked)
{
	struct kv_walk w = {.ordered = true};
	int rc = st_kv_range(st, "", 0, kv_cb, &w);

	if (checked && (rc != ST_OK || !w.ordered))
		fail("range on a checked version", seq, rc);
	if (rc == ST_OK && w.have_last) {
		void *v = NULL;
		size_t vl;

		rc = st_kv_get(st, w.last, w.last_len, &v, &vl);
		if (checked && rc != ST_OK)
			fail("get of a listed key", seq, rc);
		free(v);
	}
}

static void walk(st_store *st, enum st_kind kind, uint64_t seq, uint64_t *budget, uint8_t *buf)
{
	bool checked = st_check(st, ST_CHECK_DATA) == ST_OK;

	if (kind == ST_KIND_FILE)
		walk_file(st, seq, checked, budget, buf);
	else
		walk_kv(st, seq, checked);
}

static void exercise(void)
{
	static const enum st_kind kinds[] = {ST_KIND_FILE, ST_KIND_KV};
	static const int flags[] = {ST_READONLY, ST_READONLY | ST_RECOVER};
	/* Also as a store with an identity (corpus/store/file-identity has
	 * this one), so that the identity checks see both outcomes. */
	static const uint8_t id[ST_ID_SIZE] = "revfs-fuzz-id-0";
	/* And sealed, with the key of corpus/store/file-sealed and kv-sealed:
	 * what is before the seals (lengths, crcs, data heads) and the
	 * unsealing itself see any bytes. */
	static const struct st_key key = {"revfs-fuzz-key-0-revfs-fuzz-key"};
	const struct st_open_opts with_id = {.id = id}, sealed = {.id = id, .key = &key};
	const struct st_open_opts *const opts[] = {NULL, NULL, &with_id, &sealed, &sealed};
	uint8_t *buf = malloc(CHUNK);
	uint64_t budget = READ_BUDGET;

	if (!buf)
		abort();
	{
		/* The check without the key reads any bytes as a sealed store. */
		struct st_raw_report r;

		(void)st_check_sealed_file(path, &r);
	}
	for (size_t k = 0; k < 2; k++) {
		for (size_t f = 0; f < 5; f++) {
			struct seqs s = {.n = 0};
			struct st_version cur;
			struct st_info info;
			st_store *st, *v_at;

			if (st_open(path, kinds[k], flags[f % 2], opts[f], &st) != ST_OK)
				continue;
			(void)st_info(st, &info);
			st_current(st, &cur);
			(void)st_versions(st, seq_cb, &s);
			(void)st_check(st, ST_CHECK_DATA | ST_CHECK_ALL);
			{
				/* What a compaction would keep (revfs-compact -n):
				 * the first half of the versions, by a cut. */
				struct st_retention r = {.min_count = 1, .cut_ns = cur.time_ns / 2};
				struct st_compact_opts co = {.keep = &r};
				struct st_compact_stats cs;

				(void)st_compact_estimate(st, &co, &cs);
			}
			walk(st, kinds[k], cur.seq, &budget, buf);
			for (unsigned i = 0; i < s.n; i++) {
				st_store *v;

				if (st_open_version(st, s.v[i], &v) != ST_OK)
					continue;
				walk(v, kinds[k], s.v[i], &budget, buf);
				st_close(v);
			}
			if (st_open_at_time(st, cur.time_ns / 2, &v_at) == ST_OK)
				st_close(v_at);
			st_close(st);
		}
	}
	free(buf);
}

/* ---- making the checksums right ------------------------------------------- */

#define BS	 4096u
#define REC_HDR	 8u
#define HDR_REC	 137u
#define MAX_WORK 2048

static uint32_t crc_table[256];

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			crc_table[i] = c;
		}
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

struct img {
	uint8_t *b;
	size_t size;
	unsigned work; /* records fixed: a crafted tree may share subtrees */
};

/* Physical offset of stream byte i of the record at pos (the stream skips
 * each block's marker byte), or SIZE_MAX past the end. */
static size_t phys(const struct img *m, uint64_t pos, uint64_t i)
{
	uint64_t p = pos % BS == 0 ? pos + 1 : pos, first = BS - p % BS;

	if (i >= first) {
		i -= first;
		p = (p / BS + 1) * BS + 1 + i / (BS - 1) * BS + i % (BS - 1);
	} else {
		p += i;
	}
	return p < m->size ? (size_t)p : SIZE_MAX;
}

/* Copies stream bytes [i, i + n) of the record at pos; false past the end. */
static bool sget(const struct img *m, uint64_t pos, uint64_t i, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t p = phys(m, pos, i + k);
		if (p == SIZE_MAX)
			return false;
		out[k] = m->b[p];
	}
	return true;
}

static void sput32(struct img *m, uint64_t pos, uint64_t i, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	for (int k = 0; k < 4; k++) {
		size_t p = phys(m, pos, i + (uint64_t)k);
		if (p != SIZE_MAX)
			m->b[p] = b[k];
	}
}

/* A data record: each page's crc in the head, then the record's own. */
static void fix_data(struct img *m, uint64_t pos)
{
	uint8_t head[REC_HDR + 12], pg[BS], *h;
	uint32_t np, tail, hlen;

	if (m->work++ > MAX_WORK || pos == 0 || pos % BS == 0 ||
	    !sget(m, pos, 0, head, sizeof(head)))
		return;
	np = be32(head + REC_HDR + 4);
	tail = be32(head + REC_HDR + 8);
	if (np == 0 || np > 256 || tail == 0 || tail > BS)
		return;
	hlen = 12 + 4 * np;
	for (uint32_t j = 0; j < np; j++) {
		uint32_t plen = j + 1 == np ? tail : BS;

		if (!sget(m, pos, REC_HDR + hlen + (uint64_t)j * BS, pg, plen))
			break;
		sput32(m, pos, REC_HDR + 12 + 4ull * j, crc32c(0, pg, plen));
	}
	h = malloc(REC_HDR + hlen);
	if (!h)
		abort();
	if (sget(m, pos, 0, h, REC_HDR + hlen))
		sput32(m, pos, 4, crc32c(crc32c(0, h, 4), h + REC_HDR, hlen));
	free(h);
}

/* A tree node, then its children or the data records its extents name. */
static void fix_node(struct img *m, uint64_t pos, unsigned depth)
{
	uint8_t lenb[4], *rec, *p, *end;
	uint32_t len, count;

	if (depth > 30 || m->work++ > MAX_WORK || pos == 0 || pos % BS == 0 ||
	    !sget(m, pos, 0, lenb, 4))
		return;
	len = be32(lenb);
	if (len < 4 || len > m->size)
		return;
	rec = malloc(REC_HDR + len);
	if (!rec)
		abort();
	if (!sget(m, pos, 0, rec, REC_HDR + len))
		goto out;
	sput32(m, pos, 4, crc32c(crc32c(0, rec, 4), rec + REC_HDR, len));
	p = rec + REC_HDR;
	end = p + len;
	count = (uint32_t)p[2] << 8 | p[3];
	if (p[0] != 2 && p[0] != 3)
		goto out;
	p += 4;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t kl, vl;

		if (end - p < 2)
			break;
		kl = (uint32_t)p[0] << 8 | p[1];
		if (rec[REC_HDR] == 3) {
			if ((size_t)(end - p) < 2 + kl + 24)
				break;
			fix_node(m, be64(p + 2 + kl), depth + 1);
			p += 2 + kl + 24;
			continue;
		}
		if (end - p < 6)
			break;
		vl = be32(p + 2);
		if ((size_t)(end - p) < 6 + (size_t)kl + vl)
			break;
		if (kl == 8 && vl == 24)
			fix_data(m, be64(p + 6 + kl));
		p += 6 + kl + vl;
	}
out:
	free(rec);
}

/* Returns a malloc()ed copy of data with its checksums recomputed. */
static uint8_t *fix_crcs(const uint8_t *data, size_t size)
{
	struct img m = {malloc(size ? size : 1), size, 0};

	if (!m.b)
		abort();
	memcpy(m.b, data, size);
	for (size_t b = 0; b + HDR_REC <= size; b += BS)
		if (m.b[b] == 0x01)
			fix_node(&m, be64(m.b + b + 1 + REC_HDR + 56), 0);
	/* Headers last: a record overlapping one must not undo its fix. In
	 * file order, so that a one-sync header's region (incompat 0x1),
	 * which may hold earlier headers, has them fixed already. */
	for (size_t b = 0; b + HDR_REC <= size; b += BS) {
		uint8_t *r = m.b + b, *pl = r + 1 + REC_HDR;

		uint32_t len = be32(r + 1), area = 0;

		if (r[0] != 0x01)
			continue;
		/* An inline area (incompat 0x4): its length named in the fixed
		 * payload, its body's crc in its head. */
		if ((pl[19] & 0x4) && len >= 128 + 12 && len <= BS - 1 - REC_HDR &&
		    b + 1 + REC_HDR + len <= size) {
			area = len - 128;
			pl[126] = (uint8_t)(area >> 8);
			pl[127] = (uint8_t)area;
			put32(pl + 128 + 8, crc32c(0, pl + 128 + 12, area - 12));
		}
		if (pl[19] & 0x1) {
			uint64_t prev = be64(pl + 80), prev_area = 0;
			uint64_t start;

			if (pl[19] & 0x4)
				prev_area = (uint64_t)pl[124] << 8 | pl[125];
			start = prev == UINT64_MAX ? 0 : prev + HDR_REC + prev_area;
			if (start <= b && b - start <= (8u << 20))
				put32(pl + 120, crc32c(0, m.b + start, b - start));
		}
		put32(r + 5, crc32c(crc32c(0, r + 1, 4), pl, 128 + (area ? 12 : 0)));
	}
	return m.b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	put_file(data, size);
	exercise();
	fixed = fix_crcs(data, size);
	if (memcmp(fixed, data, size) != 0) {
		put_file(fixed, size);
		exercise();
	}
	free(fixed);
	return 0;
}
