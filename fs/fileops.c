/*
 * fileops.c - the real tree's files: attributes (getattr, setattr), a
 * symlink's target, and the bytes of regular files (open, read, write,
 * flush, release, fsync, fallocate, lseek). Writes go to the inode's dirty
 * set; reads and lseek see it over the store through view.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ops.h"

/* ---- attributes ----------------------------------------------------------- */

void fsop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	struct stat st;

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

void fsop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	int64_t now = (int64_t)st_realtime_ns();
	bool resized = false, cut = false;
	struct stat st;
	int rc = 0;

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
		/* Nothing goes on top of a damaged store (EIO), not even a cut. */
		if (in->committed_seq && (rc = ino_store(fs, in)) != 0)
			goto out_unlock;
		gap_truncate(in, size);
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
		/* Committed bytes cut away become history once committed. */
		cut = in->committed_seq && size < in->committed;
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
	/* Times alone (the kernel's own, with the writeback cache, before
	 * each fsync and close) wait for the interval like a write's: the
	 * store records the mtime, and it is committed there. */
	if (S_ISREG(in->a.mode) && !(to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE |
					       FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = ino_persist_lazy(fs, in);
	else
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
	/* Under disk pressure a cut (O_TRUNC before a rewrite, say) is
	 * committed before the call returns: what it cut away is history a
	 * give-back can then drop while the file is still small, so that
	 * its copy of what the store keeps fits. Committed later, along
	 * with the rewrite's first bytes, the copy may already be too large
	 * for the room left, and the rewrite gets ENOSPC (test_space). */
	if (!rc && cut && space_low(fs)) {
		fs_log(LOG_DEBUG,
		       "inode %llu: cut to %llu bytes below the low-water mark: "
		       "committed at once",
		       (unsigned long long)ino, (unsigned long long)attr->st_size);
		rc = flusher_sync(fs, NULL);
	}
	ino_put(fs, in);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->o.attr_timeout);
}

void fsop_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);

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

void fsop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	bool save_first = false;
	uint32_t mode, gid;
	int rc;

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
	mode = in->a.mode;
	gid = in->a.gid;
	if (rc == 0) {
		in->nopen++;
		if ((fi->flags & O_ACCMODE) != O_RDONLY) {
			/* The last close's save is not committed yet: it is of
			 * the bytes as they were then, so it goes before any
			 * new writer writes (a rewrite within a flush interval
			 * of the close waits for one commit). */
			save_first = in->nwrite == 0 && in->save_wanted;
			in->nwrite++;
		}
	}
	pthread_mutex_unlock(&in->lock);
	if (save_first)
		flusher_sync(fs, NULL);
	ino_put(fs, in);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* Every change reaches the file through this kernel, so its page
	 * cache stays right across opens. */
	fi->keep_cache = 1;
	/* A write by someone outside the group clears setgid without
	 * group-execute (fsop_write), which the writeback cache's writes, sent
	 * later and as root, cannot tell: such a writer writes through. */
	if (fs->writeback && (fi->flags & O_ACCMODE) != O_RDONLY &&
	    (mode & (S_ISGID | S_IXGRP)) == S_ISGID && !in_group(req, gid))
		fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_lock(&in->lock);
		in->nopen--;
		if ((fi->flags & O_ACCMODE) != O_RDONLY && in->nwrite)
			in->nwrite--;
		pthread_mutex_unlock(&in->lock);
	}
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

void fsop_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	uint8_t *buf = NULL;
	bool touched;
	size_t n = 0;
	int rc = 0;

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
			rc = fs_view_read(fs, in, (uint64_t)off, buf, n);
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

void fsop_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;
	uint64_t before, added;
	uint32_t mode, gid;
	bool killed, root, big = false;
	int rc;

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
	/* A user's write stops where the disk's blocks reserved for root
	 * begin; root's may use them (the daemon writes as root). The kernel's
	 * writeback (the writeback cache) comes as root, whoever wrote: it is
	 * judged by the file's owner. */
	if (fi->writepage) {
		pthread_mutex_lock(&in->lock);
		root = in->a.uid == 0;
		pthread_mutex_unlock(&in->lock);
	} else {
		root = fuse_req_ctx(req)->uid == 0;
	}
	rc = flusher_reserve(fs, size, root);
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
	if (rc == 0 && fs->writeback)
		gap_write(fs, in, (uint64_t)off, size, fi->writepage);
	if (rc == 0) {
		if ((uint64_t)off + size > in->a.size)
			in->a.size = (uint64_t)off + size;
		/* With the writeback cache this write is the kernel's writeback,
		 * later than the write(2): the kernel keeps the times and sends
		 * them in a setattr of its own. */
		if (!fs->writeback)
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

/*
 * Nothing happens at a flush: the last writer's close is seen at release,
 * and with the writeback cache the kernel writes a file's dirty pages back
 * at every close whether it sends FLUSH or not. ENOSYS tells the kernel to
 * send no more FLUSH on this connection, which saves a round trip at every
 * close of a file: a quarter of those it takes to create a small one.
 */
void fsop_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

void fsop_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;
	bool save = false;

	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	if (in) {
		in->refs++;
		pthread_mutex_lock(&in->lock);
		if (in->nopen > 0)
			in->nopen--;
		/* The last writer's close is a save: of what it wrote, or of
		 * what an interim commit already holds. */
		if ((fi->flags & O_ACCMODE) != O_RDONLY && in->nwrite > 0 && --in->nwrite == 0 &&
		    S_ISREG(in->a.mode) && !in->removed &&
		    (in->last_interim || !dset_empty(&in->dirty) || !dset_empty(&in->flush) ||
		     in->flushing || in->a.size != in->committed)) {
			in->save_wanted = true;
			save = true;
		}
		/* Each close sent the file's pages first: with no writer left,
		 * every gap is a hole the writer made. */
		if (in->nwrite == 0)
			gap_clear(in);
		if (in->nopen == 0) {
			if (in->a.nlink == 0 && !in->removed)
				ino_remove(fs, in);
			else
				ino_store_idle(in);
		}
		pthread_mutex_unlock(&in->lock);
		if (save)
			flusher_mark(fs, in);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, 0);
}

void fsop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	int rc;

	(void)datasync;
	(void)fi;
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* An fsync is a save: of what is dirty, or of what an interim
	 * commit already holds. */
	if (!fs->o.ro) {
		pthread_mutex_lock(&in->lock);
		in->save_wanted = S_ISREG(in->a.mode);
		/* The kernel sent the file's pages and waited for them before
		 * the FSYNC: every gap left is a hole the writer made. */
		gap_clear(in);
		pthread_mutex_unlock(&in->lock);
	}
	rc = fs->o.ro ? 0 : flusher_sync_file(fs, in);
	ino_put(fs, in);
	fuse_reply_err(req, -rc);
}

/*
 * fallocate: space is not reserved in an append-only store (holes read as
 * zeros, which is what allocated, unwritten space reads as), so mode 0
 * only sets the size. A punched hole and a zeroed range are one thing
 * here: a hole in the dirty set, which drops the bytes written there and
 * reads as zeros over what is below it; the flusher stages it with
 * st_file_punch, and its whole pages leave the store's tree. Collapse and
 * insert would move every later page: not supported.
 */
void fsop_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		    struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in;
	uint64_t end = (uint64_t)off + (uint64_t)len, before, hole_end;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE, zero = mode & FALLOC_FL_ZERO_RANGE;
	bool changed = false;
	int rc = 0;

	(void)fi;
	if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ||
	    (punch && (zero || !(mode & FALLOC_FL_KEEP_SIZE)))) {
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
	pthread_mutex_lock(&in->lock);
	if (punch || zero) {
		/* Past the size there is nothing to zero: the size, if it grows,
		 * brings zeros with it. */
		hole_end = end < in->a.size ? end : in->a.size;
		before = in->dirty.bytes;
		if ((uint64_t)off < hole_end &&
		    (rc = dset_punch(&in->dirty, (uint64_t)off, hole_end)) != 0)
			goto out_unlock;
		if ((uint64_t)off < hole_end) /* zeros by request: no gap */
			gap_write(fs, in, (uint64_t)off, hole_end - (uint64_t)off, false);
		if (before > in->dirty.bytes)
			flusher_release_bytes(fs, before - in->dirty.bytes);
		in->a.mtime_ns = (int64_t)st_realtime_ns();
		changed = true;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > in->a.size) {
		in->a.size = end;
		changed = true;
	}
	if (changed) {
		in->a.ctime_ns = (int64_t)st_realtime_ns();
		in->attr_dirty = true;
	}
out_unlock:
	pthread_mutex_unlock(&in->lock);
	if (changed)
		flusher_mark(fs, in);
	ino_put(fs, in);
	fuse_reply_err(req, -rc);
}

void fsop_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct inode *in = ino_get(fs, ino);
	bool writing;
	uint64_t p = 0;
	int rc;

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
	/* The kernel may hold written pages of a file open for writing that
	 * the daemon has not seen. Invalidating its cache of the file makes
	 * it write them back and wait for their replies (a syncfs does not
	 * wait for a FUSE writeback): then they are data here too. No lock is
	 * held meanwhile, so the writes can be served. */
	if (fs->writeback) {
		pthread_mutex_lock(&in->lock);
		writing = in->nwrite > 0;
		pthread_mutex_unlock(&in->lock);
		if (writing)
			(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	}
	pthread_mutex_lock(&in->lock);
	rc = off < 0 ? -ENXIO : fs_view_seek(fs, in, (uint64_t)off, whence, &p);
	pthread_mutex_unlock(&in->lock);
	ino_put(fs, in);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, (off_t)p);
}
