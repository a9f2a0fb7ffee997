/*
 * vhistory.c - .revfs/history/: the tree of the mount as it is now, where
 * each directory is mirrored (read-only, dr-xr-xr-x, its owner and times)
 * and each regular file is a directory of its versions, one read-only file
 * per kept version, named by its sequence number, with the commit time as
 * mtime. Symlinks and devices have no versions and are not shown. Also the
 * user.revfs.* attributes of a regular file: its versions and pins.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vtree.h"

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
	uint64_t x;    /* the file whose versions are listed */
	uint64_t seen; /* versions walked */
	int rc;
	struct st_version *vers; /* the versions listed, for the vnode */
	size_t nvers, cap;
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

static int list_ver_cb(void *arg, const struct st_version *v)
{
	struct list_ctx *c = arg;
	char name[24];
	int n;

	if (c->seen++ > 0 && v->interim)
		return 0; /* listed only while it is the newest */
	n = snprintf(name, sizeof(name), "%llu", (unsigned long long)v->seq);

	c->rc = fs_dirh_add(c->d, name, (size_t)n, vt_ino(VK_VFILE, c->x, v->seq), DT_REG);
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

/* ---- the kinds ------------------------------------------------------------ */

/* The attributes of inode x as it is now. */
static int attr_of(struct fs *fs, uint64_t x, struct stat *st)
{
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load(fs, x, &in);
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

	if (rc == 0 && child->kind == VK_VLIST)
		e->attr_timeout = 0; /* its listing grows with every commit */
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

/* A version of v->x by its number: known from the last listing, or found
 * in the chain. */
static int vlist_child(struct fs *fs, const struct vnode *dir, const char *name,
		       struct vnode *child, struct fuse_entry_param *e)
{
	struct find_ver f = {0};
	char *end;
	int rc;

	(void)e;
	f.seq = strtoull(name, &end, 10);
	child->kind = VK_VFILE;
	child->x = dir->x;
	if (!*name || *end || name[0] == '0')
		rc = -ENOENT;
	else if (vn_cached_version(dir->vino, f.seq, &f.v))
		rc = 0; /* listed a moment ago; an open checks it is still kept */
	else
		rc = with_store(fs, dir->x, find_version, &f);
	child->size = f.v.size;
	child->time_ns = f.v.time_ns;
	child->off = f.v.offset;
	child->seq = f.seq;
	return rc;
}

static int vlist_list(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	struct list_ctx c = {.d = d, .x = dir->x};
	int rc = vt_list_dots(dir, d);

	if (rc)
		return rc;
	rc = with_store(fs, dir->x, list_versions, &c);
	if (rc == 0 && c.rc == 0)
		vn_set_versions(dir->vino, c.vers, c.nvers);
	else
		free(c.vers);
	return rc ? rc : c.rc;
}

/* A version: its file's owner, r--r--r-- at most, its size, its commit
 * time as mtime and ctime. It never changes: it may be cached. */
static int vfile_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	int rc = attr_of(fs, v->x, st);

	if (rc)
		return rc;
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
 * Whether who could read file x's version committed at t as it was: by
 * the owner, group and mode the namespace had for x at t, and in its
 * first version after the flush round that committed it (a chmod made
 * just before a save is committed with the save's round, after the
 * store); both must allow, the most restrictive wins. Without either
 * (thinned away by compaction), by the file's attributes now. Issue 13
 * keeps them with the versions themselves.
 */
static int may_read_then(struct fs *fs, const struct vcaller *who, uint64_t x, uint64_t t)
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
	if ((rc = attr_of(fs, x, &st)) != 0)
		return rc;
	return vt_may_read(who, st.st_uid, st.st_gid, st.st_mode) ? 0 : -EACCES;
}

/* The kernel checked the file's owner and mode of now (stat's); the
 * version is read only by who could read it then as well. */
static int vfile_open(struct fs *fs, const struct vnode *v, const struct vcaller *who,
		      struct vfh *h, struct fuse_file_info *fi)
{
	struct vfile_open o = {0};
	int rc;

	if ((rc = may_read_then(fs, who, v->x, v->time_ns)) != 0)
		return rc;
	o.ver.seq = v->seq;
	o.ver.offset = v->off;
	rc = with_store(fs, v->x, open_version, &o);
	if (rc)
		return rc;
	h->ver = o.v;
	fi->keep_cache = 1; /* a version never changes */
	return 0;
}

const struct vkind_ops vk_history = {.stat = history_stat, .lookup = hdir_child, .list = hdir_list};
const struct vkind_ops vk_hdir = {.stat = hdir_stat, .lookup = hdir_child, .list = hdir_list};
const struct vkind_ops vk_vlist = {
    .stat = hdir_stat, .lookup = vlist_child, .list = vlist_list, .plus = true};
const struct vkind_ops vk_vfile = {.stat = vfile_stat, .open = vfile_open};

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
		rc = ns_pin_get(fs->ns, ino, seq);
		pthread_mutex_unlock(&fs->ns_lock);
		if (rc)
			return rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc);
		*len = (size_t)snprintf(out, cap, "%llu", (unsigned long long)seq);
		return 0;
	}
	return -ENODATA;
}

int vx_set(struct fs *fs, uint64_t ino, const char *name, const char *value, size_t size)
{
	struct find_ver f = {0};
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
	rc = ns_pin_put(fs->ns, ino, f.seq);
	fs->ns_dirty = true;
	pthread_mutex_unlock(&fs->ns_lock);
	return rc ? -fs_errno(rc) : 0;
}

int vx_remove(struct fs *fs, uint64_t ino, const char *name)
{
	uint64_t seq;
	int rc;

	if (strncmp(name, VX_PREFIX, strlen(VX_PREFIX)) != 0)
		return 1;
	name += strlen(VX_PREFIX);
	if (strncmp(name, "pin.", 4) != 0 || !parse_seq(name + 4, strlen(name + 4), &seq))
		return strcmp(name, "version") == 0 || strcmp(name, "versions") == 0 ? -EPERM
										     : -ENODATA;
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

struct pins_ctx {
	uint64_t *v;
	size_t n, cap;
};

static int pins_cb(void *arg, uint64_t ino, uint64_t seq)
{
	struct pins_ctx *p = arg;

	(void)ino;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		uint64_t *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return ST_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = seq;
	return 0;
}

/* The pins of ino (ns_lock held). */
static int pins_locked(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n)
{
	struct pins_ctx p = {0};
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
	uint64_t *pins = NULL;
	size_t n = 0;

	if (pins_locked(fs, ino, &pins, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		ns_pin_del(fs->ns, ino, pins[i]);
	free(pins);
}
