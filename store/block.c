/*
 * block.c - the block file: appending records, reading them back.
 *
 * The file is a sequence of 4096-byte blocks whose first byte is a marker
 * the engine writes itself: MARK_DATA, or MARK_HEADER for a block that
 * begins with a committed header. Records are a stream that skips those
 * bytes, so no byte a user writes can ever sit where a marker is read.
 * A record is u32 length, u32 st_crc32c, payload; positions are physical file
 * offsets of the length field, and never block-aligned.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define WRITER_CAP (4u << 20)
#define WRITER_MIN (64u << 10) /* the buffer's first size */
#define WB_CHUNK   (8u << 20)  /* bytes written between writeback hints */

static atomic_uint_fast64_t next_file_id = 1;

int st_file_open(const struct st_ops *ops, void *ctx, const char *path, int flags, mode_t mode,
		 struct st_file **out)
{
	struct st_file *f;
	struct stat sb;
	int fd;

	fd = ops->open(ctx, path, flags, mode);
	if (fd < 0) {
		if (errno == ENOENT)
			return st_fail(ST_ENOTFOUND, errno, 0, "%s: no such store", path);
		if (errno == EEXIST)
			return st_fail(ST_EEXIST, errno, 0, "%s: store exists", path);
		return st_fail_errno(errno, "open", path);
	}
	if (ops->fstat(ctx, fd, &sb) < 0) {
		int e = errno;
		ops->close(ctx, fd);
		return st_fail_errno(e, "fstat", path);
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		ops->close(ctx, fd);
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	}
	f->fd = fd;
	f->ops = ops;
	f->ctx = ctx;
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->id = atomic_fetch_add(&next_file_id, 1);
	atomic_init(&f->refs, 1);
	*out = f;
	return ST_OK;
}

struct st_file *st_file_ref(struct st_file *f)
{
	atomic_fetch_add(&f->refs, 1);
	return f;
}

void st_file_unref(struct st_file *f)
{
	if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	f->ops->close(f->ctx, f->fd);
	free(f->path);
	free(f);
}

/* ---- appending ---------------------------------------------------------- */

void st_writer_init(struct writer *w, struct st_file *f, uint64_t end, bool nosync)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->end = end;
	w->buf_pos = end;
	w->wb_from = end;
	w->wb_chunk = WB_CHUNK;
	w->zero_end = end;
	w->run_from = end;
	w->nosync = nosync;
}

/* A new commit region begins at the writer's end. */
static void run_restart(struct writer *w)
{
	w->run_from = w->end;
	w->run_crc = 0;
	w->run_long = false;
}

void st_writer_rewind(struct writer *w, uint64_t end)
{
	w->len = 0;
	w->end = w->buf_pos = end;
	w->zero_end = end; /* a rewind's cut takes the reserve too */
	if (w->wb_from > end)
		w->wb_from = end;
	run_restart(w);
}

void st_writer_adopt(struct writer *dst, const struct writer *src)
{
	if (src->zero_end > dst->end)
		dst->zero_end = src->zero_end;
	dst->run_from = src->run_from;
	dst->run_crc = src->run_crc;
	dst->run_long = src->run_long;
}

bool st_writer_onesync_ok(const struct writer *w, uint64_t prev_end)
{
	return !w->run_long && w->run_from == prev_end;
}

/* Adds physical bytes appended at the end to the commit region's CRC, as
 * long as the region is short enough for a one-sync commit. */
static void run_add(struct writer *w, const void *p, size_t n)
{
	if (w->run_long)
		return;
	if (w->end + n - w->run_from > RUN_CRC_MAX) {
		w->run_long = true;
		return;
	}
	w->run_crc = st_crc32c(w->run_crc, p, n);
}

uint64_t st_writer_reserved(const struct writer *w)
{
	return w->zero_end > w->end ? w->zero_end - w->end : 0;
}

int st_writer_reserve(struct writer *w, uint64_t n)
{
	static const uint8_t zeros[64 << 10];
	uint64_t from = w->zero_end > w->end ? w->zero_end : w->end, to = w->end + n;

	assert(w->len == 0);
	while (from < to) {
		size_t k = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		ssize_t r = w->f->ops->pwrite(w->f->ctx, w->f->fd, zeros, k, (off_t)from);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return st_fail_errno(r < 0 ? errno : EIO, "reserve space in", w->f->path);
		from += (uint64_t)r;
		w->zero_end = from;
	}
	return ST_OK;
}

/* Once wb_chunk bytes have been written since the last hint, asks the
 * kernel to start writing them out (ops->writeback): the disk then works
 * while the commit goes on appending, and the commit's fdatasync finds
 * little left to do. Called when everything up to w->end is written. */
static void writer_hint(struct writer *w)
{
	if (w->nosync || !w->f->ops->writeback || w->end - w->wb_from < w->wb_chunk)
		return;
	(void)w->f->ops->writeback(w->f->ctx, w->f->fd, (off_t)w->wb_from,
				   (off_t)(w->end - w->wb_from));
	w->wb_from = w->end;
}

void st_writer_release(struct writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

int st_writer_flush(struct writer *w)
{
	size_t done = 0;

	while (done < w->len) {
		ssize_t r = w->f->ops->pwrite(w->f->ctx, w->f->fd, w->buf + done, w->len - done,
					      (off_t)(w->buf_pos + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			w->len = 0;
			w->buf_pos = w->end;
			return st_fail_errno(e, "write", w->f->path);
		}
		done += (size_t)r;
	}
	w->len = 0;
	w->buf_pos = w->end;
	writer_hint(w);
	return ST_OK;
}

/* Puts physical bytes at w->end. */
static int buf_put(struct writer *w, const void *p, size_t n)
{
	int rc;

	if (w->len + n > w->cap) {
		/* The buffer doubles up to WRITER_CAP: a small store's commit
		 * (most are) fills a few pages of it, not megabytes. */
		size_t cap = w->cap ? w->cap : WRITER_MIN;

		while (cap < w->len + n && cap < WRITER_CAP)
			cap *= 2;
		if (w->len + n > cap) { /* full: out with what it holds */
			if (w->len && (rc = st_writer_flush(w)) != ST_OK)
				return rc;
			cap = n > cap ? n : cap;
		}
		if (cap > w->cap) {
			uint8_t *b = realloc(w->buf, cap);
			if (!b)
				return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
			w->buf = b;
			w->cap = cap;
		}
	}
	if (w->len == 0)
		w->buf_pos = w->end;
	run_add(w, p, n);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->end += n;
	return ST_OK;
}

#define DIRECT_MIN (256u << 10) /* payloads this large skip the buffer */
#define DIRECT_IOV 1024

/* Writes iov[0..cnt) at off in full, resuming after short writes. */
static int pwritev_full(struct writer *w, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = w->f->ops->pwritev(w->f->ctx, w->f->fd, iov, cnt, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return st_fail_errno(r < 0 ? errno : EIO, "write", w->f->path);
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return ST_OK;
}

/* Writes a large payload straight from the caller's memory: the marker
 * bytes go in as iovecs of their own, so no byte is copied here. */
static int stream_put_direct(struct writer *w, const uint8_t *s, size_t n)
{
	static uint8_t mark = MARK_DATA;
	struct iovec iov[DIRECT_IOV];
	int rc = st_writer_flush(w);

	while (rc == ST_OK && n) {
		uint64_t start = w->end;
		int cnt = 0;

		while (n && cnt < DIRECT_IOV - 1) {
			size_t room;

			if (w->end % BLOCK_SIZE == 0) {
				iov[cnt].iov_base = &mark;
				iov[cnt++].iov_len = 1;
				run_add(w, &mark, 1);
				w->end++;
			}
			room = BLOCK_SIZE - w->end % BLOCK_SIZE;
			if (room > n)
				room = n;
			run_add(w, s, room);
			iov[cnt].iov_base = (void *)s;
			iov[cnt++].iov_len = room;
			w->end += room;
			s += room;
			n -= room;
		}
		rc = pwritev_full(w, iov, cnt, start);
	}
	w->buf_pos = w->end;
	if (rc == ST_OK)
		writer_hint(w);
	return rc;
}

/* Appends stream bytes, writing a data marker at each block start crossed. */
static int stream_put(struct writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;
	static const uint8_t mark = MARK_DATA;
	int rc;

	if (n >= DIRECT_MIN && w->f->ops->pwritev)
		return stream_put_direct(w, s, n);
	while (n) {
		size_t room;

		if (w->end % BLOCK_SIZE == 0 && (rc = buf_put(w, &mark, 1)) != ST_OK)
			return rc;
		room = BLOCK_SIZE - w->end % BLOCK_SIZE;
		if (room > n)
			room = n;
		if ((rc = buf_put(w, s, room)) != ST_OK)
			return rc;
		s += room;
		n -= room;
	}
	return ST_OK;
}

static int record_put(struct writer *w, const struct iovec *iov, int niov, int crc_iov,
		      uint64_t *pos)
{
	static const uint8_t mark = MARK_DATA;
	uint8_t rh[REC_HDR_SIZE];
	uint64_t len = 0;
	uint32_t crc;
	int rc;

	for (int i = 0; i < niov; i++)
		len += iov[i].iov_len;
	if (len == 0 || len > REC_MAX_LEN)
		return st_fail(ST_EINVAL, 0, 0, "record of %llu bytes", (unsigned long long)len);
	st_put32(rh, (uint32_t)len);
	crc = st_crc32c(0, rh, 4);
	for (int i = 0; i < crc_iov; i++)
		crc = st_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	st_put32(rh + 4, crc);
	/* A record never starts on a block boundary: the marker goes first. */
	if (w->end % BLOCK_SIZE == 0 && (rc = buf_put(w, &mark, 1)) != ST_OK)
		return rc;
	*pos = w->end;
	if ((rc = stream_put(w, rh, sizeof(rh))) != ST_OK)
		return rc;
	for (int i = 0; i < niov; i++)
		if ((rc = stream_put(w, iov[i].iov_base, iov[i].iov_len)) != ST_OK)
			return rc;
	return ST_OK;
}

/* Where the next record will start: after the marker, at a block start. */
static uint64_t next_record_pos(const struct writer *w)
{
	return w->end % BLOCK_SIZE == 0 ? w->end + 1 : w->end;
}

/* A sealed store's node or attributes record: its type byte, then the
 * rest of the payload sealed, bound to the type and the position. */
static int sealed_put(struct writer *w, const struct iovec *iov, int niov, uint64_t *pos)
{
	uint8_t aad[SEAL_AAD_SIZE], *plain, *out;
	struct iovec one;
	size_t len = 0, at = 0;
	int rc;

	for (int i = 0; i < niov; i++)
		len += iov[i].iov_len;
	if (len == 0 || len + ST_SEAL_OVERHEAD > REC_MAX_LEN)
		return st_fail(ST_EINVAL, 0, 0, "record of %zu bytes", len);
	plain = malloc(len);
	out = malloc(len + ST_SEAL_OVERHEAD);
	if (!plain || !out) {
		rc = st_fail_oom();
		goto out_free;
	}
	for (int i = 0; i < niov; i++) {
		memcpy(plain + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	out[0] = plain[0];
	seal_aad(aad, plain[0], next_record_pos(w), 0, 0, 0);
	if ((rc = st_seal(&w->f->key, aad, sizeof(aad), plain + 1, len - 1, out + 1)) != ST_OK)
		goto out_free;
	one.iov_base = out;
	one.iov_len = len + ST_SEAL_OVERHEAD;
	rc = record_put(w, &one, 1, 1, pos);
out_free:
	free(plain);
	free(out);
	return rc;
}

int st_writer_record(struct writer *w, const struct iovec *iov, int niov, int crc_iov,
		     uint64_t *pos)
{
	/* A data record comes sealed page by page (st_data_append). */
	if (w->f->sealed && niov > 0 && iov[0].iov_len > 0 &&
	    *(const uint8_t *)iov[0].iov_base != REC_DATA)
		return sealed_put(w, iov, niov, pos);
	return record_put(w, iov, niov, crc_iov, pos);
}

uint64_t st_writer_next_pos(const struct writer *w)
{
	return next_record_pos(w);
}

/* The AAD of a header's sealed area body: bound to its header's position
 * and commit, so that no body of another header passes for it. */
static void area_aad(uint8_t aad[SEAL_AAD_SIZE], const struct hdr *h)
{
	seal_aad(aad, REC_HEADER, h->pos, 1, (uint32_t)h->seq, (uint32_t)(h->seq >> 32));
}

/* Encodes area a of header h (its pos and seq set) into out: the head,
 * then the body, sealed in a sealed store; sets h's area fields. Returns
 * the bytes, 0 on failure (rc set). */
static size_t area_encode(const struct writer *w, struct hdr *h, const struct st_area *a,
			  uint8_t *out, int *rc)
{
	uint8_t plain[BLOCK_SIZE], *body = out + AREA_HEAD;
	size_t n = a->attr_len + a->content_len, disk = n;

	*rc = ST_OK;
	if (a->attr_len)
		memcpy(plain, a->attrs, a->attr_len);
	if (a->content_len)
		memcpy(plain + a->attr_len, a->content, a->content_len);
	if (w->f->sealed) {
		uint8_t aad[SEAL_AAD_SIZE];

		area_aad(aad, h);
		if ((*rc = st_seal(&w->f->key, aad, sizeof(aad), plain, n, body)) != ST_OK)
			return 0;
		disk += ST_SEAL_OVERHEAD;
	} else {
		memcpy(body, plain, n);
	}
	h->area_flags = (uint8_t)a->flags;
	h->attr_len = (uint32_t)a->attr_len;
	h->area_crc = st_crc32c(0, body, disk);
	h->area_len = (uint16_t)(AREA_HEAD + disk);
	st_area_head(out, a->flags, h->attr_len, h->area_crc);
	return h->area_len;
}

bool st_area_fits(const struct st_file *f, size_t attr_len, size_t content_len)
{
	size_t fixed = f->sealed ? HDR_SEALED_SIZE : HDR_PAYLOAD_SIZE;

	return content_len <= INLINE_MAX &&
	       AREA_HEAD + attr_len + content_len + (f->sealed ? ST_SEAL_OVERHEAD : 0) <=
		   AREA_MAX(fixed);
}

int st_writer_header(struct writer *w, struct hdr *h, uint8_t marker, const struct st_area *a)
{
	static const uint8_t zeros[BLOCK_SIZE];
	uint8_t rec[BLOCK_SIZE], plain[HDR_PAYLOAD_SIZE], *payload = rec + 1 + REC_HDR_SIZE;
	uint8_t area[BLOCK_SIZE];
	uint32_t plen = HDR_PAYLOAD_SIZE;
	size_t alen = 0;
	int rc;

	if (a && (!a->flags || !st_area_fits(w->f, a->attr_len, a->content_len)))
		return st_fail(ST_EINVAL, EINVAL, 0, "%s: inline area too large", w->f->path);
	if (w->end % BLOCK_SIZE) {
		size_t pad = BLOCK_SIZE - w->end % BLOCK_SIZE;
		if ((rc = buf_put(w, zeros, pad)) != ST_OK)
			return rc;
	}
	h->pos = w->end;
	h->self = h->pos;
	if ((h->incompat & FEAT_IN_ONESYNC) &&
	    !st_writer_onesync_ok(w, hdr_prev_end(h, w->f->sealed)))
		h->incompat &= ~FEAT_IN_ONESYNC; /* the padding made it too long */
	h->region_crc = 0;
	if (h->incompat & FEAT_IN_ONESYNC) {
		h->region_crc = w->run_crc;
		marker = MARK_HEADER; /* committed as soon as it is durable */
	}
	/* The file decides: a sealed store's headers all say so. */
	h->incompat = w->f->sealed ? h->incompat | FEAT_IN_SEALED : h->incompat & ~FEAT_IN_SEALED;
	h->area_len = 0;
	h->area_flags = 0;
	h->attr_len = 0;
	h->area_crc = 0;
	if (a || h->prev_area)
		h->incompat |= FEAT_IN_INLINE;
	if (a && (a->flags & AREA_ATTRS)) {
		h->meta = h->pos | META_AREA; /* the attributes are the area's */
		h->ro_compat |= FEAT_RO_META;
	}
	rec[0] = marker;
	/* The area first: the fixed payload names its length. */
	if (a && !(alen = area_encode(w, h, a, area, &rc)))
		return rc;
	st_hdr_encode(h, plain);
	if (w->f->sealed) {
		uint8_t aad[SEAL_AAD_SIZE];

		plen = HDR_SEALED_SIZE;
		payload[0] = plain[0];
		seal_aad(aad, REC_HEADER, h->pos, 0, 0, 0);
		rc = st_seal(&w->f->key, aad, sizeof(aad), plain + 1, HDR_PAYLOAD_SIZE - 1,
			     payload + 1);
		if (rc != ST_OK)
			return rc;
	} else {
		memcpy(payload, plain, HDR_PAYLOAD_SIZE);
	}
	memcpy(payload + plen, area, alen);
	/* The crc covers the fixed payload and the area's head, all in the
	 * block's first sector; the area's body has its own. */
	st_put32(rec + 1, plen + (uint32_t)alen);
	st_put32(rec + 5,
		 st_crc32c(st_crc32c(0, rec + 1, 4), payload, plen + (alen ? AREA_HEAD : 0)));
	if ((rc = buf_put(w, rec, 1 + REC_HDR_SIZE + plen + alen)) != ST_OK)
		return rc;
	run_restart(w); /* the next commit's region begins after this header */
	return ST_OK;
}

int st_writer_sync(struct writer *w)
{
	int rc = st_writer_flush(w);

	if (rc != ST_OK || w->nosync)
		return rc;
	if (w->f->ops->fdatasync(w->f->ctx, w->f->fd) < 0)
		return st_fail_errno(errno, "fdatasync", w->f->path);
	return ST_OK;
}

int st_writer_flip(struct writer *w, uint64_t pos)
{
	static const uint8_t mark = MARK_HEADER;
	ssize_t r = w->f->ops->pwrite(w->f->ctx, w->f->fd, &mark, 1, (off_t)pos);

	if (r != 1)
		return st_fail_errno(r < 0 ? errno : EIO, "write header marker", w->f->path);
	return ST_OK;
}

/* ---- reading ------------------------------------------------------------ */

uint64_t st_stream_end(uint64_t pos, uint64_t n)
{
	uint64_t p = pos;

	while (n) {
		uint64_t room;

		if (p % BLOCK_SIZE == 0)
			p++;
		room = BLOCK_SIZE - p % BLOCK_SIZE;
		if (room > n)
			room = n;
		p += room;
		n -= room;
	}
	return p;
}

int st_pread_full(struct st_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = f->ops->pread(f->ctx, f->fd, (uint8_t *)buf + done, n - done,
					  (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return st_fail_errno(errno, "read", f->path);
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return ST_OK;
}

int st_stream_read(struct st_file *f, uint64_t pos, void *buf, size_t n, uint64_t limit)
{
	uint64_t end = st_stream_end(pos, n);
	uint8_t stackbuf[2 * BLOCK_SIZE], *phys = stackbuf, *out = buf;
	size_t plen = (size_t)(end - pos), got, i = 0;
	int rc;

	if (end > limit || end < pos)
		return st_fail(ST_ECORRUPT, 0, pos, "%s: record at %llu runs past %llu", f->path,
			       (unsigned long long)pos, (unsigned long long)limit);
	if (plen > sizeof(stackbuf) && !(phys = malloc(plen)))
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	rc = st_pread_full(f, phys, plen, pos, &got);
	if (rc != ST_OK)
		goto out;
	if (got < plen) {
		rc =
		    st_fail(ST_ECORRUPT, 0, pos, "%s: record at %llu runs past the end of the file",
			    f->path, (unsigned long long)pos);
		goto out;
	}
	for (uint64_t p = pos; p < end;) {
		size_t room;

		if (p % BLOCK_SIZE == 0) {
			if (phys[p - pos] != MARK_DATA) {
				rc = st_fail(ST_ECORRUPT, 0, p,
					     "%s: header block at %llu inside a record at %llu",
					     f->path, (unsigned long long)p,
					     (unsigned long long)pos);
				goto out;
			}
			p++;
		}
		room = BLOCK_SIZE - p % BLOCK_SIZE;
		if (room > end - p)
			room = (size_t)(end - p);
		memcpy(out + i, phys + (p - pos), room);
		i += room;
		p += room;
	}
out:
	if (phys != stackbuf)
		free(phys);
	return rc;
}

static int rec_corrupt(struct st_file *f, uint64_t pos, const char *what)
{
	return st_fail(ST_ECORRUPT, 0, pos, "%s: %s in record at offset %llu", f->path, what,
		       (unsigned long long)pos);
}

int st_record_read(struct st_file *f, uint64_t pos, uint64_t limit, unsigned types,
		   uint8_t **payload, uint32_t *lenp)
{
	uint8_t first[REC_HDR_SIZE + DATA_HEAD_FIXED], *buf = NULL;
	uint32_t len, crc, want;
	int rc;

	*payload = NULL;
	if (pos == 0 || pos % BLOCK_SIZE == 0 || pos >= limit)
		return rec_corrupt(f, pos, "bad pointer");
	if ((rc = st_stream_read(f, pos, first, REC_HDR_SIZE + 1, limit)) != ST_OK)
		return rc;
	len = st_get32(first);
	crc = st_get32(first + 4);
	if (len == 0 || len > REC_MAX_LEN)
		return rec_corrupt(f, pos, "bad length");
	if (st_stream_end(pos, REC_HDR_SIZE + (uint64_t)len) > limit)
		return rec_corrupt(f, pos, "length past its limit");
	if (first[REC_HDR_SIZE] > 31 || !(types & (1u << first[REC_HDR_SIZE])))
		return rec_corrupt(f, pos, "unexpected record type");
	want = len;
	if (first[REC_HDR_SIZE] == REC_DATA) {
		struct data_head d;

		if (len < DATA_HEAD_FIXED)
			return rec_corrupt(f, pos, "short data record");
		rc = st_stream_read(f, pos, first, sizeof(first), limit);
		if (rc != ST_OK)
			return rc;
		if (st_data_head_decode(first + REC_HDR_SIZE, len, &d) != ST_OK ||
		    len != data_payload_len(d.npages, d.tail, f->sealed))
			return rec_corrupt(f, pos, "bad data record head");
		want = DATA_HEAD_FIXED + 4 * d.npages;
	}
	buf = malloc(REC_HDR_SIZE + (size_t)want);
	if (!buf)
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	if ((rc = st_stream_read(f, pos, buf, REC_HDR_SIZE + (size_t)want, limit)) != ST_OK)
		goto fail;
	if (st_crc32c(st_crc32c(0, buf, 4), buf + REC_HDR_SIZE, want) != crc) {
		rc = rec_corrupt(f, pos, "checksum mismatch");
		goto fail;
	}
	if (f->sealed && buf[REC_HDR_SIZE] != REC_DATA) {
		uint8_t aad[SEAL_AAD_SIZE], *plain;

		if (want <= ST_SEAL_OVERHEAD + 1) {
			rc = rec_corrupt(f, pos, "sealed record too short");
			goto fail;
		}
		if (!(plain = malloc(want - ST_SEAL_OVERHEAD))) {
			rc = st_fail_oom();
			goto fail;
		}
		plain[0] = buf[REC_HDR_SIZE];
		seal_aad(aad, plain[0], pos, 0, 0, 0);
		rc = st_unseal(&f->key, aad, sizeof(aad), buf + REC_HDR_SIZE + 1, want - 1,
			       plain + 1);
		free(buf);
		if (rc != ST_OK) {
			free(plain);
			return rc == ST_ECORRUPT ? rec_corrupt(f, pos, "authentication failure")
						 : rc;
		}
		*payload = plain;
		*lenp = want - ST_SEAL_OVERHEAD;
		return ST_OK;
	}
	memmove(buf, buf + REC_HDR_SIZE, want);
	*payload = buf;
	*lenp = want;
	return ST_OK;
fail:
	free(buf);
	return rc;
}

/* Opens the fixed payload at payload (sealed or not) into plain, unchecked
 * by any crc. ST_OK, or the seal's failure. */
static int fixed_open(struct st_file *f, uint64_t pos, const uint8_t *payload,
		      uint8_t plain[HDR_PAYLOAD_SIZE])
{
	uint8_t aad[SEAL_AAD_SIZE];
	int rc;

	if (!f->sealed) {
		memcpy(plain, payload, HDR_PAYLOAD_SIZE);
		return ST_OK;
	}
	plain[0] = payload[0];
	seal_aad(aad, REC_HEADER, pos, 0, 0, 0);
	rc = st_unseal(&f->key, aad, sizeof(aad), payload + 1, HDR_SEALED_SIZE - 1, plain + 1);
	return rc == ST_ECORRUPT ? rec_corrupt(f, pos, "header authentication failure") : rc;
}

/* A header whose area the end of the file cuts: ST_OK if its fixed
 * payload names that area's length (a torn header), else corrupt. */
static int declared_area(struct st_file *f, uint64_t pos, const uint8_t *payload, uint32_t alen)
{
	uint8_t plain[HDR_PAYLOAD_SIZE];
	struct hdr h;
	int rc = fixed_open(f, pos, payload, plain);

	if (rc != ST_OK)
		return rc;
	if (st_hdr_decode(plain, HDR_PAYLOAD_SIZE, &h) != ST_OK || h.area_len != alen)
		return rec_corrupt(f, pos, "bad header length");
	return ST_OK;
}

int st_header_read(struct st_file *f, uint64_t pos, uint64_t file_size, struct hdr *h)
{
	uint8_t rec[1 + REC_HDR_SIZE + HDR_SEALED_SIZE + AREA_HEAD], plain[HDR_PAYLOAD_SIZE];
	uint8_t *payload = rec + 1 + REC_HDR_SIZE;
	uint32_t plen, fixed = f->sealed ? HDR_SEALED_SIZE : HDR_PAYLOAD_SIZE, covered, crc;
	size_t got;
	int rc;

	if (pos % BLOCK_SIZE || pos >= file_size)
		return rec_corrupt(f, pos, "bad header pointer");
	if ((rc = st_pread_full(f, rec, sizeof(rec), pos, &got)) != ST_OK)
		return rc;
	if (got < 1 + REC_HDR_SIZE || pos + 1 + REC_HDR_SIZE > file_size)
		return st_fail(ST_ENOTFOUND, 0, pos, "%s: torn header at %llu", f->path,
			       (unsigned long long)pos);
	if (rec[0] != MARK_HEADER)
		return rec_corrupt(f, pos, "not a header block");
	plen = st_get32(rec + 1);
	if (plen < HDR_PAYLOAD_SIZE || plen > BLOCK_SIZE - 1 - REC_HDR_SIZE)
		return rec_corrupt(f, pos, "bad header length");
	/* The crc covers the fixed payload and, if any, the area's head. */
	covered = plen > fixed ? fixed + AREA_HEAD : fixed;
	if (pos + 1 + REC_HDR_SIZE + plen > file_size || got < 1 + REC_HDR_SIZE + covered) {
		/* Cut short by the end of the file: torn, if the length is the
		 * one the fixed payload names (a damaged length is not). */
		if (plen > fixed && got >= 1 + REC_HDR_SIZE + fixed &&
		    (rc = declared_area(f, pos, payload, plen - fixed)) != ST_OK)
			return rc;
		return st_fail(ST_ENOTFOUND, 0, pos, "%s: torn header at %llu", f->path,
			       (unsigned long long)pos);
	}
	crc = st_crc32c(0, rec + 1, 4);
	if (plen < covered || st_crc32c(crc, payload, covered) != st_get32(rec + 5)) {
		/* Whole as the other form of header: the key is the matter. */
		uint32_t other = f->sealed ? HDR_PAYLOAD_SIZE : HDR_SEALED_SIZE;
		uint32_t ocov = plen > other ? other + AREA_HEAD : other;

		if (plen >= ocov && (plen == other || plen >= other + AREA_HEAD) &&
		    got >= 1 + REC_HDR_SIZE + ocov &&
		    st_crc32c(crc, payload, ocov) == st_get32(rec + 5))
			return st_fail(
			    ST_EKEY, 0, pos,
			    f->sealed ? "%s: header at %llu is not sealed, in a sealed store"
				      : "%s: header at %llu is sealed: the store needs its key",
			    f->path, (unsigned long long)pos);
		return rec_corrupt(
		    f, pos, plen < covered ? "bad header length" : "header checksum mismatch");
	}
	if ((rc = fixed_open(f, pos, payload, plain)) != ST_OK)
		return rc;
	rc = st_hdr_decode(plain, HDR_PAYLOAD_SIZE, h);
	if (rc == ST_EVERSION)
		return st_fail(rc, 0, pos, "%s: header at %llu is of a newer format", f->path,
			       (unsigned long long)pos);
	if (rc == ST_OK && h->area_len != plen - fixed)
		rc = ST_ECORRUPT;
	if (rc == ST_OK && plen > fixed)
		rc = st_area_decode(payload + fixed, plen - fixed, f->sealed, h);
	if (rc != ST_OK)
		return rec_corrupt(f, pos, "bad header field");
	/* Attributes in the area leave meta 0 on disk; any other are a
	 * record before the header. */
	if ((h->area_flags & AREA_ATTRS) ? h->meta != 0 : (h->meta && h->meta >= pos))
		return rec_corrupt(f, pos, "bad attributes pointer");
	if (h->area_flags & AREA_ATTRS)
		h->meta = pos | META_AREA;
	if ((h->root && h->root >= pos) ||
	    (h->prev != HDR_NONE && (h->prev >= pos || h->prev % BLOCK_SIZE)))
		return rec_corrupt(f, pos, "header pointer past itself");
	if (!(h->incompat & FEAT_IN_SEALED) != !f->sealed)
		return rec_corrupt(f, pos, "header's sealed bit does not match its form");
	if ((h->incompat & FEAT_IN_ONESYNC) &&
	    (hdr_prev_end(h, f->sealed) > pos || pos - hdr_prev_end(h, f->sealed) > RUN_CRC_MAX))
		return rec_corrupt(f, pos, "commit region too long for one sync");
	/* A well-formed header elsewhere than where it was written is a copy
	 * (user data that a damaged marker exposes): never a version. */
	if ((h->ro_compat & FEAT_RO_SELF) && h->self != pos)
		return rec_corrupt(f, pos, "header names another position");
	if (f->has_sid && (!(h->ro_compat & FEAT_RO_SELF) || memcmp(h->id, f->sid, ST_ID_SIZE)))
		return rec_corrupt(f, pos, "header of another store");
	h->pos = pos;
	return ST_OK;
}

int st_header_area(struct st_file *f, const struct hdr *h, uint8_t *out, size_t *len)
{
	uint32_t fixed = f->sealed ? HDR_SEALED_SIZE : HDR_PAYLOAD_SIZE;
	size_t disk = h->area_len - AREA_HEAD, got;
	uint8_t body[BLOCK_SIZE];
	int rc;

	*len = 0;
	if (!h->area_len)
		return ST_OK;
	rc = st_pread_full(f, body, disk, h->pos + 1 + REC_HDR_SIZE + fixed + AREA_HEAD, &got);
	if (rc != ST_OK)
		return rc;
	if (got < disk || st_crc32c(0, body, disk) != h->area_crc)
		return st_fail(ST_ECORRUPT, 0, h->pos,
			       "%s: inline area of the header at %llu does not match its checksum",
			       f->path, (unsigned long long)h->pos);
	if (f->sealed) {
		uint8_t aad[SEAL_AAD_SIZE];

		area_aad(aad, h);
		rc = st_unseal(&f->key, aad, sizeof(aad), body, disk, out);
		if (rc == ST_ECORRUPT)
			return rec_corrupt(f, h->pos, "inline area authentication failure");
		if (rc != ST_OK)
			return rc;
		disk -= ST_SEAL_OVERHEAD;
	} else {
		memcpy(out, body, disk);
	}
	*len = disk;
	return ST_OK;
}

int st_header_region_check(struct st_file *f, const struct hdr *h)
{
	uint64_t off = hdr_prev_end(h, f->sealed);
	size_t chunk = 256u << 10; /* read in pieces of at most this much */
	uint8_t *buf;
	uint32_t crc = 0;
	int rc = ST_OK;

	if (!(h->incompat & FEAT_IN_ONESYNC))
		return ST_OK;
	if (off > h->pos || h->pos - off > RUN_CRC_MAX) /* st_header_read checked this */
		return rec_corrupt(f, h->pos, "commit region too long for one sync");
	/* Most regions are a few pages: a buffer no larger than the region
	 * (each open checks its newest header's). */
	if (h->pos - off < chunk)
		chunk = h->pos - off ? (size_t)(h->pos - off) : 1;
	if (!(buf = malloc(chunk)))
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	while (off < h->pos) {
		size_t want = h->pos - off > chunk ? chunk : (size_t)(h->pos - off), got;

		if ((rc = st_pread_full(f, buf, want, off, &got)) != ST_OK)
			goto out;
		if (got < want) {
			rc = rec_corrupt(f, h->pos, "commit region past the end of the file");
			goto out;
		}
		crc = st_crc32c(crc, buf, got);
		off += got;
	}
	if (crc != h->region_crc)
		rc = st_fail(ST_ECORRUPT, 0, h->pos,
			     "%s: commit region of the header at %llu does not match its checksum",
			     f->path, (unsigned long long)h->pos);
out:
	free(buf);
	return rc;
}

int st_header_find(struct st_file *f, uint64_t file_size, bool recover, uint64_t min_seq,
		   struct hdr *h, uint64_t *torn_at)
{
	bool torn_seen = false;
	uint64_t blk;

	*torn_at = HDR_NONE;
	if (file_size == 0)
		return st_fail(ST_ENOTFOUND, 0, 0, "%s: empty file", f->path);
	for (blk = (file_size - 1) / BLOCK_SIZE + 1; blk-- > 0;) {
		uint64_t pos = blk * BLOCK_SIZE;
		uint8_t mark;
		size_t got;
		int rc;

		if ((rc = st_pread_full(f, &mark, 1, pos, &got)) != ST_OK)
			return rc;
		if (got != 1 || mark == MARK_DATA)
			continue;
		if (mark != MARK_HEADER) {
			/* The engine writes only these two values: anything else
			 * is damage, perhaps to a committed header's marker. */
			if (recover)
				continue;
			return rec_corrupt(f, pos, "unknown block marker");
		}
		rc = st_header_read(f, pos, file_size, h);
		if (rc == ST_OK) {
			/* A one-sync commit is complete only if its region is: a
			 * crash may have left the header on disk without it. That
			 * is a torn commit, like a torn tail, and only the newest
			 * can be torn (each commit was synced before the next
			 * began); a second is damage. */
			rc = st_header_region_check(f, h);
			if (rc == ST_OK && h->area_len) { /* so is one whose area is torn */
				uint8_t body[BLOCK_SIZE];
				size_t n;

				rc = st_header_area(f, h, body, &n);
			}
			if (rc == ST_ECORRUPT && !torn_seen && h->seq > min_seq) {
				/* Its region may hold anything (stale bytes, bad
				 * markers): go straight to the header before. */
				torn_seen = true;
				*torn_at = h->pos;
				if (h->prev == HDR_NONE)
					break;
				blk = h->prev / BLOCK_SIZE + 1;
				continue;
			}
		}
		if (rc == ST_OK || rc == ST_EVERSION || rc == ST_EIO || rc == ST_ENOMEM ||
		    rc == ST_EKEY)
			return rc;
		if (rc == ST_ENOTFOUND) /* cut short by the end of file: a torn tail */
			continue;
		if (!recover)
			return rc;
	}
	return st_fail(ST_ENOTFOUND, 0, 0, "%s: no valid header", f->path);
}

/*
 * st_data_read_pages of a sealed store: page i of the record is its
 * nonce, its ciphertext (4096 bytes, the last one tail) and its tag, and
 * the record's crc table covers these sealed bytes.
 */
static int sealed_pages_read(struct st_file *f, uint64_t rec, uint64_t limit,
			     const struct data_head *d, uint32_t first, uint32_t n, uint8_t *buf)
{
	const uint64_t stride = BLOCK_SIZE + ST_SEAL_OVERHEAD;
	uint32_t last_len = first + n == d->npages ? d->tail : BLOCK_SIZE;
	uint64_t off = DATA_HEAD_FIXED + 4ull * d->npages + first * stride;
	size_t total = (size_t)(n - 1) * stride + last_len + ST_SEAL_OVERHEAD;
	uint8_t *sealed = malloc(total), aad[SEAL_AAD_SIZE];
	int rc;

	if (!sealed)
		return st_fail_oom();
	rc = st_stream_read(f, st_stream_end(rec, REC_HDR_SIZE + off), sealed, total, limit);
	for (uint32_t i = 0; rc == ST_OK && i < n; i++) {
		uint32_t plen = (i == n - 1 ? last_len : BLOCK_SIZE) + ST_SEAL_OVERHEAD;
		uint8_t *pg = sealed + (size_t)i * stride;
		uint64_t at = st_stream_end(rec, REC_HDR_SIZE + off + i * stride);

		if (st_crc32c(0, pg, plen) != st_get32(d->crcs + 4 * (first + i)))
			rc = st_fail(
			    ST_ECORRUPT, 0, at,
			    "%s: checksum mismatch in data page at offset %llu (record %llu)",
			    f->path, (unsigned long long)at, (unsigned long long)rec);
		if (rc != ST_OK)
			break;
		seal_aad(aad, REC_DATA, rec, first + i, d->npages, d->tail);
		rc = st_unseal(&f->key, aad, sizeof(aad), pg, plen, buf + (size_t)i * BLOCK_SIZE);
		if (rc == ST_ECORRUPT)
			rc = st_fail(ST_ECORRUPT, 0, at,
				     "%s: authentication failure of data page at offset %llu "
				     "(record %llu)",
				     f->path, (unsigned long long)at, (unsigned long long)rec);
	}
	if (rc == ST_OK)
		memset(buf + (size_t)(n - 1) * BLOCK_SIZE + last_len, 0, BLOCK_SIZE - last_len);
	free(sealed);
	return rc;
}

int st_data_read_pages(struct st_file *f, uint64_t rec, uint64_t limit, uint32_t first, uint32_t n,
		       uint8_t *buf)
{
	struct data_head d;
	uint8_t *head;
	uint32_t hlen, last_len;
	uint64_t off, pos;
	int rc;

	if ((rc = st_record_read(f, rec, limit, 1u << REC_DATA, &head, &hlen)) != ST_OK)
		return rc;
	rc = st_data_head_decode(head, hlen, &d);
	if (rc != ST_OK || n == 0 || first >= d.npages || n > d.npages - first) {
		rc = rec_corrupt(f, rec, "extent outside its data record");
		goto out;
	}
	last_len = first + n == d.npages ? d.tail : BLOCK_SIZE;
	if (f->sealed) {
		rc = sealed_pages_read(f, rec, limit, &d, first, n, buf);
		goto out;
	}
	off = DATA_HEAD_FIXED + 4ull * d.npages + (uint64_t)first * BLOCK_SIZE;
	pos = st_stream_end(rec, REC_HDR_SIZE + off);
	rc = st_stream_read(f, pos, buf, (size_t)(n - 1) * BLOCK_SIZE + last_len, limit);
	if (rc != ST_OK)
		goto out;
	memset(buf + (size_t)(n - 1) * BLOCK_SIZE + last_len, 0, BLOCK_SIZE - last_len);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t plen = i == n - 1 ? last_len : BLOCK_SIZE;
		uint8_t *pg = buf + (size_t)i * BLOCK_SIZE;

		if (st_crc32c(0, pg, plen) != st_get32(d.crcs + 4 * (first + i))) {
			uint64_t at =
			    st_stream_end(rec, REC_HDR_SIZE + off + (uint64_t)i * BLOCK_SIZE);
			rc = st_fail(
			    ST_ECORRUPT, 0, at,
			    "%s: checksum mismatch in data page at offset %llu (record %llu)",
			    f->path, (unsigned long long)at, (unsigned long long)rec);
			goto out;
		}
	}
out:
	free(head);
	return rc;
}
