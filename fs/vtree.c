/*
 * vtree.c - the virtual, read-only tree under MNT/.revfs: reachable by name
 * from the root, never listed by the root's readdir (so find, du, tar and
 * rsync of the mount stay out of it). It holds `stats`, the daemon's
 * counters as "name value" lines, and `history/`: the tree of the mount as
 * it is now, where each regular file is a directory of its versions, one
 * read-only file per kept version, named by its sequence number, with the
 * commit time as mtime.
 *
 * `at/<time>/` is the whole tree as it was at that time (attree.c answers
 * from a snapshot of the namespace).
 *
 * Inode numbers here have the top bit set, which no namespace inode has.
 * Beyond the fixed ones they name vnodes, made on lookup and freed when
 * the kernel forgets them: (HDIR, x) mirrors directory x, (VLIST, x) lists
 * the versions of file x, (VFILE, x, seq) is one version, (AT, x, t) is
 * inode x as it was at time t (x = the root: at/<time> itself).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "revfs.h"

struct vbuf {
	char *s;
	size_t len;
};

enum vkind { VK_HDIR = 1, VK_VLIST, VK_VFILE, VK_AT };

struct vnode {
	uint64_t vino;
	enum vkind kind;
	uint64_t x, seq;  /* the namespace inode; the version (AT: the time) */
	uint64_t nlookup; /* the kernel's references */
	uint64_t size;	  /* VFILE, AT file: size of the version */
	uint64_t time_ns; /* VFILE: commit time; AT file: the version's mtime */
	uint8_t type;	  /* AT: the entry's DT_ type */
	uint64_t off;	  /* VFILE: where its header was (st_open_version_at) */
	/* VLIST: the versions its last listing found, newest first, so that
	 * the lookups that follow a listing (ls -l) need no walk each. */
	struct st_version *vers;
	size_t nvers;
	struct vnode *next_vino, *next_key;
};

#define VN_BUCKETS 4096u
/* vt_lock guards the vnode table and the counter. */
static pthread_mutex_t vt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vnode *by_vino[VN_BUCKETS], *by_key[VN_BUCKETS];
static uint64_t next_vino = VT_BIT | 16;

static uint32_t vn_hash(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t h =
	    a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full ^ c * 0x165667b19e3779f9ull;

	return (uint32_t)(h >> 40) % VN_BUCKETS;
}

static struct vnode *vn_find(uint64_t vino)
{
	struct vnode *v;

	for (v = by_vino[vn_hash(vino, 0, 0)]; v; v = v->next_vino)
		if (v->vino == vino)
			return v;
	return NULL;
}

/* The vnode for (kind, x, seq), made if missing, with one more lookup.
 * vt_lock held. NULL if out of memory. */
static struct vnode *vn_ref(enum vkind kind, uint64_t x, uint64_t seq)
{
	uint32_t k = vn_hash(kind, x, seq);
	struct vnode *v;

	for (v = by_key[k]; v; v = v->next_key)
		if (v->kind == kind && v->x == x && v->seq == seq) {
			v->nlookup++;
			return v;
		}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->vino = next_vino++;
	v->kind = kind;
	v->x = x;
	v->seq = seq;
	v->nlookup = 1;
	v->next_key = by_key[k];
	by_key[k] = v;
	k = vn_hash(v->vino, 0, 0);
	v->next_vino = by_vino[k];
	by_vino[k] = v;
	return v;
}

void vt_forget(uint64_t vino, uint64_t n)
{
	struct vnode *v, **p;

	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v && (v->nlookup -= n < v->nlookup ? n : v->nlookup) == 0) {
		for (p = &by_vino[vn_hash(vino, 0, 0)]; *p != v; p = &(*p)->next_vino)
			;
		*p = v->next_vino;
		for (p = &by_key[vn_hash(v->kind, v->x, v->seq)]; *p != v; p = &(*p)->next_key)
			;
		*p = v->next_key;
		free(v->vers);
		free(v);
	}
	pthread_mutex_unlock(&vt_lock);
}

void vt_release_all(void)
{
	at_release_all();
	pthread_mutex_lock(&vt_lock);
	for (uint32_t i = 0; i < VN_BUCKETS; i++) {
		struct vnode *v, *next;

		for (v = by_vino[i]; v; v = next) {
			next = v->next_vino;
			free(v->vers);
			free(v);
		}
		by_vino[i] = by_key[i] = NULL;
	}
	pthread_mutex_unlock(&vt_lock);
}

/* A copy of vnode vino (0 if it is not one). */
static int vn_get(uint64_t vino, struct vnode *out)
{
	struct vnode *v;

	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v) {
		*out = *v;
		out->vers = NULL; /* owned by the table */
	}
	pthread_mutex_unlock(&vt_lock);
	return v ? 0 : -ENOENT;
}

/* Version seq of list vnode vino, from its last listing. */
static bool vn_cached_version(uint64_t vino, uint64_t seq, struct st_version *out)
{
	struct vnode *v;
	bool found = false;

	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v && v->vers) {
		size_t lo = 0, hi = v->nvers; /* newest (highest seq) first */

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (v->vers[mid].seq > seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < v->nvers && v->vers[lo].seq == seq) {
			*out = v->vers[lo];
			found = true;
		}
	}
	pthread_mutex_unlock(&vt_lock);
	return found;
}

/* Keeps vers (malloc()ed) as the listing of vnode vino. */
static void vn_set_versions(uint64_t vino, struct st_version *vers, size_t n)
{
	struct vnode *v;

	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v) {
		free(v->vers);
		v->vers = vers;
		v->nvers = n;
		vers = NULL;
	}
	pthread_mutex_unlock(&vt_lock);
	free(vers);
}

/* Runs fn on inode x's file store, opened if need be. -errno. */
static int with_store(struct fs *fs, uint64_t x, int (*fn)(st_store *st, void *arg), void *arg)
{
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load(fs, x, &in);
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
};

static int find_cb(void *arg, const struct st_version *v)
{
	struct find_ver *f = arg;

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

/* Appends one "name value" line. */
static void line(FILE *f, const char *name, unsigned long long v)
{
	fprintf(f, "%s %llu\n", name, v);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of r's samples, 0 with none. The
 * caller's copy is sorted here: the lock that guards r is not held. */
static uint64_t percentile(struct stat_ring *r, unsigned p)
{
	size_t k;

	if (r->n == 0)
		return 0;
	qsort(r->v, r->n, sizeof(r->v[0]), u64_cmp);
	k = ((size_t)r->n * p + 99) / 100;
	return r->v[k ? k - 1 : 0];
}

/* The stats text (malloc()ed) and its length, or NULL. */
static char *stats_text(struct fs *fs, size_t *len)
{
	char *s = NULL;
	FILE *f;
	uint64_t loaded;
	struct {
		uint64_t dirty, rounds, busy, round_ns, round_max, stalls, stall_ns, waits, wait_ns;
		struct stat_ring ring;
	} * w;
	struct {
		uint64_t n, fail, nospace, reclaimed, hold, queued, before, after, passes;
		struct stat_ring ring;
		bool paused, on;
	} * c;

	/* Two rings of 2 KiB each: off the FUSE thread's stack. */
	w = malloc(sizeof(*w));
	c = malloc(sizeof(*c));
	f = w && c ? open_memstream(&s, len) : NULL;
	if (!f) {
		free(w);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&fs->ns_lock);
	loaded = fs->hcount;
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_mutex_lock(&fs->flush_lock);
	w->dirty = fs->dirty_bytes;
	w->rounds = fs->done_gen;
	w->busy = fs->flush_busy_rounds;
	w->round_ns = fs->flush_round_ns;
	w->round_max = fs->flush_round_max_ns;
	w->ring = fs->flush_round_ring;
	w->stalls = fs->writer_stalls;
	w->stall_ns = fs->writer_stall_ns;
	w->waits = fs->flush_store_waits;
	w->wait_ns = fs->flush_store_wait_ns;
	pthread_mutex_unlock(&fs->flush_lock);
	pthread_mutex_lock(&fs->compact_lock);
	c->n = fs->compactions;
	c->fail = fs->compact_failures;
	c->nospace = fs->compact_nospace;
	c->reclaimed = fs->compact_reclaimed;
	c->hold = fs->compact_hold_max_ns;
	c->queued = fs->ncompact;
	c->before = fs->compact_bytes_before;
	c->after = fs->compact_bytes_after;
	c->passes = fs->compact_passes;
	c->ring = fs->compact_hold_ring;
	c->paused = fs->compact_paused;
	c->on = fs->o.compact && !fs->o.ro;
	pthread_mutex_unlock(&fs->compact_lock);

	line(f, "flush_rounds", w->rounds);
	line(f, "flush_busy_rounds", w->busy);
	line(f, "flush_round_total_us", w->round_ns / 1000);
	line(f, "flush_round_p99_us", percentile(&w->ring, 99) / 1000);
	line(f, "flush_round_max_us", w->round_max / 1000);
	line(f, "flush_compaction_waits", w->waits);
	line(f, "flush_compaction_wait_us", w->wait_ns / 1000);
	line(f, "writer_stalls", w->stalls);
	line(f, "writer_stall_us", w->stall_ns / 1000);
	line(f, "dirty_bytes", w->dirty);
	line(f, "dirty_limit_bytes", fs->dirty_limit);
	line(f, "inodes_loaded", loaded);
	fprintf(f, "compactor %s\n", !c->on ? "off" : c->paused ? "paused" : "running");
	line(f, "compactions", c->n);
	line(f, "compaction_failures", c->fail);
	line(f, "compactions_waiting_for_space", c->nospace);
	line(f, "compaction_queue", c->queued);
	line(f, "compaction_reclaimed_bytes", c->reclaimed);
	line(f, "compaction_bytes_before", c->before);
	line(f, "compaction_bytes_after", c->after);
	line(f, "compaction_passes", c->passes);
	line(f, "compaction_lock_hold_p50_us", percentile(&c->ring, 50) / 1000);
	line(f, "compaction_lock_hold_p99_us", percentile(&c->ring, 99) / 1000);
	line(f, "compaction_lock_hold_max_us", c->hold / 1000);
	free(w);
	free(c);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- at/<time> -------------------------------------------------------- */

#define NS_PER_S 1000000000ull

/* A relative name ("-1h") keeps the moment of its first lookup for a
 * minute, so that a cp -a or diff -r walking the tree by path sees one
 * tree, not one that moves on by a second with every lookup. */
#define REL_SLOTS   16
#define REL_KEEP_NS (60 * NS_PER_S)

struct rel {
	char name[32];
	uint64_t t;  /* the moment it names */
	uint64_t at; /* when that was worked out */
};

static struct rel rels[REL_SLOTS]; /* vt_lock */

/* The moment name (a directory of at/) stands for. -ENOENT if it is not
 * a time, or before anything was committed. */
static int at_resolve(struct fs *fs, const char *name, uint64_t *t)
{
	uint64_t now = st_realtime_ns();
	struct rel *r, *old = &rels[0];
	int rc;

	if (name[0] == '-' && strlen(name) < sizeof(rels[0].name)) {
		pthread_mutex_lock(&vt_lock);
		for (int i = 0; i < REL_SLOTS; i++) {
			r = &rels[i];
			if (r->at && strcmp(r->name, name) == 0 && now - r->at < REL_KEEP_NS) {
				*t = r->t;
				pthread_mutex_unlock(&vt_lock);
				return at_exists(fs, *t);
			}
			if (r->at < old->at)
				old = r;
		}
		pthread_mutex_unlock(&vt_lock);
	}
	rc = at_parse_time(name, now, t);
	if (rc)
		return -ENOENT;
	if (name[0] == '-' && strlen(name) < sizeof(rels[0].name)) {
		pthread_mutex_lock(&vt_lock);
		strcpy(old->name, name);
		old->t = *t;
		old->at = now;
		pthread_mutex_unlock(&vt_lock);
	}
	return at_exists(fs, *t);
}

/* Whether everything at t is committed: a moment in the last two seconds
 * (or to come) may still change, and the kernel must not cache it. */
static bool at_stable(uint64_t t)
{
	return t + 2 * NS_PER_S < st_realtime_ns();
}

static double at_timeout(struct fs *fs, uint64_t t)
{
	return at_stable(t) ? fs->o.attr_timeout : 0;
}

/* Attributes of inode v->x as it was at v->seq: its record then, and a
 * regular file's size and mtime from its version then. */
static int at_stat(struct fs *fs, const struct vnode *v, struct stat *st)
{
	struct st_inode a;
	int rc = at_inode(fs, v->seq, v->x, &a, NULL);

	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->st_ino = v->vino;
	st->st_mode = a.mode;
	st->st_nlink = a.nlink;
	st->st_uid = a.uid;
	st->st_gid = a.gid;
	st->st_rdev = a.rdev;
	st->st_size = S_ISREG(a.mode) ? (off_t)v->size : (off_t)a.size;
	st->st_blksize = ST_PAGE_SIZE;
	st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
	st->st_atim.tv_sec = (time_t)(a.atime_ns / (int64_t)NS_PER_S);
	st->st_atim.tv_nsec = (long)(a.atime_ns % (int64_t)NS_PER_S);
	if (S_ISREG(a.mode) && v->time_ns)
		a.mtime_ns = (int64_t)v->time_ns;
	st->st_mtim.tv_sec = (time_t)(a.mtime_ns / (int64_t)NS_PER_S);
	st->st_mtim.tv_nsec = (long)(a.mtime_ns % (int64_t)NS_PER_S);
	st->st_ctim.tv_sec = (time_t)(a.ctime_ns / (int64_t)NS_PER_S);
	st->st_ctim.tv_nsec = (long)(a.ctime_ns % (int64_t)NS_PER_S);
	return 0;
}

void vt_readlink(fuse_req_t req, uint64_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct st_inode a;
	struct vnode v;
	char *target = NULL;
	int rc = vn_get(ino, &v);

	if (rc == 0 && (v.kind != VK_AT || v.type != DT_LNK))
		rc = -EINVAL;
	if (rc == 0)
		rc = at_inode(fs, v.seq, v.x, &a, &target);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* Attributes of vnode v: a mirror directory takes its directory's owner
 * and times; a version list its file's; a version its size and commit time. */
static int vn_stat(struct fs *fs, const struct vnode *v, struct stat *st)
{
	struct inode *in;
	int rc;

	if (v->kind == VK_AT)
		return at_stat(fs, v, st);
	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load(fs, v->x, &in);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&in->lock);
	ino_attr(in, st);
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	st->st_ino = v->vino;
	st->st_blocks = 0;
	if (v->kind == VK_VFILE) {
		st->st_mode = S_IFREG | (st->st_mode & 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)v->size;
		st->st_blocks = (blkcnt_t)((v->size + 511) / 512);
		st->st_mtim.tv_sec = (time_t)(v->time_ns / 1000000000);
		st->st_mtim.tv_nsec = (long)(v->time_ns % 1000000000);
		st->st_ctim = st->st_mtim;
	} else {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 0;
	}
	return 0;
}

static void vt_stat(struct fs *fs, uint64_t vino, struct stat *st)
{
	struct inode *root = ino_get(fs, ST_ROOT_INO);

	memset(st, 0, sizeof(*st));
	if (root) {
		pthread_mutex_lock(&root->lock);
		ino_attr(root, st);
		pthread_mutex_unlock(&root->lock);
		ino_put(fs, root);
	}
	st->st_ino = vino;
	st->st_blocks = 0;
	if (vino == VT_DIR || vino == VT_HISTORY || vino == VT_AT) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 0;
	} else {
		size_t len = 0;
		char *s = stats_text(fs, &len);

		free(s);
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)len;
	}
}

/* Looks name up in a mirror of directory x: a directory gives its mirror,
 * a regular file the list of its versions. */
static int hdir_lookup(struct fs *fs, uint64_t x, const char *name, enum vkind *kind, uint64_t *y)
{
	uint8_t key[ST_NS_KEY_MAX], type;
	size_t klen, vlen;
	void *val;
	int rc;

	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	klen = st_ns_key(ST_NS_DIRENT, x, name, strlen(name), key);
	pthread_mutex_lock(&fs->ns_lock);
	rc = st_kv_get(fs->ns, key, klen, &val, &vlen);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return -fs_errno(rc);
	rc = st_ns_dirent_decode(val, vlen, y, &type);
	free(val);
	if (rc)
		return -EIO;
	if (type == DT_DIR)
		*kind = VK_HDIR;
	else if (type == DT_REG)
		*kind = VK_VLIST;
	else
		return -ENOENT; /* symlinks and devices have no versions */
	return 0;
}

/* Looks name up in virtual directory parent: 0 and *ep (a negative entry
 * if ep->ino is 0; else one more lookup of vnode ep->ino), or -errno. */
static int vt_entry(struct fs *fs, uint64_t parent, const char *name, struct fuse_entry_param *ep)
{
	struct fuse_entry_param e;
	struct vnode pv, *v, nv = {0};
	uint64_t vino = 0, y = 0;
	enum vkind kind = VK_HDIR;
	int rc = -ENOENT;

	memset(&e, 0, sizeof(e));
	e.generation = 1;
	e.entry_timeout = fs->o.attr_timeout;
	e.attr_timeout = fs->o.attr_timeout;
	if (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)
		vino = VT_DIR;
	else if (parent == VT_DIR && strcmp(name, "stats") == 0)
		vino = VT_STATS;
	else if (parent == VT_DIR && strcmp(name, "history") == 0)
		vino = VT_HISTORY;
	else if (parent == VT_DIR && strcmp(name, "at") == 0)
		vino = VT_AT;
	if (vino) {
		e.ino = vino;
		/* The counters change all the time: never cached. */
		if (vino == VT_STATS)
			e.attr_timeout = 0;
		vt_stat(fs, vino, &e.attr);
		*ep = e;
		return 0;
	}
	if (parent == VT_HISTORY) {
		rc = hdir_lookup(fs, ST_ROOT_INO, name, &kind, &y);
	} else if (parent == VT_AT) {
		kind = VK_AT;
		y = ST_ROOT_INO;
		nv.type = DT_DIR;
		rc = at_resolve(fs, name, &nv.seq);
	} else if (vn_get(parent, &pv) == 0 && pv.kind == VK_AT) {
		kind = VK_AT;
		nv.seq = pv.seq;
		rc = pv.type == DT_DIR ? at_lookup(fs, pv.seq, pv.x, name, &y, &nv.type) : -ENOTDIR;
		if (rc == 0 && nv.type == DT_REG) {
			struct st_version ver;

			rc = at_file(fs, nv.seq, y, &ver, NULL);
			nv.size = ver.size;
			nv.time_ns = ver.mtime_ns;
		}
	} else if (vn_get(parent, &pv) == 0 && pv.kind == VK_HDIR) {
		rc = hdir_lookup(fs, pv.x, name, &kind, &y);
	} else if (vn_get(parent, &pv) == 0 && pv.kind == VK_VLIST) {
		struct find_ver f = {0};
		char *end;

		f.seq = strtoull(name, &end, 10);
		kind = VK_VFILE;
		y = pv.x;
		if (!*name || *end || name[0] == '0')
			rc = -ENOENT;
		else if (vn_cached_version(parent, f.seq, &f.v))
			rc = 0; /* listed a moment ago; an open checks it is still kept */
		else
			rc = with_store(fs, y, find_version, &f);
		nv.size = f.v.size;
		nv.time_ns = f.v.time_ns;
		nv.off = f.v.offset;
		nv.seq = f.seq;
	}
	if (rc == -ENOENT) {
		/* Negative entries only where names cannot appear behind the
		 * kernel's back: versions come and go with every flush. */
		e.entry_timeout = 0;
		*ep = e;
		return 0;
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&vt_lock);
	v = vn_ref(kind, y, nv.seq);
	if (v && (kind == VK_VFILE || kind == VK_AT)) {
		v->size = nv.size;
		v->time_ns = nv.time_ns;
		v->type = nv.type;
		v->off = nv.off;
	}
	if (v)
		nv = *v;
	pthread_mutex_unlock(&vt_lock);
	if (!v)
		return -ENOMEM;
	rc = vn_stat(fs, &nv, &e.attr);
	if (rc) {
		vt_forget(nv.vino, 1);
		return rc;
	}
	e.ino = nv.vino;
	if (kind == VK_VLIST)
		e.attr_timeout = 0; /* its listing grows with every commit */
	if (kind == VK_AT)
		e.attr_timeout = e.entry_timeout = at_timeout(fs, nv.seq);
	if (parent == VT_AT && name[0] == '-')
		e.entry_timeout = 0; /* a relative time moves on */
	*ep = e;
	return 0;
}

void vt_lookup(fuse_req_t req, uint64_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	int rc = vt_entry(fs, parent, name, &e);

	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_entry(req, &e) == -ENOENT && e.ino)
		vt_forget(e.ino, 1);
}

int vt_entry_plus(struct fs *fs, uint64_t dir, const char *name, struct fuse_entry_param *e)
{
	struct vnode v;

	/* The versions of a file: their attributes are known from the
	 * listing, so that ls -l needs no lookup per version. Elsewhere a
	 * lookup may cost a store's opening: left to the kernel. */
	if (vn_get(dir, &v) != 0 || v.kind != VK_VLIST || !strcmp(name, ".") || !strcmp(name, ".."))
		return 1;
	if (vt_entry(fs, dir, name, e) != 0 || e->ino == 0)
		return 1;
	return 0;
}

void vt_getattr(fuse_req_t req, uint64_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct vnode v;
	struct stat st;
	int rc;

	if (ino == VT_DIR || ino == VT_STATS || ino == VT_HISTORY || ino == VT_AT) {
		vt_stat(fs, ino, &st);
		fuse_reply_attr(req, &st, ino == VT_STATS ? 0 : fs->o.attr_timeout);
		return;
	}
	rc = vn_get(ino, &v);
	if (rc == 0)
		rc = vn_stat(fs, &v, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st,
				v.kind == VK_VFILE ? fs->o.attr_timeout
				: v.kind == VK_AT  ? at_timeout(fs, v.seq)
						   : 0);
}

void vt_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct vbuf *b;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino != VT_STATS) {
		struct vnode v;
		struct vfile_open o = {0};
		int rc = vn_get(ino, &v);

		if (rc == 0 && v.kind == VK_AT && v.type == DT_REG) {
			struct st_version ver;

			rc = at_file(fs, v.seq, v.x, &ver, &o.v);
			if (rc == 0 && !o.v && !(b = calloc(1, sizeof(*b))))
				rc = -ENOMEM;
			if (rc == 0 && !o.v) {
				/* No version that old: the file was empty then. */
				fi->fh = (uintptr_t)b;
				if (fuse_reply_open(req, fi) == -ENOENT)
					free(b);
				return;
			}
		} else if (rc == 0 && v.kind != VK_VFILE) {
			rc = -EISDIR;
		} else if (rc == 0) {
			o.ver.seq = v.seq;
			o.ver.offset = v.off;
			rc = with_store(fs, v.x, open_version, &o);
		}
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		/* A version never changes: the page cache may keep it (a
		 * moment of at/ only once it is past). */
		fi->fh = (uintptr_t)o.v | 1;
		fi->keep_cache = v.kind == VK_VFILE || at_stable(v.seq);
		if (fuse_reply_open(req, fi) == -ENOENT)
			st_close(o.v);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->s = stats_text(fs, &b->len))) {
		free(b);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* One snapshot per open, read past the kernel's page cache. */
	fi->fh = (uintptr_t)b;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		free(b->s);
		free(b);
	}
}

void vt_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct vbuf *b = (struct vbuf *)(uintptr_t)fi->fh;
	char *copy;

	if (fi->fh & 1) {
		/* A version's handle (tagged in bit 0: heap pointers never are). */
		st_store *v = (st_store *)(uintptr_t)(fi->fh & ~(uint64_t)1);
		char *buf = malloc(size ? size : 1);
		ssize_t n = buf ? st_file_read(v, (uint64_t)off, buf, size) : ST_ENOMEM;

		if (n < 0)
			fuse_reply_err(req, fs_errno((int)n));
		else
			fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
		return;
	}

	if (off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	/* A copy of its own: once the kernel has the reply, the reader may
	 * close and the release free the handle's text while this thread is
	 * still returning from the write of the reply. */
	copy = malloc(size);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, b->s + off, size);
	fuse_reply_buf(req, copy, size);
	free(copy);
}

void vt_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct vbuf *b = (struct vbuf *)(uintptr_t)fi->fh;

	if (fi->fh & 1) {
		st_close((st_store *)(uintptr_t)(fi->fh & ~(uint64_t)1));
		fuse_reply_err(req, 0);
		return;
	}
	if (b) {
		free(b->s);
		free(b);
	}
	fuse_reply_err(req, 0);
}

struct list_ctx {
	struct dirh *d;
	int rc;
	struct st_version *vers; /* the versions listed, for the vnode */
	size_t nvers, cap;
};

static int list_dir_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_ctx *c = arg;
	uint64_t ino;
	uint8_t type;

	if (klen <= 9 || st_ns_dirent_decode(val, vlen, &ino, &type))
		return 0;
	if (type != DT_DIR && type != DT_REG)
		return 0;
	c->rc = fs_dirh_add(c->d, (const char *)key + 9, klen - 9, VT_BIT | ino, type);
	return c->rc ? 1 : 0;
}

static int list_ver_cb(void *arg, const struct st_version *v)
{
	struct list_ctx *c = arg;
	char name[24];
	int n = snprintf(name, sizeof(name), "%llu", (unsigned long long)v->seq);

	c->rc = fs_dirh_add(c->d, name, (size_t)n, VT_BIT | v->seq, DT_REG);
	if (c->rc == 0 && c->nvers == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct st_version *nv = realloc(c->vers, cap * sizeof(*nv));

		if (!nv)
			return 0; /* the cache is an optimization */
		c->vers = nv;
		c->cap = cap;
	}
	if (c->rc == 0)
		c->vers[c->nvers++] = *v;
	return c->rc ? 1 : 0;
}

static int list_versions(st_store *st, void *arg)
{
	int rc = st_versions(st, list_ver_cb, arg);

	return rc < 0 ? -fs_errno(rc) : 0;
}

int vt_list(struct fs *fs, uint64_t ino, struct dirh *d)
{
	struct list_ctx c = {d, 0, NULL, 0, 0};
	uint8_t key[ST_NS_KEY_MAX];
	struct vnode v;
	uint64_t x;
	int rc;

	if (ino == VT_DIR) {
		rc = fs_dirh_add(d, ".", 1, VT_DIR, DT_DIR);
		if (rc == 0)
			rc = fs_dirh_add(d, "..", 2, ST_ROOT_INO, DT_DIR);
		if (rc == 0)
			rc = fs_dirh_add(d, "at", 2, VT_AT, DT_DIR);
		if (rc == 0)
			rc = fs_dirh_add(d, "history", 7, VT_HISTORY, DT_DIR);
		if (rc == 0)
			rc = fs_dirh_add(d, "stats", 5, VT_STATS, DT_REG);
		return rc;
	}
	if (ino == VT_AT) {
		/* Any time can be named; none is listed. */
		rc = fs_dirh_add(d, ".", 1, ino, DT_DIR);
		return rc ? rc : fs_dirh_add(d, "..", 2, VT_DIR, DT_DIR);
	}
	if (ino == VT_HISTORY) {
		x = ST_ROOT_INO;
	} else {
		if ((rc = vn_get(ino, &v)) != 0)
			return rc;
		if (v.kind == VK_VFILE || (v.kind == VK_AT && v.type != DT_DIR))
			return -ENOTDIR;
		x = v.x;
	}
	rc = fs_dirh_add(d, ".", 1, ino, DT_DIR);
	if (rc == 0)
		rc = fs_dirh_add(d, "..", 2, VT_DIR, DT_DIR);
	if (rc)
		return rc;
	if (ino != VT_HISTORY && v.kind == VK_AT)
		return at_list(fs, v.seq, x, d);
	if (ino != VT_HISTORY && v.kind == VK_VLIST) {
		rc = with_store(fs, x, list_versions, &c);
		if (rc == 0 && c.rc == 0)
			vn_set_versions(ino, c.vers, c.nvers);
		else
			free(c.vers);
		return rc ? rc : c.rc;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = st_kv_range(fs->ns, key, st_ns_key(ST_NS_DIRENT, x, NULL, 0, key), list_dir_cb, &c);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc < 0 ? -fs_errno(rc) : c.rc;
}

/* ---- the user.revfs.* extended attributes ------------------------------ */

#define VX_PREFIX "user.revfs."

struct count_ctx {
	uint64_t n, newest;
};

static int count_cb(void *arg, const struct st_version *v)
{
	struct count_ctx *c = arg;

	if (c->n++ == 0)
		c->newest = v->seq;
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

static size_t pin_key(uint64_t ino, uint64_t seq, uint8_t *key)
{
	uint8_t s[8];

	st_ns_u64_encode(seq, s);
	return st_ns_key(ST_NS_PIN, ino, s, 8, key);
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
	uint8_t key[ST_NS_KEY_MAX];
	uint64_t seq;
	size_t vlen;
	void *val;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	name += strlen(VX_PREFIX);
	if (!is_file(fs, ino))
		return -ENODATA;
	if (strcmp(name, "version") == 0 || strcmp(name, "versions") == 0) {
		rc = with_store(fs, ino, count_versions, &c);
		if (rc == -ENODATA)
			rc = 0; /* read-only mount, never committed */
		if (rc)
			return rc;
		*len = (size_t)snprintf(out, cap, "%llu",
					(unsigned long long)(name[7] ? c.n : c.newest));
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
		rc = st_kv_get(fs->ns, key, pin_key(ino, seq, key), &val, &vlen);
		pthread_mutex_unlock(&fs->ns_lock);
		if (rc)
			return rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc);
		free(val);
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)seq);
		return 0;
	}
	return -ENODATA;
}

int vx_set(struct fs *fs, uint64_t ino, const char *name, const char *value, size_t size)
{
	struct find_ver f = {0};
	uint8_t key[ST_NS_KEY_MAX];
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	if (strcmp(name + strlen(VX_PREFIX), "pin") != 0)
		return -EPERM; /* the others describe the file; users cannot set them */
	if (!is_file(fs, ino))
		return -EPERM;
	if (!parse_seq(value, size, &f.seq))
		return -EINVAL;
	rc = with_store(fs, ino, find_version, &f);
	if (rc)
		return rc == -ENOENT ? -EINVAL : rc; /* no such version kept */
	pthread_mutex_lock(&fs->ns_lock);
	rc = st_kv_put(fs->ns, key, pin_key(ino, f.seq, key), "", 0);
	fs->ns_dirty = true;
	pthread_mutex_unlock(&fs->ns_lock);
	return rc ? -fs_errno(rc) : 0;
}

int vx_remove(struct fs *fs, uint64_t ino, const char *name)
{
	uint8_t key[ST_NS_KEY_MAX];
	uint64_t seq;
	size_t klen, vlen;
	void *val;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	name += strlen(VX_PREFIX);
	if (strncmp(name, "pin.", 4) != 0 || !parse_seq(name + 4, strlen(name + 4), &seq))
		return strcmp(name, "version") == 0 || strcmp(name, "versions") == 0 ? -EPERM
										     : -ENODATA;
	klen = pin_key(ino, seq, key);
	pthread_mutex_lock(&fs->ns_lock);
	rc = st_kv_get(fs->ns, key, klen, &val, &vlen);
	if (rc == ST_OK) {
		free(val);
		rc = st_kv_del(fs->ns, key, klen);
		fs->ns_dirty = true;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == ST_ENOTFOUND)
		return -ENODATA;
	return rc ? -fs_errno(rc) : 0;
}

struct pins_ctx {
	uint64_t *v;
	size_t n, cap;
};

static int pins_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct pins_ctx *p = arg;

	(void)val;
	(void)vlen;
	if (klen != 17)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		uint64_t *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return ST_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = st_ns_u64_decode((const uint8_t *)key + 9);
	return 0;
}

/* The pins of ino (ns_lock held). */
static int pins_locked(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n)
{
	uint8_t key[ST_NS_KEY_MAX];
	struct pins_ctx p = {0};
	int rc;

	rc = st_kv_range(fs->ns, key, st_ns_key(ST_NS_PIN, ino, NULL, 0, key), pins_cb, &p);
	if (rc) {
		free(p.v);
		return rc == ST_ENOMEM ? -ENOMEM : -fs_errno(rc);
	}
	*pins = p.v;
	*n = p.n;
	return 0;
}

int fs_pins(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n)
{
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = pins_locked(fs, ino, pins, n);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

void fs_pins_clear(struct fs *fs, uint64_t ino)
{
	uint8_t key[ST_NS_KEY_MAX];
	uint64_t *pins = NULL;
	size_t n = 0;

	if (pins_locked(fs, ino, &pins, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		st_kv_del(fs->ns, key, pin_key(ino, pins[i], key));
	free(pins);
}

uint64_t vt_size(struct fs *fs, uint64_t ino)
{
	struct vnode v;
	size_t len = 0;
	char *t;

	if (ino == VT_STATS) {
		t = stats_text(fs, &len);
		free(t);
		return len;
	}
	return vn_get(ino, &v) == 0 && (v.kind == VK_VFILE || v.kind == VK_AT) ? v.size : 0;
}
