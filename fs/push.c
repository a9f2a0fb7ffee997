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
 * once no mount of the filesystem is left it lets its copy go (ends the
 * child below that holds it), and the
 * kernel ends the session. Without the copy (no privilege, an old kernel)
 * pages wait for the kernel's own expiry, and the log says so.
 *
 * The cache is off unless -o writeback=1 asks for it: in make bench-fs it
 * won 6 to 10% on 4 KiB random writes with an fsync every 32 (each fsync
 * still sends 32 WRITE requests) and lost 10 to 30% on a sequential write.
 *
 * The syncfs itself runs in a child process, forked by the thread, that
 * holds the root of the copy and no descriptor of /dev/fuse. A syncfs
 * waits in the kernel, uninterruptibly, until the writeback it started
 * is done, which takes the daemon's replies. Were it a thread of the
 * daemon, a SIGKILL during that wait would leave it there for good: the
 * connection is only aborted when the last descriptor of /dev/fuse is
 * closed, which is when the daemon's last thread ends, and that thread
 * is the one waiting (the process stays a zombie, its mount hangs). In
 * a child, the daemon's death closes /dev/fuse, the kernel aborts the
 * connection, the child's syncfs returns, and the child, told by
 * PR_SET_PDEATHSIG, dies too. The thread only asks and waits for the
 * answer on a pipe, which a SIGKILL ends.
 *
 * The pushing serves no requests, so a syncfs that makes WRITE requests
 * never waits for itself. (On this kernel a syncfs starts a FUSE
 * writeback without waiting for its replies; an answer that must see
 * the pages, SEEK_DATA, invalidates the file's cache instead, fileops.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

/* Closes every descriptor from lo to hi but keep[0..2]. */
static void close_but(unsigned lo, unsigned hi, const int keep[3])
{
	int k[3] = {keep[0], keep[1], keep[2]};

	/* sorted, so that the gaps between them are ranges */
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (k[j] < k[i]) {
				int t = k[i];

				k[i] = k[j];
				k[j] = t;
			}
	for (int i = 0; i <= 3; i++) {
		int64_t top = i < 3 ? (int64_t)k[i] - 1 : (int64_t)hi;

		if (top >= (int64_t)lo)
			(void)syscall(SYS_close_range, lo, (unsigned)top, 0);
		if (i < 3 && (unsigned)k[i] + 1 > lo)
			lo = (unsigned)k[i] + 1;
	}
}

/* The child (forked by a thread of a threaded process: only calls that are
 * safe after such a fork). Each byte read from req is a syncfs of rfd, its
 * answer one byte on ans: 0, or the errno (255 for a larger one). The end
 * of req, or the death of the thread that forked it, ends it. */
static void __attribute__((noreturn)) push_child(int rfd, int req, int ans, pid_t parent)
{
	const int keep[3] = {rfd, req, ans};
	struct sigaction sa = {.sa_handler = SIG_DFL};
	int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGPIPE};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(0);
	/* Above all /dev/fuse: the daemon's death must close the last one. */
	close_but(3, ~0U, keep);
	for (;;) {
		unsigned char c;
		ssize_t r = read(req, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != 1)
			_exit(0);
		c = syncfs(rfd) == 0 ? 0 : errno > 255 ? 255 : (unsigned char)errno;
		if (write(ans, &c, 1) != 1)
			_exit(0);
	}
}

/* Starts the child on rfd; req[1] and ans[0] are the thread's ends. */
static pid_t push_fork(int rfd, int req[2], int ans[2])
{
	pid_t parent = getpid(), pid;

	if (pipe2(req, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(ans, O_CLOEXEC) != 0) {
		close(req[0]);
		close(req[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		push_child(rfd, req[0], ans[1], parent);
	close(req[0]);
	close(ans[1]);
	if (pid < 0) {
		close(req[1]);
		close(ans[0]);
	}
	return pid;
}

/* One syncfs by the child: 0, or the errno it answered (EPIPE: it is gone). */
static int push_once(int req, int ans)
{
	unsigned char c = 's';
	ssize_t r;

	if (write(req, &c, 1) != 1)
		return EPIPE;
	do
		r = read(ans, &c, 1);
	while (r < 0 && errno == EINTR);
	return r == 1 ? c : EPIPE;
}

static void *push_main(void *arg)
{
	struct fs *fs = arg;
	int rfd, mfd, req[2] = {-1, -1}, ans[2] = {-1, -1};
	struct stat sb;
	bool gone = false;
	pid_t child = -1;

	/* The root of the copy, opened for real (syncfs refuses an O_PATH
	 * descriptor); the open is a request, served once the loop runs. */
	rfd = openat(fs->push_clone, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	if (rfd < 0 || fstat(rfd, &sb) != 0 || mfd < 0 || (child = push_fork(rfd, req, ans)) < 0) {
		fs_log(LOG_WARNING,
		       "writeback cache: cannot watch the mount (%s); written pages wait for "
		       "the kernel's own writeback",
		       strerror(errno));
		goto out;
	}
	/* The child's descriptor of the root now pins the filesystem. */
	close(rfd);
	rfd = -1;
	close(fs->push_clone);
	fs->push_clone = -1;
	for (;;) {
		struct pollfd p[2] = {{.fd = mfd, .events = POLLPRI},
				      {.fd = fs->push_wake[0], .events = POLLIN}};
		uint64_t t0;
		int n = poll(p, 2, (int)fs->o.flush_ms), e;

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
		e = push_once(req[1], ans[0]);
		t0 = st_monotonic_ns() - t0;
		if (e == EPIPE) {
			fs_log(LOG_WARNING, "writeback cache: the push process is gone; written "
					    "pages wait for the kernel's own writeback");
			break;
		}
		pthread_mutex_lock(&fs->flush_lock);
		fs->push_failures += e != 0;
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
	if (fs->push_clone >= 0) {
		close(fs->push_clone);
		fs->push_clone = -1;
	}
	/* The child's end lets the last hold on the filesystem go once the
	 * user's mounts are gone: that ends the session, and the loop
	 * returns. At a stop it may be in a syncfs that the session's end
	 * aborts (push_join comes after it): it is reaped there. */
	if (req[1] >= 0)
		close(req[1]);
	if (ans[0] >= 0)
		close(ans[0]);
	if (child > 0 && gone)
		(void)waitpid(child, NULL, 0);
	else
		fs->push_child = child;
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
	if (fs->push_child > 0) {
		(void)waitpid(fs->push_child, NULL, 0);
		fs->push_child = -1;
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
