/*
 * bench_fsio.c - the precise I/O loops of tests/bench_fs.sh, run against any
 * mounted directory. Each subcommand prints one line of key=value pairs on
 * stdout (times in seconds or microseconds, rates per second) and exits 0, or
 * prints the failing call and errno on stderr and exits 1. Data written is
 * stamped with its offset so that reads and overwrites are checkable.
 *
 *   bench_fsio seqwrite FILE BYTES BLOCK   write FILE from scratch, then fsync
 *   bench_fsio seqread FILE BLOCK          read FILE to its end, check stamps
 *   bench_fsio randwrite FILE SECONDS MAXWRITES SYNCEVERY
 *                                          4 KiB writes at random aligned
 *                                          offsets of the existing FILE, an
 *                                          fsync every SYNCEVERY writes
 *   bench_fsio append FILE COUNT SIZE      COUNT appends of SIZE bytes, each
 *                                          followed by fdatasync; latencies
 *   bench_fsio latwrite FILE SECONDS SYNCEVERY
 *                                          randwrite's loop for SECONDS, timing
 *                                          each write and each fsync; latencies
 *   bench_fsio files create|stat|unlink DIR NFILES NDIRS SIZE
 *                                          NFILES files of SIZE bytes spread
 *                                          over NDIRS directories of DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STAMP_PAGE 4096u /* every page of written data starts with a stamp */
#define RAND_SIZE  4096u /* the size and alignment of random writes */
#define MAX_BLOCK  (64u * 1024u * 1024u)

static const char *g_cmd = "bench_fsio";

static void die(const char *what, const char *path)
{
	fprintf(stderr, "%s: %s %s: %s\n", g_cmd, what, path ? path : "", strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_fsio seqwrite FILE BYTES BLOCK\n"
			"       bench_fsio seqread FILE BLOCK\n"
			"       bench_fsio randwrite FILE SECONDS MAXWRITES SYNCEVERY\n"
			"       bench_fsio append FILE COUNT SIZE\n"
			"       bench_fsio latwrite FILE SECONDS SYNCEVERY\n"
			"       bench_fsio files create|stat|unlink DIR NFILES NDIRS SIZE\n");
	exit(2);
}

static uint64_t parse_u64(const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "%s: bad number '%s' (want %" PRIu64 "..%" PRIu64 ")\n", g_cmd, s,
			min, max);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc", NULL);
	return p;
}

/* The stamp of the page at byte offset off: the offset and a tag. */
static void stamp(unsigned char *page, uint64_t off, uint64_t tag)
{
	uint64_t w[2] = {off, tag ^ 0x5265766673ull};

	memcpy(page, w, sizeof(w));
}

static int stamp_ok(const unsigned char *page, uint64_t off)
{
	uint64_t w;

	memcpy(&w, page, sizeof(w));
	return w == off;
}

/* Writes all of buf at off (pwrite may write less than asked). */
static void write_all(int fd, const unsigned char *buf, size_t len, uint64_t off, const char *path)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("pwrite", path);
		if (n == 0) {
			errno = EIO;
			die("pwrite wrote nothing", path);
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

static int cmd_seqwrite(int argc, char **argv)
{
	const char *path;
	uint64_t bytes, block, off = 0;
	unsigned char *buf;
	double t0, t1, t2;
	int fd;

	if (argc != 3)
		usage();
	path = argv[0];
	bytes = parse_u64(argv[1], 1, UINT64_MAX / 2);
	block = parse_u64(argv[2], STAMP_PAGE, MAX_BLOCK);
	if (block % STAMP_PAGE) {
		fprintf(stderr, "%s: BLOCK must be a multiple of %u\n", g_cmd, STAMP_PAGE);
		return 2;
	}
	buf = xmalloc(block);
	memset(buf, 0xa5, block);

	t0 = now();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open", path);
	while (off < bytes) {
		size_t len = bytes - off < block ? (size_t)(bytes - off) : (size_t)block;

		for (size_t p = 0; p < len; p += STAMP_PAGE)
			if (len - p >= 16)
				stamp(buf + p, off + p, 0);
		write_all(fd, buf, len, off, path);
		off += len;
	}
	t1 = now();
	if (fsync(fd) < 0)
		die("fsync", path);
	if (close(fd) < 0)
		die("close", path);
	t2 = now();
	printf("bytes=%" PRIu64 " secs=%.6f write_secs=%.6f fsync_secs=%.6f mbps=%.2f\n", bytes,
	       t2 - t0, t1 - t0, t2 - t1, (double)bytes / 1e6 / (t2 - t0));
	free(buf);
	return 0;
}

static int cmd_seqread(int argc, char **argv)
{
	const char *path;
	uint64_t block, off = 0, bad = 0;
	unsigned char *buf;
	double t0, t1;
	int fd;

	if (argc != 2)
		usage();
	path = argv[0];
	block = parse_u64(argv[1], STAMP_PAGE, MAX_BLOCK);
	if (block % STAMP_PAGE) {
		fprintf(stderr, "%s: BLOCK must be a multiple of %u\n", g_cmd, STAMP_PAGE);
		return 2;
	}
	buf = xmalloc(block);

	t0 = now();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	for (;;) {
		/* Fill the whole block unless at the end, so pages stay aligned. */
		size_t got = 0;

		while (got < block) {
			ssize_t n = pread(fd, buf + got, block - got, (off_t)(off + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("pread", path);
			if (n == 0)
				break;
			got += (size_t)n;
		}
		for (size_t p = 0; p + 16 <= got; p += STAMP_PAGE)
			if (!stamp_ok(buf + p, off + p))
				bad++;
		off += got;
		if (got < block)
			break;
	}
	close(fd);
	t1 = now();
	if (bad) {
		fprintf(stderr, "%s: %s: %" PRIu64 " pages with a wrong stamp\n", g_cmd, path, bad);
		return 1;
	}
	printf("bytes=%" PRIu64 " secs=%.6f mbps=%.2f\n", off, t1 - t0,
	       (double)off / 1e6 / (t1 - t0));
	free(buf);
	return 0;
}

/* xorshift64*: the same offsets in every run and on every target. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static int cmd_randwrite(int argc, char **argv)
{
	const char *path;
	uint64_t secs, maxw, every, pages, writes = 0, fsyncs = 0, seed = 0x9e3779b97f4a7c15ull;
	unsigned char buf[RAND_SIZE];
	double t0, t1, deadline, fsync_time = 0;
	struct stat st;
	int fd;

	if (argc != 4)
		usage();
	path = argv[0];
	secs = parse_u64(argv[1], 1, 86400);
	maxw = parse_u64(argv[2], 1, UINT64_MAX / 2);
	every = parse_u64(argv[3], 1, 1u << 20);
	memset(buf, 0x3c, sizeof(buf));

	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open", path);
	if (fstat(fd, &st) < 0)
		die("fstat", path);
	pages = (uint64_t)st.st_size / RAND_SIZE;
	if (pages == 0) {
		fprintf(stderr, "%s: %s: smaller than one page\n", g_cmd, path);
		return 1;
	}

	t0 = now();
	deadline = t0 + (double)secs;
	/* Check the clock once per fsync batch only. */
	while (writes < maxw) {
		uint64_t off = rnd(&seed) % pages * RAND_SIZE;

		stamp(buf, off, writes);
		write_all(fd, buf, sizeof(buf), off, path);
		writes++;
		if (writes % every == 0) {
			double f0 = now(), f1;

			if (fsync(fd) < 0)
				die("fsync", path);
			f1 = now();
			fsync_time += f1 - f0;
			fsyncs++;
			if (f1 >= deadline)
				break;
		}
	}
	if (writes % every) {
		double f0 = now();

		if (fsync(fd) < 0)
			die("fsync", path);
		fsync_time += now() - f0;
		fsyncs++;
	}
	t1 = now();
	if (close(fd) < 0)
		die("close", path);
	printf("writes=%" PRIu64 " fsyncs=%" PRIu64 " secs=%.6f wps=%.1f fps=%.1f "
	       "fsync_ms=%.3f\n",
	       writes, fsyncs, t1 - t0, (double)writes / (t1 - t0), (double)fsyncs / (t1 - t0),
	       fsyncs ? fsync_time * 1e3 / (double)fsyncs : 0.0);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted v[0..n-1], nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

static int cmd_append(int argc, char **argv)
{
	const char *path;
	uint64_t count, size;
	unsigned char *buf;
	double *lat, sum = 0, t0, t1;
	int fd;

	if (argc != 3)
		usage();
	path = argv[0];
	count = parse_u64(argv[1], 1, 100000000);
	size = parse_u64(argv[2], 16, MAX_BLOCK);
	buf = xmalloc(size);
	lat = xmalloc(count * sizeof(*lat));
	memset(buf, 0x61, size);

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (fd < 0)
		die("open", path);
	t0 = now();
	for (uint64_t i = 0; i < count; i++) {
		double a = now();

		stamp(buf, i * size, i);
		/* O_APPEND: the offset argument of write_all is only bookkeeping. */
		write_all(fd, buf, size, i * size, path);
		if (fdatasync(fd) < 0)
			die("fdatasync", path);
		lat[i] = (now() - a) * 1e6;
		sum += lat[i];
	}
	t1 = now();
	if (close(fd) < 0)
		die("close", path);
	qsort(lat, count, sizeof(*lat), cmp_double);
	printf("count=%" PRIu64 " secs=%.6f p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
	       count, t1 - t0, quantile(lat, count, 0.50), quantile(lat, count, 0.99),
	       lat[count - 1], sum / (double)count);
	free(lat);
	free(buf);
	return 0;
}

/* Appends x to the growing array *v of *n. */
static void push(double **v, size_t *n, size_t *cap, double x)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 65536;
		*v = realloc(*v, *cap * sizeof(**v));
		if (!*v)
			die("realloc", NULL);
	}
	(*v)[(*n)++] = x;
}

static int cmd_latwrite(int argc, char **argv)
{
	const char *path;
	uint64_t secs, every, pages, writes = 0, seed = 0x2545f4914f6cdd1dull;
	unsigned char buf[RAND_SIZE];
	double *wl = NULL, *fl = NULL, t0, deadline;
	size_t nw = 0, cw = 0, nf = 0, cf = 0;
	struct stat st;
	int fd;

	if (argc != 3)
		usage();
	path = argv[0];
	secs = parse_u64(argv[1], 1, 86400);
	every = parse_u64(argv[2], 1, 1u << 20);
	memset(buf, 0x5a, sizeof(buf));
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open", path);
	if (fstat(fd, &st) < 0)
		die("fstat", path);
	pages = (uint64_t)st.st_size / RAND_SIZE;
	if (pages == 0) {
		fprintf(stderr, "%s: %s: smaller than one page\n", g_cmd, path);
		return 1;
	}
	t0 = now();
	deadline = t0 + (double)secs;
	for (;;) {
		uint64_t off = rnd(&seed) % pages * RAND_SIZE;
		double a = now(), b;

		stamp(buf, off, writes);
		write_all(fd, buf, sizeof(buf), off, path);
		b = now();
		push(&wl, &nw, &cw, (b - a) * 1e6);
		if (++writes % every == 0) {
			if (fsync(fd) < 0)
				die("fsync", path);
			a = now();
			push(&fl, &nf, &cf, (a - b) * 1e6);
			if (a >= deadline)
				break;
		}
	}
	if (close(fd) < 0)
		die("close", path);
	qsort(wl, nw, sizeof(*wl), cmp_double);
	qsort(fl, nf, sizeof(*fl), cmp_double);
	printf("writes=%zu fsyncs=%zu secs=%.6f write_p50_us=%.1f write_p99_us=%.1f "
	       "write_max_us=%.1f fsync_p50_us=%.1f fsync_p99_us=%.1f fsync_max_us=%.1f\n",
	       nw, nf, now() - t0, quantile(wl, nw, 0.50), quantile(wl, nw, 0.99), wl[nw - 1],
	       quantile(fl, nf, 0.50), quantile(fl, nf, 0.99), fl[nf - 1]);
	free(wl);
	free(fl);
	return 0;
}

static void file_name(char *out, size_t cap, const char *dir, uint64_t i, uint64_t ndirs)
{
	snprintf(out, cap, "%s/d%03" PRIu64 "/f%06" PRIu64, dir, i % ndirs, i);
}

static int cmd_files(int argc, char **argv)
{
	const char *phase, *dir;
	uint64_t nfiles, ndirs, size;
	unsigned char *buf;
	char path[4096];
	double t0, t1;

	if (argc != 5)
		usage();
	phase = argv[0];
	dir = argv[1];
	nfiles = parse_u64(argv[2], 1, 100000000);
	ndirs = parse_u64(argv[3], 1, 100000);
	size = parse_u64(argv[4], 0, MAX_BLOCK);
	buf = xmalloc(size ? size : 1);
	memset(buf, 0x7e, size ? size : 1);

	t0 = now();
	if (strcmp(phase, "create") == 0) {
		for (uint64_t d = 0; d < ndirs; d++) {
			snprintf(path, sizeof(path), "%s/d%03" PRIu64, dir, d);
			if (mkdir(path, 0755) < 0)
				die("mkdir", path);
		}
		for (uint64_t i = 0; i < nfiles; i++) {
			int fd;

			file_name(path, sizeof(path), dir, i, ndirs);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				die("open", path);
			if (size >= 16)
				stamp(buf, 0, i);
			write_all(fd, buf, size, 0, path);
			if (close(fd) < 0)
				die("close", path);
		}
	} else if (strcmp(phase, "stat") == 0) {
		for (uint64_t i = 0; i < nfiles; i++) {
			struct stat st;

			file_name(path, sizeof(path), dir, i, ndirs);
			if (stat(path, &st) < 0)
				die("stat", path);
			if ((uint64_t)st.st_size != size || !S_ISREG(st.st_mode)) {
				fprintf(stderr, "%s: %s: size %jd, want %" PRIu64 "\n", g_cmd, path,
					(intmax_t)st.st_size, size);
				return 1;
			}
		}
	} else if (strcmp(phase, "unlink") == 0) {
		for (uint64_t i = 0; i < nfiles; i++) {
			file_name(path, sizeof(path), dir, i, ndirs);
			if (unlink(path) < 0)
				die("unlink", path);
		}
		for (uint64_t d = 0; d < ndirs; d++) {
			snprintf(path, sizeof(path), "%s/d%03" PRIu64, dir, d);
			if (rmdir(path) < 0)
				die("rmdir", path);
		}
	} else {
		usage();
	}
	t1 = now();
	printf("files=%" PRIu64 " secs=%.6f fps=%.1f\n", nfiles, t1 - t0,
	       (double)nfiles / (t1 - t0));
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "seqwrite") == 0)
		return cmd_seqwrite(argc - 2, argv + 2);
	if (strcmp(argv[1], "seqread") == 0)
		return cmd_seqread(argc - 2, argv + 2);
	if (strcmp(argv[1], "randwrite") == 0)
		return cmd_randwrite(argc - 2, argv + 2);
	if (strcmp(argv[1], "append") == 0)
		return cmd_append(argc - 2, argv + 2);
	if (strcmp(argv[1], "latwrite") == 0)
		return cmd_latwrite(argc - 2, argv + 2);
	if (strcmp(argv[1], "files") == 0)
		return cmd_files(argc - 2, argv + 2);
	usage();
	return 2;
}
