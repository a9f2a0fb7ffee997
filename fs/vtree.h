/*
 * vtree.h - private to the files of the .revfs tree: its nodes and the
 * table of operations of each kind of node.
 *
 * Every inode under MNT/.revfs has the top bit set (VT_BIT). A few are
 * fixed (VT_DIR, VT_STATS, VT_HISTORY, VT_AT, VT_AT_NOW, VT_AT_OLDEST); the
 * others name vnodes,
 * made on lookup and freed when the kernel forgets them. vtree.c serves
 * the FUSE operations for all of them (vt_ops) and hands each to the
 * table of its node's kind:
 *
 *   vtree.c     VK_ROOT     .revfs itself
 *   vstats.c    VK_STATS    .revfs/stats, the daemon's counters
 *   vhistory.c  VK_HISTORY  .revfs/history: the mount as it is now, where
 *               VK_HDIR     each directory is mirrored and
 *               VK_VLIST    each regular file is a directory of
 *               VK_VFILE    its versions, one read-only file each
 *   attree.c    VK_ATDIR    .revfs/at: any moment may be named
 *               VK_ATLINK   .revfs/at/now and at/oldest, links to moments
 *               VK_AT       .revfs/at/<time>/...: a node as it was then
 *
 * A new view is a new kind: an enum value, one file with its table, and
 * its line in vtree.c's kinds[].
 */
#ifndef REVFS_VTREE_H
#define REVFS_VTREE_H

#include "revfs.h"

#define NS_PER_S 1000000000ull

enum vkind {
	VK_ROOT = 1,
	VK_STATS,
	VK_HISTORY,
	VK_ATDIR,
	VK_HDIR,
	VK_VLIST,
	VK_VFILE,
	VK_AT,
	VK_ATLINK,
	VK_COUNT
};

/* One version of a path's history: the file whose store holds it (the
 * path's file, or one it took the place of), and which version. */
struct lver {
	uint64_t ino;
	struct st_version v;
	struct ns_perm perm; /* its owner, group and mode, if perm_known */
	bool perm_known;     /* read from its attributes when listed */
	bool has_xattrs;     /* with perm_known: it has xattrs */
};

/* A node of the tree. Copies are handed to the kinds' operations; the
 * table (vtree.c, vt_lock) owns the originals. */
struct vnode {
	uint64_t vino;
	enum vkind kind;
	uint64_t x, seq;     /* the namespace inode; the version (AT: the time) */
	uint64_t nlookup;    /* the kernel's references */
	uint64_t size;	     /* VFILE, AT file: size of the version */
	uint64_t time_ns;    /* VFILE: commit time; AT file: the version's mtime */
	uint8_t type;	     /* AT: the entry's DT_ type */
	uint64_t off;	     /* VFILE: where its header was (st_open_version_at) */
	uint64_t live;	     /* VFILE: the file whose history lists it (x holds it) */
	struct ns_perm perm; /* VFILE: its owner, group and mode, if perm_known */
	bool perm_known;
	bool has_xattrs; /* VFILE, with perm_known: it has xattrs */
	/* VLIST: the versions its last listing found, newest first, so that
	 * the lookups that follow a listing (ls -l) need no walk each. */
	struct lver *vers;
	size_t nvers;
	struct vnode *next_vino, *next_key;
};

/* Who opens a file of the tree, for the checks the kernel cannot make
 * from one owner and mode (a version is read as it was and as it is). */
struct vcaller {
	uid_t uid;
	gid_t gid;
	int ngroups; /* supplementary groups in groups[]; -1 if unknown */
	gid_t groups[64];
};

/* Whether the caller may read a file of that owner, group and mode: what
 * the kernel's default_permissions decides for a read. */
bool vt_may_read(const struct vcaller *who, uint32_t uid, uint32_t gid, uint32_t mode);
/* The same for bits: 4 read, 1 search (a directory). */
bool vt_may(const struct vcaller *who, uint32_t uid, uint32_t gid, uint32_t mode, unsigned bits);

/* An open file of the tree: a version's read-only handle, or bytes. */
struct vfh {
	st_store *ver; /* or NULL: */
	char *text;    /* malloc()ed, len bytes (NULL: an empty file) */
	size_t len;
};

/*
 * What a kind of node answers. Each returns 0 or -errno. A NULL entry
 * means the operation does not apply: lookup and list ENOTDIR, open
 * EISDIR, readlink EINVAL.
 */
struct vkind_ops {
	/* Attributes of v (st_ino is set by the caller); *timeout how long
	 * the kernel may keep them. */
	int (*stat)(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout);
	/* Name in directory dir: *child's kind, x, seq and what its stat
	 * needs; e's timeouts come preset to the mount's and may be changed.
	 * -ENOENT makes a negative entry. */
	int (*lookup)(struct fs *fs, const struct vnode *dir, const char *name, struct vnode *child,
		      struct fuse_entry_param *e);
	/* Every entry of directory dir, "." and ".." included. */
	int (*list)(struct fs *fs, const struct vnode *dir, struct dirh *d);
	/* Fills h (zeroed) for file v, opened by who (the kernel has checked
	 * the mode stat gave); may set fi->keep_cache or direct_io. */
	int (*open)(struct fs *fs, const struct vnode *v, const struct vcaller *who, struct vfh *h,
		    struct fuse_file_info *fi);
	/* A symbolic link's target, malloc()ed. */
	int (*readlink)(struct fs *fs, const struct vnode *v, char **target);
	/* Extended attribute name of v: its value, malloc()ed (-ENODATA if
	 * it has none). NULL: no node of the kind has any. */
	int (*getxattr)(struct fs *fs, const struct vnode *v, const char *name, void **val,
			size_t *len);
	/* The names of v's extended attributes, each NUL-terminated, back to
	 * back in *names (malloc()ed, or NULL for none). */
	int (*listxattr)(struct fs *fs, const struct vnode *v, char **names, size_t *len);
	/* readdirplus looks this directory's entries up: their attributes
	 * come cheap (a version list's, from its listing). */
	bool plus;
};

extern const struct vkind_ops vk_root, vk_stats, vk_history, vk_atdir, vk_hdir, vk_vlist, vk_vfile,
    vk_at, vk_atlink;

/* vtree.c */
/* The inode number of the vnode (kind, x, seq): what lookup gives it, and
 * what a listing says for it. */
uint64_t vt_ino(enum vkind kind, uint64_t x, uint64_t seq);
/* The version of commit time time_ns of list vnode vino, from its last
 * listing. */
bool vn_cached_version(uint64_t vino, uint64_t time_ns, struct lver *out);
/* Keeps vers (malloc()ed, newest first, taken over) as the listing of
 * vnode vino. */
void vn_set_versions(uint64_t vino, struct lver *vers, size_t n);
/* If name is a fixed node of kind kind ("now", "oldest"...), *child is it. */
bool vt_fixed_child(const char *name, enum vkind kind, struct vnode *child);
/* Adds "." (dir itself) and ".." (.revfs) to d: the first entries of
 * every directory below .revfs. 0 or -errno. */
int vt_list_dots(const struct vnode *dir, struct dirh *d);
/* The attributes of a directory of the tree: the root's owner and times,
 * mode dr-xr-xr-x. */
void vt_dir_stat(struct fs *fs, struct stat *st);

#endif /* REVFS_VTREE_H */
