/*
 * filestore.c - the file store: a regular file's bytes as page extents.
 *
 * Keys are page numbers (big-endian u64), values extents: where a run of
 * the file's pages lives inside one data record. A write appends its pages
 * at once (whole runs as one record, partial edge pages merged with what
 * is there) and stages the extent; the commit turns the staged extents,
 * and any staged truncate, into tree updates, splitting the extents they
 * overlap. Reads see committed versions only.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

static uint64_t ext_end(const struct ext *e)
{
	return e->page + e->npages;
}

void st_stage_clear(st_store *st)
{
	for (size_t i = 0; i < st->nckv; i++) {
		free(st->ckv[i].key);
		free(st->ckv[i].val);
	}
	free(st->ckv);
	st->ckv = NULL;
	st->nckv = 0;
	st->nex = 0;
	st->trunc_pages = UINT64_MAX;
	st->size = st->head.size;
	st->mtime_ns = st->head.mtime_ns;
	st->commit_kind = ST_SAVE;
	free(st->meta);
	st->meta = NULL;
	st->meta_len = 0;
	free(st->ibuf);
	st->ibuf = NULL;
	st->inline_on = false;
}

void st_set_commit_kind(st_store *st, enum st_commit_kind kind)
{
	pthread_mutex_lock(&st->wlock);
	st->commit_kind = (uint8_t)kind;
	pthread_mutex_unlock(&st->wlock);
}

/* Index of the first staged extent ending after page. */
static size_t staged_find(const st_store *st, uint64_t page)
{
	size_t lo = 0, hi = st->nex;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ext_end(&st->ex[mid]) <= page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Stages s, trimming whatever staged extents it overlaps. */
static int stage_extent(st_store *st, const struct ext *s)
{
	size_t i = staged_find(st, s->page), j = i, nnew = 0;
	struct ext repl[3];

	while (j < st->nex && st->ex[j].page < ext_end(s))
		j++;
	if (i < j && st->ex[i].page < s->page)
		repl[nnew++] = st_ext_slice(&st->ex[i], st->ex[i].page, s->page);
	repl[nnew++] = *s;
	if (i < j && ext_end(&st->ex[j - 1]) > ext_end(s))
		repl[nnew++] = st_ext_slice(&st->ex[j - 1], ext_end(s), ext_end(&st->ex[j - 1]));
	if (st->nex - (j - i) + nnew > st->excap) {
		size_t cap = st->excap ? st->excap * 2 : 64;
		struct ext *v;
		while (cap < st->nex + nnew)
			cap *= 2;
		if (!(v = realloc(st->ex, cap * sizeof(*v))))
			return st_fail_oom();
		st->ex = v;
		st->excap = cap;
	}
	memmove(st->ex + i + nnew, st->ex + j, (st->nex - j) * sizeof(*st->ex));
	memcpy(st->ex + i, repl, nnew * sizeof(*repl));
	st->nex = st->nex - (j - i) + nnew;
	return ST_OK;
}

/* st_data_append of a sealed store: each page sealed on its own, bound to
 * the record's position, its index and the record's shape; the crc table
 * covers the sealed bytes, so that a check without the key sees damage. */
static int sealed_data_append(struct writer *w, uint8_t *head, const uint8_t *data, uint32_t npages,
			      uint32_t tail, uint64_t *rec)
{
	const size_t stride = BLOCK_SIZE + ST_SEAL_OVERHEAD;
	uint64_t pos = st_writer_next_pos(w);
	uint8_t *sealed = malloc((size_t)npages * stride), aad[SEAL_AAD_SIZE];
	struct iovec iov[2];
	int rc = ST_OK;

	if (!sealed)
		return st_fail_oom();
	for (uint32_t i = 0; i < npages && rc == ST_OK; i++) {
		uint32_t len = i + 1 == npages ? tail : BLOCK_SIZE;
		uint8_t *pg = sealed + (size_t)i * stride;

		seal_aad(aad, REC_DATA, pos, i, npages, tail);
		rc = st_seal(&w->f->key, aad, sizeof(aad), data + (size_t)i * BLOCK_SIZE, len, pg);
		st_put32(head + DATA_HEAD_FIXED + 4 * i, st_crc32c(0, pg, len + ST_SEAL_OVERHEAD));
	}
	if (rc == ST_OK) {
		iov[0].iov_base = head;
		iov[0].iov_len = DATA_HEAD_FIXED + 4 * npages;
		iov[1].iov_base = sealed;
		iov[1].iov_len = (size_t)(npages - 1) * stride + tail + ST_SEAL_OVERHEAD;
		rc = st_writer_record(w, iov, 2, 1, rec);
		/* The position the pages were sealed for is where it went. */
		assert(rc != ST_OK || *rec == pos);
	}
	free(sealed);
	return rc;
}

int st_data_append(struct writer *w, const uint8_t *data, uint32_t npages, uint32_t tail,
		   uint64_t *rec)
{
	uint8_t head[DATA_HEAD_FIXED + 4 * ST_EXTENT_PAGES];
	struct iovec iov[2];
	uint32_t i = 0;

	head[0] = REC_DATA;
	head[1] = 0;
	st_put16(head + 2, 0);
	st_put32(head + 4, npages);
	st_put32(head + 8, tail);
	if (w->f->sealed)
		return sealed_data_append(w, head, data, npages, tail, rec);
	/* Whole pages four at a time: independent crcs run in parallel. */
	for (; i + 4 < npages || (i + 4 == npages && tail == BLOCK_SIZE); i += 4) {
		const uint8_t *p[4];
		uint32_t c[4];

		for (uint32_t k = 0; k < 4; k++)
			p[k] = data + (size_t)(i + k) * BLOCK_SIZE;
		st_crc32c_x4(p, BLOCK_SIZE, c);
		for (uint32_t k = 0; k < 4; k++)
			st_put32(head + DATA_HEAD_FIXED + 4 * (i + k), c[k]);
	}
	for (; i < npages; i++)
		st_put32(head + DATA_HEAD_FIXED + 4 * i,
			 st_crc32c(0, data + (size_t)i * BLOCK_SIZE,
				   i + 1 == npages ? tail : BLOCK_SIZE));
	iov[0].iov_base = head;
	iov[0].iov_len = DATA_HEAD_FIXED + 4 * npages;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = (size_t)(npages - 1) * BLOCK_SIZE + tail;
	return st_writer_record(w, iov, 2, 1, rec);
}

struct find_ctx {
	uint64_t page;
	struct ext e;
	bool found;
	int err;
};

static int find_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct find_ctx *c = arg;

	if ((c->err = st_ext_decode(key, klen, val, vlen, &c->e)) != ST_OK)
		return 1;
	c->found = c->e.page <= c->page && c->page < ext_end(&c->e);
	return 1;
}

/* The extent of tree t covering page, if any. */
static int tree_find_page(struct st_file *f, uint64_t limit, const struct tree *t, uint64_t page,
			  struct ext *e, bool *found)
{
	struct find_ctx c = {.page = page};
	uint8_t key[PAGE_KEY_SIZE];
	int rc;

	st_ext_key_encode(page, key);
	rc = st_tree_iter(f, limit, t, key, sizeof(key), true, find_cb, &c);
	if (rc < 0)
		return rc;
	if (c.err)
		return st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", f->path);
	*found = c.found;
	*e = c.e;
	return ST_OK;
}

/* Reads one page as the staged state has it (wlock held). */
static int page_read_staged(st_store *st, uint64_t page, uint8_t out[BLOCK_SIZE])
{
	size_t i = staged_find(st, page);
	struct tree t = {st->head.root, {st->head.root_count, st->head.root_bytes}};
	struct ext e;
	bool found = false;
	int rc;

	memset(out, 0, BLOCK_SIZE);
	if (i < st->nex && st->ex[i].page <= page) {
		e = st->ex[i];
		if (e.rec == 0)
			return ST_OK; /* a staged hole */
		found = true;
		if ((rc = st_writer_flush(&st->w)) != ST_OK)
			return rc;
	} else if (page < st->trunc_pages) {
		rc = tree_find_page(st->file, st->head.pos, &t, page, &e, &found);
		if (rc != ST_OK)
			return rc;
	}
	if (!found)
		return ST_OK;
	return st_data_read_pages(st->file, e.rec, st->w.end,
				  e.rec_first + (uint32_t)(page - e.page), 1, out);
}

/* Writes bytes [from, to) of one page, merged with what is there. */
static int write_partial(st_store *st, uint64_t page, size_t from, size_t to, const uint8_t *src,
			 uint64_t new_size)
{
	uint8_t pg[BLOCK_SIZE];
	uint64_t start = page * BLOCK_SIZE;
	struct ext e = {.page = page, .rec_npages = 1, .npages = 1};
	uint64_t keep = st->size > start ? st->size - start : 0;
	int rc;

	if ((rc = page_read_staged(st, page, pg)) != ST_OK)
		return rc;
	if (keep < BLOCK_SIZE) /* bytes past the size are zeros, whatever was there */
		memset(pg + keep, 0, BLOCK_SIZE - keep);
	memcpy(pg + from, src, to - from);
	e.tail = new_size - start >= BLOCK_SIZE ? BLOCK_SIZE : (uint32_t)(new_size - start);
	if ((rc = st_data_append(&st->w, pg, 1, e.tail, &e.rec)) != ST_OK)
		return rc;
	return stage_extent(st, &e);
}

/* ---- inline content: a small file's bytes in its header --------------- */

int st_inline_content(struct st_file *f, const struct hdr *h, uint8_t *out)
{
	size_t n;
	int rc = st_header_area(f, h, out, &n);

	if (rc != ST_OK)
		return rc;
	if (!(h->area_flags & AREA_CONTENT) || n != h->attr_len + h->size)
		return st_fail(ST_ECORRUPT, 0, h->pos, "%s: header at %llu has no inline content",
			       f->path, (unsigned long long)h->pos);
	memmove(out, out + h->attr_len, (size_t)h->size);
	memset(out + h->size, 0, h->attr_len); /* what moved leaves no trace */
	return ST_OK;
}

int st_inline_enter(st_store *st)
{
	/* The newest commit's content still shows unless a truncate to 0 is
	 * staged; it can be inline only if it is not in the tree. */
	bool from_head = st->trunc_pages != 0;
	int rc;

	if (st->inline_on || st->kind != ST_KIND_FILE || st->nex || st->size > INLINE_MAX ||
	    (from_head && st->head.root))
		return ST_OK;
	/* Content already inline stays so, whatever this handle's flags. */
	if (!(from_head && (st->head.area_flags & AREA_CONTENT)) && !(st->flags & ST_INLINE) &&
	    !(st->head.incompat & FEAT_IN_INLINE))
		return ST_OK;
	if (!(st->ibuf = calloc(1, BLOCK_SIZE)))
		return st_fail_oom();
	if (from_head && (st->head.area_flags & AREA_CONTENT)) {
		if ((rc = st_inline_content(st->file, &st->head, st->ibuf)) != ST_OK) {
			free(st->ibuf);
			st->ibuf = NULL;
			return rc;
		}
		if (st->size < st->head.size) /* a staged truncate */
			memset(st->ibuf + st->size, 0, (size_t)(st->head.size - st->size));
	}
	st->inline_on = true;
	return ST_OK;
}

int st_inline_spill(st_store *st)
{
	struct ext e = {.page = 0, .rec_npages = 1, .npages = 1};
	int rc = ST_OK;

	if (!st->inline_on)
		return ST_OK;
	/* The tree then says everything: nothing of the newest commit's
	 * tree or area shows through. */
	st->trunc_pages = 0;
	if (st->size) {
		e.tail = (uint32_t)st->size;
		if ((rc = st_data_append(&st->w, st->ibuf, 1, e.tail, &e.rec)) == ST_OK)
			rc = stage_extent(st, &e);
	}
	free(st->ibuf);
	st->ibuf = NULL;
	st->inline_on = false;
	return rc;
}

static int check_writable(st_store *st)
{
	if (st->readonly)
		return st_fail(ST_EROFS, EROFS, 0, "%s: read-only", st->path);
	if (st->kind != ST_KIND_FILE)
		return st_fail(ST_EKIND, 0, 0, "%s: not a file store", st->path);
	return ST_OK;
}

/* The next piece of bytes [pos, end): part of the page pos is in (*n 0:
 * bytes [*from, *to) of page *page), or, from a page start, *n whole
 * pages (at most max). */
static void next_piece(uint64_t pos, uint64_t end, uint32_t max, uint64_t *page, size_t *from,
		       size_t *to, uint32_t *n)
{
	*page = pos / BLOCK_SIZE;
	*from = (size_t)(pos % BLOCK_SIZE);
	*n = 0;
	if (*from || end - pos < BLOCK_SIZE) {
		*to = end - *page * BLOCK_SIZE < BLOCK_SIZE ? (size_t)(end - *page * BLOCK_SIZE)
							    : BLOCK_SIZE;
		return;
	}
	*n = (end - pos) / BLOCK_SIZE > max ? max : (uint32_t)((end - pos) / BLOCK_SIZE);
}

int st_file_write(st_store *st, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	uint64_t pos = off, end = off + len, new_size;
	int rc;

	if ((rc = check_writable(st)) != ST_OK)
		return rc;
	if (end < off || end > ST_MAX_FILE_SIZE)
		return st_fail(ST_ETOOBIG, EFBIG, 0, "%s: write past the largest file size",
			       st->path);
	if (len == 0)
		return ST_OK;
	pthread_mutex_lock(&st->wlock);
	new_size = end > st->size ? end : st->size;
	if ((rc = st_inline_enter(st)) != ST_OK)
		goto out;
	if (st->inline_on && end <= INLINE_MAX) {
		memcpy(st->ibuf + off, src, len);
		st->size = new_size;
		goto out;
	}
	if ((rc = st_inline_spill(st)) != ST_OK) {
		rc = st_store_fail_rollback(st, rc);
		goto out;
	}
	while (pos < end) {
		uint64_t page;
		size_t in, to;
		uint32_t n;

		next_piece(pos, end, ST_EXTENT_PAGES, &page, &in, &to, &n);
		if (n == 0) {
			rc = write_partial(st, page, in, to, src + (pos - off), new_size);
			pos = page * BLOCK_SIZE + to;
		} else {
			struct ext e = {
			    .page = page, .tail = BLOCK_SIZE, .npages = n, .rec_npages = n};

			rc =
			    st_data_append(&st->w, src + (pos - off), e.npages, BLOCK_SIZE, &e.rec);
			if (rc == ST_OK)
				rc = stage_extent(st, &e);
			pos += (uint64_t)e.npages * BLOCK_SIZE;
		}
		if (rc != ST_OK) {
			/* Records staged earlier may have been lost with the buffer. */
			rc = st_store_fail_rollback(st, rc);
			goto out;
		}
	}
	st->size = new_size;
out:
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

int st_file_truncate(st_store *st, uint64_t size)
{
	int rc;

	if ((rc = check_writable(st)) != ST_OK)
		return rc;
	if (size > ST_MAX_FILE_SIZE)
		return st_fail(ST_ETOOBIG, EFBIG, 0, "%s: size past the largest file size",
			       st->path);
	pthread_mutex_lock(&st->wlock);
	if ((rc = st_inline_enter(st)) != ST_OK)
		goto fail;
	if (st->inline_on && size <= INLINE_MAX) {
		if (size < st->size)
			memset(st->ibuf + size, 0, (size_t)(st->size - size));
		goto done;
	}
	if ((rc = st_inline_spill(st)) != ST_OK)
		goto fail;
	if (size < st->size) {
		uint64_t keep = (size + BLOCK_SIZE - 1) / BLOCK_SIZE;
		size_t i = staged_find(st, keep);
		uint8_t pg[BLOCK_SIZE];

		/* Read the partial last page before dropping anything. */
		if (size % BLOCK_SIZE && (rc = page_read_staged(st, keep - 1, pg)) != ST_OK)
			goto fail;
		if (i < st->nex && st->ex[i].page < keep)
			st->ex[i] = st_ext_slice(&st->ex[i], st->ex[i].page, keep), i++;
		st->nex = i;
		if (keep < st->trunc_pages)
			st->trunc_pages = keep;
		if (size % BLOCK_SIZE) {
			/* Zero the cut-off bytes: they must not come back if the
			 * file grows again. */
			struct ext e = {.page = keep - 1, .rec_npages = 1, .npages = 1};
			e.tail = (uint32_t)(size % BLOCK_SIZE);
			memset(pg + e.tail, 0, BLOCK_SIZE - e.tail);
			if ((rc = st_data_append(&st->w, pg, 1, e.tail, &e.rec)) != ST_OK ||
			    (rc = stage_extent(st, &e)) != ST_OK)
				goto fail;
		}
	}
done:
	st->size = size;
	pthread_mutex_unlock(&st->wlock);
	return ST_OK;
fail:
	rc = st_store_fail_rollback(st, rc);
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

int st_file_punch(st_store *st, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[BLOCK_SIZE];
	uint64_t pos = off, end;
	int rc;

	if ((rc = check_writable(st)) != ST_OK)
		return rc;
	if (off > ST_MAX_FILE_SIZE)
		return st_fail(ST_ETOOBIG, EFBIG, 0, "%s: hole past the largest file size",
			       st->path);
	pthread_mutex_lock(&st->wlock);
	end = len > st->size - (off < st->size ? off : st->size) ? st->size : off + len;
	if ((rc = st_inline_enter(st)) != ST_OK)
		goto out;
	if (st->inline_on) {
		if (pos < end)
			memset(st->ibuf + pos, 0, (size_t)(end - pos));
		goto out;
	}
	while (pos < end && rc == ST_OK) {
		uint64_t page;
		size_t in, to;
		uint32_t n;

		next_piece(pos, end, HOLE_MAX_PAGES, &page, &in, &to, &n);
		if (n == 0) {
			rc = write_partial(st, page, in, to, zeros + in, st->size);
			pos = page * BLOCK_SIZE + to;
		} else {
			struct ext e = {
			    .page = page, .tail = BLOCK_SIZE, .npages = n, .rec_npages = n};

			rc = stage_extent(st, &e);
			pos += (uint64_t)e.npages * BLOCK_SIZE;
		}
	}
	if (rc != ST_OK)
		rc = st_store_fail_rollback(st, rc);
out:
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

int st_file_set_mtime(st_store *st, uint64_t mtime_ns)
{
	int rc;

	if ((rc = check_writable(st)) != ST_OK)
		return rc;
	pthread_mutex_lock(&st->wlock);
	st->mtime_ns = mtime_ns;
	pthread_mutex_unlock(&st->wlock);
	return ST_OK;
}

/* ---- attributes: an opaque record per change, named by each header ---- */

int st_meta_append(struct writer *w, const uint8_t *buf, size_t len, uint64_t *pos)
{
	uint8_t head[META_HEAD] = {REC_META, 0, 0, 0};
	struct iovec iov[2] = {{head, sizeof(head)}, {(void *)buf, len}};

	return st_writer_record(w, iov, len ? 2 : 1, len ? 2 : 1, pos);
}

int st_meta_read(struct st_file *f, uint64_t pos, uint64_t limit, uint8_t **buf, size_t *len)
{
	uint8_t *p;
	uint32_t n;
	int rc = st_record_read(f, pos, limit, 1u << REC_META, &p, &n);

	if (rc != ST_OK)
		return rc;
	if (n < META_HEAD) {
		free(p);
		return st_fail(ST_ECORRUPT, 0, pos, "%s: short attributes record at offset %llu",
			       f->path, (unsigned long long)pos);
	}
	memmove(p, p + META_HEAD, n - META_HEAD);
	*buf = p;
	*len = n - META_HEAD;
	return ST_OK;
}

int st_meta_get(struct st_file *f, uint64_t meta, uint64_t hpos, uint8_t **buf, size_t *len)
{
	uint8_t body[BLOCK_SIZE];
	struct hdr h;
	size_t n;
	int rc;

	if (!(meta & META_AREA))
		return st_meta_read(f, meta, hpos, buf, len);
	if (meta != (hpos | META_AREA))
		return st_fail(ST_ECORRUPT, 0, hpos, "%s: attributes of another header", f->path);
	if ((rc = st_header_read(f, hpos, UINT64_MAX, &h)) != ST_OK ||
	    (rc = st_header_area(f, &h, body, &n)) != ST_OK)
		return rc;
	if (!(h.area_flags & AREA_ATTRS) || n < h.attr_len)
		return st_fail(ST_ECORRUPT, 0, hpos, "%s: header at %llu has no attributes",
			       f->path, (unsigned long long)hpos);
	if (!(*buf = malloc(h.attr_len)))
		return st_fail_oom();
	memcpy(*buf, body, h.attr_len);
	*len = h.attr_len;
	return ST_OK;
}

int st_cur_meta_load(st_store *st)
{
	int rc;

	if (!st->head.meta || st->cur_meta_pos == st->head.meta)
		return ST_OK;
	free(st->cur_meta);
	st->cur_meta = NULL;
	st->cur_meta_pos = 0;
	rc = st_meta_get(st->file, st->head.meta, st->head.pos, &st->cur_meta, &st->cur_meta_len);
	if (rc == ST_OK)
		st->cur_meta_pos = st->head.meta;
	return rc;
}

int st_file_set_meta(st_store *st, const void *buf, size_t len)
{
	uint8_t *copy;
	int rc;

	if ((rc = check_writable(st)) != ST_OK)
		return rc;
	if (len > ST_META_MAX)
		return st_fail(ST_ETOOBIG, EFBIG, 0, "%s: attributes of %zu bytes", st->path, len);
	pthread_mutex_lock(&st->wlock);
	/* The newest commit's record, read once per position: a commit whose
	 * attributes did not change writes none. */
	(void)st_cur_meta_load(st);
	free(st->meta);
	st->meta = NULL;
	st->meta_len = 0;
	rc = ST_OK;
	if (st->head.meta && st->cur_meta_pos == st->head.meta && st->cur_meta_len == len &&
	    memcmp(st->cur_meta, buf, len) == 0)
		goto out; /* unchanged: the next header points at the same record */
	if (!(copy = malloc(len ? len : 1))) {
		rc = st_fail_oom();
		goto out;
	}
	memcpy(copy, buf, len);
	st->meta = copy;
	st->meta_len = len;
out:
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

static int meta_of(st_store *st, struct st_file *f, uint64_t pos, uint64_t limit, void **buf,
		   size_t *len)
{
	uint8_t *p = NULL;
	int rc = ST_OK;

	*buf = NULL;
	*len = 0;
	if (st->kind != ST_KIND_FILE)
		return st_fail(ST_EKIND, 0, 0, "%s: not a file store", st->path);
	if (pos && (rc = st_meta_get(f, pos, limit, &p, len)) == ST_OK)
		*buf = p;
	return rc;
}

int st_file_meta(st_store *st, void **buf, size_t *len)
{
	struct st_file *f;
	struct hdr h;
	int rc;

	st_store_snapshot(st, &f, &h);
	rc = meta_of(st, f, h.meta, h.pos, buf, len);
	st_file_unref(f);
	return rc;
}

int st_version_meta(st_store *st, const struct st_version *v, void **buf, size_t *len)
{
	struct st_file *f;
	struct hdr h;
	int rc;

	st_store_snapshot(st, &f, &h);
	rc = meta_of(st, f, v->meta, v->offset, buf, len);
	st_file_unref(f);
	return rc;
}

uint64_t st_file_size(st_store *st)
{
	uint64_t size;

	if (st->readonly) {
		pthread_mutex_lock(&st->slock);
		size = st->head.size;
		pthread_mutex_unlock(&st->slock);
		return size;
	}
	pthread_mutex_lock(&st->wlock);
	size = st->size;
	pthread_mutex_unlock(&st->wlock);
	return size;
}

/* ---- reading -------------------------------------------------------------- */

struct read_ctx {
	struct st_file *f;
	uint64_t limit;
	uint64_t off, len; /* byte range wanted */
	uint8_t *out;
	uint8_t *tmp;
	int rc;
};

static int read_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct read_ctx *c = arg;
	uint64_t first = c->off / BLOCK_SIZE, last = (c->off + c->len - 1) / BLOCK_SIZE;
	struct ext e, s;
	uint64_t from, to;

	if ((c->rc = st_ext_decode(key, klen, val, vlen, &e)) != ST_OK) {
		c->rc = st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", c->f->path);
		return 1;
	}
	if (e.page > last)
		return 1;
	if (ext_end(&e) <= first)
		return 0;
	s = st_ext_slice(&e, first, last + 1);
	c->rc = st_data_read_pages(c->f, s.rec, c->limit, s.rec_first, s.npages, c->tmp);
	if (c->rc != ST_OK)
		return 1;
	from = s.page * BLOCK_SIZE;
	to = from + (uint64_t)s.npages * BLOCK_SIZE;
	if (from < c->off)
		from = c->off;
	if (to > c->off + c->len)
		to = c->off + c->len;
	memcpy(c->out + (from - c->off), c->tmp + (from - s.page * BLOCK_SIZE), to - from);
	return 0;
}

ssize_t st_file_read(st_store *st, uint64_t off, void *buf, size_t len)
{
	struct read_ctx c = {0};
	struct st_file *f;
	struct hdr h;
	struct tree t;
	uint8_t key[PAGE_KEY_SIZE];
	uint64_t npages;
	int rc;

	if (st->kind != ST_KIND_FILE)
		return st_fail(ST_EKIND, 0, 0, "%s: not a file store", st->path);
	st_store_snapshot(st, &f, &h);
	if (off >= h.size || len == 0) {
		st_file_unref(f);
		return 0;
	}
	if (len > h.size - off)
		len = (size_t)(h.size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX & ~(size_t)(BLOCK_SIZE - 1);
	if (h.area_flags & AREA_CONTENT) {
		uint8_t content[BLOCK_SIZE];

		rc = st_inline_content(f, &h, content);
		st_file_unref(f);
		if (rc != ST_OK)
			return rc;
		memcpy(buf, content + off, len);
		return (ssize_t)len;
	}
	memset(buf, 0, len);
	c.f = f;
	c.limit = h.pos;
	c.off = off;
	c.len = len;
	c.out = buf;
	/* Room for the pages of one extent that fall in the range: no more
	 * than the range spans (a one-page read needs one page, not the
	 * 1 MiB of a whole extent), no more than an extent holds. */
	npages = (off + len - 1) / BLOCK_SIZE - off / BLOCK_SIZE + 1;
	if (npages > ST_EXTENT_PAGES)
		npages = ST_EXTENT_PAGES;
	c.tmp = malloc((size_t)npages * BLOCK_SIZE);
	if (!c.tmp) {
		st_file_unref(f);
		return st_fail_oom();
	}
	t.root = h.root;
	t.r.count = h.root_count;
	t.r.bytes = h.root_bytes;
	st_ext_key_encode(off / BLOCK_SIZE, key);
	rc = st_tree_iter(f, h.pos, &t, key, sizeof(key), true, read_cb, &c);
	free(c.tmp);
	st_file_unref(f);
	if (rc < 0)
		return rc;
	if (c.rc != ST_OK)
		return c.rc;
	return (ssize_t)len;
}

struct seek_ctx {
	uint64_t page; /* first page of interest */
	int whence;
	uint64_t result; /* page found */
	bool found;
	int rc;
};

static int seek_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct seek_ctx *c = arg;
	struct ext e;

	if (st_ext_decode(key, klen, val, vlen, &e) != ST_OK) {
		c->rc = ST_ECORRUPT;
		return 1;
	}
	if (ext_end(&e) <= c->page)
		return 0;
	if (c->whence == SEEK_DATA) {
		c->result = e.page > c->page ? e.page : c->page;
		c->found = true;
		return 1;
	}
	/* SEEK_HOLE: the first page not covered by a chain of extents. */
	if (e.page > c->page) {
		c->found = true;
		c->result = c->page;
		return 1;
	}
	c->page = ext_end(&e);
	return 0;
}

int64_t st_file_seek(st_store *st, uint64_t off, int whence)
{
	struct seek_ctx c = {.page = off / BLOCK_SIZE, .whence = whence};
	uint8_t key[PAGE_KEY_SIZE];
	struct st_file *f;
	struct hdr h;
	struct tree t;
	int64_t res;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return st_fail(ST_EINVAL, EINVAL, 0, "st_file_seek: bad whence");
	st_store_snapshot(st, &f, &h);
	if (off >= h.size) {
		st_file_unref(f);
		return ST_ENOTFOUND;
	}
	if (h.area_flags & AREA_CONTENT) { /* one run of data */
		st_file_unref(f);
		return whence == SEEK_DATA ? (int64_t)off : (int64_t)h.size;
	}
	t.root = h.root;
	t.r.count = h.root_count;
	t.r.bytes = h.root_bytes;
	st_ext_key_encode(c.page, key);
	rc = st_tree_iter(f, h.pos, &t, key, sizeof(key), true, seek_cb, &c);
	st_file_unref(f);
	if (rc < 0)
		return rc;
	if (c.rc)
		return st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", st->path);
	if (whence == SEEK_DATA) {
		if (!c.found || c.result * BLOCK_SIZE >= h.size)
			return ST_ENOTFOUND;
		res = (int64_t)(c.result * BLOCK_SIZE);
		return res > (int64_t)off ? res : (int64_t)off;
	}
	res = c.found ? (int64_t)(c.result * BLOCK_SIZE) : (int64_t)(c.page * BLOCK_SIZE);
	if (res < (int64_t)off)
		res = (int64_t)off;
	return res > (int64_t)h.size ? (int64_t)h.size : res;
}

/* ---- commit: staged extents to tree actions -------------------------------- */

struct fop {
	struct ext e;
	uint8_t op;
};

struct fops {
	struct fop *v;
	size_t n, cap;
};

static int fops_push(struct fops *o, uint8_t op, const struct ext *e)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct fop *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return st_fail_oom();
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n].e = *e;
	o->v[o->n].op = op;
	o->n++;
	return ST_OK;
}

struct collect_ctx {
	struct fops *old;  /* tree extents touched (op unused) */
	uint64_t from, to; /* pages of interest */
	int rc;
};

static int collect_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct collect_ctx *c = arg;
	struct ext e;

	if (st_ext_decode(key, klen, val, vlen, &e) != ST_OK) {
		c->rc = ST_ECORRUPT;
		return 1;
	}
	if (e.page >= c->to)
		return 1;
	if (ext_end(&e) <= c->from)
		return 0;
	c->rc = fops_push(c->old, ACT_DEL, &e);
	return c->rc != ST_OK;
}

static int fop_cmp(const void *a, const void *b)
{
	const struct fop *x = a, *y = b;

	if (x->e.page != y->e.page)
		return x->e.page < y->e.page ? -1 : 1;
	return (int)x->op - (int)y->op; /* ACT_PUT first: it wins */
}

int st_stage_actions(st_store *st, const struct tree *t, struct action **acts, size_t *nacts,
		     uint8_t **arena)
{
	struct fops old = {0}, ops = {0};
	struct collect_ctx c = {.old = &old};
	uint8_t key[PAGE_KEY_SIZE];
	size_t n = 0;
	int rc = ST_OK;

	*acts = NULL;
	*nacts = 0;
	*arena = NULL;
	if (st->kind == ST_KIND_KV) {
		/* The puts st_kv_take() moved to ckv; new ones may arrive meanwhile. */
		if (st->nckv == 0)
			return ST_OK;
		if (!(*acts = calloc(st->nckv, sizeof(**acts))))
			return st_fail_oom();
		for (size_t i = 0; i < st->nckv; i++) {
			struct action *a = &(*acts)[i];
			a->key = st->ckv[i].key;
			a->klen = (uint16_t)st->ckv[i].klen;
			a->val = st->ckv[i].val;
			a->vlen = st->ckv[i].vlen;
			a->op = st->ckv[i].val ? ACT_PUT : ACT_DEL;
		}
		*nacts = st->nckv;
		return ST_OK;
	}
	/* Every committed extent that a staged extent or the truncate touches. */
	for (size_t i = 0; i < st->nex && rc == ST_OK; i++) {
		c.from = st->ex[i].page;
		c.to = ext_end(&st->ex[i]);
		st_ext_key_encode(c.from, key);
		rc =
		    st_tree_iter(st->file, st->head.pos, t, key, sizeof(key), true, collect_cb, &c);
		if (rc > 0)
			rc = c.rc;
	}
	if (rc == ST_OK && st->trunc_pages != UINT64_MAX) {
		c.from = st->trunc_pages;
		c.to = UINT64_MAX;
		st_ext_key_encode(c.from, key);
		rc =
		    st_tree_iter(st->file, st->head.pos, t, key, sizeof(key), true, collect_cb, &c);
		if (rc > 0)
			rc = c.rc;
	}
	if (rc == ST_ECORRUPT)
		rc = st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", st->path);
	if (rc != ST_OK)
		goto out;
	if (old.n > 1) {
		/* Passes overlap (neighbouring staged extents, the truncate):
		 * an extent may have been collected more than once. */
		qsort(old.v, old.n, sizeof(*old.v), fop_cmp);
		for (size_t i = 1; i < old.n; i++)
			if (old.v[i].e.page != old.v[n].e.page)
				old.v[++n] = old.v[i];
		old.n = n + 1;
	}
	/* Each old extent goes; what the staged extents and the truncate do
	 * not cover of it comes back as smaller extents. */
	for (size_t i = 0; i < old.n && rc == ST_OK; i++) {
		const struct ext *e = &old.v[i].e;
		uint64_t cur = e->page, stop = ext_end(e);

		if (stop > st->trunc_pages)
			stop = st->trunc_pages;
		rc = fops_push(&ops, ACT_DEL, e);
		for (size_t j = staged_find(st, e->page);
		     rc == ST_OK && j < st->nex && st->ex[j].page < stop; j++) {
			if (st->ex[j].page > cur) {
				struct ext piece = st_ext_slice(e, cur, st->ex[j].page);
				rc = fops_push(&ops, ACT_PUT, &piece);
			}
			if (ext_end(&st->ex[j]) > cur)
				cur = ext_end(&st->ex[j]);
		}
		if (rc == ST_OK && cur < stop) {
			struct ext piece = st_ext_slice(e, cur, stop);
			rc = fops_push(&ops, ACT_PUT, &piece);
		}
	}
	for (size_t i = 0; i < st->nex && rc == ST_OK; i++)
		if (st->ex[i].rec) /* a hole only takes away */
			rc = fops_push(&ops, ACT_PUT, &st->ex[i]);
	if (rc != ST_OK)
		goto out;
	if (ops.n == 0)
		goto out;
	qsort(ops.v, ops.n, sizeof(*ops.v), fop_cmp);
	*acts = calloc(ops.n, sizeof(**acts));
	*arena = malloc(ops.n * (PAGE_KEY_SIZE + EXT_VAL_SIZE));
	if (!*acts || !*arena) {
		rc = st_fail_oom();
		goto out;
	}
	n = 0;
	for (size_t i = 0; i < ops.n; i++) {
		uint8_t *k = *arena + n * (PAGE_KEY_SIZE + EXT_VAL_SIZE);
		struct action *a = &(*acts)[n];

		if (n && st_get64((*acts)[n - 1].key) == ops.v[i].e.page)
			continue; /* a put and a delete of one key: the put came first */
		st_ext_key_encode(ops.v[i].e.page, k);
		a->key = k;
		a->klen = PAGE_KEY_SIZE;
		a->op = ops.v[i].op;
		if (a->op == ACT_PUT) {
			st_ext_val_encode(&ops.v[i].e, k + PAGE_KEY_SIZE);
			a->val = k + PAGE_KEY_SIZE;
			a->vlen = EXT_VAL_SIZE;
		}
		n++;
	}
	*nacts = n;
out:
	if (rc != ST_OK) {
		free(*acts);
		free(*arena);
		*acts = NULL;
		*arena = NULL;
	}
	free(old.v);
	free(ops.v);
	return rc;
}
