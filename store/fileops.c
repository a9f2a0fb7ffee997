/*
 * fileops.c - the default I/O operations table: plain POSIX calls.
 * Every byte the engine moves goes through a struct st_ops, so tests can
 * swap in one that fails or "crashes" at a chosen call.
 */
#include <fcntl.h>
#include <sys/uio.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

static int px_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	return open(path, flags | O_CLOEXEC, mode);
}

static int px_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	(void)ctx;
	return pread(fd, buf, len, off);
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	(void)ctx;
	return pwrite(fd, buf, len, off);
}

static int px_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd);
}

static int px_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd);
}

static int px_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len);
}

static int px_fstat(void *ctx, int fd, struct stat *st)
{
	(void)ctx;
	return fstat(fd, st);
}

static int px_stat(void *ctx, const char *path, struct stat *st)
{
	(void)ctx;
	return stat(path, st);
}

static int px_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to);
}

static int px_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path);
}

static int px_fsync_dir(void *ctx, const char *dir)
{
	int fd, rc;

	(void)ctx;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int px_fchown(void *ctx, int fd, uid_t uid, gid_t gid)
{
	(void)ctx;
	return fchown(fd, uid, gid);
}

static ssize_t px_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	(void)ctx;
	return pwritev(fd, iov, iovcnt, off);
}

static int px_writeback(void *ctx, int fd, off_t off, off_t len)
{
	(void)ctx;
	return sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
}

static int px_syncfs(void *ctx, int fd)
{
	(void)ctx;
	return syncfs(fd);
}

const struct st_ops st_posix_ops = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fdatasync = px_fdatasync,
    .fsync = px_fsync,
    .ftruncate = px_ftruncate,
    .fstat = px_fstat,
    .stat = px_stat,
    .rename = px_rename,
    .unlink = px_unlink,
    .fsync_dir = px_fsync_dir,
    .pwritev = px_pwritev,
    .writeback = px_writeback,
    .fchown = px_fchown,
    .syncfs = px_syncfs,
};
