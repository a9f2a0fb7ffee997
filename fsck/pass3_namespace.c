/*
 * pass3_namespace.c - pass 3: the namespace against itself and the stores.
 *
 * Checks: every key is well formed (type, length, value); the root is
 * inode 1, a directory whose parent is 1; every inode record decodes;
 * every entry is in a directory and names an inode that exists, with the
 * right type and a valid name; each directory has one entry, and its
 * parent field names the directory holding it; every directory is
 * reachable from the root (no cycles); every other inode has an entry or
 * is an orphan (nlink 0 and an 'O' key); link counts (files: their
 * entries; directories: 2 + subdirectories); every regular file's store
 * exists and holds its size (equal when the namespace is marked clean,
 * at least otherwise); every store is named by a regular file's inode;
 * 'O' and 'X' keys belong to existing inodes; next_ino is past every inode
 * and store number. Duplicate names cannot exist: an entry's key is
 * (parent, name), and a key-value store holds each key once.
 *
 * Repairs are staged on the namespace and committed once at the end: a
 * single new version, so an interruption leaves the old namespace whole.
 * Directories cut off from the root, inodes with no entry and stores no
 * inode names are linked into /lost+found as "#<ino>" (made if missing).
 *
 * Relies on: pass 2 (ns.rev opens and checks out; c->stores lists the file
 * stores with their sizes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck.h"

struct ient {
	uint64_t ino;
	struct ns_inode a;
	char *target; /* a symlink's, NUL-terminated */
	size_t tlen;
	bool bad;	  /* record did not decode: cleared */
	bool orphan;	  /* has an 'O' key */
	bool reached;	  /* directory reachable from the root */
	uint32_t links;	  /* accepted entries naming it */
	uint32_t subdirs; /* accepted directory entries in it */
	uint64_t dparent; /* directory: parent of its accepted entry, 0 none */
	uint32_t walk;	  /* stamp of the unreachable walk that saw it */
};

struct dent {
	uint64_t parent, ino;
	char name[256];
	uint8_t type;
	bool accepted;
};

struct ns {
	struct fsck *c;
	st_store *st;
	struct ient *in;
	size_t nin, incap;
	struct dent *de; /* in key order: by parent, then name */
	size_t nde, decap;
	struct xa {
		uint64_t ino;
		char *name;	/* NUL-terminated for messages */
		struct rawkey { /* a name may hold NULs: removed by its key */
			uint8_t *key;
			size_t len;
			unsigned type; /* the key's type byte, for messages */
		} raw;
	} * xa; /* xattrs */
	size_t nx, xcap;
	uint64_t *orphans;
	size_t norph, orphcap;
	uint64_t *graves; /* 'G' keys: deleted files kept for history */
	size_t ngrave, gravecap;
	struct pin {
		uint64_t ino, seq;
	} * pins; /* 'P' keys */
	size_t npin, pincap;
	struct lin {
		uint64_t ino, pred;
	} * lin; /* 'L' keys, by ino */
	size_t nlin, lincap;
	struct vac {
		uint64_t dir;
		char name[NS_NAME_MAX + 1];
	} * vac; /* 'V' keys */
	size_t nvac, vaccap;
	struct rawkey *bad; /* malformed keys, removed as they are */
	size_t nbad, badcap;
	bool has_next, clean;
	uint64_t next_ino;
	uint64_t lf; /* lost+found's inode, 0 if none yet */
	bool staged;
	int err;
};

#define GROW(arr, n, cap) ((n) < (cap) ? 0 : grow((void **)&(arr), &(cap), sizeof(*(arr))))

static int grow(void **arr, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *v = realloc(*arr, ncap * size);

	if (!v)
		return -1;
	*arr = v;
	*cap = ncap;
	return 0;
}

static struct ient *ifind(struct ns *n, uint64_t ino)
{
	size_t lo = 0, hi = n->nin;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n->in[mid].ino == ino)
			return n->in[mid].bad ? NULL : &n->in[mid];
		if (n->in[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A copy of a record's raw key, to remove it later. */
static int copy_key(const struct ns_rec *r, struct rawkey *k)
{
	k->key = malloc(r->klen ? r->klen : 1);
	if (!k->key)
		return ST_ENOMEM;
	memcpy(k->key, r->key, r->klen);
	k->len = r->klen;
	return 0;
}

static int add_bad(struct ns *n, const struct ns_rec *r)
{
	if (GROW(n->bad, n->nbad, n->badcap) || copy_key(r, &n->bad[n->nbad]))
		return ST_ENOMEM;
	n->bad[n->nbad++].type = r->key_type;
	return 0;
}

static int walk_cb(void *arg, const struct ns_rec *r)
{
	struct ns *n = arg;

	switch (r->kind) {
	case NS_REC_DIRENT: {
		struct dent *d;

		if (GROW(n->de, n->nde, n->decap))
			return ST_ENOMEM;
		d = &n->de[n->nde++];
		memset(d, 0, sizeof(*d));
		d->parent = r->ino;
		d->ino = r->child;
		d->type = r->type;
		memcpy(d->name, r->name, r->nlen);
		return 0;
	}
	case NS_REC_INODE: {
		struct ient *e;

		if (GROW(n->in, n->nin, n->incap))
			return ST_ENOMEM;
		e = &n->in[n->nin++];
		memset(e, 0, sizeof(*e));
		e->ino = r->ino;
		if (r->decode_rc != ST_OK || r->ino == 0) {
			e->bad = true;
			return 0;
		}
		e->a = r->inode;
		if (r->target) {
			e->target = malloc(r->tlen + 1);
			if (!e->target)
				return ST_ENOMEM;
			memcpy(e->target, r->target, r->tlen);
			e->target[r->tlen] = 0;
			e->tlen = r->tlen;
		}
		return 0;
	}
	case NS_REC_NEXT_INO:
		n->has_next = true;
		n->next_ino = r->next_ino;
		return 0;
	case NS_REC_CLEAN:
		n->clean = true;
		return 0;
	case NS_REC_META_OTHER:
		return 0; /* a newer daemon's: left alone */
	case NS_REC_ORPHAN:
		if (GROW(n->orphans, n->norph, n->orphcap))
			return ST_ENOMEM;
		n->orphans[n->norph++] = r->ino;
		return 0;
	case NS_REC_GRAVE:
		if (GROW(n->graves, n->ngrave, n->gravecap))
			return ST_ENOMEM;
		n->graves[n->ngrave++] = r->ino;
		return 0;
	case NS_REC_PIN:
		if (GROW(n->pins, n->npin, n->pincap))
			return ST_ENOMEM;
		n->pins[n->npin].ino = r->ino;
		n->pins[n->npin++].seq = r->seq;
		return 0;
	case NS_REC_LINEAGE:
		if (GROW(n->lin, n->nlin, n->lincap))
			return ST_ENOMEM;
		n->lin[n->nlin].ino = r->ino;
		n->lin[n->nlin++].pred = r->child;
		return 0;
	case NS_REC_VACATED:
		if (GROW(n->vac, n->nvac, n->vaccap))
			return ST_ENOMEM;
		n->vac[n->nvac].dir = r->ino;
		memcpy(n->vac[n->nvac].name, r->name, r->nlen);
		n->vac[n->nvac++].name[r->nlen] = 0;
		return 0;
	case NS_REC_XATTR:
		if (GROW(n->xa, n->nx, n->xcap))
			return ST_ENOMEM;
		n->xa[n->nx].name = malloc(r->nlen + 1);
		if (!n->xa[n->nx].name || copy_key(r, &n->xa[n->nx].raw)) {
			free(n->xa[n->nx].name);
			return ST_ENOMEM;
		}
		memcpy(n->xa[n->nx].name, r->name, r->nlen);
		n->xa[n->nx].name[r->nlen] = 0;
		n->xa[n->nx++].ino = r->ino;
		return 0;
	case NS_REC_BAD:
	default:
		return add_bad(n, r);
	}
}

/* ---- staging --------------------------------------------------------- */

static void stage_rc(struct ns *n, int rc)
{
	if (rc != ST_OK && !n->err)
		n->err = rc;
	n->staged = true;
}

/* Writes e's record in the form the backing directory uses. */
static void put_inode(struct ns *n, const struct ient *e)
{
	struct ns_inode a = e->a;

	a.version = ns_inode_version(n->c->sb_ok ? &n->c->sb : NULL);
	stage_rc(n, ns_inode_put(n->st, e->ino, &a, e->target));
}

static void put_dirent(struct ns *n, uint64_t parent, const char *name, uint64_t ino, uint8_t type)
{
	stage_rc(n, ns_dirent_put(n->st, parent, name, ino, type));
}

/* Adds a new inode record to the table (kept sorted). */
static struct ient *add_inode(struct ns *n, uint64_t ino, const struct ns_inode *a)
{
	size_t i;

	if (GROW(n->in, n->nin, n->incap))
		return NULL;
	for (i = n->nin; i > 0 && n->in[i - 1].ino > ino; i--)
		;
	memmove(&n->in[i + 1], &n->in[i], (n->nin - i) * sizeof(*n->in));
	n->nin++;
	memset(&n->in[i], 0, sizeof(n->in[i]));
	n->in[i].ino = ino;
	n->in[i].a = *a;
	return &n->in[i];
}

/* A new inode number: the counter's (check_next_ino ran first, so it is
 * past every record and store); the counter's new value is staged. */
static uint64_t alloc_ino(struct ns *n)
{
	uint64_t ino = n->next_ino;

	n->next_ino++;
	stage_rc(n, ns_next_ino_put(n->st, n->next_ino));
	return ino;
}

/* /lost+found's inode, made if missing. 0 if there is none to use. */
static uint64_t lost_found(struct ns *n)
{
	struct ient *root = ifind(n, NS_ROOT_INO), *lf;
	struct ns_inode a = {0};

	if (n->lf)
		return n->lf;
	for (size_t i = 0; i < n->nde; i++)
		if (n->de[i].accepted && n->de[i].parent == NS_ROOT_INO &&
		    !strcmp(n->de[i].name, "lost+found")) {
			lf = ifind(n, n->de[i].ino);
			if (!lf || !S_ISDIR(lf->a.mode)) {
				fsck_problem(n->c, PR_LOSTFOUND, "/lost+found", NULL);
				return 0;
			}
			return n->lf = lf->ino;
		}
	if (!root)
		return 0;
	a.mode = S_IFDIR | 0700;
	a.uid = root->a.uid;
	a.gid = root->a.gid;
	a.nlink = 2;
	a.parent = NS_ROOT_INO;
	a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = (int64_t)st_realtime_ns();
	lf = add_inode(n, alloc_ino(n), &a);
	if (!lf)
		return 0;
	lf->reached = true;
	lf->links = 1;
	lf->dparent = NS_ROOT_INO;
	root = ifind(n, NS_ROOT_INO);
	root->subdirs++;
	root->a.nlink++; /* part of making it, not a problem of its own */
	put_inode(n, root);
	put_inode(n, lf);
	put_dirent(n, NS_ROOT_INO, "lost+found", lf->ino, ns_dtype(S_IFDIR));
	printf("    made /lost+found (inode %llu)\n", (unsigned long long)lf->ino);
	return n->lf = lf->ino;
}

/* ---- the checks -------------------------------------------------------- */

static void ino_name(uint64_t ino, char buf[40])
{
	snprintf(buf, 40, "inode %llu", (unsigned long long)ino);
}

static void ent_name(const struct dent *d, char buf[320])
{
	snprintf(buf, 320, "entry '%s' in inode %llu", d->name, (unsigned long long)d->parent);
}

static void check_root(struct ns *n)
{
	struct ient *root = ifind(n, NS_ROOT_INO);
	char what[40];

	ino_name(NS_ROOT_INO, what);
	if (!root) {
		struct ns_inode a = {0};

		if (!fsck_problem(n->c, PR_ROOT_MISSING, what, NULL))
			return;
		a.mode = S_IFDIR | 0755;
		a.nlink = 2;
		a.parent = NS_ROOT_INO;
		a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = (int64_t)st_realtime_ns();
		/* A bad record of inode 1 is replaced by this one. */
		for (size_t i = 0; i < n->nin; i++)
			if (n->in[i].ino == NS_ROOT_INO)
				n->in[i].bad = false;
		root = ifind(n, NS_ROOT_INO);
		if (root)
			root->a = a;
		else
			root = add_inode(n, NS_ROOT_INO, &a);
		if (!root)
			return;
		put_inode(n, root);
		fsck_fixed(n->c);
	} else if ((!S_ISDIR(root->a.mode) || root->a.parent != NS_ROOT_INO) &&
		   fsck_problem(n->c, PR_ROOT_BAD, what, "mode %o, parent %llu", root->a.mode,
				(unsigned long long)root->a.parent)) {
		root->a.mode = S_IFDIR | (root->a.mode & 07777);
		root->a.parent = NS_ROOT_INO;
		root->a.size = 0;
		free(root->target);
		root->target = NULL;
		root->tlen = 0;
		put_inode(n, root);
		fsck_fixed(n->c);
	}
	if (root) {
		root->reached = true;
		root->dparent = NS_ROOT_INO;
	}
}

static void check_keys(struct ns *n)
{
	char what[64];

	for (size_t i = 0; i < n->nbad; i++) {
		snprintf(what, sizeof(what), "key of type 0x%02x, %zu bytes", n->bad[i].type,
			 n->bad[i].len);
		if (fsck_problem(n->c, PR_META_BAD, what, NULL)) {
			stage_rc(n, ns_key_del(n->st, n->bad[i].key, n->bad[i].len));
			fsck_fixed(n->c);
		}
	}
	for (size_t i = 0; i < n->nin; i++) {
		if (!n->in[i].bad)
			continue;
		ino_name(n->in[i].ino, what);
		if (n->in[i].ino == NS_ROOT_INO)
			continue; /* check_root replaces it */
		if (fsck_problem(n->c, PR_INODE_BAD, what, NULL)) {
			stage_rc(n, ns_inode_del(n->st, n->in[i].ino));
			fsck_fixed(n->c);
		}
	}
}

static void drop_entry(struct ns *n, struct dent *d)
{
	stage_rc(n, ns_dirent_del(n->st, d->parent, d->name));
	fsck_fixed(n->c);
}

/* Entries: accept those that stand; a directory's one entry is the one
 * its parent field agrees with, if there is such. */
static void check_entries(struct ns *n)
{
	char what[320];

	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < n->nde; i++) {
			struct dent *d = &n->de[i];
			struct ient *p = ifind(n, d->parent), *t = ifind(n, d->ino);

			if (d->accepted || d->parent == 0)
				continue;
			ent_name(d, what);
			if (round == 0) {
				if (!p || !S_ISDIR(p->a.mode)) {
					if (fsck_problem(n->c, PR_DIRENT_PARENT, what, NULL))
						drop_entry(n, d);
					d->parent = 0; /* dropped or ignored */
					continue;
				}
				if (!t) {
					if (fsck_problem(n->c, PR_DIRENT_DANGLING, what,
							 "inode %llu", (unsigned long long)d->ino))
						drop_entry(n, d);
					d->parent = 0;
					continue;
				}
				if (d->type != ns_dtype(t->a.mode) &&
				    fsck_problem(n->c, PR_DIRENT_TYPE, what, "%u, inode says %u",
						 d->type, ns_dtype(t->a.mode))) {
					d->type = ns_dtype(t->a.mode);
					put_dirent(n, d->parent, d->name, d->ino, d->type);
					fsck_fixed(n->c);
				}
				if (S_ISDIR(t->a.mode) &&
				    (t->ino == NS_ROOT_INO || t->a.parent != d->parent || t->links))
					continue; /* decided in round 1 */
			} else if (S_ISDIR(t->a.mode) && (t->links || t->ino == NS_ROOT_INO)) {
				if (fsck_problem(n->c, PR_DIR_MULTI, what, "directory %llu",
						 (unsigned long long)t->ino))
					drop_entry(n, d);
				d->parent = 0;
				continue;
			}
			d->accepted = true;
			t->links++;
			if (S_ISDIR(t->a.mode)) {
				t->dparent = d->parent;
				p->subdirs++;
			}
		}
}

static void check_parents(struct ns *n)
{
	char what[40];

	for (size_t i = 0; i < n->nin; i++) {
		struct ient *e = &n->in[i];

		if (e->bad || !S_ISDIR(e->a.mode) || e->ino == NS_ROOT_INO || !e->dparent)
			continue;
		ino_name(e->ino, what);
		if (e->a.parent != e->dparent &&
		    fsck_problem(n->c, PR_DIR_PARENT, what, "%llu, its entry is in %llu",
				 (unsigned long long)e->a.parent, (unsigned long long)e->dparent)) {
			e->a.parent = e->dparent;
			put_inode(n, e);
			fsck_fixed(n->c);
		}
	}
}

/* Marks every directory reachable from dir through accepted entries. */
static void reach(struct ns *n, uint64_t dir)
{
	uint64_t *stack = NULL;
	size_t ns = 0, cap = 0;

	if (GROW(stack, ns, cap))
		return;
	stack[ns++] = dir;
	while (ns) {
		uint64_t d = stack[--ns];

		for (size_t i = 0; i < n->nde; i++) {
			struct ient *t;

			if (!n->de[i].accepted || n->de[i].parent != d)
				continue;
			t = ifind(n, n->de[i].ino);
			if (!t || !S_ISDIR(t->a.mode) || t->reached)
				continue;
			t->reached = true;
			if (GROW(stack, ns, cap))
				break;
			stack[ns++] = t->ino;
		}
	}
	free(stack);
}

static struct dent *entry_of(struct ns *n, uint64_t ino)
{
	for (size_t i = 0; i < n->nde; i++)
		if (n->de[i].accepted && n->de[i].ino == ino)
			return &n->de[i];
	return NULL;
}

/* Links inode ino into /lost+found as "#ino". */
static bool relink(struct ns *n, uint64_t ino)
{
	uint64_t lf = lost_found(n);
	struct ient *e, *l;
	char name[32];

	if (!lf)
		return false;
	e = ifind(n, ino);
	l = ifind(n, lf);
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
	put_dirent(n, lf, name, ino, ns_dtype(e->a.mode));
	e->links++;
	if (S_ISDIR(e->a.mode)) {
		l->subdirs++;
		e->dparent = lf;
		e->a.parent = lf;
		put_inode(n, e);
	}
	printf("    linked as /lost+found/%s\n", name);
	return true;
}

static void check_reachable(struct ns *n)
{
	uint32_t stamp = 0;
	char what[40];

	reach(n, NS_ROOT_INO);
	for (size_t i = 0; i < n->nin; i++) {
		uint64_t top;
		struct ient *p;
		struct dent *d;

		if (n->in[i].bad || !S_ISDIR(n->in[i].a.mode) || n->in[i].reached)
			continue;
		/* Up the entries to the top of this cut-off part, or to where it
		 * loops (e2fsck's pass 3 does the same). */
		stamp++;
		top = n->in[i].ino;
		for (p = &n->in[i]; p && !p->reached && p->walk != stamp;) {
			p->walk = stamp;
			top = p->ino;
			p = p->dparent ? ifind(n, p->dparent) : NULL;
		}
		ino_name(top, what);
		if (!fsck_problem(n->c, PR_DIR_UNREACHABLE, what, NULL)) {
			p = ifind(n, top);
			p->reached = true; /* not asked again */
			reach(n, top);
			continue;
		}
		d = entry_of(n, top);
		if (d) {
			struct ient *old = ifind(n, d->parent);

			stage_rc(n, ns_dirent_del(n->st, d->parent, d->name));
			d->accepted = false;
			ifind(n, top)->links--;
			if (old)
				old->subdirs--;
		}
		if (relink(n, top))
			fsck_fixed(n->c);
		else
			fsck_unfixed(n->c, "no /lost+found");
		ifind(n, top)->reached = true;
		reach(n, top);
		i = (size_t)-1; /* the table may have grown: start over */
	}
}

static void check_orphans(struct ns *n)
{
	char what[40];

	for (size_t i = 0; i < n->norph; i++) {
		struct ient *e = ifind(n, n->orphans[i]);

		ino_name(n->orphans[i], what);
		if (e && e->links == 0 && e->a.nlink == 0 && !S_ISDIR(e->a.mode)) {
			e->orphan = true;
			continue;
		}
		/* The daemon would remove a linked file at its next mount. */
		if (fsck_problem(n->c, PR_ORPHAN_KEY, what, e ? "it has %u entries" : "no record",
				 e ? e->links : 0)) {
			stage_rc(n, ns_orphan_del(n->st, n->orphans[i]));
			fsck_fixed(n->c);
		}
	}
}

static void check_unattached(struct ns *n)
{
	char what[40];

	for (size_t i = 0; i < n->nin; i++) {
		struct ient *e = &n->in[i];
		uint64_t ino = e->ino;

		if (e->bad || S_ISDIR(e->a.mode) || e->links || e->orphan)
			continue;
		ino_name(ino, what);
		if (fsck_problem(n->c, PR_INODE_UNATTACHED, what, "mode %o", e->a.mode)) {
			if (relink(n, ino))
				fsck_fixed(n->c);
			else
				fsck_unfixed(n->c, "no /lost+found");
		}
	}
}

/* The graveyard: a deleted file's store is kept for the namespace versions
 * that still name it, so it is no orphan. A key whose store is gone is a
 * reap the daemon had not finished: it drops the key itself. */
static void check_graves(struct ns *n)
{
	char what[64];

	for (size_t i = 0; i < n->ngrave; i++) {
		struct fstore *s = fsck_store_find(n->c, n->graves[i]);
		struct ient *e = ifind(n, n->graves[i]);

		if (e && !e->bad) {
			ino_name(n->graves[i], what);
			if (fsck_problem(n->c, PR_GRAVE_LIVE, what, NULL)) {
				stage_rc(n, ns_grave_del(n->st, n->graves[i]));
				fsck_fixed(n->c);
			}
			continue;
		}
		if (s)
			s->referenced = true;
	}
}

static bool is_grave(const struct ns *n, uint64_t ino)
{
	for (size_t i = 0; i < n->ngrave; i++)
		if (n->graves[i] == ino)
			return true;
	return false;
}

/* A file of the lineages: a live regular file, or a deleted one kept. */
static bool lineage_file(struct ns *n, uint64_t ino)
{
	struct ient *e = ifind(n, ino);

	return e ? !e->bad && S_ISREG(e->a.mode) : is_grave(n, ino);
}

static const struct lin *lin_find(const struct ns *n, uint64_t ino)
{
	size_t lo = 0, hi = n->nlin;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n->lin[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->nlin && n->lin[lo].ino == ino ? &n->lin[lo] : NULL;
}

/* Lineage records: of a file (live, or kept deleted), in no cycle (the
 * daemon walks them); vacated names: of a live directory. What a
 * lineage names may be gone (its history was given up): no problem. */
static void check_lineage(struct ns *n)
{
	char what[80];

	for (size_t i = 0; i < n->nlin; i++) {
		const struct lin *l = &n->lin[i], *p = l;
		size_t steps = 0;
		bool cycle = false;

		while ((p = lin_find(n, p->pred)) != NULL && steps++ <= n->nlin)
			if (p->ino == l->ino) {
				cycle = true;
				break;
			}
		if (lineage_file(n, l->ino) && !cycle)
			continue;
		snprintf(what, sizeof(what), "lineage of inode %llu (from %llu)",
			 (unsigned long long)l->ino, (unsigned long long)l->pred);
		if (fsck_problem(n->c, PR_LINEAGE_BAD, what, "%s",
				 cycle ? "a cycle" : "no such file")) {
			stage_rc(n, ns_lineage_del(n->st, l->ino));
			fsck_fixed(n->c);
		}
	}
	for (size_t i = 0; i < n->nvac; i++) {
		struct ient *d = ifind(n, n->vac[i].dir);

		if (d && !d->bad && S_ISDIR(d->a.mode))
			continue;
		snprintf(what, sizeof(what), "vacated name '%.40s' of inode %llu", n->vac[i].name,
			 (unsigned long long)n->vac[i].dir);
		if (fsck_problem(n->c, PR_VACATED_BAD, what, NULL)) {
			stage_rc(n, ns_vacated_del(n->st, n->vac[i].dir, n->vac[i].name));
			fsck_fixed(n->c);
		}
	}
}

static void check_pins(struct ns *n)
{
	char what[80];

	for (size_t i = 0; i < n->npin; i++) {
		struct ient *e = ifind(n, n->pins[i].ino);

		if (e && !e->bad && S_ISREG(e->a.mode))
			continue;
		/* A deleted file's pins stay with its kept store: it may be in
		 * a path's history (lineage). */
		if (!e && is_grave(n, n->pins[i].ino))
			continue;
		snprintf(what, sizeof(what), "pin of version %llu of inode %llu",
			 (unsigned long long)n->pins[i].seq, (unsigned long long)n->pins[i].ino);
		if (fsck_problem(n->c, PR_PIN_DANGLING, what, NULL)) {
			stage_rc(n, ns_pin_del(n->st, n->pins[i].ino, n->pins[i].seq));
			fsck_fixed(n->c);
		}
	}
}

static void check_stores(struct ns *n)
{
	char what[64];

	for (size_t i = 0; i < n->nin; i++) {
		struct ient *e = &n->in[i];
		struct fstore *s;

		if (e->bad || !S_ISREG(e->a.mode))
			continue;
		s = fsck_store_find(n->c, e->ino);
		if (s)
			s->referenced = true;
		ino_name(e->ino, what);
		if (!s || s->removed) {
			/* A record that names a commit of its store lost data with it. */
			if ((e->a.size || e->a.store_seq) &&
			    fsck_problem(n->c, PR_STORE_MISSING, what, "size %llu, version %llu",
					 (unsigned long long)e->a.size,
					 (unsigned long long)e->a.store_seq)) {
				e->a.size = 0;
				e->a.store_seq = e->a.store_bytes = 0;
				put_inode(n, e);
				fsck_fixed(n->c);
			}
			continue;
		}
		if (!s->usable)
			continue;
		/* The store lost its newest versions (cut, zeroed, rolled back):
		 * the record's size and times are of a commit no longer there. */
		if (s->seq < e->a.store_seq) {
			if (fsck_problem(n->c, PR_STORE_BEHIND, what,
					 "the namespace knows version %llu, the store's newest is "
					 "%llu (size %llu); the versions after it are lost",
					 (unsigned long long)e->a.store_seq,
					 (unsigned long long)s->seq, (unsigned long long)s->size)) {
				e->a.size = s->size;
				if (s->mtime_ns)
					e->a.mtime_ns = (int64_t)s->mtime_ns;
				e->a.store_seq = s->seq;
				e->a.store_bytes = s->bytes;
				put_inode(n, e);
				fsck_fixed(n->c);
			}
			continue;
		}
		/* Clean: every record was written after its store's last commit. */
		if ((e->a.size > s->size || (n->clean && e->a.size != s->size)) &&
		    fsck_problem(n->c, PR_SIZE, what, "%llu, its store holds %llu",
				 (unsigned long long)e->a.size, (unsigned long long)s->size)) {
			e->a.size = s->size;
			if (s->mtime_ns)
				e->a.mtime_ns = (int64_t)s->mtime_ns;
			if (e->a.version >= 2) {
				e->a.store_seq = s->seq;
				e->a.store_bytes = s->bytes;
			}
			put_inode(n, e);
			fsck_fixed(n->c);
		}
	}
	for (size_t i = 0; i < n->c->nstores; i++) {
		struct fstore *s = &n->c->stores[i];
		uint64_t ino = s->ino;
		struct ns_inode a = {0};
		struct ient *root, *e;
		char path[64];

		if (s->referenced || s->removed)
			continue;
		ns_store_path(NULL, ino, path, sizeof(path));
		if (ifind(n, ino)) {
			/* Its number belongs to an inode of another kind. */
			fsck_problem(n->c, PR_STORE_STRAY, path, "inode %llu is not a regular file",
				     (unsigned long long)ino);
			continue;
		}
		if (!fsck_problem(n->c, PR_STORE_ORPHAN, path, "%llu bytes",
				  (unsigned long long)(s->usable ? s->size : 0)))
			continue;
		root = ifind(n, NS_ROOT_INO);
		a.mode = S_IFREG | 0600;
		a.nlink = 1; /* the entry relink() makes */
		a.uid = root ? root->a.uid : 0;
		a.gid = root ? root->a.gid : 0;
		a.size = s->usable ? s->size : 0;
		a.store_seq = s->usable ? s->seq : 0;
		a.store_bytes = s->usable ? s->bytes : 0;
		a.atime_ns = a.ctime_ns = a.btime_ns = (int64_t)st_realtime_ns();
		a.mtime_ns = s->mtime_ns ? (int64_t)s->mtime_ns : a.ctime_ns;
		/* Drop a bad record of this number first. */
		for (size_t j = 0; j < n->nin; j++)
			if (n->in[j].ino == ino && n->in[j].bad)
				n->in[j].ino = 0;
		e = add_inode(n, ino, &a);
		if (!e) {
			fsck_unfixed(n->c, "out of memory");
			continue;
		}
		put_inode(n, e);
		s->referenced = true;
		if (relink(n, ino))
			fsck_fixed(n->c);
		else
			fsck_unfixed(n->c, "no /lost+found");
	}
}

static void check_nlink(struct ns *n)
{
	char what[40];

	for (size_t i = 0; i < n->nin; i++) {
		struct ient *e = &n->in[i];
		uint32_t want;

		if (e->bad || e->ino == 0)
			continue;
		want = S_ISDIR(e->a.mode) ? 2 + e->subdirs : e->links;
		if (e->a.nlink == want)
			continue;
		ino_name(e->ino, what);
		if (fsck_problem(n->c, PR_NLINK, what, "%u, counted %u", e->a.nlink, want)) {
			e->a.nlink = want;
			put_inode(n, e);
			fsck_fixed(n->c);
		}
	}
}

static void check_xattrs(struct ns *n)
{
	char what[300];

	for (size_t i = 0; i < n->nx; i++) {
		if (ifind(n, n->xa[i].ino))
			continue;
		snprintf(what, sizeof(what), "attribute '%s' of inode %llu", n->xa[i].name,
			 (unsigned long long)n->xa[i].ino);
		if (fsck_problem(n->c, PR_XATTR_DANGLING, what, NULL)) {
			stage_rc(n, ns_key_del(n->st, n->xa[i].raw.key, n->xa[i].raw.len));
			fsck_fixed(n->c);
		}
	}
}

static void check_next_ino(struct ns *n)
{
	uint64_t need = 2;

	if (n->nin && n->in[n->nin - 1].ino >= need)
		need = n->in[n->nin - 1].ino + 1;
	if (n->c->nstores && n->c->stores[n->c->nstores - 1].ino >= need)
		need = n->c->stores[n->c->nstores - 1].ino + 1;
	if (n->has_next && n->next_ino >= need)
		return;
	/* A store under the counter's number would be removed by the daemon
	 * as a leftover when it hands that number out (FORMAT.md, rule 4). */
	if (!fsck_problem(n->c, PR_NEXT_INO, "next_ino",
			  n->has_next ? "%llu, needs %llu" : "missing",
			  (unsigned long long)n->next_ino, (unsigned long long)need))
		return;
	n->next_ino = need;
	stage_rc(n, ns_next_ino_put(n->st, need));
	fsck_fixed(n->c);
}

static void ns_release(struct ns *n)
{
	for (size_t i = 0; i < n->nin; i++)
		free(n->in[i].target);
	for (size_t i = 0; i < n->nx; i++) {
		free(n->xa[i].name);
		free(n->xa[i].raw.key);
	}
	for (size_t i = 0; i < n->nbad; i++)
		free(n->bad[i].key);
	free(n->in);
	free(n->de);
	free(n->xa);
	free(n->orphans);
	free(n->graves);
	free(n->pins);
	free(n->lin);
	free(n->vac);
	free(n->bad);
	if (n->st)
		st_close(n->st);
}

/*
 * The fence (docs/FORMAT.md, section 19): the namespace's commit the last
 * mount left, the least the namespace may show (0: none to hold it to).
 * *bad: it is missing or damaged (what, in why).
 */
static uint64_t fence_floor(struct fsck *c, bool *bad, char *why, size_t len)
{
	struct ns_fence f;
	int rc;

	*bad = false;
	if (!c->sb_ok || !(c->sb.ro_compat & NS_FEAT_FENCE))
		return 0;
	rc = ns_fence_read(c->dir, c->sb_ok ? &c->sb : NULL, &f);
	if (rc == ST_OK && memcmp(f.uuid, c->sb.uuid, sizeof(f.uuid)) == 0)
		return f.ns_seq;
	*bad = true;
	snprintf(why, len, "%s", rc == ST_OK ? "of another vault" : st_last_error()->msg);
	return 0;
}

/* Writes the fence anew: clean, at the namespace's newest commit. */
static void fence_rewrite(struct fsck *c, st_store *ns, const char *why)
{
	struct ns_fence f = {.clean = true, .time_ns = st_realtime_ns()};
	struct st_version v;

	if (!fsck_problem(c, PR_FENCE_BAD, NS_FENCE_NAME, "%s", why))
		return;
	st_current(ns, &v);
	f.ns_seq = v.seq;
	memcpy(f.uuid, c->sb.uuid, sizeof(f.uuid));
	if (ns_fence_write(c->dir, c->sb_ok ? &c->sb : NULL, &f) == ST_OK)
		fsck_fixed(c);
	else
		fsck_unfixed(c, st_last_error()->msg);
}

int pass3_namespace(struct fsck *c)
{
	struct ns n = {.c = c};
	uint64_t fixed_before = c->nfixed;
	char why[200];
	bool fence_bad;
	struct st_open_opts o = {.min_seq = fence_floor(c, &fence_bad, why, sizeof(why))};
	int rc;

	/* Never older than the fence: a writable open of a stale view would
	 * cut the newer commits as a torn tail. */
	rc = ns_open(c->dir, c->sb_ok ? &c->sb : NULL, c->readonly ? ST_READONLY : 0, &o, &n.st);
	if (rc == ST_EBEHIND) {
		fsck_problem(c, PR_ROLLED_BACK, NS_STORE_NAME,
			     "older than commit %llu, which the last mount left: the storage "
			     "lost writes, or serves a stale view (a distributed filesystem's "
			     "client caches); nothing checked or changed",
			     (unsigned long long)o.min_seq);
		c->fatal = true;
		return -1;
	}
	if (rc != ST_OK) {
		fsck_error(c, "cannot open %s/%s: %s", c->dir, NS_STORE_NAME, st_last_error()->msg);
		return -1;
	}
	if (fence_bad)
		fence_rewrite(c, n.st, why);
	rc = ns_walk(n.st, walk_cb, &n);
	if (rc != ST_OK) {
		fsck_error(c, "cannot read the namespace: %s", st_strerror(rc));
		ns_release(&n);
		return -1;
	}
	check_keys(&n);
	check_next_ino(&n);
	check_root(&n);
	check_entries(&n);
	check_parents(&n);
	check_orphans(&n);
	check_reachable(&n);
	check_unattached(&n);
	check_graves(&n);
	check_stores(&n);
	check_pins(&n);
	check_lineage(&n);
	check_nlink(&n);
	check_xattrs(&n);
	fsck_progress(c, 3, 1, 1);
	if (n.staged && !n.err && !fsck_interrupted)
		n.err = st_commit(n.st, NULL);
	if (n.staged && (n.err || fsck_interrupted)) {
		/* Nothing of this pass reached the disk. */
		if (n.err)
			fsck_error(c, "cannot commit the namespace repairs: %s",
				   st_last_error()->msg);
		c->nleft += c->nfixed - fixed_before;
		c->nfixed = fixed_before;
	}
	ns_release(&n);
	return 0;
}
