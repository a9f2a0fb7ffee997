/*
 * nsops.c - the real tree's names: lookup and forget, and the ops that make,
 * remove and move names (mknod, mkdir, symlink, create, unlink, rmdir,
 * rename, link). An entry and the inode it names change together under
 * fs->ns_lock. ".revfs" in the root is reserved for the version tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ops.h"

/* Looks up (parent, name) in the namespace; ns_lock held. 0, -ENOENT, -errno. */
static int dirent_get(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino,
		      uint8_t *type)
{
	int rc = ns_dirent_get(fs->ns, parent, name, ino, type);

	if (rc == ST_ECORRUPT)
		fs_log(LOG_ERR, "namespace: bad entry '%s' in directory %llu: %s", name,
		       (unsigned long long)parent, st_last_error()->msg);
	return -fs_errno(rc);
}

static int dirent_put(struct fs *fs, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	int rc = ns_dirent_put(fs->ns, parent, name, ino, ns_dtype(mode));

	fs->ns_dirty = true;
	return -fs_errno(rc);
}

static int dirent_del(struct fs *fs, uint64_t parent, const char *name)
{
	int rc = ns_dirent_del(fs->ns, parent, name);

	fs->ns_dirty = true;
	return -fs_errno(rc);
}

/* 1 if directory ino has entries, 0 if not, -errno. ns_lock held. */
static int dir_has_entries(struct fs *fs, uint64_t ino)
{
	int rc = ns_dir_empty(fs->ns, ino);

	return rc == ST_EEXIST ? 1 : -fs_errno(rc);
}

static int check_name(const char *name)
{
	return strlen(name) > NAME_MAX_BYTES ? -ENAMETOOLONG : 0;
}

/* ---- lookup and forget ------------------------------------------------ */

void fsop_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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
	pthread_mutex_lock(&fs->ns_lock);
	rc = dirent_get(fs, parent, name, &ino, &type);
	if (rc == 0)
		rc = ino_load(fs, ino, &in);
	if (rc == 0) {
		in->nlookup++;
		fill_entry(fs, in, parent, &e);
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

void fs_forget_one(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct inode *in;

	in = ino_find(fs, ino);
	if (!in)
		return;
	in->nlookup -= n < in->nlookup ? n : in->nlookup;
	in->refs++;
	ino_put_locked(fs, in);
}

void fsop_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = FS(req);

	pthread_mutex_lock(&fs->ns_lock);
	fs_forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

void fsop_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = FS(req);

	pthread_mutex_lock(&fs->ns_lock);
	for (size_t i = 0; i < count; i++)
		fs_forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_none(req);
}

/* ---- making and removing names ------------------------------------------ */

/* Makes a new inode named (parent, name); ns_lock held. On success the new
 * inode has one lookup (for the reply) and one reference. */
static int make_node(fuse_req_t req, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		     const char *target, struct inode **out)
{
	struct fs *fs = FS(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ns_inode a = {0};
	struct inode *dir, *in;
	uint64_t ino;
	uint8_t type;
	int64_t now = (int64_t)st_realtime_ns();
	int rc;

	if ((rc = check_name(name)))
		return rc;
	if (fs->o.ro)
		return -EROFS;
	if (parent == NS_ROOT_INO && strcmp(name, VT_NAME) == 0)
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
	if (rc == 0)
		lin_take(fs, parent, name, in, true);
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
		fill_entry(fs, in, parent, &e);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void fsop_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_new(req, parent, name, mode, rdev, NULL);
}

void fsop_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_new(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void fsop_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
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
		rc = ns_orphan_put(fs->ns, in->ino);
		rc = rc ? -fs_errno(rc) : ino_persist(fs, in);
		fs->ns_dirty = true;
	} else {
		ino_remove(fs, in);
	}
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/*
 * A file about to leave a name (unlink, rename away or over it) whose last
 * close's save is not committed yet: with lineages, that save is a version
 * of the path's history, so it is committed first (a commit round, no lock
 * held). A file leaving by unlink or rename away only if it has versions
 * already (else it leaves no mark, and a temporary file removed or renamed
 * into place right after it was written costs nothing); one about to be
 * renamed over (replaced: the path's current file) always.
 */
static void save_before_leaving(struct fs *fs, uint64_t parent, const char *name, bool replaced)
{
	struct inode *in = NULL;
	uint64_t ino;
	uint8_t type;
	bool need = false;

	if (fs->o.ro || !(fs->sb.incompat & NS_FEAT_LINEAGE))
		return;
	pthread_mutex_lock(&fs->ns_lock);
	if (dirent_get(fs, parent, name, &ino, &type) == 0 && type == DT_REG &&
	    (in = ino_find(fs, ino)) != NULL)
		in->refs++;
	pthread_mutex_unlock(&fs->ns_lock);
	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	need = (replaced || in->committed_seq > 0) &&
	       (in->save_wanted || (in->nwrite == 0 && (!dset_empty(&in->dirty) || in->flushing)));
	pthread_mutex_unlock(&in->lock);
	if (need) {
		flusher_mark(fs, in);
		flusher_sync(fs, NULL);
	}
	ino_put(fs, in);
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

	if (fs->o.ro || (parent == NS_ROOT_INO && strcmp(name, VT_NAME) == 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!dir)
		save_before_leaving(fs, parent, name, false);
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
	if (rc == 0 && !dir)
		lin_vacate(fs, parent, name, in);
	if (rc == 0 && dir && (fs->sb.incompat & NS_FEAT_LINEAGE))
		ns_vacated_clear(fs->ns, ino); /* the names it held go with it */
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

void fsop_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

void fsop_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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

void fsop_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags)
{
	struct fs *fs = FS(req);
	struct inode *src = NULL, *dst = NULL, *p;
	uint64_t sino, dino;
	uint8_t stype, dtype;
	int rc;

	if (fs->o.ro || (parent == NS_ROOT_INO && strcmp(name, VT_NAME) == 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (newparent == NS_ROOT_INO && strcmp(newname, VT_NAME) == 0) {
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
	if (!(flags & RENAME_EXCHANGE)) {
		save_before_leaving(fs, parent, name, false);
		save_before_leaving(fs, newparent, newname, true);
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = dirent_get(fs, parent, name, &sino, &stype);
	if (rc == 0)
		rc = ino_load(fs, sino, &src);
	if (rc)
		goto out_unlock;
	rc = dirent_get(fs, newparent, newname, &dino, &dtype);
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
			lin_replace(fs, newparent, newname, src, dst);
			rc = drop_link(fs, dst);
			if (rc == 0 && S_ISDIR(dst->a.mode) && (p = ino_find(fs, newparent))) {
				pthread_mutex_lock(&p->lock);
				p->a.nlink--;
				pthread_mutex_unlock(&p->lock);
			}
		} else
			lin_take(fs, newparent, newname, src, false);
		if (rc == 0)
			rc = dirent_put(fs, newparent, newname, src->ino, src->a.mode);
		if (rc == 0)
			rc = dirent_del(fs, parent, name);
		if (rc == 0)
			lin_vacate(fs, parent, name, src);
		if (rc == 0)
			rc = move_dir(fs, src, parent, newparent);
	}
	if (rc == 0) {
		pthread_mutex_lock(&src->lock);
		src->parent_hint = newparent;
		pthread_mutex_unlock(&src->lock);
		if (dst && (flags & RENAME_EXCHANGE)) {
			pthread_mutex_lock(&dst->lock);
			dst->parent_hint = parent;
			pthread_mutex_unlock(&dst->lock);
		}
		rc = touch(fs, src, T_C);
	}
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

void fsop_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	struct inode *in, *dir;
	uint64_t x;
	uint8_t t;
	int rc;

	if (fs->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (newparent == NS_ROOT_INO && strcmp(newname, VT_NAME) == 0) {
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
		fill_entry(fs, in, newparent, &e);
	}
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

/* ---- files --------------------------------------------------------------- */

void fsop_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
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
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			in->nwrite++;
		pthread_mutex_unlock(&in->lock);
		fill_entry(fs, in, parent, &e);
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
		if ((fi->flags & O_ACCMODE) != O_RDONLY && in->nwrite)
			in->nwrite--;
		pthread_mutex_unlock(&in->lock);
	}
}
