/*
 * compact.c - online compaction.
 *
 * 1. With no lock: note the newest header H0, pick the versions the
 *    retention rule keeps up to H0, and copy them oldest first into
 *    "<store>.compact": for each, the changes from the previous kept
 *    version (st_tree_diff, which skips shared subtrees), with the data
 *    records they reference copied once, keeping only the pages some kept
 *    version uses; then that version's header, same seq and times.
 * 2. Catch-up, with no lock: commits made since are replayed the same
 *    way, pass after pass, until a pass has little to replay. The
 *    retention rule judges each pass's new commits on their own, so a
 *    commit made during compaction may outlive a rule like "latest" until
 *    the next compaction.
 * 3. Under the store's writer lock: replay the last commits, move staged
 *    data into the new file, switch the handle to it. That is all the
 *    lock covers.
 * 4. With no lock: sync the new file, rename it over the store, sync the
 *    directory. A commit made after the switch goes to the new file and
 *    waits for the rename before its flip (st_store_switch_wait), so no
 *    durable commit is ever only in "<store>.compact". Readers holding the
 *    old file keep it alive until they let go.
 * A crash anywhere leaves the old store or the new one complete under the
 * store's name; "<store>.compact" is then stale and removed next time.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BATCH 4096 /* actions per st_tree_modify while copying */
/* A catch-up pass that replayed at most this many bytes of the old file is
 * the last: what comes during it is left to the locked step. */
#define FINAL_DELTA (256u << 10)
/* Unsynced bytes of the new file a catch-up pass leaves at most: the sync
 * after the switch, which a commit landing then waits for, stays short. */
#define SYNC_SLACK (1u << 20)
/* The locked step gives the lock back for one more pass (while passes are
 * left) if more than this many bytes came since the last. */
#define LOCKED_MAX (512u << 10)
/* The new file is handed to writeback every this many bytes. */
#define COPY_WB_CHUNK (1u << 20)

/* Where an old data record went: the pages of it that kept versions use
 * (the bits of used) were copied, in order, into one new record at ptr. */
struct recmap_ent {
	uint64_t old; /* 0: free slot */
	uint64_t ptr; /* 0: not copied yet */
	uint8_t used[ST_EXTENT_PAGES / 8];
};

static bool page_used(const struct recmap_ent *m, uint32_t i)
{
	return m->used[i / 8] & (1u << (i % 8));
}

/* Used pages before page i: page i's index in the new record. */
static uint32_t used_before(const struct recmap_ent *m, uint32_t i)
{
	uint32_t n = 0;

	for (uint32_t j = 0; j < i; j++)
		n += page_used(m, j);
	return n;
}

struct cmp {
	st_store *st;
	struct st_file *old; /* the file being compacted (ref) */
	struct st_file *nf;  /* the new file (ref) */
	struct writer w;
	char *tmp;
	const struct st_compact_opts *o;
	struct recmap_ent *map;
	size_t mapcap, mapn;
	bool ranging;	   /* pass 1: only record page ranges */
	bool caught_up;	   /* past the first copy: no rate limit */
	struct tree nt;	   /* the new file's current tree */
	uint64_t last_new; /* new file's newest header, or HDR_NONE */
	struct hdr newest; /* that header */
	struct action *batch;
	uint8_t *vals; /* remapped values of the batch */
	uint8_t *keys; /* keys of the batch */
	size_t nbatch;
	size_t cap;	   /* room in batch, vals and keys: doubles up to BATCH */
	uint8_t *pages;	   /* copy buffer ... */
	uint32_t pagescap; /* ... of this many pages, grown as records need */
	uint64_t limit;	   /* reads of the old file end here */
	struct st_compact_stats stats;
	uint64_t t_start;
};

static size_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x;
}

static struct recmap_ent *map_get(struct cmp *c, uint64_t old, bool add)
{
	size_t i;

	if (add && (c->mapn + 1) * 2 > c->mapcap) {
		size_t cap = c->mapcap ? c->mapcap * 2 : 1024;
		struct recmap_ent *m = calloc(cap, sizeof(*m));
		if (!m)
			return NULL;
		for (size_t j = 0; j < c->mapcap; j++) {
			if (!c->map[j].old)
				continue;
			for (i = hash64(c->map[j].old) & (cap - 1); m[i].old;
			     i = (i + 1) & (cap - 1))
				;
			m[i] = c->map[j];
		}
		free(c->map);
		c->map = m;
		c->mapcap = cap;
	}
	if (!c->mapcap)
		return NULL;
	for (i = hash64(old) & (c->mapcap - 1); c->map[i].old; i = (i + 1) & (c->mapcap - 1))
		if (c->map[i].old == old)
			return &c->map[i];
	if (!add)
		return NULL;
	c->map[i].old = old;
	c->mapn++;
	return &c->map[i];
}

static int check_deleted(struct cmp *c)
{
	struct stat sb;

	if (c->st->ops->stat(c->st->ctx, c->st->path, &sb) < 0 || sb.st_ino != c->old->ino ||
	    sb.st_dev != c->old->dev)
		return st_fail(ST_EDELETED, 0, 0, "%s: deleted during compaction", c->st->path);
	return ST_OK;
}

static int hook(struct cmp *c, enum st_compact_step step)
{
	if (c->o->hook && c->o->hook(c->o->hook_arg, step))
		return st_fail(ST_EABORTED, 0, 0, "%s: compaction aborted", c->st->path);
	return ST_OK;
}

/* The time retention ages are measured from. */
static uint64_t compact_now(const struct cmp *c)
{
	if (c->o->now_ns)
		return c->o->now_ns;
	return c->st->clock ? c->st->clock(c->st->ctx) : st_realtime_ns();
}

/* Sleeps to keep the copy at its rate, in slices that let the hook stop
 * it (ST_EABORTED) meanwhile. */
static int rate_limit(struct cmp *c)
{
	const uint64_t slice = 50000000ull; /* 50 ms */
	uint64_t want, el;
	int rc = ST_OK;

	/* The catch-up copies what writers wrote meanwhile: limited, it might
	 * never catch up with them. */
	if (!c->o->rate_bps || c->caught_up)
		return ST_OK;
	/* No overflow: the remainder is below rate_bps. */
	want = c->stats.copied_bytes / c->o->rate_bps * 1000000000ull +
	       c->stats.copied_bytes % c->o->rate_bps * 1000000000ull / c->o->rate_bps;
	while (rc == ST_OK && want > (el = st_realtime_ns() - c->t_start)) {
		uint64_t d = want - el < slice ? want - el : slice;
		struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};

		nanosleep(&ts, NULL);
		rc = hook(c, ST_STEP_PROGRESS);
	}
	return rc;
}

/* Makes the copy buffer hold n pages (at most ST_EXTENT_PAGES). A small
 * store's compaction (most are) then takes a few pages, not 1 MiB. */
static int pages_room(struct cmp *c, uint32_t n)
{
	uint32_t cap = c->pagescap ? c->pagescap : 1;
	uint8_t *p;

	if (n <= c->pagescap)
		return ST_OK;
	while (cap < n)
		cap *= 2;
	if (cap > ST_EXTENT_PAGES)
		cap = ST_EXTENT_PAGES;
	if (n > cap)
		return st_fail(ST_ECORRUPT, 0, 0, "%s: data record too long", c->old->path);
	if (!(p = realloc(c->pages, (size_t)cap * BLOCK_SIZE)))
		return st_fail_oom();
	c->pages = p;
	c->pagescap = cap;
	return ST_OK;
}

/* Copies pages [lo, hi) of the old record at rec into a new record. tail:
 * the length of page hi - 1 (the record's own tail if it is its last). */
static int copy_pages(struct cmp *c, uint64_t rec, uint32_t lo, uint32_t hi, uint32_t tail,
		      uint64_t *out)
{
	int rc = pages_room(c, hi - lo);

	if (rc == ST_OK)
		rc = st_data_read_pages(c->old, rec, c->limit, lo, hi - lo, c->pages);
	if (rc == ST_OK)
		rc = st_data_append(&c->w, c->pages, hi - lo, tail, out);
	c->stats.copied_bytes += (uint64_t)(hi - lo - 1) * BLOCK_SIZE + tail;
	if (rc == ST_OK)
		rc = rate_limit(c);
	return rc;
}

/* The tail of the old record e points into. */
static int old_rec_tail(struct cmp *c, const struct ext *e, uint32_t *tail)
{
	struct data_head d;
	uint8_t *head;
	uint32_t hl;
	int rc;

	if (e->rec_first + e->npages == e->rec_npages) {
		*tail = e->tail;
		return ST_OK;
	}
	if ((rc = st_record_read(c->old, e->rec, c->limit, 1u << REC_DATA, &head, &hl)) != ST_OK)
		return rc;
	rc = st_data_head_decode(head, hl, &d);
	*tail = d.tail;
	free(head);
	if (rc != ST_OK)
		return st_fail(ST_ECORRUPT, 0, e->rec, "%s: bad data record at %llu", c->old->path,
			       (unsigned long long)e->rec);
	return ST_OK;
}

/* Copies the used pages of m's record into one new record. */
static int copy_used(struct cmp *c, struct recmap_ent *m, const struct ext *e)
{
	uint32_t n = 0, tail = BLOCK_SIZE, i = 0;
	int rc;

	if (page_used(m, e->rec_npages - 1) && (rc = old_rec_tail(c, e, &tail)) != ST_OK)
		return rc;
	while (i < e->rec_npages) {
		uint32_t run = 0;

		while (i + run < e->rec_npages && page_used(m, i + run))
			run++;
		if (run) {
			if ((rc = pages_room(c, n + run)) != ST_OK)
				return rc;
			rc = st_data_read_pages(c->old, e->rec, c->limit, i, run,
						c->pages + (size_t)n * BLOCK_SIZE);
			if (rc != ST_OK)
				return rc;
			n += run;
			i += run;
		} else {
			i++;
		}
	}
	c->stats.copied_bytes += (uint64_t)(n - 1) * BLOCK_SIZE + tail;
	if ((rc = rate_limit(c)) != ST_OK)
		return rc;
	return st_data_append(&c->w, c->pages, n, tail, &m->ptr);
}

/* Rewrites e to point into the new file, copying its record if needed. */
static int remap_extent(struct cmp *c, struct ext *e)
{
	struct recmap_ent *m = map_get(c, e->rec, false);
	uint32_t first = e->rec_first, end = e->rec_first + e->npages;
	bool all = m != NULL;
	uint64_t ptr;
	int rc;

	for (uint32_t i = first; all && i < end; i++)
		all = page_used(m, i);
	if (all) {
		if (!m->ptr && (rc = copy_used(c, m, e)) != ST_OK)
			return rc;
		e->rec = m->ptr;
		e->rec_first = used_before(m, first);
		e->rec_npages = used_before(m, e->rec_npages);
		return ST_OK;
	}
	/* Not seen by the range pass (a new record, or staged data): copy
	 * just this extent's pages. */
	rc = copy_pages(c, e->rec, first, end, e->tail, &ptr);
	if (rc != ST_OK)
		return rc;
	e->rec = ptr;
	e->rec_npages = e->npages;
	e->rec_first = 0;
	return ST_OK;
}

/* Frees the values a kv batch owns (file values live in c->vals). */
static void batch_drop(struct cmp *c)
{
	if (c->st->kind == ST_KIND_KV)
		for (size_t i = 0; i < c->nbatch; i++)
			if (c->batch[i].op == ACT_PUT)
				free((void *)c->batch[i].val);
	c->nbatch = 0;
}

static int flush_batch(struct cmp *c)
{
	int rc;

	if (c->nbatch == 0)
		return ST_OK;
	/* st_tree_modify reads the new tree's nodes back from the file. */
	rc = st_writer_flush(&c->w);
	if (rc == ST_OK)
		rc = st_tree_modify(c->nf, &c->w, c->st->kind, &c->nt, c->batch, c->nbatch, &c->nt);
	batch_drop(c);
	if (rc == ST_OK)
		rc = rate_limit(c);
	if (rc == ST_OK)
		rc = hook(c, ST_STEP_PROGRESS);
	return rc;
}

/* Room for one more action in the batch: an empty batch twice as large
 * once it is full and below BATCH (a small store's copy needs a few). */
static int batch_room(struct cmp *c)
{
	size_t cap = c->cap ? c->cap * 2 : 64;
	struct action *b;
	uint8_t *k, *v;
	int rc;

	if (c->nbatch < c->cap)
		return ST_OK;
	if (c->nbatch && (rc = flush_batch(c)) != ST_OK)
		return rc;
	if (c->cap >= BATCH)
		return ST_OK;
	cap = cap < BATCH ? cap : BATCH;
	if (!(b = realloc(c->batch, cap * sizeof(*b))))
		return st_fail_oom();
	c->batch = b;
	if (!(k = realloc(c->keys, cap * ST_MAX_KEY)))
		return st_fail_oom();
	c->keys = k;
	if (!(v = realloc(c->vals, cap * EXT_VAL_SIZE)))
		return st_fail_oom();
	c->vals = v;
	c->cap = cap;
	return ST_OK;
}

static int apply_cb(void *arg, const struct action *a)
{
	struct cmp *c = arg;
	struct action *b;
	int rc;

	if (c->ranging) {
		struct ext e;
		struct recmap_ent *m;

		if (a->op != ACT_PUT || c->st->kind != ST_KIND_FILE)
			return ST_OK;
		if (st_ext_decode(a->key, a->klen, a->val, a->vlen, &e) != ST_OK)
			return st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", c->old->path);
		if (!(m = map_get(c, e.rec, true)))
			return st_fail_oom();
		for (uint32_t i = e.rec_first; i < e.rec_first + e.npages; i++)
			m->used[i / 8] |= (uint8_t)(1u << (i % 8));
		return ST_OK;
	}
	if ((rc = batch_room(c)) != ST_OK)
		return rc;
	b = &c->batch[c->nbatch];
	*b = *a;
	if (a->klen > ST_MAX_KEY)
		return st_fail(ST_ECORRUPT, 0, 0, "%s: key too long", c->old->path);
	memcpy(c->keys + c->nbatch * ST_MAX_KEY, a->key, a->klen);
	b->key = c->keys + c->nbatch * ST_MAX_KEY;
	if (a->op == ACT_PUT && c->st->kind == ST_KIND_FILE) {
		struct ext e;
		uint8_t *v = c->vals + c->nbatch * EXT_VAL_SIZE;

		if (st_ext_decode(a->key, a->klen, a->val, a->vlen, &e) != ST_OK)
			return st_fail(ST_ECORRUPT, 0, 0, "%s: malformed extent", c->old->path);
		if ((rc = remap_extent(c, &e)) != ST_OK)
			return rc;
		st_ext_val_encode(&e, v);
		b->val = v;
	} else if (a->op == ACT_PUT) {
		/* kv values are copied as they are; keep them alive */
		uint8_t *v = malloc(a->vlen ? a->vlen : 1);
		if (!v)
			return st_fail_oom();
		memcpy(v, a->val, a->vlen);
		b->val = v;
	}
	c->nbatch++;
	return ST_OK;
}

/* Where version b's attributes record is in the new file: copied the
 * first time a kept version names it (versions share it until it changes). */
static int remap_meta(struct cmp *c, const struct hdr *b, uint64_t *out)
{
	struct recmap_ent *m;
	uint8_t *buf;
	size_t len;
	int rc;

	*out = 0;
	if (!b->meta)
		return ST_OK;
	if (!(m = map_get(c, b->meta, true)))
		return st_fail_oom();
	if (!m->ptr) {
		if ((rc = st_meta_read(c->old, b->meta, b->pos, &buf, &len)) != ST_OK)
			return rc;
		rc = st_meta_append(&c->w, buf, len, &m->ptr);
		free(buf);
		if (rc != ST_OK)
			return rc;
	}
	*out = m->ptr;
	return ST_OK;
}

/* Version b's inline area for its copy: read into body, described in *a.
 * Attributes that would not fit the new file's header (a plain store
 * sealed by this compaction) go in a record, named in *meta. */
static int area_copy(struct cmp *c, const struct hdr *b, uint8_t *body, struct st_area *a,
		     uint64_t *meta)
{
	size_t n;
	int rc = st_header_area(c->old, b, body, &n);

	if (rc != ST_OK)
		return rc;
	a->flags = b->area_flags;
	a->attrs = body;
	a->attr_len = b->attr_len;
	a->content = body + b->attr_len;
	a->content_len = (b->area_flags & AREA_CONTENT) ? (size_t)b->size : 0;
	if (!(a->flags & AREA_ATTRS))
		return remap_meta(c, b, meta); /* a record, if any */
	*meta = 0;
	if ((a->flags & AREA_ATTRS) && !st_area_fits(c->w.f, a->attr_len, a->content_len)) {
		if ((rc = st_meta_append(&c->w, a->attrs, a->attr_len, meta)) != ST_OK)
			return rc;
		a->flags &= ~AREA_ATTRS;
		a->attr_len = 0;
	}
	return ST_OK;
}

static struct tree tree_of(const struct hdr *h)
{
	struct tree t = {h->root, {h->root_count, h->root_bytes}};
	return t;
}

/* Replays into the new file the change from old version a to b, then
 * writes b's header there. */
static int replay(struct cmp *c, const struct tree *a, const struct hdr *b)
{
	struct tree tb = tree_of(b);
	uint8_t body[BLOCK_SIZE];
	struct st_area ar = {0};
	struct hdr h;
	int rc;

	rc = st_tree_diff(c->old, c->limit, a, &tb, apply_cb, c);
	if (rc > 0)
		rc = ST_ECORRUPT;
	if (rc == ST_OK)
		rc = flush_batch(c);
	batch_drop(c);
	if (rc != ST_OK)
		return rc;
	h = *b;
	/* The new file is synced whole before it takes the store's name, so
	 * its headers are written marked, and none needs its region checked
	 * at open (which could be the whole file). */
	h.incompat &= ~FEAT_IN_ONESYNC;
	if (b->area_len) {
		if ((rc = area_copy(c, b, body, &ar, &h.meta)) != ST_OK)
			return rc;
	} else if ((rc = remap_meta(c, b, &h.meta)) != ST_OK) {
		return rc;
	}
	h.root = c->nt.root;
	h.root_count = c->nt.r.count;
	h.root_bytes = c->nt.r.bytes;
	h.prev = c->last_new;
	h.prev_area = c->last_new == HDR_NONE ? 0 : c->newest.area_len;
	if ((rc = st_writer_header(&c->w, &h, MARK_HEADER, ar.flags ? &ar : NULL)) != ST_OK)
		return rc;
	c->last_new = h.pos;
	c->newest = h;
	c->stats.versions_kept++;
	return ST_OK;
}

/* Headers from newest back to (not including) seq `stop`, newest first. */
static int collect_headers(struct cmp *c, const struct hdr *newest, uint64_t stop, struct hdr **out,
			   size_t *n)
{
	struct hdr *v = NULL, h = *newest, p;
	size_t cap = 0, cnt = 0;
	int rc = ST_OK;

	for (;;) {
		if (h.seq <= stop && stop != UINT64_MAX)
			break;
		if (cnt == cap) {
			struct hdr *nv;
			cap = cap ? cap * 2 : 64;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				rc = st_fail_oom();
				break;
			}
			v = nv;
		}
		v[cnt++] = h;
		if (h.prev == HDR_NONE)
			break;
		if ((rc = st_header_prev(c->old, &h, &p)) != ST_OK)
			break;
		h = p;
	}
	if (rc != ST_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return ST_OK;
}

/* Replays the kept ones of headers v[0..n) (newest first), starting from
 * old tree *from; leaves *from at the last one replayed. */
static int replay_list(struct cmp *c, struct hdr *v, size_t n, struct tree *from)
{
	bool *keep = calloc(n ? n : 1, sizeof(*keep));
	uint64_t now = compact_now(c);
	int rc = ST_OK;

	if (!keep)
		return st_fail_oom();
	st_retention_apply(c->o->keep, now, v, n, keep);
	for (size_t i = n; i-- > 0 && rc == ST_OK;) {
		if (!keep[i])
			continue;
		rc = replay(c, from, &v[i]);
		*from = tree_of(&v[i]);
	}
	free(keep);
	return rc;
}

/* Copies staged data into the new file (wlock held). The staged extents
 * are repointed only after the rename (moved[] holds their new places):
 * until then a failure must leave them pointing into the old file. */
static int copy_staged(struct cmp *c, struct ext **moved)
{
	st_store *st = c->st;
	int rc;

	*moved = NULL;
	if (st->kind != ST_KIND_FILE || st->nex == 0)
		return ST_OK;
	if ((rc = st_writer_flush(&st->w)) != ST_OK)
		return rc;
	if (!(*moved = malloc(st->nex * sizeof(**moved))))
		return st_fail_oom();
	c->limit = st->w.end;
	for (size_t i = 0; i < st->nex; i++) {
		struct ext e = st->ex[i];

		if (e.rec == 0) { /* a staged hole: no bytes */
			(*moved)[i] = e;
			continue;
		}
		rc = copy_pages(c, e.rec, e.rec_first, e.rec_first + e.npages, e.tail, &e.rec);
		if (rc != ST_OK)
			return rc;
		e.rec_npages = e.npages;
		e.rec_first = 0;
		(*moved)[i] = e;
	}
	return ST_OK;
}

static int make_tmp_path(const char *path, char **out)
{
	size_t n = strlen(path) + sizeof(".compact");

	if (!(*out = malloc(n)))
		return st_fail_oom();
	snprintf(*out, n, "%s.compact", path);
	return ST_OK;
}

/* Bytes of staged data (wlock held). */
static uint64_t staged_bytes(const st_store *st)
{
	uint64_t n = 0;

	if (st->kind == ST_KIND_FILE)
		for (size_t i = 0; i < st->nex; i++)
			n += st->ex[i].rec ? (uint64_t)st->ex[i].npages * BLOCK_SIZE : 0;
	return n;
}

/* Step 3: the final catch-up under the writer lock, ending with the
 * handle on the new file (its name still the old file's: SW_PENDING).
 * Returns with the lock released; *switched says whether the switch was
 * made (from then on the compaction can only go forward). With may_retry,
 * it gives the lock back at once, unswitched, if more than LOCKED_MAX
 * bytes came (the writers took the lock again and again meanwhile, or a
 * large write is staged): another unlocked pass is then cheaper. */
static int final_switch(struct cmp *c, struct tree *from, uint64_t last_seq, bool may_retry,
			bool *switched)
{
	st_store *st = c->st;
	struct hdr *v = NULL, head;
	struct ext *moved = NULL;
	struct st_file *old;
	size_t n = 0;
	uint64_t t0;
	int rc;

	*switched = false;
	pthread_mutex_lock(&st->wlock);
	t0 = st_realtime_ns();
	if ((rc = hook(c, ST_STEP_LOCKED)) != ST_OK || (rc = check_deleted(c)) != ST_OK)
		goto out_unlock;
	if (st->broken) {
		rc = st_fail(ST_EIO, EIO, 0, "%s: store is unusable", st->path);
		goto out_unlock;
	}
	head = st->head;
	if ((rc = st_writer_flush(&st->w)) != ST_OK)
		goto out_unlock;
	if (may_retry && st->w.end - c->limit + staged_bytes(st) > LOCKED_MAX)
		goto out_unlock;
	c->limit = st->w.end;
	if (head.seq != last_seq) {
		if ((rc = collect_headers(c, &head, last_seq, &v, &n)) != ST_OK)
			goto out_unlock;
		/* The newest is always kept: it becomes the store's head. */
		rc = replay_list(c, v, n, from);
		free(v);
		if (rc != ST_OK)
			goto out_unlock;
	}
	if (c->newest.seq != head.seq) {
		rc = st_fail(ST_EIO, 0, 0, "%s: compaction lost the newest version", st->path);
		goto out_unlock;
	}
	/* Every byte in the file (not synced: after the lock). */
	if ((rc = copy_staged(c, &moved)) != ST_OK || (rc = st_writer_flush(&c->w)) != ST_OK)
		goto out_unlock;
	/* The switch. Commits from now on go to the new file, and none may
	 * flip before that file has the store's name durably: they wait for
	 * SW_PENDING to end (st_store_switch_wait), then sync the directory. */
	pthread_mutex_lock(&st->slock);
	old = st->file;
	st->file = st_file_ref(c->nf);
	st->head = c->newest;
	st->cur_meta_pos = 0; /* positions are the new file's now */
	st->switching = SW_PENDING;
	pthread_mutex_unlock(&st->slock);
	if (moved)
		memcpy(st->ex, moved, st->nex * sizeof(*moved));
	st_writer_release(&st->w);
	st_writer_init(&st->w, c->nf, c->w.end, st->flags & ST_NOSYNC);
	st_writer_adopt(&st->w, &c->w);
	st->dir_unsynced = true;
	st_file_unref(old);
	*switched = true;
out_unlock:
	free(moved);
	t0 = st_realtime_ns() - t0;
	if (t0 > c->stats.lock_hold_ns)
		c->stats.lock_hold_ns = t0;
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

/* Ends SW_PENDING (takes slock): SW_NONE once the new file has the store's
 * name, SW_FAILED if it never will (commits then fail; so does the store
 * until it is reopened, which finds the old file complete). */
static void switch_end(st_store *st, int state)
{
	pthread_mutex_lock(&st->slock);
	st->switching = state;
	pthread_cond_broadcast(&st->switch_cv);
	pthread_mutex_unlock(&st->slock);
}

int st_store_switch_wait(st_store *st)
{
	int rc = ST_OK;

	pthread_mutex_lock(&st->slock);
	while (st->switching == SW_PENDING)
		pthread_cond_wait(&st->switch_cv, &st->slock);
	if (st->switching == SW_FAILED)
		rc = st_fail(ST_EIO, EIO, 0, "%s: a compaction failed after its switch; reopen it",
			     st->path);
	pthread_mutex_unlock(&st->slock);
	return rc;
}

bool st_store_switch_pending(st_store *st)
{
	bool p;

	pthread_mutex_lock(&st->slock);
	p = st->switching == SW_PENDING;
	pthread_mutex_unlock(&st->slock);
	return p;
}

/* Step 4, with no lock: sync the new file (only what the last pass and
 * the locked step added is not yet durable), give it the store's name,
 * sync the directory. A hook's request to stop is noted, not obeyed: the
 * handle is already on the new file. */
static int finish_switch(struct cmp *c)
{
	st_store *st = c->st;
	bool stop = false;
	int rc = st_writer_sync(&c->w);

	if (rc == ST_OK) {
		stop |= hook(c, ST_STEP_SYNCED) != ST_OK;
		rc = check_deleted(c);
	}
	if (rc == ST_OK && st->ops->rename(st->ctx, c->tmp, st->path) < 0)
		rc = st_fail_errno(errno, "rename over", st->path);
	if (rc != ST_OK) {
		switch_end(st, SW_FAILED);
		pthread_mutex_lock(&st->wlock);
		st->broken = true;
		pthread_mutex_unlock(&st->wlock);
		return rc;
	}
	free(c->tmp);
	c->tmp = NULL; /* nothing to remove any more: the new file is the store */
	switch_end(st, SW_NONE);
	stop |= hook(c, ST_STEP_RENAMED) != ST_OK;
	/* Until this sync is done, a commit syncs the directory itself. */
	if ((rc = st_store_dir_sync(st)) != ST_OK)
		return rc;
	pthread_mutex_lock(&st->wlock);
	st->dir_unsynced = false;
	pthread_mutex_unlock(&st->wlock);
	stop |= hook(c, ST_STEP_SWITCHED) != ST_OK;
	return stop ? st_fail(ST_EABORTED, 0, 0, "%s: compaction aborted", st->path) : ST_OK;
}

/* One unlocked catch-up pass: replays the commits made since *last_seq.
 * *delta: the bytes the old file grew by since the last pass (0: none). */
static int catch_up(struct cmp *c, struct tree *from, uint64_t *last_seq, uint64_t *delta)
{
	st_store *st = c->st;
	struct st_file *f;
	struct hdr hn, *nv = NULL;
	size_t nn = 0;
	int rc;

	*delta = 0;
	st_store_snapshot(st, &f, &hn);
	st_file_unref(f);
	if (f != c->old)
		return st_fail(ST_EBUSY, 0, 0, "%s: switched during compaction", st->path);
	if (hn.seq == *last_seq)
		return ST_OK;
	*delta = st_head_end(&hn) - c->limit;
	c->limit = hn.pos;
	rc = collect_headers(c, &hn, *last_seq, &nv, &nn);
	if (rc == ST_OK)
		rc = replay_list(c, nv, nn, from);
	free(nv);
	if (rc != ST_OK || (rc = check_deleted(c)) != ST_OK)
		return rc;
	*last_seq = hn.seq;
	c->stats.passes++;
	return hook(c, ST_STEP_CATCHUP);
}

/* How long rule r keeps every one of versions v[0..n) (newest first), all
 * of which it keeps now: until the oldest leaves its "all" window. */
static uint64_t quiet_for(const struct st_retention *r, uint64_t now, const struct hdr *v, size_t n,
			  const bool *keep)
{
	uint64_t until;

	if (!r || !r->all_ns || n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!keep[i])
			return 0;
	until = v[n - 1].time_ns + r->all_ns;
	return until > now ? until - now : 0;
}

/* The data pages the versions v[i] with keep[i] (all if keep is NULL)
 * use, counted into *pages (the map of c is rebuilt). */
static int used_pages(struct cmp *c, const struct hdr *v, size_t n, const bool *keep,
		      uint64_t *pages)
{
	struct tree from = {0};
	int rc = ST_OK;

	free(c->map);
	c->map = NULL;
	c->mapcap = c->mapn = 0;
	c->ranging = true;
	for (size_t i = n; i-- > 0 && rc == ST_OK;) {
		struct tree t;

		if (keep && !keep[i])
			continue;
		t = tree_of(&v[i]);
		rc = st_tree_diff(c->old, c->limit, &from, &t, apply_cb, c);
		from = t;
	}
	c->ranging = false;
	if (rc > 0)
		rc = ST_ECORRUPT;
	*pages = 0;
	for (size_t j = 0; rc == ST_OK && j < c->mapcap; j++)
		for (uint32_t k = 0; c->map[j].old && k < ST_EXTENT_PAGES; k++)
			*pages += page_used(&c->map[j], k);
	return rc;
}

int st_compact_estimate(st_store *st, const struct st_compact_opts *opts,
			struct st_compact_stats *stats)
{
	static const struct st_compact_opts defaults;
	struct cmp c = {.st = st, .o = opts ? opts : &defaults, .last_new = HDR_NONE};
	uint64_t all = 0, kept = 0, meta, data_all, nkept = 0;
	struct hdr *v = NULL, h0;
	bool *keep = NULL;
	struct stat sb;
	size_t n = 0;
	int rc;

	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&st->slock);
	c.old = st_file_ref(st->file);
	h0 = st->head;
	pthread_mutex_unlock(&st->slock);
	if (h0.pos == HDR_NONE) {
		st_file_unref(c.old);
		return ST_OK;
	}
	c.limit = h0.pos;
	if (c.old->ops->fstat(c.old->ctx, c.old->fd, &sb) == 0)
		stats->bytes_before = (uint64_t)sb.st_size < st_head_end(&h0) ? (uint64_t)sb.st_size
									      : st_head_end(&h0);
	if ((rc = collect_headers(&c, &h0, UINT64_MAX, &v, &n)) != ST_OK)
		goto out;
	if (!(keep = calloc(n, sizeof(*keep)))) {
		rc = st_fail_oom();
		goto out;
	}
	st_retention_apply(c.o->keep, compact_now(&c), v, n, keep);
	stats->quiet_ns = quiet_for(c.o->keep, compact_now(&c), v, n, keep);
	for (size_t i = 0; i < n; i++) {
		nkept += keep[i];
		/* What history/ lists: the saves and the newest. */
		stats->listed_dropped += !keep[i] && (i == 0 || v[i].commit_kind != ST_INTERIM);
	}
	stats->versions_before = n;
	stats->versions_kept = nkept;
	/* A file store: the data pages the kept versions use, exactly; the
	 * trees and headers in proportion to the versions kept. A key-value
	 * store: all of it in proportion. */
	if (st->kind == ST_KIND_FILE && (rc = used_pages(&c, v, n, NULL, &all)) == ST_OK)
		rc = used_pages(&c, v, n, keep, &kept);
	if (rc != ST_OK)
		goto out;
	data_all = all * BLOCK_SIZE < stats->bytes_before ? all * BLOCK_SIZE : stats->bytes_before;
	meta = stats->bytes_before - data_all;
	stats->bytes_after = kept * BLOCK_SIZE + (n ? meta * nkept / n : 0);
	if (stats->bytes_after > stats->bytes_before)
		stats->bytes_after = stats->bytes_before;
out:
	st_file_unref(c.old);
	free(keep);
	free(v);
	free(c.map);
	return rc;
}

int st_compact(st_store *st, const struct st_compact_opts *opts, struct st_compact_stats *stats)
{
	static const struct st_compact_opts defaults;
	struct cmp c = {.st = st, .o = opts ? opts : &defaults, .last_new = HDR_NONE};
	struct hdr *v = NULL, h0;
	struct tree from = {0};
	struct stat sb;
	unsigned max_passes;
	uint64_t now;
	bool *keep = NULL;
	size_t n = 0;
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (st->readonly)
		return st_fail(ST_EROFS, EROFS, 0, "%s: read-only", st->path);
	if (c.o->seal && st->file->sealed)
		return st_fail(ST_EINVAL, EINVAL, 0, "%s: already sealed", st->path);
	pthread_mutex_lock(&st->wlock);
	rc = st->compacting ? st_fail(ST_EBUSY, EBUSY, 0, "%s: already compacting", st->path)
			    : ST_OK;
	st->compacting = true;
	if (rc == ST_OK) {
		/* Committed state only: what the unlocked copy may read. */
		pthread_mutex_lock(&st->slock);
		c.old = st_file_ref(st->file);
		h0 = st->head;
		pthread_mutex_unlock(&st->slock);
	}
	if (rc == ST_OK && h0.pos == HDR_NONE) {
		/* A deferred store before its first commit: nothing to copy. */
		st->compacting = false;
		st_file_unref(c.old);
		pthread_mutex_unlock(&st->wlock);
		return ST_OK;
	}
	pthread_mutex_unlock(&st->wlock);
	if (rc != ST_OK)
		return rc; /* the running compaction owns the flag */
	c.t_start = st_realtime_ns();
	max_passes = c.o->max_passes ? c.o->max_passes : 16;
	c.limit = h0.pos;
	if ((rc = make_tmp_path(st->path, &c.tmp)) != ST_OK)
		goto out;
	/* A leftover from a crash or an aborted run is stale. */
	if (st->ops->unlink(st->ctx, c.tmp) < 0 && errno != ENOENT) {
		rc = st_fail_errno(errno, "remove stale", c.tmp);
		goto out;
	}
	if ((rc = check_deleted(&c)) != ST_OK)
		goto out;
	/* What versions use: a reserve of zeros past the newest header is
	 * not reclaimed by compaction (the store's close trims it anyway). */
	if (c.old->ops->fstat(c.old->ctx, c.old->fd, &sb) == 0)
		c.stats.bytes_before = (uint64_t)sb.st_size < st_head_end(&h0)
					   ? (uint64_t)sb.st_size
					   : st_head_end(&h0);
	rc = st_file_open(st->ops, st->ctx, c.tmp, O_RDWR | O_CREAT | O_EXCL, 0600, &c.nf);
	if (rc != ST_OK)
		goto out;
	c.nf->has_sid = c.old->has_sid; /* the same store, under a new file */
	memcpy(c.nf->sid, c.old->sid, ST_ID_SIZE);
	c.nf->sealed = c.old->sealed; /* sealed anew, at the new positions */
	c.nf->key = c.old->key;
	if (c.o->seal) { /* a plain store (checked at the start), sealed from now on */
		c.nf->sealed = true;
		c.nf->key = *c.o->seal;
	}
	/* The new file replaces the old one: it keeps its owner (root may be
	 * compacting a user's store). Not possible unprivileged, not needed. */
	if (c.old->ops->fstat(c.old->ctx, c.old->fd, &sb) == 0 &&
	    (sb.st_uid != geteuid() || sb.st_gid != getegid()) && st->ops->fchown &&
	    st->ops->fchown(st->ctx, c.nf->fd, sb.st_uid, sb.st_gid) < 0 && errno != EPERM) {
		rc = st_fail_errno(errno, "chown", c.tmp);
		goto out;
	}
	st_writer_init(&c.w, c.nf, 0, st->flags & ST_NOSYNC);
	/* The copy goes to the disk as it is made, a little at a time, not
	 * in bursts that a writer's fdatasync would queue behind. */
	c.w.wb_chunk = COPY_WB_CHUNK;
	/* The batch and the copy buffer grow as the store needs them. */

	/* 1. The unlocked copy of the kept versions up to h0. */
	if ((rc = collect_headers(&c, &h0, UINT64_MAX, &v, &n)) != ST_OK)
		goto out;
	c.stats.versions_before = n;
	if (!(keep = calloc(n, sizeof(*keep)))) {
		rc = st_fail_oom();
		goto out;
	}
	now = compact_now(&c);
	st_retention_apply(c.o->keep, now, v, n, keep);
	c.stats.quiet_ns = quiet_for(c.o->keep, now, v, n, keep);
	if (st->kind == ST_KIND_FILE) {
		/* Pass 1: which pages of each record the kept versions use. */
		c.ranging = true;
		for (size_t i = n; i-- > 0 && rc == ST_OK;) {
			struct tree t;
			if (!keep[i])
				continue;
			t = tree_of(&v[i]);
			rc = st_tree_diff(c.old, c.limit, &from, &t, apply_cb, &c);
			from = t;
		}
		c.ranging = false;
		memset(&from, 0, sizeof(from));
		if (rc > 0)
			rc = ST_ECORRUPT;
		if (rc != ST_OK)
			goto out;
	}
	for (size_t i = n; i-- > 0 && rc == ST_OK;) {
		if (!keep[i])
			continue;
		rc = replay(&c, &from, &v[i]);
		from = tree_of(&v[i]);
	}
	if (rc != ST_OK || (rc = hook(&c, ST_STEP_COPY)) != ST_OK)
		goto out;
	c.stats.bytes_copied = c.w.end;
	c.caught_up = true;

	/* 2. Unlocked catch-up passes while writers go on, until a pass finds
	 * nothing new or replays a small delta (what comes during a short
	 * pass is smaller still: that is what the locked step replays), or
	 * after max_passes. The copy is synced first, and again whenever
	 * SYNC_SLACK bytes are not, so the sync after the switch is short. */
	uint64_t last_seq = h0.seq, synced = 0, delta, reserve;
	for (unsigned pass = 0;; pass++) {
		if (c.w.end - synced > SYNC_SLACK) {
			if ((rc = st_writer_sync(&c.w)) != ST_OK)
				goto out;
			synced = c.w.end;
		}
		if (pass == max_passes)
			break;
		if ((rc = catch_up(&c, &from, &last_seq, &delta)) != ST_OK)
			goto out;
		if (delta == 0 || (delta <= FINAL_DELTA && c.w.end - synced <= SYNC_SLACK))
			break;
	}
	/* The old file's reserve of zeros (commit.c) goes over to the new one,
	 * synced now, at least LOCKED_MAX of it for the locked step's delta:
	 * the commits after the switch then write into blocks the file has,
	 * as they did. Not reserve + LOCKED_MAX: the store would carry the
	 * sum over to the next compaction, and its reserve would grow by
	 * LOCKED_MAX with each one. */
	pthread_mutex_lock(&st->wlock);
	reserve = st_writer_reserved(&st->w);
	pthread_mutex_unlock(&st->wlock);
	if (reserve && reserve < LOCKED_MAX)
		reserve = LOCKED_MAX;
	if (reserve && ((rc = st_writer_flush(&c.w)) != ST_OK ||
			(rc = st_writer_reserve(&c.w, reserve)) != ST_OK ||
			(rc = st_writer_sync(&c.w)) != ST_OK))
		goto out;
	/* 3. Final catch-up under the lock, and the switch; or, if too much
	 * came meanwhile, another pass first (within max_passes). */
	bool switched;
	for (unsigned tries = 0;; tries++) {
		rc = final_switch(&c, &from, last_seq, tries < max_passes, &switched);
		if (rc != ST_OK || switched ||
		    (rc = catch_up(&c, &from, &last_seq, &delta)) != ST_OK)
			break;
		if (delta == 0) { /* staged data: let its commit come */
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	/* 4. Sync, rename, directory sync, with no lock. */
	if (switched) {
		int rc2 = finish_switch(&c);

		if (rc == ST_OK)
			rc = rc2;
	}
	if (switched)
		c.stats.bytes_after = c.w.end;
out:
	if (c.tmp) {
		st->ops->unlink(st->ctx, c.tmp);
		free(c.tmp);
	}
	pthread_mutex_lock(&st->wlock);
	st->compacting = false;
	pthread_mutex_unlock(&st->wlock);
	if (stats)
		*stats = c.stats;
	st_writer_release(&c.w);
	st_file_unref(c.nf);
	st_file_unref(c.old);
	free(keep);
	free(v);
	free(c.batch);
	free(c.keys);
	free(c.vals);
	free(c.pages);
	free(c.map);
	return rc;
}
