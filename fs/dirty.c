/*
 * dirty.c - the bytes written to a file since the flusher last took them: a
 * sorted array of extents plus the lowest truncate. Reads lay these over the
 * committed store; the flusher stages them into the store and commits.
 * Nothing here locks: the inode's lock guards each set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "revfs.h"

/* Past this an appending write starts a new extent instead of growing the
 * last, so a long sequential write never reallocates a huge buffer. */
#define DEXT_MAX (4u << 20)
/* Appends of at least this much get an extent of their own. */
#define DEXT_BIG (64u << 10)

static uint64_t dext_end(const struct dext *e)
{
	return e->off + e->len;
}

void dset_init(struct dset *d)
{
	memset(d, 0, sizeof(*d));
	d->trunc = UINT64_MAX;
}

void dset_release(struct dset *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].buf);
	free(d->v);
	dset_init(d);
}

bool dset_empty(const struct dset *d)
{
	return d->n == 0 && d->trunc == UINT64_MAX;
}

/* Index of the first extent ending after off. */
static size_t first_after(const struct dset *d, uint64_t off)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dext_end(&d->v[mid]) <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct dset *d, size_t more)
{
	struct dext *v;
	size_t cap;

	if (d->n + more <= d->cap)
		return 0;
	cap = d->cap ? d->cap * 2 : 8;
	while (cap < d->n + more)
		cap *= 2;
	v = realloc(d->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->v = v;
	d->cap = cap;
	return 0;
}

/* Grows e's buffer to hold at least len bytes. */
static int dext_grow(struct dext *e, size_t len)
{
	size_t cap = e->cap ? e->cap : 4096;
	uint8_t *b;

	if (len <= e->cap)
		return 0;
	while (cap < len)
		cap *= 2;
	if (cap > DEXT_MAX && len <= DEXT_MAX)
		cap = DEXT_MAX;
	b = realloc(e->buf, cap);
	if (!b)
		return -ENOMEM;
	e->buf = b;
	e->cap = cap;
	return 0;
}

int dset_write(struct dset *d, uint64_t off, const void *buf, size_t len)
{
	uint64_t end = off + len, lo, hi;
	size_t i, j, k;
	struct dext m = {0};

	if (len == 0)
		return 0;
	i = first_after(d, off);
	/* Appending right after the extent before: grow it (the common case).
	 * A large append starts an extent of its own instead, so big
	 * sequential writes are copied once, never moved by a realloc. */
	if (i > 0 && dext_end(&d->v[i - 1]) == off && (i == d->n || d->v[i].off >= end)) {
		struct dext *e = &d->v[i - 1];

		if (e->len + len <= e->cap || (len < DEXT_BIG && e->len + len <= DEXT_MAX)) {
			if (dext_grow(e, e->len + len))
				return -ENOMEM;
			memcpy(e->buf + e->len, buf, len);
			e->len += len;
			d->bytes += len;
			return 0;
		}
	}
	/* Entirely inside one extent: overwrite in place. */
	if (i < d->n && d->v[i].off <= off && end <= dext_end(&d->v[i])) {
		memcpy(d->v[i].buf + (off - d->v[i].off), buf, len);
		return 0;
	}
	/* Extents i..j-1 overlap [off, end): merge them with the new bytes. */
	for (j = i; j < d->n && d->v[j].off < end; j++)
		;
	if (reserve(d, 1))
		return -ENOMEM;
	lo = off;
	hi = end;
	if (j > i) {
		lo = d->v[i].off < off ? d->v[i].off : off;
		hi = dext_end(&d->v[j - 1]) > end ? dext_end(&d->v[j - 1]) : end;
	}
	m.off = lo;
	if (dext_grow(&m, (size_t)(hi - lo)))
		return -ENOMEM;
	m.len = (size_t)(hi - lo);
	for (k = i; k < j; k++) {
		memcpy(m.buf + (d->v[k].off - lo), d->v[k].buf, d->v[k].len);
		d->bytes -= d->v[k].len;
		free(d->v[k].buf);
	}
	memcpy(m.buf + (off - lo), buf, len);
	d->bytes += m.len;
	if (j == i) {
		memmove(&d->v[i + 1], &d->v[i], (d->n - i) * sizeof(*d->v));
		d->n++;
	} else if (j > i + 1) {
		memmove(&d->v[i + 1], &d->v[j], (d->n - j) * sizeof(*d->v));
		d->n -= j - i - 1;
	}
	d->v[i] = m;
	return 0;
}

void dset_truncate(struct dset *d, uint64_t size)
{
	size_t i = first_after(d, size);

	if (i < d->n && d->v[i].off < size) {
		size_t keep = (size_t)(size - d->v[i].off);

		d->bytes -= d->v[i].len - keep;
		d->v[i].len = keep;
		i++;
	}
	for (size_t k = i; k < d->n; k++) {
		d->bytes -= d->v[k].len;
		free(d->v[k].buf);
	}
	d->n = i;
	if (size < d->trunc)
		d->trunc = size;
}

void dset_overlay(const struct dset *d, uint64_t off, uint8_t *buf, size_t len, uint64_t limit)
{
	uint64_t end = off + len < limit ? off + len : limit;

	for (size_t i = first_after(d, off); i < d->n && d->v[i].off < end; i++) {
		const struct dext *e = &d->v[i];
		uint64_t a = e->off > off ? e->off : off;
		uint64_t b = dext_end(e) < end ? dext_end(e) : end;

		if (a < b)
			memcpy(buf + (a - off), e->buf + (a - e->off), (size_t)(b - a));
	}
}

uint64_t dset_next_data(const struct dset *d, uint64_t off)
{
	size_t i = first_after(d, off);

	if (i == d->n)
		return UINT64_MAX;
	return d->v[i].off > off ? d->v[i].off : off;
}

uint64_t dset_data_end(const struct dset *d, uint64_t off)
{
	size_t i = first_after(d, off);

	/* Touching extents are one run of data. */
	while (i < d->n && d->v[i].off <= off) {
		off = dext_end(&d->v[i]);
		i++;
	}
	return off;
}

int dset_apply(const struct dset *d, st_store *st)
{
	int rc;

	if (d->trunc != UINT64_MAX && d->trunc < st_file_size(st) &&
	    (rc = st_file_truncate(st, d->trunc)) != ST_OK)
		return rc;
	for (size_t i = 0; i < d->n; i++)
		if ((rc = st_file_write(st, d->v[i].off, d->v[i].buf, d->v[i].len)) != ST_OK)
			return rc;
	return ST_OK;
}

int dset_merge_under(struct dset *newer, struct dset *older)
{
	struct dset r = *older;

	if (newer->trunc != UINT64_MAX)
		dset_truncate(&r, newer->trunc);
	for (size_t i = 0; i < newer->n; i++)
		if (dset_write(&r, newer->v[i].off, newer->v[i].buf, newer->v[i].len)) {
			/* r shares older's buffers: give them back as they now are. */
			*older = r;
			return -ENOMEM;
		}
	dset_release(newer);
	*newer = r;
	dset_init(older);
	return 0;
}
