/*
 * pass2_stores.c - pass 2: every store, the namespace's first.
 *
 * Checks, per store: it opens (its newest committed header is valid); the
 * newest version's tree (order, levels, reduce values, pointers) and every
 * data page it reaches (st_check with ST_CHECK_DATA); the headers of all
 * older versions along the chain (seq and time decreasing); with -f the
 * full content of every version; nothing is left after the newest header.
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
 * Relies on: pass 1 (ns.rev and ino/ exist). Leaves c->stores (file stores
 * by inode number, with their newest size) for pass 3.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"

struct vlist {
	struct st_version *v; /* newest first */
	size_t n, cap;
};

static int collect_cb(void *arg, const struct st_version *v)
{
	struct vlist *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct st_version *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return ST_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = *v;
	return 0;
}

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
static int64_t salvage(struct fsck *c, st_store *st, const char *path)
{
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
	rc = st_open(tmp, ST_KIND_FILE, ST_CREATE | ST_EXCL, NULL, &ns);
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
	struct st_version cur;
	struct st_info info;
	struct vlist l = {0};
	st_store *st;

	if (st_open(path, kind, ST_READONLY, NULL, &st) != ST_OK)
		return;
	st_current(st, &cur);
	if (st_info(st, &info) == ST_OK) {
		c->live_bytes += info.live_bytes;
		c->file_bytes += info.file_bytes;
	}
	st_versions(st, collect_cb, &l);
	c->versions += l.n;
	free(l.v);
	if (out) {
		out->usable = true;
		out->size = cur.size;
		out->mtime_ns = cur.mtime_ns;
	}
	st_close(st);
}

/* Checks (and repairs) one store. out: NULL for the namespace. Returns
 * true if the store is usable afterwards. */
static bool check_store(struct fsck *c, const char *path, enum st_kind kind, struct fstore *out)
{
	const char *name = rel(c, path);
	struct st_version cur;
	struct st_info info;
	struct vlist l = {0};
	struct stat sb;
	st_store *st = NULL;
	bool recovered = false, newest_ok, usable = false, changed = false;
	uint64_t bad_off = 0;
	char why[200] = "", t1[32], t2[32];
	size_t target;
	int rc;

	if (stat(path, &sb) != 0) {
		fsck_error(c, "%s: %s", name, strerror(errno));
		return false;
	}
	if (sb.st_size == 0) {
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
		return false;
	}
	rc = st_open(path, kind, ST_READONLY, NULL, &st);
	if (rc == ST_ECORRUPT) {
		bad_off = st_last_error()->offset;
		snprintf(why, sizeof(why), "%s", st_last_error()->msg);
		rc = st_open(path, kind, ST_READONLY | ST_RECOVER, NULL, &st);
		recovered = rc == ST_OK;
	}
	if (rc == ST_EVERSION) {
		fsck_problem(c, PR_STORE_NEWER, name, "%s", st_last_error()->msg);
		return false;
	}
	if (rc == ST_EKIND) {
		fsck_problem(c, PR_STORE_KIND, name, "%s", st_last_error()->msg);
		return false;
	}
	if (rc == ST_ECORRUPT) {
		/* No committed header anywhere: nothing to fall back to. */
		if (!out) {
			fsck_problem(c, PR_NS_UNUSABLE, name, "no valid header: %s", why);
			return false;
		}
		if (fsck_problem(c, PR_STORE_LOST, name, "no valid header (%s); nothing to salvage",
				 why)) {
			if (unlink(path) == 0) {
				out->removed = true;
				fsck_fixed(c);
			} else {
				fsck_unfixed(c, strerror(errno));
			}
		}
		return false;
	}
	if (rc != ST_OK) {
		fsck_error(c, "%s: cannot open: %s", name, st_last_error()->msg);
		return false;
	}
	st_current(st, &cur);
	st_info(st, &info);
	rc = st_versions(st, collect_cb, &l);
	if (rc == ST_ECORRUPT)
		fsck_problem(c, PR_STORE_CHAIN, name, "below seq %llu: %s",
			     (unsigned long long)(l.n ? l.v[l.n - 1].seq : cur.seq),
			     st_last_error()->msg);
	else if (rc != ST_OK)
		fsck_error(c, "%s: cannot walk its versions: %s", name, st_last_error()->msg);
	rc = st_check(st, ST_CHECK_DATA);
	newest_ok = rc == ST_OK;
	if (!newest_ok && !recovered)
		snprintf(why, sizeof(why), "%s", st_last_error()->msg);
	if (!recovered && newest_ok) {
		usable = true;
		/* One walk of every version reads shared data once; only if it
		 * finds damage are the versions checked one by one, to name them. */
		if (c->force && st_check(st, ST_CHECK_DATA | ST_CHECK_ALL) != ST_OK)
			for (size_t i = 1; i < l.n && !fsck_interrupted; i++)
				if (!version_ok(st, l.v[i].seq))
					fsck_problem(c, PR_STORE_OLD, name, "seq %llu (%s): %s",
						     (unsigned long long)l.v[i].seq,
						     timestr(l.v[i].time_ns, t1),
						     st_last_error()->msg);
		if (cur.offset != UINT64_MAX && info.file_bytes > cur.offset + 137 &&
		    fsck_problem(c, PR_STORE_TAIL, name, "%llu bytes after seq %llu",
				 (unsigned long long)(info.file_bytes - cur.offset - 137),
				 (unsigned long long)cur.seq)) {
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
	for (target = newest_ok ? 0 : 1; target < l.n && !fsck_interrupted; target++)
		if (version_ok(st, l.v[target].seq))
			break;
	if (fsck_interrupted)
		goto out;
	if (target < l.n) {
		const struct st_version *g = &l.v[target];
		bool fix;

		if (recovered)
			fix = fsck_problem(c, PR_STORE_HEADER, name,
					   "%s; newest good version is seq %llu (%s); newer "
					   "versions are given up (damage at offset %llu)",
					   why, (unsigned long long)g->seq, timestr(g->time_ns, t1),
					   (unsigned long long)bad_off);
		else
			fix = fsck_problem(
			    c, PR_STORE_CONTENT, name,
			    "%s; newest good version is seq %llu (%s); %zu newer "
			    "versions (seq %llu to %llu, %s to %s) are given up",
			    why, (unsigned long long)g->seq, timestr(g->time_ns, t1), target,
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
		fsck_problem(c, PR_NS_UNUSABLE, name, "%s", why);
		goto out;
	}
	if (fsck_problem(c, PR_STORE_LOST, name,
			 "%s; rebuilding it from seq %llu drops its history", why,
			 (unsigned long long)cur.seq)) {
		int64_t lost = salvage(c, st, path);

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
		}
	}
	free(l.v);
	st_close(st);
	if (changed)
		measure(c, path, kind, out);
	return usable;
}

/* "<digits>.rev" with no leading zero; *ino its number. */
static bool store_name(const char *name, uint64_t *ino)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (strcmp(p, ".rev"))
		return false;
	*ino = v;
	return true;
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

	for (unsigned x = 0; x < 256; x++) {
		struct dirent *e;
		DIR *d;

		snprintf(path, sizeof(path), "%s/ino/%02x", c->dir, x);
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
			snprintf(rel_name, sizeof(rel_name), "ino/%02x/%s", x, e->d_name);
			if (store_name(e->d_name, &ino) && (ino & 0xff) == x) {
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
 * Asks the kernel to read store ino's file ahead, whole. A store is read
 * from its end backwards (the header chain) and in pieces all over, which
 * defeats readahead: with cold caches each header would cost a seek. One
 * sequential read of the file is cheaper whenever most of it will be
 * read: with -f always, else for files up to PREFETCH_MAX. Issued for the
 * next store while this one is checked, so the disk never waits for us.
 */
#define PREFETCH_MAX (16u << 20)

static void prefetch(struct fsck *c, size_t i)
{
	char path[4096];
	struct stat sb;
	int fd;

	if (i >= c->nstores ||
	    st_ns_store_path(c->dir, c->stores[i].ino, path, sizeof(path)) != ST_OK)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && (c->force || sb.st_size <= (off_t)PREFETCH_MAX))
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

int pass2_stores(struct fsck *c)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", c->dir, ST_NS_NAME);
	c->ns_ok = check_store(c, path, ST_KIND_KV, NULL);
	if (!c->ns_ok) {
		c->fatal = true; /* nothing to check the files against */
		return -1;
	}
	if (scan(c))
		return -1;
	prefetch(c, 0);
	for (size_t i = 0; i < c->nstores && !fsck_interrupted; i++) {
		struct fstore *s = &c->stores[i];

		prefetch(c, i + 1);
		if (st_ns_store_path(c->dir, s->ino, path, sizeof(path)) != ST_OK)
			continue;
		check_store(c, path, ST_KIND_FILE, s);
		fsck_progress(c, 2, i + 1, c->nstores);
	}
	return fsck_interrupted ? -1 : 0;
}
