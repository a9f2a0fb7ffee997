/*
 * vhistory.c - .revfs/history/: the tree of the mount as it is now, where
 * each directory is mirrored (read-only, with its owner, times and read
 * and search bits) and each regular file is a directory of its path's
 * versions: its own and those of the files it took the place of (its
 * lineage), one read-only file per version, named by its commit time,
 * with the commit time as mtime. Symlinks and devices have no versions and
 * are not shown. Also the user.revfs.* attributes of a regular file (its
 * versions and pins) and the thinning of lineages by the retention rule.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "vtree.h"

/* Runs fn on inode x's file store, opened if need be. -errno. */
static int with_store(struct fs *fs, uint64_t x, int (*fn)(st_store *st, void *arg), void *arg)
{
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load_live(fs, x, &in); /* -ENOENT: replaced or gone since */
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&in->lock);
	rc = in->removed ? -ENOENT : !S_ISREG(in->a.mode) ? -ENOTDIR : ino_store(fs, in);
	if (rc == 0) {
		/* Reads of versions never wait for a commit: the store's own
		 * locks are held only briefly. The inode lock keeps st open. */
		rc = fn(in->st, arg);
	}
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	return rc;
}

struct find_ver {
	uint64_t seq;
	struct st_version v;
	bool found;
	uint64_t seen; /* versions walked */
};

/* Versions are saves: an interim commit is one only while it is the
 * newest (the file's current state); older ones are not listed, nor
 * found by name. */
static int find_cb(void *arg, const struct st_version *v)
{
	struct find_ver *f = arg;
	bool newest = f->seen++ == 0;

	if (v->interim && !newest)
		return v->seq < f->seq;
	if (v->seq == f->seq) {
		f->v = *v;
		f->found = true;
		return 1;
	}
	return v->seq < f->seq; /* newest first: past it, stop */
}

static int find_version(st_store *st, void *arg)
{
	struct find_ver *f = arg;
	int rc = st_versions(st, find_cb, f);

	if (rc < 0)
		return -fs_errno(rc);
	return f->found ? 0 : -ENOENT;
}

struct vfile_open {
	struct st_version ver; /* seq and offset */
	st_store *v;
};

static int open_version(st_store *st, void *arg)
{
	struct vfile_open *o = arg;
	int rc = st_open_version_at(st, &o->ver, &o->v);

	return rc ? -fs_errno(rc) : 0;
}

/* Looks name up in a mirror of directory x: a directory gives its mirror,
 * a regular file the list of its versions. */
static int hdir_lookup(struct fs *fs, uint64_t x, const char *name, enum vkind *kind, uint64_t *y)
{
	uint8_t type;
	int rc;

	if (strlen(name) > NS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_dirent_get(fs->ns, x, name, y, &type);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return -fs_errno(rc);
	if (type == DT_DIR)
		*kind = VK_HDIR;
	else if (type == DT_REG)
		*kind = VK_VLIST;
	else
		return -ENOENT; /* symlinks and devices have no versions */
	return 0;
}

struct list_ctx {
	struct dirh *d;
	int rc;
};

static int list_dir_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	struct list_ctx *c = arg;

	if (type != DT_DIR && type != DT_REG)
		return 0;
	/* A regular file is the directory of its versions here. */
	c->rc = fs_dirh_add(c->d, name, nlen, vt_ino(type == DT_DIR ? VK_HDIR : VK_VLIST, ino, 0),
			    DT_DIR);
	return c->rc ? 1 : 0;
}

/* ---- a path's history: its file's versions, then its lineage's ---------- */

/*
 * Version names: the commit time in UTC to the nanosecond, so that plain
 * ls lists versions in order, and a name stays its version's through
 * compaction and across the files of a path's lineage (whose own numbers,
 * their seqs, would clash). A seq still names a version of the path's own
 * file on lookup (pins and scripts use them).
 */
#define VNAME_LEN   30	    /* "2026-12-06T22:41:04.123456789Z" */
#define VNAME_BUF   64	    /* room for any struct tm, so no truncation */
#define LINEAGE_MAX 100000u /* files walked back at most: a bound, not a limit met */

static void vname(uint64_t t, char out[VNAME_BUF])
{
	time_t secs = (time_t)(t / NS_PER_S);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, VNAME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long long)(t % NS_PER_S));
}

/* The time a version name says, if name is one exactly as vname writes it. */
static bool vname_parse(const char *name, uint64_t *t)
{
	char back[VNAME_BUF];
	unsigned long long ns;
	struct tm tm = {0};
	int n = 0;
	time_t secs;

	if (strlen(name) != VNAME_LEN ||
	    sscanf(name, "%4d-%2d-%2dT%2d:%2d:%2d.%9lluZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ns, &n) != 7 ||
	    n != VNAME_LEN)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	secs = timegm(&tm);
	if (secs < 0)
		return false;
	*t = (uint64_t)secs * NS_PER_S + ns;
	vname(*t, back);
	return strcmp(back, name) == 0;
}

struct collect {
	uint64_t ino, cut; /* the file whose store is walked; its versions up to cut */
	uint64_t seen;	   /* versions walked in this store */
	st_store *st;	   /* that store, or NULL: versions a lineage record kept, */
	struct meta_cache mc;
	const struct ns_linver *kept; /* ... the one collect_cb is given */
	struct lver *v;
	size_t n, cap;
	int rc;
};

static int collect_cb(void *arg, const struct st_version *v)
{
	struct collect *c = arg;

	if (c->seen++ > 0 && v->interim)
		return 0; /* listed only while it is the newest */
	if (v->time_ns > c->cut)
		return 0; /* after its file left the path */
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct lver *nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv) {
			c->rc = -ENOMEM;
			return 1;
		}
		c->v = nv;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	c->v[c->n].ino = c->ino;
	if (c->st) {
		c->v[c->n].perm_known =
		    meta_perm(c->st, v, &c->mc, &c->v[c->n].perm, &c->v[c->n].has_xattrs);
	} else {
		c->v[c->n].perm_known = c->kept->perm_known;
		c->v[c->n].perm = c->kept->perm;
		c->v[c->n].has_xattrs = c->kept->has_xattrs;
	}
	c->v[c->n++].v = *v;
	return 0;
}

static int collect_store(st_store *st, void *arg)
{
	struct collect *c = arg;
	int rc;

	c->st = st;
	memset(&c->mc, 0, sizeof(c->mc));
	rc = st_versions(st, collect_cb, c);
	c->st = NULL;
	return rc < 0 ? -fs_errno(rc) : c->rc;
}

/* Whether file ino has a record (is in the tree). */
static bool live(struct fs *fs, uint64_t ino)
{
	struct ns_inode a;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_inode_get(fs->ns, ino, &a, NULL);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc == ST_OK;
}

/* Runs fn on the store of file x, live or not: a file no longer in the
 * tree (replaced, deleted, kept for history) is opened read-only. */
static int with_any_store(struct fs *fs, uint64_t x, int (*fn)(st_store *st, void *arg), void *arg)
{
	st_store *st;
	int rc;

	if (live(fs, x))
		return with_store(fs, x, fn, arg);
	rc = ns_file_open(fs->backing, &fs->sb, x, ST_READONLY, NULL, &st);
	if (rc == ST_ENOTFOUND)
		return -ENOENT;
	if (rc)
		return -fs_errno(rc);
	rc = fn(st, arg);
	st_close(st);
	return rc;
}

static bool pred_seen(const uint64_t *seen, unsigned n, uint64_t ino)
{
	for (unsigned i = 0; i < n; i++)
		if (seen[i] == ino)
			return true;
	return false;
}

static int lver_newest_first(const void *a, const void *b)
{
	const struct lver *x = a, *y = b;

	return (x->v.time_ns < y->v.time_ns) - (x->v.time_ns > y->v.time_ns);
}

/* The history of file x, newest first: its versions, then those of the
 * files it took the place of (lineage records), each up to when it was
 * replaced. A file whose store is gone (its history given up) is passed
 * over. *out is malloc()ed (NULL if none). -errno. */
static int history_of(struct fs *fs, uint64_t x, struct lver **out, size_t *n)
{
	struct collect c = {.ino = x, .cut = UINT64_MAX};
	uint64_t cur = x, pred, cut, *seen = NULL;
	int rc = with_store(fs, x, collect_store, &c);
	unsigned steps;

	if (rc == -ENODATA)
		rc = 0; /* read-only mount, never committed */
	for (steps = 0; rc == 0 && steps < LINEAGE_MAX; steps++) {
		struct ns_linver *kept = NULL;
		size_t nkept = 0;
		uint64_t *ns;
		int lrc;

		pthread_mutex_lock(&fs->ns_lock);
		lrc = ns_lineage_get(fs->ns, cur, &pred, &cut);
		if (lrc == ST_OK)
			ns_lineage_versions(fs->ns, cur, &kept, &nkept);
		pthread_mutex_unlock(&fs->ns_lock);
		/* A cycle (damage fsck repairs) ends the walk. */
		if (lrc != ST_OK || pred == x || pred_seen(seen, steps, pred) ||
		    !(ns = realloc(seen, (steps + 1) * sizeof(*seen)))) {
			free(kept);
			if (lrc == ST_OK && pred != x && !pred_seen(seen, steps, pred))
				rc = -ENOMEM;
			break;
		}
		seen = ns;
		seen[steps] = pred;
		if (cut < c.cut)
			c.cut = cut;
		c.ino = pred;
		c.seen = 0;
		if (nkept) {
			/* The record keeps them: no store to open (a long lineage
			 * lists from the namespace alone). */
			for (size_t i = 0; i < nkept && rc == 0; i++) {
				struct st_version v = {.seq = kept[i].seq,
						       .time_ns = kept[i].time_ns,
						       .size = kept[i].size,
						       .offset = kept[i].offset};

				c.kept = &kept[i];
				rc = collect_cb(&c, &v) ? c.rc : 0;
			}
		} else {
			rc = with_any_store(fs, pred, collect_store, &c);
			if (rc == -ENOENT)
				rc = 0;
		}
		free(kept);
		cur = pred;
	}
	free(seen);
	if (rc) {
		free(c.v);
		return rc;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), lver_newest_first);
	*out = c.v;
	*n = c.n;
	return 0;
}

/* ---- the kinds ------------------------------------------------------------ */

/* The attributes of inode x as it is now. */
static int attr_of(struct fs *fs, uint64_t x, struct stat *st)
{
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load_live(fs, x, &in); /* -ENOENT: replaced or gone since */
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&in->lock);
	ino_attr(in, st);
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	st->st_blocks = 0;
	return 0;
}

/* A mirror of directory v->x: its owner, times and read and search bits,
 * so that no one lists or enters it who could not the directory itself. A
 * version list is a directory for its file: readable and searchable by
 * who may read the file now. Its listing grows with every commit. */
static int hdir_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	int rc = attr_of(fs, v->x, st);
	uint32_t r;

	if (rc)
		return rc;
	r = (uint32_t)st->st_mode & 0444;
	st->st_mode = S_IFDIR | (v->kind == VK_VLIST ? r | r >> 2 : st->st_mode & 0555);
	st->st_nlink = 2;
	st->st_size = 0;
	*timeout = 0;
	return 0;
}

/* history/ itself: the root's mirror, with its read and search bits. */
static int history_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	int rc = attr_of(fs, v->x, st);

	if (rc)
		return rc;
	st->st_mode = S_IFDIR | (st->st_mode & 0555);
	st->st_nlink = 2;
	st->st_size = 0;
	*timeout = 0; /* a chmod of the root shows at once */
	return 0;
}

static int hdir_child(struct fs *fs, const struct vnode *dir, const char *name, struct vnode *child,
		      struct fuse_entry_param *e)
{
	int rc = hdir_lookup(fs, dir->x, name, &child->kind, &child->x);

	/* A version list's listing grows with every commit, and its name
	 * points to another file after an atomic save: a tenth of a second
	 * at most for the name (0 would cost a lookup per path walk through
	 * it, three per version for ls -l). */
	if (rc == 0 && child->kind == VK_VLIST) {
		e->attr_timeout = 0;
		if (e->entry_timeout > 0.1)
			e->entry_timeout = 0.1;
	}
	return rc;
}

static int hdir_list(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	struct list_ctx c = {.d = d};
	int rc = vt_list_dots(dir, d);

	if (rc)
		return rc;
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_dirent_list(fs->ns, dir->x, list_dir_cb, &c);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc < 0 ? -fs_errno(rc) : c.rc;
}

static int head_cb(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns)
{
	(void)pred;
	(void)cut_ns;
	return u64s_push(arg, ino);
}

static bool has_pins(struct fs *fs, uint64_t ino)
{
	uint64_t *pins = NULL;
	size_t n = 0;

	if (fs_pins(fs, ino, &pins, &n) != 0)
		return true; /* unknown: keep */
	free(pins);
	return n > 0;
}

int fs_lineage_thin(struct fs *fs)
{
	struct u64s h = {0};
	uint64_t now = st_realtime_ns();
	size_t dropped = 0;
	int rc;

	if (fs->o.ro || !(fs->sb.incompat & NS_FEAT_LINEAGE))
		return 0;
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_lineage_list(fs->ns, head_cb, &h);
	pthread_mutex_unlock(&fs->ns_lock);
	for (size_t i = 0; rc == ST_OK && i < h.n; i++) {
		struct st_retention keep = fs->keep;
		struct st_version *sv;
		struct lver *v = NULL;
		bool *k;
		size_t n = 0;

		/* A lineage is thinned from its live end: the path's file. */
		if (!live(fs, h.v[i]) || history_of(fs, h.v[i], &v, &n) != 0)
			continue;
		sv = malloc((n ? n : 1) * sizeof(*sv));
		k = malloc(n ? n : 1);
		if (!sv || !k) {
			free(sv);
			free(k);
			free(v);
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			sv[j] = v[j].v;
			sv[j].interim = false; /* all listed: the rule counts each */
		}
		keep.pins = NULL; /* pins are per file: checked below */
		keep.npins = 0;
		st_retention_keep(&keep, now, sv, n, k);
		/* A replaced file none of whose versions the rule keeps, and
		 * none pinned, is given up; its lineage goes on past it. */
		for (size_t j = 0; j < n; j++) {
			bool any = false;
			uint64_t p = v[j].ino;

			if (p == h.v[i] || (j > 0 && v[j - 1].ino == p))
				continue;
			for (size_t m = 0; m < n && !any; m++)
				any = v[m].ino == p && k[m];
			if (!any && !live(fs, p) && !has_pins(fs, p) && fs_grave_drop(fs, p) >= 0)
				dropped++;
		}
		free(sv);
		free(k);
		free(v);
	}
	if (dropped)
		fs_log(LOG_DEBUG, "gave up %zu replaced files the retention rule no longer keeps",
		       dropped);
	free(h.v);
	return rc == ST_OK ? 0 : -fs_errno(rc);
}

/* A version of dir->x's history by its name (a commit time), known from
 * the last listing or found again; or by the seq of one of the file's own
 * versions. */
static int vlist_child(struct fs *fs, const struct vnode *dir, const char *name,
		       struct vnode *child, struct fuse_entry_param *e)
{
	struct lver f = {0};
	uint64_t t;
	char *end;
	int rc = -ENOENT;

	(void)e;
	if (vname_parse(name, &t)) {
		struct lver *v = NULL;
		size_t n = 0;

		if (vn_cached_version(dir->vino, t, &f))
			rc = 0; /* listed a moment ago; an open checks it is still kept */
		else if ((rc = history_of(fs, dir->x, &v, &n)) == 0) {
			rc = -ENOENT;
			for (size_t i = 0; i < n && rc; i++)
				if (v[i].v.time_ns == t) {
					f = v[i];
					rc = 0;
				}
			free(v);
		}
	} else if (*name && name[0] != '0' && strspn(name, "0123456789") == strlen(name)) {
		struct find_ver fv = {0};

		fv.seq = strtoull(name, &end, 10);
		rc = with_store(fs, dir->x, find_version, &fv);
		f.ino = dir->x;
		f.v = fv.v;
	}
	child->kind = VK_VFILE;
	child->x = f.ino;
	child->live = dir->x;
	child->seq = f.v.seq;
	child->size = f.v.size;
	child->time_ns = f.v.time_ns;
	child->off = f.v.offset;
	child->perm = f.perm;
	child->perm_known = f.perm_known;
	child->has_xattrs = f.has_xattrs;
	return rc;
}

static int vlist_list(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	struct lver *v = NULL;
	size_t n = 0;
	int rc = vt_list_dots(dir, d);

	if (rc == 0)
		rc = history_of(fs, dir->x, &v, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char name[VNAME_BUF];

		vname(v[i].v.time_ns, name);
		rc =
		    fs_dirh_add(d, name, VNAME_LEN, vt_ino(VK_VFILE, v[i].ino, v[i].v.seq), DT_REG);
	}
	if (rc == 0)
		vn_set_versions(dir->vino, v, n);
	else
		free(v);
	return rc;
}

struct vmeta {
	struct st_version ver; /* seq and offset */
	struct ns_meta m;
	void *buf;
};

static int vmeta_cb(st_store *st, void *arg)
{
	struct vmeta *c = arg;
	st_store *v;
	int rc = st_open_version_at(st, &c->ver, &v);

	if (rc)
		return -fs_errno(rc);
	rc = meta_read(v, NULL, &c->m, &c->buf);
	st_close(v);
	return rc;
}

/* The attributes version v was committed with (release: ns_meta_free(m),
 * free(*buf)). -ENODATA: none kept (committed before they were). */
static int version_meta(struct fs *fs, const struct vnode *v, struct ns_meta *m, void **buf)
{
	struct vmeta c = {.ver = {.seq = v->seq, .offset = v->off}};
	int rc = with_any_store(fs, v->x, vmeta_cb, &c);

	*m = c.m;
	*buf = c.buf;
	return rc;
}

/* A version: r--r--r-- at most of the owner, group and mode it was
 * committed with (those of its file now if it was committed before they
 * were kept), its size, its commit time as mtime and ctime. It never
 * changes: it may be cached. */
static int vfile_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	struct ns_perm p = v->perm;
	bool known = v->perm_known;
	int rc = attr_of(fs, v->live ? v->live : v->x, st);

	if (rc)
		return rc;
	if (!known) {
		struct ns_meta m;
		void *buf;

		rc = version_meta(fs, v, &m, &buf);
		if (rc == 0) {
			p = m.self;
			known = true;
			ns_meta_free(&m);
			free(buf);
		} else if (rc != -ENODATA) {
			return rc;
		}
	}
	if (known) {
		st->st_uid = p.uid;
		st->st_gid = p.gid;
		st->st_mode = p.mode;
	}
	st->st_mode = S_IFREG | (st->st_mode & 0444);
	st->st_nlink = 1;
	st->st_size = (off_t)v->size;
	st->st_blocks = (blkcnt_t)((v->size + 511) / 512);
	st->st_mtim.tv_sec = (time_t)(v->time_ns / NS_PER_S);
	st->st_mtim.tv_nsec = (long)(v->time_ns % NS_PER_S);
	st->st_ctim = st->st_mtim;
	*timeout = fs->o.attr_timeout;
	return 0;
}

/*
 * Whether who could read file x's version committed at t as it was, for a
 * version committed before versions kept their attributes: by the owner,
 * group and mode the namespace had for x at t, and in its first version
 * after the flush round that committed it (a chmod made just before a
 * save is committed with the save's round, after the store); both must
 * allow, the most restrictive wins. Without either (thinned away by
 * compaction), by the attributes now of the file whose history it is.
 */
static int may_read_ns(struct fs *fs, const struct vcaller *who, uint64_t x, uint64_t live,
		       uint64_t t)
{
	uint64_t after = t + 2 * (uint64_t)fs->o.flush_ms * 1000000 + NS_PER_S;
	struct ns_inode a;
	struct stat st;
	bool known = false;
	int rc;

	if ((rc = at_inode(fs, t, x, &a, NULL)) == 0) {
		if (!vt_may_read(who, a.uid, a.gid, a.mode))
			return -EACCES;
		known = true;
	}
	if ((rc = at_inode(fs, after, x, &a, NULL)) == 0) {
		if (!vt_may_read(who, a.uid, a.gid, a.mode))
			return -EACCES;
		known = true;
	}
	if (known)
		return 0;
	if ((rc = attr_of(fs, live, &st)) != 0)
		return rc;
	return vt_may_read(who, st.st_uid, st.st_gid, st.st_mode) ? 0 : -EACCES;
}

/*
 * Whether who could read version v as it was: by the owner, group and
 * mode it was committed with, and the directories that led to it then
 * (search), all kept with the version; and as its path is now, by the
 * file's own owner and mode (the directories now the kernel checked on
 * the way here). The most restrictive wins.
 */
static int may_read_then(struct fs *fs, const struct vcaller *who, const struct vnode *v)
{
	uint64_t live = v->live ? v->live : v->x;
	struct ns_meta m;
	struct stat st;
	void *buf;
	bool ok;
	int rc = version_meta(fs, v, &m, &buf);

	if (rc == -ENODATA)
		return may_read_ns(fs, who, v->x, live, v->time_ns);
	if (rc)
		return rc;
	ok = vt_may_read(who, m.self.uid, m.self.gid, m.self.mode);
	for (uint32_t i = 0; ok && i < m.ngate; i++)
		ok = vt_may(who, m.gate[i].uid, m.gate[i].gid, m.gate[i].mode, 1);
	ns_meta_free(&m);
	free(buf);
	if (!ok)
		return -EACCES;
	if ((rc = attr_of(fs, live, &st)) == -ENOENT)
		return 0; /* the path's file is gone: its directories decide */
	if (rc)
		return rc;
	return vt_may_read(who, st.st_uid, st.st_gid, st.st_mode) ? 0 : -EACCES;
}

/* The kernel checked the owner and mode stat gave; the version is read
 * only by who could read it then and now as well. */
static int vfile_open(struct fs *fs, const struct vnode *v, const struct vcaller *who,
		      struct vfh *h, struct fuse_file_info *fi)
{
	struct vfile_open o = {0};
	int rc;

	if ((rc = may_read_then(fs, who, v)) != 0)
		return rc;
	o.ver.seq = v->seq;
	o.ver.offset = v->off;
	rc = with_any_store(fs, v->x, open_version, &o);
	if (rc)
		return rc;
	h->ver = o.v;
	fi->keep_cache = 1; /* a version never changes */
	return 0;
}

/* A version's xattrs: those it was committed with (none if it was
 * committed before they were kept). */
static int vfile_getxattr(struct fs *fs, const struct vnode *v, const char *name, void **val,
			  size_t *len)
{
	struct ns_meta m;
	void *buf;
	int rc;

	if (v->perm_known && !v->has_xattrs)
		return -ENODATA; /* known from the listing: ls -l asks for two each */
	if ((rc = version_meta(fs, v, &m, &buf)) != 0)
		return rc;
	rc = -ENODATA;
	for (uint32_t i = 0; i < m.nx && rc == -ENODATA; i++) {
		if (m.x[i].nlen != strlen(name) || memcmp(m.x[i].name, name, m.x[i].nlen))
			continue;
		if (!(*val = malloc(m.x[i].vlen ? m.x[i].vlen : 1))) {
			rc = -ENOMEM;
			break;
		}
		memcpy(*val, m.x[i].val, m.x[i].vlen);
		*len = m.x[i].vlen;
		rc = 0;
	}
	ns_meta_free(&m);
	free(buf);
	return rc;
}

static int vfile_listxattr(struct fs *fs, const struct vnode *v, char **names, size_t *len)
{
	struct ns_meta m;
	void *buf;
	size_t n = 0;
	char *out;
	int rc;

	if (v->perm_known && !v->has_xattrs)
		return 0;
	if ((rc = version_meta(fs, v, &m, &buf)) == -ENODATA)
		return 0;
	if (rc)
		return rc;
	for (uint32_t i = 0; i < m.nx; i++)
		n += m.x[i].nlen + 1;
	if (n && (out = malloc(n))) {
		size_t k = 0;

		for (uint32_t i = 0; i < m.nx; i++) {
			memcpy(out + k, m.x[i].name, m.x[i].nlen);
			out[k + m.x[i].nlen] = 0;
			k += m.x[i].nlen + 1;
		}
		*names = out;
		*len = n;
	} else if (n) {
		rc = -ENOMEM;
	}
	ns_meta_free(&m);
	free(buf);
	return rc;
}

const struct vkind_ops vk_history = {.stat = history_stat, .lookup = hdir_child, .list = hdir_list};
const struct vkind_ops vk_hdir = {.stat = hdir_stat, .lookup = hdir_child, .list = hdir_list};
const struct vkind_ops vk_vlist = {
    .stat = hdir_stat, .lookup = vlist_child, .list = vlist_list, .plus = true};
const struct vkind_ops vk_vfile = {.stat = vfile_stat,
				   .open = vfile_open,
				   .getxattr = vfile_getxattr,
				   .listxattr = vfile_listxattr};

/* ---- the user.revfs.* extended attributes ------------------------------ */

#define VX_PREFIX "user.revfs."

struct count_ctx {
	uint64_t n, newest; /* listed versions (find_cb's rule), the newest's seq */
	uint64_t seen;
};

static int count_cb(void *arg, const struct st_version *v)
{
	struct count_ctx *c = arg;

	if (v->interim && c->seen > 0) {
		c->seen++;
		return 0;
	}
	if (c->seen++ == 0)
		c->newest = v->seq;
	c->n++;
	return 0;
}

static int count_versions(st_store *st, void *arg)
{
	int rc = st_versions(st, count_cb, arg);

	return rc < 0 ? -fs_errno(rc) : 0;
}

/* Whether inode ino is a regular file (its record says so). */
static bool is_file(struct fs *fs, uint64_t ino)
{
	struct inode *in = ino_get(fs, ino);
	bool reg = false;

	if (in) {
		pthread_mutex_lock(&in->lock);
		reg = S_ISREG(in->a.mode) && !in->removed;
		pthread_mutex_unlock(&in->lock);
		ino_put(fs, in);
	}
	return reg;
}

static bool parse_seq(const char *s, size_t len, uint64_t *seq)
{
	char buf[24], *end;

	if (len == 0 || len >= sizeof(buf) || s[0] < '1' || s[0] > '9')
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	*seq = strtoull(buf, &end, 10);
	return *end == 0;
}

int vx_get(struct fs *fs, uint64_t ino, const char *name, char *out, size_t cap, size_t *len)
{
	struct count_ctx c = {0};
	uint64_t seq;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	name += strlen(VX_PREFIX);
	if (!is_file(fs, ino))
		return -ENODATA;
	if (strcmp(name, "version") == 0) {
		rc = with_store(fs, ino, count_versions, &c);
		if (rc == -ENODATA)
			rc = 0; /* read-only mount, never committed */
		if (rc)
			return rc;
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)c.newest);
		return 0;
	}
	if (strcmp(name, "versions") == 0) { /* as many as history/ lists */
		uint64_t n;

		if ((rc = fs_path_versions(fs, ino, &n)) != 0)
			return rc;
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)n);
		return 0;
	}
	if (strcmp(name, "history_bytes") == 0) {
		uint64_t n;

		if ((rc = space_history_of(fs, ino, &n)) != 0)
			return rc;
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)n);
		return 0;
	}
	if (strcmp(name, "pins") == 0) {
		uint64_t *pins = NULL;
		size_t n = 0, at = 0;

		if ((rc = fs_pins(fs, ino, &pins, &n)) != 0)
			return rc;
		out[0] = 0;
		for (size_t i = 0; i < n && at < cap; i++)
			at += (size_t)snprintf(out + at, cap - at, "%s%llu", i ? "," : "",
					       (unsigned long long)pins[i]);
		free(pins);
		if (at >= cap)
			return -E2BIG;
		*len = at;
		return 0;
	}
	if (strncmp(name, "pin.", 4) == 0 && parse_seq(name + 4, strlen(name + 4), &seq)) {
		pthread_mutex_lock(&fs->ns_lock);
		rc = ns_pin_get(fs->ns, ino, seq);
		pthread_mutex_unlock(&fs->ns_lock);
		if (rc)
			return rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc);
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)seq);
		return 0;
	}
	return -ENODATA;
}

/* The version a name of file ino's history (as listed) names, anywhere
 * along its lineage: the file whose store holds it, and its seq. */
static int resolve_vname(struct fs *fs, uint64_t ino, const char *name, size_t len,
			 struct lver *out)
{
	char text[VNAME_BUF];
	struct lver *v = NULL;
	size_t n = 0;
	uint64_t t;
	int rc;

	if (len >= sizeof(text))
		return -EINVAL;
	memcpy(text, name, len);
	text[len] = 0;
	if (!vname_parse(text, &t))
		return -EINVAL;
	if ((rc = history_of(fs, ino, &v, &n)) != 0)
		return rc;
	rc = -EINVAL; /* no such version kept */
	for (size_t i = 0; i < n && rc; i++)
		if (v[i].v.time_ns == t) {
			*out = v[i];
			rc = 0;
		}
	free(v);
	return rc;
}

/* A pinned version stays through any give-back of space, whose copy of
 * the file then takes it too: the low-water mark makes room for that. */
static void pin_noted(struct fs *fs, uint64_t ino, uint64_t bytes)
{
	struct inode *in = ino_get(fs, ino);

	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	bytes += in->committed_bytes;
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	space_note(fs, bytes);
}

int vx_set(struct fs *fs, uint64_t ino, const char *name, const char *value, size_t size)
{
	struct find_ver f = {0};
	struct lver lv;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	if (strcmp(name + strlen(VX_PREFIX), "pin") != 0)
		return -EPERM; /* the others describe the file; users cannot set them */
	if (!is_file(fs, ino))
		return -EPERM;
	/* A version's listed name pins it wherever along the lineage it is. */
	if (!parse_seq(value, size, &f.seq)) {
		if ((rc = resolve_vname(fs, ino, value, size, &lv)) != 0)
			return rc;
		pthread_mutex_lock(&fs->ns_lock);
		rc = ns_pin_put(fs->ns, lv.ino, lv.v.seq);
		fs->ns_dirty = true;
		pthread_mutex_unlock(&fs->ns_lock);
		pin_noted(fs, ino, lv.v.bytes);
		return rc ? -fs_errno(rc) : 0;
	}
	rc = with_store(fs, ino, find_version, &f);
	if (rc)
		return rc == -ENOENT ? -EINVAL : rc; /* no such version kept */
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_pin_put(fs->ns, ino, f.seq);
	fs->ns_dirty = true;
	pthread_mutex_unlock(&fs->ns_lock);
	pin_noted(fs, ino, f.v.bytes);
	return rc ? -fs_errno(rc) : 0;
}

int vx_remove(struct fs *fs, uint64_t ino, const char *name)
{
	struct lver lv;
	uint64_t seq;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	name += strlen(VX_PREFIX);
	/* user.revfs.pin.<seq>, or .<listed name> for any version of the
	 * lineage. */
	if (strncmp(name, "pin.", 4) == 0 && !parse_seq(name + 4, strlen(name + 4), &seq) &&
	    resolve_vname(fs, ino, name + 4, strlen(name + 4), &lv) == 0) {
		ino = lv.ino;
		seq = lv.v.seq;
	} else if (strncmp(name, "pin.", 4) != 0 || !parse_seq(name + 4, strlen(name + 4), &seq)) {
		return strcmp(name, "version") == 0 || strcmp(name, "versions") == 0 ? -EPERM
										     : -ENODATA;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_pin_get(fs->ns, ino, seq);
	if (rc == ST_OK) {
		rc = ns_pin_del(fs->ns, ino, seq);
		fs->ns_dirty = true;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == ST_ENOTFOUND)
		return -ENODATA;
	return rc ? -fs_errno(rc) : 0;
}

static int pins_cb(void *arg, uint64_t ino, uint64_t seq)
{
	(void)ino;
	return u64s_push(arg, seq);
}

/* The pins of ino (ns_lock held). */
static int pins_locked(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n)
{
	struct u64s p = {0};
	int rc;

	rc = ns_pin_list(fs->ns, ino, pins_cb, &p);
	if (rc) {
		free(p.v);
		return rc == ST_ENOMEM ? -ENOMEM : -fs_errno(rc);
	}
	*pins = p.v;
	*n = p.n;
	return 0;
}

int fs_path_versions(struct fs *fs, uint64_t ino, uint64_t *n)
{
	struct lver *v = NULL;
	size_t k = 0;
	int rc = history_of(fs, ino, &v, &k);

	free(v);
	*n = k;
	return rc;
}

int fs_pins(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n)
{
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = pins_locked(fs, ino, pins, n);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

void fs_pins_clear(struct fs *fs, uint64_t ino, const uint64_t *keep, size_t nkeep)
{
	uint64_t *pins = NULL;
	size_t n = 0;

	if (pins_locked(fs, ino, &pins, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		bool kept = false;

		for (size_t k = 0; k < nkeep && !kept; k++)
			kept = keep[k] == pins[i];
		if (!kept)
			ns_pin_del(fs->ns, ino, pins[i]);
	}
	free(pins);
}
