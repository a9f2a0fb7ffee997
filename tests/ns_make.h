/*
 * ns_make.h - namespace records written through the namespace library,
 * for the programs that make backing directories for the benchmarks
 * (bench_fsck_make.c, bench_history_make.c): an inode record owned by the
 * caller, and a directory entry.
 */
#ifndef REVFS_TESTS_NS_MAKE_H
#define REVFS_TESTS_NS_MAKE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ns.h"

/* Makes DIR (if missing), its superblock and ino/: a backing directory
 * without a namespace yet. NULL, or what could not be made. */
static inline const char *ns_make_dir(const char *dir)
{
	static char path[4096];
	struct ns_super sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return dir;
	ns_super_init(&sb);
	sb.incompat = 0; /* stores are made below without identities, as before them */
	if (ns_super_write(dir, &sb) != ST_OK)
		return "superblock";
	snprintf(path, sizeof(path), "%s/ino", dir);
	return mkdir(path, 0700) == 0 ? NULL : path;
}

/* Stages inode ino's record; its four times are time_ns. An st_err. */
static inline int ns_put_inode(st_store *ns, uint64_t ino, uint32_t mode, uint32_t nlink,
			       uint64_t size, uint64_t parent, int64_t time_ns)
{
	struct ns_inode a = {.mode = mode, .nlink = nlink, .size = size, .parent = parent};

	a.uid = (uint32_t)getuid();
	a.gid = (uint32_t)getgid();
	a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = time_ns;
	return ns_inode_put(ns, ino, &a, NULL);
}

/* Stages the entry name in directory parent for inode ino of the given mode. */
static inline int ns_put_dirent(st_store *ns, uint64_t parent, const char *name, uint64_t ino,
				uint32_t mode)
{
	return ns_dirent_put(ns, parent, name, ino, ns_dtype(mode));
}

#endif
