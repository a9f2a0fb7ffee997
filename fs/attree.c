/*
 * attree.c - what .revfs/at/<time>/ shows: the whole tree as it was at a
 * moment. A time names the newest namespace version committed at or before
 * it, opened read-only (a snapshot); each regular file in it shows the
 * newest version of its own store committed at or before the same time.
 * Files deleted since are there too: their stores stay in the graveyard
 * (ns_grave_*) until no namespace version that still exists names them
 * (fs_grave_reap).
 *
 * Snapshots are cached (SNAPS slots, least recently used out): a lookup,
 * getattr or readdir under at/ takes one for the length of the request.
 * After a compaction of the namespace, the cached ones are stale (their
 * versions may have been dropped) and are reopened on their next use.
 *
 * The two kinds of node of the view (vtree.h) are at the end: at/ itself
 * (VK_ATDIR), where any moment may be named and none is listed, and a node
 * as it was at a moment (VK_AT).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "vtree.h"

/* ---- times ----------------------------------------------------------------- */

/* Reads exactly n decimal digits. */
static bool num(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* A fraction of a second after the point: ".25" -> 250000000 ns. */
static bool fraction(const char **p, uint64_t *ns)
{
	uint64_t scale = NS_PER_S / 10;

	*ns = 0;
	if (**p != '.' && **p != ',')
		return true;
	(*p)++;
	if (!isdigit((unsigned char)**p))
		return false;
	for (; isdigit((unsigned char)**p); (*p)++, scale /= 10)
		*ns += (uint64_t)(**p - '0') * scale;
	return true;
}

/* "-10m", "-2h", "-3d", "-1w", "-90s", or several: "-1h30m". */
static int parse_relative(const char *s, uint64_t now, uint64_t *out)
{
	uint64_t back = 0;

	if (!*s)
		return -EINVAL;
	while (*s) {
		uint64_t n = 0, unit;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++) {
			if (n > UINT64_MAX / 100)
				return -EINVAL;
			n = n * 10 + (uint64_t)(*s - '0');
		}
		switch (*s++) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		default:
			return -EINVAL;
		}
		if (n > now / NS_PER_S / unit)
			return -ENOENT; /* before 1970: before anything */
		back += n * unit * NS_PER_S;
	}
	if (back > now)
		return -ENOENT;
	*out = now - back;
	return 0;
}

/* "2026-11-23", "2026-11-23T14:05", "2026-11-23T14:05:00.5", a space for
 * the T, and "Z" or "+01:00" / "-0500" for a zone (none: local time). */
static int parse_iso(const char *s, uint64_t *out)
{
	struct tm tm, check;
	int y, mo, d, h = 0, mi = 0, sec = 0, zh = 0, zm = 0, zsign = 0;
	uint64_t frac = 0;
	bool utc = false;
	time_t t;

	if (!num(&s, 4, &y) || *s++ != '-' || !num(&s, 2, &mo) || *s++ != '-' || !num(&s, 2, &d))
		return -EINVAL;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (!num(&s, 2, &h) || *s++ != ':' || !num(&s, 2, &mi))
			return -EINVAL;
		if (*s == ':') {
			s++;
			if (!num(&s, 2, &sec) || !fraction(&s, &frac))
				return -EINVAL;
		}
		if (*s == 'Z' || *s == 'z') {
			utc = true;
			s++;
		} else if (*s == '+' || *s == '-') {
			zsign = *s++ == '+' ? 1 : -1;
			if (!num(&s, 2, &zh))
				return -EINVAL;
			if (*s == ':')
				s++;
			if (!num(&s, 2, &zm))
				return -EINVAL;
			utc = true;
		}
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    zh > 23 || zm > 59)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	check = tm;
	t = utc ? timegm(&tm) : mktime(&tm);
	/* mktime and timegm carry 2026-02-30 into March: not a date. */
	if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return -EINVAL;
	t -= (time_t)zsign * (zh * 3600 + zm * 60);
	if (t < 0)
		return -ENOENT;
	*out = (uint64_t)t * NS_PER_S + frac;
	return 0;
}

int at_parse_time(const char *s, uint64_t now_ns, uint64_t *out)
{
	if (s[0] == '-')
		return parse_relative(s + 1, now_ns, out);
	if (s[0] == '@') {
		uint64_t sec = 0, frac;
		bool far = false; /* past the last nanosecond a u64 holds */
		const char *p = s + 1;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			far = far || sec > (UINT64_MAX / NS_PER_S - (uint64_t)(*p - '0')) / 10;
			if (!far)
				sec = sec * 10 + (uint64_t)(*p - '0');
		}
		if (!fraction(&p, &frac) || *p)
			return -EINVAL;
		/* The far future is now: the newest of everything. */
		far = far || sec * NS_PER_S > UINT64_MAX - frac;
		*out = far ? UINT64_MAX : sec * NS_PER_S + frac;
		return 0;
	}
	return parse_iso(s, out);
}

/* ---- snapshots of the namespace ------------------------------------------ */

#define SNAPS 16

struct snap {
	uint64_t t;    /* the moment asked for */
	st_store *ns;  /* the newest namespace version at or before t */
	uint64_t gen;  /* ns_gen when it was opened */
	unsigned refs; /* requests using it now */
	uint64_t used; /* snap_clock at its last use */
	bool temp;     /* not in the cache: closed by its only user */
};

/* snap_lock guards the cache, the clock and ns_gen. */
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snap snaps[SNAPS];
static uint64_t snap_clock, ns_gen;

/* The snapshot for t, held until snap_put(). -ENOENT if the namespace has
 * no version that old. */
static int snap_get(struct fs *fs, uint64_t t, struct snap **out)
{
	struct snap *s, *slot = NULL;
	st_store *ns;
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&snap_lock);
	for (int i = 0; i < SNAPS; i++) {
		s = &snaps[i];
		if (s->ns && s->t == t && s->gen == ns_gen) {
			s->refs++;
			s->used = ++snap_clock;
			pthread_mutex_unlock(&snap_lock);
			*out = s;
			return 0;
		}
	}
	gen = ns_gen;
	pthread_mutex_unlock(&snap_lock);

	/* The namespace handle is never closed while mounted, and its own
	 * locks keep the walk safe from the flusher and the compactor. */
	rc = st_open_at_time(fs->ns, t, &ns);
	if (rc)
		return rc == ST_ENOTFOUND ? -ENOENT : -fs_errno(rc);

	pthread_mutex_lock(&snap_lock);
	for (int i = 0; i < SNAPS; i++) {
		s = &snaps[i];
		if (s->refs == 0 && (!slot || !s->ns || (slot->ns && s->used < slot->used)))
			slot = s;
	}
	if (slot && slot->ns) {
		st_close(slot->ns);
		slot->ns = NULL;
	}
	if (!slot) {
		/* Every slot is in use: this one is the caller's alone. */
		if (!(slot = calloc(1, sizeof(*slot)))) {
			pthread_mutex_unlock(&snap_lock);
			st_close(ns);
			return -ENOMEM;
		}
		slot->temp = true;
	}
	slot->t = t;
	slot->ns = ns;
	slot->gen = gen;
	slot->refs = 1;
	slot->used = ++snap_clock;
	pthread_mutex_unlock(&snap_lock);
	*out = slot;
	return 0;
}

static void snap_put(struct snap *s)
{
	st_store *close_it = NULL;

	pthread_mutex_lock(&snap_lock);
	if (--s->refs == 0 && (s->temp || s->gen != ns_gen)) {
		close_it = s->ns;
		s->ns = NULL;
	}
	pthread_mutex_unlock(&snap_lock);
	st_close(close_it);
	if (s->temp)
		free(s);
}

void at_ns_changed(void)
{
	pthread_mutex_lock(&snap_lock);
	ns_gen++;
	for (int i = 0; i < SNAPS; i++)
		if (snaps[i].ns && snaps[i].refs == 0) {
			st_close(snaps[i].ns);
			snaps[i].ns = NULL;
		}
	pthread_mutex_unlock(&snap_lock);
}

void at_release_all(void)
{
	pthread_mutex_lock(&snap_lock);
	for (int i = 0; i < SNAPS; i++) {
		st_close(snaps[i].ns);
		snaps[i].ns = NULL;
	}
	pthread_mutex_unlock(&snap_lock);
}

int at_exists(struct fs *fs, uint64_t t)
{
	struct snap *s;
	int rc = snap_get(fs, t, &s);

	if (rc == 0)
		snap_put(s);
	return rc;
}

/* ---- the tree as it was -------------------------------------------------- */

int at_lookup(struct fs *fs, uint64_t t, uint64_t dir, const char *name, uint64_t *ino,
	      uint8_t *type)
{
	struct snap *s;
	int rc;

	if (strlen(name) > NS_NAME_MAX)
		return -ENAMETOOLONG;
	if ((rc = snap_get(fs, t, &s)) != 0)
		return rc;
	rc = ns_dirent_get(s->ns, dir, name, ino, type);
	snap_put(s);
	return -fs_errno(rc);
}

int at_inode(struct fs *fs, uint64_t t, uint64_t ino, struct ns_inode *a, char **target)
{
	struct snap *s;
	int rc;

	if ((rc = snap_get(fs, t, &s)) != 0)
		return rc;
	rc = ns_inode_get(s->ns, ino, a, target);
	snap_put(s);
	return -fs_errno(rc);
}

/*
 * The version of inode ino's store at t: opened read-only (*out, to be
 * closed with st_close) when out is given, described in *v. A store with
 * no version that old, or none at all (a file never written), is an empty
 * file: *v zeroed and *out NULL. A live file's store is read through the
 * daemon's own handle (it sees every commit, and a store not yet committed
 * is simply one without versions); a deleted file's, from the graveyard,
 * by its name.
 */
int at_file(struct fs *fs, uint64_t t, uint64_t ino, struct st_version *v, st_store **out)
{
	st_store *st = NULL, *ver = NULL;
	struct inode *in = NULL;
	bool live = false;
	int rc;

	memset(v, 0, sizeof(*v));
	if (out)
		*out = NULL;
	pthread_mutex_lock(&fs->ns_lock);
	if (ino_load_live(fs, ino, &in) != 0)
		in = NULL; /* deleted since (or unreadable: by its name, then) */
	pthread_mutex_unlock(&fs->ns_lock);
	if (in) {
		pthread_mutex_lock(&in->lock);
		live = !in->removed && S_ISREG(in->a.mode);
		rc = live ? ino_store(fs, in) : 0;
		if (live && rc == 0)
			rc = st_open_at_time(in->st, t, &ver);
		else if (live)
			rc = rc == -ENODATA ? ST_ENOTFOUND
					    : ST_EIO; /* -ENODATA: never flushed, ro */
		pthread_mutex_unlock(&in->lock);
		ino_put(fs, in);
	}
	if (!live) {
		rc = ns_file_open(fs->backing, &fs->sb, ino, ST_READONLY, NULL, &st);
		if (rc == ST_OK) {
			rc = st_open_at_time(st, t, &ver);
			st_close(st); /* the version keeps the file open */
		}
	}
	if (rc == ST_ENOTFOUND)
		return 0;
	if (rc) {
		fs_log(LOG_ERR, "inode %llu: its version at %llu cannot be read: %s",
		       (unsigned long long)ino, (unsigned long long)(t / NS_PER_S),
		       st_last_error()->msg);
		return -EIO;
	}
	st_current(ver, v);
	if (out)
		*out = ver;
	else
		st_close(ver);
	return 0;
}

struct at_list_ctx {
	struct dirh *d;
	uint64_t t;
	int rc;
};

static int at_list_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	struct at_list_ctx *c = arg;

	c->rc = fs_dirh_add(c->d, name, nlen, vt_ino(VK_AT, ino, c->t), type);
	return c->rc ? 1 : 0;
}

int at_list(struct fs *fs, uint64_t t, uint64_t dir, struct dirh *d)
{
	struct at_list_ctx c = {d, t, 0};
	struct snap *s;
	int rc;

	if ((rc = snap_get(fs, t, &s)) != 0)
		return rc;
	rc = ns_dirent_list(s->ns, dir, at_list_cb, &c);
	snap_put(s);
	return rc < 0 ? -fs_errno(rc) : c.rc;
}

/* ---- the nodes of the view ----------------------------------------------- */

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

static pthread_mutex_t rel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rel rels[REL_SLOTS]; /* rel_lock */

/* The moment name (a directory of at/) stands for. -ENOENT if it is not
 * a time, or before anything was committed. */
static int at_resolve(struct fs *fs, const char *name, uint64_t *t)
{
	uint64_t now = st_realtime_ns();
	struct rel *r, *old = &rels[0];
	int rc;

	if (name[0] == '-' && strlen(name) < sizeof(rels[0].name)) {
		pthread_mutex_lock(&rel_lock);
		for (int i = 0; i < REL_SLOTS; i++) {
			r = &rels[i];
			if (r->at && strcmp(r->name, name) == 0 && now - r->at < REL_KEEP_NS) {
				*t = r->t;
				pthread_mutex_unlock(&rel_lock);
				return at_exists(fs, *t);
			}
			if (r->at < old->at)
				old = r;
		}
		pthread_mutex_unlock(&rel_lock);
	}
	rc = at_parse_time(name, now, t);
	if (rc)
		return -ENOENT;
	if (name[0] == '-' && strlen(name) < sizeof(rels[0].name)) {
		pthread_mutex_lock(&rel_lock);
		strcpy(old->name, name);
		old->t = *t;
		old->at = now;
		pthread_mutex_unlock(&rel_lock);
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
	struct ns_inode a;
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

/* at/ itself: any moment may be named, none is listed. A relative name
 * ("-1h") moves on, so its entry is not cached. */
static int atdir_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	(void)v;
	vt_dir_stat(fs, st);
	*timeout = fs->o.attr_timeout;
	return 0;
}

static int atdir_child(struct fs *fs, const struct vnode *dir, const char *name,
		       struct vnode *child, struct fuse_entry_param *e)
{
	int rc;

	(void)dir;
	if (vt_fixed_child(name, VK_ATLINK, child)) {
		e->attr_timeout = e->entry_timeout = 0; /* they move on */
		return 0;
	}
	child->kind = VK_AT;
	child->x = NS_ROOT_INO;
	child->type = DT_DIR;
	rc = at_resolve(fs, name, &child->seq);
	if (rc == 0)
		e->attr_timeout = e->entry_timeout = at_timeout(fs, child->seq);
	if (rc == 0 && name[0] == '-')
		e->entry_timeout = 0; /* a relative time moves on */
	return rc;
}

static int atdir_list(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	int rc = vt_list_dots(dir, d);

	(void)fs;
	if (rc == 0)
		rc = fs_dirh_add(d, "now", 3, VT_AT_NOW, DT_LNK);
	if (rc == 0)
		rc = fs_dirh_add(d, "oldest", 6, VT_AT_OLDEST, DT_LNK);
	return rc;
}

static int at_vstat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	*timeout = at_timeout(fs, v->seq);
	return at_stat(fs, v, st);
}

static int at_child(struct fs *fs, const struct vnode *dir, const char *name, struct vnode *child,
		    struct fuse_entry_param *e)
{
	int rc;

	if (dir->type != DT_DIR)
		return -ENOTDIR;
	child->kind = VK_AT;
	child->seq = dir->seq;
	rc = at_lookup(fs, dir->seq, dir->x, name, &child->x, &child->type);
	if (rc == 0 && child->type == DT_REG) {
		struct st_version ver;

		rc = at_file(fs, child->seq, child->x, &ver, NULL);
		child->size = ver.size;
		child->time_ns = ver.mtime_ns;
	}
	if (rc == 0)
		e->attr_timeout = e->entry_timeout = at_timeout(fs, child->seq);
	return rc;
}

static int at_vlist(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	int rc;

	if (dir->type != DT_DIR)
		return -ENOTDIR;
	rc = vt_list_dots(dir, d);
	return rc ? rc : at_list(fs, dir->seq, dir->x, d);
}

/* A file as it was: its version then, or, with none that old, an empty
 * file. A moment in the past never changes: it may be cached. */
static int at_open(struct fs *fs, const struct vnode *v, const struct vcaller *who, struct vfh *h,
		   struct fuse_file_info *fi)
{
	struct st_version ver;
	struct ns_inode now;
	int rc;

	if (v->type != DT_REG)
		return -EISDIR;
	/* The kernel checked the owner and mode of then; a file that still
	 * exists is read only by who may read it now as well. */
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_inode_get(fs->ns, v->x, &now, NULL);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == ST_OK && !vt_may_read(who, now.uid, now.gid, now.mode))
		return -EACCES;
	rc = at_file(fs, v->seq, v->x, &ver, &h->ver);
	if (rc == 0 && h->ver)
		fi->keep_cache = at_stable(v->seq);
	return rc;
}

static int at_readlink(struct fs *fs, const struct vnode *v, char **target)
{
	struct ns_inode a;
	int rc;

	if (v->type != DT_LNK)
		return -EINVAL;
	rc = at_inode(fs, v->seq, v->x, &a, target);
	if (rc == 0 && !*target)
		rc = -EINVAL; /* the entry said symlink, the record does not */
	return rc;
}

/* at/now and at/oldest: links to the moments they name, "@<seconds>" (at/
 * takes that as a time), worked out at each readlink: now, and the time of
 * the oldest namespace version still kept. */
static int oldest_cb(void *arg, const struct st_version *v)
{
	*(uint64_t *)arg = v->time_ns;
	return 0;
}

static int atlink_target(struct fs *fs, const struct vnode *v, char **target)
{
	uint64_t t = st_realtime_ns();
	int rc;

	if (v->vino == VT_AT_OLDEST && (rc = st_versions(fs->ns, oldest_cb, &t)) < 0)
		return -fs_errno(rc);
	/* Rounded up: at/<t> shows what was committed at or before t. */
	if (asprintf(target, "@%llu", (unsigned long long)((t + NS_PER_S - 1) / NS_PER_S)) < 0)
		return -ENOMEM;
	return 0;
}

static int atlink_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	char *target;
	int rc = atlink_target(fs, v, &target);

	if (rc)
		return rc;
	vt_dir_stat(fs, st);
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(target);
	free(target);
	*timeout = 0;
	return 0;
}

const struct vkind_ops vk_atlink = {.stat = atlink_stat, .readlink = atlink_target};

const struct vkind_ops vk_atdir = {.stat = atdir_stat, .lookup = atdir_child, .list = atdir_list};
/* The extended attributes of a node at t: those of the namespace's
 * version of then, so that cp -a from at/ restores them. */
static int at_getxattr(struct fs *fs, const struct vnode *v, const char *name, void **val,
		       size_t *len)
{
	struct snap *s;
	int rc = snap_get(fs, v->seq, &s);

	if (rc)
		return rc == -ENOENT ? -ENODATA : rc;
	rc = strlen(name) > NS_NAME_MAX ? ST_ENOTFOUND : ns_xattr_get(s->ns, v->x, name, val, len);
	snap_put(s);
	return rc == ST_ENOTFOUND ? -ENODATA : rc ? -fs_errno(rc) : 0;
}

struct xnames {
	char *buf;
	size_t len, cap;
};

static int xname_cb(void *arg, const char *name, size_t nlen, const void *val, size_t vlen)
{
	struct xnames *x = arg;

	(void)val;
	(void)vlen;
	if (x->len + nlen + 1 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		char *b;

		while (cap < x->len + nlen + 1)
			cap *= 2;
		if (!(b = realloc(x->buf, cap)))
			return ST_ENOMEM;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, name, nlen + 1);
	x->len += nlen + 1;
	return 0;
}

static int at_listxattr(struct fs *fs, const struct vnode *v, char **names, size_t *len)
{
	struct xnames x = {0};
	struct snap *s;
	int rc = snap_get(fs, v->seq, &s);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = ns_xattr_list(s->ns, v->x, xname_cb, &x);
	snap_put(s);
	if (rc) {
		free(x.buf);
		return rc == ST_ENOMEM ? -ENOMEM : -fs_errno(rc);
	}
	*names = x.buf;
	*len = x.len;
	return 0;
}

const struct vkind_ops vk_at = {.stat = at_vstat,
				.lookup = at_child,
				.list = at_vlist,
				.open = at_open,
				.readlink = at_readlink,
				.getxattr = at_getxattr,
				.listxattr = at_listxattr};
