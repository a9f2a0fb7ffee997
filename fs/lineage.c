/*
 * lineage.c - a path's history goes on across the files that take its
 * place (docs/FORMAT.md, section 19, "Lineage"). When a regular file
 * leaves a name (unlink, or rename away) the name is marked vacated; the
 * next regular file to take the name (create, or rename in) takes up the
 * history of the one that left, and a file renamed over another (an
 * editor's atomic save) takes up the history of the one it replaces.
 * history/ (vhistory.c) then lists the versions along the lineage, and the
 * graveyard keeps a replaced file's store while a lineage names it.
 *
 * Only in backing directories made with the feature (NS_FEAT_LINEAGE); all
 * of it under fs->ns_lock, staged for the flusher's next namespace commit.
 */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static bool lineage_on(const struct fs *fs)
{
	return !fs->o.ro && (fs->sb.incompat & NS_FEAT_LINEAGE);
}

struct gather {
	uint64_t cut, seen;
	st_store *st;
	struct meta_cache mc;
	struct ns_linver *v;
	size_t n, cap;
};

/* history/'s rule: saves, and the newest commit; none after the cut. */
static int gather_cb(void *arg, const struct st_version *v)
{
	struct gather *g = arg;

	if ((g->seen++ > 0 && v->interim) || v->time_ns > g->cut)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct ns_linver *nv;

		if (cap > NS_LINVER_MAX || !(nv = realloc(g->v, cap * sizeof(*nv))))
			return 1; /* the newest are kept: enough */
		g->v = nv;
		g->cap = cap;
	}
	memset(&g->v[g->n], 0, sizeof(g->v[g->n]));
	g->v[g->n].perm_known =
	    meta_perm(g->st, v, &g->mc, &g->v[g->n].perm, &g->v[g->n].has_xattrs);
	g->v[g->n].seq = v->seq;
	g->v[g->n].time_ns = v->time_ns;
	g->v[g->n].size = v->size;
	g->v[g->n++].offset = v->offset;
	return 0;
}

/*
 * The listed versions of file ino up to cut, newest first, for the lineage
 * record of the file that takes its place, so that listing a long lineage
 * reads the namespace and not every store. ns_lock held: a read-only open
 * of the store and a walk of its headers, small for the files a save
 * replaces. NULL and 0 if it cannot be read: the record keeps none, and a
 * listing reads the store.
 */
static struct ns_linver *versions_of(struct fs *fs, uint64_t ino, uint64_t cut, size_t *n)
{
	struct gather g = {.cut = cut};
	st_store *st;

	*n = 0;
	if (ns_file_open(fs->backing, &fs->sb, ino, ST_READONLY, NULL, &st) != ST_OK)
		return NULL;
	g.st = st;
	if (st_versions(st, gather_cb, &g) < 0) {
		free(g.v);
		g.v = NULL;
		g.n = 0;
	}
	st_close(st);
	*n = g.n;
	return g.v;
}

static void link_to(struct fs *fs, uint64_t ino, uint64_t pred, uint64_t cut)
{
	size_t n;
	struct ns_linver *v = versions_of(fs, pred, cut, &n);

	ns_lineage_put(fs->ns, ns_lineage_form(&fs->sb), ino, pred, cut, v, n);
	free(v);
}

void lin_refresh(struct fs *fs, uint64_t ino)
{
	uint64_t pred, cut;

	if (ns_lineage_get(fs->ns, ino, &pred, &cut) == ST_OK)
		link_to(fs, ino, pred, cut);
}

/* Whether x is a regular file, and (versioned) whether it ever had a
 * version: read under x->lock, which the flusher holds to change them
 * (the callers hold ns_lock, taken before it). */
static bool regular(struct inode *x, bool *versioned)
{
	bool reg;

	pthread_mutex_lock(&x->lock);
	reg = S_ISREG(x->a.mode);
	if (versioned)
		*versioned = x->committed_seq > 0;
	pthread_mutex_unlock(&x->lock);
	return reg;
}

void lin_vacate(struct fs *fs, uint64_t dir, const char *name, struct inode *x)
{
	bool versioned;

	/* A file that never had a version leaves nothing to go on with: a
	 * temporary file renamed into place leaves no mark behind it. */
	if (!lineage_on(fs) || !regular(x, &versioned) || !versioned)
		return;
	if (ns_vacated_put(fs->ns, dir, name, x->ino, st_realtime_ns()) == ST_OK)
		fs->ns_dirty = true;
}

void lin_take(struct fs *fs, uint64_t dir, const char *name, struct inode *x, bool fresh)
{
	uint64_t v, t, p, c;

	if (!lineage_on(fs) || !regular(x, NULL) ||
	    ns_vacated_get(fs->ns, dir, name, &v, &t) != ST_OK)
		return;
	ns_vacated_del(fs->ns, dir, name);
	fs->ns_dirty = true;
	/* A file moved in brings its own history; one made here, or with
	 * none, takes up the name's. Never a file's own past as its
	 * predecessor (a file renamed away and back). */
	if (v == x->ino || (!fresh && ns_lineage_get(fs->ns, x->ino, &p, &c) == ST_OK))
		return;
	link_to(fs, x->ino, v, t);
}

struct succ {
	uint64_t gone;
	struct u64s l; /* the records that name it */
};

static int succ_cb(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns)
{
	struct succ *s = arg;

	(void)cut_ns;
	return pred == s->gone ? u64s_push(&s->l, ino) : 0;
}

void lin_bypass(struct fs *fs, uint64_t gone)
{
	struct succ s = {.gone = gone};
	struct ns_linver *kv = NULL;
	uint64_t pp = 0, cc = 0;
	size_t nkv = 0;
	bool has;

	if (!(fs->sb.incompat & NS_FEAT_LINEAGE) || ns_lineage_list(fs->ns, succ_cb, &s) != ST_OK ||
	    s.l.n == 0) {
		free(s.l.v);
		return;
	}
	has = ns_lineage_get(fs->ns, gone, &pp, &cc) == ST_OK &&
	      ns_lineage_versions(fs->ns, gone, &kv, &nkv) == ST_OK;
	for (size_t i = 0; i < s.l.n; i++) {
		uint64_t p, c;
		size_t k = 0;

		if (!has || ns_lineage_get(fs->ns, s.l.v[i], &p, &c) != ST_OK) {
			ns_lineage_del(fs->ns, s.l.v[i]);
			continue;
		}
		if (cc < c)
			c = cc;
		while (k < nkv && kv[k].time_ns > c) /* newest first: past the cut */
			k++;
		ns_lineage_put(fs->ns, ns_lineage_form(&fs->sb), s.l.v[i], pp, c, kv + k, nkv - k);
	}
	fs->ns_dirty = true;
	free(kv);
	free(s.l.v);
}

void lin_replace(struct fs *fs, uint64_t dir, const char *name, struct inode *x, struct inode *y)
{
	if (!lineage_on(fs) || x->ino == y->ino || !regular(x, NULL) || !regular(y, NULL))
		return;
	/* The path's history wins over the one the file brings: an atomic
	 * save's temporary file had none worth keeping. */
	ns_vacated_del(fs->ns, dir, name);
	link_to(fs, x->ino, y->ino, st_realtime_ns());
	fs->ns_dirty = true;
}
