/*
 * lock.c - the lock-file protocol and the one reader of mountinfo.
 *
 * BACKING/.lock is flock()ed by the mounted daemon, and by fsck.revfs and
 * revfs-compact while they work, so that only one of them writes the
 * backing directory. The daemon keeps a note in it: "pid N on MNT" while it
 * serves MNT, "closing" while it commits what is left after its unmount,
 * empty for the moment it rewrites the note. fusermount3 -u returns before
 * the daemon has let go, so whoever wants the lock next waits for a daemon
 * that is on its way out, and only for one that is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ns.h"

#define TICK_US 100000 /* one wait tick: 100 ms */

int ns_lock_open(const char *dir, bool readonly)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, NS_LOCK_NAME) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, (readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

void ns_lock_note_read(int fd, char *note, size_t len)
{
	ssize_t n = pread(fd, note, len - 1, 0);

	note[n > 0 ? n : 0] = 0;
	note[strcspn(note, "\n")] = 0;
}

int ns_lock_note_write(int fd, const char *note)
{
	size_t len = strlen(note);

	if (ftruncate(fd, 0) != 0 || pwrite(fd, note, len, 0) != (ssize_t)len)
		return errno ? -errno : -EIO;
	return 0;
}

int ns_lock_take(int fd, const struct ns_lock_wait *w, char *note, size_t len)
{
	char buf[512];
	unsigned out = 0; /* ticks the holder was seen on its way out */
	bool said = false;

	if (!note) {
		note = buf;
		len = sizeof(buf);
	}
	note[0] = 0;
	for (unsigned ticks = 0;; ticks++) {
		bool leaving;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return NS_LOCK_TAKEN;
		if (errno != EWOULDBLOCK)
			return -errno;
		if (w->canceled && w->canceled(w->arg))
			return NS_LOCK_CANCELED;
		ns_lock_note_read(fd, note, len);
		leaving = ns_lock_leaving(note);
		/* A daemon serving a mount: given live_ticks to notice that it
		 * was just unmounted and say "closing". */
		if (!leaving && ticks >= w->live_ticks)
			return NS_LOCK_MOUNTED;
		if (leaving && (ticks >= w->leaving_ticks || (!note[0] && ticks >= w->empty_ticks)))
			return NS_LOCK_TIMEOUT;
		if (leaving && note[0] && !said && out++ >= w->quiet_ticks) {
			said = true;
			if (w->waiting)
				w->waiting(w->arg, note);
		}
		usleep(TICK_US);
	}
}

/* ---- mountinfo ------------------------------------------------------- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

/*
 * One line: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE
 * SOURCE SUPEROPTS" (proc(5)). The optional fields end at a lone "-".
 */
static bool parse_line(char *line, struct ns_mount *m)
{
	char *f[5], *save, *t, *dash, *src;
	int i = 0;

	dash = strstr(line, " - ");
	if (!dash)
		return false;
	*dash = 0;
	for (t = strtok_r(line, " \n", &save); t && i < 5; t = strtok_r(NULL, " \n", &save))
		f[i++] = t;
	if (i < 5 || sscanf(f[2], "%u:%u", &m->major, &m->minor) != 2)
		return false;
	m->fstype = strtok_r(dash + 3, " \n", &save);
	src = m->fstype ? strtok_r(NULL, " \n", &save) : NULL;
	if (!src)
		return false;
	unescape(src);
	m->source = src;
	unescape(f[3]);
	unescape(f[4]);
	m->root = f[3];
	m->point = f[4];
	return true;
}

int ns_mounts(int (*cb)(void *arg, const struct ns_mount *m), void *arg)
{
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!mi)
		return -errno;
	while (rc == 0 && getline(&line, &cap, mi) > 0) {
		struct ns_mount m;

		if (parse_line(line, &m))
			rc = cb(arg, &m);
	}
	free(line);
	fclose(mi);
	return rc;
}

static int is_point_cb(void *arg, const struct ns_mount *m)
{
	return strcmp(m->point, arg) == 0;
}

struct revfs_mount {
	const char *path;
	char *backing;
	size_t len;
	bool found;
};

static int revfs_mount_cb(void *arg, const struct ns_mount *m)
{
	struct revfs_mount *r = arg;

	if (strcmp(m->point, r->path) == 0) {
		/* The last line of a mount point is the top of its stack. */
		r->found = strcmp(m->fstype, "fuse.revfs") == 0;
		if (r->found)
			snprintf(r->backing, r->len, "%s", m->source);
	}
	return 0;
}

bool ns_revfs_mount(const char *path, char *backing, size_t len)
{
	char *real = realpath(path, NULL);
	struct revfs_mount r = {real, backing, len, false};

	if (real && ns_mounts(revfs_mount_cb, &r) < 0)
		r.found = false;
	free(real);
	return r.found;
}

bool ns_lock_leaving(const char *note)
{
	char mnt[4096];
	long pid;
	int at = -1, rc;

	if (note[0] == 0 || strncmp(note, "closing", 7) == 0)
		return true;
	if (sscanf(note, "pid %ld on %n", &pid, &at) < 1 || at < 0 || note[at] != '/')
		return false;
	snprintf(mnt, sizeof(mnt), "%s", note + at);
	mnt[strcspn(mnt, "\n")] = 0;
	rc = ns_mounts(is_point_cb, mnt);
	return rc == 0; /* mountinfo unreadable (< 0): as if still mounted */
}
