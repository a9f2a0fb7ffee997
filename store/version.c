/*
 * version.c - versions: walking the header chain, opening an old version
 * read-only, and the retention rule that says which versions compaction
 * keeps.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void st_version_of(const struct hdr *h, struct st_version *v)
{
	v->seq = h->seq;
	v->time_ns = h->time_ns;
	v->size = h->size;
	v->mtime_ns = h->mtime_ns;
	v->offset = h->pos;
	v->bytes = h->root_bytes;
	v->interim = h->commit_kind == ST_INTERIM;
	v->meta = h->meta;
}

/* A walk down the chain reads headers backwards, where the kernel's
 * readahead does not help: each commit's header sits behind its data and
 * nodes, so 10,000 versions would be 10,000 small reads from a cold cache.
 * When the walk enters a new PREFETCH_WINDOW of the file, the kernel is
 * asked to read that window and the one below it in the background. The
 * hint changes nothing on disk; its failure is of no consequence. */
#define PREFETCH_WINDOW (1ull << 20)

static void prefetch_below(struct st_file *f, uint64_t from, uint64_t to)
{
	uint64_t w = to / PREFETCH_WINDOW, lo;

	if (from / PREFETCH_WINDOW == w)
		return;
	lo = w ? (w - 1) * PREFETCH_WINDOW : 0;
	(void)posix_fadvise(f->fd, (off_t)lo, (off_t)((w + 1) * PREFETCH_WINDOW - lo),
			    POSIX_FADV_WILLNEED);
}

/* Reads the header before h in the chain, checking the chain's order. */
int st_header_prev(struct st_file *f, const struct hdr *h, struct hdr *prev)
{
	int rc;

	prefetch_below(f, h->pos, h->prev);
	rc = st_header_read(f, h->prev, h->pos, prev);

	if (rc == ST_ENOTFOUND)
		rc = ST_ECORRUPT;
	if (rc == ST_OK &&
	    (prev->seq >= h->seq || prev->time_ns > h->time_ns || prev->kind != h->kind ||
	     (prev->ro_compat & FEAT_RO_SELF) != (h->ro_compat & FEAT_RO_SELF) ||
	     memcmp(prev->id, h->id, ST_ID_SIZE) ||
	     (prev->incompat & FEAT_IN_INLINE && !(h->incompat & FEAT_IN_INLINE)) ||
	     prev->area_len != h->prev_area))
		rc = st_fail(ST_ECORRUPT, 0, h->prev,
			     "%s: header at offset %llu is out of order in the chain", f->path,
			     (unsigned long long)h->prev);
	return rc;
}

int st_versions(st_store *st, st_version_cb cb, void *arg)
{
	struct st_file *f;
	struct st_version v;
	struct hdr h, p;
	int rc = ST_OK;

	st_store_snapshot(st, &f, &h);
	for (; h.pos != HDR_NONE;) { /* none before a deferred store's first commit */
		st_version_of(&h, &v);
		if ((rc = cb(arg, &v)) != 0 || h.prev == HDR_NONE)
			break;
		if ((rc = st_header_prev(f, &h, &p)) != ST_OK)
			break;
		h = p;
	}
	st_file_unref(f);
	return rc;
}

/* Finds the newest header with seq == seq (by_time: time <= t). */
static int find_version(st_store *st, bool by_time, uint64_t key, struct st_file **fp,
			struct hdr *out)
{
	struct st_file *f;
	struct hdr h, p;
	int rc;

	st_store_snapshot(st, &f, &h);
	for (;;) {
		if (h.pos == HDR_NONE) {
			rc = st_fail(ST_ENOTFOUND, 0, 0, "%s: no version committed yet", st->path);
			break;
		}
		if (by_time ? h.time_ns <= key : h.seq == key) {
			*fp = f;
			*out = h;
			return ST_OK;
		}
		if (h.prev == HDR_NONE || (!by_time && h.seq < key)) {
			rc = st_fail(ST_ENOTFOUND, 0, 0, "%s: no such version", st->path);
			break;
		}
		if ((rc = st_header_prev(f, &h, &p)) != ST_OK)
			break;
		h = p;
	}
	st_file_unref(f);
	return rc;
}

/* A read-only handle on the version whose header h is in f (the
 * reference to f goes to the handle, or is dropped on failure). */
static int open_header(st_store *st, struct st_file *f, const struct hdr *h, st_store **out)
{
	st_store *v = st_store_alloc(st->kind, st->path, ST_READONLY, NULL);

	if (!v) {
		st_file_unref(f);
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	}
	v->ops = st->ops;
	v->ctx = st->ctx;
	v->file = f;
	v->head = *h;
	v->size = h->size;
	v->mtime_ns = h->mtime_ns;
	st_writer_init(&v->w, f, st_head_end(h), true);
	*out = v;
	return ST_OK;
}

static int open_found(st_store *st, bool by_time, uint64_t key, st_store **out)
{
	struct st_file *f = NULL;
	struct hdr h;
	int rc;

	*out = NULL;
	if ((rc = find_version(st, by_time, key, &f, &h)) != ST_OK)
		return rc;
	return open_header(st, f, &h, out);
}

int st_open_version(st_store *st, uint64_t seq, st_store **out)
{
	return open_found(st, false, seq, out);
}

int st_open_version_at(st_store *st, const struct st_version *v, st_store **out)
{
	struct st_file *f;
	struct hdr newest, h;

	*out = NULL;
	st_store_snapshot(st, &f, &newest);
	/* A valid header there with that seq is that version: in this file
	 * or, after a compaction, in the new one, which copies it whole. */
	if (newest.pos != HDR_NONE && v->offset <= newest.pos &&
	    st_header_read(f, v->offset, st_head_end(&newest), &h) == ST_OK && h.seq == v->seq &&
	    h.kind == newest.kind)
		return open_header(st, f, &h, out);
	st_file_unref(f);
	return open_found(st, false, v->seq, out);
}

int st_open_at_time(st_store *st, uint64_t time_ns, st_store **out)
{
	return open_found(st, true, time_ns, out);
}

/* ---- retention -------------------------------------------------------------- */

#define NS_S 1000000000ull

static const struct {
	const char *name;
	uint64_t interval_ns;
} tier_names[] = {
    {"minutely", 60 * NS_S},	  {"hourly", 3600 * NS_S},	  {"daily", 86400 * NS_S},
    {"weekly", 7 * 86400 * NS_S}, {"monthly", 30 * 86400 * NS_S},
};

static int parse_duration(const char *s, const char *end, uint64_t *ns)
{
	char *e;
	unsigned long long n;
	uint64_t unit;

	if (s == end || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &e, 10);
	if (errno || e != end - 1)
		return -1;
	switch (*e) {
	case 's':
		unit = NS_S;
		break;
	case 'm':
		unit = 60 * NS_S;
		break;
	case 'h':
		unit = 3600 * NS_S;
		break;
	case 'd':
		unit = 86400 * NS_S;
		break;
	case 'w':
		unit = 7 * 86400 * NS_S;
		break;
	default:
		return -1;
	}
	if (n > UINT64_MAX / unit)
		return -1;
	*ns = n * unit;
	return 0;
}

int st_retention_parse(const char *text, struct st_retention *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return st_fail(ST_EINVAL, EINVAL, 0, "empty retention rule");
	if (strcmp(text, "latest") == 0) {
		out->min_count = 1;
		return ST_OK;
	}
	while (*p) {
		/* Items are joined by commas, or by '+', which survives mount's
		 * -o (libfuse splits its value at commas). */
		const char *end = p + strcspn(p, ",+"), *colon;
		bool sep = *end != 0;
		size_t nlen;
		size_t t;

		colon = memchr(p, ':', (size_t)(end - p));
		if (!colon)
			goto bad;
		nlen = (size_t)(colon - p);
		if (nlen == 3 && strncmp(p, "min", 3) == 0) {
			char *e;
			unsigned long n;
			if (!isdigit((unsigned char)colon[1]))
				goto bad;
			errno = 0;
			n = strtoul(colon + 1, &e, 10);
			if (errno || e != end || n == 0 || n > UINT32_MAX)
				goto bad;
			out->min_count = (uint32_t)n;
		} else if (nlen == 3 && strncmp(p, "all", 3) == 0) {
			if (parse_duration(colon + 1, end, &out->all_ns))
				goto bad;
		} else {
			for (t = 0; t < sizeof(tier_names) / sizeof(tier_names[0]); t++)
				if (strlen(tier_names[t].name) == nlen &&
				    strncmp(p, tier_names[t].name, nlen) == 0)
					break;
			if (t == sizeof(tier_names) / sizeof(tier_names[0]) ||
			    out->ntiers == ST_MAX_TIERS)
				goto bad;
			out->tiers[out->ntiers].interval_ns = tier_names[t].interval_ns;
			if (parse_duration(colon + 1, end, &out->tiers[out->ntiers].span_ns))
				goto bad;
			out->ntiers++;
		}
		p = sep ? end + 1 : end;
		if (sep && !*p)
			goto bad;
	}
	if (out->min_count == 0)
		out->min_count = 1;
	return ST_OK;
bad:
	memset(out, 0, sizeof(*out));
	return st_fail(ST_EINVAL, EINVAL, 0,
		       "bad retention rule '%s' (expected e.g. all:1h+hourly:1d+daily:30d+min:10 "
		       "or latest)",
		       text);
}

/* Appends to buf at *n; -1 when it does not fit. */
static int cat(char *buf, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cat(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + *n, *n < len ? len - *n : 0, fmt, ap);
	va_end(ap);
	if (w < 0 || *n + (size_t)w >= len)
		return -1;
	*n += (size_t)w;
	return 0;
}

static int cat_dur(char *buf, size_t len, size_t *n, const char *name, uint64_t ns)
{
	static const struct {
		char c;
		uint64_t ns;
	} u[] = {{'w', 7 * 86400 * NS_S},
		 {'d', 86400 * NS_S},
		 {'h', 3600 * NS_S},
		 {'m', 60 * NS_S},
		 {'s', NS_S}};
	size_t i = 0;

	while (i + 1 < sizeof(u) / sizeof(u[0]) && ns % u[i].ns)
		i++;
	return cat(buf, len, n, "%s%s:%llu%c", *n ? "," : "", name,
		   (unsigned long long)(ns / u[i].ns), u[i].c);
}

int st_retention_format(const struct st_retention *r, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = 0;
	if (r->all_ns == 0 && r->ntiers == 0 && r->min_count <= 1)
		return cat(buf, len, &n, "latest") ? ST_EINVAL : ST_OK;
	if (r->all_ns && cat_dur(buf, len, &n, "all", r->all_ns))
		return ST_EINVAL;
	for (uint32_t i = 0; i < r->ntiers; i++) {
		const char *name = "hourly";
		for (size_t t = 0; t < sizeof(tier_names) / sizeof(tier_names[0]); t++)
			if (tier_names[t].interval_ns == r->tiers[i].interval_ns)
				name = tier_names[t].name;
		if (cat_dur(buf, len, &n, name, r->tiers[i].span_ns))
			return ST_EINVAL;
	}
	if (cat(buf, len, &n, "%smin:%u", n ? "," : "", r->min_count ? r->min_count : 1))
		return ST_EINVAL;
	return ST_OK;
}

/* Marks keep[i] for versions v[0..n) (newest first) that r keeps. */
struct vlist {
	struct st_version *v;
	size_t n, cap;
};

static int vlist_cb(void *arg, const struct st_version *v)
{
	struct vlist *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct st_version *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return st_fail_oom();
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = *v;
	return 0;
}

int st_versions_list(st_store *st, struct st_version **v, size_t *n)
{
	struct vlist l = {0};
	int rc = st_versions(st, vlist_cb, &l);

	*v = l.v;
	*n = l.n;
	return rc;
}

void st_retention_keep(const struct st_retention *r, uint64_t now, const struct st_version *v,
		       size_t n, bool *keep)
{
	struct hdr *h = calloc(n ? n : 1, sizeof(*h));

	if (!h) { /* keep everything rather than drop by mistake */
		for (size_t i = 0; i < n; i++)
			keep[i] = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		h[i].seq = v[i].seq;
		h[i].time_ns = v[i].time_ns;
		h[i].commit_kind = v[i].interim ? ST_INTERIM : ST_SAVE;
	}
	st_retention_apply(r, now, h, n, keep);
	free(h);
}

/*
 * The rule counts the listed versions: the saves, and the newest commit
 * whatever its kind (it is the current state). An older interim commit
 * is kept only if pinned. k is a version's rank among the listed ones,
 * prev the listed version before it (newer).
 */
void st_retention_apply(const struct st_retention *r, uint64_t now, const struct hdr *v, size_t n,
			bool *keep)
{
	uint32_t min = r && r->min_count ? r->min_count : 1;
	size_t k = 0, prev = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t age = now > v[i].time_ns ? now - v[i].time_ns : 0;
		bool listed = i == 0 || v[i].commit_kind != ST_INTERIM;

		keep[i] = listed && k < min;
		if (r && r->cut_ns && v[i].time_ns < r->cut_ns)
			keep[i] = i == 0;
		if (r)
			for (size_t p = 0; p < r->npins; p++)
				if (r->pins[p] == v[i].seq)
					keep[i] = true;
		if (!listed || (r && r->cut_ns && v[i].time_ns < r->cut_ns)) {
			if (listed) {
				prev = i;
				k++;
			}
			continue;
		}
		if (r && r->all_ns && age < r->all_ns)
			keep[i] = true;
		for (uint32_t t = 0; r && t < r->ntiers; t++) {
			uint64_t iv = r->tiers[t].interval_ns;
			if (!iv || age >= r->tiers[t].span_ns)
				continue;
			/* The newest listed version of each interval-wide slot. */
			if (k == 0 || v[prev].time_ns / iv != v[i].time_ns / iv)
				keep[i] = true;
		}
		prev = i;
		k++;
	}
}
