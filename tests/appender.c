/*
 * appender.c - appending writers whose every byte is known by its offset,
 * for the tests of the kernel's writeback cache (test_writeback.sh).
 *
 *   appender write DIR NFILES SEED   # appends until killed
 *   appender check DIR NFILES        # exit 1 if a file is not a prefix
 *   appender sync FILE N [SLOW_US]   # N appends of 512 B, each fdatasynced
 *
 * "write" appends runs of 1 byte to 600 KiB to files a0..aN-1 in DIR, in
 * random order, now and then closing and reopening a file and, rarely,
 * fsyncing one. It never seeks, truncates or leaves a hole, and the byte
 * at offset o of every file is pattern(o), never zero. So after any crash
 * each file must be a prefix of the pattern: a zero or any other byte is
 * one the writer never wrote there. "check" says which file and offset
 * broke that, and what it found. "sync" prints the mean, the median and
 * the longest fdatasync, in microseconds, and how many took longer than
 * SLOW_US: fsync_mean_us=A fsync_p50_us=P fsync_max_us=M fsync_slow=S.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 16
#define MAX_RUN	  (600u << 10)

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(1 + (off * 131 + off / 4096) % 255);
}

static uint64_t rnd_state;

static uint64_t rnd(uint64_t n)
{
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return (rnd_state >> 33) % n;
}

static int open_at_end(const char *dir, int i, uint64_t *size)
{
	char path[4096];
	int fd;
	off_t end;

	snprintf(path, sizeof(path), "%s/a%d", dir, i);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0) {
		fprintf(stderr, "appender: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	*size = (uint64_t)end;
	return fd;
}

static int do_write(const char *dir, int n, uint64_t seed)
{
	static uint8_t buf[MAX_RUN];
	int fd[MAX_FILES];
	uint64_t size[MAX_FILES];

	rnd_state = seed;
	for (int i = 0; i < n; i++)
		fd[i] = open_at_end(dir, i, &size[i]);
	for (;;) {
		int i = (int)rnd((uint64_t)n);
		size_t len = rnd(4) ? 1 + rnd(64 << 10) : 1 + rnd(MAX_RUN);

		for (size_t k = 0; k < len; k++)
			buf[k] = pattern(size[i] + k);
		if (write(fd[i], buf, len) != (ssize_t)len)
			return 3; /* a dead daemon: what the test does to it */
		size[i] += len;
		if (rnd(200) == 0 && fsync(fd[i]) != 0)
			return 3;
		if (rnd(30) == 0) {
			close(fd[i]);
			fd[i] = open_at_end(dir, i, &size[i]);
		}
	}
}

static int do_check(const char *dir, int n)
{
	static uint8_t buf[1 << 16];
	int bad = 0;

	for (int i = 0; i < n; i++) {
		char path[4096];
		uint64_t off = 0;
		ssize_t r;
		int fd;

		snprintf(path, sizeof(path), "%s/a%d", dir, i);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			if (errno == ENOENT)
				continue; /* never created before the kill */
			fprintf(stderr, "appender: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		while ((r = read(fd, buf, sizeof(buf))) > 0) {
			for (ssize_t k = 0; k < r; k++)
				if (buf[k] != pattern(off + (uint64_t)k)) {
					fprintf(stderr,
						"appender: %s: byte %" PRIu64
						" is 0x%02x, written 0x%02x\n",
						path, off + (uint64_t)k, buf[k],
						pattern(off + (uint64_t)k));
					bad = 1;
					r = 0;
					break;
				}
			if (!r)
				break;
			off += (uint64_t)r;
		}
		if (r < 0) {
			fprintf(stderr, "appender: read %s: %s\n", path, strerror(errno));
			bad = 1;
		}
		close(fd);
	}
	return bad;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int do_sync(const char *path, int n, uint64_t slow_us)
{
	uint8_t buf[512];
	uint64_t *lat = calloc((size_t)n, sizeof(*lat)), size, t0, sum = 0, slow = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	off_t end;

	if (!lat || fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0) {
		fprintf(stderr, "appender: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	size = (uint64_t)end;
	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = pattern(size + k);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			fprintf(stderr, "appender: write %s: %s\n", path, strerror(errno));
			return 1;
		}
		size += sizeof(buf);
		t0 = now_us();
		if (fdatasync(fd) != 0) {
			fprintf(stderr, "appender: fdatasync %s: %s\n", path, strerror(errno));
			return 1;
		}
		lat[i] = now_us() - t0;
	}
	close(fd);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	for (int i = 0; i < n; i++) {
		sum += lat[i];
		slow += slow_us && lat[i] > slow_us;
	}
	printf("fsync_mean_us=%" PRIu64 " fsync_p50_us=%" PRIu64 " fsync_max_us=%" PRIu64
	       " fsync_slow=%" PRIu64 "\n",
	       sum / (uint64_t)n, lat[n / 2], lat[n - 1], slow);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 0;

	if (argc == 5 && !strcmp(argv[1], "write") && n > 0 && n <= MAX_FILES)
		return do_write(argv[2], n, strtoull(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "check") && n > 0 && n <= MAX_FILES)
		return do_check(argv[2], n);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "sync") && n > 0)
		return do_sync(argv[2], n, argc == 5 ? strtoull(argv[4], NULL, 10) : 0);
	fprintf(stderr, "usage: appender write DIR NFILES SEED | appender check DIR NFILES | "
			"appender sync FILE N [SLOW_US]\n");
	return 2;
}
