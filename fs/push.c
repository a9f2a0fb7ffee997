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
 * Gaps. The kernel sends a file's dirty pages as several WRITE requests
 * at once (up to 1 MiB each, and a writeback may start mid-file and wrap
 * around), and the daemon's threads serve them in any order: a WRITE past
 * the file's end as the daemon knows it may come before the one for the
 * bytes in between (hundreds a second under appending writers, most
 * filled within a few ms). A commit then would make those bytes a hole,
 * and a crash before the next one would leave zeros where the writer
 * wrote data. So such a WRITE opens a gap, the writes that come fill it,
 * and a commit of the file stops below its lowest open gap (flusher.c).
 * A gap that nothing fills is a hole the writer made (a write past the
 * end), or bytes the kernel still holds. The child tells which, for each
 * file a round held: it opens the file by its handle and closes it, and
 * the kernel's close writes the file's dirty pages back and waits until
 * every WRITE of it is answered; a gap seen before that and still open
 * after it is a hole the writer made, and is let go (gap_pass). The
 * waiting is the child's, which the daemon's death ends as a syncfs's.
 * An fsync or the last writer's close lets a file's gaps go at once: the
 * kernel did the same before it sent them. Writers that wait for dirty
 * room must not wait for a commit that waits for a WRITE that waits for
 * them: then a gap older than a flush interval is let go, as any after
 * GAP_HOLD_NS (without the child, the kernel's dirty expiry comes first).
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

#ifndef FILEID_INO64_GEN
#define FILEID_INO64_GEN 0x81 /* the kernel's exportfs.h: FUSE's handles */
#endif
#define PUSH_MSG 9 /* a request to the child: 's' or 'b', an inode number */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif

/* A gap is let go after this long whatever else: without a push the
 * kernel's own writeback sends pages after vm.dirty_expire_centisecs (30 s
 * by default). */
#define GAP_HOLD_NS (35ull * 1000000000)

static void gap_del(struct inode *in, unsigned i)
{
	in->gaps[i] = in->gaps[--in->ngaps];
}

/* Adds a gap; merged with the last one if the file has WB_GAPS already
 * (a wider gap holds longer, never less). */
static void gap_add(struct inode *in, struct wb_gap g)
{
	struct wb_gap *m;

	if (!in->gaps && !(in->gaps = malloc(WB_GAPS * sizeof(*in->gaps))))
		return; /* no memory: this gap is not held */
	if (in->ngaps < WB_GAPS) {
		in->gaps[in->ngaps++] = g;
		return;
	}
	m = &in->gaps[WB_GAPS - 1];
	m->lo = g.lo < m->lo ? g.lo : m->lo;
	m->hi = g.hi > m->hi ? g.hi : m->hi;
	m->seen_ns = g.seen_ns > m->seen_ns ? g.seen_ns : m->seen_ns;
}

void gap_write(struct fs *fs, struct inode *in, uint64_t off, uint64_t len, bool writepage)
{
	uint64_t end = off + len;

	for (unsigned i = 0; i < in->ngaps;) {
		struct wb_gap *g = &in->gaps[i];

		if (end <= g->lo || off >= g->hi) {
			i++;
		} else if (off <= g->lo && end >= g->hi) {
			gap_del(in, i);
		} else if (off <= g->lo) {
			g->lo = end;
			i++;
		} else if (end >= g->hi) {
			g->hi = off;
			i++;
		} else { /* inside: two gaps, or the whole one kept if full */
			if (in->ngaps < WB_GAPS) {
				struct wb_gap up = *g;

				up.lo = end;
				g->hi = off;
				in->gaps[in->ngaps++] = up;
			}
			i++;
		}
	}
	if (writepage && off > in->a.size) {
		gap_add(in, (struct wb_gap){in->a.size, off, st_monotonic_ns()});
		__atomic_fetch_add(&fs->gaps_seen, 1, __ATOMIC_RELAXED);
	}
}

void gap_truncate(struct inode *in, uint64_t size)
{
	for (unsigned i = 0; i < in->ngaps;) {
		if (in->gaps[i].lo >= size) {
			gap_del(in, i);
			continue;
		}
		if (in->gaps[i].hi > size)
			in->gaps[i].hi = size;
		i++;
	}
}

void gap_clear(struct inode *in)
{
	in->ngaps = 0;
}

uint64_t gap_floor(struct fs *fs, struct inode *in, bool pressure)
{
	uint64_t now, floor = UINT64_MAX;

	if (!in->ngaps)
		return floor;
	now = st_monotonic_ns();
	for (unsigned i = 0; i < in->ngaps;) {
		const struct wb_gap *g = &in->gaps[i];
		uint64_t age = now - g->seen_ns;

		if (age > GAP_HOLD_NS || (pressure && age > (uint64_t)fs->o.flush_ms * 1000000)) {
			gap_del(in, i);
			continue;
		}
		if (g->lo < floor)
			floor = g->lo;
		i++;
	}
	return floor;
}

int push_prepare(struct fs *fs, const char *mountpoint)
{
	long fd;

	fs->push_clone = -1;
	/* The thread's wake-up: its gaps (flusher.c) and its end. */
	if (pipe2(fs->push_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		fs->push_wake[0] = fs->push_wake[1] = -1;
		return -errno;
	}
	fd = syscall(SYS_open_tree, AT_FDCWD, mountpoint, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return -errno;
	fs->push_clone = (int)fd;
	fs->push_ok = true;
	return 0;
}

void gap_queue(struct fs *fs, uint64_t ino)
{
	bool wake;

	pthread_mutex_lock(&fs->flush_lock);
	wake = fs->gap_nq == 0;
	for (unsigned i = 0; i < fs->gap_nq; i++)
		if (fs->gap_q[i] == ino)
			ino = 0;
	if (ino && fs->gap_nq < GAP_QUEUE) /* else a later round asks again */
		fs->gap_q[fs->gap_nq++] = ino;
	pthread_mutex_unlock(&fs->flush_lock);
	if (wake && fs->push_wake[1] >= 0)
		(void)!write(fs->push_wake[1], "g", 1);
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

/* The inode's dirty pages written back and every WRITE of it answered:
 * open it by its handle (the kernel still has it if it holds pages of it)
 * and close it again, which the kernel does only after both (its flush,
 * fs/fuse/file.c). 0, ESTALE if the kernel no longer has the inode (nor
 * pages of it), or another errno. */
static int child_barrier(int rfd, uint64_t ino)
{
	/* FUSE's handle: the node id's two halves and the generation. */
	unsigned char buf[sizeof(struct file_handle) + 3 * sizeof(uint32_t)]
	    __attribute__((aligned(8)));
	struct file_handle *fh = (struct file_handle *)(void *)buf;
	uint32_t raw[3] = {(uint32_t)(ino >> 32), (uint32_t)ino, INO_GENERATION};
	int fd;

	fh->handle_bytes = sizeof(raw);
	fh->handle_type = FILEID_INO64_GEN;
	memcpy(fh->f_handle, raw, sizeof(raw));
	fd = open_by_handle_at(rfd, fh, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	(void)close(fd); /* its error is the writer's, reported to it */
	return 0;
}

/* The child (forked by a thread of a threaded process: only calls that are
 * safe after such a fork). Each request on req is PUSH_MSG bytes: 's' (a
 * syncfs of rfd) or 'b' and an inode number (child_barrier); its answer is
 * one byte on ans: 0, or the errno (255 for a larger one). The end of req,
 * or the death of the thread that forked it, ends it. */
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
		unsigned char m[PUSH_MSG], c;
		size_t got = 0;
		uint64_t ino;
		int e;

		while (got < sizeof(m)) {
			ssize_t r = read(req, m + got, sizeof(m) - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				_exit(0);
			got += (size_t)r;
		}
		memcpy(&ino, m + 1, sizeof(ino));
		e = m[0] == 'b' ? child_barrier(rfd, ino) : syncfs(rfd) == 0 ? 0 : errno;
		c = e > 255 ? 255 : (unsigned char)e;
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

/* One request to the child (push_child): its answer, 0 or an errno
 * (EPIPE: it is gone). */
static int push_ask(int req, int ans, unsigned char cmd, uint64_t ino)
{
	unsigned char m[PUSH_MSG], c;
	ssize_t r;

	m[0] = cmd;
	memcpy(m + 1, &ino, sizeof(ino));
	if (write(req, m, sizeof(m)) != (ssize_t)sizeof(m))
		return EPIPE;
	do
		r = read(ans, &c, 1);
	while (r < 0 && errno == EINTR);
	return r == 1 ? c : EPIPE;
}

/* Lets go of the gaps the kernel holds nothing for, of the files rounds
 * held (see the top): a barrier by the child for each, and whatever is
 * left of a gap seen before it is a hole the writer made. No lock held
 * while the child waits. Returns EPIPE if the child is gone. */
static int gap_pass(struct fs *fs, int req, int ans)
{
	uint64_t inos[GAP_QUEUE];
	unsigned n;
	int e = 0;

	pthread_mutex_lock(&fs->flush_lock);
	n = fs->gap_nq;
	memcpy(inos, fs->gap_q, n * sizeof(*inos));
	fs->gap_nq = 0;
	pthread_mutex_unlock(&fs->flush_lock);
	for (unsigned k = 0; k < n && e != EPIPE; k++) {
		struct inode *in = ino_get(fs, inos[k]);
		unsigned dropped = 0;
		uint64_t t0 = st_monotonic_ns();

		if (!in)
			continue;
		e = push_ask(req, ans, 'b', in->ino);
		pthread_mutex_lock(&in->lock);
		for (unsigned i = 0; (e == 0 || e == ESTALE) && i < in->ngaps;) {
			if (in->gaps[i].seen_ns < t0) {
				gap_del(in, i);
				dropped++;
				continue;
			}
			i++;
		}
		pthread_mutex_unlock(&in->lock);
		if (dropped) {
			__atomic_fetch_add(&fs->gaps_let_go, dropped, __ATOMIC_RELAXED);
			flusher_mark(fs, in);
		}
		ino_put(fs, in);
	}
	if (n)
		flusher_kick(fs);
	return e == EPIPE ? EPIPE : 0;
}

/* The thread's wait: until the push is due (deadline, 0: none), a wake-up
 * or a change of the mount table. Returns the poll's revents of the
 * table, or -1 if the thread is to end. */
static int push_wait(struct fs *fs, int mfd, uint64_t deadline)
{
	struct pollfd p[2] = {{.fd = fs->push_wake[0], .events = POLLIN},
			      {.fd = mfd, .events = POLLPRI}};
	uint64_t now = st_monotonic_ns();
	int ms = !deadline ? -1 : deadline > now ? (int)((deadline - now + 999999) / 1000000) : 0;
	int n = poll(p, mfd >= 0 ? 2 : 1, ms);
	char buf[64];

	if (n < 0 && errno != EINTR)
		return -1;
	if (n > 0 && (p[0].revents & POLLIN))
		(void)!read(fs->push_wake[0], buf, sizeof(buf));
	if (__atomic_load_n(&fs->push_stop, __ATOMIC_ACQUIRE))
		return -1;
	return n > 0 && mfd >= 0 ? p[1].revents : 0;
}

static void *push_main(void *arg)
{
	struct fs *fs = arg;
	int rfd = -1, mfd = -1, req[2] = {-1, -1}, ans[2] = {-1, -1}, ev;
	uint64_t flush_ns = (uint64_t)fs->o.flush_ms * 1000000, next = 0, last_pass = 0;
	struct stat sb;
	bool gone = false, want;
	pid_t child = -1;

	/* The root of the copy, opened for real (syncfs refuses an O_PATH
	 * descriptor); the open is a request, served once the loop runs. */
	if (fs->push_clone >= 0) {
		rfd = openat(fs->push_clone, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (rfd < 0 || fstat(rfd, &sb) != 0 || mfd < 0 ||
		    (child = push_fork(rfd, req, ans)) < 0) {
			fs_log(LOG_WARNING,
			       "writeback cache: cannot watch the mount (%s); written pages wait "
			       "for the kernel's own writeback",
			       strerror(errno));
			if (mfd >= 0)
				close(mfd);
			mfd = -1;
		} else {
			/* The child's descriptor of the root now pins the
			 * filesystem. */
			next = st_monotonic_ns() + flush_ns;
		}
		if (rfd >= 0)
			close(rfd);
		rfd = -1;
		close(fs->push_clone);
		fs->push_clone = -1;
	}
	for (;;) {
		uint64_t t0, nr, due = next;
		int e;

		/* Files held below a gap are looked at within a quarter of a
		 * flush interval, pushes or not. */
		pthread_mutex_lock(&fs->flush_lock);
		if (fs->gap_nq && next && last_pass + flush_ns / 4 < due)
			due = last_pass + flush_ns / 4;
		pthread_mutex_unlock(&fs->flush_lock);
		if ((ev = push_wait(fs, mfd, due)) < 0)
			break;
		/* The mount table changed: was it our last mount that went? */
		if ((ev & (POLLPRI | POLLERR)) && !still_mounted(mfd, sb.st_dev)) {
			gone = true;
			break;
		}
		/* Gaps, at most four times a flush interval; without the
		 * child they wait for what else lets them go (gap_floor). */
		pthread_mutex_lock(&fs->flush_lock);
		want = fs->gap_nq > 0;
		if (want && !next)
			fs->gap_nq = 0;
		pthread_mutex_unlock(&fs->flush_lock);
		e = 0;
		if (want && next && st_monotonic_ns() - last_pass >= flush_ns / 4) {
			e = gap_pass(fs, req[1], ans[0]);
			last_pass = st_monotonic_ns();
		}
		if (e != EPIPE && (!next || st_monotonic_ns() < next))
			continue;
		t0 = st_monotonic_ns();
		/* A failed writeback is the writers' error (their fsync or
		 * close reports it); here it is only counted. */
		if (e != EPIPE)
			e = push_ask(req[1], ans[0], 's', 0);
		nr = st_monotonic_ns();
		next = nr + flush_ns;
		t0 = nr - t0;
		if (e == EPIPE) {
			fs_log(LOG_WARNING, "writeback cache: the push process is gone; written "
					    "pages wait for the kernel's own writeback");
			next = 0;
			close(mfd);
			mfd = -1;
			continue;
		}
		pthread_mutex_lock(&fs->flush_lock);
		fs->push_failures += e != 0;
		fs->pushes++;
		fs->push_ns += t0;
		if (t0 > fs->push_max_ns)
			fs->push_max_ns = t0;
		pthread_mutex_unlock(&fs->flush_lock);
	}
	if (mfd >= 0)
		close(mfd);
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

	if (!fs->writeback || fs->push_wake[0] < 0)
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
