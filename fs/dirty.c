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
	free(d->h);
	dset_init(d);
}

bool dset_empty(const struct dset *d)
{
	return d->n == 0 && d->nh == 0 && d->trunc == UINT64_MAX;
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

/* Holes past size are past the file: cut them there. */
static void holes_cut(struct dset *d, uint64_t size)
{
	while (d->nh && d->h[d->nh - 1].off >= size)
		d->nh--;
	if (d->nh && d->h[d->nh - 1].end > size)
		d->h[d->nh - 1].end = size;
}

/* Adds [off, end) to the holes, merged with those it meets. */
static int holes_add(struct dset *d, uint64_t off, uint64_t end)
{
	size_t i = 0, j;

	while (i < d->nh && d->h[i].end < off)
		i++;
	for (j = i; j < d->nh && d->h[j].off <= end; j++) {
		if (d->h[j].off < off)
			off = d->h[j].off;
		if (d->h[j].end > end)
			end = d->h[j].end;
	}
	if (j == i) { /* meets none: a new one at i */
		if (d->nh == d->hcap) {
			size_t cap = d->hcap ? d->hcap * 2 : 4;
			struct dhole *h = realloc(d->h, cap * sizeof(*h));

			if (!h)
				return -ENOMEM;
			d->h = h;
			d->hcap = cap;
		}
		memmove(&d->h[i + 1], &d->h[i], (d->nh - i) * sizeof(*d->h));
		d->nh++;
	} else if (j > i + 1) {
		memmove(&d->h[i + 1], &d->h[j], (d->nh - j) * sizeof(*d->h));
		d->nh -= j - i - 1;
	}
	d->h[i].off = off;
	d->h[i].end = end;
	return 0;
}

int dset_punch(struct dset *d, uint64_t off, uint64_t end)
{
	struct dext t = {0};
	size_t i;

	if (off >= end)
		return 0;
	/* Everything that can fail first, so that a failure changes nothing:
	 * room for a split, its buffer, the hole. */
	i = first_after(d, off);
	if (reserve(d, 1))
		return -ENOMEM;
	if (i < d->n && d->v[i].off < off && dext_end(&d->v[i]) > end) {
		t.off = end;
		t.len = (size_t)(dext_end(&d->v[i]) - end);
		if (dext_grow(&t, t.len))
			return -ENOMEM;
	}
	if (holes_add(d, off, end)) {
		free(t.buf);
		return -ENOMEM;
	}
	if (t.buf) { /* the hole is inside one extent: its part after goes apart */
		struct dext *e = &d->v[i];

		memcpy(t.buf, e->buf + (end - e->off), t.len);
		memmove(&d->v[i + 2], &d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
		d->v[i + 1] = t;
		d->n++;
		d->bytes -= end - off;
		e->len = (size_t)(off - e->off);
		return 0;
	}
	while (i < d->n && d->v[i].off < end) {
		struct dext *e = &d->v[i];
		uint64_t e_end = dext_end(e);

		if (e->off < off) { /* its tail goes */
			d->bytes -= e_end - off;
			e->len = (size_t)(off - e->off);
			i++;
		} else if (e_end > end) { /* its head goes */
			size_t cut = (size_t)(end - e->off);

			memmove(e->buf, e->buf + cut, e->len - cut);
			e->len -= cut;
			e->off = end;
			d->bytes -= cut;
			i++;
		} else { /* all of it goes */
			d->bytes -= e->len;
			free(e->buf);
			memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
			d->n--;
		}
	}
	return 0;
}

void dset_truncate(struct dset *d, uint64_t size)
{
	size_t i = first_after(d, size);

	holes_cut(d, size);

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

	for (size_t i = 0; i < d->nh && d->h[i].off < end; i++) {
		uint64_t a = d->h[i].off > off ? d->h[i].off : off;
		uint64_t b = d->h[i].end < end ? d->h[i].end : end;

		if (a < b)
			memset(buf + (a - off), 0, (size_t)(b - a));
	}

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
	for (size_t i = 0; i < d->nh; i++)
		if ((rc = st_file_punch(st, d->h[i].off, d->h[i].end - d->h[i].off)) != ST_OK)
			return rc;
	for (size_t i = 0; i < d->n; i++)
		if ((rc = st_file_write(st, d->v[i].off, d->v[i].buf, d->v[i].len)) != ST_OK)
			return rc;
	return ST_OK;
}

bool dset_has_below(const struct dset *d, uint64_t at)
{
	return d->trunc != UINT64_MAX || (d->n && d->v[0].off < at) || (d->nh && d->h[0].off < at);
}

int dset_split(struct dset *d, uint64_t at, struct dset *tail)
{
	size_t i = first_after(d, at), k, nh = 0;
	struct dext t = {0};

	dset_init(tail);
	/* Everything that can fail first: the straddling extent's upper
	 * part, and the tail's arrays. */
	if (i < d->n && d->v[i].off < at) {
		t.off = at;
		t.len = (size_t)(dext_end(&d->v[i]) - at);
		if (dext_grow(&t, t.len))
			return -ENOMEM;
		memcpy(t.buf, d->v[i].buf + (at - d->v[i].off), t.len);
	}
	k = t.buf ? i + 1 : i;
	while (nh < d->nh && d->h[d->nh - 1 - nh].end > at)
		nh++;
	if (reserve(tail, d->n - k + (t.buf ? 1 : 0)) ||
	    (nh && !(tail->h = malloc(nh * sizeof(*tail->h))))) {
		free(t.buf);
		free(tail->v);
		dset_init(tail);
		return -ENOMEM;
	}
	if (t.buf) {
		tail->v[tail->n++] = t;
		tail->bytes += t.len;
		d->bytes -= t.len;
		d->v[i].len = (size_t)(at - d->v[i].off);
	}
	for (size_t x = k; x < d->n; x++) {
		tail->v[tail->n++] = d->v[x];
		tail->bytes += d->v[x].len;
		d->bytes -= d->v[x].len;
	}
	d->n = k;
	/* Holes past at go with the tail; one across it is cut in two. */
	tail->hcap = nh;
	for (size_t x = d->nh - nh; x < d->nh; x++) {
		tail->h[tail->nh] = d->h[x];
		if (tail->h[tail->nh].off < at)
			tail->h[tail->nh].off = at;
		tail->nh++;
	}
	d->nh -= nh;
	if (nh && d->h[d->nh].off < at) /* the cut one keeps its lower part */
		d->h[d->nh++].end = at;
	return 0;
}

int dset_merge_under(struct dset *newer, struct dset *older)
{
	struct dset r = *older;

	if (newer->trunc != UINT64_MAX)
		dset_truncate(&r, newer->trunc);
	for (size_t i = 0; i < newer->nh; i++)
		if (dset_punch(&r, newer->h[i].off, newer->h[i].end)) {
			*older = r;
			return -ENOMEM;
		}
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
