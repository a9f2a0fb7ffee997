/*
 * ops.h - private to the FUSE operations of the daemon: what their files
 * share. ops.c holds the one table libfuse calls and routes each request
 * to the real tree (the fsop_* functions below) or to the .revfs tree
 * (vt_ops, vtree.c) by its inode: the only place that asks which.
 *
 *   nsops.c    names: lookup, forget, mknod, mkdir, symlink, unlink, rmdir,
 *              rename, link, create
 *   fileops.c  a file's attributes and bytes: getattr, setattr, readlink,
 *              open, read, write, flush, release, fsync, fallocate, lseek
 *   view.c     the combined view of a file's bytes (store, flush, dirty)
 *   dirops.c   directory handles: opendir, readdir(plus), releasedir
 *   xattr.c    extended attributes, user.revfs.* included
 *   ctl.c      the control ioctls (fs/ctl.h)
 *
 * Every op sends exactly one reply. Locks as revfs.h says.
 */
#ifndef REVFS_OPS_H
#define REVFS_OPS_H

#include "revfs.h"

#define NAME_MAX_BYTES	 255
#define XNAME_MAX_BYTES	 255
#define XVALUE_MAX_BYTES (64u * 1024u)
#define XLIST_MAX_BYTES	 (64u * 1024u)

static inline struct fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ops.c: helpers of more than one file. */
#define T_A 1
#define T_M 2
#define T_C 4
void set_times(struct ns_inode *a, int what, int64_t t); /* T_A | T_M | T_C */
/* An entry for in (in->lock not held): its attributes and timeouts. */
/* The entry of in, reached through directory parent (its parent_hint). */
void fill_entry(struct fs *fs, struct inode *in, uint64_t parent, struct fuse_entry_param *e);
/* Sets in's times to now and persists its record (ns_lock held). 0 or -errno. */
int touch(struct fs *fs, struct inode *in, int what);
/* Whether the caller is root or a member of gid. */
bool in_group(fuse_req_t req, uint32_t gid);

/* nsops.c */
void fs_forget_one(struct fs *fs, uint64_t ino, uint64_t n); /* ns_lock held */
void fsop_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fsop_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fsop_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fsop_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fsop_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fsop_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fsop_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fsop_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fsop_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags);
void fsop_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fsop_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi);

/* fileops.c */
void fsop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi);
void fsop_readlink(fuse_req_t req, fuse_ino_t ino);
void fsop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsop_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fsop_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
void fsop_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsop_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fsop_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		    struct fuse_file_info *fi);
void fsop_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);

/* view.c (in->lock held): n bytes at off into buf, holes and the part past
 * the store's reach as zeros; the next data or hole at or after off
 * (whence SEEK_DATA or SEEK_HOLE) into *out, -ENXIO past the end. 0 or -errno. */
int fs_view_read(struct fs *fs, struct inode *in, uint64_t off, uint8_t *buf, size_t n);
int fs_view_seek(struct fs *fs, struct inode *in, uint64_t off, int whence, uint64_t *out);

/* dirops.c: a directory handle holds its whole listing, made at opendir
 * by the tree's lister; readdir, readdirplus and releasedir read it. */
typedef int (*fs_dir_list_fn)(struct fs *fs, uint64_t ino, struct dirh *d);
void fs_dir_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi, fs_dir_list_fn list);
void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
/* readdirplus: entry() gives an entry's attributes with one more lookup
 * taken (0), or leaves them to the listing (1); forget() undoes that
 * lookup for an entry the reply had no room for. */
struct fs_dir_plus {
	int (*entry)(struct fs *fs, uint64_t dir, const char *name, uint64_t ino,
		     struct fuse_entry_param *e);
	void (*forget)(struct fs *fs, uint64_t ino);
};
void fs_dir_readplus(fuse_req_t req, uint64_t dir, size_t size, off_t off,
		     struct fuse_file_info *fi, const struct fs_dir_plus *plus);
void fs_dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_dir_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fsop_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsop_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);

/* xattr.c */
/* Replies to getxattr or listxattr: -rc if rc, else len bytes of buf for a
 * buffer of size bytes (0: the length only; too small: ERANGE). */
void fs_reply_xattr(fuse_req_t req, int rc, const void *buf, size_t len, size_t size);
void fsop_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags);
void fsop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fsop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fsop_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ctl.c */
void fsop_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		size_t out_bufsz);

/* vtree.c: the same operations for the inodes of .revfs. */
extern const struct fuse_lowlevel_ops vt_ops;

#endif /* REVFS_OPS_H */
