/*
 * dirops.c - directory handles: a handle holds the directory's whole
 * listing, taken at opendir by its tree's lister (the namespace's entries
 * here, vt_list for .revfs), so that readdir and readdirplus read a stable
 * list by offset; handles the kernel never releases are freed at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops.h"

/* ---- directories ----------------------------------------------------------- */

struct dent {
	char *name;
	uint64_t ino;
	uint8_t type;
};

struct dirh {
	struct dent *v;
	size_t n, cap;
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

/* A damaged entry is left out by ns_dirent_list; fsck reports it. */
static int list_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	return dirh_add(arg, name, nlen, ino, type) ? ST_ENOMEM : 0;
}

/* The real directory ino's listing (ns_lock held). 0 or -errno. */
static int list_real(struct fs *fs, uint64_t ino, struct dirh *d)
{
	struct inode *in = ino_find(fs, ino);
	int rc;

	if (!in)
		return -ESTALE;
	if (!S_ISDIR(in->a.mode))
		return -ENOTDIR;
	rc = dirh_add(d, ".", 1, ino, DT_DIR);
	if (rc == 0)
		rc = dirh_add(d, "..", 2, in->a.parent ? in->a.parent : ino, DT_DIR);
	if (rc == 0)
		rc = ns_dirent_list(fs->ns, ino, list_cb, d) ? -ENOMEM : 0;
	return rc;
}

void fs_dir_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi, fs_dir_list_fn list)
{
	struct fs *fs = FS(req);
	struct dirh *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = list(fs, ino, d);
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

static int list_real_locked(struct fs *fs, uint64_t ino, struct dirh *d)
{
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = list_real(fs, ino, d);
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

void fsop_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_dir_open(req, ino, fi, list_real_locked);
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

void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
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
void fs_dir_readplus(fuse_req_t req, uint64_t dir, size_t size, off_t off,
		     struct fuse_file_info *fi, const struct fs_dir_plus *plus)
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
		const char *name = d->v[i].name;
		bool looked_up = strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
				 plus->entry(fs, dir, name, d->v[i].ino, &e) == 0;
		size_t len;

		if (!looked_up) {
			/* What the listing says: a name, an inode, a type. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = d->v[i].ino;
			e.attr.st_mode = (mode_t)d->v[i].type << 12;
		}
		len =
		    fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)(i + 1));
		if (len > size - used) {
			if (looked_up) /* not sent: not a lookup */
				plus->forget(fs, e.ino);
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* A real entry's attributes: one more lookup of its inode. */
static int plus_real(struct fs *fs, uint64_t dir, const char *name, uint64_t ino,
		     struct fuse_entry_param *e)
{
	struct inode *in;
	int rc;

	(void)name;
	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load(fs, ino, &in);
	if (rc == 0) {
		in->nlookup++;
		fill_entry(fs, in, dir, e);
		ino_put_locked(fs, in);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	return rc ? 1 : 0;
}

static void forget_real(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->ns_lock);
	fs_forget_one(fs, ino, 1);
	pthread_mutex_unlock(&fs->ns_lock);
}

void fsop_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	static const struct fs_dir_plus real = {plus_real, forget_real};

	fs_dir_readplus(req, ino, size, off, fi, &real);
}

void fs_dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_unlist_free(fs, d);
	fuse_reply_err(req, 0);
}

void fs_dir_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);

	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, fs->o.ro ? 0 : -flusher_sync(fs, NULL));
}
