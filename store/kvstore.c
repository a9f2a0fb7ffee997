/*
 * kvstore.c - the key-value store: what the namespace is kept in.
 *
 * Puts and deletes are staged in a sorted array, visible to readers at
 * once (read-your-writes); the commit hands them to the tree as one
 * sorted batch. The staged array is changed and read under slock only, so
 * a put never waits for a commit: the commit moves the array aside (ckv)
 * under slock, writes it with no slock held while new puts gather in a
 * fresh array, and drops it under slock together with publishing the new
 * header. A reader looks in the staged array, then in ckv, then in the
 * tree, so it always finds the newest value of a key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int kcmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m ? memcmp(a, b, m) : 0;

	return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the first entry of v[0..n) >= key. */
static size_t find_in(const struct kvent *v, size_t n, const uint8_t *key, size_t klen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kcmp(v[mid].key, v[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first staged entry >= key (slock held). */
static size_t kv_find(const st_store *st, const uint8_t *key, size_t klen)
{
	return find_in(st->kv, st->nkv, key, klen);
}

static void free_ents(struct kvent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].val);
	}
}

void st_kv_take(st_store *st)
{
	free_ents(st->ckv, st->nckv);
	free(st->ckv);
	st->ckv = st->kv;
	st->nckv = st->nkv;
	st->kv = NULL;
	st->nkv = st->kvcap = 0;
}

void st_kv_give_back(st_store *st, bool drop)
{
	struct kvent *m;
	size_t i = 0, j = 0, n = 0;

	if (drop || st->nckv == 0) {
		free_ents(st->ckv, st->nckv);
		free(st->ckv);
		st->ckv = NULL;
		st->nckv = 0;
		if (drop) {
			free_ents(st->kv, st->nkv);
			st->nkv = 0;
		}
		return;
	}
	/* Merge: a put made during the failed commit is newer and wins. */
	m = malloc((st->nkv + st->nckv) * sizeof(*m));
	if (!m) {
		/* Cannot merge: keep the older changes at least where they do
		 * not collide, by leaving them for the next commit as they are. */
		return;
	}
	while (i < st->nkv || j < st->nckv) {
		int c = i == st->nkv ? 1
			: j == st->nckv
			    ? -1
			    : kcmp(st->kv[i].key, st->kv[i].klen, st->ckv[j].key, st->ckv[j].klen);

		if (c <= 0) {
			m[n++] = st->kv[i++];
			if (c == 0) {
				free(st->ckv[j].key);
				free(st->ckv[j].val);
				j++;
			}
		} else {
			m[n++] = st->ckv[j++];
		}
	}
	free(st->kv);
	free(st->ckv);
	st->kv = m;
	st->nkv = st->kvcap = n;
	st->ckv = NULL;
	st->nckv = 0;
}

static int kv_stage(st_store *st, const void *key, size_t klen, const void *val, size_t vlen,
		    bool del)
{
	uint8_t *k, *v = NULL;
	size_t i;
	int rc = ST_OK;

	if (st->readonly)
		return st_fail(ST_EROFS, EROFS, 0, "%s: read-only", st->path);
	if (st->kind != ST_KIND_KV)
		return st_fail(ST_EKIND, 0, 0, "%s: not a key-value store", st->path);
	if (klen == 0 || klen > ST_MAX_KEY || vlen > ST_MAX_VALUE)
		return st_fail(ST_ETOOBIG, 0, 0, "%s: key or value size out of range", st->path);
	k = malloc(klen);
	if (!del)
		v = malloc(vlen ? vlen : 1);
	if (!k || (!del && !v)) {
		free(k);
		free(v);
		return st_fail_oom();
	}
	memcpy(k, key, klen);
	if (!del)
		memcpy(v, val, vlen);
	pthread_mutex_lock(&st->slock);
	i = kv_find(st, k, klen);
	if (i < st->nkv && kcmp(st->kv[i].key, st->kv[i].klen, k, klen) == 0) {
		free(st->kv[i].key);
		free(st->kv[i].val);
	} else {
		if (st->nkv == st->kvcap) {
			size_t cap = st->kvcap ? st->kvcap * 2 : 64;
			struct kvent *nv = realloc(st->kv, cap * sizeof(*nv));
			if (!nv) {
				free(k);
				free(v);
				rc = st_fail_oom();
				goto out;
			}
			st->kv = nv;
			st->kvcap = cap;
		}
		memmove(st->kv + i + 1, st->kv + i, (st->nkv - i) * sizeof(*st->kv));
		st->nkv++;
	}
	st->kv[i].key = k;
	st->kv[i].klen = (uint32_t)klen;
	st->kv[i].val = v;
	st->kv[i].vlen = del ? 0 : (uint32_t)vlen;
out:
	pthread_mutex_unlock(&st->slock);
	return rc;
}

int st_kv_put(st_store *st, const void *key, size_t klen, const void *val, size_t vlen)
{
	return kv_stage(st, key, klen, val, vlen, false);
}

int st_kv_del(st_store *st, const void *key, size_t klen)
{
	return kv_stage(st, key, klen, NULL, 0, true);
}

int st_kv_get(st_store *st, const void *key, size_t klen, void **val, size_t *vlen)
{
	const struct kvent *e;
	struct st_file *f;
	struct hdr h;
	struct tree t;
	uint8_t *v;
	uint32_t vl;
	size_t i;
	int rc;

	if (st->kind != ST_KIND_KV)
		return st_fail(ST_EKIND, 0, 0, "%s: not a key-value store", st->path);
	pthread_mutex_lock(&st->slock);
	e = NULL;
	i = kv_find(st, key, klen);
	if (i < st->nkv && kcmp(st->kv[i].key, st->kv[i].klen, key, klen) == 0)
		e = &st->kv[i];
	if (!e) {
		i = find_in(st->ckv, st->nckv, key, klen);
		if (i < st->nckv && kcmp(st->ckv[i].key, st->ckv[i].klen, key, klen) == 0)
			e = &st->ckv[i];
	}
	if (e) {
		rc = ST_ENOTFOUND;
		if (e->val) {
			rc = ST_OK;
			if (!(*val = malloc(e->vlen ? e->vlen : 1)))
				rc = st_fail_oom();
			else
				memcpy(*val, e->val, e->vlen);
			*vlen = e->vlen;
		}
		pthread_mutex_unlock(&st->slock);
		return rc;
	}
	f = st_file_ref(st->file);
	h = st->head;
	pthread_mutex_unlock(&st->slock);
	t.root = h.root;
	t.r.count = h.root_count;
	t.r.bytes = h.root_bytes;
	rc = st_tree_get(f, h.pos, &t, key, klen, &v, &vl);
	st_file_unref(f);
	if (rc == ST_OK) {
		*val = v;
		*vlen = vl;
	}
	return rc;
}

/* Merges a private copy of the staged entries into the committed ones. */
struct range_ctx {
	const uint8_t *prefix;
	size_t plen;
	struct kvent *staged;
	size_t n, i;
	st_kv_cb cb;
	void *arg;
	int user_rc;
};

#define RANGE_DONE 1 /* past the prefix */

static int has_prefix(const struct range_ctx *c, const uint8_t *key, size_t klen)
{
	return klen >= c->plen && (c->plen == 0 || memcmp(key, c->prefix, c->plen) == 0);
}

/* Emits staged entries before key (all if key is NULL). */
static int flush_staged(struct range_ctx *c, const uint8_t *key, size_t klen)
{
	while (c->i < c->n) {
		const struct kvent *e = &c->staged[c->i];

		if (key && kcmp(e->key, e->klen, key, klen) >= 0)
			break;
		c->i++;
		if (e->val && (c->user_rc = c->cb(c->arg, e->key, e->klen, e->val, e->vlen)))
			return 1;
	}
	return 0;
}

static int range_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct range_ctx *c = arg;

	if (!has_prefix(c, key, klen))
		return RANGE_DONE;
	if (flush_staged(c, key, klen))
		return 1;
	if (c->i < c->n && kcmp(c->staged[c->i].key, c->staged[c->i].klen, key, klen) == 0)
		return 0; /* staged overrides committed; emitted by the next flush */
	c->user_rc = c->cb(c->arg, key, klen, val, vlen);
	return c->user_rc != 0;
}

int st_kv_range(st_store *st, const void *prefix, size_t plen, st_kv_cb cb, void *arg)
{
	struct range_ctx c = {.prefix = prefix, .plen = plen, .cb = cb, .arg = arg};
	struct st_file *f;
	struct hdr h;
	struct tree t;
	size_t i, ci, nk = 0, nc = 0;
	int rc = ST_OK;

	if (st->kind != ST_KIND_KV)
		return st_fail(ST_EKIND, 0, 0, "%s: not a key-value store", st->path);
	pthread_mutex_lock(&st->slock);
	i = kv_find(st, prefix, plen);
	ci = find_in(st->ckv, st->nckv, prefix, plen);
	for (size_t j = i; j < st->nkv && has_prefix(&c, st->kv[j].key, st->kv[j].klen); j++)
		nk++;
	for (size_t j = ci; j < st->nckv && has_prefix(&c, st->ckv[j].key, st->ckv[j].klen); j++)
		nc++;
	if (nk + nc && !(c.staged = calloc(nk + nc, sizeof(*c.staged))))
		rc = st_fail_oom();
	/* One sorted copy of both: a staged entry hides the same key in ckv. */
	for (size_t a = 0, b = 0; rc == ST_OK && (a < nk || b < nc);) {
		const struct kvent *e;
		struct kvent *d = &c.staged[c.n];
		int cmp = a == nk   ? 1
			  : b == nc ? -1
				    : kcmp(st->kv[i + a].key, st->kv[i + a].klen,
					   st->ckv[ci + b].key, st->ckv[ci + b].klen);

		if (cmp <= 0) {
			e = &st->kv[i + a++];
			b += cmp == 0;
		} else {
			e = &st->ckv[ci + b++];
		}
		d->klen = e->klen;
		d->vlen = e->vlen;
		d->key = malloc(e->klen);
		d->val = e->val ? malloc(e->vlen ? e->vlen : 1) : NULL;
		c.n++;
		if (!d->key || (e->val && !d->val)) {
			rc = st_fail_oom();
			break;
		}
		memcpy(d->key, e->key, e->klen);
		if (e->val)
			memcpy(d->val, e->val, e->vlen);
	}
	f = st_file_ref(st->file);
	h = st->head;
	pthread_mutex_unlock(&st->slock);
	if (rc == ST_OK) {
		t.root = h.root;
		t.r.count = h.root_count;
		t.r.bytes = h.root_bytes;
		rc = st_tree_iter(f, h.pos, &t, prefix, plen, false, range_cb, &c);
		if (rc >= 0 && !c.user_rc && flush_staged(&c, NULL, 0) == 0)
			rc = ST_OK;
		if (rc >= 0)
			rc = c.user_rc;
	}
	st_file_unref(f);
	for (size_t j = 0; j < c.n; j++) {
		free(c.staged[j].key);
		free(c.staged[j].val);
	}
	free(c.staged);
	return rc;
}
