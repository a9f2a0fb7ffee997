/*
 * ctl.h - the daemon's control interface, shared by the daemon and
 * revfs-compact: ioctls on files inside a mount. The kernel passes the
 * caller's credentials with each one, so the daemon checks them: a user can
 * compact only files they may write, and only root (or the owner of the
 * mount's root directory) can pause or resume the compactor.
 */
#ifndef REVFS_CTL_H
#define REVFS_CTL_H

#include <stdint.h>
#include <sys/ioctl.h>

#define REVFS_COMPACT_DRY_RUN 0x1 /* say what would be reclaimed, change nothing */
/* Purge: keep only the file's current content, whatever the retention rule
 * and the pins (which go): its past versions are gone for good. Only the
 * file's owner or root. */
#define REVFS_COMPACT_PURGE 0x2
/* On the mount's root directory: compact the namespace store (root only),
 * under the mount's rule; versions count its commits. */
#define REVFS_COMPACT_NAMESPACE 0x4

struct revfs_compact_arg {
	uint32_t flags;	       /* in: REVFS_COMPACT_* */
	uint32_t pad;	       /* zero */
	uint64_t bytes_before; /* out: store file size before */
	uint64_t bytes_after;  /* out: after (dry run: what it would be) */
	/* out: the versions history/ lists for the file's path (its lineage's
	 * included), before and after (dry run: as it would be) */
	uint64_t versions_before;
	uint64_t versions_kept;
	uint64_t lock_hold_ns; /* out: the final catch-up's lock hold */
};

/* On a regular file of the mount: compact its store now (and wait). The
 * ioctl fails with the errno of the failure: EACCES (may not write the
 * file), EPERM (a purge by someone but the owner or root), EBUSY (a
 * compaction of it is running), ENOSPC, EIO... */
#define REVFS_IOC_COMPACT _IOWR('R', 1, struct revfs_compact_arg)
/* On any file or directory of the mount: pause or resume the background
 * compactor (a running compaction finishes first). EPERM unless root or
 * the owner of the mount's root directory. */
#define REVFS_IOC_PAUSE	 _IO('R', 2)
#define REVFS_IOC_RESUME _IO('R', 3)

/* What a purge of deleted files' history removed. */
struct revfs_purge_arg {
	uint64_t files; /* out: deleted files whose stores went */
	uint64_t bytes; /* out: bytes of the backing disk given back */
};

/* On any file or directory of the mount: remove the stores of every
 * deleted file now (the graveyard), so that no version of them is left;
 * .revfs/at/ then shows them empty. EPERM unless root. */
#define REVFS_IOC_PURGE_DELETED _IOR('R', 4, struct revfs_purge_arg)

#endif /* REVFS_CTL_H */
