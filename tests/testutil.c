/*
 * testutil.c - see testutil.h.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "testutil.h"

char *tu_dir;
static void (*tu_cleanup)(void);

static void tu_setup(void)
{
	tu_dir = tu_mkdtemp();
}

static void tu_teardown(void)
{
	if (tu_cleanup)
		tu_cleanup();
	tu_rmdir(tu_dir);
	free(tu_dir);
	tu_dir = NULL;
}

int tu_main(const char *name, unsigned timeout, void (*add)(TCase *tc), void (*cleanup)(void))
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	const char *tmp = getenv("TMPDIR");
	char *base = NULL;
	SRunner *sr;
	int failed;

	/* Each test's directory is made in the child (tu_setup), whose
	 * teardown does not run when it fails or times out: all of them go
	 * in one directory of the run's, removed here whatever happened. */
	if (asprintf(&base, "%s/revfs-check.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 ||
	    !mkdtemp(base) || setenv("TMPDIR", base, 1) != 0) {
		fprintf(stderr, "%s: cannot make a temporary directory: %s\n", name,
			strerror(errno));
		return EXIT_FAILURE;
	}

	tu_cleanup = cleanup;
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, timeout);
	add(tc);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_rmdir(base);
	free(base);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	ck_assert(asprintf(&p, "%s/revfs-test.XXXXXX", base) > 0);
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp: %s", strerror(errno));
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmdir(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void tu_fill(uint64_t *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = tu_rand(s);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = (uint8_t)tu_rand(s);
}

uint64_t tu_file_size(const char *path)
{
	struct stat sb;

	ck_assert_msg(stat(path, &sb) == 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)sb.st_size;
}

void tu_copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	ck_assert(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert(write(out, buf, (size_t)n) == n);
	ck_assert(n == 0);
	close(in);
	close(out);
}

void tu_truncate(const char *path, uint64_t len)
{
	ck_assert(truncate(path, (off_t)len) == 0);
}

void tu_flip_bit(const char *path, uint64_t off, unsigned bit)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert(fd >= 0);
	ck_assert(pread(fd, &b, 1, (off_t)off) == 1);
	b ^= (uint8_t)(1u << bit);
	ck_assert(pwrite(fd, &b, 1, (off_t)off) == 1);
	close(fd);
}

/* ---- fault injection ---- */

/* Returns 0 to go on, or -1 with errno set when this call must fail. */
static int fault(void *ctx, bool *short_write)
{
	struct tu_faults *f = ctx;

	*short_write = false;
	if (!f)
		return 0;
	f->count++;
	if (f->fail_at == 0 || f->count < f->fail_at)
		return 0;
	if (f->count > f->fail_at && !f->sticky)
		return 0;
	f->fired = true;
	if (f->mode == TU_SHORT && f->count == f->fail_at) {
		*short_write = true;
		return 0;
	}
	errno = f->mode == TU_ENOSPC || f->mode == TU_SHORT ? ENOSPC : EIO;
	return -1;
}

static int fo_open(void *ctx, const char *path, int flags, mode_t mode)
{
	return st_posix_ops.open(ctx, path, flags, mode);
}

static int fo_close(void *ctx, int fd)
{
	return st_posix_ops.close(ctx, fd);
}

static ssize_t fo_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	return st_posix_ops.pread(ctx, fd, buf, len, off);
}

static ssize_t fo_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	bool sw;

	if (fault(ctx, &sw))
		return -1;
	if (sw && len > 1)
		len /= 2; /* a short write: half of it lands */
	return st_posix_ops.pwrite(ctx, fd, buf, len, off);
}

static ssize_t fo_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, off_t off)
{
	bool sw;

	if (fault(ctx, &sw))
		return -1;
	if (sw) { /* a short write: only the first part of the first iovec lands */
		struct iovec half = {iov[0].iov_base, iov[0].iov_len > 1 ? iov[0].iov_len / 2 : 1};
		return st_posix_ops.pwritev(ctx, fd, &half, 1, off);
	}
	return st_posix_ops.pwritev(ctx, fd, iov, cnt, off);
}

static int fo_fdatasync(void *ctx, int fd)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.fdatasync(ctx, fd);
}

static int fo_fsync(void *ctx, int fd)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.fsync(ctx, fd);
}

static int fo_ftruncate(void *ctx, int fd, off_t len)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.ftruncate(ctx, fd, len);
}

static int fo_fstat(void *ctx, int fd, struct stat *sb)
{
	return st_posix_ops.fstat(ctx, fd, sb);
}

static int fo_stat(void *ctx, const char *path, struct stat *sb)
{
	return st_posix_ops.stat(ctx, path, sb);
}

static int fo_rename(void *ctx, const char *a, const char *b)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.rename(ctx, a, b);
}

static int fo_unlink(void *ctx, const char *path)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.unlink(ctx, path);
}

static int fo_fsync_dir(void *ctx, const char *dir)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.fsync_dir(ctx, dir);
}

static int fo_syncfs(void *ctx, int fd)
{
	bool sw;

	return fault(ctx, &sw) ? -1 : st_posix_ops.syncfs(ctx, fd);
}

const struct st_ops tu_fault_ops = {
    .open = fo_open,
    .close = fo_close,
    .pread = fo_pread,
    .pwrite = fo_pwrite,
    .pwritev = fo_pwritev,
    .fdatasync = fo_fdatasync,
    .fsync = fo_fsync,
    .ftruncate = fo_ftruncate,
    .fstat = fo_fstat,
    .stat = fo_stat,
    .rename = fo_rename,
    .unlink = fo_unlink,
    .fsync_dir = fo_fsync_dir,
    .syncfs = fo_syncfs,
};

uint64_t tu_clock_ns = 1700000000ull * 1000000000ull;

uint64_t tu_clock(void *ctx)
{
	(void)ctx;
	return tu_clock_ns;
}
