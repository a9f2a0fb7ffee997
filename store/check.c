/*
 * check.c - st_check: the trees of the versions asked for (key order,
 * levels, reduce values, pointers) and the records they reach (data record
 * heads; with ST_CHECK_DATA every data page's checksum), for fsck and the
 * tests.
 *
 * Nothing in a store changes once written, so what one check has verified
 * stays verified for the rest of it. A check keeps a memo: the subtrees it
 * has checked whole (their reduce values and first and last keys), and per
 * data record its checked head and the pages whose checksums it has
 * verified. Versions share most of their nodes and data, so a walk of every
 * version reads and verifies each byte about once, and a subtree or page
 * met again costs a lookup. The memo holds successes only: whatever does
 * not match it is walked again the ordinary way, so damage is reported
 * exactly as a check with no memo would report it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A subtree checked whole. keys: its first key, then its last. */
struct node_memo {
	uint64_t pos;
	uint64_t end; /* physical end of its root's record */
	struct reduce r;
	uint64_t next_page; /* file stores: the page after its last extent */
	uint16_t flen, llen;
	uint8_t level;
	uint8_t keys[];
};

/* A data record whose head checked out. */
struct rec_memo {
	uint64_t pos;
	uint64_t end; /* physical end of the whole record */
	uint32_t npages, tail;
	uint8_t *head;			     /* its checked head: the page crcs */
	uint64_t done[ST_EXTENT_PAGES / 64]; /* pages whose crc was verified */
};
_Static_assert(ST_EXTENT_PAGES % 64 == 0, "done[] covers every page of a record");

/* Open addressing by offset (never 0 for a node or record); each slot
 * points at its entry, whose first field is the offset. */
struct memo_tab {
	uint64_t **slot;
	size_t n, cap; /* cap: 0 or a power of two */
};

/* One check's memo; owned by the calling thread. */
struct chk_memo {
	struct memo_tab nodes, recs;
	uint8_t *buf; /* physical bytes of a run of pages */
	size_t cap;
};

struct chk {
	struct st_file *f;
	enum st_kind kind;
	bool deep;
	struct chk_memo *m;
	bool have_last;
	uint8_t last[ST_MAX_KEY];
	uint16_t last_len;
	uint64_t next_page; /* file stores: extents must not overlap */
};

/* ---- the memo ------------------------------------------------------------ */

static size_t tab_slot(const struct memo_tab *t, uint64_t pos)
{
	size_t i = (size_t)((pos * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);

	while (t->slot[i] && *t->slot[i] != pos)
		i = (i + 1) & (t->cap - 1);
	return i;
}

static void *tab_get(const struct memo_tab *t, uint64_t pos)
{
	return t->cap ? t->slot[tab_slot(t, pos)] : NULL;
}

/* Adds e (whose first field is its offset, not yet in t). */
static int tab_add(struct memo_tab *t, void *e)
{
	uint64_t *k = e;

	if (2 * (t->n + 1) > t->cap) {
		struct memo_tab g = {calloc(t->cap ? 2 * t->cap : 64, sizeof(*g.slot)), t->n,
				     t->cap ? 2 * t->cap : 64};

		if (!g.slot)
			return st_fail_oom();
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i])
				g.slot[tab_slot(&g, *t->slot[i])] = t->slot[i];
		free(t->slot);
		*t = g;
	}
	t->slot[tab_slot(t, *k)] = k;
	t->n++;
	return ST_OK;
}

static struct chk_memo *memo_new(void)
{
	return calloc(1, sizeof(struct chk_memo));
}

static void memo_free(struct chk_memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nodes.cap; i++)
		free(m->nodes.slot[i]);
	for (size_t i = 0; i < m->recs.cap; i++) {
		struct rec_memo *r = (struct rec_memo *)m->recs.slot[i];
		if (r)
			free(r->head);
		free(r);
	}
	free(m->nodes.slot);
	free(m->recs.slot);
	free(m->buf);
	free(m);
}

/* ---- data records ------------------------------------------------------ */

static int chk_fail(struct chk *c, uint64_t pos, const char *what)
{
	return st_fail(ST_ECORRUPT, 0, pos, "%s: %s in tree node at offset %llu", c->f->path, what,
		       (unsigned long long)pos);
}

/* The record at pos, which must end by limit, with its head checked: from
 * the memo, else read (and then remembered). */
static int rec_get(struct chk *c, uint64_t pos, uint64_t limit, struct rec_memo **out)
{
	struct rec_memo *r = tab_get(&c->m->recs, pos);
	struct data_head d;
	uint8_t *head;
	uint32_t hlen;
	int rc;

	if (r && r->end <= limit) {
		*out = r;
		return ST_OK;
	}
	/* Unknown, or known but past this limit: the read says what is wrong. */
	if ((rc = st_record_read(c->f, pos, limit, 1u << REC_DATA, &head, &hlen)) != ST_OK)
		return rc;
	if (r) {
		free(head);
		return st_fail(ST_ECORRUPT, 0, pos, "%s: record at offset %llu ends past %llu",
			       c->f->path, (unsigned long long)pos, (unsigned long long)limit);
	}
	if (st_data_head_decode(head, hlen, &d) != ST_OK) {
		free(head);
		return st_fail(ST_ECORRUPT, 0, pos, "%s: bad data record head at offset %llu",
			       c->f->path, (unsigned long long)pos);
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		free(head);
		return st_fail_oom();
	}
	r->pos = pos;
	r->end =
	    st_stream_end(pos, REC_HDR_SIZE + data_payload_len(d.npages, d.tail, c->f->sealed));
	r->npages = d.npages;
	r->tail = d.tail;
	r->head = head;
	if ((rc = tab_add(&c->m->recs, r)) != ST_OK) {
		free(head);
		free(r);
		return rc;
	}
	*out = r;
	return ST_OK;
}

static bool page_done(const struct rec_memo *r, uint32_t i)
{
	return r->done[i / 64] >> (i % 64) & 1;
}

/*
 * Verifies pages [a, b) of record r: every block marker they cross says
 * data, and each page's crc matches its head. One pread into the memo's
 * buffer; crcs run over the bytes where they lie, markers skipped. A
 * sealed store's pages are read, and so authenticated, too.
 */
static int verify_pages(struct chk *c, struct rec_memo *r, uint32_t a, uint32_t b)
{
	uint64_t off =
	    REC_HDR_SIZE + DATA_HEAD_FIXED + 4ull * r->npages; /* page 0's stream offset */
	uint32_t last_len = b == r->npages ? r->tail : BLOCK_SIZE;
	uint64_t ps = st_stream_end(r->pos, off + (uint64_t)a * BLOCK_SIZE);
	uint64_t pe = st_stream_end(r->pos, off + (uint64_t)(b - 1) * BLOCK_SIZE + last_len);
	uint64_t p = ps;
	size_t plen = (size_t)(pe - ps), got;
	int rc;

	/* Sealed pages: the read checks their crcs and authenticates them. */
	if (c->f->sealed) {
		uint8_t *pages = malloc((size_t)(b - a) * BLOCK_SIZE);

		if (!pages)
			return st_fail_oom();
		rc = st_data_read_pages(c->f, r->pos, r->end, a, b - a, pages);
		free(pages);
		if (rc != ST_OK)
			return rc;
		goto out_done;
	}
	if (plen > c->m->cap) {
		uint8_t *nb = realloc(c->m->buf, plen);
		if (!nb)
			return st_fail_oom();
		c->m->buf = nb;
		c->m->cap = plen;
	}
	if ((rc = st_pread_full(c->f, c->m->buf, plen, ps, &got)) != ST_OK)
		return rc;
	if (got < plen)
		return st_fail(ST_ECORRUPT, 0, r->pos,
			       "%s: record at %llu runs past the end of the file", c->f->path,
			       (unsigned long long)r->pos);
	for (uint32_t i = a; i < b; i++) {
		uint32_t left = i == r->npages - 1 ? r->tail : BLOCK_SIZE, crc = 0;
		uint64_t at = p;

		while (left) {
			size_t room;

			if (p % BLOCK_SIZE == 0) {
				if (c->m->buf[p - ps] != MARK_DATA)
					return st_fail(ST_ECORRUPT, 0, p,
						       "%s: header block at %llu inside a record "
						       "at %llu",
						       c->f->path, (unsigned long long)p,
						       (unsigned long long)r->pos);
				p++;
			}
			room = BLOCK_SIZE - p % BLOCK_SIZE;
			if (room > left)
				room = left;
			crc = st_crc32c(crc, c->m->buf + (p - ps), room);
			p += room;
			left -= (uint32_t)room;
		}
		if (crc != st_get32(r->head + DATA_HEAD_FIXED + 4 * i))
			return st_fail(
			    ST_ECORRUPT, 0, at,
			    "%s: checksum mismatch in data page at offset %llu (record %llu)",
			    c->f->path, (unsigned long long)at, (unsigned long long)r->pos);
	}
out_done:
	for (uint32_t i = a; i < b; i++)
		r->done[i / 64] |= 1ull << (i % 64);
	return ST_OK;
}

static int check_extent(struct chk *c, const struct tnode *n, const struct tentry *e)
{
	struct rec_memo *r = NULL;
	struct ext x;
	int rc;

	if (st_ext_decode(e->key, e->klen, e->val, e->vlen, &x) != ST_OK)
		return chk_fail(c, n->pos, "malformed extent");
	if (x.page < c->next_page)
		return chk_fail(c, n->pos, "overlapping extents");
	c->next_page = x.page + x.npages;
	if (x.rec >= n->pos)
		return chk_fail(c, n->pos, "extent points past its node");
	if ((rc = rec_get(c, x.rec, n->pos, &r)) != ST_OK)
		return rc;
	if (r->npages != x.rec_npages || (x.rec_first + x.npages == r->npages && x.tail != r->tail))
		return st_fail(ST_ECORRUPT, 0, x.rec,
			       "%s: extent does not match its data record at offset %llu",
			       c->f->path, (unsigned long long)x.rec);
	if (x.npages == 0 || x.rec_first >= r->npages || x.npages > r->npages - x.rec_first)
		return st_fail(ST_ECORRUPT, 0, x.rec,
			       "%s: extent outside its data record in record at offset %llu",
			       c->f->path, (unsigned long long)x.rec);
	/* Each run of pages not verified yet, once. */
	for (uint32_t i = x.rec_first, end = x.rec_first + x.npages; c->deep && i < end;) {
		uint32_t j;

		if (page_done(r, i)) {
			i++;
			continue;
		}
		for (j = i + 1; j < end && !page_done(r, j); j++)
			;
		if ((rc = verify_pages(c, r, i, j)) != ST_OK)
			return rc;
		i = j;
	}
	return ST_OK;
}

/* ---- tree nodes ----------------------------------------------------------- */

static int check_subtree(struct chk *c, uint64_t pos, uint64_t limit, int level, const uint8_t *min,
			 size_t mlen, struct reduce *r);

/* Checks the subtree of n; *r receives its reduce values. min/mlen: the
 * separator the parent holds for it (NULL at the root). */
static int check_node(struct chk *c, const struct tnode *n, const uint8_t *min, size_t mlen,
		      struct reduce *r)
{
	int rc = ST_OK;

	if (min && st_keycmp(n->e[0].key, n->e[0].klen, min, mlen) != 0)
		return chk_fail(c, n->pos, "separator is not the subtree's first key");
	r->count = 0;
	r->bytes = REC_HDR_SIZE + n->len; /* the node's own record */
	for (uint32_t i = 0; i < n->n && rc == ST_OK; i++) {
		const struct tentry *e = &n->e[i];

		if (n->level == 0) {
			if (c->have_last && st_keycmp(c->last, c->last_len, e->key, e->klen) >= 0)
				return chk_fail(c, n->pos, "keys out of order across nodes");
			memcpy(c->last, e->key, e->klen);
			c->last_len = e->klen;
			c->have_last = true;
			r->count++;
			r->bytes += st_value_bytes(c->kind, e->val, e->vlen);
			if (c->kind == ST_KIND_FILE)
				rc = check_extent(c, n, e);
		} else {
			struct reduce cr;

			rc = check_subtree(c, e->child, n->pos, n->level - 1, e->key, e->klen, &cr);
			if (rc == ST_OK && (cr.count != e->r.count || cr.bytes != e->r.bytes))
				rc = chk_fail(c, n->pos, "wrong reduce values");
			r->count += e->r.count;
			r->bytes += e->r.bytes;
		}
	}
	return rc;
}

/* Whether memo m stands for the subtree here: it ends by limit at the
 * level wanted (-1: any), starts with the separator, and follows what the
 * walk has seen so far in key and page order. */
static bool memo_fits(const struct chk *c, const struct node_memo *m, uint64_t limit, int level,
		      const uint8_t *min, size_t mlen)
{
	return m->end <= limit && (level < 0 || m->level == level) &&
	       (!min || st_keycmp(m->keys, m->flen, min, mlen) == 0) &&
	       (!c->have_last || st_keycmp(c->last, c->last_len, m->keys, m->flen) < 0) &&
	       (c->kind != ST_KIND_FILE || st_get64(m->keys) >= c->next_page);
}

/* Remembers the subtree of n, just checked whole. Out of memory only means
 * it may be checked again. */
static void memo_node(struct chk *c, const struct tnode *n, const struct reduce *r)
{
	struct node_memo *m = malloc(sizeof(*m) + n->e[0].klen + c->last_len);

	if (!m)
		return;
	m->pos = n->pos;
	m->end = st_stream_end(n->pos, REC_HDR_SIZE + (uint64_t)n->len);
	m->r = *r;
	m->next_page = c->next_page;
	m->flen = n->e[0].klen;
	m->llen = c->last_len;
	m->level = n->level;
	memcpy(m->keys, n->e[0].key, m->flen);
	memcpy(m->keys + m->flen, c->last, m->llen);
	if (tab_add(&c->m->nodes, m) != ST_OK)
		free(m);
}

/* Checks the subtree whose root is at pos, which must lie before limit, at
 * level (-1: the tree's root, any level). */
static int check_subtree(struct chk *c, uint64_t pos, uint64_t limit, int level, const uint8_t *min,
			 size_t mlen, struct reduce *r)
{
	struct node_memo *m = tab_get(&c->m->nodes, pos);
	struct tnode n;
	int rc;

	/* A file store's key is its page number: memo_fits reads it. */
	if (m && (c->kind != ST_KIND_FILE || m->flen == PAGE_KEY_SIZE) &&
	    memo_fits(c, m, limit, level, min, mlen)) {
		*r = m->r;
		memcpy(c->last, m->keys + m->flen, m->llen);
		c->last_len = m->llen;
		c->have_last = true;
		if (c->kind == ST_KIND_FILE)
			c->next_page = m->next_page;
		return ST_OK;
	}
	if ((rc = st_node_read(c->f, pos, limit, &n)) != ST_OK)
		return rc;
	if (level >= 0 && n.level != level) {
		st_node_free(&n);
		return st_fail(ST_ECORRUPT, 0, pos,
			       "%s: tree node at offset %llu has the wrong level", c->f->path,
			       (unsigned long long)pos);
	}
	rc = check_node(c, &n, min, mlen, r);
	if (rc == ST_OK && !m)
		memo_node(c, &n, r);
	st_node_free(&n);
	return rc;
}

static int tree_check(struct chk *c, uint64_t limit, const struct tree *t)
{
	struct reduce r;
	int rc;

	c->have_last = false;
	c->next_page = 0;
	if (t->root == 0)
		return t->r.count || t->r.bytes ? st_fail(ST_ECORRUPT, 0, 0,
							  "%s: empty tree with "
							  "non-zero totals",
							  c->f->path)
						: ST_OK;
	rc = check_subtree(c, t->root, limit, -1, NULL, 0, &r);
	if (rc == ST_OK && (r.count != t->r.count || r.bytes != t->r.bytes))
		rc = st_fail(ST_ECORRUPT, 0, t->root,
			     "%s: root totals do not match the tree at offset %llu", c->f->path,
			     (unsigned long long)t->root);
	return rc;
}

int st_check(st_store *st, int flags)
{
	struct chk c = {.kind = st->kind, .deep = flags & ST_CHECK_DATA};
	struct hdr h, p;
	uint64_t meta_seen = 0;
	int rc = ST_OK; /* a deferred store before its first commit has nothing to check */

	if (!(c.m = memo_new()))
		return st_fail_oom();
	st_store_snapshot(st, &c.f, &h);
	for (; h.pos != HDR_NONE;) {
		struct tree t = {h.root, {h.root_count, h.root_bytes}};

		rc = tree_check(&c, h.pos, &t);
		/* A one-sync commit's region checksum covers its padding and
		 * markers too: damage there shows nowhere else. */
		if (rc == ST_OK && c.deep)
			rc = st_header_region_check(c.f, &h);
		if (rc == ST_OK && h.area_len) { /* its crc and seal */
			uint8_t body[BLOCK_SIZE];
			size_t n;

			rc = st_header_area(c.f, &h, body, &n);
		}
		if (rc == ST_OK && h.meta && !(h.meta & META_AREA) &&
		    h.meta != meta_seen) { /* its crc */
			uint8_t *buf;
			size_t len;

			if ((rc = st_meta_read(c.f, h.meta, h.pos, &buf, &len)) == ST_OK)
				free(buf);
			meta_seen = h.meta; /* versions share it until it changes */
		}
		if (rc != ST_OK || !(flags & ST_CHECK_ALL) || h.prev == HDR_NONE)
			break;
		if ((rc = st_header_prev(c.f, &h, &p)) != ST_OK)
			break;
		h = p;
	}
	st_file_unref(c.f);
	memo_free(c.m);
	return rc;
}

/* ---- a sealed store without its key ----------------------------------- */

/* Checks the sealed header at pos without the key: its length, the crc
 * of its fixed part and area head, and its area body's crc. *len is its
 * record's length from pos, marker included. NULL what: it checks out;
 * else what is wrong. */
static int raw_header(struct st_file *f, uint64_t pos, uint64_t *len, const char **what)
{
	uint8_t rec[BLOCK_SIZE];
	uint32_t plen, covered;
	size_t got;
	int rc;

	*what = NULL;
	if ((rc = st_pread_full(f, rec, sizeof(rec), pos, &got)) != ST_OK)
		return rc;
	plen = got >= 1 + REC_HDR_SIZE ? st_get32(rec + 1) : 0;
	if (got < 1 + REC_HDR_SIZE || rec[0] != MARK_HEADER) {
		*what = "not a header";
		return ST_OK;
	}
	if (plen != HDR_SEALED_SIZE &&
	    (plen == HDR_PAYLOAD_SIZE ||
	     (plen > HDR_PAYLOAD_SIZE + AREA_HEAD && plen < HDR_SEALED_SIZE + AREA_HEAD))) {
		*what = "plain header in a sealed store";
		return ST_OK;
	}
	if (plen != HDR_SEALED_SIZE && (plen < HDR_SEALED_SIZE + AREA_HEAD || plen > AREA_MAX(0))) {
		*what = "bad header length";
		return ST_OK;
	}
	covered = plen > HDR_SEALED_SIZE ? HDR_SEALED_SIZE + AREA_HEAD : HDR_SEALED_SIZE;
	if (got < 1 + REC_HDR_SIZE + plen) {
		*what = "file ends inside a header";
		return ST_OK;
	}
	if (st_crc32c(st_crc32c(0, rec + 1, 4), rec + 1 + REC_HDR_SIZE, covered) !=
	    st_get32(rec + 5)) {
		*what = "header checksum mismatch";
		return ST_OK;
	}
	if (plen > HDR_SEALED_SIZE) {
		const uint8_t *ah = rec + 1 + REC_HDR_SIZE + HDR_SEALED_SIZE;

		if (st_crc32c(0, ah + AREA_HEAD, plen - HDR_SEALED_SIZE - AREA_HEAD) !=
		    st_get32(ah + 8)) {
			*what = "inline area checksum mismatch";
			return ST_OK;
		}
	}
	*len = 1 + REC_HDR_SIZE + plen;
	return ST_OK;
}

/* The newest block whose marker says header and whose record checks out
 * (raw_header; its payload is sealed), or HDR_NONE; *len its length. */
static int raw_newest_header(struct st_file *f, uint64_t size, uint64_t *at, uint64_t *len)
{
	const char *what;
	int rc;

	*at = HDR_NONE;
	for (uint64_t blk = size ? (size - 1) / BLOCK_SIZE + 1 : 0; blk-- > 0;) {
		if ((rc = raw_header(f, blk * BLOCK_SIZE, len, &what)) != ST_OK)
			return rc;
		if (what)
			continue;
		*at = blk * BLOCK_SIZE;
		return ST_OK;
	}
	return ST_OK;
}

static int raw_damage(struct st_file *f, uint64_t pos, const char *what)
{
	return st_fail(ST_ECORRUPT, 0, pos, "%s: %s at offset %llu", f->path, what,
		       (unsigned long long)pos);
}

/* Checks one record of the stream at pos (its crcs; a data record's page
 * crcs); *next is where the next one starts. */
static int raw_record(struct st_file *f, uint64_t pos, uint64_t limit, struct st_raw_report *r,
		      uint64_t *next)
{
	uint8_t head[REC_HDR_SIZE], *buf;
	uint32_t len;
	int rc;

	if ((rc = st_stream_read(f, pos, head, sizeof(head), limit)) != ST_OK)
		return rc;
	len = st_get32(head);
	if (len == 0 || len > REC_MAX_LEN + ST_SEAL_OVERHEAD ||
	    st_stream_end(pos, REC_HDR_SIZE + (uint64_t)len) > limit)
		return raw_damage(f, pos, "bad record length");
	if (!(buf = malloc(REC_HDR_SIZE + (size_t)len)))
		return st_fail_oom();
	if ((rc = st_stream_read(f, pos, buf, REC_HDR_SIZE + (size_t)len, limit)) != ST_OK)
		goto out;
	switch (buf[REC_HDR_SIZE]) {
	case REC_DATA: {
		struct data_head d;
		const uint8_t *pg;

		if (st_data_head_decode(buf + REC_HDR_SIZE, len, &d) != ST_OK ||
		    len != data_payload_len(d.npages, d.tail, true)) {
			rc = raw_damage(f, pos, "bad data record head");
			break;
		}
		if (st_crc32c(st_crc32c(0, buf, 4), buf + REC_HDR_SIZE,
			      DATA_HEAD_FIXED + 4ull * d.npages) != st_get32(buf + 4)) {
			rc = raw_damage(f, pos, "checksum mismatch in the record");
			break;
		}
		pg = buf + REC_HDR_SIZE + DATA_HEAD_FIXED + 4ull * d.npages;
		for (uint32_t i = 0; i < d.npages && rc == ST_OK; i++) {
			size_t n = (i + 1 == d.npages ? d.tail : BLOCK_SIZE) + ST_SEAL_OVERHEAD;

			if (st_crc32c(0, pg, n) != st_get32(d.crcs + 4 * i))
				rc = raw_damage(f, pos,
						"checksum mismatch in a data page of the record");
			pg += n;
		}
		r->pages += d.npages;
		break;
	}
	case REC_LEAF:
	case REC_INTERIOR:
	case REC_META:
		if (st_crc32c(st_crc32c(0, buf, 4), buf + REC_HDR_SIZE, len) != st_get32(buf + 4))
			rc = raw_damage(f, pos, "checksum mismatch in the record");
		break;
	default:
		rc = raw_damage(f, pos, "unknown record type");
	}
	if (rc == ST_OK) {
		r->records++;
		*next = st_stream_end(pos, REC_HDR_SIZE + (uint64_t)len);
	}
out:
	free(buf);
	return rc;
}

int st_check_sealed_file(const char *path, struct st_raw_report *r)
{
	struct st_file *f;
	struct stat sb;
	uint64_t newest, end, pos = 0, hlen;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = st_file_open(&st_posix_ops, NULL, path, O_RDONLY, 0, &f)) != ST_OK)
		return rc;
	if (fstat(f->fd, &sb) != 0) {
		rc = st_fail_errno(errno, "fstat", path);
		goto out;
	}
	r->file_bytes = (uint64_t)sb.st_size;
	if ((rc = raw_newest_header(f, r->file_bytes, &newest, &hlen)) != ST_OK)
		goto out;
	if (newest == HDR_NONE) {
		rc = st_fail(ST_ECORRUPT, 0, 0, "%s: no sealed header", path);
		goto out;
	}
	end = newest + hlen;
	r->end = end;
	/* The stream from the start to the newest header's end: records,
	 * zeros up to a header's block, headers. Past it is a tail. */
	while (pos < end && rc == ST_OK) {
		uint8_t b[1 + REC_HDR_SIZE];
		size_t got;

		if (pos % BLOCK_SIZE == 0) {
			if ((rc = st_pread_full(f, b, sizeof(b), pos, &got)) != ST_OK)
				break;
			if (got < sizeof(b)) {
				rc = raw_damage(f, pos, "file ends inside a block");
				break;
			}
			if (b[0] == MARK_HEADER) {
				const char *what;

				if ((rc = raw_header(f, pos, &hlen, &what)) != ST_OK)
					break;
				if (what) {
					rc = raw_damage(f, pos, what);
					break;
				}
				r->headers++;
				pos += hlen;
				continue;
			}
			if (b[0] != MARK_DATA) {
				rc = raw_damage(f, pos, "unknown block marker");
				break;
			}
		}
		{
			uint8_t lenb[4];

			if ((rc = st_stream_read(f, pos, lenb, 4, end)) != ST_OK)
				break;
			/* Zeros: the padding before a header's block, which
			 * must be zeros to its end. */
			if (st_get32(lenb) == 0) {
				uint64_t blk_end = (pos / BLOCK_SIZE + 1) * BLOCK_SIZE;
				uint8_t pad[BLOCK_SIZE];

				if ((rc = st_pread_full(f, pad, (size_t)(blk_end - pos), pos,
							&got)) != ST_OK)
					break;
				for (size_t i = 0; i < got; i++)
					if (pad[i]) {
						rc = raw_damage(f, pos + i,
								"bytes in a header's padding");
						break;
					}
				pos = blk_end;
				continue;
			}
		}
		rc = raw_record(f, pos, end, r, &pos);
	}
out:
	st_file_unref(f);
	return rc;
}
