/*
 * vtree.c - the virtual, read-only tree under MNT/.revfs: reachable by name
 * from the root, never listed by the root's readdir (so find, du, tar and
 * rsync of the mount stay out of it). This file keeps its nodes and serves
 * every FUSE operation on them (vt_ops), handing each to the table of the
 * node's kind (vtree.h lists the kinds and the files that hold them); it
 * also holds the kind of .revfs itself.
 *
 * Inode numbers here have the top bit set, which no namespace inode has.
 * Beyond the fixed ones they name vnodes, made on lookup and freed when
 * the kernel forgets them; each is a hash of the vnode's key (vt_ino), so
 * that a listing gives every entry the number its lookup will (du, find
 * and tar go by them), whether or not the vnode exists yet: (HDIR, x) mirrors directory x, (VLIST,
 * x) lists the versions of file x, (VFILE, x, seq) is one version, (AT, x, t) is inode x as it was
 * at time t (x = the root: at/<time> itself).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ops.h"
#include "vtree.h"

#define VN_BUCKETS 4096u
/* vt_lock guards the vnode table and the counter. */
static pthread_mutex_t vt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vnode *by_vino[VN_BUCKETS], *by_key[VN_BUCKETS];

/* Vnode numbers: the top two bits set (no namespace inode, no fixed node
 * has both), the rest a hash of the key. */
#define VT_HASHED (VT_BIT | 1ull << 62)

uint64_t vt_ino(enum vkind kind, uint64_t x, uint64_t seq)
{
	uint64_t h = (uint64_t)kind * 0x9e3779b97f4a7c15ull;

	/* splitmix64's finalizer over each word in turn */
	for (int i = 0; i < 2; i++) {
		h ^= i ? seq : x;
		h ^= h >> 30;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 27;
		h *= 0x94d049bb133111ebull;
		h ^= h >> 31;
	}
	return VT_HASHED | (h & ~VT_HASHED);
}

static const struct vkind_ops *const kinds[VK_COUNT] = {
    [VK_ROOT] = &vk_root,   [VK_STATS] = &vk_stats, [VK_HISTORY] = &vk_history,
    [VK_ATDIR] = &vk_atdir, [VK_HDIR] = &vk_hdir,   [VK_VLIST] = &vk_vlist,
    [VK_VFILE] = &vk_vfile, [VK_AT] = &vk_at,	    [VK_ATLINK] = &vk_atlink,
};

/* The fixed nodes: .revfs and what it holds, by name in their directory. */
static const struct fixed_node {
	const char *name;
	struct vnode v;
} fixed[] = {
    {VT_NAME, {.vino = VT_DIR, .kind = VK_ROOT}},
    {"stats", {.vino = VT_STATS, .kind = VK_STATS}},
    {"history", {.vino = VT_HISTORY, .kind = VK_HISTORY, .x = NS_ROOT_INO}},
    {"at", {.vino = VT_AT, .kind = VK_ATDIR}},
    {"now", {.vino = VT_AT_NOW, .kind = VK_ATLINK}},
    {"oldest", {.vino = VT_AT_OLDEST, .kind = VK_ATLINK}},
};

/* The fixed node vino, or NULL. */
static const struct vnode *fixed_node(uint64_t vino)
{
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (fixed[i].v.vino == vino)
			return &fixed[i].v;
	return NULL;
}

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
	/* Two live keys with one hash (about one in 2^62) would share a
	 * number: the second takes the next free one, which its listing
	 * then does not show. */
	v->vino = vt_ino(kind, x, seq);
	while (vn_find(v->vino))
		v->vino = VT_HASHED | ((v->vino + 1) & ~VT_HASHED);
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
/* A copy of node vino (-ENOENT if it is none). */
static int vn_get(uint64_t vino, struct vnode *out)
{
	struct vnode *v;

	if (fixed_node(vino)) {
		*out = *fixed_node(vino);
		return 0;
	}
	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v) {
		*out = *v;
		out->vers = NULL; /* owned by the table */
	}
	pthread_mutex_unlock(&vt_lock);
	return v ? 0 : -ENOENT;
}

bool vn_cached_version(uint64_t vino, uint64_t time_ns, struct lver *out)
{
	struct vnode *v;
	bool found = false;

	pthread_mutex_lock(&vt_lock);
	v = vn_find(vino);
	if (v && v->vers) {
		size_t lo = 0, hi = v->nvers; /* newest (latest time) first */

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (v->vers[mid].v.time_ns > time_ns)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < v->nvers && v->vers[lo].v.time_ns == time_ns) {
			*out = v->vers[lo];
			found = true;
		}
	}
	pthread_mutex_unlock(&vt_lock);
	return found;
}

void vn_set_versions(uint64_t vino, struct lver *vers, size_t n)
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

void vt_dir_stat(struct fs *fs, struct stat *st)
{
	struct inode *root = ino_get(fs, NS_ROOT_INO);

	memset(st, 0, sizeof(*st));
	if (root) {
		pthread_mutex_lock(&root->lock);
		ino_attr(root, st);
		pthread_mutex_unlock(&root->lock);
		ino_put(fs, root);
	}
	st->st_blocks = 0;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_size = 0;
}

int vt_list_dots(const struct vnode *dir, struct dirh *d)
{
	int rc = fs_dirh_add(d, ".", 1, dir->vino, DT_DIR);

	return rc ? rc : fs_dirh_add(d, "..", 2, VT_DIR, DT_DIR);
}

/* ---- .revfs itself -------------------------------------------------------- */

static int root_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	(void)v;
	vt_dir_stat(fs, st);
	*timeout = fs->o.attr_timeout;
	return 0;
}

bool vt_fixed_child(const char *name, enum vkind kind, struct vnode *child)
{
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (fixed[i].v.kind == kind && strcmp(fixed[i].name, name) == 0) {
			*child = fixed[i].v;
			return true;
		}
	return false;
}

static int root_child(struct fs *fs, const struct vnode *dir, const char *name, struct vnode *child,
		      struct fuse_entry_param *e)
{
	(void)fs;
	(void)dir;
	if (!vt_fixed_child(name, VK_STATS, child) && !vt_fixed_child(name, VK_HISTORY, child) &&
	    !vt_fixed_child(name, VK_ATDIR, child))
		return -ENOENT;
	if (child->kind == VK_STATS)
		e->attr_timeout = 0; /* the counters change all the time */
	return 0;
}

static int root_list(struct fs *fs, const struct vnode *dir, struct dirh *d)
{
	int rc = fs_dirh_add(d, ".", 1, VT_DIR, DT_DIR);

	(void)fs;
	(void)dir;
	if (rc == 0)
		rc = fs_dirh_add(d, "..", 2, NS_ROOT_INO, DT_DIR);
	if (rc == 0)
		rc = fs_dirh_add(d, "at", 2, VT_AT, DT_DIR);
	if (rc == 0)
		rc = fs_dirh_add(d, "history", 7, VT_HISTORY, DT_DIR);
	if (rc == 0)
		rc = fs_dirh_add(d, "stats", 5, VT_STATS, DT_REG);
	return rc;
}

const struct vkind_ops vk_root = {.stat = root_stat, .lookup = root_child, .list = root_list};

/* ---- serving the operations ------------------------------------------------- */

/* Attributes of v, and how long they may be cached. */
static int vn_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	int rc = kinds[v->kind]->stat(fs, v, st, timeout);

	if (rc == 0)
		st->st_ino = v->vino;
	return rc;
}

/* Looks name up in node parent (or ".revfs" in the root): 0 and *ep (a
 * negative entry if ep->ino is 0; else one more lookup of ep->ino), or
 * -errno. */
static int vt_entry(struct fs *fs, uint64_t parent, const char *name, struct fuse_entry_param *ep)
{
	struct fuse_entry_param e;
	struct vnode pv, nv = {0}, *v;
	double timeout;
	int rc;

	memset(&e, 0, sizeof(e));
	e.generation = 1;
	e.entry_timeout = fs->o.attr_timeout;
	e.attr_timeout = fs->o.attr_timeout;
	if (parent == NS_ROOT_INO) { /* the real root: its .revfs */
		rc = vt_fixed_child(name, VK_ROOT, &nv) ? 0 : -ENOENT;
	} else if ((rc = vn_get(parent, &pv)) == 0) {
		rc = kinds[pv.kind]->lookup ? kinds[pv.kind]->lookup(fs, &pv, name, &nv, &e)
					    : -ENOTDIR;
	}
	if (rc == -ENOENT) {
		/* Negative entries only where names cannot appear behind the
		 * kernel's back: versions come and go with every flush. */
		memset(&e, 0, sizeof(e));
		*ep = e;
		return 0;
	}
	if (rc)
		return rc;
	if (!fixed_node(nv.vino)) {
		pthread_mutex_lock(&vt_lock);
		v = vn_ref(nv.kind, nv.x, nv.seq);
		if (v && (nv.kind == VK_VFILE || nv.kind == VK_AT)) {
			v->size = nv.size;
			v->time_ns = nv.time_ns;
			v->type = nv.type;
			v->off = nv.off;
			v->live = nv.live;
			v->perm = nv.perm;
			v->perm_known = nv.perm_known;
			v->has_xattrs = nv.has_xattrs;
		}
		if (v) {
			nv = *v;
			nv.vers = NULL; /* owned by the table */
		}
		pthread_mutex_unlock(&vt_lock);
		if (!v)
			return -ENOMEM;
	}
	rc = vn_stat(fs, &nv, &e.attr, &timeout);
	if (rc) {
		if (!fixed_node(nv.vino))
			vt_forget(nv.vino, 1);
		return rc;
	}
	e.ino = nv.vino;
	*ep = e;
	return 0;
}

static void vt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	int rc = vt_entry(fs, parent, name, &e);

	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_entry(req, &e) == -ENOENT && e.ino)
		vt_forget(e.ino, 1);
}

static void vt_forget_op(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	vt_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void vt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct vnode v;
	struct stat st;
	double timeout = 0;
	int rc = vn_get(ino, &v);

	(void)fi;
	if (rc == 0)
		rc = vn_stat(fs, &v, &st, &timeout);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void vt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct vnode v;
	char *target = NULL;
	int rc = vn_get(ino, &v);

	if (rc == 0)
		rc = kinds[v.kind]->readlink ? kinds[v.kind]->readlink(FS(req), &v, &target)
					     : -EINVAL;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void vfh_free(struct vfh *h)
{
	if (h) {
		st_close(h->ver);
		free(h->text);
		free(h);
	}
}

bool vt_may(const struct vcaller *who, uint32_t uid, uint32_t gid, uint32_t mode, unsigned bits)
{
	bool in_group = who->gid == gid;

	/* As the kernel lets root read and search (CAP_DAC_OVERRIDE,
	 * CAP_DAC_READ_SEARCH). */
	if (who->uid == 0)
		return true;
	if (who->uid == uid)
		return ((mode >> 6) & bits) == bits;
	for (int i = 0; i < who->ngroups && !in_group; i++)
		in_group = who->groups[i] == gid;
	return (((in_group ? mode >> 3 : mode) & 7) & bits) == bits;
}

bool vt_may_read(const struct vcaller *who, uint32_t uid, uint32_t gid, uint32_t mode)
{
	return vt_may(who, uid, gid, mode, 4);
}

static void caller_of(fuse_req_t req, struct vcaller *who)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n = fuse_req_getgroups(req, (int)(sizeof(who->groups) / sizeof(who->groups[0])),
				   who->groups);

	who->uid = ctx->uid;
	who->gid = ctx->gid;
	/* More groups than room, or none known: only the primary counts,
	 * which can only refuse more, never less. */
	who->ngroups = n > (int)(sizeof(who->groups) / sizeof(who->groups[0])) ? -1 : n;
}

static void vt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vcaller who;
	struct vfh *h = NULL;
	struct vnode v;
	int rc = vn_get(ino, &v);

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		rc = -EROFS;
	else if (rc == 0 && !kinds[v.kind]->open)
		rc = -EISDIR;
	else if (rc == 0 && !(h = calloc(1, sizeof(*h))))
		rc = -ENOMEM;
	if (rc == 0) {
		caller_of(req, &who);
		rc = kinds[v.kind]->open(FS(req), &v, &who, h, fi);
	}
	if (rc) {
		vfh_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		vfh_free(h);
}

static void vt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct vfh *h = (struct vfh *)(uintptr_t)fi->fh;
	char *buf;

	(void)ino;
	if (h->ver) {
		ssize_t n;

		buf = malloc(size ? size : 1);
		n = buf ? st_file_read(h->ver, (uint64_t)off, buf, size) : ST_ENOMEM;
		if (n < 0)
			fuse_reply_err(req, fs_errno((int)n));
		else
			fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
		return;
	}
	if (off < 0 || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->len - (size_t)off)
		size = h->len - (size_t)off;
	/* A copy of its own: once the kernel has the reply, the reader may
	 * close and the release free the handle's text while this thread is
	 * still returning from the write of the reply. */
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(buf, h->text + off, size);
	fuse_reply_buf(req, buf, size);
	free(buf);
}

static void vt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	vfh_free((struct vfh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Files of the tree have no holes: data up to the end. */
static void vt_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct vfh *h = (struct vfh *)(uintptr_t)fi->fh;
	uint64_t end = h->len;

	(void)ino;
	if (h->ver) {
		struct st_version v;

		st_current(h->ver, &v);
		end = v.size;
	}
	if (off < 0 || (uint64_t)off >= end)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, whence == SEEK_HOLE ? (off_t)end : off);
}

/* Fills d with the listing of node ino. 0 or -errno. */
static int vt_list(struct fs *fs, uint64_t ino, struct dirh *d)
{
	struct vnode v;
	int rc = vn_get(ino, &v);

	if (rc)
		return rc;
	return kinds[v.kind]->list ? kinds[v.kind]->list(fs, &v, d) : -ENOTDIR;
}

static void vt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_dir_open(req, ino, fi, vt_list);
}

/* readdirplus: the entries of a directory whose kind says they come cheap
 * (a version list: known from its listing) are looked up; elsewhere a
 * lookup may cost a store's opening, and is left to the kernel. */
static int vt_plus(struct fs *fs, uint64_t dir, const char *name, uint64_t ino,
		   struct fuse_entry_param *e)
{
	struct vnode v;

	(void)ino;
	if (vn_get(dir, &v) != 0 || !kinds[v.kind]->plus)
		return 1;
	if (vt_entry(fs, dir, name, e) != 0 || e->ino == 0)
		return 1;
	return 0;
}

static void vt_forget_one(struct fs *fs, uint64_t ino)
{
	(void)fs;
	vt_forget(ino, 1);
}

static void vt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	static const struct fs_dir_plus plus = {vt_plus, vt_forget_one};

	fs_dir_readplus(req, ino, size, off, fi, &plus);
}

static void vt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void vt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct vnode v;
	void *val = NULL;
	size_t len = 0;
	int rc = vn_get(ino, &v);

	if (rc == 0)
		rc = kinds[v.kind]->getxattr
			 ? kinds[v.kind]->getxattr(FS(req), &v, name, &val, &len)
			 : -ENODATA;
	fs_reply_xattr(req, rc, val, len, size);
	free(val);
}

/* The kinds without xattrs list none, so that cp -a and rsync -X copy
 * them without trying. */
static void vt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct vnode v;
	char *names = NULL;
	size_t len = 0;
	int rc = vn_get(ino, &v);

	if (rc == 0 && kinds[v.kind]->listxattr)
		rc = kinds[v.kind]->listxattr(FS(req), &v, &names, &len);
	fs_reply_xattr(req, rc, names, len, size);
	free(names);
}

/* Compaction is asked of files of the mount, not of their versions; the
 * compactor's pause and resume may be asked of any path in it. */
static void vt_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	if (cmd == REVFS_IOC_COMPACT && !(flags & FUSE_IOCTL_COMPAT))
		fuse_reply_err(req, EINVAL);
	else
		fsop_ioctl(req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

/* ---- what a read-only tree refuses ------------------------------------------- */

static void erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void vt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	erofs(req);
}

static void vt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	erofs(req);
}

static void vt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	erofs(req);
}

static void vt_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	erofs(req);
}

static void vt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	erofs(req);
}

static void vt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	erofs(req);
}

static void vt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	erofs(req);
}

static void vt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	erofs(req);
}

static void vt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)size;
	(void)off;
	(void)fi;
	erofs(req);
}

static void vt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)mode;
	(void)off;
	(void)len;
	(void)fi;
	erofs(req);
}

static void vt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	erofs(req);
}

static void vt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	erofs(req);
}

const struct fuse_lowlevel_ops vt_ops = {
    .lookup = vt_lookup,
    .forget = vt_forget_op,
    .getattr = vt_getattr,
    .setattr = vt_setattr,
    .readlink = vt_readlink,
    .mknod = vt_mknod,
    .mkdir = vt_mkdir,
    .symlink = vt_symlink,
    .unlink = vt_unlink,
    .rmdir = vt_unlink,
    .rename = vt_rename,
    .link = vt_link,
    .create = vt_create,
    .open = vt_open,
    .read = vt_read,
    .write = vt_write,
    .flush = fsop_flush,
    .release = vt_release,
    .fsync = vt_fsync,
    .fallocate = vt_fallocate,
    .lseek = vt_lseek,
    .opendir = vt_opendir,
    .readdir = fs_dir_read,
    .readdirplus = vt_readdirplus,
    .releasedir = fs_dir_release,
    .fsyncdir = fs_dir_fsync,
    .setxattr = vt_setxattr,
    .getxattr = vt_getxattr,
    .listxattr = vt_listxattr,
    .removexattr = vt_removexattr,
    .ioctl = vt_ioctl,
};
