/*
 * ops.c - the FUSE low-level operations. Each op sends exactly one reply.
 * Names and attributes live in the namespace store (changed under
 * fs->ns_lock, committed by the flusher); file bytes go to the inode's dirty
 * set and reach its store through the flusher. The kernel checks access
 * (default_permissions), so ops here check only what it cannot know.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "ctl.h"
#include "revfs.h"

#define NAME_MAX_BYTES	 255
#define XNAME_MAX_BYTES	 255
#define XVALUE_MAX_BYTES (64u * 1024u)
#define XLIST_MAX_BYTES	 (64u * 1024u)

static struct fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void set_times(struct st_inode *a, int what, int64_t t)
{
	if (what & 1)
		a->atime_ns = t;
	if (what & 2)
		a->mtime_ns = t;
	if (what & 4)
		a->ctime_ns = t;
}
#define T_A 1
#define T_M 2
#define T_C 4

static void fill_entry(struct fs *fs, struct inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1; /* inode numbers are never reused */
	e->attr_timeout = fs->o.attr_timeout;
	e->entry_timeout = fs->o.attr_timeout;
	pthread_mutex_lock(&in->lock);
	ino_attr(in, &e->attr);
	pthread_mutex_unlock(&in->lock);
}

static uint8_t dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12);
}

/* Looks up (parent, name) in the namespace; ns_lock held. 0, -ENOENT, -errno. */
static int dirent_get(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino,
		      uint8_t *type)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_DIRENT, parent, name, strlen(name), key), vlen;
	void *val;
	int rc;

	rc = st_kv_get(fs->ns, key, klen, &val, &vlen);
	if (rc)
		return -fs_errno(rc);
	rc = st_ns_dirent_decode(val, vlen, ino, type);
	free(val);
	if (rc) {
		fs_log(LOG_ERR, "namespace: bad entry '%s' in directory %llu", name,
		       (unsigned long long)parent);
		return -EIO;
	}
	return 0;
}

static int dirent_put(struct fs *fs, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	uint8_t key[ST_NS_KEY_MAX], val[ST_NS_DIRENT_SIZE];
	size_t klen = st_ns_key(ST_NS_DIRENT, parent, name, strlen(name), key);
	int rc;

	st_ns_dirent_encode(ino, dtype(mode), val);
	rc = st_kv_put(fs->ns, key, klen, val, sizeof(val));
	fs->ns_dirty = true;
	return rc ? -fs_errno(rc) : 0;
}

static int dirent_del(struct fs *fs, uint64_t parent, const char *name)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_DIRENT, parent, name, strlen(name), key);
	int rc = st_kv_del(fs->ns, key, klen);

	fs->ns_dirty = true;
	return rc ? -fs_errno(rc) : 0;
}

static int stop_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)arg;
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	return 1;
}

/* 1 if directory ino has entries, 0 if not, -errno. ns_lock held. */
static int dir_has_entries(struct fs *fs, uint64_t ino)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_DIRENT, ino, NULL, 0, key);
	int rc = st_kv_range(fs->ns, key, klen, stop_cb, NULL);

	if (rc < 0)
		return -fs_errno(rc);
	return rc;
}

static int check_name(const char *name)
{
	return strlen(name) > NAME_MAX_BYTES ? -ENAMETOOLONG : 0;
}

/* Persists the record of an inode whose attributes changed (ns_lock held). */
static int touch(struct fs *fs, struct inode *in, int what)
{
	int rc;

	pthread_mutex_lock(&in->lock);
	set_times(&in->a, what, (int64_t)st_realtime_ns());
	rc = ino_persist(fs, in);
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/* ---- lookup and forget ------------------------------------------------ */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	struct inode *in;
	uint64_t ino;
	uint8_t type;
	int rc = check_name(name);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (vt_is(parent) || (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)) {
		vt_lookup(req, parent, name);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = dirent_get(fs, parent, name, &ino, &type);
	if (rc == 0)
		rc = ino_load(fs, ino, &in);
	if (rc == 0) {
		in->nlookup++;
		fill_entry(fs, in, &e);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == -ENOENT) {
		/* A negative entry: every create goes through this kernel, which
		 * drops it, so caching it is safe. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->o.attr_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *in;

	if (vt_is(ino)) {
		vt_forget(ino, n);
		return;
	}
	in = ino_find(fs, ino);
	if (!in)
		return;
	in->nlookup -= n < in->nlookup ? n : in->nlookup;
	in->refs++;
	ino_put_locked(fs, in);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = FS(req);

	pthread_mutex_lock(&fs->ns_lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = FS(req);

	pthread_mutex_lock(&fs->ns_lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

/* ---- attributes ----------------------------------------------------------- */

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	struct stat st;

	if (vt_is(ino)) {
		vt_getattr(req, ino);
		return;
	}

	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_mutex_lock(&in->lock);
	ino_attr(in, &st);
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	fuse_reply_attr(req, &st, fs->o.attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	int64_t now = (int64_t)st_realtime_ns();
	bool resized = false;
	struct stat st;
	int rc = 0;

	if (vt_is(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}

	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fs->o.ro) {
		ino_put(fs, in);
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	pthread_mutex_lock(&in->lock);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		uint64_t size = (uint64_t)attr->st_size;

		if (!S_ISREG(in->a.mode)) {
			rc = S_ISDIR(in->a.mode) ? -EISDIR : -EINVAL;
			goto out_unlock;
		}
		if (attr->st_size < 0 || size > ST_MAX_FILE_SIZE) {
			rc = -EFBIG;
			goto out_unlock;
		}
		if (size < in->a.size) {
			uint64_t before = in->dirty.bytes;

			dset_truncate(&in->dirty, size);
			if (before > in->dirty.bytes)
				flusher_release_bytes(fs, before - in->dirty.bytes);
		}
		if (size != in->a.size) {
			in->a.size = size;
			resized = true;
		}
		/* truncate(2) changes the times even when the size stays. */
		in->a.mtime_ns = in->a.ctime_ns = now;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		in->a.mode = (in->a.mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		in->a.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		in->a.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		in->a.atime_ns = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		in->a.atime_ns = (int64_t)attr->st_atim.tv_sec * 1000000000 + attr->st_atim.tv_nsec;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		in->a.mtime_ns = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		in->a.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
	if (to_set & FUSE_SET_ATTR_CTIME)
		in->a.ctime_ns = (int64_t)attr->st_ctim.tv_sec * 1000000000 + attr->st_ctim.tv_nsec;
	else
		in->a.ctime_ns = now;
	rc = ino_persist(fs, in);
	/* The store records the mtime too: commit it there as well. */
	if (S_ISREG(in->a.mode) && in->a.mtime_ns != in->committed_mtime)
		resized = true;
	ino_attr(in, &st);
out_unlock:
	pthread_mutex_unlock(&in->lock);
	pthread_mutex_unlock(&fs->ns_lock);
	if (resized)
		flusher_mark(fs, in);
	ino_put(fs, in);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->o.attr_timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);

	if (vt_is(ino)) {
		vt_readlink(req, ino);
		return;
	}

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!in->target)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, in->target);
	ino_put(fs, in);
}

/* ---- making and removing names ------------------------------------------ */

/* Makes a new inode named (parent, name); ns_lock held. On success the new
 * inode has one lookup (for the reply) and one reference. */
static int make_node(fuse_req_t req, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		     const char *target, struct inode **out)
{
	struct fs *fs = FS(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct st_inode a = {0};
	struct inode *dir, *in;
	uint64_t ino;
	uint8_t type;
	int64_t now = (int64_t)st_realtime_ns();
	int rc;

	if ((rc = check_name(name)))
		return rc;
	if (fs->o.ro || vt_is(parent))
		return -EROFS;
	if (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)
		return -EEXIST; /* the name of the version tree */
	dir = ino_find(fs, parent);
	if (!dir)
		return -ESTALE;
	if (!S_ISDIR(dir->a.mode))
		return -ENOTDIR;
	if (dir->a.nlink == 0)
		return -ENOENT; /* a removed directory takes no new names */
	rc = dirent_get(fs, parent, name, &ino, &type);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	a.mode = mode;
	a.uid = ctx->uid;
	a.gid = ctx->gid;
	if (dir->a.mode & S_ISGID) {
		a.gid = dir->a.gid;
		if (S_ISDIR(mode))
			a.mode |= S_ISGID;
	}
	a.nlink = S_ISDIR(mode) ? 2 : 1;
	a.rdev = rdev;
	a.parent = S_ISDIR(mode) ? parent : 0;
	a.size = target ? strlen(target) : 0;
	a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = now;
	rc = ino_create(fs, &a, target, &in);
	if (rc)
		return rc;
	rc = dirent_put(fs, parent, name, in->ino, mode);
	if (rc == 0) {
		pthread_mutex_lock(&dir->lock);
		if (S_ISDIR(mode))
			dir->a.nlink++;
		set_times(&dir->a, T_M | T_C, now);
		rc = ino_persist(fs, dir);
		pthread_mutex_unlock(&dir->lock);
	}
	if (rc) {
		/* The name is not there: let the new inode go. */
		in->a.nlink = 0;
		ino_put_locked(fs, in);
		return rc;
	}
	in->nlookup++;
	*out = in;
	return 0;
}

static void reply_new(fuse_req_t req, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		      const char *target)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = make_node(req, parent, name, mode, rdev, target, &in);
	if (rc == 0) {
		fill_entry(fs, in, &e);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_new(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_new(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) >= 4096) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	reply_new(req, parent, name, S_IFLNK | 0777, 0, link);
}

/* Drops one link of in (ns_lock held): the record, or the whole inode when
 * the last link goes and nothing has it open. */
static int drop_link(struct fs *fs, struct inode *in)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen;
	int rc = 0;

	pthread_mutex_lock(&in->lock);
	if (S_ISDIR(in->a.mode))
		in->a.nlink = 0;
	else if (in->a.nlink > 0)
		in->a.nlink--;
	in->a.ctime_ns = (int64_t)st_realtime_ns();
	if (in->a.nlink > 0) {
		rc = ino_persist(fs, in);
	} else if (S_ISREG(in->a.mode) && (in->nopen > 0 || in->flushing)) {
		/* Still open: an orphan until its last close (or, after a crash,
		 * the next mount) removes it. */
		klen = st_ns_key(ST_NS_ORPHAN, in->ino, NULL, 0, key);
		rc = st_kv_put(fs->ns, key, klen, "", 0);
		rc = rc ? -fs_errno(rc) : ino_persist(fs, in);
		fs->ns_dirty = true;
	} else {
		ino_remove(fs, in);
	}
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/* unlink (dir false) and rmdir (dir true): the name goes, then a link of
 * its inode, and the parent's times (and link count for a directory). */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs *fs = FS(req);
	struct inode *in, *p;
	uint64_t ino;
	uint8_t type;
	int rc;

	if (fs->o.ro || vt_is(parent) || (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = dirent_get(fs, parent, name, &ino, &type);
	if (rc == 0)
		rc = ino_load(fs, ino, &in);
	if (rc)
		goto out_unlock;
	if (dir != S_ISDIR(in->a.mode))
		rc = dir ? -ENOTDIR : -EISDIR;
	else if (dir && (rc = dir_has_entries(fs, ino)) > 0)
		rc = -ENOTEMPTY;
	if (rc == 0)
		rc = dirent_del(fs, parent, name);
	if (rc == 0)
		rc = drop_link(fs, in);
	p = ino_find(fs, parent);
	if (rc == 0 && p) {
		if (dir) {
			pthread_mutex_lock(&p->lock);
			p->a.nlink--;
			pthread_mutex_unlock(&p->lock);
		}
		rc = touch(fs, p, T_M | T_C);
	}
	ino_put_locked(fs, in);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* Moves directory d from parent a to parent b: their link counts and d's
 * parent pointer (ns_lock held). */
static int move_dir(struct fs *fs, struct inode *d, uint64_t a, uint64_t b)
{
	struct inode *pa = ino_find(fs, a), *pb = ino_find(fs, b);
	int rc;

	if (a == b || !S_ISDIR(d->a.mode))
		return 0;
	if (!pa || !pb)
		return -ESTALE;
	pthread_mutex_lock(&d->lock);
	d->a.parent = b;
	rc = ino_persist(fs, d);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&pa->lock);
	pa->a.nlink--;
	pthread_mutex_unlock(&pa->lock);
	pthread_mutex_lock(&pb->lock);
	pb->a.nlink++;
	pthread_mutex_unlock(&pb->lock);
	return rc;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = FS(req);
	struct inode *src = NULL, *dst = NULL, *p;
	uint64_t sino, dino;
	uint8_t stype, dtype_;
	int rc;

	if (fs->o.ro || vt_is(parent) || vt_is(newparent) ||
	    (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (newparent == ST_ROOT_INO && strcmp(newname, VT_NAME) == 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((rc = check_name(newname))) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = dirent_get(fs, parent, name, &sino, &stype);
	if (rc == 0)
		rc = ino_load(fs, sino, &src);
	if (rc)
		goto out_unlock;
	rc = dirent_get(fs, newparent, newname, &dino, &dtype_);
	if (rc == 0) {
		rc = ino_load(fs, dino, &dst);
	} else if (rc == -ENOENT) {
		rc = 0;
		if (flags & RENAME_EXCHANGE)
			rc = -ENOENT;
	}
	if (rc)
		goto out_put;
	if (dst && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out_put;
	}
	if (dst == src)
		goto out_put; /* two names of one inode: nothing to do */
	if (flags & RENAME_EXCHANGE) {
		rc = dirent_put(fs, parent, name, dst->ino, dst->a.mode);
		if (rc == 0)
			rc = dirent_put(fs, newparent, newname, src->ino, src->a.mode);
		if (rc == 0 && S_ISDIR(src->a.mode) != S_ISDIR(dst->a.mode)) {
			rc = move_dir(fs, src, parent, newparent);
			if (rc == 0)
				rc = move_dir(fs, dst, newparent, parent);
		} else if (rc == 0 && S_ISDIR(src->a.mode)) {
			/* Both directories: link counts stay, parents swap. */
			pthread_mutex_lock(&src->lock);
			src->a.parent = newparent;
			rc = ino_persist(fs, src);
			pthread_mutex_unlock(&src->lock);
			pthread_mutex_lock(&dst->lock);
			dst->a.parent = parent;
			if (rc == 0)
				rc = ino_persist(fs, dst);
			pthread_mutex_unlock(&dst->lock);
		}
		if (rc == 0)
			rc = touch(fs, dst, T_C);
	} else {
		if (dst) {
			if (S_ISDIR(src->a.mode) && !S_ISDIR(dst->a.mode))
				rc = -ENOTDIR;
			else if (!S_ISDIR(src->a.mode) && S_ISDIR(dst->a.mode))
				rc = -EISDIR;
			else if (S_ISDIR(dst->a.mode) && (rc = dir_has_entries(fs, dst->ino)) > 0)
				rc = -ENOTEMPTY;
			if (rc)
				goto out_put;
			rc = drop_link(fs, dst);
			if (rc == 0 && S_ISDIR(dst->a.mode) && (p = ino_find(fs, newparent))) {
				pthread_mutex_lock(&p->lock);
				p->a.nlink--;
				pthread_mutex_unlock(&p->lock);
			}
		}
		if (rc == 0)
			rc = dirent_put(fs, newparent, newname, src->ino, src->a.mode);
		if (rc == 0)
			rc = dirent_del(fs, parent, name);
		if (rc == 0)
			rc = move_dir(fs, src, parent, newparent);
	}
	if (rc == 0)
		rc = touch(fs, src, T_C);
	if (rc == 0 && (p = ino_find(fs, parent)))
		rc = touch(fs, p, T_M | T_C);
	if (rc == 0 && newparent != parent && (p = ino_find(fs, newparent)))
		rc = touch(fs, p, T_M | T_C);
out_put:
	if (dst)
		ino_put_locked(fs, dst);
	ino_put_locked(fs, src);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	struct inode *in, *dir;
	uint64_t x;
	uint8_t t;
	int rc;

	if (fs->o.ro || vt_is(ino) || vt_is(newparent)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (newparent == ST_ROOT_INO && strcmp(newname, VT_NAME) == 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if ((rc = check_name(newname))) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	dir = ino_find(fs, newparent);
	if (!in || !dir) {
		rc = -ESTALE;
		goto out_unlock;
	}
	if (S_ISDIR(in->a.mode)) {
		rc = -EPERM;
		goto out_unlock;
	}
	if (in->a.nlink == 0) {
		rc = -ENOENT;
		goto out_unlock;
	}
	rc = dirent_get(fs, newparent, newname, &x, &t);
	if (rc == 0)
		rc = -EEXIST;
	else if (rc == -ENOENT)
		rc = dirent_put(fs, newparent, newname, in->ino, in->a.mode);
	if (rc)
		goto out_unlock;
	pthread_mutex_lock(&in->lock);
	in->a.nlink++;
	pthread_mutex_unlock(&in->lock);
	rc = touch(fs, in, T_C);
	if (rc == 0)
		rc = touch(fs, dir, T_M | T_C);
	if (rc == 0) {
		in->nlookup++;
		fill_entry(fs, in, &e);
	}
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

/* ---- files --------------------------------------------------------------- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = make_node(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &in);
	if (rc == 0) {
		pthread_mutex_lock(&in->lock);
		in->nopen++;
		pthread_mutex_unlock(&in->lock);
		fill_entry(fs, in, &e);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The caller was interrupted: undo the open. */
		pthread_mutex_lock(&in->lock);
		in->nopen--;
		pthread_mutex_unlock(&in->lock);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	int rc;

	if (vt_is(ino)) {
		vt_open(req, ino, fi);
		return;
	}

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fs->o.ro && (fi->flags & O_ACCMODE) != O_RDONLY) {
		ino_put(fs, in);
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&in->lock);
	/* A store that cannot be opened (damaged) fails here, with EIO, not
	 * later in the flusher where a write would be lost. */
	rc = S_ISREG(in->a.mode) ? ino_store(fs, in) : 0;
	if (rc == -ENODATA)
		rc = 0;
	if (rc == 0)
		in->nopen++;
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* Every change reaches the file through this kernel, so its page
	 * cache stays right across opens. */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_lock(&in->lock);
		in->nopen--;
		pthread_mutex_unlock(&in->lock);
	}
}

/* Reads committed bytes, then the flush set, then the dirty set over them
 * (in->lock held). */
static int read_locked(struct fs *fs, struct inode *in, uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t limit = in->committed;
	ssize_t r = 0;
	int rc;

	if (in->flush.trunc < limit)
		limit = in->flush.trunc;
	if (in->dirty.trunc < limit)
		limit = in->dirty.trunc;
	if (off < limit) {
		size_t want = off + n <= limit ? n : (size_t)(limit - off);

		rc = ino_store(fs, in);
		if (rc == -ENODATA) {
			r = 0;
		} else if (rc) {
			return rc;
		} else {
			r = st_file_read(in->st, off, buf, want);
			if (r < 0) {
				fs_log(LOG_ERR, "inode %llu: read of %s at %llu failed: %s",
				       (unsigned long long)in->ino, st_path(in->st),
				       (unsigned long long)off, st_last_error()->msg);
				return -fs_errno((int)r);
			}
		}
	}
	memset(buf + r, 0, n - (size_t)r);
	dset_overlay(&in->flush, off, buf, n, in->dirty.trunc);
	dset_overlay(&in->dirty, off, buf, n, UINT64_MAX);
	return 0;
}

/* relatime, as Linux mounts by default: a read updates atime when it is not
 * newer than mtime or ctime, or is a day old. in->lock held. */
static bool relatime(struct inode *in)
{
	int64_t now = (int64_t)st_realtime_ns();

	if (in->a.atime_ns > in->a.mtime_ns && in->a.atime_ns > in->a.ctime_ns &&
	    now - in->a.atime_ns < 86400ll * 1000000000)
		return false;
	in->a.atime_ns = now;
	in->attr_dirty = true;
	return true;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	uint8_t *buf = NULL;
	bool touched;
	size_t n = 0;
	int rc = 0;

	if (vt_is(ino)) {
		vt_read(req, size, off, fi);
		return;
	}
	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_mutex_lock(&in->lock);
	touched = !fs->o.ro && relatime(in);
	if ((uint64_t)off < in->a.size) {
		n = in->a.size - (uint64_t)off < size ? (size_t)(in->a.size - (uint64_t)off) : size;
		buf = malloc(n);
		if (!buf) {
			rc = -ENOMEM;
		} else if (in->st && !in->flushing && dset_empty(&in->dirty) &&
			   dset_empty(&in->flush) && in->nopen > 0) {
			/* Nothing pending: the bytes are the store's. Read them with
			 * no lock held, so the kernel's parallel readahead requests
			 * do not queue on the inode. The open file that this read
			 * comes through keeps the store open (stores close only at
			 * nopen 0); a write racing with the read may or may not be
			 * seen, as on any filesystem. */
			st_store *st = in->st;
			uint64_t limit = in->committed;
			ssize_t r = 0;

			pthread_mutex_unlock(&in->lock);
			if ((uint64_t)off < limit)
				r = st_file_read(st, (uint64_t)off, buf,
						 (uint64_t)off + n <= limit
						     ? n
						     : (size_t)(limit - (uint64_t)off));
			if (r < 0) {
				rc = -fs_errno((int)r);
				fs_log(LOG_ERR, "inode %llu: read of %s at %lld failed: %s",
				       (unsigned long long)ino, st_path(st), (long long)off,
				       st_last_error()->msg);
			} else {
				memset(buf + r, 0, n - (size_t)r);
			}
			pthread_mutex_lock(&in->lock);
		} else {
			rc = read_locked(fs, in, (uint64_t)off, buf, n);
		}
	}
	pthread_mutex_unlock(&in->lock);
	if (touched)
		flusher_mark(fs, in);
	ino_put(fs, in);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, (const char *)buf, n);
	free(buf);
}

/* Whether the caller is root or a member of gid (only asked on the rare
 * path that needs it: reading the groups costs a /proc read). */
static bool in_group(fuse_req_t req, uint32_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	if (ctx->uid == 0 || ctx->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;
	uint64_t before, added;
	uint32_t mode, gid;
	bool killed, big = false;
	int rc;

	if (vt_is(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	(void)fi;
	if (fs->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0 || (uint64_t)off + size > ST_MAX_FILE_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	in = ino_get(fs, ino);
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = flusher_reserve(fs, size);
	if (rc) {
		ino_put(fs, in);
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&in->lock);
	mode = in->a.mode;
	gid = in->a.gid;
	pthread_mutex_unlock(&in->lock);
	killed = (mode & (S_ISGID | S_IXGRP)) == S_ISGID && !in_group(req, gid);
	pthread_mutex_lock(&in->lock);
	if (killed) {
		/* The kernel clears setgid on a write only with group-execute
		 * set; a local disk also clears it for a writer outside the
		 * file's group. */
		in->a.mode &= ~(uint32_t)S_ISGID;
		in->attr_dirty = true;
	}
	before = in->dirty.bytes;
	rc = dset_write(&in->dirty, (uint64_t)off, buf, size);
	added = in->dirty.bytes - before;
	if (rc == 0) {
		if ((uint64_t)off + size > in->a.size)
			in->a.size = (uint64_t)off + size;
		in->a.mtime_ns = in->a.ctime_ns = (int64_t)st_realtime_ns();
		in->attr_dirty = true;
		big = in->dirty.bytes >= FLUSH_STREAM_BYTES;
	}
	pthread_mutex_unlock(&in->lock);
	if (added < size)
		flusher_release_bytes(fs, size - added);
	if (rc == 0)
		flusher_mark(fs, in);
	if (big)
		flusher_kick(fs);
	ino_put(fs, in);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_write(req, size);
	if (killed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;

	if (vt_is(ino)) {
		vt_release(req, fi);
		return;
	}
	(void)fi;
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	if (in) {
		in->refs++;
		pthread_mutex_lock(&in->lock);
		if (in->nopen > 0)
			in->nopen--;
		if (in->nopen == 0) {
			if (in->a.nlink == 0 && !in->removed)
				ino_remove(fs, in);
			else
				ino_store_idle(in);
		}
		pthread_mutex_unlock(&in->lock);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	int rc;

	if (vt_is(ino)) {
		fuse_reply_err(req, 0);
		return;
	}
	(void)datasync;
	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = fs->o.ro ? 0 : flusher_sync(fs, in);
	ino_put(fs, in);
	fuse_reply_err(req, -rc);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	int rc = 0;

	if (vt_is(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	(void)fi;
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fs->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (end > ST_MAX_FILE_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	in = ino_get(fs, ino);
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* Space is not reserved in an append-only store; holes read as
	 * zeros, which is what allocated, unwritten space reads as. */
	pthread_mutex_lock(&in->lock);
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > in->a.size) {
		in->a.size = end;
		in->a.ctime_ns = (int64_t)st_realtime_ns();
		in->attr_dirty = true;
		rc = 1;
	}
	pthread_mutex_unlock(&in->lock);
	if (rc)
		flusher_mark(fs, in);
	ino_put(fs, in);
	fuse_reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	uint64_t p = (uint64_t)off, limit, size;
	int rc = 0;

	if (vt_is(ino)) {
		/* Virtual files have no holes: data up to the end. */
		uint64_t end = vt_size(fs, ino);

		if ((uint64_t)off >= end)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_HOLE ? (off_t)end : off);
		return;
	}
	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		ino_put(fs, in);
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&in->lock);
	size = in->a.size;
	limit = in->committed;
	if (in->flush.trunc < limit)
		limit = in->flush.trunc;
	if (in->dirty.trunc < limit)
		limit = in->dirty.trunc;
	if (off < 0 || p >= size) {
		rc = -ENXIO;
		goto out_unlock;
	}
	if (limit > 0 && (rc = ino_store(fs, in)) == -ENODATA) {
		limit = 0;
		rc = 0;
	}
	if (rc)
		goto out_unlock;
	/* A byte is data if a set holds it, or the committed store does below
	 * limit. Walk runs of data until the wanted kind is found. */
	for (;;) {
		uint64_t end = p, e;

		e = dset_data_end(&in->dirty, p);
		if (e > end)
			end = e;
		e = dset_data_end(&in->flush, p);
		if (e > end && p < in->dirty.trunc)
			end = e < in->dirty.trunc ? e : in->dirty.trunc;
		if (p < limit) {
			int64_t h = st_file_seek(in->st, p, SEEK_HOLE);

			if (h > (int64_t)p)
				e = (uint64_t)h < limit ? (uint64_t)h : limit;
			else
				e = p;
			if (e > end)
				end = e;
		}
		if (end == p) {
			/* p is in a hole. */
			uint64_t next = UINT64_MAX, d;

			if (whence == SEEK_HOLE)
				break;
			d = dset_next_data(&in->dirty, p);
			if (d < next)
				next = d;
			d = dset_next_data(&in->flush, p);
			if (d < next && d < in->dirty.trunc)
				next = d;
			if (p < limit) {
				int64_t s = st_file_seek(in->st, p, SEEK_DATA);

				if (s >= 0 && (uint64_t)s < limit && (uint64_t)s < next)
					next = (uint64_t)s;
			}
			if (next >= size) {
				rc = -ENXIO;
				break;
			}
			p = next;
			break;
		}
		if (whence == SEEK_DATA)
			break;
		p = end;
		if (p >= size) {
			p = size;
			break;
		}
	}
out_unlock:
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, (off_t)p);
}

/* ---- directories ----------------------------------------------------------- */

struct dent {
	char *name;
	uint64_t ino;
	uint8_t type;
};

struct dirh {
	struct dent *v;
	size_t n, cap;
	size_t skip;		  /* key bytes before the name */
	struct dirh *prev, *next; /* fs->dirs, under fs->dir_lock */
};

static void dirh_free(struct dirh *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

static void dirh_unlist_free(struct fs *fs, struct dirh *d)
{
	pthread_mutex_lock(&fs->dir_lock);
	if (d->prev)
		d->prev->next = d->next;
	else
		fs->dirs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	pthread_mutex_unlock(&fs->dir_lock);
	dirh_free(d);
}

static int dirh_add(struct dirh *d, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dent *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n].name = strndup(name, nlen);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	d->n++;
	return 0;
}

int fs_dirh_add(struct dirh *d, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	return dirh_add(d, name, nlen, ino, type);
}

static int list_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dirh *d = arg;
	uint64_t ino;
	uint8_t type;

	if (klen <= d->skip || st_ns_dirent_decode(val, vlen, &ino, &type))
		return 0; /* a damaged entry is left out; fsck reports it */
	return dirh_add(d, (const char *)key + d->skip, klen - d->skip, ino, type) ? ST_ENOMEM : 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	uint8_t key[ST_NS_KEY_MAX];
	struct dirh *d = calloc(1, sizeof(*d));
	struct inode *in;
	size_t klen;
	int rc = 0;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	klen = st_ns_key(ST_NS_DIRENT, ino, NULL, 0, key);
	d->skip = klen;
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);

	if (vt_is(ino)) {
		pthread_mutex_unlock(&fs->ns_lock);
		rc = vt_list(fs, ino, d);
		pthread_mutex_lock(&fs->ns_lock);
	} else if (!in)
		rc = -ESTALE;
	else if (!S_ISDIR(in->a.mode))
		rc = -ENOTDIR;
	else {
		rc = dirh_add(d, ".", 1, ino, DT_DIR);
		if (rc == 0)
			rc = dirh_add(d, "..", 2, in->a.parent ? in->a.parent : ino, DT_DIR);
		if (rc == 0)
			rc = st_kv_range(fs->ns, key, klen, list_cb, d) ? -ENOMEM : 0;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc) {
		dirh_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	/* Listed, before the reply lets a releasedir come, so that handles
	 * the kernel never releases (an unmount racing with open
	 * directories) are freed at exit. */
	pthread_mutex_lock(&fs->dir_lock);
	d->next = fs->dirs;
	if (d->next)
		d->next->prev = d;
	fs->dirs = d;
	pthread_mutex_unlock(&fs->dir_lock);
	if (fuse_reply_open(req, fi) == -ENOENT)
		dirh_unlist_free(fs, d);
}

void fs_dirs_release(struct fs *fs)
{
	struct dirh *d, *next;

	pthread_mutex_lock(&fs->dir_lock);
	for (d = fs->dirs; d; d = next) {
		next = d->next;
		dirh_free(d);
	}
	fs->dirs = NULL;
	pthread_mutex_unlock(&fs->dir_lock);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = {0};
		size_t len;

		st.st_ino = d->v[i].ino;
		st.st_mode = (mode_t)d->v[i].type << 12;
		len = fuse_add_direntry(req, buf + used, size - used, d->v[i].name, &st,
					(off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* readdir with each entry's attributes, so that ls -l, find and du need no
 * lookup per name. Every entry handed out counts as a lookup, except . and
 * .. and virtual entries whose attributes would cost a lookup of their own
 * (ino 0: the kernel looks those up). */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct fuse_entry_param e;
		struct inode *in = NULL;
		uint64_t vino = 0;
		const char *name = d->v[i].name;
		size_t len;

		memset(&e, 0, sizeof(e));
		e.attr.st_ino = d->v[i].ino;
		e.attr.st_mode = (mode_t)d->v[i].type << 12;
		if (vt_is(ino) && vt_entry_plus(fs, ino, name, &e) == 0) {
			vino = e.ino;
		} else if (vt_is(ino)) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = d->v[i].ino;
			e.attr.st_mode = (mode_t)d->v[i].type << 12;
		} else if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			pthread_mutex_lock(&fs->ns_lock);
			if (ino_load(fs, d->v[i].ino, &in) == 0) {
				in->nlookup++;
				fill_entry(fs, in, &e);
				ino_put_locked(fs, in);
			}
			pthread_mutex_unlock(&fs->ns_lock);
		}
		len =
		    fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)(i + 1));
		if (len > size - used) {
			if (vino) /* not sent: not a lookup */
				vt_forget(vino, 1);
			if (in) { /* not sent: not a lookup */
				pthread_mutex_lock(&fs->ns_lock);
				forget_one(fs, in->ino, 1);
				pthread_mutex_unlock(&fs->ns_lock);
			}
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_unlist_free(fs, d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);

	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, fs->o.ro ? 0 : -flusher_sync(fs, NULL));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(fs->backing_fd, &sv) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = NAME_MAX_BYTES;
	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes --------------------------------------------------- */

static int xattr_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -EINVAL;
	if (len > XNAME_MAX_BYTES)
		return -ERANGE;
	/* The namespaces a local disk stores. Not system.*: ACLs are not
	 * enforced here, so they are refused rather than pretended. */
	if (strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "security.", 9) == 0)
		return 0;
	return -EOPNOTSUPP;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct fs *fs = FS(req);
	uint8_t key[ST_NS_KEY_MAX];
	struct inode *in;
	size_t klen, vlen;
	void *old;
	int rc = fs->o.ro ? -EROFS : vx_set(fs, ino, name, value, size);

	if (vt_is(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (rc != 1) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == 0 && size > XVALUE_MAX_BYTES)
		rc = -E2BIG;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	klen = st_ns_key(ST_NS_XATTR, ino, name, strlen(name), key);
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	if (!in) {
		rc = -ESTALE;
		goto out_unlock;
	}
	rc = st_kv_get(fs->ns, key, klen, &old, &vlen);
	if (rc == ST_OK) {
		free(old);
		rc = flags & XATTR_CREATE ? -EEXIST : 0;
	} else if (rc == ST_ENOTFOUND) {
		rc = flags & XATTR_REPLACE ? -ENODATA : 0;
	} else {
		rc = -fs_errno(rc);
	}
	if (rc == 0) {
		rc = st_kv_put(fs->ns, key, klen, value, size);
		rc = rc ? -fs_errno(rc) : 0;
		fs->ns_dirty = true;
	}
	if (rc == 0)
		rc = touch(fs, in, T_C);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = FS(req);
	uint8_t key[ST_NS_KEY_MAX];
	char vbuf[4096];
	size_t klen, vlen = 0;
	void *val = NULL;
	int rc = vx_get(fs, ino, name, vbuf, sizeof(vbuf), &vlen);

	if (vt_is(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (rc != 1) {
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else if (size == 0)
			fuse_reply_xattr(req, vlen);
		else if (vlen > size)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, vbuf, vlen);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == -EOPNOTSUPP)
		rc = -ENODATA;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	klen = st_ns_key(ST_NS_XATTR, ino, name, strlen(name), key);
	pthread_mutex_lock(&fs->ns_lock);
	rc = st_kv_get(fs->ns, key, klen, &val, &vlen);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == ST_ENOTFOUND)
		fuse_reply_err(req, ENODATA);
	else if (rc)
		fuse_reply_err(req, fs_errno(rc));
	else if (size == 0)
		fuse_reply_xattr(req, vlen);
	else if (vlen > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, vlen);
	free(val);
}

struct xlist {
	char *buf;
	size_t len, cap;
	size_t skip;
};

static int xlist_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct xlist *x = arg;
	size_t n = klen - x->skip;

	(void)val;
	(void)vlen;
	if (klen <= x->skip)
		return 0;
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		char *b;

		while (cap < x->len + n + 1)
			cap *= 2;
		b = realloc(x->buf, cap);
		if (!b)
			return ST_ENOMEM;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, (const char *)key + x->skip, n);
	x->buf[x->len + n] = 0;
	x->len += n + 1;
	return 0;
}

/* The names of ino's xattrs, NUL-separated, into x (ns_lock held). */
static int xattr_names(struct fs *fs, uint64_t ino, struct xlist *x)
{
	uint8_t key[ST_NS_KEY_MAX];
	size_t klen = st_ns_key(ST_NS_XATTR, ino, NULL, 0, key);
	int rc;

	x->skip = klen;
	rc = st_kv_range(fs->ns, key, klen, xlist_cb, x);
	return rc ? -fs_errno(rc) : 0;
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = FS(req);
	struct xlist x = {0};
	int rc;

	if (vt_is(ino)) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = xattr_names(fs, ino, &x);
	pthread_mutex_unlock(&fs->ns_lock);
	/* The user.revfs.* names are not listed: copies (cp -a, rsync -X)
	 * would try to set them on the new file and fail. They are read by
	 * name. */
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, x.len);
	else if (x.len > size)
		fuse_reply_err(req, ERANGE);
	else if (x.len > XLIST_MAX_BYTES)
		fuse_reply_err(req, E2BIG);
	else
		fuse_reply_buf(req, x.buf, x.len);
	free(x.buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = FS(req);
	uint8_t key[ST_NS_KEY_MAX];
	struct inode *in;
	size_t klen, vlen;
	void *old;
	int rc = fs->o.ro ? -EROFS : vx_remove(fs, ino, name);

	if (vt_is(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (rc != 1) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == -EOPNOTSUPP)
		rc = -ENODATA;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	klen = st_ns_key(ST_NS_XATTR, ino, name, strlen(name), key);
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	rc = st_kv_get(fs->ns, key, klen, &old, &vlen);
	if (rc == ST_OK) {
		free(old);
		rc = st_kv_del(fs->ns, key, klen);
		rc = rc ? -fs_errno(rc) : 0;
		fs->ns_dirty = true;
		if (rc == 0 && in)
			rc = touch(fs, in, T_C);
	} else {
		rc = rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

void fs_xattr_clear(struct fs *fs, uint64_t ino)
{
	uint8_t key[ST_NS_KEY_MAX];
	struct xlist x = {0};
	size_t klen;

	if (xattr_names(fs, ino, &x) == 0)
		for (size_t p = 0; p < x.len; p += strlen(x.buf + p) + 1) {
			klen = st_ns_key(ST_NS_XATTR, ino, x.buf + p, strlen(x.buf + p), key);
			st_kv_del(fs->ns, key, klen);
		}
	free(x.buf);
}

/* ---- control ----------------------------------------------------------------- */

/* Whether the caller may write inode in (root, or the mode bits say so). */
static bool may_write(fuse_req_t req, struct inode *in)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t mode, uid, gid;

	pthread_mutex_lock(&in->lock);
	mode = in->a.mode;
	uid = in->a.uid;
	gid = in->a.gid;
	pthread_mutex_unlock(&in->lock);
	if (ctx->uid == 0)
		return true;
	if (ctx->uid == uid)
		return mode & S_IWUSR;
	if (in_group(req, gid))
		return mode & S_IWGRP;
	return mode & S_IWOTH;
}

static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	struct fs *fs = FS(req);
	struct revfs_compact_arg a;
	struct inode *in;
	int rc;

	(void)arg;
	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	switch (cmd) {
	case REVFS_IOC_COMPACT:
		if (in_bufsz < sizeof(a) || out_bufsz < sizeof(a) || vt_is(ino)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (fs->o.ro) {
			fuse_reply_err(req, EROFS);
			return;
		}
		memcpy(&a, in_buf, sizeof(a));
		in = ino_get(fs, ino);
		if (!in) {
			fuse_reply_err(req, ESTALE);
			return;
		}
		rc = may_write(req, in) ? 0 : -EACCES;
		ino_put(fs, in);
		if (rc == 0)
			rc = compactor_run(fs, ino, &a);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_ioctl(req, 0, &a, sizeof(a));
		return;
	case REVFS_IOC_PAUSE:
	case REVFS_IOC_RESUME:
		in = ino_get(fs, ST_ROOT_INO);
		rc = fuse_req_ctx(req)->uid == 0 || (in && fuse_req_ctx(req)->uid == in->a.uid)
			 ? 0
			 : -EPERM;
		if (in)
			ino_put(fs, in);
		if (rc == 0) {
			pthread_mutex_lock(&fs->compact_lock);
			fs->compact_paused = cmd == REVFS_IOC_PAUSE;
			pthread_cond_broadcast(&fs->compact_cv);
			pthread_mutex_unlock(&fs->compact_lock);
			fuse_reply_ioctl(req, 0, NULL, 0);
		} else {
			fuse_reply_err(req, -rc);
		}
		return;
	default:
		fuse_reply_err(req, ENOTTY);
	}
}

/* ---- session --------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The kernel handles flock and POSIX locks itself when these ops are
	 * absent; mmap goes through its page cache. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC arrives as a setattr, which clears setuid/setgid the way
	 * the kernel does everywhere else. */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* The control ioctls work on directories too (pause, resume). */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
}

const struct fuse_lowlevel_ops revfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .link = op_link,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .ioctl = op_ioctl,
};
