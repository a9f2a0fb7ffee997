/*
 * pass2_stores.c - pass 2: every store, the namespace's first.
 *
 * Checks, per store: it opens (its newest committed header is valid); the
 * newest version's tree (order, levels, reduce values, pointers) and every
 * data page it reaches (st_check with ST_CHECK_DATA); the headers of all
 * older versions along the chain (seq and time decreasing); with -f the
 * full content of every version; nothing but a reserve of zeros is left
 * after the newest header (on a mounted directory, the tail is the
 * daemon's).
 * Files in ino/XX/ that are not "<ino>.rev" with XX = ino & 0xff are
 * reported; *.compact and *.fsck are left to pass 4.
 *
 * Repairs: a store whose newest headers or newest content are damaged is
 * rewound (st_rewind: a copy, then a rename) to the newest version whose
 * whole reachable content checks out; the versions given up are reported
 * with their seqs and times. A file store with no such version is rebuilt
 * from the pages that still read, as one new version (holes where pages
 * were lost). An empty store file is removed. A tail is trimmed.
 *
 * File stores are opened and checked by worker threads a few stores ahead
 * (diagnose(): read-only, reports nothing); the main thread reports and
 * repairs them in inode order (check_store()), so the output does not
 * depend on which thread finished first.
 *
 * Relies on: pass 1 (ns.rev and ino/ exist). Leaves c->stores (file stores
 * by inode number, with their newest size) for pass 3.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/uio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"

struct vlist {
	struct st_version *v; /* newest first */
	size_t n;
};

static const char *timestr(uint64_t ns, char buf[32])
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, 32, "%llu ns", (unsigned long long)ns);
	return buf;
}

/* The path relative to the backing directory, for messages. */
static const char *rel(const struct fsck *c, const char *path)
{
	size_t n = strlen(c->dir);

	if (!strncmp(path, c->dir, n) && path[n] == '/')
		return path + n + 1;
	return path;
}

/* Whether version seq of st checks out in full (tree and data). */
static bool version_ok(st_store *st, uint64_t seq)
{
	st_store *v;
	int rc;

	if (st_open_version(st, seq, &v) != ST_OK)
		return false;
	rc = st_check(v, ST_CHECK_DATA);
	st_close(v);
	return rc == ST_OK;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/*
 * Rebuilds a file store from the pages of its newest version that still
 * read: a new store in "<path>.fsck", committed, renamed over the store.
 * Returns the number of pages lost, or -1.
 */
static int64_t salvage(struct fsck *c, st_store *st, const char *path, uint64_t ino)
{
	struct st_open_opts opts = {0};
	uint8_t id[ST_ID_SIZE];
	struct st_key key;
	char tmp[4200];
	struct st_version cur;
	st_store *ns = NULL;
	uint8_t *buf = malloc(ST_PAGE_SIZE);
	int64_t lost = 0;
	int rc;

	st_current(st, &cur);
	snprintf(tmp, sizeof(tmp), "%s.fsck", path);
	unlink(tmp);
	if (!buf)
		goto fail;
	(void)ns_store_opts(c->sb_ok ? &c->sb : NULL, ino, &opts, id, &key);
	rc = st_open(tmp, ST_KIND_FILE, ST_CREATE | ST_EXCL, &opts, &ns);
	if (rc != ST_OK)
		goto fail;
	for (uint64_t off = 0; off < cur.size && !fsck_interrupted; off += ST_PAGE_SIZE) {
		size_t want =
		    cur.size - off < ST_PAGE_SIZE ? (size_t)(cur.size - off) : ST_PAGE_SIZE;
		ssize_t n = st_file_read(st, off, buf, want);
		bool zero = true;

		if (n < 0) {
			lost++;
			continue;
		}
		for (ssize_t i = 0; i < n && zero; i++)
			zero = buf[i] == 0;
		if (!zero && st_file_write(ns, off, buf, (size_t)n) != ST_OK)
			goto fail;
	}
	if (fsck_interrupted)
		goto fail;
	if (st_file_truncate(ns, cur.size) != ST_OK ||
	    st_file_set_mtime(ns, cur.mtime_ns) != ST_OK || st_commit(ns, NULL) != ST_OK)
		goto fail;
	st_close(ns);
	ns = NULL;
	if (rename(tmp, path) != 0 || fsync_parent(path) != 0)
		goto fail;
	free(buf);
	return lost;
fail:
	if (ns)
		st_close(ns);
	unlink(tmp);
	free(buf);
	fsck_error(c, "%s: salvage failed: %s", rel(c, path), st_last_error()->msg);
	return -1;
}

/* Reopens a repaired store and records what it now holds. */
static void measure(struct fsck *c, const char *path, enum st_kind kind, struct fstore *out)
{
	struct st_open_opts opts = {0};
	uint8_t id[ST_ID_SIZE];
	struct st_key key;
	struct st_version cur;
	struct st_info info;
	struct vlist l = {0};
	st_store *st;

	(void)ns_store_opts(c->sb_ok ? &c->sb : NULL, out ? out->ino : 0, &opts, id, &key);
	if (st_open(path, kind, ST_READONLY, &opts, &st) != ST_OK)
		return;
	st_current(st, &cur);
	if (st_info(st, &info) == ST_OK) {
		c->live_bytes += info.live_bytes;
		c->file_bytes += info.file_bytes;
	}
	st_versions_list(st, &l.v, &l.n);
	c->versions += l.n;
	free(l.v);
	if (out) {
		out->usable = true;
		out->size = cur.size;
		out->mtime_ns = cur.mtime_ns;
		out->seq = cur.seq;
		out->bytes = cur.bytes;
	}
	st_close(st);
}

/*
 * With -f, a store of up to SNAP_MAX bytes is diagnosed from one read of
 * the whole file: the ops the store library reads it through serve its
 * preads from that copy. A walk of every version makes a few hundred small
 * reads per store, each a system call, and reads nearly all of it anyway
 * (10,000 stores of 0.55 MiB, warm: 4.6 s of CPU without, 3.4 s with). The
 * bytes and every check on them are the same. The copy is dropped when the diagnosis ends, before
 * anything is repaired; writes, and reads past the copy, go to the file.
 */
#define SNAP_MAX (4u << 20)

struct snap {
	int fd;	      /* the store's descriptor, or -1 */
	uint8_t *buf; /* its bytes [0, len) when opened, or NULL */
	size_t len;
};

static struct st_ops snap_ops; /* set by pass2_stores() before any thread */

static void snap_drop(struct snap *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
}

static int snap_open(void *ctx, const char *path, int flags, mode_t mode)
{
	struct snap *s = ctx;
	int fd = st_posix_ops.open(NULL, path, flags, mode);
	struct stat sb;
	size_t got = 0;

	if (fd < 0 || s->fd >= 0 || (flags & O_ACCMODE) != O_RDONLY)
		return fd;
	s->fd = fd;
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > (off_t)SNAP_MAX ||
	    !(s->buf = malloc((size_t)sb.st_size)))
		return fd;
	while (got < (size_t)sb.st_size) {
		ssize_t r = pread(fd, s->buf + got, (size_t)sb.st_size - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	s->len = got; /* a short or failed read: the rest from the file */
	return fd;
}

static int snap_close(void *ctx, int fd)
{
	struct snap *s = ctx;

	if (fd == s->fd) {
		snap_drop(s);
		s->fd = -1;
	}
	return st_posix_ops.close(NULL, fd);
}

static ssize_t snap_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
	struct snap *s = ctx;

	if (fd == s->fd && s->buf && off >= 0 && (uint64_t)off + len <= s->len) {
		memcpy(buf, s->buf + off, len);
		return (ssize_t)len;
	}
	return st_posix_ops.pread(NULL, fd, buf, len, off);
}

static ssize_t snap_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	struct snap *s = ctx;

	if (fd == s->fd)
		snap_drop(s);
	return st_posix_ops.pwrite(NULL, fd, buf, len, off);
}

static ssize_t snap_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	struct snap *s = ctx;

	if (fd == s->fd)
		snap_drop(s);
	return st_posix_ops.pwritev(NULL, fd, iov, iovcnt, off);
}

static int snap_ftruncate(void *ctx, int fd, off_t len)
{
	struct snap *s = ctx;

	if (fd == s->fd)
		snap_drop(s);
	return st_posix_ops.ftruncate(NULL, fd, len);
}

static void snap_ops_init(void)
{
	snap_ops = st_posix_ops;
	snap_ops.open = snap_open;
	snap_ops.close = snap_close;
	snap_ops.pread = snap_pread;
	snap_ops.pwrite = snap_pwrite;
	snap_ops.pwritev = st_posix_ops.pwritev ? snap_pwritev : NULL;
	snap_ops.ftruncate = snap_ftruncate;
}

/*
 * What checking one store finds, read-only: diagnose() fills it (in a
 * worker thread for file stores), then check_store() reports and repairs
 * in store order from it, so the output is the same whatever ran when.
 */
struct diag {
	char path[4096];
	uint64_t ino;	  /* whose store: 0 for the namespace */
	bool done;	  /* diagnose() has finished with it */
	int stat_errno;	  /* stat failed */
	off_t size;	  /* the file's size */
	int open_rc;	  /* st_open, after a retry with ST_RECOVER */
	bool recovered;	  /* only ST_RECOVER opened it */
	uint64_t bad_off; /* where the plain open found damage */
	char why[200];	  /* what is wrong with the newest version */
	char msg[256];	  /* the last failing call's message */
	st_store *st;	  /* open when open_rc is ST_OK */
	struct st_version cur;
	struct st_info info;
	struct vlist l;	 /* the version chain, newest first */
	int versions_rc; /* st_versions */
	char chain_msg[256];
	bool newest_ok;	  /* the newest version checks out in full */
	bool all_ok;	  /* -f: so does every older one */
	struct snap snap; /* the context of st's ops */
};

static void copy_msg(char *dst, size_t len)
{
	snprintf(dst, len, "%s", st_last_error()->msg);
}

/* Opens and checks the store at d->path; reports nothing, changes nothing. */
static void diagnose(const struct fsck *c, enum st_kind kind, struct diag *d)
{
	/* Without -f a check reads about a third of a store: a copy of all of
	 * it costs more than the reads it saves. */
	struct st_open_opts opts = {.ops = c->force ? &snap_ops : &st_posix_ops,
				    .ops_ctx = &d->snap};
	uint8_t id[ST_ID_SIZE];
	struct st_key key;
	struct stat sb;
	int rc;

	(void)ns_store_opts(c->sb_ok ? &c->sb : NULL, d->ino, &opts, id, &key);
	if (stat(d->path, &sb) != 0) {
		d->stat_errno = errno;
		return;
	}
	d->size = sb.st_size;
	if (sb.st_size == 0)
		return;
	d->snap.fd = -1;
	rc = st_open(d->path, kind, ST_READONLY, &opts, &d->st);
	if (rc == ST_ECORRUPT) {
		d->bad_off = st_last_error()->offset;
		copy_msg(d->why, sizeof(d->why));
		rc = st_open(d->path, kind, ST_READONLY | ST_RECOVER, &opts, &d->st);
		d->recovered = rc == ST_OK;
	}
	d->open_rc = rc;
	if (rc != ST_OK) {
		d->st = NULL;
		snap_drop(&d->snap);
		copy_msg(d->msg, sizeof(d->msg));
		return;
	}
	st_current(d->st, &d->cur);
	st_info(d->st, &d->info);
	d->versions_rc = st_versions_list(d->st, &d->l.v, &d->l.n);
	if (d->versions_rc != ST_OK)
		copy_msg(d->chain_msg, sizeof(d->chain_msg));
	/* -f: one walk of every version, which reads shared data once, and
	 * checks the newest first; the newest alone only if it finds damage. */
	if (c->force && !d->recovered && st_check(d->st, ST_CHECK_DATA | ST_CHECK_ALL) == ST_OK) {
		d->newest_ok = d->all_ok = true;
	} else {
		d->newest_ok = st_check(d->st, ST_CHECK_DATA) == ST_OK;
		if (!d->newest_ok && !d->recovered)
			copy_msg(d->why, sizeof(d->why));
	}
	snap_drop(&d->snap);
}

static void diag_release(struct diag *d)
{
	if (d->st)
		st_close(d->st);
	free(d->l.v);
	memset(d, 0, sizeof(*d));
}

/* Bytes after the newest header that are no damage: a reserve of zeros
 * (mounted or not), or, on a mounted directory, the daemon's work under
 * way. A tail that cannot be read is reported. */
static bool harmless_tail(const struct fsck *c, st_store *st)
{
	uint64_t len;
	bool zeros;

	return c->mounted || (st_tail(st, &len, &zeros) == ST_OK && zeros);
}

/* Reports (and repairs) what diagnose() found in one store, and releases
 * d. out: NULL for the namespace. Returns true if the store is usable
 * afterwards. */
static bool check_store(struct fsck *c, enum st_kind kind, struct fstore *out, struct diag *d)
{
	const char *path = d->path, *name = rel(c, path);
	const struct st_version cur = d->cur;
	const struct st_info info = d->info;
	const struct vlist l = d->l;
	st_store *st = d->st;
	bool usable = false, changed = false;
	char t1[32], t2[32], torn[160] = "";
	size_t target;

	if (d->stat_errno) {
		fsck_error(c, "%s: %s", name, strerror(d->stat_errno));
		goto out;
	}
	if (d->size == 0) {
		/* A deferred store whose first commit never happened: nothing in it
		 * was ever a version (FORMAT.md section 19, rule 5). */
		if (fsck_problem(c, PR_STORE_EMPTY, name, "an empty file")) {
			if (unlink(path) == 0) {
				fsck_fixed(c);
				if (out)
					out->removed = true;
			} else {
				fsck_unfixed(c, strerror(errno));
			}
		}
		goto out;
	}
	if (d->open_rc == ST_EVERSION) {
		fsck_problem(c, PR_STORE_NEWER, name, "%s", d->msg);
		goto out;
	}
	if (d->open_rc == ST_EKIND) {
		fsck_problem(c, PR_STORE_KIND, name, "%s", d->msg);
		goto out;
	}
	if (d->open_rc == ST_ECORRUPT) {
		/* No committed header anywhere: nothing to fall back to. */
		if (!out) {
			fsck_problem(c, PR_NS_UNUSABLE, name, "no valid header: %s", d->why);
			goto out;
		}
		if (fsck_problem(c, PR_STORE_LOST, name, "no valid header (%s); nothing to salvage",
				 d->why)) {
			if (unlink(path) == 0) {
				out->removed = true;
				fsck_fixed(c);
			} else {
				fsck_unfixed(c, strerror(errno));
			}
		}
		goto out;
	}
	if (d->open_rc != ST_OK) {
		fsck_error(c, "%s: cannot open: %s", name, d->msg);
		goto out;
	}
	if (d->versions_rc == ST_ECORRUPT)
		fsck_problem(c, PR_STORE_CHAIN, name, "below seq %llu: %s",
			     (unsigned long long)(l.n ? l.v[l.n - 1].seq : cur.seq), d->chain_msg);
	else if (d->versions_rc != ST_OK)
		fsck_error(c, "%s: cannot walk its versions: %s", name, d->chain_msg);
	if (info.torn_at != UINT64_MAX)
		snprintf(torn, sizeof(torn),
			 "a commit at offset %llu whose bytes do not match its checksum (a crash "
			 "came before its sync, or they were damaged)",
			 (unsigned long long)info.torn_at);
	if (!d->recovered && d->newest_ok) {
		usable = true;
		/* Only if the walk of every version found damage are they checked
		 * one by one, to name them. */
		if (c->force && !d->all_ok)
			for (size_t i = 1; i < l.n && !fsck_interrupted; i++)
				if (!version_ok(st, l.v[i].seq))
					fsck_problem(c, PR_STORE_OLD, name, "seq %llu (%s): %s",
						     (unsigned long long)l.v[i].seq,
						     timestr(l.v[i].time_ns, t1),
						     st_last_error()->msg);
		if (cur.offset != UINT64_MAX && info.file_bytes > cur.offset + 137 &&
		    !harmless_tail(c, st) &&
		    fsck_problem(c, PR_STORE_TAIL, name, "%llu bytes after seq %llu%s%s",
				 (unsigned long long)(info.file_bytes - cur.offset - 137),
				 (unsigned long long)cur.seq,
				 info.torn_at != UINT64_MAX ? ", among them " : "", torn)) {
			if (st_rewind(st, cur.seq) == ST_OK) {
				fsck_fixed(c);
				changed = true;
			} else {
				fsck_unfixed(c, st_last_error()->msg);
			}
		}
		goto out;
	}
	/* The newest good version: the recovered header itself if its content
	 * checks out, else the first older one that does. */
	for (target = d->newest_ok ? 0 : 1; target < l.n && !fsck_interrupted; target++)
		if (version_ok(st, l.v[target].seq))
			break;
	if (fsck_interrupted)
		goto out;
	if (target < l.n) {
		const struct st_version *g = &l.v[target];
		bool fix;

		if (d->recovered)
			fix = fsck_problem(c, PR_STORE_HEADER, name,
					   "%s; newest good version is seq %llu (%s); newer "
					   "versions are given up (damage at offset %llu)",
					   d->why, (unsigned long long)g->seq,
					   timestr(g->time_ns, t1), (unsigned long long)d->bad_off);
		else
			fix = fsck_problem(
			    c, PR_STORE_CONTENT, name,
			    "%s; newest good version is seq %llu (%s); %zu newer "
			    "versions (seq %llu to %llu, %s to %s) are given up",
			    d->why, (unsigned long long)g->seq, timestr(g->time_ns, t1), target,
			    (unsigned long long)l.v[target - 1].seq, (unsigned long long)l.v[0].seq,
			    timestr(l.v[target - 1].time_ns, t2), timestr(l.v[0].time_ns, t1));
		if (fix) {
			if (st_rewind(st, g->seq) == ST_OK) {
				fsck_fixed(c);
				changed = usable = true;
			} else {
				fsck_unfixed(c, st_last_error()->msg);
			}
		}
		goto out;
	}
	if (!out) {
		fsck_problem(c, PR_NS_UNUSABLE, name, "%s", d->why);
		goto out;
	}
	if (fsck_problem(c, PR_STORE_LOST, name,
			 "%s; rebuilding it from seq %llu drops its history", d->why,
			 (unsigned long long)cur.seq)) {
		int64_t lost = salvage(c, st, path, out->ino);

		if (lost >= 0) {
			printf("    %lld of %llu pages could not be read and are now holes\n",
			       (long long)lost,
			       (unsigned long long)((cur.size + ST_PAGE_SIZE - 1) / ST_PAGE_SIZE));
			fsck_fixed(c);
			changed = usable = true;
		} else {
			fsck_unfixed(c, "salvage failed");
		}
	}
out:
	if (!changed && usable) {
		c->versions += l.n;
		c->live_bytes += info.live_bytes;
		c->file_bytes += info.file_bytes;
		if (out) {
			out->usable = true;
			out->size = cur.offset == UINT64_MAX ? 0 : cur.size;
			out->mtime_ns = cur.mtime_ns;
			out->seq = cur.offset == UINT64_MAX ? 0 : cur.seq;
			out->bytes = cur.offset == UINT64_MAX ? 0 : cur.bytes;
		}
	}
	if (changed) {
		char again[sizeof(d->path)];

		snprintf(again, sizeof(again), "%s", path);
		diag_release(d);
		measure(c, again, kind, out);
	} else {
		diag_release(d);
	}
	return usable;
}

static bool leftover_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 8 && !strcmp(name + n - 8, ".compact")) ||
	       (n > 5 && !strcmp(name + n - 5, ".fsck"));
}

static int cmp_store(const void *a, const void *b)
{
	const struct fstore *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct fstore *fsck_store_find(struct fsck *c, uint64_t ino)
{
	struct fstore key = {.ino = ino};

	/* No stores: c->stores is NULL, which bsearch must not be given. */
	if (!c->nstores)
		return NULL;
	return bsearch(&key, c->stores, c->nstores, sizeof(key), cmp_store);
}

static int add_store(struct fsck *c, uint64_t ino)
{
	if (c->nstores == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct fstore *v = realloc(c->stores, cap * sizeof(*v));

		if (!v)
			return -1;
		c->stores = v;
		c->cap = cap;
	}
	c->stores[c->nstores++] = (struct fstore){.ino = ino};
	return 0;
}

/* Lists ino/XX/<ino>.rev into c->stores. */
static int scan(struct fsck *c)
{
	char path[4096], rel_name[300];

	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		struct dirent *e;
		DIR *d;

		ns_folder_path(c->dir, x, path, sizeof(path));
		d = opendir(path);
		if (!d) {
			if (errno == ENOENT)
				continue;
			fsck_error(c, "cannot read %s: %s", path, strerror(errno));
			return -1;
		}
		while ((e = readdir(d))) {
			uint64_t ino;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			ns_folder_path(NULL, x, rel_name, sizeof(rel_name));
			snprintf(rel_name + strlen(rel_name), sizeof(rel_name) - strlen(rel_name),
				 "%s", e->d_name);
			if (ns_store_name_parse(e->d_name, &ino) && ino % NS_FOLDERS == x) {
				if (add_store(c, ino)) {
					closedir(d);
					fsck_error(c, "out of memory");
					return -1;
				}
			} else if (!leftover_name(e->d_name)) {
				fsck_problem(c, PR_STORE_STRAY, rel_name, "left alone");
			}
		}
		closedir(d);
	}
	if (c->nstores)
		qsort(c->stores, c->nstores, sizeof(*c->stores), cmp_store);
	return 0;
}

/*
 * Asks the kernel to read store i's file ahead, whole. A store is read
 * from its end backwards (the header chain) and in pieces all over, which
 * defeats readahead: with cold caches each header would cost a seek. One
 * sequential read of the file is cheaper whenever most of it will be
 * read: with -f always, else for files up to PREFETCH_MAX. Issued a few
 * stores ahead of the checks, so the disk never waits for us.
 */
#define PREFETCH_MAX (16u << 20)

static void prefetch(const struct fsck *c, size_t i)
{
	char path[4096];
	struct stat sb;
	int fd;

	if (i >= c->nstores || ns_store_path(c->dir, c->stores[i].ino, path, sizeof(path)) != ST_OK)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && (c->force || sb.st_size <= (off_t)PREFETCH_MAX))
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

/*
 * File stores are diagnosed by NWORKERS threads, at most WINDOW stores
 * ahead of the one being reported; the main thread reports and repairs
 * them one by one in inode order. The disk then always has several stores
 * to read while the CPU verifies others (and both cores verify).
 */
#define NWORKERS 4
#define WINDOW	 (4 * NWORKERS)

struct pool {
	struct fsck *c;
	struct diag *slot; /* store i in slot[i % WINDOW] */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	size_t next;	 /* lock: the next store to diagnose */
	size_t reported; /* lock: stores the main thread is done with */
	bool stop;	 /* lock: claim no more */
	pthread_t th[NWORKERS];
	int nth;
};

/* Diagnoses store i into its slot. */
static void pool_diagnose(struct pool *p, size_t i)
{
	const struct fsck *c = p->c;
	struct diag *d = &p->slot[i % WINDOW];

	prefetch(c, i + NWORKERS);
	d->ino = c->stores[i].ino;
	if (ns_store_path(c->dir, c->stores[i].ino, d->path, sizeof(d->path)) != ST_OK) {
		snprintf(d->path, sizeof(d->path), "the store of inode %llu",
			 (unsigned long long)c->stores[i].ino);
		d->stat_errno = ENAMETOOLONG;
		return;
	}
	diagnose(c, ST_KIND_FILE, d);
}

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		size_t i;

		while (!p->stop && !fsck_interrupted && p->next < p->c->nstores &&
		       p->next >= p->reported + WINDOW)
			pthread_cond_wait(&p->cv, &p->lock);
		if (p->stop || fsck_interrupted || p->next >= p->c->nstores)
			break;
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		pool_diagnose(p, i);
		pthread_mutex_lock(&p->lock);
		p->slot[i % WINDOW].done = true;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Waits for store i's diagnosis; makes it if no worker took it (there
 * are none, or they stopped on an interrupt). */
static struct diag *pool_wait(struct pool *p, size_t i)
{
	struct diag *d = &p->slot[i % WINDOW];

	pthread_mutex_lock(&p->lock);
	while (!d->done && p->next > i)
		pthread_cond_wait(&p->cv, &p->lock);
	if (!d->done) {
		p->next = i + 1; /* == i before: every store before i was taken */
		pthread_mutex_unlock(&p->lock);
		pool_diagnose(p, i);
		return d;
	}
	pthread_mutex_unlock(&p->lock);
	return d;
}

static void pool_reported(struct pool *p, size_t i)
{
	pthread_mutex_lock(&p->lock);
	p->reported = i + 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
}

/* Stops the workers and releases what they diagnosed but nobody reported. */
static void pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	for (int t = 0; t < p->nth; t++)
		pthread_join(p->th[t], NULL);
	for (size_t i = 0; i < WINDOW; i++)
		diag_release(&p->slot[i]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p->slot);
}

/*
 * An encrypted vault without its key: each store's markers, record
 * lengths and crcs (over the sealed bytes), from its start to its newest
 * header. Nothing is authenticated; the namespace and the versions cannot
 * be read, so the check ends here, and says so.
 */
static int nokey_check(struct fsck *c)
{
	struct st_raw_report r;
	char path[4096];
	uint64_t stores = 0, records = 0;
	int rc;

	if (scan(c))
		return -1;
	for (size_t i = 0; i <= c->nstores && !fsck_interrupted; i++) {
		char rel[64];

		if (i == 0)
			snprintf(rel, sizeof(rel), "%s", NS_STORE_NAME);
		else
			ns_store_path(NULL, c->stores[i - 1].ino, rel, sizeof(rel));
		snprintf(path, sizeof(path), "%s/%s", c->dir, rel);
		rc = st_check_sealed_file(path, &r);
		if (rc == ST_ECORRUPT)
			fsck_problem(c, PR_SEALED_DAMAGE, rel, "%s", st_last_error()->msg);
		else if (rc != ST_OK)
			fsck_error(c, "%s: %s", rel, st_last_error()->msg);
		stores++;
		records += r.records + r.headers;
		if (i)
			fsck_progress(c, 2, i, c->nstores);
	}
	printf("    without the key: %llu stores, %llu records and headers checked by their "
	       "checksums; not checked: their contents, the namespace, the versions\n",
	       (unsigned long long)stores, (unsigned long long)records);
	return -1; /* nothing further can be read */
}

int pass2_stores(struct fsck *c)
{
	struct pool p = {.c = c};
	struct diag *d;

	if (c->no_key && (c->sb.incompat & NS_FEAT_SEALED))
		return nokey_check(c);

	snap_ops_init();
	if (!(d = calloc(1, sizeof(*d)))) {
		fsck_error(c, "out of memory");
		return -1;
	}
	snprintf(d->path, sizeof(d->path), "%s/%s", c->dir, NS_STORE_NAME);
	diagnose(c, ST_KIND_KV, d);
	c->ns_ok = check_store(c, ST_KIND_KV, NULL, d);
	free(d);
	if (!c->ns_ok) {
		c->fatal = true; /* nothing to check the files against */
		return -1;
	}
	if (scan(c))
		return -1;
	if (!(p.slot = calloc(WINDOW, sizeof(*p.slot)))) {
		fsck_error(c, "out of memory");
		return -1;
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (size_t i = 0; i < NWORKERS; i++)
		prefetch(c, i);
	/* No thread is no failure: the main thread then diagnoses in turn. */
	while (p.nth < NWORKERS && pthread_create(&p.th[p.nth], NULL, pool_worker, &p) == 0)
		p.nth++;
	for (size_t i = 0; i < c->nstores && !fsck_interrupted; i++) {
		check_store(c, ST_KIND_FILE, &c->stores[i], pool_wait(&p, i));
		pool_reported(&p, i);
		fsck_progress(c, 2, i + 1, c->nstores);
	}
	pool_stop(&p);
	return fsck_interrupted ? -1 : 0;
}
