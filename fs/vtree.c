/*
 * vtree.c - the virtual, read-only tree under MNT/.revfs: reachable by name
 * from the root, never listed by the root's readdir (so find, du, tar and
 * rsync of the mount stay out of it). Today it holds `stats`, the daemon's
 * counters as "name value" lines. Its inode numbers have the top bit set,
 * which no namespace inode ever has.
 */
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

/* Appends one "name value" line. */
static void line(FILE *f, const char *name, unsigned long long v)
{
	fprintf(f, "%s %llu\n", name, v);
}

/* The stats text (malloc()ed) and its length, or NULL. */
static char *stats_text(struct fs *fs, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);
	uint64_t dirty, rounds, loaded;
	struct {
		uint64_t n, fail, nospace, reclaimed, hold, queued;
		bool paused, on;
	} c;

	if (!f)
		return NULL;
	pthread_mutex_lock(&fs->ns_lock);
	loaded = fs->hcount;
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_mutex_lock(&fs->flush_lock);
	dirty = fs->dirty_bytes;
	rounds = fs->done_gen;
	pthread_mutex_unlock(&fs->flush_lock);
	pthread_mutex_lock(&fs->compact_lock);
	c.n = fs->compactions;
	c.fail = fs->compact_failures;
	c.nospace = fs->compact_nospace;
	c.reclaimed = fs->compact_reclaimed;
	c.hold = fs->compact_hold_max_ns;
	c.queued = fs->ncompact;
	c.paused = fs->compact_paused;
	c.on = fs->o.compact && !fs->o.ro;
	pthread_mutex_unlock(&fs->compact_lock);

	line(f, "flush_rounds", rounds);
	line(f, "dirty_bytes", dirty);
	line(f, "dirty_limit_bytes", fs->dirty_limit);
	line(f, "inodes_loaded", loaded);
	fprintf(f, "compactor %s\n", !c.on ? "off" : c.paused ? "paused" : "running");
	line(f, "compactions", c.n);
	line(f, "compaction_failures", c.fail);
	line(f, "compactions_waiting_for_space", c.nospace);
	line(f, "compaction_queue", c.queued);
	line(f, "compaction_reclaimed_bytes", c.reclaimed);
	line(f, "compaction_lock_hold_max_us", c.hold / 1000);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
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
	if (vino == VT_DIR) {
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

void vt_lookup(fuse_req_t req, uint64_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	uint64_t vino = 0;

	if (parent == ST_ROOT_INO && strcmp(name, VT_NAME) == 0)
		vino = VT_DIR;
	else if (parent == VT_DIR && strcmp(name, "stats") == 0)
		vino = VT_STATS;
	if (!vino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = vino;
	e.generation = 1;
	/* Its numbers change all the time: never cached. */
	e.attr_timeout = vino == VT_STATS ? 0 : fs->o.attr_timeout;
	e.entry_timeout = fs->o.attr_timeout;
	vt_stat(fs, vino, &e.attr);
	fuse_reply_entry(req, &e);
}

void vt_getattr(fuse_req_t req, uint64_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;

	if (ino != VT_DIR && ino != VT_STATS) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	vt_stat(fs, ino, &st);
	fuse_reply_attr(req, &st, ino == VT_STATS ? 0 : fs->o.attr_timeout);
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
		fuse_reply_err(req, EISDIR);
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

	if (off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	fuse_reply_buf(req, b->s + off, size);
}

void vt_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct vbuf *b = (struct vbuf *)(uintptr_t)fi->fh;

	if (b) {
		free(b->s);
		free(b);
	}
	fuse_reply_err(req, 0);
}
