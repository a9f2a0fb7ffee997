/*
 * btree.c - the copy-on-write B+tree every store keeps its contents in.
 *
 * Keys are byte strings ordered by memcmp (then length). Interior entries
 * hold the smallest key of their child's subtree, the child's offset, and
 * the child's reduce values (entries, live bytes), so the root knows the
 * totals without a scan. Nodes are immutable once written: a change writes
 * new nodes from the changed leaves up to a new root, and everything else
 * is shared with the previous version. That sharing is what st_tree_diff
 * uses to find what changed between two versions without reading all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

int st_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m ? memcmp(a, b, m) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

uint64_t st_value_bytes(enum st_kind kind, const uint8_t *val, size_t vlen)
{
	if (kind == ST_KIND_FILE && vlen == EXT_VAL_SIZE) {
		uint32_t np = st_get32(val + 16), tail = st_get32(val + 20);
		return np ? (uint64_t)(np - 1) * BLOCK_SIZE + tail : 0;
	}
	return 0;
}

/*
 * The node cache: checked payloads of tree nodes, by (file, offset). A node
 * is never rewritten once appended, so an entry never goes stale; it only
 * ages out. Direct-mapped, with striped locks: a lookup costs a hash and a
 * copy instead of a pread and a CRC. Files are told apart by their unique
 * id, so a reused pointer cannot match an old entry.
 */
#define NC_SLOTS   4096u /* at most this many payloads (about 16 MiB) */
#define NC_STRIPES 64u

struct nc_slot {
	uint64_t file_id, pos;
	uint8_t *buf;
	uint32_t len;
};

static struct nc_slot nc_slots[NC_SLOTS];
static pthread_mutex_t nc_locks[NC_STRIPES] = {[0 ... NC_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static uint32_t nc_hash(uint64_t id, uint64_t pos)
{
	/* The whole offset: nodes are smaller than a block, and the nodes of
	 * one commit sit side by side, so a block number would put them all
	 * in one slot to evict each other. */
	uint64_t h = (pos * 0x9e3779b97f4a7c15ull) ^ (id * 0xc2b2ae3d27d4eb4full);

	return (uint32_t)(h >> 40) % NC_SLOTS;
}

/* A copy of the cached payload of the node at pos, or NULL. */
static uint8_t *nc_get(const struct st_file *f, uint64_t pos, uint32_t *len)
{
	uint32_t i = nc_hash(f->id, pos);
	struct nc_slot *s = &nc_slots[i];
	uint8_t *copy = NULL;

	pthread_mutex_lock(&nc_locks[i % NC_STRIPES]);
	if (s->buf && s->file_id == f->id && s->pos == pos && (copy = malloc(s->len))) {
		memcpy(copy, s->buf, s->len);
		*len = s->len;
	}
	pthread_mutex_unlock(&nc_locks[i % NC_STRIPES]);
	return copy;
}

static void nc_put(const struct st_file *f, uint64_t pos, const uint8_t *buf, uint32_t len)
{
	uint32_t i = nc_hash(f->id, pos);
	struct nc_slot *s = &nc_slots[i];
	uint8_t *copy = malloc(len);

	if (!copy)
		return;
	memcpy(copy, buf, len);
	pthread_mutex_lock(&nc_locks[i % NC_STRIPES]);
	free(s->buf);
	s->file_id = f->id;
	s->pos = pos;
	s->buf = copy;
	s->len = len;
	pthread_mutex_unlock(&nc_locks[i % NC_STRIPES]);
}

void st_node_cache_forget(const struct st_file *f, uint64_t from)
{
	for (uint32_t i = 0; i < NC_SLOTS; i++) {
		struct nc_slot *s = &nc_slots[i];

		pthread_mutex_lock(&nc_locks[i % NC_STRIPES]);
		if (s->buf && s->file_id == f->id && s->pos >= from) {
			free(s->buf);
			s->buf = NULL;
		}
		pthread_mutex_unlock(&nc_locks[i % NC_STRIPES]);
	}
}

int st_node_read(struct st_file *f, uint64_t pos, uint64_t limit, struct tnode *n)
{
	uint8_t *buf;
	uint32_t len;
	int rc;

	/* A node must lie before the header (or parent) that points at it;
	 * a cached one did when it was read, and still must now. */
	if (pos < limit && (buf = nc_get(f, pos, &len)) != NULL) {
		rc = st_node_decode(buf, len, pos, n);
		if (rc == ST_OK) {
			n->buf = buf;
			n->len = len;
			return ST_OK;
		}
		free(buf); /* decoded fine once; read it again to report properly */
	}
	rc = st_record_read(f, pos, limit, 1u << REC_LEAF | 1u << REC_INTERIOR, &buf, &len);
	if (rc != ST_OK)
		return rc;
	nc_put(f, pos, buf, len);
	rc = st_node_decode(buf, len, pos, n);
	if (rc != ST_OK) {
		free(buf);
		if (rc == ST_ECORRUPT)
			return st_fail(rc, 0, pos, "%s: malformed tree node at offset %llu",
				       f->path, (unsigned long long)pos);
		return st_fail_oom();
	}
	n->buf = buf;
	n->len = len;
	return ST_OK;
}

/* Reads a child and checks it sits one level below its parent. */
static int child_read(struct st_file *f, const struct tnode *parent, uint32_t i, struct tnode *n)
{
	int rc = st_node_read(f, parent->e[i].child, parent->pos, n);

	if (rc == ST_OK && n->level + 1 != parent->level) {
		st_node_free(n);
		return st_fail(ST_ECORRUPT, 0, parent->e[i].child,
			       "%s: tree node at offset %llu has the wrong level", f->path,
			       (unsigned long long)parent->e[i].child);
	}
	return rc;
}

/* Index of the child whose subtree would hold key: the last separator
 * <= key, or the first child. */
static uint32_t child_for(const struct tnode *n, const uint8_t *key, size_t klen)
{
	uint32_t lo = 0, hi = n->n;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (st_keycmp(n->e[mid].key, n->e[mid].klen, key, klen) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* First leaf index with key >= k. */
static uint32_t lower_bound(const struct tnode *n, const uint8_t *key, size_t klen)
{
	uint32_t lo = 0, hi = n->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (st_keycmp(n->e[mid].key, n->e[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int st_tree_get(struct st_file *f, uint64_t limit, const struct tree *t, const void *key,
		size_t klen, uint8_t **val, uint32_t *vlen)
{
	struct tnode n;
	uint32_t i;
	int rc;

	if (t->root == 0)
		return ST_ENOTFOUND;
	if ((rc = st_node_read(f, t->root, limit, &n)) != ST_OK)
		return rc;
	while (n.level > 0) {
		struct tnode c;

		rc = child_read(f, &n, child_for(&n, key, klen), &c);
		st_node_free(&n);
		if (rc != ST_OK)
			return rc;
		n = c;
	}
	i = lower_bound(&n, key, klen);
	rc = ST_ENOTFOUND;
	if (i < n.n && st_keycmp(n.e[i].key, n.e[i].klen, key, klen) == 0) {
		*val = malloc(n.e[i].vlen ? n.e[i].vlen : 1);
		if (!*val) {
			rc = st_fail_oom();
		} else {
			memcpy(*val, n.e[i].val, n.e[i].vlen);
			*vlen = n.e[i].vlen;
			rc = ST_OK;
		}
	}
	st_node_free(&n);
	return rc;
}

/* ---- iteration ---------------------------------------------------------- */

struct iter {
	struct st_file *f;
	const uint8_t *start;
	size_t slen;
	bool floor;
	bool positioned; /* past the first leaf: take every entry */
	tree_cb cb;
	void *arg;
	/* The last key handed out. Keys must rise from leaf to leaf: a
	 * crafted file whose pointers share a subtree would otherwise make
	 * a walk repeat it without bound. */
	bool have_last;
	uint16_t last_len;
	uint8_t last[ST_MAX_KEY];
};

static int iter_corrupt(struct iter *it, const struct tnode *n)
{
	return st_fail(ST_ECORRUPT, 0, n->pos, "%s: keys out of order at tree node %llu",
		       it->f->path, (unsigned long long)n->pos);
}

static int iter_node(struct iter *it, struct tnode *n)
{
	uint32_t i = 0;
	int rc = 0;

	if (n->level == 0) {
		if (!it->positioned) {
			i = lower_bound(n, it->start, it->slen);
			if (it->floor && i > 0 &&
			    (i == n->n ||
			     st_keycmp(n->e[i].key, n->e[i].klen, it->start, it->slen)))
				i--;
			it->positioned = true;
		}
		if (i < n->n && it->have_last &&
		    st_keycmp(it->last, it->last_len, n->e[i].key, n->e[i].klen) >= 0)
			return iter_corrupt(it, n);
		for (; i < n->n && rc == 0; i++)
			rc = it->cb(it->arg, n->e[i].key, n->e[i].klen, n->e[i].val, n->e[i].vlen);
		memcpy(it->last, n->e[i - 1].key, n->e[i - 1].klen);
		it->last_len = n->e[i - 1].klen;
		it->have_last = true;
		return rc;
	}
	if (!it->positioned)
		i = child_for(n, it->start, it->slen);
	for (; i < n->n && rc == 0; i++) {
		struct tnode c;

		if ((rc = child_read(it->f, n, i, &c)) != ST_OK)
			return rc;
		rc = iter_node(it, &c);
		st_node_free(&c);
	}
	return rc;
}

int st_tree_iter(struct st_file *f, uint64_t limit, const struct tree *t, const void *start,
		 size_t slen, bool floor, tree_cb cb, void *arg)
{
	struct iter *it;
	struct tnode n;
	int rc;

	if (t->root == 0)
		return 0;
	if (!(it = malloc(sizeof(*it))))
		return st_fail_oom();
	*it = (struct iter){
	    .f = f, .start = start, .slen = slen, .floor = floor, .cb = cb, .arg = arg};
	if ((rc = st_node_read(f, t->root, limit, &n)) == ST_OK) {
		rc = iter_node(it, &n);
		st_node_free(&n);
	}
	free(it);
	return rc;
}

/* ---- modification ------------------------------------------------------- */

/* One entry of a node being built. Interior items own their key. */
struct item {
	const uint8_t *key;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t klen;
	bool owned;
	uint64_t ptr;
	struct reduce r;
};

struct items {
	struct item *v;
	size_t n, cap;
};

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		if (it->v[i].owned)
			free((void *)it->v[i].key);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

static int items_push(struct items *it, const struct item *x)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 64;
		struct item *v = realloc(it->v, cap * sizeof(*v));
		if (!v)
			return st_fail_oom();
		it->v = v;
		it->cap = cap;
	}
	it->v[it->n++] = *x;
	return ST_OK;
}

/* Pushes an interior item for a child, copying its key. */
static int items_push_child(struct items *it, const uint8_t *key, uint16_t klen, uint64_t ptr,
			    struct reduce r)
{
	struct item x = {.klen = klen, .owned = true, .ptr = ptr, .r = r};
	uint8_t *k = malloc(klen ? klen : 1);
	int rc;

	if (!k)
		return st_fail_oom();
	memcpy(k, key, klen);
	x.key = k;
	if ((rc = items_push(it, &x)) != ST_OK)
		free(k);
	return rc;
}

struct mod {
	struct st_file *f;
	struct writer *w;
	enum st_kind kind;
	uint64_t limit;
};

static size_t item_size(const struct item *x, uint8_t level)
{
	return level == 0 ? 6u + x->klen + x->vlen : 2u + x->klen + 24u;
}

/* Writes items [0, n) as one node of the given level; pushes its entry. */
static int write_node(struct mod *m, uint8_t level, const struct item *x, size_t n, size_t bytes,
		      struct items *out)
{
	uint8_t *buf = malloc(NODE_HDR_SIZE + bytes), *p;
	struct reduce r = {0, 0};
	struct iovec iov;
	uint64_t pos;
	int rc;

	if (!buf)
		return st_fail_oom();
	buf[0] = level ? REC_INTERIOR : REC_LEAF;
	buf[1] = level;
	st_put16(buf + 2, (uint16_t)n);
	p = buf + NODE_HDR_SIZE;
	for (size_t i = 0; i < n; i++) {
		st_put16(p, x[i].klen);
		p += 2;
		if (level == 0) {
			st_put32(p, x[i].vlen);
			memcpy(p + 4, x[i].key, x[i].klen);
			memcpy(p + 4 + x[i].klen, x[i].val, x[i].vlen);
			p += 4 + x[i].klen + x[i].vlen;
			r.count++;
			r.bytes += st_value_bytes(m->kind, x[i].val, x[i].vlen);
		} else {
			memcpy(p, x[i].key, x[i].klen);
			p += x[i].klen;
			st_put64(p, x[i].ptr);
			st_put64(p + 8, x[i].r.count);
			st_put64(p + 16, x[i].r.bytes);
			p += 24;
			r.count += x[i].r.count;
			r.bytes += x[i].r.bytes;
		}
	}
	iov.iov_base = buf;
	iov.iov_len = NODE_HDR_SIZE + bytes;
	r.bytes += REC_HDR_SIZE + iov.iov_len;
	rc = st_writer_record(m->w, &iov, 1, 1, &pos);
	if (rc == ST_OK) {
		/* The next commit reads it again, most likely. */
		nc_put(m->w->f, pos, buf, (uint32_t)iov.iov_len);
		rc = items_push_child(out, x[0].key, x[0].klen, pos, r);
	}
	free(buf);
	return rc;
}

/* Packs items into as few nodes as fit NODE_TARGET, evenly filled. */
static int emit_nodes(struct mod *m, uint8_t level, const struct items *in, struct items *out)
{
	size_t total = 0, k, start = 0, acc = 0, done_nodes = 0;
	int rc;

	for (size_t i = 0; i < in->n; i++)
		total += item_size(&in->v[i], level);
	if (in->n == 0)
		return ST_OK;
	k = (total + NODE_TARGET - 1) / NODE_TARGET;
	if (k == 0)
		k = 1;
	if (k > in->n)
		k = in->n;
	for (size_t i = 0; i < in->n; i++) {
		size_t sz = item_size(&in->v[i], level);
		size_t left_nodes = k - done_nodes;
		/* Cut before this item when the node has its share, or it would
		 * overflow, as long as enough items are left for later nodes. */
		if (i > start && left_nodes > 1 &&
		    (acc >= total / k || acc + sz > NODE_TARGET || i - start >= 65535)) {
			if ((rc = write_node(m, level, in->v + start, i - start, acc, out)) !=
			    ST_OK)
				return rc;
			done_nodes++;
			start = i;
			acc = 0;
		} else if (i > start && (acc + sz > 2 * NODE_TARGET || i - start >= 65535)) {
			/* More items than the estimate: keep nodes bounded anyway. */
			if ((rc = write_node(m, level, in->v + start, i - start, acc, out)) !=
			    ST_OK)
				return rc;
			start = i;
			acc = 0;
		}
		acc += sz;
	}
	return write_node(m, level, in->v + start, in->n - start, acc, out);
}

static int mod_node(struct mod *m, uint64_t ptr, int level, uint64_t limit, struct action *a,
		    size_t na, struct items *out, uint8_t *got_level);

static int mod_leaf(struct mod *m, struct tnode *n, struct action *a, size_t na, struct items *out)
{
	struct items merged = {0};
	uint32_t i = 0;
	size_t j = 0;
	int rc = ST_OK;

	while (rc == ST_OK && (i < n->n || j < na)) {
		int c;
		struct item x = {0};

		if (j == na)
			c = -1;
		else if (i == n->n)
			c = 1;
		else
			c = st_keycmp(n->e[i].key, n->e[i].klen, a[j].key, a[j].klen);
		if (c < 0) {
			x.key = n->e[i].key;
			x.klen = n->e[i].klen;
			x.val = n->e[i].val;
			x.vlen = n->e[i].vlen;
			rc = items_push(&merged, &x);
			i++;
			continue;
		}
		if (a[j].op == ACT_PUT) {
			x.key = a[j].key;
			x.klen = a[j].klen;
			x.val = a[j].val;
			x.vlen = a[j].vlen;
			rc = items_push(&merged, &x);
		}
		if (c == 0)
			i++;
		j++;
	}
	if (rc == ST_OK)
		rc = emit_nodes(m, 0, &merged, out);
	items_free(&merged);
	return rc;
}

static int mod_interior(struct mod *m, struct tnode *n, struct action *a, size_t na,
			struct items *out)
{
	struct items kids = {0};
	size_t lo = 0;
	int rc = ST_OK;

	for (uint32_t i = 0; i < n->n && rc == ST_OK; i++) {
		size_t hi = na;

		if (i + 1 < n->n) {
			const struct tentry *nx = &n->e[i + 1];
			hi = lo;
			while (hi < na && st_keycmp(a[hi].key, a[hi].klen, nx->key, nx->klen) < 0)
				hi++;
		}
		if (hi == lo) {
			rc = items_push_child(&kids, n->e[i].key, n->e[i].klen, n->e[i].child,
					      n->e[i].r);
		} else {
			uint8_t lvl;
			rc = mod_node(m, n->e[i].child, n->level - 1, n->pos, a + lo, hi - lo,
				      &kids, &lvl);
		}
		lo = hi;
	}
	if (rc == ST_OK)
		rc = emit_nodes(m, n->level, &kids, out);
	items_free(&kids);
	return rc;
}

static int mod_node(struct mod *m, uint64_t ptr, int level, uint64_t limit, struct action *a,
		    size_t na, struct items *out, uint8_t *got_level)
{
	struct tnode n;
	int rc;

	if ((rc = st_node_read(m->f, ptr, limit, &n)) != ST_OK)
		return rc;
	if (level >= 0 && n.level != level) {
		st_node_free(&n);
		return st_fail(ST_ECORRUPT, 0, ptr,
			       "%s: tree node at offset %llu has the wrong level", m->f->path,
			       (unsigned long long)ptr);
	}
	*got_level = n.level;
	rc = n.level ? mod_interior(m, &n, a, na, out) : mod_leaf(m, &n, a, na, out);
	st_node_free(&n);
	return rc;
}

int st_tree_modify(struct st_file *f, struct writer *w, enum st_kind kind, const struct tree *in,
		   struct action *acts, size_t nacts, struct tree *out)
{
	struct mod m = {f, w, kind, w->end};
	struct items top = {0}, up = {0};
	uint8_t level = 0;
	int rc;

	*out = *in;
	if (nacts == 0)
		return ST_OK;
	if (in->root == 0) {
		struct tnode empty = {0};
		rc = mod_leaf(&m, &empty, acts, nacts, &top);
	} else {
		rc = mod_node(&m, in->root, -1, m.limit, acts, nacts, &top, &level);
	}
	while (rc == ST_OK && top.n > 1) {
		level++;
		if (level > TREE_MAX_LEVEL) {
			rc = st_fail(ST_ETOOBIG, 0, 0, "tree too deep");
			break;
		}
		rc = emit_nodes(&m, level, &top, &up);
		items_free(&top);
		top = up;
		memset(&up, 0, sizeof(up));
	}
	if (rc != ST_OK)
		goto out;
	out->root = 0;
	out->r.count = out->r.bytes = 0;
	if (top.n == 0)
		goto out;
	out->root = top.v[0].ptr;
	out->r = top.v[0].r;
	/* A root with one child is replaced by that child: the tree shrinks. */
	while (level > 0) {
		struct tnode n;

		/* Nodes just written are still in the writer's buffer. */
		if ((rc = st_writer_flush(w)) != ST_OK)
			break;
		if ((rc = st_node_read(f, out->root, w->end, &n)) != ST_OK)
			break;
		if (n.n != 1) {
			st_node_free(&n);
			break;
		}
		out->root = n.e[0].child;
		out->r = n.e[0].r;
		st_node_free(&n);
		level--;
	}
out:
	items_free(&top);
	items_free(&up);
	return rc;
}

/* ---- diff ---------------------------------------------------------------- */

/* Walks a tree in key order, handing out whole subtrees until asked to
 * open them, so that a subtree both trees share is skipped unread. */
struct walker {
	struct st_file *f;
	bool have_last; /* as in struct iter: leaf keys must rise */
	uint16_t last_len;
	uint8_t last[ST_MAX_KEY];
	struct tnode st[TREE_MAX_LEVEL + 1];
	uint32_t idx[TREE_MAX_LEVEL + 1];
	int depth;
};

static int walker_init(struct walker *w, struct st_file *f, uint64_t limit, uint64_t root)
{
	int rc;

	w->f = f;
	w->depth = 0;
	w->have_last = false;
	if (root == 0)
		return ST_OK;
	if ((rc = st_node_read(f, root, limit, &w->st[0])) != ST_OK)
		return rc;
	w->idx[0] = 0;
	w->depth = 1;
	return ST_OK;
}

static void walker_release(struct walker *w)
{
	while (w->depth > 0)
		st_node_free(&w->st[--w->depth]);
}

/* The entry in front, or NULL when done. *level: -1 for a leaf entry, else
 * the level of the subtree it stands for. */
static const struct tentry *walker_front(struct walker *w, int *level)
{
	while (w->depth > 0 && w->idx[w->depth - 1] >= w->st[w->depth - 1].n)
		st_node_free(&w->st[--w->depth]);
	if (w->depth == 0)
		return NULL;
	*level = (int)w->st[w->depth - 1].level - 1;
	return &w->st[w->depth - 1].e[w->idx[w->depth - 1]];
}

static void walker_next(struct walker *w)
{
	w->idx[w->depth - 1]++;
}

/* Consumes the leaf entry in front, checking that keys rise. */
static int walker_take(struct walker *w, const struct tentry *e)
{
	if (w->have_last && st_keycmp(w->last, w->last_len, e->key, e->klen) >= 0)
		return st_fail(ST_ECORRUPT, 0, w->st[w->depth - 1].pos,
			       "%s: keys out of order at tree node %llu", w->f->path,
			       (unsigned long long)w->st[w->depth - 1].pos);
	memcpy(w->last, e->key, e->klen);
	w->last_len = e->klen;
	w->have_last = true;
	walker_next(w);
	return ST_OK;
}

/* Replaces the subtree in front by its entries. */
static int walker_open(struct walker *w)
{
	struct tnode *parent = &w->st[w->depth - 1];
	uint32_t i = w->idx[w->depth - 1]++;
	int rc;

	if (w->depth > (int)TREE_MAX_LEVEL)
		return st_fail(ST_ECORRUPT, 0, parent->pos, "%s: tree too deep", w->f->path);
	if ((rc = child_read(w->f, parent, i, &w->st[w->depth])) != ST_OK)
		return rc;
	w->idx[w->depth] = 0;
	w->depth++;
	return ST_OK;
}

static int emit(diff_cb cb, void *arg, uint8_t op, const struct tentry *e)
{
	struct action a = {e->key, op == ACT_PUT ? e->val : NULL, op == ACT_PUT ? e->vlen : 0,
			   e->klen, op};
	return cb(arg, &a);
}

int st_tree_diff(struct st_file *f, uint64_t limit, const struct tree *a, const struct tree *b,
		 diff_cb cb, void *arg)
{
	struct walker wa, wb;
	int rc;

	if (a->root == b->root)
		return ST_OK;
	if ((rc = walker_init(&wa, f, limit, a->root)) != ST_OK)
		return rc;
	if ((rc = walker_init(&wb, f, limit, b->root)) != ST_OK) {
		walker_release(&wa);
		return rc;
	}
	for (;;) {
		int la = 0, lb = 0;
		const struct tentry *ea = walker_front(&wa, &la);
		const struct tentry *eb = walker_front(&wb, &lb);

		if (!ea && !eb)
			break;
		if (ea && eb && la >= 0 && lb >= 0 && ea->child == eb->child) {
			walker_next(&wa); /* the same subtree in both: nothing changed */
			walker_next(&wb);
			continue;
		}
		/* Open subtrees until both fronts are entries; the higher first. */
		if (ea && la >= 0 && (!eb || la >= lb)) {
			if ((rc = walker_open(&wa)) != ST_OK)
				break;
			continue;
		}
		if (eb && lb >= 0) {
			if ((rc = walker_open(&wb)) != ST_OK)
				break;
			continue;
		}
		int c = !ea ? 1 : !eb ? -1 : st_keycmp(ea->key, ea->klen, eb->key, eb->klen);
		if (c < 0) {
			rc = emit(cb, arg, ACT_DEL, ea);
			if (rc == ST_OK)
				rc = walker_take(&wa, ea);
		} else if (c > 0) {
			rc = emit(cb, arg, ACT_PUT, eb);
			if (rc == ST_OK)
				rc = walker_take(&wb, eb);
		} else {
			if (ea->vlen != eb->vlen || memcmp(ea->val, eb->val, ea->vlen))
				rc = emit(cb, arg, ACT_PUT, eb);
			if (rc == ST_OK)
				rc = walker_take(&wa, ea);
			if (rc == ST_OK)
				rc = walker_take(&wb, eb);
		}
		if (rc != ST_OK)
			break;
	}
	walker_release(&wa);
	walker_release(&wb);
	return rc;
}
