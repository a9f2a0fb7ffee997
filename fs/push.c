/*
 * push.c - the kernel's writeback cache, and the thread that bounds how
 * long written pages wait in it.
 *
 * With the writeback cache a write(2) is a copy into the kernel's page
 * cache; the kernel sends the pages to the daemon (WRITE requests) when it
 * writes them back: at fsync, at close (its flush waits for them), under
 * memory pressure, and otherwise after vm.dirty_expire_centisecs (30 s by
 * default). The push thread makes that bound one flush interval: each
 * interval it syncfs()es the filesystem, and the flusher commits what came
 * in at the next. A write that was not fsynced is thus committed within
 * about two flush intervals, as without the cache.
 *
 * syncfs needs a descriptor of the filesystem, and one of the mount the
 * user sees would make umount fail with EBUSY while it is open. So the
 * thread holds its own detached copy of the mount (open_tree with
 * OPEN_TREE_CLONE, which takes CAP_SYS_ADMIN), whose descriptor pins the
 * filesystem but not that mount. After the user's umount the copy alone
 * keeps the filesystem up: the thread watches /proc/self/mountinfo, and
 * once no mount of the filesystem is left it lets its copy go, and the
 * kernel ends the session. Without the copy (no privilege, an old kernel)
 * pages wait for the kernel's own expiry, and the log says so.
 *
 * The cache is off unless -o writeback=1 asks for it: in make bench-fs it
 * won 6 to 10% on 4 KiB random writes with an fsync every 32 (each fsync
 * still sends 32 WRITE requests) and lost 10 to 30% on a sequential write.
 *
 * The thread serves no requests, so a syncfs that makes WRITE requests
 * never waits for itself. (On this kernel a syncfs starts a FUSE
 * writeback without waiting for its replies; an answer that must see
 * the pages, SEEK_DATA, invalidates the file's cache instead, fileops.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "revfs.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif

int push_prepare(struct fs *fs, const char *mountpoint)
{
	long fd = syscall(SYS_open_tree, AT_FDCWD, mountpoint, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	fs->push_clone = -1;
	fs->push_wake[0] = fs->push_wake[1] = -1;
	if (fd < 0)
		return -errno;
	if (pipe2(fs->push_wake, O_CLOEXEC) != 0) {
		int e = errno;

		close((int)fd);
		return -e;
	}
	fs->push_clone = (int)fd;
	fs->push_ok = true;
	return 0;
}

/* Whether /proc/self/mountinfo (read from mfd) still lists a mount of the
 * filesystem dev. An unreadable table counts as mounted. */
static bool still_mounted(int mfd, dev_t dev)
{
	char want[32], *buf = NULL, *line;
	size_t len = 0, cap = 0;
	bool found = false;
	ssize_t r;

	snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
	if (lseek(mfd, 0, SEEK_SET) != 0)
		return true;
	do {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap + 65536);

			if (!b) {
				free(buf);
				return true;
			}
			buf = b;
			cap += 65536;
		}
		r = read(mfd, buf + len, cap - len - 1);
		if (r > 0)
			len += (size_t)r;
	} while (r > 0 || (r < 0 && errno == EINTR));
	if (r < 0) {
		free(buf);
		return true;
	}
	buf[len] = '\0';
	/* "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ...": the third field. */
	for (line = buf; line && *line && !found;) {
		char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');

		if (sp && (sp = strchr(sp + 1, ' ')) && strncmp(sp, want, strlen(want)) == 0 &&
		    (!nl || sp < nl))
			found = true;
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return found;
}

static void *push_main(void *arg)
{
	struct fs *fs = arg;
	int rfd, mfd;
	struct stat sb;
	bool gone = false, failed;

	/* The root of the copy, opened for real (syncfs refuses an O_PATH
	 * descriptor); the open is a request, served once the loop runs. */
	rfd = openat(fs->push_clone, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	if (rfd < 0 || fstat(rfd, &sb) != 0 || mfd < 0) {
		fs_log(LOG_WARNING,
		       "writeback cache: cannot watch the mount (%s); written pages wait for "
		       "the kernel's own writeback",
		       strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = mfd, .events = POLLPRI},
				      {.fd = fs->push_wake[0], .events = POLLIN}};
		uint64_t t0;
		int n = poll(p, 2, (int)fs->o.flush_ms);

		if (n < 0 && errno != EINTR)
			break;
		if (__atomic_load_n(&fs->push_stop, __ATOMIC_ACQUIRE))
			break;
		/* The mount table changed: was it our last mount that went? */
		if (n > 0 && (p[0].revents & (POLLPRI | POLLERR)) &&
		    !still_mounted(mfd, sb.st_dev)) {
			gone = true;
			break;
		}
		t0 = st_monotonic_ns();
		/* A failed writeback is the writers' error (their fsync or
		 * close reports it); here it is only counted. */
		failed = syncfs(rfd) != 0;
		t0 = st_monotonic_ns() - t0;
		pthread_mutex_lock(&fs->flush_lock);
		fs->push_failures += failed;
		fs->pushes++;
		fs->push_ns += t0;
		if (t0 > fs->push_max_ns)
			fs->push_max_ns = t0;
		pthread_mutex_unlock(&fs->flush_lock);
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (rfd >= 0)
		close(rfd);
	/* The last hold on the filesystem once the user's mounts are gone:
	 * letting it go ends the session, and the loop returns. */
	close(fs->push_clone);
	fs->push_clone = -1;
	if (gone)
		fs_log(LOG_DEBUG, "writeback cache: the mount is gone");
	return NULL;
}

int push_start(struct fs *fs)
{
	int rc;

	if (fs->push_clone < 0)
		return 0;
	rc = pthread_create(&fs->push_thread, NULL, push_main, fs);
	if (rc)
		return -rc;
	fs->push_running = true;
	return 0;
}

void push_stop(struct fs *fs)
{
	__atomic_store_n(&fs->push_stop, true, __ATOMIC_RELEASE);
	if (fs->push_wake[1] >= 0)
		(void)!write(fs->push_wake[1], "x", 1);
}

void push_join(struct fs *fs)
{
	if (fs->push_running) {
		pthread_join(fs->push_thread, NULL);
		fs->push_running = false;
	}
	if (fs->push_clone >= 0) {
		close(fs->push_clone);
		fs->push_clone = -1;
	}
	for (int i = 0; i < 2; i++)
		if (fs->push_wake[i] >= 0) {
			close(fs->push_wake[i]);
			fs->push_wake[i] = -1;
		}
}
