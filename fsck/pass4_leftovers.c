/*
 * pass4_leftovers.c - pass 4: files a crash left behind.
 *
 * Checks: stale compaction files (ns.rev.compact, ino/XX/<ino>.rev.compact:
 * a compaction that never reached its rename), stale temporary files of a
 * rewind (*.fsck) and of a superblock write (revfs.super.tmp). None of them
 * is ever opened as a store; removing one cannot lose a committed byte.
 *
 * Relies on: nothing; it holds the lock, so no compaction is running.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

static void consider(struct fsck *c, const char *dir, const char *sub, const char *name)
{
	char path[4096], what[600];
	enum fsck_code code;

	if (ends_with(name, ".rev.compact"))
		code = PR_LEFTOVER_COMPACT;
	else if (ends_with(name, ".rev.fsck") || !strcmp(name, NS_SUPER_NAME ".tmp"))
		code = PR_LEFTOVER_TEMP;
	else
		return;
	snprintf(path, sizeof(path), "%s/%s%s", dir, sub, name);
	snprintf(what, sizeof(what), "%s%s", sub, name);
	if (!fsck_problem(c, code, what, NULL))
		return;
	if (unlink(path) == 0 || errno == ENOENT)
		fsck_fixed(c);
	else
		fsck_unfixed(c, strerror(errno));
}

static int scan_dir(struct fsck *c, const char *sub)
{
	char path[4096];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", c->dir, sub);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)))
		consider(c, c->dir, sub, e->d_name);
	closedir(d);
	return 0;
}

int pass4_leftovers(struct fsck *c)
{
	char sub[16];

	if (scan_dir(c, "") != 0)
		fsck_error(c, "cannot read %s: %s", c->dir, strerror(errno));
	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		ns_folder_path(NULL, x, sub, sizeof(sub));
		if (scan_dir(c, sub) != 0)
			fsck_error(c, "cannot read %s/%s: %s", c->dir, sub, strerror(errno));
	}
	fsck_progress(c, 4, 1, 1);
	return 0;
}
