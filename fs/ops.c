/*
 * ops.c - the table of FUSE low-level operations the daemon serves, and
 * the one place that routes a request by its inode: an inode of .revfs
 * (vt_is) goes to vt_ops (vtree.c), every other to the real tree's fsop_*
 * (ops.h lists where each lives). Names and attributes live in the
 * namespace store (changed under fs->ns_lock, committed by the flusher);
 * file bytes go to the inode's dirty set and reach its store through the
 * flusher. The kernel checks access (default_permissions), so the ops
 * check only what it cannot know.
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ops.h"

/* ---- helpers of more than one file ----------------------------------------- */

void set_times(struct ns_inode *a, int what, int64_t t)
{
	if (what & 1)
		a->atime_ns = t;
	if (what & 2)
		a->mtime_ns = t;
	if (what & 4)
		a->ctime_ns = t;
}
void fill_entry(struct fs *fs, struct inode *in, uint64_t parent, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = INO_GENERATION;
	e->attr_timeout = fs->o.attr_timeout;
	e->entry_timeout = fs->o.attr_timeout;
	pthread_mutex_lock(&in->lock);
	ino_attr(in, &e->attr);
	in->parent_hint = parent;
	pthread_mutex_unlock(&in->lock);
}

/* Persists the record of an inode whose attributes changed (ns_lock held). */
int touch(struct fs *fs, struct inode *in, int what)
{
	int rc;

	pthread_mutex_lock(&in->lock);
	set_times(&in->a, what, (int64_t)st_realtime_ns());
	rc = ino_persist(fs, in);
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/* Whether the caller is root or a member of gid (only asked on the rare
 * path that needs it: reading the groups costs a /proc read). */
bool in_group(fuse_req_t req, uint32_t gid)
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

/* ---- session --------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* The kernel handles flock and POSIX locks itself when these ops are
	 * absent; mmap goes through its page cache. With the writeback cache
	 * (push.c) the kernel keeps written pages, the size and the times,
	 * and sends them in its writeback; every kernel since 3.15 can. (64
	 * requests in flight instead of its default 12 made no difference in
	 * make bench-fs.) fs->writeback is read-only by now. */
	if (fs->writeback)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC arrives as a setattr, which clears setuid/setgid the way
	 * the kernel does everywhere else. */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* The control ioctls work on directories too (pause, resume). */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
}

/* ---- routing ---------------------------------------------------------------- */

static const struct fuse_lowlevel_ops real_ops = {
    .lookup = fsop_lookup,
    .forget = fsop_forget,
    .forget_multi = fsop_forget_multi,
    .getattr = fsop_getattr,
    .setattr = fsop_setattr,
    .readlink = fsop_readlink,
    .mknod = fsop_mknod,
    .mkdir = fsop_mkdir,
    .symlink = fsop_symlink,
    .unlink = fsop_unlink,
    .rmdir = fsop_rmdir,
    .rename = fsop_rename,
    .link = fsop_link,
    .create = fsop_create,
    .open = fsop_open,
    .read = fsop_read,
    .write = fsop_write,
    .flush = fsop_flush,
    .release = fsop_release,
    .fsync = fsop_fsync,
    .fallocate = fsop_fallocate,
    .lseek = fsop_lseek,
    .opendir = fsop_opendir,
    .readdir = fs_dir_read,
    .readdirplus = fsop_readdirplus,
    .releasedir = fs_dir_release,
    .fsyncdir = fs_dir_fsync,
    .setxattr = fsop_setxattr,
    .getxattr = fsop_getxattr,
    .listxattr = fsop_listxattr,
    .removexattr = fsop_removexattr,
    .ioctl = fsop_ioctl,
};

/* The tree that serves inode ino. */
static const struct fuse_lowlevel_ops *tree(uint64_t ino)
{
	return vt_is(ino) ? &vt_ops : &real_ops;
}

/* The tree that serves name in directory parent: .revfs in the root is
 * the virtual tree's. */
static const struct fuse_lowlevel_ops *tree_of_name(uint64_t parent, const char *name)
{
	return parent == NS_ROOT_INO && strcmp(name, VT_NAME) == 0 ? &vt_ops : tree(parent);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	tree_of_name(parent, name)->lookup(req, parent, name);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	tree(ino)->forget(req, ino, nlookup);
}

/* A batch may mix both trees: the virtual ones are dropped here, the real
 * ones go on together (one reply, as for any forget). */
static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		if (vt_is(forgets[i].ino))
			vt_forget(forgets[i].ino, forgets[i].nlookup);
		else
			forgets[n++] = forgets[i];
	}
	fsop_forget_multi(req, n, forgets);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->getattr(req, ino, fi);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	tree(ino)->setattr(req, ino, attr, to_set, fi);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	tree(ino)->readlink(req, ino);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	tree(parent)->mknod(req, parent, name, mode, rdev);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	tree(parent)->mkdir(req, parent, name, mode);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	tree(parent)->symlink(req, link, parent, name);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	tree(parent)->unlink(req, parent, name);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	tree(parent)->rmdir(req, parent, name);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	tree(vt_is(newparent) ? newparent : parent)
	    ->rename(req, parent, name, newparent, newname, flags);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	tree(vt_is(newparent) ? newparent : ino)->link(req, ino, newparent, newname);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	tree(parent)->create(req, parent, name, mode, fi);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->open(req, ino, fi);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	tree(ino)->read(req, ino, size, off, fi);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	tree(ino)->write(req, ino, buf, size, off, fi);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->flush(req, ino, fi);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->release(req, ino, fi);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	tree(ino)->fsync(req, ino, datasync, fi);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	tree(ino)->fallocate(req, ino, mode, off, len, fi);
}

static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	tree(ino)->lseek(req, ino, off, whence, fi);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->opendir(req, ino, fi);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	tree(ino)->readdir(req, ino, size, off, fi);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	tree(ino)->readdirplus(req, ino, size, off, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tree(ino)->releasedir(req, ino, fi);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	tree(ino)->fsyncdir(req, ino, datasync, fi);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	tree(ino)->setxattr(req, ino, name, value, size, flags);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	tree(ino)->getxattr(req, ino, name, size);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	tree(ino)->listxattr(req, ino, size);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	tree(ino)->removexattr(req, ino, name);
}

static void ll_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	tree(ino)->ioctl(req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

const struct fuse_lowlevel_ops revfs_ops = {
    .init = op_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .symlink = ll_symlink,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .rename = ll_rename,
    .link = ll_link,
    .create = ll_create,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .fallocate = ll_fallocate,
    .lseek = ll_lseek,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
    .statfs = op_statfs,
    .setxattr = ll_setxattr,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .removexattr = ll_removexattr,
    .ioctl = ll_ioctl,
};
