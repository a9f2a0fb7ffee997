/*
 * ctl.c - the control ioctls of fs/ctl.h, sent by revfs-compact: compact a
 * file now (or say what that would reclaim), pause and resume the
 * background compactor.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

#include "ops.h"

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

static uint32_t owner(struct inode *in)
{
	uint32_t uid;

	pthread_mutex_lock(&in->lock);
	uid = in->a.uid;
	pthread_mutex_unlock(&in->lock);
	return uid;
}

void fsop_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
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
		if (in_bufsz < sizeof(a) || out_bufsz < sizeof(a)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (fs->o.ro) {
			fuse_reply_err(req, EROFS);
			return;
		}
		memcpy(&a, in_buf, sizeof(a));
		if (a.flags & REVFS_COMPACT_NAMESPACE) {
			rc = fuse_req_ctx(req)->uid != 0 ? -EPERM
			     : ino != FUSE_ROOT_ID || (a.flags & REVFS_COMPACT_PURGE)
				 ? -EINVAL
				 : compactor_ns(fs, &a);
			if (rc)
				fuse_reply_err(req, -rc);
			else
				fuse_reply_ioctl(req, 0, &a, sizeof(a));
			return;
		}
		in = ino_get(fs, ino);
		if (!in) {
			fuse_reply_err(req, ESTALE);
			return;
		}
		/* A purge is the owner's (or root's); compacting, a writer's. */
		if (a.flags & REVFS_COMPACT_PURGE)
			rc = fuse_req_ctx(req)->uid == 0 || fuse_req_ctx(req)->uid == owner(in)
				 ? 0
				 : -EPERM;
		else
			rc = may_write(req, in) ? 0 : -EACCES;
		ino_put(fs, in);
		if (rc == 0)
			rc = compactor_run(fs, ino, &a, (uint32_t)fuse_req_ctx(req)->uid);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_ioctl(req, 0, &a, sizeof(a));
		return;
	case REVFS_IOC_PURGE_DELETED: {
		struct revfs_purge_arg p = {0};

		if (out_bufsz < sizeof(p)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (fs->o.ro) {
			fuse_reply_err(req, EROFS);
			return;
		}
		if (fuse_req_ctx(req)->uid != 0) {
			fuse_reply_err(req, EPERM);
			return;
		}
		fs_grave_purge(fs, &p.files, &p.bytes);
		fuse_reply_ioctl(req, 0, &p, sizeof(p));
		return;
	}
	case REVFS_IOC_PAUSE:
	case REVFS_IOC_RESUME:
		in = ino_get(fs, NS_ROOT_INO);
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
