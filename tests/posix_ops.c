/*
 * posix_ops: runs a battery of small POSIX cases inside a directory and
 * prints a normalized transcript (call, result or errno name, normalized
 * stat), so that the transcripts of revfs and of a plain local filesystem
 * can be diffed line by line.
 *
 *   posix_ops DIR        the full battery (run as root)
 *   posix_ops -p DIR     prepare DIR for -u: root-owned files (run as root)
 *   posix_ops -u DIR     the permission cases (run as an unprivileged user)
 *   posix_ops -w DIR     every entry below DIR: normalized stat, a hash of
 *                        the data, the symlink target and the xattrs
 *   posix_ops -s FILE    where FILE's first hole starts (SEEK_HOLE from 0)
 *                        and where data follows it (SEEK_DATA from there)
 *
 * Nothing machine-specific is printed: no inode numbers, devices, block
 * counts, directory sizes or absolute times, only relations between times
 * ("set" = equals the value set, "now" = within seconds of the clock).
 * Where POSIX lets filesystems differ (holes, fallocate support), only what
 * both must agree on is printed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define KiB	 1024LL
#define MiB	 (1024 * KiB)
#define GiB	 (1024 * MiB)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *cur_case = "-";

/* ---- output ----------------------------------------------------------- */

struct ename {
	int e;
	const char *name;
};

static const struct ename enames[] = {
    {EPERM, "EPERM"},		{ENOENT, "ENOENT"},   {EIO, "EIO"},
    {EBADF, "EBADF"},		{EAGAIN, "EAGAIN"},   {EACCES, "EACCES"},
    {EEXIST, "EEXIST"},		{EXDEV, "EXDEV"},     {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},		{EINVAL, "EINVAL"},   {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},		{ESPIPE, "ESPIPE"},   {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},		{ERANGE, "ERANGE"},   {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOTEMPTY, "ENOTEMPTY"},	{ELOOP, "ELOOP"},     {ENODATA, "ENODATA"},
    {EOPNOTSUPP, "EOPNOTSUPP"}, {ENXIO, "ENXIO"},     {E2BIG, "E2BIG"},
    {ENOSYS, "ENOSYS"},		{EBUSY, "EBUSY"},     {ETXTBSY, "ETXTBSY"},
    {EOVERFLOW, "EOVERFLOW"},	{EDEADLK, "EDEADLK"}, {ENODEV, "ENODEV"},
    {EFAULT, "EFAULT"},		{ENOMEM, "ENOMEM"},   {ESTALE, "ESTALE"},
};

static const char *errname(int e)
{
	static char buf[32];
	for (size_t i = 0; i < NELEM(enames); i++)
		if (enames[i].e == e)
			return enames[i].name;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

/* One transcript line: "case: what = result". */
static void line(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(const char *what, const char *fmt, ...)
{
	va_list ap;
	printf("%s: %s = ", cur_case, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Reports a call that returns -1 with errno, or a count. */
static long rep(const char *what, long r)
{
	int e = errno;
	if (r == -1)
		line(what, "-1 %s", errname(e));
	else
		line(what, "%ld", r);
	errno = e;
	return r;
}

/* Same for calls returning a descriptor: the number itself is not printed. */
static int repfd(const char *what, int fd)
{
	int e = errno;
	if (fd < 0)
		line(what, "-1 %s", errname(e));
	else
		line(what, "fd");
	errno = e;
	return fd;
}

/* Lock conflicts may be EAGAIN or EACCES (POSIX allows both): one name. */
static long replock(const char *what, long r)
{
	int e = errno;
	if (r == -1 && (e == EAGAIN || e == EACCES))
		line(what, "-1 EAGAIN|EACCES");
	else
		rep(what, r);
	errno = e;
	return r;
}

static void yesno(const char *what, int cond)
{
	line(what, "%s", cond ? "yes" : "no");
}

/* Printable form of bytes: C-like escapes, runs of NULs as \0*N. */
static void escape(char *out, size_t outsz, const char *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 16 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == 0) {
			size_t j = i;
			while (j < n && in[j] == 0)
				j++;
			if (j - i > 1)
				o += (size_t)snprintf(out + o, outsz - o, "\\0*%zu", j - i);
			else
				o += (size_t)snprintf(out + o, outsz - o, "\\0");
			i = j - 1;
		} else if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		}
	}
	out[o] = 0;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Prints n bytes: escaped when short, else length and hash. */
static void show(const char *what, const char *buf, size_t n)
{
	char e[512];
	if (n <= 64) {
		escape(e, sizeof(e), buf, n);
		line(what, "\"%s\"", e);
	} else {
		line(what, "%zu bytes fnv %016llx", n,
		     (unsigned long long)fnv(buf, n, 14695981039346656037ULL));
	}
}

/* ---- stat ------------------------------------------------------------- */

static const char *ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "reg";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "lnk";
	case S_IFIFO:
		return "fifo";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	case S_IFSOCK:
		return "sock";
	}
	return "?";
}

static void print_stat(const char *what, const struct stat *s)
{
	char extra[64] = "";
	if (S_ISCHR(s->st_mode) || S_ISBLK(s->st_mode))
		snprintf(extra, sizeof(extra), " rdev=%u:%u", major(s->st_rdev), minor(s->st_rdev));
	else if (!S_ISDIR(s->st_mode))
		snprintf(extra, sizeof(extra), " size=%lld", (long long)s->st_size);
	line(what, "%s %04o nlink=%lu%s uid=%u gid=%u", ftype(s->st_mode),
	     (unsigned)(s->st_mode & 07777), (unsigned long)s->st_nlink, extra, (unsigned)s->st_uid,
	     (unsigned)s->st_gid);
}

/* A path for the transcript: long names shown as first letter x length. */
static const char *pname(const char *path)
{
	static char buf[64];
	size_t n = strlen(path);
	if (n <= 48)
		return path;
	snprintf(buf, sizeof(buf), "%cx%zu", path[0], n);
	return buf;
}

/* opendir, reported as 0 or -1 errno; the stream is closed again. */
static void opendir_rep(const char *what, const char *path)
{
	DIR *d = opendir(path);
	rep(what, d ? 0 : -1);
	if (d)
		closedir(d);
}

/* lstat for its return value only. */
static int lstat_rc(const char *path)
{
	struct stat s;
	return lstat(path, &s);
}

/* lstat of a path, printed normalized; the result goes to *out if given. */
static int st(const char *path, struct stat *out)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "lstat %s", pname(path));
	if (lstat(path, &s) != 0) {
		rep(what, -1);
		return -1;
	}
	print_stat(what, &s);
	if (out)
		*out = s;
	return 0;
}

/* stat (following symlinks). */
static int stf(const char *path)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "stat %s", pname(path));
	if (stat(path, &s) != 0) {
		rep(what, -1);
		return -1;
	}
	print_stat(what, &s);
	return 0;
}

static int fst(int fd, const char *name)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "fstat %.300s", name);
	if (fstat(fd, &s) != 0) {
		rep(what, -1);
		return -1;
	}
	print_stat(what, &s);
	return 0;
}

static long long fsize(int fd)
{
	struct stat s;
	if (fstat(fd, &s) != 0)
		return -1;
	return (long long)s.st_size;
}

/* ---- times ------------------------------------------------------------ */

static const struct timespec T0 = {1000000000, 0};

static int ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* "set" if t equals the expected value, "now" if near the clock. */
static const char *tclass(struct timespec t, const struct timespec *set)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (set && ts_eq(t, *set))
		return "set";
	if (t.tv_sec >= now.tv_sec - 30 && t.tv_sec <= now.tv_sec + 2)
		return "now";
	return "other";
}

/* Sets atime and mtime of path (not following symlinks) to T0. */
static void set_t0(const char *path)
{
	struct timespec ts[2] = {T0, T0};
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
		line("utimensat T0", "%s: %s", path, errname(errno));
}

/* Prints the atime/mtime classes of path against expected values. */
static void times(const char *path, const struct timespec *aset, const struct timespec *mset)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "times %s", pname(path));
	if (lstat(path, &s) != 0) {
		rep(what, -1);
		return;
	}
	line(what, "atime %s mtime %s", tclass(s.st_atim, aset), tclass(s.st_mtim, mset));
}

/* Prints only the mtime class of path against T0. */
static void mtime(const char *path)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "mtime %s", pname(path));
	if (lstat(path, &s) != 0) {
		rep(what, -1);
		return;
	}
	line(what, "%s", ts_eq(s.st_mtim, T0) ? "unchanged" : tclass(s.st_mtim, NULL));
}

/*
 * ctime cannot be set: remember it, then sleep past the coarse clock tick
 * so that an update is visible.
 */
static struct timespec ct_saved;

static void ct_mark(const char *path)
{
	struct stat s;
	struct timespec nap = {0, 30 * 1000 * 1000};
	if (lstat(path, &s) != 0)
		line("ctime mark", "%s: %s", path, errname(errno));
	ct_saved = s.st_ctim;
	nanosleep(&nap, NULL);
}

static void ct_check(const char *path)
{
	struct stat s;
	char what[320];
	snprintf(what, sizeof(what), "ctime changed %s", pname(path));
	if (lstat(path, &s) != 0) {
		rep(what, -1);
		return;
	}
	yesno(what, !ts_eq(s.st_ctim, ct_saved));
}

/* ---- file helpers ----------------------------------------------------- */

/* Writes bytes to a new file (mode 0644), reporting only failures. */
static void putn(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) != 0)
		line("put", "%s failed: %s", path, errname(errno));
}

static void put(const char *path, const char *data)
{
	putn(path, data, strlen(data));
}

/* Reads a whole file (up to 16 MiB) and prints it. */
static void cat(const char *path)
{
	char what[320];
	size_t cap = 16 * MiB, n = 0;
	char *buf = malloc(cap);
	snprintf(what, sizeof(what), "content %s", pname(path));
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		rep(what, -1);
		free(buf);
		return;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			rep(what, -1);
			close(fd);
			free(buf);
			return;
		}
		if (r == 0 || (n += (size_t)r) == cap)
			break;
	}
	close(fd);
	show(what, buf, n);
	free(buf);
}

/* pread of n bytes at off, printed. */
static void pr(int fd, size_t n, off_t off)
{
	char buf[256], what[64];
	snprintf(what, sizeof(what), "pread %zu at %lld", n, (long long)off);
	if (n > sizeof(buf))
		n = sizeof(buf);
	ssize_t r = pread(fd, buf, n, off);
	if (r < 0)
		rep(what, -1);
	else
		show(what, buf, (size_t)r);
}

static int all_bytes(const char *p, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* getdents64 on a directory fd: bytes returned. */
static long syscall_getdents(int fd, char *buf, size_t n)
{
	return (long)getdents64(fd, buf, n);
}

/* Prints the sorted names in a directory (without . and ..). */
static void ls(const char *path)
{
	char *names[64];
	size_t n = 0;
	char what[320], out[2048] = "";
	snprintf(what, sizeof(what), "ls %s", pname(path));
	DIR *d = opendir(path);
	if (!d) {
		rep(what, -1);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < NELEM(names))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmpstr);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(out);
		snprintf(out + l, sizeof(out) - l, "%s%s", i ? " " : "", names[i]);
		free(names[i]);
	}
	line(what, "[%s]", out);
}

/* d_type of every entry agrees with lstat (DT_UNKNOWN allowed). */
static void dtypes(const char *path)
{
	char what[320], bad[256] = "";
	snprintf(what, sizeof(what), "d_type in %s matches lstat (or DT_UNKNOWN)", path);
	DIR *d = opendir(path);
	if (!d) {
		rep(what, -1);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat s;
		if (e->d_type == DT_UNKNOWN)
			continue;
		if (fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0 ||
		    (unsigned)e->d_type != ((s.st_mode & S_IFMT) >> 12)) {
			size_t l = strlen(bad);
			snprintf(bad + l, sizeof(bad) - l, " %.40s:%u", e->d_name, e->d_type);
		}
	}
	closedir(d);
	line(what, "%s", bad[0] ? bad : "yes");
}

/* ---- cases: files ----------------------------------------------------- */

static void case_create(void)
{
	int fd = repfd("open a O_CREAT|O_EXCL 0640", open("a", O_WRONLY | O_CREAT | O_EXCL, 0640));
	rep("write 5", write(fd, "hello", 5));
	rep("close", close(fd));
	repfd("open a O_CREAT|O_EXCL again", open("a", O_WRONLY | O_CREAT | O_EXCL, 0640));
	fd = repfd("open a O_CREAT (exists) 0600", open("a", O_RDWR | O_CREAT, 0600));
	fst(fd, "a");
	close(fd);
	cat("a");
	fd = repfd("open b O_CREAT 0777 (umask 022)", open("b", O_WRONLY | O_CREAT, 0777));
	close(fd);
	st("b", NULL);
	fd = repfd("creat c 0600", creat("c", 0600));
	rep("write to creat fd", write(fd, "c", 1));
	close(fd);
	st("c", NULL);
	rep("symlink nowhere l", symlink("nowhere", "l"));
	repfd("open l O_CREAT|O_EXCL (dangling symlink)",
	      open("l", O_WRONLY | O_CREAT | O_EXCL, 0644));
	fd = repfd("open l O_CREAT (creates target)", open("l", O_WRONLY | O_CREAT, 0644));
	close(fd);
	st("nowhere", NULL);
	repfd("open missing/x O_CREAT", open("missing/x", O_WRONLY | O_CREAT, 0644));
	repfd("open a/x O_CREAT", open("a/x", O_WRONLY | O_CREAT, 0644));
	repfd("open . O_CREAT|O_WRONLY", open(".", O_WRONLY | O_CREAT, 0644));
	repfd("open missing O_RDONLY", open("missing", O_RDONLY));
	umask(0);
	fd = repfd("open u0 O_CREAT 0777 (umask 0)", open("u0", O_WRONLY | O_CREAT, 0777));
	close(fd);
	rep("mkdir ud0 0777 (umask 0)", mkdir("ud0", 0777));
	umask(077);
	fd = repfd("open u77 O_CREAT 0666 (umask 077)", open("u77", O_WRONLY | O_CREAT, 0666));
	close(fd);
	rep("mkdir ud77 0777 (umask 077)", mkdir("ud77", 0777));
	rep("mkfifo up77 0666 (umask 077)", mkfifo("up77", 0666));
	umask(022);
	st("u0", NULL);
	st("ud0", NULL);
	st("u77", NULL);
	st("ud77", NULL);
	st("up77", NULL);
	fd = repfd("open s O_CREAT 04755 (root)", open("s", O_WRONLY | O_CREAT, 04755));
	close(fd);
	st("s", NULL);
	rep("mknod z 0644 (no type)", mknod("z", 0644, 0));
	st("z", NULL);
	rep("mkdir sub", mkdir("sub", 0755));
	set_t0("sub");
	put("sub/x", "x");
	mtime("sub");
	set_t0("sub");
	rep("unlink sub/x", unlink("sub/x"));
	mtime("sub");
	ls(".");
}

static void case_trunc(void)
{
	put("a", "hello world");
	set_t0("a");
	int fd = repfd("open a O_WRONLY|O_TRUNC", open("a", O_WRONLY | O_TRUNC));
	fst(fd, "a");
	close(fd);
	mtime("a");
	set_t0("a");
	fd = repfd("open a O_WRONLY|O_TRUNC (empty)", open("a", O_WRONLY | O_TRUNC));
	close(fd);
	st("a", NULL);
	put("b", "abc");
	fd = repfd("open b O_RDONLY|O_TRUNC", open("b", O_RDONLY | O_TRUNC));
	close(fd);
	st("b", NULL);
	put("c", "0123456789");
	fd = repfd("open c O_RDWR|O_TRUNC", open("c", O_RDWR | O_TRUNC));
	rep("write xy", write(fd, "xy", 2));
	pr(fd, 20, 0);
	close(fd);
	cat("c");
}

static void case_append(void)
{
	put("a", "abc");
	int fd = repfd("open a O_WRONLY|O_APPEND", open("a", O_WRONLY | O_APPEND));
	rep("lseek 0 SET", lseek(fd, 0, SEEK_SET));
	rep("write de", write(fd, "de", 2));
	rep("lseek 0 CUR", lseek(fd, 0, SEEK_CUR));
	rep("pwrite X at 0 (appends on Linux)", pwrite(fd, "X", 1, 0));
	close(fd);
	cat("a");
	int f1 = repfd("open a O_RDWR|O_APPEND #1", open("a", O_RDWR | O_APPEND));
	int f2 = repfd("open a O_WRONLY|O_APPEND #2", open("a", O_WRONLY | O_APPEND));
	rep("write 1 via #1", write(f1, "1", 1));
	rep("write 2 via #2", write(f2, "2", 1));
	rep("write 3 via #1", write(f1, "3", 1));
	rep("lseek 0 SET #1", lseek(f1, 0, SEEK_SET));
	char buf[32];
	ssize_t n = read(f1, buf, sizeof(buf));
	if (n < 0)
		rep("read #1", -1);
	else
		show("read #1", buf, (size_t)n);
	close(f1);
	close(f2);
	int w = repfd("open a O_WRONLY (no append)", open("a", O_WRONLY));
	rep("write Z at 0", write(w, "Z", 1));
	fd = repfd("open a O_WRONLY|O_APPEND", open("a", O_WRONLY | O_APPEND));
	rep("write end", write(fd, "end", 3));
	close(w);
	close(fd);
	cat("a");
	st("a", NULL);
}

static void case_rw(void)
{
	char buf[64];
	int fd = repfd("open f O_RDWR|O_CREAT", open("f", O_RDWR | O_CREAT, 0644));
	rep("write 10", write(fd, "0123456789", 10));
	rep("lseek 0 CUR", lseek(fd, 0, SEEK_CUR));
	rep("lseek 2 SET", lseek(fd, 2, SEEK_SET));
	ssize_t n = read(fd, buf, 3);
	if (n < 0)
		rep("read 3", -1);
	else
		show("read 3", buf, (size_t)n);
	rep("lseek 0 CUR", lseek(fd, 0, SEEK_CUR));
	pr(fd, 4, 6);
	rep("lseek 0 CUR after pread", lseek(fd, 0, SEEK_CUR));
	pr(fd, 4, 10);
	pr(fd, 4, 100);
	rep("pwrite ab at 20", pwrite(fd, "ab", 2, 20));
	fst(fd, "f");
	pr(fd, 64, 0);
	rep("lseek 0 END", lseek(fd, 0, SEEK_END));
	rep("lseek -1 SET", lseek(fd, -1, SEEK_SET));
	rep("lseek -100 END", lseek(fd, -100, SEEK_END));
	rep("lseek 0 CUR", lseek(fd, 0, SEEK_CUR));
	rep("read at EOF", read(fd, buf, 10));
	rep("pread at -1", pread(fd, buf, 1, -1));
	rep("pwrite XY at 4", pwrite(fd, "XY", 2, 4));
	rep("write 0 bytes", write(fd, buf, 0));
	close(fd);
	cat("f");
	fd = repfd("open f O_RDONLY", open("f", O_RDONLY));
	rep("write on O_RDONLY", write(fd, "x", 1));
	close(fd);
	fd = repfd("open f O_WRONLY", open("f", O_WRONLY));
	rep("read on O_WRONLY", read(fd, buf, 1));
	close(fd);

	/* Larger and unaligned transfers, across page boundaries. */
	size_t big = 3 * MiB + 123;
	char *p = malloc(big), *q = malloc(big);
	for (size_t i = 0; i < big; i++)
		p[i] = (char)(i * 7 + i / 4096);
	fd = repfd("open g O_RDWR|O_CREAT", open("g", O_RDWR | O_CREAT, 0644));
	rep("write 3 MiB+123", write(fd, p, big));
	rep("pwrite 10000 at 4090", pwrite(fd, p + 1000, 10000, 4090));
	memmove(p + 4090, p + 1000, 10000);
	rep("pwrite 1 at 3 MiB-1", pwrite(fd, "!", 1, 3 * MiB - 1));
	p[3 * MiB - 1] = '!';
	fst(fd, "g");
	close(fd);
	fd = open("g", O_RDONLY);
	n = pread(fd, q, big, 0);
	rep("pread all of g", n);
	yesno("g content as written", n == (ssize_t)big && memcmp(p, q, big) == 0);
	memset(q, 0, 5000);
	n = pread(fd, q, 5000, 8191);
	yesno("pread 5000 at 8191 matches", n == 5000 && memcmp(p + 8191, q, 5000) == 0);
	close(fd);
	free(p);
	free(q);
}

static void case_times(void)
{
	put("f", "data");
	set_t0("f");
	char buf[8];
	int fd = open("f", O_RDONLY);
	rep("read (atime <= mtime, so relatime updates atime)", read(fd, buf, sizeof(buf)));
	close(fd);
	mtime("f");
	times("f", &T0, &T0);
	fd = open("f", O_WRONLY);
	rep("write", write(fd, "x", 1));
	close(fd);
	mtime("f");
	set_t0("f");
	ct_mark("f");
	rep("chmod 0600", chmod("f", 0600));
	mtime("f");
	ct_check("f");
	ct_mark("f");
	fd = open("f", O_WRONLY);
	rep("pwrite", pwrite(fd, "y", 1, 2));
	close(fd);
	ct_check("f");
	mtime("f");
	rep("mkdir d", mkdir("d", 0755));
	set_t0("d");
	ct_mark("d");
	rep("mkdir d/s", mkdir("d/s", 0755));
	mtime("d");
	ct_check("d");
	set_t0("d");
	rep("rename d/s d/t", rename("d/s", "d/t"));
	mtime("d");
	set_t0("d");
	rep("rmdir d/t", rmdir("d/t"));
	mtime("d");
	set_t0("d");
	rep("symlink d/l", symlink("x", "d/l"));
	mtime("d");
	set_t0("d");
	rep("link f d/h", link("f", "d/h"));
	mtime("d");
	set_t0("d");
	put("d/h", "z");
	mtime("d");
}

static void case_sparse(void)
{
	const off_t size = 4 * MiB, b = 2 * MiB;
	char blk[4096];
	int fd = repfd("open s O_RDWR|O_CREAT", open("s", O_RDWR | O_CREAT, 0644));
	memset(blk, 'A', sizeof(blk));
	rep("pwrite 4 KiB A at 0", pwrite(fd, blk, sizeof(blk), 0));
	memset(blk, 'B', sizeof(blk));
	rep("pwrite 4 KiB B at 2 MiB", pwrite(fd, blk, sizeof(blk), b));
	rep("ftruncate 4 MiB", ftruncate(fd, size));
	rep("fsync", fsync(fd));
	fst(fd, "s");
	rep("SEEK_DATA 0", lseek(fd, 0, SEEK_DATA));
	off_t h = lseek(fd, 0, SEEK_HOLE);
	yesno("SEEK_HOLE 0 in [4 KiB, 2 MiB] or at EOF", (h >= 4096 && h <= b) || h == size);
	off_t d = lseek(fd, 1 * MiB, SEEK_DATA);
	yesno("SEEK_DATA 1 MiB in [1 MiB, 2 MiB]", d >= 1 * MiB && d <= b);
	h = lseek(fd, b, SEEK_HOLE);
	yesno("SEEK_HOLE 2 MiB in [2 MiB+4 KiB, EOF]", h >= b + 4096 && h <= size);
	d = lseek(fd, 3 * MiB, SEEK_DATA);
	yesno("SEEK_DATA 3 MiB is 3 MiB or ENXIO", d == 3 * MiB || (d == -1 && errno == ENXIO));
	h = lseek(fd, size - 1, SEEK_HOLE);
	yesno("SEEK_HOLE EOF-1 in [EOF-1, EOF]", h == size - 1 || h == size);
	rep("SEEK_DATA EOF", lseek(fd, size, SEEK_DATA));
	rep("SEEK_HOLE EOF", lseek(fd, size, SEEK_HOLE));
	rep("SEEK_DATA EOF+1", lseek(fd, size + 1, SEEK_DATA));
	rep("SEEK_HOLE -1", lseek(fd, -1, SEEK_HOLE));

	char *p = malloc((size_t)size);
	ssize_t n = pread(fd, p, (size_t)size, 0);
	rep("pread all", n);
	yesno("A, zeros, B, zeros", n == size && all_bytes(p, 4096, 'A') &&
					all_bytes(p + 4096, (size_t)b - 4096, 0) &&
					all_bytes(p + b, 4096, 'B') &&
					all_bytes(p + b + 4096, (size_t)(size - b - 4096), 0));
	/* Fill part of the hole and look again. */
	memset(blk, 'C', sizeof(blk));
	rep("pwrite 4 KiB C at 1 MiB", pwrite(fd, blk, sizeof(blk), 1 * MiB));
	d = lseek(fd, 4096, SEEK_DATA);
	yesno("SEEK_DATA 4 KiB in [4 KiB, 1 MiB]", d >= 4096 && d <= 1 * MiB);
	n = pread(fd, p, 3 * 4096, 1 * MiB - 4096);
	yesno("zeros, C, zeros around 1 MiB", n == 3 * 4096 && all_bytes(p, 4096, 0) &&
						  all_bytes(p + 4096, 4096, 'C') &&
						  all_bytes(p + 8192, 4096, 0));
	close(fd);

	fd = repfd("open full O_RDWR|O_CREAT", open("full", O_RDWR | O_CREAT, 0644));
	memset(p, 'x', 8192);
	rep("write 8 KiB", write(fd, p, 8192));
	rep("SEEK_DATA 0 (no holes)", lseek(fd, 0, SEEK_DATA));
	rep("SEEK_HOLE 0 (no holes)", lseek(fd, 0, SEEK_HOLE));
	rep("SEEK_HOLE 5000 (no holes)", lseek(fd, 5000, SEEK_HOLE));
	close(fd);

	fd = repfd("open empty O_RDWR|O_CREAT", open("empty", O_RDWR | O_CREAT, 0644));
	rep("SEEK_DATA 0 (empty)", lseek(fd, 0, SEEK_DATA));
	rep("SEEK_HOLE 0 (empty)", lseek(fd, 0, SEEK_HOLE));
	rep("ftruncate 1 MiB", ftruncate(fd, 1 * MiB));
	d = lseek(fd, 0, SEEK_DATA);
	yesno("SEEK_DATA 0 (all hole) is 0 or ENXIO", d == 0 || (d == -1 && errno == ENXIO));
	h = lseek(fd, 0, SEEK_HOLE);
	yesno("SEEK_HOLE 0 (all hole) is 0 or EOF", h == 0 || h == 1 * MiB);
	n = pread(fd, p, 1 * MiB, 0);
	yesno("1 MiB of zeros", n == 1 * MiB && all_bytes(p, 1 * MiB, 0));
	close(fd);
	free(p);
}

static void case_big(void)
{
	const off_t at = 5 * GiB;
	char buf[16];
	int fd = repfd("open big O_RDWR|O_CREAT", open("big", O_RDWR | O_CREAT, 0644));
	rep("pwrite 5GiB at 5 GiB", pwrite(fd, "5GiB", 4, at));
	fst(fd, "big");
	rep("fsync", fsync(fd));
	close(fd);
	st("big", NULL);
	fd = repfd("open big O_RDWR", open("big", O_RDWR));
	pr(fd, 4, at);
	pr(fd, 6, at - 2);
	pr(fd, 8, 4 * GiB);
	pr(fd, 8, at + 2);
	rep("lseek 0 END", lseek(fd, 0, SEEK_END));
	rep("pwrite xy at 2 GiB-1", pwrite(fd, "xy", 2, 2 * GiB - 1));
	pr(fd, 4, 2 * GiB - 2);
	rep("pwrite 4G at 4 GiB-1", pwrite(fd, "4G", 2, 4 * GiB - 1));
	pr(fd, 4, 4 * GiB - 2);
	rep("ftruncate 4 GiB+1", ftruncate(fd, 4 * GiB + 1));
	fst(fd, "big");
	pr(fd, 4, 4 * GiB - 2);
	rep("ftruncate 5 GiB+4", ftruncate(fd, at + 4));
	pr(fd, 4, at);
	rep("read at 5 GiB via lseek", (lseek(fd, at, SEEK_SET), read(fd, buf, sizeof(buf))));
	close(fd);
	fd = open("big", O_RDWR);
	rep("ftruncate 1 TiB", ftruncate(fd, 1024 * GiB));
	fst(fd, "big");
	pr(fd, 8, 1024 * GiB - 8);
	rep("pwrite 15T at 15 TiB", pwrite(fd, "15T", 3, 15 * 1024 * GiB));
	fst(fd, "big");
	pr(fd, 3, 15 * 1024 * GiB);
	off_t d = lseek(fd, 6 * GiB, SEEK_DATA);
	yesno("SEEK_DATA 6 GiB in [6 GiB, 15 TiB]", d >= 6 * GiB && d <= 15 * 1024 * GiB);
	close(fd);
	rep("truncate big 0", truncate("big", 0));
	st("big", NULL);
}

static void case_truncate(void)
{
	put("f", "abcdefgh");
	rep("truncate 3", truncate("f", 3));
	st("f", NULL);
	rep("truncate 10", truncate("f", 10));
	cat("f");
	set_t0("f");
	ct_mark("f");
	rep("truncate 10 (same size)", truncate("f", 10));
	st("f", NULL);
	mtime("f");
	ct_check("f");
	set_t0("f");
	rep("truncate 12", truncate("f", 12));
	mtime("f");
	int fd = repfd("open f O_RDWR", open("f", O_RDWR));
	set_t0("f");
	rep("ftruncate 1", ftruncate(fd, 1));
	mtime("f");
	set_t0("f");
	ct_mark("f");
	rep("ftruncate 1 (same size)", ftruncate(fd, 1));
	mtime("f");
	ct_check("f");
	rep("ftruncate -1", ftruncate(fd, -1));
	rep("pwrite abcdefgh at 0", pwrite(fd, "abcdefgh", 8, 0));
	rep("ftruncate 2", ftruncate(fd, 2));
	rep("pwrite Z at 6", pwrite(fd, "Z", 1, 6));
	pr(fd, 16, 0);
	close(fd);
	cat("f");
	fd = repfd("open f O_RDONLY", open("f", O_RDONLY));
	rep("ftruncate on O_RDONLY", ftruncate(fd, 0));
	close(fd);
	rep("truncate -1", truncate("f", -1));
	rep("mkdir d", mkdir("d", 0755));
	rep("truncate dir", truncate("d", 0));
	rep("truncate missing", truncate("missing", 0));
	rep("truncate f/x", truncate("f/x", 0));

	/* Down then up again without a read in between: no stale bytes. */
	char *p = malloc(8192);
	memset(p, 'q', 8192);
	fd = repfd("open g O_RDWR|O_CREAT", open("g", O_RDWR | O_CREAT, 0644));
	rep("write 8 KiB q", write(fd, p, 8192));
	rep("ftruncate 100", ftruncate(fd, 100));
	rep("ftruncate 8192", ftruncate(fd, 8192));
	ssize_t n = pread(fd, p, 8192, 0);
	yesno("100 q then zeros",
	      n == 8192 && all_bytes(p, 100, 'q') && all_bytes(p + 100, 8092, 0));
	rep("fsync", fsync(fd));
	rep("ftruncate 4097", ftruncate(fd, 4097));
	rep("ftruncate 12288", ftruncate(fd, 12288));
	n = pread(fd, p, 8192, 4096);
	yesno("zeros from 4 KiB", n == 8192 && all_bytes(p, 8192, 0));
	close(fd);
	free(p);
}

static void case_unlink_open(void)
{
	int fd = repfd("open f O_RDWR|O_CREAT", open("f", O_RDWR | O_CREAT, 0644));
	rep("write data", write(fd, "data", 4));
	rep("unlink f", unlink("f"));
	st("f", NULL);
	fst(fd, "f (unlinked)");
	rep("write more", write(fd, "more", 4));
	pr(fd, 16, 0);
	rep("ftruncate 2", ftruncate(fd, 2));
	fst(fd, "f (unlinked)");
	ls(".");
	put("f", "new");
	cat("f");
	pr(fd, 16, 0);
	rep("fsync unlinked", fsync(fd));
	rep("fchmod unlinked 0600", fchmod(fd, 0600));
	rep("fchown unlinked 7:7", fchown(fd, 7, 7));
	struct timespec ts[2] = {{1000, 1}, {2000, 2}};
	rep("futimens unlinked", futimens(fd, ts));
	rep("fsetxattr unlinked", fsetxattr(fd, "user.u", "uv", 2, 0));
	char xv[8];
	rep("fgetxattr unlinked", fgetxattr(fd, "user.u", xv, sizeof(xv)));
	fst(fd, "f (unlinked)");
	rep("linkat AT_EMPTY_PATH of unlinked", linkat(fd, "", AT_FDCWD, "back", AT_EMPTY_PATH));
	rep("close", close(fd));
	cat("f");
	st("f", NULL);

	put("g", "two");
	rep("link g g2", link("g", "g2"));
	fd = repfd("open g O_RDWR", open("g", O_RDWR));
	rep("unlink g", unlink("g"));
	fst(fd, "g");
	rep("unlink g2", unlink("g2"));
	fst(fd, "g");
	pr(fd, 8, 0);
	close(fd);
	rep("unlink missing", unlink("missing"));
	ls(".");
}

static void case_mkdir(void)
{
	rep("mkdir d 0755", mkdir("d", 0755));
	st("d", NULL);
	rep("mkdir d again", mkdir("d", 0755));
	put("f", "x");
	rep("mkdir f (file)", mkdir("f", 0755));
	rep("mkdir f/x", mkdir("f/x", 0755));
	rep("mkdir missing/x", mkdir("missing/x", 0755));
	rep("mkdir d/s1", mkdir("d/s1", 0755));
	rep("mkdir d/s2/ (trailing slash)", mkdir("d/s2/", 0755));
	st("d", NULL);
	rep("mkdir d2 0777", mkdir("d2", 0777));
	rep("mkdir d3 01777", mkdir("d3", 01777));
	rep("mkdir d4 07777", mkdir("d4", 07777));
	rep("mkdir d5 0", mkdir("d5", 0));
	st("d2", NULL);
	st("d3", NULL);
	st("d4", NULL);
	st("d5", NULL);
	st(".", NULL);
	put("d/file", "y");
	rep("rmdir d (not empty)", rmdir("d"));
	rep("rmdir f (file)", rmdir("f"));
	rep("rmdir .", rmdir("."));
	rep("rmdir d/..", rmdir("d/.."));
	rep("rmdir missing", rmdir("missing"));
	rep("rmdir f/x", rmdir("f/x"));
	rep("unlink d (dir)", unlink("d"));
	rep("rmdir d/s1", rmdir("d/s1"));
	st("d", NULL);
	rep("rmdir d/s2/", rmdir("d/s2/"));
	rep("unlink d/file", unlink("d/file"));
	st("d", NULL);
	rep("rmdir d", rmdir("d"));
	st("d", NULL);
	rep("rmdir d5 (mode 0)", rmdir("d5"));
	st(".", NULL);
	ls(".");
}

static void case_rmdir_open(void)
{
	rep("mkdir d", mkdir("d", 0755));
	int fd = repfd("open d O_DIRECTORY", open("d", O_RDONLY | O_DIRECTORY));
	rep("rmdir d", rmdir("d"));
	fst(fd, "d (removed)");
	char buf[4096];
	rep("getdents of removed dir", syscall_getdents(fd, buf, sizeof(buf)));
	rep("mkdirat in removed dir", mkdirat(fd, "x", 0755));
	repfd("openat O_CREAT in removed dir", openat(fd, "x", O_WRONLY | O_CREAT, 0644));
	rep("fchmod removed dir", fchmod(fd, 0700));
	rep("fsync removed dir", fsync(fd));
	close(fd);
	rep("mkdir d again", mkdir("d", 0755));
	put("d/f", "f");
	DIR *dir = opendir("d");
	rep("opendir d", dir ? 0 : -1);
	rep("unlink d/f", unlink("d/f"));
	rep("rmdir d", rmdir("d"));
	int n = 0;
	while (dir && readdir(dir))
		n++;
	rep("entries read after rmdir", n);
	if (dir)
		closedir(dir);
	ls(".");
}

static void case_rename(void)
{
	put("a", "A");
	rep("rename a b", rename("a", "b"));
	st("a", NULL);
	cat("b");
	put("c", "C");
	int fd = repfd("open c", open("c", O_RDONLY));
	rep("rename b c (over file)", rename("b", "c"));
	cat("c");
	fst(fd, "old c");
	pr(fd, 4, 0);
	close(fd);
	rep("mkdir e", mkdir("e", 0755));
	rep("mkdir d", mkdir("d", 0700));
	put("d/in", "in");
	rep("rename d e (over empty dir)", rename("d", "e"));
	st("d", NULL);
	st("e", NULL);
	cat("e/in");
	rep("mkdir n", mkdir("n", 0755));
	put("n/x", "x");
	rep("mkdir m", mkdir("m", 0755));
	rep("rename m n (over non-empty dir)", rename("m", "n"));
	rep("rename e c (dir over file)", rename("e", "c"));
	rep("rename c n (file over dir)", rename("c", "n"));
	rep("rename c c (same)", rename("c", "c"));
	cat("c");
	rep("link c c2", link("c", "c2"));
	rep("rename c c2 (same inode)", rename("c", "c2"));
	st("c", NULL);
	st("c2", NULL);
	put("v", "victim");
	rep("link v v2", link("v", "v2"));
	put("w", "winner");
	ct_mark("v2");
	rep("rename w v (victim has 2 links)", rename("w", "v"));
	st("v2", NULL);
	ct_check("v2");
	cat("v");
	cat("v2");
	rep("rename missing z", rename("missing", "z"));
	rep("rename c missing/z", rename("c", "missing/z"));
	rep("rename n n/sub (into itself)", rename("n", "n/sub"));
	rep("rename . x", rename(".", "x"));
	rep("rename x .", rename("c", "."));
	rep("rename e/ e2 (trailing slash)", rename("e/", "e2"));
	rep("rename c/ c3 (trailing slash on file)", rename("c/", "c3"));
	rep("rename c c3/ (trailing slash on target)", rename("c", "c3/"));
	ct_mark("c");
	rep("rename c c3", rename("c", "c3"));
	ct_check("c3");
	rep("rename e2 n/e2 (dir into other dir)", rename("e2", "n/e2"));
	st("n", NULL);
	cat("n/e2/in");
	rep("mkdir p", mkdir("p", 0755));
	set_t0("p");
	set_t0("n");
	rep("rename n/x p/x", rename("n/x", "p/x"));
	mtime("p");
	mtime("n");
	put("p/y", "yy");
	int fy = repfd("open p/y", open("p/y", O_RDWR));
	rep("rename p/y p/z", rename("p/y", "p/z"));
	rep("write via renamed fd", write(fy, "W", 1));
	close(fy);
	cat("p/z");
	ls(".");
	ls("p");
	ls("n");
}

static void case_renameat2(void)
{
	put("a", "A");
	put("b", "B");
	rep("NOREPLACE a b", renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE));
	cat("a");
	cat("b");
	rep("NOREPLACE a c", renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE));
	st("a", NULL);
	cat("c");
	rep("mkdir d", mkdir("d", 0755));
	rep("NOREPLACE b d", renameat2(AT_FDCWD, "b", AT_FDCWD, "d", RENAME_NOREPLACE));
	rep("flags 0 b c", renameat2(AT_FDCWD, "b", AT_FDCWD, "c", 0));
	cat("c");
	put("x", "X");
	put("y", "Y");
	rep("EXCHANGE x y", renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE));
	cat("x");
	cat("y");
	rep("EXCHANGE x missing", renameat2(AT_FDCWD, "x", AT_FDCWD, "missing", RENAME_EXCHANGE));
	rep("EXCHANGE|NOREPLACE",
	    renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE | RENAME_NOREPLACE));
	put("d/inner", "I");
	rep("EXCHANGE x d (file<->dir)", renameat2(AT_FDCWD, "x", AT_FDCWD, "d", RENAME_EXCHANGE));
	st("x", NULL);
	st("d", NULL);
	cat("x/inner");
	cat("d");
	rep("mkdir p1", mkdir("p1", 0755));
	rep("mkdir p2", mkdir("p2", 0755));
	rep("mkdir p1/sd", mkdir("p1/sd", 0755));
	put("p2/sf", "F");
	st("p1", NULL);
	st("p2", NULL);
	rep("EXCHANGE p1/sd p2/sf",
	    renameat2(AT_FDCWD, "p1/sd", AT_FDCWD, "p2/sf", RENAME_EXCHANGE));
	st("p1", NULL);
	st("p2", NULL);
	st("p1/sd", NULL);
	st("p2/sf", NULL);
	rep("mkdir p1/dd", mkdir("p1/dd", 0755));
	rep("EXCHANGE p1/dd p2/sf (dir<->dir)",
	    renameat2(AT_FDCWD, "p1/dd", AT_FDCWD, "p2/sf", RENAME_EXCHANGE));
	st("p1", NULL);
	st("p2", NULL);
	rep("EXCHANGE p1 p1/sd (ancestor)",
	    renameat2(AT_FDCWD, "p1", AT_FDCWD, "p1/dd", RENAME_EXCHANGE));
	rep("EXCHANGE y y (same)", renameat2(AT_FDCWD, "y", AT_FDCWD, "y", RENAME_EXCHANGE));
	cat("y");
	rep("NOREPLACE y y (same)", renameat2(AT_FDCWD, "y", AT_FDCWD, "y", RENAME_NOREPLACE));
	ls(".");
	ls("p1");
	ls("p2");
}

static void case_dirnlink(void)
{
	rep("mkdir A", mkdir("A", 0755));
	rep("mkdir B", mkdir("B", 0755));
	rep("mkdir A/s", mkdir("A/s", 0755));
	rep("mkdir A/s/deep", mkdir("A/s/deep", 0755));
	st("A", NULL);
	st("B", NULL);
	rep("rename A/s B/s", rename("A/s", "B/s"));
	st("A", NULL);
	st("B", NULL);
	st("B/s", NULL);
	struct stat s1, s2;
	yesno("B/s/.. is B", stat("B/s/..", &s1) == 0 && stat("B", &s2) == 0 &&
				 s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev);
	rep("rename B/s B/t", rename("B/s", "B/t"));
	st("B", NULL);
	rep("mkdir A/e", mkdir("A/e", 0755));
	rep("rename B/t A/e (over empty dir)", rename("B/t", "A/e"));
	st("A", NULL);
	st("B", NULL);
	st("A/e", NULL);
	rep("rmdir A/e/deep", rmdir("A/e/deep"));
	st("A/e", NULL);
	rep("rmdir A/e", rmdir("A/e"));
	st("A", NULL);
	put("B/f", "f");
	rep("rename B/f A/f (file)", rename("B/f", "A/f"));
	st("A", NULL);
	st("B", NULL);
	st(".", NULL);
}

static void case_link(void)
{
	put("a", "x");
	rep("link a b", link("a", "b"));
	st("a", NULL);
	st("b", NULL);
	rep("link a b again", link("a", "b"));
	rep("mkdir d", mkdir("d", 0755));
	rep("link d d2 (dir)", link("d", "d2"));
	rep("link missing z", link("missing", "z"));
	rep("link a missing/z", link("a", "missing/z"));
	rep("link a a/z", link("a", "a/z"));
	rep("link a d/a", link("a", "d/a"));
	st("a", NULL);
	int fd = open("b", O_WRONLY | O_APPEND);
	rep("append via b", write(fd, "yz", 2));
	close(fd);
	cat("a");
	cat("d/a");
	ct_mark("b");
	rep("unlink a", unlink("a"));
	st("b", NULL);
	ct_check("b");
	cat("b");
	ct_mark("b");
	rep("link b c", link("b", "c"));
	ct_check("b");
	rep("symlink b s", symlink("b", "s"));
	rep("link s ls (the symlink itself)", link("s", "ls"));
	st("ls", NULL);
	st("s", NULL);
	rep("linkat s lf AT_SYMLINK_FOLLOW",
	    linkat(AT_FDCWD, "s", AT_FDCWD, "lf", AT_SYMLINK_FOLLOW));
	st("lf", NULL);
	rep("unlink b", unlink("b"));
	rep("unlink c", unlink("c"));
	rep("unlink d/a", unlink("d/a"));
	st("lf", NULL);
	rep("mkfifo p", mkfifo("p", 0644));
	rep("link p p2 (fifo)", link("p", "p2"));
	st("p2", NULL);
	ls(".");
}

static void case_symlink(void)
{
	char buf[5000];
	rep("symlink target l", symlink("target", "l"));
	ssize_t n = readlink("l", buf, sizeof(buf));
	rep("readlink l", n);
	if (n >= 0)
		show("readlink l", buf, (size_t)n);
	st("l", NULL);
	stf("l");
	put("target", "T");
	stf("l");
	cat("l");
	rep("symlink x l (exists)", symlink("x", "l"));
	rep("symlink x target (exists)", symlink("x", "target"));
	rep("symlink \"\" e", symlink("", "e"));
	n = readlink("l", buf, 3);
	rep("readlink l bufsiz 3", n);
	if (n >= 0)
		show("readlink l bufsiz 3", buf, (size_t)n);
	rep("readlink target (file)", readlink("target", buf, sizeof(buf)));
	rep("readlink missing", readlink("missing", buf, sizeof(buf)));
	repfd("open l O_NOFOLLOW", open("l", O_RDONLY | O_NOFOLLOW));
	repfd("open l O_PATH|O_NOFOLLOW", open("l", O_PATH | O_NOFOLLOW));
	rep("symlink nowhere dang", symlink("nowhere", "dang"));
	repfd("open dang", open("dang", O_RDONLY));
	rep("symlink loop2 loop1", symlink("loop2", "loop1"));
	rep("symlink loop1 loop2", symlink("loop1", "loop2"));
	repfd("open loop1", open("loop1", O_RDONLY));
	rep("mkdir d", mkdir("d", 0755));
	put("d/f", "in d");
	rep("symlink d/f ld", symlink("d/f", "ld"));
	cat("ld");
	rep("symlink d dl", symlink("d", "dl"));
	cat("dl/f");
	stf("dl/");
	st("dl", NULL);
	rep("symlink ../target d/up", symlink("../target", "d/up"));
	cat("d/up");

	/* Long targets: 4000 bytes, 4095 (the maximum), 4096. */
	char t[4097];
	for (int i = 0; i < 4096; i++)
		t[i] = (i % 100 == 99) ? '/' : (char)('a' + i % 26);
	t[4000] = 0;
	rep("symlink 4000-byte target", symlink(t, "long"));
	n = readlink("long", buf, sizeof(buf));
	rep("readlink long", n);
	yesno("readlink long matches", n == 4000 && memcmp(buf, t, 4000) == 0);
	st("long", NULL);
	for (int i = 4000; i < 4096; i++)
		t[i] = 'z';
	t[4095] = 0;
	rep("symlink 4095-byte target", symlink(t, "long2"));
	n = readlink("long2", buf, sizeof(buf));
	rep("readlink long2", n);
	yesno("readlink long2 matches", n == 4095 && memcmp(buf, t, 4095) == 0);
	t[4095] = 'z';
	t[4096] = 0;
	rep("symlink 4096-byte target", symlink(t, "long3"));
	rep("unlink l", unlink("l"));
	st("target", NULL);
	rep("rename ld ld2 (symlink)", rename("ld", "ld2"));
	cat("ld2");
	ls(".");
}

static void case_mknod(void)
{
	char buf[8];
	rep("mkfifo p 0640", mkfifo("p", 0640));
	st("p", NULL);
	int fd = repfd("open p O_RDWR|O_NONBLOCK", open("p", O_RDWR | O_NONBLOCK));
	rep("write hi", write(fd, "hi", 2));
	ssize_t n = read(fd, buf, sizeof(buf));
	rep("read", n);
	if (n > 0)
		show("read", buf, (size_t)n);
	rep("read empty fifo", read(fd, buf, sizeof(buf)));
	rep("lseek on fifo", lseek(fd, 0, SEEK_SET));
	close(fd);
	repfd("open p O_WRONLY|O_NONBLOCK (no reader)", open("p", O_WRONLY | O_NONBLOCK));
	rep("mkfifo p again", mkfifo("p", 0640));
	rep("mknod r S_IFREG", mknod("r", S_IFREG | 0600, 0));
	st("r", NULL);
	rep("mknod c S_IFCHR 1:3", mknod("c", S_IFCHR | 0600, makedev(1, 3)));
	st("c", NULL);
	rep("mknod b S_IFBLK 7:0", mknod("b", S_IFBLK | 0600, makedev(7, 0)));
	st("b", NULL);
	rep("mknod c2 S_IFCHR 4095:1048575", mknod("c2", S_IFCHR | 0600, makedev(4095, 1048575)));
	st("c2", NULL);
	rep("mknod c3 S_IFCHR 259:300", mknod("c3", S_IFCHR | 0600, makedev(259, 300)));
	st("c3", NULL);
	rep("mknod s S_IFSOCK", mknod("s", S_IFSOCK | 0600, 0));
	st("s", NULL);
	rep("mknod x S_IFDIR", mknod("x", S_IFDIR | 0755, 0));
	rep("symlink l", symlink("r", "l"));
	rep("mkdir d", mkdir("d", 0755));
	dtypes(".");
	rep("rename p q", rename("p", "q"));
	st("q", NULL);
	rep("chmod q 0600", chmod("q", 0600));
	st("q", NULL);
	rep("unlink q", unlink("q"));
	ls(".");
}

static void case_chmod(void)
{
	put("f", "x");
	rep("chmod 0600", chmod("f", 0600));
	st("f", NULL);
	rep("chmod 04755", chmod("f", 04755));
	st("f", NULL);
	rep("chmod 07777", chmod("f", 07777));
	st("f", NULL);
	rep("chmod 0", chmod("f", 0));
	st("f", NULL);
	int fd = repfd("open f O_RDWR (root, mode 0)", open("f", O_RDWR));
	rep("fchmod 0640", fchmod(fd, 0640));
	fst(fd, "f");
	close(fd);
	rep("mkdir d", mkdir("d", 0755));
	rep("chmod d 01777", chmod("d", 01777));
	st("d", NULL);
	rep("chmod d 02755", chmod("d", 02755));
	st("d", NULL);
	rep("symlink f l", symlink("f", "l"));
	rep("chmod l 0611 (follows)", chmod("l", 0611));
	st("f", NULL);
	st("l", NULL);
	rep("chmod missing", chmod("missing", 0644));
	rep("chmod 0177777 (extra bits)", chmod("f", 0177777));
	st("f", NULL);
	set_t0("f");
	ct_mark("f");
	rep("chmod 0644", chmod("f", 0644));
	mtime("f");
	ct_check("f");
	rep("chmod 06755", chmod("f", 06755));
	fd = open("f", O_WRONLY);
	rep("write as root to 06755 file", write(fd, "y", 1));
	close(fd);
	st("f", NULL);
	rep("truncate as root 06755 file", truncate("f", 0));
	st("f", NULL);
}

static void case_chown(void)
{
	put("f", "x");
	rep("chown 1000:1001", chown("f", 1000, 1001));
	st("f", NULL);
	ct_mark("f");
	rep("chown -1:-1", chown("f", (uid_t)-1, (gid_t)-1));
	st("f", NULL);
	ct_check("f");
	rep("chown 4000000000:4294967294", chown("f", 4000000000u, 4294967294u));
	st("f", NULL);
	rep("chown -1:2000", chown("f", (uid_t)-1, 2000));
	st("f", NULL);
	int fd = open("f", O_RDONLY);
	rep("fchown 3000:-1", fchown(fd, 3000, (gid_t)-1));
	fst(fd, "f");
	close(fd);
	ct_mark("f");
	rep("chown 0:0", chown("f", 0, 0));
	ct_check("f");
	static const mode_t modes[] = {06755, 04744, 02745, 02755, 06711, 01755};
	for (size_t i = 0; i < NELEM(modes); i++) {
		char what[80];
		snprintf(what, sizeof(what), "chmod %04o", (unsigned)modes[i]);
		rep(what, chmod("f", modes[i]));
		rep("chown 0:0 (same owner)", chown("f", 0, 0));
		st("f", NULL);
		rep(what, chmod("f", modes[i]));
		rep("chown 5:5", chown("f", 5, 5));
		st("f", NULL);
		rep(what, chmod("f", modes[i]));
		rep("chown -1:-1", chown("f", (uid_t)-1, (gid_t)-1));
		st("f", NULL);
	}
	rep("mkdir d 0755", mkdir("d", 0755));
	rep("chmod d 06755", chmod("d", 06755));
	rep("chown d 7:7", chown("d", 7, 7));
	st("d", NULL);
	rep("symlink f l", symlink("f", "l"));
	rep("lchown l 1000:1000", lchown("l", 1000, 1000));
	st("l", NULL);
	st("f", NULL);
	rep("chown l 9:9 (follows)", chown("l", 9, 9));
	st("l", NULL);
	st("f", NULL);
	rep("chown missing", chown("missing", 1, 1));
	rep("mkfifo p", mkfifo("p", 0644));
	rep("chown p 4:4", chown("p", 4, 4));
	st("p", NULL);
}

static void case_sgid_dir(void)
{
	rep("mkdir g", mkdir("g", 0775));
	rep("chown g 0:4242", chown("g", 0, 4242));
	rep("chmod g 02775", chmod("g", 02775));
	st("g", NULL);
	put("g/f", "f");
	st("g/f", NULL);
	rep("mkdir g/s", mkdir("g/s", 0755));
	st("g/s", NULL);
	put("g/s/f", "f");
	st("g/s/f", NULL);
	rep("symlink g/l", symlink("f", "g/l"));
	st("g/l", NULL);
	rep("mkfifo g/p", mkfifo("g/p", 0644));
	st("g/p", NULL);
	int fd = repfd("open g/x O_CREAT 02755", open("g/x", O_WRONLY | O_CREAT, 02755));
	close(fd);
	st("g/x", NULL);
	put("h", "h");
	rep("rename h g/h (keeps its gid)", rename("h", "g/h"));
	st("g/h", NULL);
	rep("link g/h g/h2", link("g/h", "g/h2"));
	st("g/h2", NULL);
}

static void case_utimens(void)
{
	struct timespec ts[2];
	struct timespec a1 = {1234567890, 123456789}, m1 = {1300000000, 987654321};
	put("f", "x");
	ts[0] = a1;
	ts[1] = m1;
	rep("utimensat ns values", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", &a1, &m1);
	struct timespec m2 = {1400000000, 5};
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = m2;
	rep("utimensat OMIT, value", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", &a1, &m2);
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	rep("utimensat NOW, OMIT", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", NULL, &m2);
	ts[0] = a1;
	ts[1].tv_nsec = UTIME_NOW;
	rep("utimensat value, NOW", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", &a1, NULL);
	ts[0] = a1;
	ts[1] = m1;
	rep("utimensat ns values", utimensat(AT_FDCWD, "f", ts, 0));
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	ct_mark("f");
	rep("utimensat OMIT, OMIT", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", &a1, &m1);
	ct_check("f");
	ct_mark("f");
	rep("utimensat NULL", utimensat(AT_FDCWD, "f", NULL, 0));
	ct_check("f");
	times("f", NULL, NULL);
	int fd = open("f", O_RDONLY);
	ts[0] = a1;
	ts[1] = m1;
	rep("futimens values", futimens(fd, ts));
	close(fd);
	times("f", &a1, &m1);

	struct timespec edge[][2] = {
	    {{0, 0}, {1, 999999999}},
	    {{-1, 0}, {-1000000000, 500}},
	    {{1LL << 32, 1}, {(1LL << 33) + 7, 999999999}},
	};
	for (size_t i = 0; i < NELEM(edge); i++) {
		char what[120];
		snprintf(what, sizeof(what), "utimensat %lld.%09ld %lld.%09ld",
			 (long long)edge[i][0].tv_sec, edge[i][0].tv_nsec,
			 (long long)edge[i][1].tv_sec, edge[i][1].tv_nsec);
		rep(what, utimensat(AT_FDCWD, "f", edge[i], 0));
		times("f", &edge[i][0], &edge[i][1]);
	}
	ts[0] = a1;
	ts[1].tv_sec = 0;
	ts[1].tv_nsec = 1000000000;
	rep("utimensat nsec 1e9", utimensat(AT_FDCWD, "f", ts, 0));
	rep("utimensat missing", utimensat(AT_FDCWD, "missing", NULL, 0));

	rep("symlink f l", symlink("f", "l"));
	ts[0] = a1;
	ts[1] = m1;
	rep("utimensat f ns values", utimensat(AT_FDCWD, "f", ts, 0));
	ts[0] = m2;
	ts[1] = m2;
	rep("utimensat l AT_SYMLINK_NOFOLLOW", utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
	times("l", &m2, &m2);
	times("f", &a1, &m1);
	rep("utimensat l (follows)", utimensat(AT_FDCWD, "l", ts, 0));
	times("f", &m2, &m2);
	rep("mkdir d", mkdir("d", 0755));
	rep("utimensat d", utimensat(AT_FDCWD, "d", ts, 0));
	times("d", &m2, &m2);
	rep("utime(NULL) d", utimensat(AT_FDCWD, "d", NULL, 0));
	times("d", NULL, NULL);
}

static void statvfs_lines(const char *what, const struct statvfs *s)
{
	char w[120];
	snprintf(w, sizeof(w), "%s f_bsize > 0 and f_blocks > 0", what);
	yesno(w, s->f_bsize > 0 && s->f_blocks > 0);
	snprintf(w, sizeof(w), "%s f_bavail <= f_bfree <= f_blocks", what);
	yesno(w, s->f_bavail <= s->f_bfree && s->f_bfree <= s->f_blocks);
	snprintf(w, sizeof(w), "%s f_namemax >= 255", what);
	yesno(w, s->f_namemax >= 255);
}

static void case_statfs(void)
{
	struct statvfs s;
	if (rep("statvfs .", statvfs(".", &s)) == 0)
		statvfs_lines("statvfs", &s);
	put("f", "x");
	int fd = open("f", O_RDONLY);
	if (rep("fstatvfs f", fstatvfs(fd, &s)) == 0)
		statvfs_lines("fstatvfs", &s);
	close(fd);
	rep("statvfs missing", statvfs("missing", &s));
}

static void getx(const char *path, const char *name, size_t size)
{
	char buf[8192], what[200];
	snprintf(what, sizeof(what), "getxattr %s %s size %zu", path, pname(name), size);
	ssize_t n = getxattr(path, name, size ? buf : NULL, size);
	if (n < 0 || size == 0)
		rep(what, n);
	else
		show(what, buf, (size_t)n);
}

/* Prints the sorted user.* names of listxattr. */
static void listx(const char *path)
{
	char buf[8192], what[200], out[1024] = "";
	char *names[64];
	size_t k = 0;
	snprintf(what, sizeof(what), "listxattr %s", path);
	ssize_t n = llistxattr(path, buf, sizeof(buf));
	if (n < 0) {
		rep(what, -1);
		return;
	}
	for (ssize_t i = 0; i < n && k < NELEM(names); i += (ssize_t)strlen(buf + i) + 1)
		if (strncmp(buf + i, "user.", 5) == 0)
			names[k++] = buf + i;
	qsort(names, k, sizeof(names[0]), cmpstr);
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(out);
		snprintf(out + l, sizeof(out) - l, "%s%s", i ? " " : "", pname(names[i]));
	}
	line(what, "[%s]", out);
}

static void case_xattr(void)
{
	char buf[64];
	put("f", "x");
	rep("setxattr user.a v1 CREATE", setxattr("f", "user.a", "v1", 2, XATTR_CREATE));
	rep("setxattr user.a v2 CREATE", setxattr("f", "user.a", "v2", 2, XATTR_CREATE));
	rep("setxattr user.b REPLACE", setxattr("f", "user.b", "v", 1, XATTR_REPLACE));
	getx("f", "user.a", 0);
	rep("getxattr user.a size 1", getxattr("f", "user.a", buf, 1));
	getx("f", "user.a", 64);
	rep("setxattr user.a v22 REPLACE", setxattr("f", "user.a", "v22", 3, XATTR_REPLACE));
	getx("f", "user.a", 64);
	rep("setxattr user.a x (flags 0)", setxattr("f", "user.a", "x", 1, 0));
	getx("f", "user.a", 64);
	rep("setxattr user.empty (size 0)", setxattr("f", "user.empty", "", 0, 0));
	getx("f", "user.empty", 0);
	getx("f", "user.empty", 64);
	char bin[3000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 13);
	rep("setxattr user.bin 3000 bytes", setxattr("f", "user.bin", bin, sizeof(bin), 0));
	getx("f", "user.bin", 8192);
	rep("setxattr user.zero \\0a\\0", setxattr("f", "user.zero", "\0a\0", 3, 0));
	getx("f", "user.zero", 64);
	listx("f");
	ssize_t n = listxattr("f", NULL, 0);
	yesno("listxattr size 0 >= 37", n >= 37);
	rep("listxattr size 1", listxattr("f", buf, 1));
	rep("removexattr user.a", removexattr("f", "user.a"));
	rep("removexattr user.a again", removexattr("f", "user.a"));
	getx("f", "user.a", 64);
	getx("f", "user.missing", 0);
	listx("f");
	rep("setxattr no namespace", setxattr("f", "plain", "v", 1, 0));
	rep("setxattr unknown namespace", setxattr("f", "bogus.x", "v", 1, 0));
	char longname[300];
	memcpy(longname, "user.", 5);
	memset(longname + 5, 'n', 250);
	longname[255] = 0;
	rep("setxattr 255-byte name", setxattr("f", longname, "v", 1, 0));
	getx("f", longname, 64);
	memset(longname + 5, 'n', 251);
	longname[256] = 0;
	rep("setxattr 256-byte name", setxattr("f", longname, "v", 1, 0));
	char *huge = calloc(1, 65537);
	rep("setxattr value > 64 KiB", setxattr("f", "user.huge", huge, 65537, 0));
	free(huge);
	rep("mkdir d", mkdir("d", 0755));
	rep("setxattr dir user.d", setxattr("d", "user.d", "dv", 2, 0));
	getx("d", "user.d", 64);
	listx("d");
	rep("symlink f l", symlink("f", "l"));
	rep("lsetxattr symlink user.l", lsetxattr("l", "user.l", "v", 1, 0));
	rep("setxattr via symlink user.s", setxattr("l", "user.s", "sv", 2, 0));
	getx("f", "user.s", 64);
	rep("mkfifo p", mkfifo("p", 0644));
	rep("setxattr fifo user.p", setxattr("p", "user.p", "v", 1, 0));
	int fd = open("f", O_RDONLY);
	rep("fsetxattr user.fd", fsetxattr(fd, "user.fd", "fdv", 3, 0));
	n = fgetxattr(fd, "user.fd", buf, sizeof(buf));
	rep("fgetxattr user.fd", n);
	if (n >= 0)
		show("fgetxattr user.fd", buf, (size_t)n);
	rep("fremovexattr user.fd", fremovexattr(fd, "user.fd"));
	close(fd);
	rep("setxattr trusted.t (root)", setxattr("f", "trusted.t", "tv", 2, 0));
	getx("f", "trusted.t", 64);
	rep("setxattr security.test (root)", setxattr("f", "security.test", "sv", 2, 0));
	getx("f", "security.test", 64);
	rep("removexattr trusted.t", removexattr("f", "trusted.t"));
	rep("removexattr security.test", removexattr("f", "security.test"));
	rep("setxattr missing", setxattr("missing", "user.a", "v", 1, 0));
	rep("rename f g", rename("f", "g"));
	listx("g");
	rep("link g h", link("g", "h"));
	getx("h", "user.s", 64);
	put("g", "rewritten");
	listx("h");
	ct_mark("h");
	rep("setxattr user.t", setxattr("h", "user.t", "t", 1, 0));
	ct_check("h");
}

static void case_fsync(void)
{
	int fd = repfd("open f O_RDWR|O_CREAT", open("f", O_RDWR | O_CREAT, 0644));
	rep("write", write(fd, "abc", 3));
	rep("fsync", fsync(fd));
	rep("fdatasync", fdatasync(fd));
	rep("syncfs", syncfs(fd));
	close(fd);
	fd = open("f", O_RDONLY);
	rep("fsync O_RDONLY", fsync(fd));
	rep("fdatasync O_RDONLY", fdatasync(fd));
	close(fd);
	fd = repfd("open . O_DIRECTORY", open(".", O_RDONLY | O_DIRECTORY));
	rep("fsync dir", fsync(fd));
	rep("fdatasync dir", fdatasync(fd));
	close(fd);
	rep("mkfifo p", mkfifo("p", 0644));
	fd = open("p", O_RDWR);
	rep("fsync fifo", fsync(fd));
	close(fd);
	cat("f");
}

/*
 * fallocate is optional: 0 and EOPNOTSUPP print the same line, and the
 * resulting sizes and bytes are checked only after 0 (a line is printed
 * only if they are wrong).
 */
static int falloc(const char *what, int fd, int mode, off_t off, off_t len)
{
	int r = fallocate(fd, mode, off, len);
	if (r == 0 || errno == EOPNOTSUPP)
		line(what, "0 or EOPNOTSUPP");
	else
		rep(what, r);
	return r;
}

static void expect(int fd, long long size, off_t off, size_t n, char c)
{
	char *p = malloc(n);
	if (fsize(fd) != size)
		line("after fallocate", "size %lld, expected %lld", fsize(fd), size);
	if (pread(fd, p, n, off) != (ssize_t)n || !all_bytes(p, n, c))
		line("after fallocate", "bytes at %lld are not all 0x%02x", (long long)off, c);
	free(p);
}

static void case_fallocate(void)
{
	char buf[16384];
	int fd = repfd("open a O_RDWR|O_CREAT", open("a", O_RDWR | O_CREAT, 0644));
	if (falloc("fallocate 0 0 8192", fd, 0, 0, 8192) == 0)
		expect(fd, 8192, 0, 8192, 0);
	close(fd);

	fd = repfd("open b O_RDWR|O_CREAT", open("b", O_RDWR | O_CREAT, 0644));
	memset(buf, 'b', 100);
	rep("write 100", write(fd, buf, 100));
	if (falloc("fallocate KEEP_SIZE 0 65536", fd, FALLOC_FL_KEEP_SIZE, 0, 65536) == 0)
		expect(fd, 100, 0, 100, 'b');
	close(fd);

	fd = repfd("open c O_RDWR|O_CREAT", open("c", O_RDWR | O_CREAT, 0644));
	memset(buf, 'c', 100);
	rep("write 100", write(fd, buf, 100));
	if (falloc("fallocate 0 4096 4096", fd, 0, 4096, 4096) == 0) {
		expect(fd, 8192, 0, 100, 'c');
		expect(fd, 8192, 100, 8092, 0);
	}
	if (falloc("fallocate 0 0 50 (inside)", fd, 0, 0, 50) == 0)
		expect(fd, 100 > fsize(fd) ? 100 : fsize(fd), 0, 100, 'c');
	close(fd);

	fd = repfd("open d O_RDWR|O_CREAT", open("d", O_RDWR | O_CREAT, 0644));
	memset(buf, 'd', sizeof(buf));
	rep("write 16 KiB", write(fd, buf, sizeof(buf)));
	if (falloc("fallocate PUNCH_HOLE|KEEP_SIZE 4096 4096", fd,
		   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096) == 0) {
		expect(fd, 16384, 0, 4096, 'd');
		expect(fd, 16384, 4096, 4096, 0);
		expect(fd, 16384, 8192, 8192, 'd');
	}
	if (falloc("fallocate PUNCH_HOLE|KEEP_SIZE 100 10", fd,
		   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 10) == 0) {
		expect(fd, 16384, 90, 10, 'd');
		expect(fd, 16384, 100, 10, 0);
		expect(fd, 16384, 110, 10, 'd');
	}
	if (falloc("fallocate ZERO_RANGE 8000 300", fd, FALLOC_FL_ZERO_RANGE, 8000, 300) == 0) {
		expect(fd, 16384, 7990, 10, 'd');
		expect(fd, 16384, 8000, 300, 0);
		expect(fd, 16384, 8300, 10, 'd');
	}
	if (falloc("fallocate ZERO_RANGE 16000 1000 (grows)", fd, FALLOC_FL_ZERO_RANGE, 16000,
		   1000) == 0)
		expect(fd, 17000, 16000, 1000, 0);
	close(fd);

	fd = repfd("open e O_RDWR|O_CREAT", open("e", O_RDWR | O_CREAT, 0644));
	rep("fallocate len 0", fallocate(fd, 0, 0, 0));
	rep("fallocate offset -1", fallocate(fd, 0, -1, 10));
	rep("fallocate PUNCH_HOLE without KEEP_SIZE", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10));
	close(fd);
	fd = open("e", O_RDONLY);
	rep("fallocate on O_RDONLY", fallocate(fd, 0, 0, 10));
	close(fd);
	/* Whether holes were punched depends on support: leave no trace. */
	rep("unlink d", unlink("d"));
}

static void case_mmap(void)
{
	char buf[8192];
	memset(buf, 'a', sizeof(buf));
	putn("f", buf, sizeof(buf));
	set_t0("f");
	int fd = repfd("open f O_RDWR", open("f", O_RDWR));
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rep("mmap SHARED RW", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED) {
		yesno("mapped bytes are a", all_bytes(p, 8192, 'a'));
		p[100] = 'X';
		p[5000] = 'Y';
		rep("msync MS_SYNC", msync(p, 8192, MS_SYNC));
		rep("munmap", munmap(p, 8192));
	}
	pr(fd, 1, 100);
	pr(fd, 1, 5000);
	mtime("f");
	close(fd);
	cat("f");
	fd = open("f", O_RDWR);
	rep("pwrite Z at 200", pwrite(fd, "Z", 1, 200));
	p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	rep("mmap SHARED RO (fresh)", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED) {
		show("mapped byte 200", p + 200, 1);
		show("mapped byte 100", p + 100, 1);
		rep("munmap", munmap(p, 8192));
	}
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	rep("mmap PRIVATE RW", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED) {
		p[0] = 'P';
		rep("munmap", munmap(p, 8192));
	}
	pr(fd, 1, 0);
	/* Written through a mapping, then the file grows by write(). */
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED) {
		memcpy(p + 8190, "EN", 2);
		rep("pwrite tail at 8192", pwrite(fd, "tail", 4, 8192));
		rep("munmap", munmap(p, 8192));
	}
	pr(fd, 8, 8188);
	fst(fd, "f");
	close(fd);
	fd = open("f", O_RDONLY);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rep("mmap SHARED RW on O_RDONLY fd", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED)
		munmap(p, 8192);
	close(fd);

	/* A mapping of a file extended with ftruncate, then written. */
	fd = open("g", O_RDWR | O_CREAT, 0644);
	rep("ftruncate g 3 pages", ftruncate(fd, 3 * 4096));
	p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rep("mmap g", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED) {
		yesno("g mapped zeros", all_bytes(p, 3 * 4096, 0));
		memset(p + 4096, 'm', 4096);
		rep("munmap", munmap(p, 3 * 4096));
	}
	rep("fsync g", fsync(fd));
	close(fd);
	fd = open("g", O_RDONLY);
	ssize_t n = pread(fd, buf, 8192, 0);
	yesno("g: zeros then m",
	      n == 8192 && all_bytes(buf, 4096, 0) && all_bytes(buf + 4096, 4096, 'm'));
	close(fd);
	st("g", NULL);
}

static void case_flock(void)
{
	put("f", "x");
	int f1 = repfd("open f #1", open("f", O_RDWR));
	int f2 = repfd("open f #2", open("f", O_RDWR));
	replock("flock #1 EX|NB", flock(f1, LOCK_EX | LOCK_NB));
	replock("flock #2 EX|NB", flock(f2, LOCK_EX | LOCK_NB));
	replock("flock #2 SH|NB", flock(f2, LOCK_SH | LOCK_NB));
	int f3 = dup(f1);
	replock("flock dup of #1 EX|NB", flock(f3, LOCK_EX | LOCK_NB));
	replock("flock #1 UN", flock(f1, LOCK_UN));
	replock("flock #2 SH|NB", flock(f2, LOCK_SH | LOCK_NB));
	replock("flock #1 SH|NB", flock(f1, LOCK_SH | LOCK_NB));
	replock("flock #1 EX|NB (upgrade, #2 shares)", flock(f1, LOCK_EX | LOCK_NB));
	close(f2);
	replock("flock #1 EX|NB (after close #2)", flock(f1, LOCK_EX | LOCK_NB));
	close(f3);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int c = open("f", O_RDWR);
		replock("child: flock EX|NB", flock(c, LOCK_EX | LOCK_NB));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	close(f1);
	int f4 = repfd("open f #4", open("f", O_RDONLY));
	replock("flock #4 EX|NB (all closed)", flock(f4, LOCK_EX | LOCK_NB));
	close(f4);
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &l);
}

static void child_locks(const char *tag, int getlk)
{
	char what[120];
	int c = open("f", O_RDWR);
	snprintf(what, sizeof(what), "child %s: F_SETLK WR 50+10", tag);
	replock(what, setlk(c, F_SETLK, F_WRLCK, 50, 10));
	snprintf(what, sizeof(what), "child %s: F_SETLK RD 0+10", tag);
	replock(what, setlk(c, F_SETLK, F_RDLCK, 0, 10));
	snprintf(what, sizeof(what), "child %s: F_SETLK WR 100+100", tag);
	replock(what, setlk(c, F_SETLK, F_WRLCK, 100, 100));
	if (getlk) {
		struct flock l = {
		    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10};
		snprintf(what, sizeof(what), "child %s: F_GETLK 50+10", tag);
		if (rep(what, fcntl(c, F_GETLK, &l)) == 0)
			line(what, "type %s start %lld len %lld pid is parent %s",
			     l.l_type == F_WRLCK   ? "WR"
			     : l.l_type == F_RDLCK ? "RD"
			     : l.l_type == F_UNLCK ? "UN"
						   : "?",
			     (long long)l.l_start, (long long)l.l_len,
			     l.l_pid == getppid() ? "yes" : "no");
	}
	fflush(stdout);
	_exit(0);
}

static void in_child(const char *tag, int getlk)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		child_locks(tag, getlk);
	waitpid(pid, NULL, 0);
}

static void case_fcntl_lock(void)
{
	put("f", "0123456789");
	int fd = repfd("open f", open("f", O_RDWR));
	replock("F_SETLK WR 0+100", setlk(fd, F_SETLK, F_WRLCK, 0, 100));
	in_child("1", 1);
	replock("F_SETLK UN 0+100", setlk(fd, F_SETLK, F_UNLCK, 0, 100));
	in_child("2", 1);
	replock("F_SETLK RD 0+100", setlk(fd, F_SETLK, F_RDLCK, 0, 100));
	in_child("3", 1);
	/* Closing any descriptor of the file drops the process's locks. */
	replock("F_SETLK WR 0+100", setlk(fd, F_SETLK, F_WRLCK, 0, 100));
	int other = open("f", O_RDONLY);
	close(other);
	in_child("4 (after close of another fd)", 0);
	replock("F_SETLK WR 0+0 (to EOF and beyond)", setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	int ofd = open("f", O_RDWR);
	replock("F_OFD_SETLK WR 5+1 (other description)", setlk(ofd, F_OFD_SETLK, F_WRLCK, 5, 1));
	replock("F_OFD_SETLK WR 1000+1", setlk(ofd, F_OFD_SETLK, F_WRLCK, 1000, 1));
	replock("F_SETLK UN 0+0", setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	replock("F_OFD_SETLK WR 5+1 again", setlk(ofd, F_OFD_SETLK, F_WRLCK, 5, 1));
	close(ofd);
	int ro = open("f", O_RDONLY);
	replock("F_SETLK WR on O_RDONLY", setlk(ro, F_SETLK, F_WRLCK, 0, 1));
	close(ro);
	close(fd);
}

static void case_names(void)
{
	char n255[300], n256[300];
	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(n256, 'n', 256);
	n256[256] = 0;
	int fd = repfd("open 255 O_CREAT", open(n255, O_WRONLY | O_CREAT, 0644));
	close(fd);
	repfd("open 256 O_CREAT", open(n256, O_WRONLY | O_CREAT, 0644));
	rep("lstat 256", lstat_rc(n256));
	memset(n255, 'd', 255);
	memset(n256, 'd', 256);
	rep("mkdir 255", mkdir(n255, 0755));
	rep("mkdir 256", mkdir(n256, 0755));
	put("a", "a");
	memset(n255, 'r', 255);
	memset(n256, 'r', 256);
	rep("rename a 255", rename("a", n255));
	rep("rename 255 256", rename(n255, n256));
	memset(n256, 'n', 256);
	rep("rename 256 x", rename(n256, "x"));
	char l255[300], l256[300];
	memset(l255, 'l', 255);
	l255[255] = 0;
	memset(l256, 'l', 256);
	l256[256] = 0;
	rep("link 255 255", link(n255, l255));
	rep("link 255 256", link(n255, l256));
	memset(l255, 's', 255);
	memset(l256, 's', 256);
	rep("symlink x 255", symlink("x", l255));
	rep("symlink x 256", symlink("x", l256));
	rep("symlink (256 target) t", symlink(n256, "t"));
	repfd("open t", open("t", O_RDONLY));
	rep("mkfifo 256", mkfifo(n256, 0644));
	memset(l255, 'x', 255);
	rep("setxattr on 255 name", setxattr(n255, "user.x", "v", 1, 0));

	/* The directory listing, names shown as letter x length. */
	DIR *d = opendir(".");
	char out[256] = "";
	char *names[16];
	size_t k = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && k < NELEM(names))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[k++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, k, sizeof(names[0]), cmpstr);
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(out);
		snprintf(out + l, sizeof(out) - l, "%s%cx%zu", i ? " " : "", names[i][0],
			 strlen(names[i]));
		free(names[i]);
	}
	line("ls .", "[%s]", out);
	memset(n255, 'r', 255);
	st(n255, NULL);
}

static void case_odd_names(void)
{
	static const char *names[] = {
	    "a b",     "tab\there",    "new\nline", "\xc3\xbc\xc3\xa9", "-dash",
	    ".hidden", "..dots",       "...",	    "back\\slash",	"q\"uote",
	    "star*",   "\x01\x7f\xff", "%s%n",
	};
	char what[128], e[64];
	for (size_t i = 0; i < NELEM(names); i++) {
		escape(e, sizeof(e), names[i], strlen(names[i]));
		snprintf(what, sizeof(what), "create \"%s\"", e);
		int fd = repfd(what, open(names[i], O_WRONLY | O_CREAT | O_EXCL, 0644));
		if (fd >= 0) {
			rep("write", write(fd, names[i], strlen(names[i])));
			close(fd);
		}
	}
	DIR *d = opendir(".");
	char *got[32];
	size_t k = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) && k < NELEM(got))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			got[k++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(got, k, sizeof(got[0]), cmpstr);
	rep("readdir count", (long)k);
	for (size_t i = 0; i < k; i++) {
		escape(e, sizeof(e), got[i], strlen(got[i]));
		snprintf(what, sizeof(what), "entry \"%s\"", e);
		char buf[64];
		int fd = open(got[i], O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		yesno(what, n == (ssize_t)strlen(got[i]) && memcmp(buf, got[i], (size_t)n) == 0);
		if (fd >= 0)
			close(fd);
		free(got[i]);
	}
	rep("rename \"a b\" \"c d\"", rename("a b", "c d"));
	rep("unlink \"new\\nline\"", unlink("new\nline"));
	rep("open \"\"", open("", O_RDONLY));
}

static void case_readdir(void)
{
	char name[300];
	int bad = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			bad++;
		else
			close(fd);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		if (mkdir(name, 0755) != 0)
			bad++;
	}
	rep("failed creates", bad);
	rep("symlink l", symlink("f0000", "l"));
	DIR *d = opendir(".");
	char **names = calloc(2000, sizeof(char *));
	size_t k = 0;
	int dot = 0, dotdot = 0, dtype_ok = 1;
	struct dirent *e;
	while ((e = readdir(d)) && k < 2000) {
		if (!strcmp(e->d_name, ".")) {
			dot++;
			continue;
		}
		if (!strcmp(e->d_name, "..")) {
			dotdot++;
			continue;
		}
		struct stat s;
		if (e->d_type != DT_UNKNOWN &&
		    (lstat(e->d_name, &s) != 0 ||
		     (unsigned)e->d_type != ((s.st_mode & S_IFMT) >> 12)))
			dtype_ok = 0;
		names[k++] = strdup(e->d_name);
	}
	closedir(d);
	line("readdir", "%zu names, . %d, .. %d", k, dot, dotdot);
	yesno("d_type matches lstat (or DT_UNKNOWN)", dtype_ok);
	qsort(names, k, sizeof(names[0]), cmpstr);
	uint64_t h = 14695981039346656037ULL;
	int dup = 0;
	for (size_t i = 0; i < k; i++) {
		h = fnv(names[i], strlen(names[i]) + 1, h);
		if (i && !strcmp(names[i], names[i - 1]))
			dup = 1;
	}
	line("sorted names", "fnv %016llx first %s last %s", (unsigned long long)h,
	     k ? names[0] : "-", k ? names[k - 1] : "-");
	yesno("duplicates", dup);
	for (size_t i = 0; i < k; i++)
		free(names[i]);

	/* telldir/seekdir come back to the same entry. */
	d = opendir(".");
	for (int i = 0; i < 300; i++)
		readdir(d);
	long pos = telldir(d);
	e = readdir(d);
	snprintf(name, sizeof(name), "%s", e ? e->d_name : "");
	for (int i = 0; i < 50; i++)
		readdir(d);
	seekdir(d, pos);
	e = readdir(d);
	yesno("seekdir to telldir gives the same entry", e && !strcmp(e->d_name, name));
	rewinddir(d);
	size_t again = 0;
	while ((e = readdir(d)))
		again++;
	rep("entries after rewinddir", (long)again);
	closedir(d);

	/* Delete every other file, then all while reading (rm -r style). */
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "f%04d", i);
		unlink(name);
	}
	d = opendir(".");
	k = 0;
	while ((e = readdir(d)))
		k++;
	closedir(d);
	rep("entries after deleting 500", (long)k);
	d = opendir(".");
	size_t removed = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((e->d_name[0] == 'd' ? rmdir(e->d_name) : unlink(e->d_name)) == 0)
			removed++;
	}
	closedir(d);
	rep("removed while reading", (long)removed);
	ls(".");
	st(".", NULL);
	free(names);
}

static void case_open_dir(void)
{
	char buf[8];
	rep("mkdir d", mkdir("d", 0755));
	repfd("open d O_WRONLY", open("d", O_WRONLY));
	repfd("open d O_RDWR", open("d", O_RDWR));
	repfd("open d O_RDONLY|O_TRUNC", open("d", O_RDONLY | O_TRUNC));
	repfd("open d O_WRONLY|O_CREAT", open("d", O_WRONLY | O_CREAT, 0644));
	repfd("open d O_RDONLY|O_CREAT", open("d", O_RDONLY | O_CREAT, 0644));
	repfd("open d O_CREAT|O_EXCL", open("d", O_RDONLY | O_CREAT | O_EXCL, 0644));
	int fd = repfd("open d O_RDONLY", open("d", O_RDONLY));
	rep("read dir fd", read(fd, buf, sizeof(buf)));
	rep("write dir fd", write(fd, "x", 1));
	rep("ftruncate dir fd", ftruncate(fd, 0));
	close(fd);
	put("f", "x");
	repfd("open f O_DIRECTORY", open("f", O_RDONLY | O_DIRECTORY));
	repfd("open d O_DIRECTORY", open("d", O_RDONLY | O_DIRECTORY));
	repfd("open d/ O_RDONLY", open("d/", O_RDONLY));
	repfd("open f/ O_RDONLY", open("f/", O_RDONLY));
	repfd("open f/ O_CREAT", open("f/", O_WRONLY | O_CREAT, 0644));
	repfd("open new/ O_CREAT", open("new/", O_WRONLY | O_CREAT, 0644));
	fd = repfd("open f O_WRONLY", open("f", O_WRONLY));
	rep("read from O_WRONLY", read(fd, buf, 1));
	close(fd);
	opendir_rep("opendir f", "f");
}

static void case_enoent(void)
{
	struct stat s;
	put("f", "x");
	repfd("open missing", open("missing", O_RDONLY));
	repfd("open f/x", open("f/x", O_RDONLY));
	repfd("open missing/x", open("missing/x", O_RDONLY));
	rep("lstat missing/x", lstat("missing/x", &s));
	rep("lstat f/", lstat("f/", &s));
	rep("lstat f/.", lstat("f/.", &s));
	rep("lstat f/..", lstat("f/..", &s));
	rep("mkdir f/x", mkdir("f/x", 0755));
	rep("unlink missing", unlink("missing"));
	rep("unlink f/x", unlink("f/x"));
	rep("unlink f/", unlink("f/"));
	rep("rename missing y", rename("missing", "y"));
	rep("rename f/x y", rename("f/x", "y"));
	rep("access missing F_OK", access("missing", F_OK));
	rep("access f F_OK", access("f", F_OK));
	rep("access f X_OK (root, no x bit)", access("f", X_OK));
	rep("chmod f 0100", chmod("f", 0100));
	rep("access f X_OK (root, u+x)", access("f", X_OK));
	rep("chdir f", chdir("f"));
	rep("readlink f/x", readlink("f/x", (char *)&s, 8));
	rep("symlink x f/y", symlink("x", "f/y"));
	rep("link f f/y", link("f", "f/y"));
	rep("mkfifo missing/p", mkfifo("missing/p", 0644));
	rep("truncate missing", truncate("missing", 0));
	rep("getxattr missing", getxattr("missing", "user.x", NULL, 0));
	rep("lstat \"\"", lstat("", &s));
	st("f", NULL);
	rep("mkdir d", mkdir("d", 0755));
	rep("rmdir d/../d", rmdir("d/../d"));
	st("d", NULL);
}

/* A v2 file capability (cap_net_raw, effective), as the kernel stores it. */
static void set_fcap(const char *path)
{
	uint32_t cap[5] = {0x02000001, 1u << 13, 0, 0, 0};
	rep("setxattr security.capability",
	    setxattr(path, "security.capability", cap, sizeof(cap), 0));
	rep("getxattr security.capability size", getxattr(path, "security.capability", NULL, 0));
}

static void case_fcaps(void)
{
	put("f", "x");
	set_fcap("f");
	rep("chown f 1:1", chown("f", 1, 1));
	rep("getxattr security.capability after chown",
	    getxattr("f", "security.capability", NULL, 0));
	set_fcap("f");
	int fd = open("f", O_WRONLY);
	rep("write as root", write(fd, "y", 1));
	close(fd);
	rep("getxattr security.capability after write",
	    getxattr("f", "security.capability", NULL, 0));
	set_fcap("f");
	rep("truncate as root", truncate("f", 0));
	rep("getxattr security.capability after truncate",
	    getxattr("f", "security.capability", NULL, 0));
	set_fcap("f");
	rep("chmod 0755", chmod("f", 0755));
	rep("getxattr security.capability after chmod",
	    getxattr("f", "security.capability", NULL, 0));
	uint32_t bad[2] = {0x12345678, 0};
	rep("setxattr security.capability (malformed)",
	    setxattr("f", "security.capability", bad, sizeof(bad), 0));
}

/*
 * Bytes that reached the store (fsync) overlaid by newer writes, truncates
 * and extensions: the reads must merge them the way a plain file does.
 */
static void case_committed(void)
{
	size_t n = 1 * MiB + 5000;
	char *p = malloc(n), *q = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i % 23);
	int fd = repfd("open f O_RDWR|O_CREAT", open("f", O_RDWR | O_CREAT, 0644));
	rep("write 1 MiB+5000", write(fd, p, n));
	rep("fsync", fsync(fd));
	rep("pwrite 3 at 4095", pwrite(fd, "XYZ", 3, 4095));
	memcpy(p + 4095, "XYZ", 3);
	rep("ftruncate 600000", ftruncate(fd, 600000));
	rep("pwrite 2 at 700000", pwrite(fd, "EE", 2, 700000));
	memset(p + 600000, 0, n - 600000);
	memcpy(p + 700000, "EE", 2);
	size_t m = 700002;
	ssize_t r = pread(fd, q, n, 0);
	rep("pread all (dirty over committed)", r);
	yesno("content as expected", r == (ssize_t)m && memcmp(p, q, m) == 0);
	rep("fsync", fsync(fd));
	r = pread(fd, q, n, 0);
	yesno("content as expected after fsync", r == (ssize_t)m && memcmp(p, q, m) == 0);
	rep("ftruncate 100", ftruncate(fd, 100));
	rep("fsync", fsync(fd));
	rep("ftruncate 300000", ftruncate(fd, 300000));
	r = pread(fd, q, n, 0);
	yesno("100 bytes then zeros",
	      r == 300000 && memcmp(p, q, 100) == 0 && all_bytes(q + 100, 300000 - 100, 0));
	rep("pwrite 1 at 200000", pwrite(fd, "M", 1, 200000));
	rep("fsync", fsync(fd));
	r = pread(fd, q, 8, 199998);
	show("pread 8 at 199998", q, r > 0 ? (size_t)r : 0);
	close(fd);
	fd = open("f", O_RDONLY);
	r = pread(fd, q, n, 0);
	yesno("after reopen: 100 bytes, zeros, M, zeros",
	      r == 300000 && memcmp(p, q, 100) == 0 && all_bytes(q + 100, 199900, 0) &&
		  q[200000] == 'M' && all_bytes(q + 200001, 99999, 0));
	close(fd);
	st("f", NULL);
	free(p);
	free(q);
}

static void case_odirect(void)
{
	void *buf;
	if (posix_memalign(&buf, 4096, 8192) != 0)
		return;
	memset(buf, 'D', 8192);
	int fd =
	    repfd("open f O_RDWR|O_CREAT|O_DIRECT", open("f", O_RDWR | O_CREAT | O_DIRECT, 0644));
	if (fd < 0) {
		free(buf);
		return;
	}
	rep("write 8 KiB aligned", write(fd, buf, 8192));
	memset(buf, 0, 8192);
	ssize_t n = pread(fd, buf, 4096, 4096);
	rep("pread 4 KiB at 4 KiB", n);
	yesno("bytes are D", n == 4096 && all_bytes(buf, 4096, 'D'));
	close(fd);
	cat("f");
	free(buf);
}

static void case_copy_range(void)
{
	char *p = malloc(100000);
	for (int i = 0; i < 100000; i++)
		p[i] = (char)(i % 251);
	putn("src", p, 100000);
	int in = open("src", O_RDONLY), out = open("dst", O_RDWR | O_CREAT, 0644);
	loff_t oi = 1000, oo = 10;
	ssize_t total = 0, r;
	while (total < 50000 &&
	       (r = copy_file_range(in, &oi, out, &oo, 50000 - (size_t)total, 0)) > 0)
		total += r;
	rep("copy_file_range 50000 bytes", total);
	fst(out, "dst");
	char *q = malloc(60000);
	r = pread(out, q, 60000, 0);
	yesno("dst: 10 zeros then src[1000..51000)",
	      r == 50010 && all_bytes(q, 10, 0) && memcmp(q + 10, p + 1000, 50000) == 0);
	oi = 200000;
	rep("copy_file_range past EOF", copy_file_range(in, &oi, out, NULL, 10, 0));
	close(in);
	close(out);
	free(p);
	free(q);
}

/* A path of about 4000 bytes, 40 levels deep, renamed at the top. */
static void case_deep(void)
{
	char path[4300] = "", comp[100], top[100];
	int bad = 0;
	for (int i = 0; i < 40; i++) {
		memset(comp, 'a' + i % 26, 99);
		comp[99] = 0;
		if (i == 0)
			memcpy(top, comp, sizeof(top));
		size_t l = strlen(path);
		snprintf(path + l, sizeof(path) - l, "%s%s", i ? "/" : "", comp);
		if (mkdir(path, 0755) != 0)
			bad++;
	}
	rep("failed mkdirs", bad);
	size_t l = strlen(path);
	snprintf(path + l, sizeof(path) - l, "/f");
	line("path length", "%zu", strlen(path));
	put(path, "deep");
	cat(path);
	st(path, NULL);
	char longer[4600];
	snprintf(longer, sizeof(longer), "%s/%099d/%099d", path, 0, 0);
	rep("lstat 4202-byte path", lstat_rc(longer));
	rep("rename top-level dir", rename(top, "top"));
	/* The same path under the new top name: "top" + the rest. */
	char *rest = path + 99 - 3;
	memcpy(rest, "top", 3);
	cat(rest);
	rep("unlink deep file", unlink(rest));
	bad = 0;
	for (char *p = rest + strlen(rest); p > rest; p--) {
		if (*p != '/')
			continue;
		*p = 0;
		if (rmdir(rest) != 0)
			bad++;
	}
	rep("failed rmdirs", bad);
	ls(".");
}

/* ---- cases as an unprivileged user (prepared by root) ------------------ */

#define RS "../rs/"

static void prepare(void)
{
	cur_case = "prepare";
	rep("mkdir rs", mkdir("rs", 0755));
	put("rs/pub", "public");
	rep("setxattr pub user.x", setxattr("rs/pub", "user.x", "1", 1, 0));
	put("rs/secret", "secret");
	rep("chmod secret 0600", chmod("rs/secret", 0600));
	put("rs/ww", "world-writable");
	rep("chmod ww 0666", chmod("rs/ww", 0666));
	static const char *suid[] = {"rs/suidw", "rs/suidt", "rs/suidx", "rs/sgidonly", "rs/suido"};
	for (size_t i = 0; i < NELEM(suid); i++) {
		put(suid[i], "suid");
		rep("chmod", chmod(suid[i], i == 3 ? 02767 : 06777));
	}
	rep("mkdir ro_dir", mkdir("rs/ro_dir", 0755));
	put("rs/ro_dir/f", "f");
	rep("chmod ro_dir/f 0666", chmod("rs/ro_dir/f", 0666));
	rep("mkdir closed", mkdir("rs/closed", 0700));
	put("rs/closed/f", "f");
	rep("mkdir xonly", mkdir("rs/xonly", 0711));
	put("rs/xonly/f", "f");
	rep("mkdir sticky", mkdir("rs/sticky", 01777));
	rep("chmod sticky 01777", chmod("rs/sticky", 01777));
	put("rs/sticky/rootf", "rootf");
	rep("chmod sticky/rootf 0666", chmod("rs/sticky/rootf", 0666));
	rep("mkdir sgid", mkdir("rs/sgid", 0777));
	rep("chown sgid 0:4242", chown("rs/sgid", 0, 4242));
	rep("chmod sgid 02777", chmod("rs/sgid", 02777));
	put("rs/mine_g0", "mine");
	rep("chown mine_g0 65534:0", chown("rs/mine_g0", 65534, 0));
	rep("mkdir userdir", mkdir("rs/userdir", 0755));
	rep("chown userdir 65534:65534", chown("rs/userdir", 65534, 65534));
	put("rs/userdir/rootf", "r");
	rep("symlink rootlink", symlink("pub", "rs/rootlink"));
	st("rs", NULL);
	st("rs/sticky", NULL);
	st("rs/sgid", NULL);
}

static void case_u_read(void)
{
	char buf[32];
	repfd("open secret O_RDONLY", open(RS "secret", O_RDONLY));
	int fd = repfd("open pub O_RDONLY", open(RS "pub", O_RDONLY));
	ssize_t n = read(fd, buf, sizeof(buf));
	rep("read pub", n);
	close(fd);
	repfd("open pub O_WRONLY", open(RS "pub", O_WRONLY));
	repfd("open pub O_RDWR", open(RS "pub", O_RDWR));
	repfd("open pub O_RDONLY|O_TRUNC", open(RS "pub", O_RDONLY | O_TRUNC));
	rep("truncate pub", truncate(RS "pub", 0));
	fd = repfd("open ww O_WRONLY", open(RS "ww", O_WRONLY));
	rep("write ww", write(fd, "W", 1));
	close(fd);
	cat(RS "ww");
	rep("truncate ww 5", truncate(RS "ww", 5));
	st(RS "ww", NULL);
	rep("access pub R_OK", access(RS "pub", R_OK));
	rep("access pub W_OK", access(RS "pub", W_OK));
	rep("access secret R_OK", access(RS "secret", R_OK));
	rep("access ww W_OK", access(RS "ww", W_OK));
	rep("access pub X_OK", access(RS "pub", X_OK));
	cat(RS "rootlink");
	rep("lstat secret (stat needs no read)", lstat_rc(RS "secret"));
}

static void case_u_dirs(void)
{
	repfd("create in ro_dir", open(RS "ro_dir/new", O_WRONLY | O_CREAT, 0644));
	rep("mkdir in ro_dir", mkdir(RS "ro_dir/new", 0755));
	rep("unlink ro_dir/f", unlink(RS "ro_dir/f"));
	rep("rename ro_dir/f here", rename(RS "ro_dir/f", "f"));
	put("mine", "m");
	rep("rename mine ro_dir/mine", rename("mine", RS "ro_dir/mine"));
	rep("link mine ro_dir/l", link("mine", RS "ro_dir/l"));
	rep("symlink in ro_dir", symlink("x", RS "ro_dir/s"));
	rep("mkfifo in ro_dir", mkfifo(RS "ro_dir/p", 0644));
	rep("rmdir ro_dir", rmdir(RS "ro_dir"));
	int fd = repfd("open ro_dir/f O_WRONLY (file is 0666)", open(RS "ro_dir/f", O_WRONLY));
	close(fd);
	stf(RS "closed/f");
	repfd("open closed/f", open(RS "closed/f", O_RDONLY));
	opendir_rep("opendir closed", RS "closed");
	rep("chdir closed", chdir(RS "closed"));
	stf(RS "xonly/f");
	cat(RS "xonly/f");
	opendir_rep("opendir xonly", RS "xonly");
	rep("access closed X_OK", access(RS "closed", X_OK));
	rep("mkdir own 0700", mkdir("own", 0700));
	put("own/f", "f");
	rep("chmod own 0500", chmod("own", 0500));
	rep("unlink own/f (dir r-x)", unlink("own/f"));
	repfd("create in own (dir r-x)", open("own/g", O_WRONLY | O_CREAT, 0644));
	rep("chmod own 0300", chmod("own", 0300));
	opendir_rep("opendir own (dir -wx)", "own");
	cat("own/f");
	rep("chmod own 0600", chmod("own", 0600));
	rep("lstat own/f (dir rw-)", lstat_rc("own/f"));
	rep("chmod own 0700", chmod("own", 0700));
	rep("chmod own/f 0", chmod("own/f", 0));
	repfd("open own/f mode 0", open("own/f", O_RDONLY));
	rep("unlink own/f mode 0", unlink("own/f"));
	rep("mkdir in userdir (owned, 0755)", mkdir(RS "userdir/d", 0755));
	rep("unlink root file in own dir", unlink(RS "userdir/rootf"));
	rep("rmdir userdir/d", rmdir(RS "userdir/d"));
}

static void case_u_owner(void)
{
	put("f", "x");
	st("f", NULL);
	rep("chmod pub (not owner)", chmod(RS "pub", 0666));
	rep("chown pub to self", chown(RS "pub", 65534, 65534));
	rep("chown f 0:-1", chown("f", 0, (gid_t)-1));
	rep("chown f -1:0 (not a member)", chown("f", (uid_t)-1, 0));
	rep("chown f 65534:65534 (no change)", chown("f", 65534, 65534));
	rep("chmod f 06755", chmod("f", 06755));
	st("f", NULL);
	rep("chown f -1:65534", chown("f", (uid_t)-1, 65534));
	st("f", NULL);
	rep("chmod f 06755", chmod("f", 06755));
	rep("chown f -1:-1", chown("f", (uid_t)-1, (gid_t)-1));
	st("f", NULL);
	rep("chmod f 06755", chmod("f", 06755));
	int fd = open("f", O_WRONLY);
	rep("write by owner", write(fd, "y", 1));
	close(fd);
	st("f", NULL);
	rep("chmod f 02755", chmod("f", 02755));
	rep("truncate by owner", truncate("f", 0));
	st("f", NULL);
	rep("chmod mine_g0 02755 (group not mine)", chmod(RS "mine_g0", 02755));
	st(RS "mine_g0", NULL);
	rep("chmod mine_g0 0644", chmod(RS "mine_g0", 0644));
	rep("chown mine_g0 -1:65534", chown(RS "mine_g0", (uid_t)-1, 65534));
	st(RS "mine_g0", NULL);
	rep("lchown rootlink", lchown(RS "rootlink", 65534, 65534));
	rep("utimensat pub NULL (not owner, no write)", utimensat(AT_FDCWD, RS "pub", NULL, 0));
	rep("utimensat ww NULL (not owner, write)", utimensat(AT_FDCWD, RS "ww", NULL, 0));
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	rep("utimensat ww values (not owner)", utimensat(AT_FDCWD, RS "ww", ts, 0));
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_NOW;
	rep("utimensat ww NOW,NOW (not owner)", utimensat(AT_FDCWD, RS "ww", ts, 0));
	ts[0].tv_nsec = UTIME_OMIT;
	rep("utimensat ww OMIT,NOW (not owner)", utimensat(AT_FDCWD, RS "ww", ts, 0));
	ts[0].tv_sec = 5;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = 6;
	ts[1].tv_nsec = 0;
	rep("utimensat f values (owner)", utimensat(AT_FDCWD, "f", ts, 0));
	times("f", &ts[0], &ts[1]);
	rep("setxattr pub (no write)", setxattr(RS "pub", "user.u", "v", 1, 0));
	getx(RS "pub", "user.x", 64);
	getx(RS "secret", "user.x", 64);
	rep("listxattr secret", listxattr(RS "secret", NULL, 0));
	rep("setxattr ww (write)", setxattr(RS "ww", "user.u", "v", 1, 0));
	getx(RS "ww", "user.u", 64);
	rep("removexattr pub (no write)", removexattr(RS "pub", "user.x"));
	rep("setxattr trusted.x on own file", setxattr("f", "trusted.x", "v", 1, 0));
	rep("link secret s (protected_hardlinks)", link(RS "secret", "s"));
	rep("link ww w (protected_hardlinks)", link(RS "ww", "w"));
	rep("mknod chr", mknod("c", S_IFCHR | 0600, makedev(1, 3)));
}

static void case_u_suid(void)
{
	int fd = repfd("open suidw O_WRONLY", open(RS "suidw", O_WRONLY));
	rep("write by non-owner", write(fd, "w", 1));
	close(fd);
	st(RS "suidw", NULL);
	fd = repfd("open suidt O_WRONLY", open(RS "suidt", O_WRONLY));
	rep("ftruncate by non-owner", ftruncate(fd, 1));
	close(fd);
	st(RS "suidt", NULL);
	rep("truncate suidx by non-owner", truncate(RS "suidx", 2));
	st(RS "suidx", NULL);
	fd = repfd("open sgidonly O_WRONLY", open(RS "sgidonly", O_WRONLY));
	rep("write by non-owner (sgid, no group x)", write(fd, "w", 1));
	close(fd);
	st(RS "sgidonly", NULL);
	fd =
	    repfd("open suido O_WRONLY|O_TRUNC by non-owner", open(RS "suido", O_WRONLY | O_TRUNC));
	close(fd);
	st(RS "suido", NULL);
}

static void case_u_sticky(void)
{
	rep("unlink sticky/rootf", unlink(RS "sticky/rootf"));
	rep("rename sticky/rootf", rename(RS "sticky/rootf", RS "sticky/x"));
	repfd("open sticky/rootf O_CREAT (protected_regular)",
	      open(RS "sticky/rootf", O_WRONLY | O_CREAT, 0644));
	int fd = repfd("open sticky/rootf O_WRONLY", open(RS "sticky/rootf", O_WRONLY));
	close(fd);
	put(RS "sticky/mine", "m");
	rep("rename own file in sticky", rename(RS "sticky/mine", RS "sticky/mine2"));
	rep("rename own over rootf", rename(RS "sticky/mine2", RS "sticky/rootf"));
	rep("unlink own file in sticky", unlink(RS "sticky/mine2"));
	st(RS "sticky/rootf", NULL);
}

static void case_u_sgid(void)
{
	put(RS "sgid/u", "u");
	st(RS "sgid/u", NULL);
	rep("mkdir sgid/d", mkdir(RS "sgid/d", 0755));
	st(RS "sgid/d", NULL);
	int fd = repfd("create sgid/x 02755", open(RS "sgid/x", O_WRONLY | O_CREAT, 02755));
	close(fd);
	st(RS "sgid/x", NULL);
	rep("chmod sgid/u 02644", chmod(RS "sgid/u", 02644));
	st(RS "sgid/u", NULL);
	rep("unlink sgid/u", unlink(RS "sgid/u"));
	rep("unlink sgid/x", unlink(RS "sgid/x"));
	rep("rmdir sgid/d", rmdir(RS "sgid/d"));
}

/* ---- walk: the whole tree, to compare before and after a remount ------ */

static void walk_xattrs(const char *path, char *out, size_t outsz)
{
	char names[8192], *v[128];
	size_t k = 0;
	ssize_t n = llistxattr(path, names, sizeof(names));
	for (ssize_t i = 0; i < n && k < NELEM(v); i += (ssize_t)strlen(names + i) + 1)
		if (strncmp(names + i, "system.", 7) && strcmp(names + i, "security.selinux"))
			v[k++] = names + i;
	qsort(v, k, sizeof(v[0]), cmpstr);
	for (size_t i = 0; i < k; i++) {
		char val[4096];
		ssize_t l = lgetxattr(path, v[i], val, sizeof(val));
		size_t o = strlen(out);
		snprintf(out + o, outsz - o, " %s=%016llx", pname(v[i]),
			 l < 0 ? 0ULL
			       : (unsigned long long)fnv(val, (size_t)l, 1469598103934665603ULL));
	}
}

static void walk(const char *path)
{
	struct stat s;
	char extra[12000] = "";
	if (lstat(path, &s) != 0) {
		line(pname(path), "-1 %s", errname(errno));
		return;
	}
	if (S_ISREG(s.st_mode)) {
		static char buf[1 << 20];
		uint64_t h = 14695981039346656037ULL;
		int fd = open(path, O_RDONLY);
		ssize_t n = 0;
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			h = fnv(buf, (size_t)n, h);
		snprintf(extra, sizeof(extra), " data=%016llx%s", (unsigned long long)h,
			 fd < 0 || n < 0 ? " (read error)" : "");
		if (fd >= 0)
			close(fd);
	} else if (S_ISLNK(s.st_mode)) {
		char t[4096];
		ssize_t n = readlink(path, t, sizeof(t));
		snprintf(extra, sizeof(extra), " target=%016llx",
			 n < 0 ? 0ULL
			       : (unsigned long long)fnv(t, (size_t)n, 14695981039346656037ULL));
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	size_t o = strlen(extra);
	if (s.st_mtim.tv_sec > now.tv_sec - 3600 && s.st_mtim.tv_sec < now.tv_sec + 60)
		snprintf(extra + o, sizeof(extra) - o, " mtime=recent");
	else
		snprintf(extra + o, sizeof(extra) - o, " mtime=%lld.%09ld",
			 (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
	walk_xattrs(path, extra, sizeof(extra));
	char what[64];
	snprintf(what, sizeof(what), "%s", pname(path));
	char st_line[128];
	if (S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode))
		snprintf(st_line, sizeof(st_line), "%s %04o nlink=%lu rdev=%u:%u uid=%u gid=%u",
			 ftype(s.st_mode), (unsigned)(s.st_mode & 07777), (unsigned long)s.st_nlink,
			 major(s.st_rdev), minor(s.st_rdev), (unsigned)s.st_uid,
			 (unsigned)s.st_gid);
	else if (S_ISDIR(s.st_mode))
		snprintf(st_line, sizeof(st_line), "%s %04o nlink=%lu uid=%u gid=%u",
			 ftype(s.st_mode), (unsigned)(s.st_mode & 07777), (unsigned long)s.st_nlink,
			 (unsigned)s.st_uid, (unsigned)s.st_gid);
	else
		snprintf(st_line, sizeof(st_line), "%s %04o nlink=%lu size=%lld uid=%u gid=%u",
			 ftype(s.st_mode), (unsigned)(s.st_mode & 07777), (unsigned long)s.st_nlink,
			 (long long)s.st_size, (unsigned)s.st_uid, (unsigned)s.st_gid);
	line(what, "%s%s", st_line, extra);
	if (!S_ISDIR(s.st_mode))
		return;
	DIR *d = opendir(path);
	if (!d) {
		line(what, "opendir -1 %s", errname(errno));
		return;
	}
	size_t cap = 64, k = 0;
	char **names = malloc(cap * sizeof(char *));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (k == cap)
			names = realloc(names, (cap *= 2) * sizeof(char *));
		names[k++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, k, sizeof(names[0]), cmpstr);
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(path) + strlen(names[i]) + 2;
		char *child = malloc(l);
		snprintf(child, l, "%s/%s", path, names[i]);
		walk(child);
		free(child);
		free(names[i]);
	}
	free(names);
}

/* ---- driver ----------------------------------------------------------- */

struct tcase {
	const char *name;
	void (*fn)(void);
};

static const struct tcase root_cases[] = {
    {"create", case_create},
    {"trunc", case_trunc},
    {"append", case_append},
    {"rw", case_rw},
    {"times", case_times},
    {"sparse", case_sparse},
    {"big", case_big},
    {"truncate", case_truncate},
    {"unlink_open", case_unlink_open},
    {"mkdir", case_mkdir},
    {"rmdir_open", case_rmdir_open},
    {"rename", case_rename},
    {"renameat2", case_renameat2},
    {"dirnlink", case_dirnlink},
    {"link", case_link},
    {"symlink", case_symlink},
    {"mknod", case_mknod},
    {"chmod", case_chmod},
    {"chown", case_chown},
    {"sgid_dir", case_sgid_dir},
    {"utimens", case_utimens},
    {"statfs", case_statfs},
    {"xattr", case_xattr},
    {"fsync", case_fsync},
    {"fallocate", case_fallocate},
    {"mmap", case_mmap},
    {"flock", case_flock},
    {"fcntl_lock", case_fcntl_lock},
    {"names", case_names},
    {"odd_names", case_odd_names},
    {"readdir", case_readdir},
    {"open_dir", case_open_dir},
    {"enoent", case_enoent},
    {"fcaps", case_fcaps},
    {"committed", case_committed},
    {"odirect", case_odirect},
    {"copy_range", case_copy_range},
    {"deep", case_deep},
};

static const struct tcase user_cases[] = {
    {"u_read", case_u_read}, {"u_dirs", case_u_dirs},	  {"u_owner", case_u_owner},
    {"u_suid", case_u_suid}, {"u_sticky", case_u_sticky}, {"u_sgid", case_u_sgid},
};

static int run(const struct tcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cur_case = cases[i].name;
		if (mkdir(cases[i].name, 0755) != 0 || chdir(cases[i].name) != 0) {
			line("setup", "%s", errname(errno));
			return 1;
		}
		cases[i].fn();
		fflush(stdout);
		if (chdir("..") != 0) {
			line("chdir ..", "%s", errname(errno));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int mode = 0;
	int c;
	while ((c = getopt(argc, argv, "puws")) != -1) {
		if (c == 'p' || c == 'u' || c == 'w' || c == 's')
			mode = c;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: posix_ops [-p|-u|-w] DIR, or posix_ops -s FILE\n");
		return 2;
	}
	if (mode == 's') {
		int fd = open(argv[optind], O_RDONLY);
		off_t hole = fd < 0 ? -1 : lseek(fd, 0, SEEK_HOLE);
		off_t data = hole < 0 ? -1 : lseek(fd, hole, SEEK_DATA);

		if (hole < 0) {
			perror(argv[optind]);
			return 1;
		}
		printf("hole %lld data %lld\n", (long long)hole, (long long)data);
		close(fd);
		return 0;
	}
	if (chdir(argv[optind]) != 0) {
		perror(argv[optind]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	int rc = 0;
	if (mode == 0)
		rc = run(root_cases, NELEM(root_cases));
	else if (mode == 'p')
		prepare();
	else if (mode == 'w') {
		cur_case = "walk";
		walk(".");
	} else
		rc = run(user_cases, NELEM(user_cases));
	if (rc == 0)
		printf("end\n");
	return rc;
}
