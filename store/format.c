/*
 * format.c - encoders and decoders of the on-disk records (docs/FORMAT.md).
 *
 * Every decoder takes (buf, len) and trusts nothing in it: lengths, counts,
 * ordering and pointers are checked before use, so each can be fuzzed on
 * its own. Pointers are checked against the record's own offset: a record
 * only ever points backwards, to something written before it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Header payload layout: offsets of each field. */
enum {
	H_TYPE = 0,
	H_KIND = 1,
	H_VERSION = 2,
	H_MAGIC = 4,
	H_COMPAT = 8,
	H_RO_COMPAT = 12,
	H_INCOMPAT = 16,
	H_KIND_OF_COMMIT = 20,
	H_SEQ = 24,
	H_TIME = 32,
	H_SIZE = 40,
	H_MTIME = 48,
	H_ROOT = 56,
	H_ROOT_COUNT = 64,
	H_ROOT_BYTES = 72,
	H_PREV = 80,
	H_SELF = 88,
	H_ID = 96,
	H_META = 112,
	H_REGION_CRC = 120,
	H_PREV_AREA = 124,
	H_AREA = 126,
	H_END = 128,
};
_Static_assert(H_END <= HDR_PAYLOAD_SIZE, "header fields fit the payload");

void st_hdr_encode(const struct hdr *h, uint8_t out[HDR_PAYLOAD_SIZE])
{
	memset(out, 0, HDR_PAYLOAD_SIZE);
	out[H_TYPE] = REC_HEADER;
	out[H_KIND] = h->kind;
	st_put16(out + H_VERSION, FORMAT_VERSION);
	st_put32(out + H_MAGIC, HDR_MAGIC);
	st_put32(out + H_COMPAT, h->compat);
	st_put32(out + H_RO_COMPAT, h->ro_compat);
	st_put32(out + H_INCOMPAT, h->incompat);
	st_put64(out + H_SEQ, h->seq);
	st_put64(out + H_TIME, h->time_ns);
	st_put64(out + H_SIZE, h->size);
	st_put64(out + H_MTIME, h->mtime_ns);
	st_put64(out + H_ROOT, h->root);
	st_put64(out + H_ROOT_COUNT, h->root_count);
	st_put64(out + H_ROOT_BYTES, h->root_bytes);
	st_put64(out + H_PREV, h->prev);
	if (h->compat & FEAT_COMPAT_KIND)
		out[H_KIND_OF_COMMIT] = h->commit_kind;
	if (h->ro_compat & FEAT_RO_SELF) {
		st_put64(out + H_SELF, h->self);
		memcpy(out + H_ID, h->id, ST_ID_SIZE);
	}
	if (h->ro_compat & FEAT_RO_META) /* 0 for attributes in the area */
		st_put64(out + H_META, h->meta & META_AREA ? 0 : h->meta);
	if (h->incompat & FEAT_IN_ONESYNC)
		st_put32(out + H_REGION_CRC, h->region_crc);
	if (h->incompat & FEAT_IN_INLINE) {
		st_put16(out + H_PREV_AREA, h->prev_area);
		st_put16(out + H_AREA, h->area_len);
	}
}

int st_hdr_decode(const uint8_t *buf, size_t len, struct hdr *h)
{
	if (len != HDR_PAYLOAD_SIZE || buf[H_TYPE] != REC_HEADER)
		return ST_ECORRUPT;
	if (st_get32(buf + H_MAGIC) != HDR_MAGIC)
		return ST_ECORRUPT;
	h->version = st_get16(buf + H_VERSION);
	if (h->version == 0)
		return ST_ECORRUPT;
	h->incompat = st_get32(buf + H_INCOMPAT);
	if (h->version > FORMAT_VERSION || (h->incompat & ~FEAT_INCOMPAT_KNOWN))
		return ST_EVERSION;
	h->kind = buf[H_KIND];
	if (h->kind != ST_KIND_FILE && h->kind != ST_KIND_KV)
		return ST_ECORRUPT;
	h->compat = st_get32(buf + H_COMPAT);
	h->ro_compat = st_get32(buf + H_RO_COMPAT);
	h->seq = st_get64(buf + H_SEQ);
	h->time_ns = st_get64(buf + H_TIME);
	h->size = st_get64(buf + H_SIZE);
	h->mtime_ns = st_get64(buf + H_MTIME);
	h->root = st_get64(buf + H_ROOT);
	h->root_count = st_get64(buf + H_ROOT_COUNT);
	h->root_bytes = st_get64(buf + H_ROOT_BYTES);
	h->prev = st_get64(buf + H_PREV);
	/* A compat feature: any value but interim reads as a save. */
	h->commit_kind = (h->compat & FEAT_COMPAT_KIND) && buf[H_KIND_OF_COMMIT] == ST_INTERIM
			     ? ST_INTERIM
			     : ST_SAVE;
	if (h->ro_compat & FEAT_RO_SELF) {
		h->self = st_get64(buf + H_SELF);
		memcpy(h->id, buf + H_ID, ST_ID_SIZE);
	} else {
		h->self = 0;
		memset(h->id, 0, ST_ID_SIZE);
	}
	h->meta = h->ro_compat & FEAT_RO_META ? st_get64(buf + H_META) : 0;
	h->region_crc = h->incompat & FEAT_IN_ONESYNC ? st_get32(buf + H_REGION_CRC) : 0;
	h->prev_area = h->incompat & FEAT_IN_INLINE ? st_get16(buf + H_PREV_AREA) : 0;
	/* The area's length as the fixed payload names it; the area's own
	 * fields are filled by st_area_decode. */
	h->area_len = h->incompat & FEAT_IN_INLINE ? st_get16(buf + H_AREA) : 0;
	h->area_flags = 0;
	h->attr_len = 0;
	h->area_crc = 0;
	if (h->meta && (h->kind != ST_KIND_FILE || h->meta % BLOCK_SIZE == 0))
		return ST_ECORRUPT;
	if (h->prev_area > AREA_MAX(HDR_PAYLOAD_SIZE) || (h->prev == HDR_NONE && h->prev_area) ||
	    h->area_len > AREA_MAX(HDR_PAYLOAD_SIZE))
		return ST_ECORRUPT;
	if (h->size > ST_MAX_FILE_SIZE)
		return ST_ECORRUPT;
	if (h->root == 0 && (h->root_count || h->root_bytes))
		return ST_ECORRUPT;
	return ST_OK;
}

void st_area_head(uint8_t out[AREA_HEAD], unsigned flags, uint32_t attr_len, uint32_t crc)
{
	out[0] = (uint8_t)flags;
	out[1] = out[2] = out[3] = 0;
	st_put32(out + 4, attr_len);
	st_put32(out + 8, crc);
}

int st_area_decode(const uint8_t *a, size_t len, bool sealed, struct hdr *h)
{
	size_t fixed = sealed ? HDR_SEALED_SIZE : HDR_PAYLOAD_SIZE, body;
	unsigned flags = a[0];
	uint32_t attr_len = st_get32(a + 4);

	if (!(h->incompat & FEAT_IN_INLINE) || h->kind != ST_KIND_FILE || len < AREA_HEAD ||
	    len > AREA_MAX(fixed))
		return ST_ECORRUPT;
	if (!flags || (flags & ~(AREA_CONTENT | AREA_ATTRS)) || a[1] || a[2] || a[3])
		return ST_ECORRUPT;
	if (!(flags & AREA_ATTRS) != !attr_len || attr_len > len)
		return ST_ECORRUPT;
	body = attr_len;
	if (flags & AREA_CONTENT) {
		if (h->root || h->size > INLINE_MAX)
			return ST_ECORRUPT;
		body += (size_t)h->size;
	}
	if (AREA_HEAD + body + (sealed ? ST_SEAL_OVERHEAD : 0) != len)
		return ST_ECORRUPT;
	h->area_len = (uint16_t)len;
	h->area_flags = (uint8_t)flags;
	h->attr_len = attr_len;
	h->area_crc = st_get32(a + 8);
	return ST_OK;
}

void st_ext_key_encode(uint64_t page, uint8_t out[PAGE_KEY_SIZE])
{
	st_put64(out, page);
}

void st_ext_val_encode(const struct ext *e, uint8_t out[EXT_VAL_SIZE])
{
	st_put64(out, e->rec);
	st_put32(out + 8, e->rec_npages);
	st_put32(out + 12, e->rec_first);
	st_put32(out + 16, e->npages);
	st_put32(out + 20, e->tail);
}

int st_ext_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct ext *e)
{
	if (klen != PAGE_KEY_SIZE || vlen != EXT_VAL_SIZE)
		return ST_ECORRUPT;
	e->page = st_get64(key);
	e->rec = st_get64(val);
	e->rec_npages = st_get32(val + 8);
	e->rec_first = st_get32(val + 12);
	e->npages = st_get32(val + 16);
	e->tail = st_get32(val + 20);
	if (e->rec == 0 || e->npages == 0 || e->rec_npages == 0 || e->rec_npages > ST_EXTENT_PAGES)
		return ST_ECORRUPT;
	if (e->rec_first >= e->rec_npages || e->npages > e->rec_npages - e->rec_first)
		return ST_ECORRUPT;
	if (e->tail == 0 || e->tail > BLOCK_SIZE)
		return ST_ECORRUPT;
	/* Only the record's own last page may be short. */
	if (e->tail != BLOCK_SIZE && e->rec_first + e->npages != e->rec_npages)
		return ST_ECORRUPT;
	if (e->page > ST_MAX_FILE_SIZE / ST_PAGE_SIZE - e->npages)
		return ST_ECORRUPT;
	return ST_OK;
}

uint64_t st_ext_bytes(const struct ext *e)
{
	return (uint64_t)(e->npages - 1) * BLOCK_SIZE + e->tail;
}

struct ext st_ext_slice(const struct ext *e, uint64_t from, uint64_t to)
{
	struct ext s = *e;
	uint64_t end = e->page + e->npages;

	if (from > e->page)
		s.page = from;
	if (to < end)
		end = to;
	s.rec_first = e->rec_first + (uint32_t)(s.page - e->page);
	s.npages = (uint32_t)(end - s.page);
	s.tail = end == e->page + e->npages ? e->tail : BLOCK_SIZE;
	return s;
}

int st_data_head_decode(const uint8_t *buf, size_t len, struct data_head *d)
{
	if (len < DATA_HEAD_FIXED || buf[0] != REC_DATA)
		return ST_ECORRUPT;
	d->npages = st_get32(buf + 4);
	d->tail = st_get32(buf + 8);
	if (d->npages == 0 || d->npages > ST_EXTENT_PAGES || d->tail == 0 || d->tail > BLOCK_SIZE)
		return ST_ECORRUPT;
	if (len < DATA_HEAD_FIXED + 4ull * d->npages)
		return ST_ECORRUPT;
	d->crcs = buf + DATA_HEAD_FIXED;
	return ST_OK;
}

int st_node_decode(const uint8_t *buf, size_t len, uint64_t pos, struct tnode *n)
{
	const uint8_t *p, *end = buf + len;
	uint32_t count;
	bool leaf;

	memset(n, 0, sizeof(*n));
	if (len < NODE_HDR_SIZE)
		return ST_ECORRUPT;
	leaf = buf[0] == REC_LEAF;
	if (!leaf && buf[0] != REC_INTERIOR)
		return ST_ECORRUPT;
	n->level = buf[1];
	if (leaf != (n->level == 0) || n->level > TREE_MAX_LEVEL)
		return ST_ECORRUPT;
	count = st_get16(buf + 2);
	if (count == 0)
		return ST_ECORRUPT;
	n->e = calloc(count, sizeof(*n->e));
	if (!n->e)
		return ST_ENOMEM;
	n->n = count;
	n->pos = pos;
	p = buf + NODE_HDR_SIZE;
	for (uint32_t i = 0; i < count; i++) {
		struct tentry *e = &n->e[i];

		if (end - p < 2)
			goto corrupt;
		e->klen = st_get16(p);
		p += 2;
		if (e->klen > ST_MAX_KEY)
			goto corrupt;
		if (leaf) {
			if (end - p < 4)
				goto corrupt;
			e->vlen = st_get32(p);
			p += 4;
			if (e->vlen > ST_MAX_VALUE || (size_t)(end - p) < (size_t)e->klen + e->vlen)
				goto corrupt;
			e->key = p;
			e->val = p + e->klen;
			p += e->klen + e->vlen;
		} else {
			if ((size_t)(end - p) < (size_t)e->klen + 24)
				goto corrupt;
			e->key = p;
			p += e->klen;
			e->child = st_get64(p);
			e->r.count = st_get64(p + 8);
			e->r.bytes = st_get64(p + 16);
			p += 24;
			if (e->child == 0 || e->child >= pos || e->r.count == 0)
				goto corrupt;
		}
		if (i > 0) {
			const struct tentry *q = &n->e[i - 1];
			size_t m = q->klen < e->klen ? q->klen : e->klen;
			int c = memcmp(q->key, e->key, m);

			if (c > 0 || (c == 0 && q->klen >= e->klen))
				goto corrupt;
		}
	}
	if (p != end)
		goto corrupt;
	return ST_OK;
corrupt:
	free(n->e);
	n->e = NULL;
	n->n = 0;
	return ST_ECORRUPT;
}

void st_node_free(struct tnode *n)
{
	free(n->e);
	free(n->buf);
	n->e = NULL;
	n->buf = NULL;
}
