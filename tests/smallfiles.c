/*
 * smallfiles.c - writes N files of SIZE bytes into DIR (f0, f1, ...), each
 * fsynced before the next, or removes them with -r; for the tests of a
 * full backing disk. Exits 1 at the first failure, saying which call and
 * file failed.
 *
 *   smallfiles DIR N SIZE
 *   smallfiles -r DIR N
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	bool rm = argc > 1 && strcmp(argv[1], "-r") == 0;
	char path[4096], *buf;
	long n, size = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: smallfiles DIR N SIZE | smallfiles -r DIR N\n");
		return 2;
	}
	n = atol(argv[rm ? 3 : 2]);
	if (!rm)
		size = atol(argv[3]);
	buf = malloc(size ? (size_t)size : 1);
	if (!buf)
		return 2;
	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", argv[rm ? 2 : 1], i);
		if (rm) {
			if (unlink(path) != 0) {
				fprintf(stderr, "smallfiles: unlink %s: %s\n", path,
					strerror(errno));
				return 1;
			}
			continue;
		}
		memset(buf, 'a' + (int)(i % 26), (size_t)size);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, (size_t)size) != size || fsync(fd) != 0 ||
		    close(fd) != 0) {
			fprintf(stderr, "smallfiles: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	free(buf);
	return 0;
}
