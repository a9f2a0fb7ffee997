/*
 * crash_writer.c - the workload and the checker of tests/test_crash.sh.
 *
 *   crash_writer init ROOT STATE
 *   crash_writer write [-s SEED] [-t SECONDS] ROOT STATE LOG
 *   crash_writer check [-k KILL_NS] [-a AGE_MS] ROOT STATE LOG NEWSTATE
 *
 * "write" works under ROOT, a directory in the mount: it makes, moves and
 * removes files and directories, writes, appends, overwrites ranges, makes
 * holes and truncates, and fsyncs at chosen points. A byte written is a
 * function of (generation, offset), generations never repeat, and pattern
 * bytes are never zero, so any byte of any file can be judged on its own.
 * Before each operation it appends an intent record to LOG (outside the
 * mount); after each fsync that returned it appends what is now guaranteed
 * (path, size, crc) and fdatasyncs LOG. It stops at the first error, which
 * is what a killed daemon gives it. Half of its fsyncs also fsync the parent
 * directories with new entries; the other half rely on the promise that an
 * fsync of a file alone keeps the names leading to it (CRASH_DIRSYNC=always
 * makes it fsync the parents every time).
 *
 * "check" starts from STATE (what the previous check found, all of it
 * durable), replays LOG to know what was guaranteed and what was in flight,
 * then walks ROOT on a fresh mount and proves:
 *   - every guaranteed file and directory is there, at its guaranteed place
 *     or at a place a later, unsynced rename gave it, with its guaranteed
 *     bytes or bytes of later, unsynced writes;
 *   - every byte of every file is the guaranteed byte, a byte some unsynced
 *     write put at that offset, or a zero of a hole the writer made;
 *   - nothing is in two places, nothing unknown is there, nothing removed
 *     with a guarantee is back, every file and directory reads;
 *   - with -k, everything done AGE_MS before the kill is there even without
 *     fsync (the flush interval bound), and the writer met no error before
 *     the kill.
 * It then writes NEWSTATE: the tree exactly as found, where the next
 * iteration starts.
 *
 * Exit status: 0 pass; 1 the filesystem broke a promise; 2 a problem of the
 * test itself; the writer exits 3 on ENOTCONN/EIO/ECONNABORTED/ENODEV (a dead
 * daemon) and 4 on any other error of the filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAMELEN	  48
#define PATHLEN	  1024
#define FILE_MAX  (1u << 20)  /* no write goes past this offset */
#define TOTAL_MAX (24u << 20) /* above this, the writer shrinks the tree */
#define MAX_FILES 48
#define MAX_DIRS  14
#define MAX_DEPTH 4 /* directories below ROOT */
#define MAX_OPEN  6 /* files the writer keeps open at once */
#define MAX_CAND  16
#define CHUNK	  65536
#define UNRES	  UINT64_MAX

enum { EX_OK = 0, EX_BAD = 1, EX_INTERNAL = 2, EX_FSDEAD = 3, EX_FSERR = 4 };
enum { GL_NONE, GL_AT, GL_GONE };

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "crash_writer: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EX_INTERNAL);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		fatal("out of memory");
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

/* ---- content: byte = f(generation, offset), never 0; generation 0 = zeros */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void fill(uint8_t *p, uint64_t gen, uint64_t off, size_t len)
{
	uint64_t seed = mix64(gen);
	size_t i = 0;

	if (gen == 0) {
		memset(p, 0, len);
		return;
	}
	while (i < len) {
		uint64_t o = off + i;
		uint64_t w = mix64(seed ^ ((o >> 3) * 0x9e3779b97f4a7c15ULL));

		for (unsigned k = o & 7; k < 8 && i < len; k++, i++) {
			uint8_t b = (uint8_t)(w >> (8 * k));
			/* Non-zero, so that a zero can only come from a hole. */
			p[i] = b ? b : 0x5a;
		}
	}
}

static uint32_t crc_table[256];

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	if (!crc_table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- extents: [a, b) holds the pattern of gen; a list covers [0, size) */

struct ext {
	uint64_t a, b, gen;
};

struct exts {
	struct ext *v;
	size_t n, cap;
};

static void ex_push(struct exts *x, uint64_t a, uint64_t b, uint64_t gen)
{
	if (a >= b)
		return;
	if (x->n && x->v[x->n - 1].gen == gen && x->v[x->n - 1].b == a) {
		x->v[x->n - 1].b = b;
		return;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 8;
		x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
	}
	x->v[x->n++] = (struct ext){a, b, gen};
}

/* Appends the part of x inside [lo, hi) to y. */
static void ex_clip_into(struct exts *y, const struct exts *x, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < x->n; i++) {
		uint64_t a = x->v[i].a > lo ? x->v[i].a : lo;
		uint64_t b = x->v[i].b < hi ? x->v[i].b : hi;
		ex_push(y, a, b, x->v[i].gen);
	}
}

/* Content of size `size` gets [a, b) = gen; a gap before a becomes zeros. */
static void ex_write(struct exts *x, uint64_t size, uint64_t a, uint64_t b, uint64_t gen)
{
	struct exts y = {0};

	ex_clip_into(&y, x, 0, a);
	if (a > size)
		ex_push(&y, size, a, 0);
	ex_push(&y, a, b, gen);
	ex_clip_into(&y, x, b, UINT64_MAX);
	free(x->v);
	*x = y;
}

static void ex_trunc(struct exts *x, uint64_t size, uint64_t newsize)
{
	struct exts y = {0};

	if (newsize >= size) {
		ex_push(x, size, newsize, 0);
		return;
	}
	ex_clip_into(&y, x, 0, newsize);
	free(x->v);
	*x = y;
}

static void ex_copy(struct exts *dst, const struct exts *src)
{
	dst->n = 0;
	ex_clip_into(dst, src, 0, UINT64_MAX);
}

static uint32_t ex_crc(const struct exts *x)
{
	static uint8_t buf[CHUNK];
	uint32_t crc = 0;

	for (size_t i = 0; i < x->n; i++) {
		for (uint64_t o = x->v[i].a; o < x->v[i].b; o += CHUNK) {
			size_t n = x->v[i].b - o < CHUNK ? x->v[i].b - o : CHUNK;
			fill(buf, x->v[i].gen, o, n);
			crc = crc32_update(crc, buf, n);
		}
	}
	return crc;
}

/* ---- the model: directories and files, by id; id 0 is ROOT */

struct loc {
	long parent;
	char name[NAMELEN];
};

struct obj {
	bool known, live, isdir;
	long parent;
	char name[NAMELEN];
	uint64_t size;
	struct exts ext;
	/* writer: open fd; dir: entries changed since its last fsync */
	int fd;
	bool dirty;
	/*
	 * checker: the last guaranteed state (place, content) and everything
	 * done after it, which may or may not have reached the store.
	 */
	int gloc;
	struct loc g;
	struct loc *since;
	size_t nsince, capsince;
	bool since_gone;
	uint64_t gsize, low, high; /* low..high: sizes the file may have */
	struct exts gext;
	struct ext *wr; /* writes after the guarantee; gen 0: a hole made */
	size_t nwr, capwr;
	uint64_t gseq; /* record that gave the guarantee, for messages */
	/* checker: where it was found and what it holds */
	int nfound;
	long fparent;
	char fname[NAMELEN];
	char fpath[PATHLEN];
	uint64_t fsize;
	struct exts fext;
	long ffound; /* its entry in the found files */
};

static struct obj *objs;
static long nobj;
static long next_id = 1;
static uint64_t next_gen = 1;
static bool tracking; /* checker: record what comes after each guarantee */

static struct obj *obj_at(long id)
{
	if (id < 0 || id > 100000000)
		fatal("bad object id %ld", id);
	if (id >= nobj) {
		long n = nobj ? nobj : 64;
		while (n <= id)
			n *= 2;
		objs = xrealloc(objs, (size_t)n * sizeof(*objs));
		memset(objs + nobj, 0, (size_t)(n - nobj) * sizeof(*objs));
		for (long i = nobj; i < n; i++)
			objs[i].fd = -1;
		nobj = n;
	}
	return &objs[id];
}

static struct obj *live_obj(long id)
{
	struct obj *o = obj_at(id);

	if (!o->live)
		fatal("object %ld is not there in the model", id);
	return o;
}

static long lookup(long parent, const char *name)
{
	for (long i = 0; i < nobj; i++)
		if (objs[i].live && objs[i].parent == parent && !strcmp(objs[i].name, name))
			return i;
	return -1;
}

/* src may be dst itself (a move that keeps the name). */
static void set_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= NAMELEN)
		fatal("name too long: %s", src);
	memmove(dst, src, n + 1);
}

static void path_of(long id, char *buf, size_t len)
{
	long chain[64];
	int n = 0;
	size_t pos = 0;

	if (id == 0) {
		snprintf(buf, len, ".");
		return;
	}
	for (long x = id; x != 0; x = objs[x].parent) {
		if (n == 64 || x < 0)
			fatal("object %ld: broken parent chain", id);
		chain[n++] = x;
	}
	buf[0] = 0;
	for (int i = n - 1; i >= 0; i--) {
		int k = snprintf(buf + pos, len - pos, "%s%s", pos ? "/" : "", objs[chain[i]].name);
		if (k < 0 || (size_t)k >= len - pos)
			fatal("path too long");
		pos += (size_t)k;
	}
}

static void child_path(long parent, const char *name, char *buf, size_t len)
{
	char p[PATHLEN];
	int k;

	path_of(parent, p, sizeof(p));
	k = parent == 0 ? snprintf(buf, len, "%s", name) : snprintf(buf, len, "%s/%s", p, name);
	if (k < 0 || (size_t)k >= len)
		fatal("path too long");
}

static int depth_of(long id)
{
	int d = 0;

	for (long x = id; x != 0; x = objs[x].parent)
		d++;
	return d;
}

/* The largest number in a name, so that names never repeat across runs. */
static void note_name(const char *name)
{
	for (const char *p = name; *p; p++) {
		if (*p >= '0' && *p <= '9' && (p == name || p[-1] < '0' || p[-1] > '9')) {
			long v = strtol(p, NULL, 10);
			if (v >= next_id)
				next_id = v + 1;
		}
	}
}

static void t_loc(struct obj *o)
{
	if (!tracking)
		return;
	if (o->nsince == o->capsince) {
		o->capsince = o->capsince ? 2 * o->capsince : 4;
		o->since = xrealloc(o->since, o->capsince * sizeof(*o->since));
	}
	o->since[o->nsince].parent = o->parent;
	set_name(o->since[o->nsince].name, o->name);
	o->nsince++;
}

static void t_wr(struct obj *o, uint64_t a, uint64_t b, uint64_t gen)
{
	if (!tracking || a >= b)
		return;
	if (o->nwr == o->capwr) {
		o->capwr = o->capwr ? 2 * o->capwr : 8;
		o->wr = xrealloc(o->wr, o->capwr * sizeof(*o->wr));
	}
	o->wr[o->nwr++] = (struct ext){a, b, gen};
}

static struct obj *m_new(long id, long parent, const char *name, bool isdir)
{
	struct obj *o = obj_at(id);

	if (o->known)
		fatal("object id %ld used twice", id);
	live_obj(parent);
	if (lookup(parent, name) >= 0)
		fatal("name %s taken in %ld", name, parent);
	o->known = o->live = true;
	o->isdir = isdir;
	o->parent = parent;
	set_name(o->name, name);
	o->size = 0;
	o->gloc = GL_NONE;
	o->gsize = o->low = o->high = 0;
	if (id >= next_id)
		next_id = id + 1;
	note_name(name);
	t_loc(o);
	return o;
}

static void m_write(long id, uint64_t gen, uint64_t off, uint64_t len)
{
	struct obj *o = live_obj(id);
	uint64_t end = off + len;

	if (o->isdir || !len)
		fatal("bad write to %ld", id);
	if (off > o->size)
		t_wr(o, o->size, off, 0);
	ex_write(&o->ext, o->size, off, end, gen);
	if (end > o->size)
		o->size = end;
	t_wr(o, off, end, gen);
	if (o->size > o->high)
		o->high = o->size;
	if (gen >= next_gen)
		next_gen = gen + 1;
}

static void m_trunc(long id, uint64_t size)
{
	struct obj *o = live_obj(id);

	if (o->isdir)
		fatal("truncate of directory %ld", id);
	if (size > o->size)
		t_wr(o, o->size, size, 0);
	ex_trunc(&o->ext, o->size, size);
	o->size = size;
	if (tracking && size < o->low)
		o->low = size;
	if (size > o->high)
		o->high = size;
}

/* Returns the object the rename replaced, or -1. */
static long m_rename(long id, long np, const char *nn)
{
	struct obj *o = live_obj(id);
	long victim = lookup(np, nn);

	live_obj(np);
	if (victim == id)
		fatal("rename of %ld onto itself", id);
	if (victim >= 0) {
		if (objs[victim].isdir || o->isdir)
			fatal("rename over a directory");
		objs[victim].live = false;
		if (tracking)
			objs[victim].since_gone = true;
	}
	for (long x = np; x != 0; x = objs[x].parent)
		if (x == id)
			fatal("rename of %ld into itself", id);
	o->parent = np;
	set_name(o->name, nn);
	note_name(nn);
	t_loc(o);
	return victim;
}

static void m_remove(long id)
{
	struct obj *o = live_obj(id);

	if (o->isdir)
		for (long i = 0; i < nobj; i++)
			if (objs[i].live && objs[i].parent == id && i != 0)
				fatal("rmdir of non-empty %ld", id);
	o->live = false;
	if (tracking)
		o->since_gone = true;
}

/* ---- state files: the tree as a check found it */

static void root_init(void)
{
	struct obj *r = obj_at(0);

	r->known = r->live = r->isdir = true;
	r->parent = -1;
	strcpy(r->name, ".");
	r->gloc = GL_AT;
	r->g.parent = -1;
	strcpy(r->g.name, ".");
}

static void state_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f)
		fatal("%s: %s", path, strerror(errno));
	root_init();
	while ((len = getline(&line, &cap, f)) > 0) {
		char name[NAMELEN + 8];
		long id, parent;
		uint64_t size, n;
		int pos = 0;

		if (line[0] == '#')
			continue;
		if (sscanf(line, "next %ld %" SCNu64, &id, &size) == 2) {
			next_id = id > next_id ? id : next_id;
			next_gen = size > next_gen ? size : next_gen;
		} else if (sscanf(line, "d %ld %ld %55s", &id, &parent, name) == 3) {
			m_new(id, parent, name, true);
		} else if (sscanf(line, "f %ld %ld %55s %" SCNu64 " %" SCNu64 "%n", &id, &parent,
				  name, &size, &n, &pos) == 5) {
			struct obj *o = m_new(id, parent, name, false);
			const char *p = line + pos;
			uint64_t at = 0;

			for (uint64_t i = 0; i < n; i++) {
				uint64_t l, gen;
				int k = 0;
				if (sscanf(p, " %" SCNu64 ":%" SCNu64 "%n", &l, &gen, &k) != 2)
					fatal("%s: bad extent in: %s", path, line);
				p += k;
				ex_push(&o->ext, at, at + l, gen);
				at += l;
			}
			if (at != size)
				fatal("%s: extents do not cover file %ld", path, id);
			o->size = size;
		} else {
			fatal("%s: bad line: %s", path, line);
		}
	}
	free(line);
	fclose(f);
	/* Everything in a state file was read back from a fresh mount. */
	for (long i = 0; i < nobj; i++) {
		struct obj *o = &objs[i];
		if (!o->live)
			continue;
		o->gloc = GL_AT;
		o->g.parent = o->parent;
		set_name(o->g.name, o->name);
		o->nsince = 0;
		o->gsize = o->low = o->high = o->size;
		ex_copy(&o->gext, &o->ext);
	}
}

/* Writes the objects that were found (checker) or are live (init). */
static void state_save(const char *path, bool found)
{
	char tmp[PATHLEN];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		fatal("%s: %s", tmp, strerror(errno));
	fprintf(f, "# crash_writer state: the tree under ROOT as last found\n");
	fprintf(f, "next %ld %" PRIu64 "\n", next_id, next_gen);
	/* Directories first, parents before children, so a load can check. */
	for (int d = 1; d <= MAX_DEPTH + 2; d++) {
		for (long i = 1; i < nobj; i++) {
			struct obj *o = &objs[i];
			bool here = found ? o->nfound == 1 : o->live;
			if (!here || !o->isdir)
				continue;
			long parent = found ? o->fparent : o->parent;
			int depth = 1;
			for (long x = parent; x > 0; x = found ? objs[x].fparent : objs[x].parent)
				depth++;
			if (depth == d)
				fprintf(f, "d %ld %ld %s\n", i, parent, found ? o->fname : o->name);
		}
	}
	for (long i = 1; i < nobj; i++) {
		struct obj *o = &objs[i];
		bool here = found ? o->nfound == 1 : o->live;
		const struct exts *x = found ? &o->fext : &o->ext;
		if (!here || o->isdir)
			continue;
		fprintf(f, "f %ld %ld %s %" PRIu64 " %zu", i, found ? o->fparent : o->parent,
			found ? o->fname : o->name, found ? o->fsize : o->size, x->n);
		for (size_t k = 0; k < x->n; k++)
			fprintf(f, " %" PRIu64 ":%" PRIu64, x->v[k].b - x->v[k].a, x->v[k].gen);
		fputc('\n', f);
	}
	if (fflush(f) || ferror(f) || fclose(f))
		fatal("%s: write failed", tmp);
	if (rename(tmp, path))
		fatal("rename %s: %s", tmp, strerror(errno));
}

/* ---- writer */

static int rootfd = -1;
static int logfd = -1;
static uint64_t seq;
static uint64_t nops, nsyncs;
static uint8_t *wbuf;
static long open_ids[MAX_OPEN];
static int nopen;
static bool dirsync_only; /* CRASH_DIRSYNC=always: always fsync the parents too */

static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void rec(const char *fmt, ...)
{
	char line[PATHLEN + 256];
	va_list ap;
	int n, k;

	n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " ", ++seq, now_ns());
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)(n + k) >= sizeof(line) - 1)
		fatal("log record too long");
	n += k;
	line[n++] = '\n';
	if (write(logfd, line, (size_t)n) != n)
		fatal("log write: %s", strerror(errno));
}

static void fs_error(const char *what, long id) __attribute__((noreturn));

static void fs_error(const char *what, long id)
{
	int e = errno;

	rec("stop %d %s", e, what);
	fdatasync(logfd);
	fprintf(stderr,
		"crash_writer: stopped after %" PRIu64 " ops, %" PRIu64 " syncs: %s of %ld: %s\n",
		nops, nsyncs, what, id, strerror(e));
	exit(e == ENOTCONN || e == EIO || e == ECONNABORTED || e == ENODEV ? EX_FSDEAD : EX_FSERR);
}

static void close_fd(long id)
{
	struct obj *o = &objs[id];
	int r;

	if (o->fd < 0)
		return;
	for (int i = 0; i < nopen; i++) {
		if (open_ids[i] == id) {
			open_ids[i] = open_ids[--nopen];
			break;
		}
	}
	r = close(o->fd);
	o->fd = -1;
	if (r)
		fs_error("close", id);
}

static void keep_fd(long id, int fd)
{
	if (nopen == MAX_OPEN)
		close_fd(open_ids[rnd(MAX_OPEN)]);
	objs[id].fd = fd;
	open_ids[nopen++] = id;
}

static int file_fd(long id)
{
	char path[PATHLEN];
	int fd;

	if (objs[id].fd >= 0)
		return objs[id].fd;
	path_of(id, path, sizeof(path));
	fd = openat(rootfd, path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fs_error("open", id);
	keep_fd(id, fd);
	return fd;
}

/* A random live object: dirs or files, root included or not. */
static long pick(bool dir, bool with_root, int max_depth)
{
	long n = 0, chosen = -1;

	for (long i = with_root ? 0 : 1; i < nobj; i++) {
		if (!objs[i].live || objs[i].isdir != dir)
			continue;
		if (dir && depth_of(i) > max_depth)
			continue;
		if (rnd((uint64_t)++n) == 0)
			chosen = i;
	}
	return chosen;
}

static void count(long *files, long *dirs, uint64_t *bytes)
{
	*files = *dirs = 0;
	*bytes = 0;
	for (long i = 1; i < nobj; i++) {
		if (!objs[i].live)
			continue;
		if (objs[i].isdir) {
			++*dirs;
		} else {
			++*files;
			*bytes += objs[i].size;
		}
	}
}

static uint64_t rnd_len(void)
{
	uint64_t r = rnd(100);

	if (r < 60)
		return 1 + rnd(4096);
	if (r < 90)
		return 4096 + rnd(60 * 1024);
	return 65536 + rnd(448 * 1024);
}

static void do_write(long id, uint64_t off, uint64_t len)
{
	uint64_t gen;
	size_t done = 0;
	int fd;

	if (off >= FILE_MAX)
		off = rnd(FILE_MAX / 2);
	if (len > FILE_MAX - off)
		len = FILE_MAX - off;
	if (!len)
		len = 1;
	fd = file_fd(id);
	gen = next_gen++;
	rec("write %ld %" PRIu64 " %" PRIu64 " %" PRIu64, id, gen, off, len);
	fill(wbuf, gen, off, len);
	while (done < len) {
		ssize_t n = pwrite(fd, wbuf + done, len - done, (off_t)(off + done));
		if (n < 0)
			fs_error("write", id);
		if (n == 0) {
			errno = EIO;
			fs_error("write (no progress)", id);
		}
		done += (size_t)n;
	}
	m_write(id, gen, off, len);
	objs[id].dirty = true;
}

static void fsync_dir(long d)
{
	char path[PATHLEN];
	int fd;

	path_of(d, path, sizeof(path));
	fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fs_error("open dir", d);
	rec("sync %ld dir", d);
	if (fsync(fd)) {
		int e = errno;
		close(fd);
		errno = e;
		fs_error("fsync dir", d);
	}
	if (close(fd))
		fs_error("close dir", d);
	objs[d].dirty = false;
}

/* The directories on the way to id whose entries changed since last fsync. */
static void fsync_parents(long id)
{
	for (long x = objs[id].parent; x >= 0; x = objs[x].parent)
		if (objs[x].dirty)
			fsync_dir(x);
}

static void guarantee_path(long id)
{
	struct obj *o = &objs[id];
	char path[PATHLEN];

	path_of(id, path, sizeof(path));
	rec("G path %ld %" PRIu64 " %08x %s", id, o->size, o->isdir ? 0u : ex_crc(&o->ext), path);
	if (fdatasync(logfd))
		fatal("log fdatasync: %s", strerror(errno));
	nsyncs++;
}

static void guarantee_gone(long id)
{
	rec("G gone %ld", id);
	if (fdatasync(logfd))
		fatal("log fdatasync: %s", strerror(errno));
	nsyncs++;
}

/*
 * fsync (or fdatasync) of a file. The contract says that this alone keeps
 * the names leading to the file; half the time the writer also fsyncs the
 * parents with new entries, as careful programs do, so both are exercised.
 */
static void sync_file(long id)
{
	bool parents = dirsync_only || rnd(2);
	bool data = rnd(3) == 0;
	int fd = file_fd(id);

	rec("sync %ld %s%s", id, data ? "fdatasync" : "fsync", parents ? "+parents" : "");
	if (data ? fdatasync(fd) : fsync(fd))
		fs_error(data ? "fdatasync" : "fsync", id);
	if (parents)
		fsync_parents(id);
	objs[id].dirty = false;
	guarantee_path(id);
}

static void sync_dir(long d)
{
	fsync_dir(d);
	if (dirsync_only || rnd(2))
		fsync_parents(d);
	guarantee_path(d);
}

static long op_create(long p, bool with_data)
{
	char name[NAMELEN], path[PATHLEN];
	long id = next_id++;
	int fd;

	snprintf(name, sizeof(name), "f%ld", id);
	child_path(p, name, path, sizeof(path));
	rec("create %ld %ld %s", id, p, name);
	fd = openat(rootfd, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		fs_error("create", id);
	m_new(id, p, name, false);
	keep_fd(id, fd);
	objs[p].dirty = true;
	if (with_data)
		do_write(id, 0, rnd_len());
	return id;
}

static void op_trunc(long id)
{
	uint64_t size = objs[id].size, ns;
	uint64_t r = rnd(10);
	int fd = file_fd(id);

	if (r < 5)
		ns = rnd(size + 1);
	else if (r < 8)
		ns = size + 1 + rnd(131072);
	else
		ns = rnd(size + 1) & ~(uint64_t)4095;
	if (ns > FILE_MAX)
		ns = FILE_MAX;
	rec("trunc %ld %" PRIu64, id, ns);
	if (ftruncate(fd, (off_t)ns))
		fs_error("truncate", id);
	m_trunc(id, ns);
	objs[id].dirty = true;
}

static void do_rename(long id, long np, const char *nn)
{
	char from[PATHLEN], to[PATHLEN];
	long victim = lookup(np, nn);
	long op = objs[id].parent;

	path_of(id, from, sizeof(from));
	child_path(np, nn, to, sizeof(to));
	if (victim >= 0)
		close_fd(victim);
	rec("rename %ld %ld %s %ld", id, np, nn, victim);
	if (renameat(rootfd, from, rootfd, to))
		fs_error("rename", id);
	m_rename(id, np, nn);
	objs[op].dirty = objs[np].dirty = true;
}

static void op_move_file(long id)
{
	char name[NAMELEN];
	long np = pick(true, true, MAX_DEPTH);

	if (np == objs[id].parent || rnd(3) == 0)
		snprintf(name, sizeof(name), "f%ld.%ld", id, next_id++);
	else
		set_name(name, objs[id].name);
	do_rename(id, np, name);
	if (rnd(3) == 0)
		sync_file(id);
}

/* The careful way to replace a file: new file, fsync, rename over, fsync. */
static void op_replace(long old)
{
	long p = objs[old].parent;
	long n = op_create(p, false);
	bool parents = dirsync_only || rnd(2);
	char name[NAMELEN];

	if (rnd(6))
		do_write(n, 0, rnd_len());
	if (rnd(10) < 7)
		sync_file(n);
	set_name(name, objs[old].name);
	do_rename(n, p, name);
	if (rnd(5) == 0)
		return;
	if (parents) {
		if (objs[n].dirty) {
			rec("sync %ld fsync", n);
			if (fsync(file_fd(n)))
				fs_error("fsync", n);
			objs[n].dirty = false;
		}
		fsync_dir(p);
		fsync_parents(p);
		guarantee_gone(old);
		guarantee_path(n);
	} else {
		sync_file(n);
	}
}

static void op_unlink(long id)
{
	char path[PATHLEN];
	long p = objs[id].parent;

	close_fd(id);
	path_of(id, path, sizeof(path));
	rec("unlink %ld", id);
	if (unlinkat(rootfd, path, 0))
		fs_error("unlink", id);
	m_remove(id);
	objs[p].dirty = true;
	if (rnd(5) < 2) {
		fsync_dir(p);
		guarantee_gone(id);
	}
}

static void op_mkdir(void)
{
	char name[NAMELEN], path[PATHLEN];
	long p = pick(true, true, MAX_DEPTH - 1);
	long id = next_id++;

	snprintf(name, sizeof(name), "d%ld", id);
	child_path(p, name, path, sizeof(path));
	rec("mkdir %ld %ld %s", id, p, name);
	if (mkdirat(rootfd, path, 0755))
		fs_error("mkdir", id);
	m_new(id, p, name, true);
	objs[p].dirty = true;
	if (rnd(3) == 0)
		sync_dir(id);
}

static bool dir_empty(long d)
{
	for (long i = 1; i < nobj; i++)
		if (objs[i].live && objs[i].parent == d)
			return false;
	return true;
}

static void op_rmdir(void)
{
	char path[PATHLEN];
	long d = -1, n = 0;

	for (long i = 1; i < nobj; i++)
		if (objs[i].live && objs[i].isdir && dir_empty(i) && rnd((uint64_t)++n) == 0)
			d = i;
	if (d < 0)
		return;
	path_of(d, path, sizeof(path));
	rec("rmdir %ld", d);
	if (unlinkat(rootfd, path, AT_REMOVEDIR))
		fs_error("rmdir", d);
	m_remove(d);
	objs[objs[d].parent].dirty = true;
	if (rnd(5) < 2) {
		fsync_dir(objs[d].parent);
		guarantee_gone(d);
	}
}

static int height_of(long d)
{
	int h = 0;

	for (long i = 1; i < nobj; i++)
		if (objs[i].live && objs[i].isdir && objs[i].parent == d) {
			int k = height_of(i);
			if (k > h)
				h = k;
		}
	return h + 1;
}

static bool inside(long x, long d)
{
	for (; x > 0; x = objs[x].parent)
		if (x == d)
			return true;
	return false;
}

static void op_move_dir(void)
{
	long d = pick(true, false, MAX_DEPTH);
	long np;

	if (d < 0)
		return;
	np = pick(true, true, MAX_DEPTH - height_of(d));
	if (np < 0 || np == objs[d].parent || inside(np, d))
		return;
	do_rename(d, np, objs[d].name);
	if (rnd(3) == 0)
		sync_dir(d);
}

static void step(void)
{
	long files, dirs, f;
	uint64_t bytes;
	uint64_t r = rnd(100);

	count(&files, &dirs, &bytes);
	f = pick(false, false, 0);
	if (f < 0 || (r < 14 && files < MAX_FILES)) {
		f = op_create(pick(true, true, MAX_DEPTH), rnd(5) != 0);
	} else if (bytes > TOTAL_MAX || files > MAX_FILES) {
		if (rnd(2))
			op_unlink(f);
		else
			op_trunc(f);
		f = -1;
	} else if (r < 32) {
		do_write(f, objs[f].size ? rnd(objs[f].size) & (rnd(3) ? ~0ull : ~4095ull) : 0,
			 rnd_len());
	} else if (r < 46) {
		do_write(f, objs[f].size, rnd_len());
	} else if (r < 50) {
		do_write(f, objs[f].size + 1 + rnd(131072), rnd_len());
	} else if (r < 58) {
		op_trunc(f);
	} else if (r < 66) {
		op_move_file(f);
		f = -1;
	} else if (r < 71) {
		op_replace(f);
		f = -1;
	} else if (r < 78) {
		op_unlink(f);
		f = -1;
	} else if (r < 83) {
		if (dirs < MAX_DIRS)
			op_mkdir();
		f = -1;
	} else if (r < 86) {
		op_rmdir();
		f = -1;
	} else if (r < 90) {
		op_move_dir();
		f = -1;
	} else if (r < 93) {
		sync_dir(pick(true, true, MAX_DEPTH));
		f = -1;
	} else if (r < 95) {
		/* Closing sends the kernel's cached writes on their way. */
		if (nopen)
			close_fd(open_ids[rnd((uint64_t)nopen)]);
		f = -1;
	} else {
		do_write(f, rnd(objs[f].size + 1), rnd_len());
	}
	nops++;
	if (f >= 0 && objs[f].live && rnd(10) < 3)
		sync_file(f);
}

static int cmd_write(int argc, char **argv)
{
	uint64_t seed = (uint64_t)now_ns();
	double secs = 60;
	uint64_t deadline;
	const char *e = getenv("CRASH_DIRSYNC");
	int c;

	while ((c = getopt(argc, argv, "s:t:")) != -1) {
		if (c == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (c == 't')
			secs = strtod(optarg, NULL);
		else
			return EX_INTERNAL;
	}
	if (argc - optind != 3)
		fatal("usage: write [-s SEED] [-t SECONDS] ROOT STATE LOG");
	dirsync_only = e && !strcmp(e, "always");
	rng = mix64(seed) | 1;
	state_load(argv[optind + 1]);
	logfd = open(argv[optind + 2], O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		fatal("%s: %s", argv[optind + 2], strerror(errno));
	rootfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		fs_error("open root", 0);
	wbuf = xrealloc(NULL, FILE_MAX);
	rec("begin seed=%" PRIu64 " next_id=%ld next_gen=%" PRIu64, seed, next_id, next_gen);
	deadline = now_ns() + (uint64_t)(secs * 1e9);
	while (now_ns() < deadline)
		step();
	while (nopen)
		close_fd(open_ids[0]);
	rec("end");
	fprintf(stderr, "crash_writer: finished: %" PRIu64 " ops, %" PRIu64 " syncs\n", nops,
		nsyncs);
	return EX_OK;
}

static int cmd_init(int argc, char **argv)
{
	char parent[PATHLEN], *slash;
	int fd;

	if (argc != 4)
		fatal("usage: init ROOT STATE");
	if (mkdir(argv[2], 0755))
		fatal("mkdir %s: %s", argv[2], strerror(errno));
	snprintf(parent, sizeof(parent), "%s", argv[2]);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(parent, ".");
	/* ROOT itself must survive every crash that follows. */
	fd = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) || close(fd))
		fatal("fsync %s: %s", argv[2], strerror(errno));
	fd = open(parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) || close(fd))
		fatal("fsync %s: %s", parent, strerror(errno));
	root_init();
	state_save(argv[3], false);
	return EX_OK;
}

/* ---- checker */

static int nfail;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (++nfail > 30)
		return;
	fprintf(stderr, "crash check: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void guarantee_loc(struct obj *o, uint64_t at)
{
	o->gloc = o->live ? GL_AT : GL_GONE;
	o->g.parent = o->parent;
	set_name(o->g.name, o->name);
	o->nsince = 0;
	o->since_gone = false;
	o->gseq = at;
}

static void guarantee_data(struct obj *o)
{
	o->gsize = o->low = o->high = o->size;
	ex_copy(&o->gext, &o->ext);
	o->nwr = 0;
}

static void guarantee_all(uint64_t at)
{
	for (long i = 1; i < nobj; i++) {
		if (!objs[i].known)
			continue;
		guarantee_loc(&objs[i], at);
		if (objs[i].live && !objs[i].isdir)
			guarantee_data(&objs[i]);
	}
}

static bool loc_allowed(const struct obj *o, long parent, const char *name)
{
	if (o->gloc == GL_AT && o->g.parent == parent && !strcmp(o->g.name, name))
		return true;
	for (size_t i = 0; i < o->nsince; i++)
		if (o->since[i].parent == parent && !strcmp(o->since[i].name, name))
			return true;
	return false;
}

static bool must_exist(const struct obj *o)
{
	return o->gloc == GL_AT && !o->since_gone;
}

/*
 * Checks one candidate's history against the bytes found; on success out
 * holds the content as extents (the state the next iteration starts from).
 */
static bool verify(const struct obj *o, const uint8_t *buf, uint64_t n, struct exts *out, char *why,
		   size_t wl, uint64_t *bad)
{
	static uint8_t tmp[CHUNK];
	static uint64_t gens[CHUNK];

	out->n = 0;
	*bad = 0;
	if (n < o->low || n > o->high) {
		snprintf(why, wl,
			 "size %" PRIu64 ", but it can only be %" PRIu64 "..%" PRIu64
			 " (guaranteed %" PRIu64 ")",
			 n, o->low, o->high, o->gsize);
		return false;
	}
	for (uint64_t c0 = 0; c0 < n; c0 += CHUNK) {
		uint64_t c1 = n - c0 < CHUNK ? n : c0 + CHUNK;
		size_t unres = (size_t)(c1 - c0);

		for (size_t i = 0; i < c1 - c0; i++)
			gens[i] = UNRES;
		/* The guaranteed content first, then unsynced writes, latest first. */
		for (size_t pass = 0; pass < o->gext.n + o->nwr && unres; pass++) {
			const struct ext *e = pass < o->gext.n
						  ? &o->gext.v[pass]
						  : &o->wr[o->nwr - 1 - (pass - o->gext.n)];
			uint64_t lo = e->a > c0 ? e->a : c0, hi = e->b < c1 ? e->b : c1;
			if (lo >= hi)
				continue;
			fill(tmp, e->gen, lo, hi - lo);
			for (uint64_t k = lo; k < hi; k++) {
				if (gens[k - c0] == UNRES && buf[k] == tmp[k - lo]) {
					gens[k - c0] = e->gen;
					unres--;
				}
			}
		}
		if (unres) {
			size_t i = 0;
			uint64_t g = UNRES;
			while (gens[i] != UNRES)
				i++;
			*bad = c0 + i;
			for (size_t k = 0; k < o->gext.n; k++)
				if (o->gext.v[k].a <= c0 + i && c0 + i < o->gext.v[k].b)
					g = o->gext.v[k].gen;
			if (g == UNRES)
				snprintf(why, wl,
					 "byte %" PRIu64 " is 0x%02x: no write of the writer put it"
					 " there (guaranteed size %" PRIu64
					 ", %zu unsynced writes)",
					 c0 + i, buf[c0 + i], o->gsize, o->nwr);
			else {
				fill(tmp, g, c0 + i, 1);
				snprintf(why, wl,
					 "byte %" PRIu64
					 " is 0x%02x, guaranteed 0x%02x (gen %" PRIu64
					 "), and no unsynced write (of %zu) explains it",
					 c0 + i, buf[c0 + i], tmp[0], g, o->nwr);
			}
			return false;
		}
		for (size_t i = 0; i < c1 - c0; i++)
			ex_push(out, c0 + i, c0 + i + 1, gens[i]);
	}
	return true;
}

static bool same_content(uint64_t asize, const struct exts *b, uint64_t bsize, const uint8_t *buf)
{
	static uint8_t tmp[CHUNK];

	if (asize != bsize)
		return false;
	for (size_t i = 0; i < b->n; i++) {
		for (uint64_t o = b->v[i].a; o < b->v[i].b; o += CHUNK) {
			size_t n = b->v[i].b - o < CHUNK ? b->v[i].b - o : CHUNK;
			fill(tmp, b->v[i].gen, o, n);
			if (memcmp(tmp, buf + o, n))
				return false;
		}
	}
	return true;
}

/* Every generation the writer used, to name the source of stray bytes. */
struct genrec {
	uint64_t gen, seq, off, len;
	long id;
};

static struct genrec *genrecs;
static size_t ngenrecs, capgenrecs;

static void note_gen(uint64_t gen, long id, uint64_t at, uint64_t off, uint64_t len)
{
	if (ngenrecs == capgenrecs) {
		capgenrecs = capgenrecs ? 2 * capgenrecs : 1024;
		genrecs = xrealloc(genrecs, capgenrecs * sizeof(*genrecs));
	}
	genrecs[ngenrecs++] = (struct genrec){gen, at, off, len, id};
}

/*
 * Names the generation stray bytes belong to: all generations ever used are
 * below next_gen, so trying each is cheap; the log says whose write it was
 * when it was this run's.
 */
static void whose_bytes(const uint8_t *buf, uint64_t size, uint64_t at, char *out, size_t len)
{
	uint8_t tmp[16];
	size_t n = size - at < sizeof(tmp) ? (size_t)(size - at) : sizeof(tmp);
	size_t pos = 0;
	int hits = 0;

	out[0] = 0;
	if (n < 8)
		return;
	for (uint64_t gen = 1; gen < next_gen && hits < 3; gen++) {
		const struct genrec *g = NULL;
		int k;

		fill(tmp, gen, at, n);
		if (memcmp(tmp, buf + at, n))
			continue;
		for (size_t i = 0; i < ngenrecs && !g; i++)
			if (genrecs[i].gen == gen)
				g = &genrecs[i];
		if (g && g->seq)
			k = snprintf(out + pos, len - pos,
				     "%sbytes at %" PRIu64 " are gen %" PRIu64
				     ", written to file %ld at "
				     "%" PRIu64 "+%" PRIu64 " (log record %" PRIu64 ")",
				     hits ? "; " : "", at, gen, g->id, g->off, g->len, g->seq);
		else if (g)
			k = snprintf(out + pos, len - pos,
				     "%sbytes at %" PRIu64 " are gen %" PRIu64
				     ", which file %ld holds at "
				     "%" PRIu64 "+%" PRIu64 " (state file)",
				     hits ? "; " : "", at, gen, g->id, g->off, g->len);
		else
			k = snprintf(out + pos, len - pos,
				     "%sbytes at %" PRIu64 " are gen %" PRIu64
				     ", written in an earlier iteration (see the earlier logs)",
				     hits ? "; " : "", at, gen);
		if (k < 0 || (size_t)k >= len - pos)
			break;
		pos += (size_t)k;
		hits++;
	}
}

struct found {
	long parent;
	char name[NAMELEN];
	char path[PATHLEN];
	uint64_t size;
	int ncand, npass;
	long cand[MAX_CAND];
	bool pass[MAX_CAND];
	struct exts ext[MAX_CAND];
	char why[MAX_CAND][256];
	uint64_t bad[MAX_CAND];
	char like[256];	    /* whose bytes an unexplained file holds, if known */
	int fate[MAX_CAND]; /* 0 no unsynced ops, 1 all landed, 2 none, 3 some */
};

static struct found *fnd;
static size_t nfnd, capfnd;
static uint64_t bytes_read, nfiles_read, ndirs_read;
static int fates[4];

static uint8_t *read_all(int fd, const char *path, uint64_t *size)
{
	struct stat st;
	uint8_t *buf;
	size_t cap, n = 0;

	if (fstat(fd, &st)) {
		fail("%s: fstat: %s", path, strerror(errno));
		return NULL;
	}
	cap = (size_t)st.st_size + 1;
	buf = xrealloc(NULL, cap);
	for (;;) {
		ssize_t k;
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0) {
			fail("%s: read at %zu: %s", path, n, strerror(errno));
			free(buf);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n != (size_t)st.st_size)
		fail("%s: stat says %jd bytes, read gave %zu", path, (intmax_t)st.st_size, n);
	*size = n;
	bytes_read += n;
	return buf;
}

static void found_file(int dfd, long dirid, const char *name, const char *path)
{
	struct found *f;
	uint8_t *buf;
	int fd;

	if (nfnd == capfnd) {
		capfnd = capfnd ? 2 * capfnd : 64;
		fnd = xrealloc(fnd, capfnd * sizeof(*fnd));
	}
	f = &fnd[nfnd];
	memset(f, 0, sizeof(*f));
	f->parent = dirid;
	set_name(f->name, name);
	snprintf(f->path, sizeof(f->path), "%s", path);
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail("%s: open: %s", path, strerror(errno));
		return;
	}
	buf = read_all(fd, path, &f->size);
	close(fd);
	if (!buf)
		return;
	nfiles_read++;
	for (long i = 1; i < nobj; i++) {
		struct obj *o = &objs[i];
		if (!o->known || o->isdir || !loc_allowed(o, dirid, name))
			continue;
		if (f->ncand == MAX_CAND)
			fatal("too many candidates for %s", path);
		int c = f->ncand++;
		f->cand[c] = i;
		f->pass[c] =
		    verify(o, buf, f->size, &f->ext[c], f->why[c], sizeof(f->why[c]), &f->bad[c]);
		if (f->pass[c]) {
			f->npass++;
			if (!o->nwr && o->low == o->gsize && o->high == o->gsize)
				f->fate[c] = 0;
			else if (same_content(f->size, &o->ext, o->size, buf))
				f->fate[c] = 1;
			else if (same_content(f->size, &o->gext, o->gsize, buf))
				f->fate[c] = 2;
			else
				f->fate[c] = 3;
		}
	}
	if (!f->npass)
		whose_bytes(buf, f->size, f->ncand ? f->bad[0] : 0, f->like, sizeof(f->like));
	free(buf);
	nfnd++;
}

static void walk(int dfd, long dirid, const char *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		fail("%s: opendir: %s", path, strerror(errno));
		close(dfd);
		return;
	}
	ndirs_read++;
	for (;;) {
		char sub[PATHLEN], *end;
		struct stat st;
		long id;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				fail("%s: readdir: %s", path, strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (strlen(de->d_name) >= NAMELEN) {
			fail("%s: a name the writer never made", sub);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			fail("%s: stat: %s", sub, strerror(errno));
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			found_file(dirfd(d), dirid, de->d_name, sub);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			fail("%s: neither file nor directory (mode %o)", sub, (unsigned)st.st_mode);
			continue;
		}
		/* Directory names are d<id> and never change: the name is the id. */
		id = de->d_name[0] == 'd' ? strtol(de->d_name + 1, &end, 10) : -1;
		if (id <= 0 || *end || id >= nobj || !objs[id].known || !objs[id].isdir) {
			fail("%s: a directory the writer never made", sub);
			continue;
		}
		struct obj *o = &objs[id];
		if (!loc_allowed(o, dirid, de->d_name))
			fail("%s: directory %ld was never there after its last guarantee (record "
			     "%" PRIu64 ")",
			     sub, id, o->gseq);
		if (o->nfound++) {
			fail("%s: directory %ld also at %s", sub, id, o->fpath);
			continue;
		}
		o->fparent = dirid;
		set_name(o->fname, de->d_name);
		snprintf(o->fpath, sizeof(o->fpath), "%s", sub);
		int sfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			fail("%s: open: %s", sub, strerror(errno));
		else
			walk(sfd, id, sub);
	}
	closedir(d);
}

static void describe(long id, char *buf, size_t len);

/* Why an entry's other candidates did not fit: for reports of duplicates. */
static void why_not(const struct found *f)
{
	for (int k = 0; k < f->ncand; k++) {
		char d[2 * PATHLEN];
		if (f->pass[k])
			continue;
		describe(f->cand[k], d, sizeof(d));
		fail("%s: not %s: %s", f->path, d, f->why[k]);
	}
}

static void assign(struct found *f, int c)
{
	struct obj *o = &objs[f->cand[c]];

	if (o->nfound++) {
		fail("%s: file %ld is also at %s (a rename that is half there, or the other entry "
		     "lost its own file)",
		     f->path, f->cand[c], o->fpath);
		why_not(&fnd[o->ffound]);
		why_not(f);
		return;
	}
	o->ffound = f - fnd;
	o->fparent = f->parent;
	set_name(o->fname, f->name);
	snprintf(o->fpath, sizeof(o->fpath), "%s", f->path);
	o->fsize = f->size;
	ex_copy(&o->fext, &f->ext[c]);
	fates[f->fate[c]]++;
}

static void describe(long id, char *buf, size_t len)
{
	const struct obj *o = &objs[id];
	char p[PATHLEN] = "?", where[PATHLEN + NAMELEN + 64];

	if (o->gloc == GL_AT && o->g.parent >= 0 && o->g.parent < nobj)
		path_of(o->g.parent, p, sizeof(p));
	if (o->gloc == GL_NONE)
		snprintf(where, sizeof(where), "made in this run, never guaranteed");
	else if (o->gseq)
		snprintf(where, sizeof(where), "guaranteed at %s/%s by log record %" PRIu64, p,
			 o->g.name, o->gseq);
	else
		snprintf(where, sizeof(where), "at %s/%s in the state file", p, o->g.name);
	snprintf(buf, len, "%s %ld, %s%s%s%s", o->isdir ? "dir" : "file", id, where,
		 o->nsince ? ", moved or made since" : "",
		 o->since_gone ? ", removed or replaced since (not synced)" : "",
		 o->nwr ? ", written since (not synced)" : "");
}

struct line {
	uint64_t seq, t;
	char *text; /* after the time */
};

static int cmd_check(int argc, char **argv)
{
	uint64_t kill_ns = 0, age_ms = 2500, limit = 0, stop_t = 0, nguar = 0, nintent = 0;
	int stop_err = 0, rootfd_c, c;
	bool ended = false;
	struct line *lines = NULL;
	size_t nlines = 0, caplines = 0, cut = SIZE_MAX;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	while ((c = getopt(argc, argv, "k:a:")) != -1) {
		if (c == 'k')
			kill_ns = strtoull(optarg, NULL, 10);
		else if (c == 'a')
			age_ms = strtoull(optarg, NULL, 10);
		else
			return EX_INTERNAL;
	}
	if (argc - optind != 4)
		fatal("usage: check [-k KILL_NS] [-a AGE_MS] ROOT STATE LOG NEWSTATE");
	state_load(argv[optind + 1]);
	for (long i = 1; i < nobj; i++)
		for (size_t k = 0; objs[i].live && k < objs[i].ext.n; k++)
			if (objs[i].ext.v[k].gen)
				note_gen(objs[i].ext.v[k].gen, i, 0, objs[i].ext.v[k].a,
					 objs[i].ext.v[k].b - objs[i].ext.v[k].a);
	f = fopen(argv[optind + 2], "r");
	if (!f)
		fatal("%s: %s", argv[optind + 2], strerror(errno));
	while ((len = getline(&buf, &cap, f)) > 0) {
		struct line l;
		int k = 0;
		/* A last line without its newline was being written: not a record. */
		if (buf[len - 1] != '\n')
			break;
		buf[len - 1] = 0;
		if (sscanf(buf, "%" SCNu64 " %" SCNu64 " %n", &l.seq, &l.t, &k) != 2 || !k)
			fatal("bad log line: %s", buf);
		l.text = strdup(buf + k);
		if (nlines == caplines) {
			caplines = caplines ? 2 * caplines : 1024;
			lines = xrealloc(lines, caplines * sizeof(*lines));
		}
		lines[nlines++] = l;
	}
	free(buf);
	fclose(f);

	/*
	 * An operation is done when the next record is written. All done
	 * before kill - age must be there without any fsync.
	 */
	if (kill_ns && age_ms) {
		limit = kill_ns - age_ms * 1000000;
		for (size_t i = 0; i < nlines; i++)
			if (lines[i].t <= limit)
				cut = i;
	}
	tracking = true;
	for (size_t i = 0; i < nlines; i++) {
		char w[16], name[NAMELEN + 8], path[PATHLEN];
		long id, p, v;
		uint64_t a, b, g;
		unsigned crc;
		const char *t = lines[i].text;

		if (i == cut)
			guarantee_all(lines[i].seq);
		if (sscanf(t, "%15s", w) != 1)
			fatal("empty log record %" PRIu64, lines[i].seq);
		if (!strcmp(w, "begin") || !strcmp(w, "sync")) {
			continue;
		} else if (!strcmp(w, "end")) {
			ended = true;
		} else if (!strcmp(w, "stop")) {
			stop_t = lines[i].t;
			sscanf(t, "stop %d", &stop_err);
		} else if (sscanf(t, "mkdir %ld %ld %55s", &id, &p, name) == 3) {
			m_new(id, p, name, true);
		} else if (sscanf(t, "create %ld %ld %55s", &id, &p, name) == 3) {
			m_new(id, p, name, false);
		} else if (sscanf(t, "write %ld %" SCNu64 " %" SCNu64 " %" SCNu64, &id, &g, &a,
				  &b) == 4) {
			m_write(id, g, a, b);
			note_gen(g, id, lines[i].seq, a, b);
		} else if (sscanf(t, "trunc %ld %" SCNu64, &id, &a) == 2) {
			m_trunc(id, a);
		} else if (sscanf(t, "rename %ld %ld %55s %ld", &id, &p, name, &v) == 4) {
			if (m_rename(id, p, name) != v)
				fatal("record %" PRIu64 ": the model replaced another file",
				      lines[i].seq);
		} else if (sscanf(t, "unlink %ld", &id) == 1 || sscanf(t, "rmdir %ld", &id) == 1) {
			m_remove(id);
		} else if (sscanf(t, "G path %ld %" SCNu64 " %x %1023s", &id, &a, &crc, path) ==
			   4) {
			struct obj *o = live_obj(id);
			char mp[PATHLEN];
			path_of(id, mp, sizeof(mp));
			if (strcmp(mp, path) ||
			    (!o->isdir && (o->size != a || ex_crc(&o->ext) != crc)))
				fatal("record %" PRIu64
				      ": the replay disagrees with the writer on %ld",
				      lines[i].seq, id);
			/* The file (its data) and the names leading to it. */
			for (long x = id; x > 0; x = objs[x].parent)
				guarantee_loc(&objs[x], lines[i].seq);
			if (!o->isdir)
				guarantee_data(o);
			nguar++;
			continue;
		} else if (sscanf(t, "G gone %ld", &id) == 1) {
			if (objs[id].live)
				fatal("record %" PRIu64 ": %ld is still there", lines[i].seq, id);
			guarantee_loc(&objs[id], lines[i].seq);
			nguar++;
			continue;
		} else {
			fatal("unknown log record %" PRIu64 ": %s", lines[i].seq, t);
		}
		if (strcmp(w, "end") && strcmp(w, "stop"))
			nintent++;
	}
	tracking = false;
	for (size_t i = 0; i < nlines; i++)
		free(lines[i].text);
	free(lines);
	if (kill_ns && stop_t && stop_t < kill_ns)
		fail("the writer stopped on an error (%s) %.3f s before the daemon was killed",
		     strerror(stop_err), (double)(kill_ns - stop_t) / 1e9);
	if (kill_ns && ended)
		fprintf(stderr, "crash check: note: the writer finished before the kill\n");

	rootfd_c = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd_c < 0) {
		fail("%s: %s", argv[optind], strerror(errno));
		return EX_BAD;
	}
	objs[0].nfound = 1;
	objs[0].fparent = -1;
	strcpy(objs[0].fname, ".");
	walk(rootfd_c, 0, argv[optind]);

	/* Files: a single candidate that fits first, then the ambiguous ones. */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < nfnd; i++) {
			struct found *fo = &fnd[i];
			int best = -1;
			if (fo->npass == 0 || (round == 0) != (fo->npass == 1))
				continue;
			for (int k = 0; k < fo->ncand; k++) {
				const struct obj *o = &objs[fo->cand[k]];
				if (!fo->pass[k])
					continue;
				if (best < 0 || (objs[fo->cand[best]].nfound && !o->nfound) ||
				    (!o->nfound && must_exist(o) &&
				     !must_exist(&objs[fo->cand[best]])))
					best = k;
			}
			assign(fo, best);
		}
	}
	for (size_t i = 0; i < nfnd; i++) {
		struct found *fo = &fnd[i];
		if (fo->npass)
			continue;
		if (!fo->ncand)
			fail("%s: no file of the writer can be there", fo->path);
		if (fo->like[0])
			fail("%s: %s", fo->path, fo->like);
		for (int k = 0; k < fo->ncand; k++) {
			char d[2 * PATHLEN];
			describe(fo->cand[k], d, sizeof(d));
			fail("%s: not %s: %s", fo->path, d, fo->why[k]);
		}
	}
	for (long i = 1; i < nobj; i++) {
		char d[2 * PATHLEN];
		if (!objs[i].known || !must_exist(&objs[i]) || objs[i].nfound)
			continue;
		describe(i, d, sizeof(d));
		fail("missing: %s", d);
	}
	if (nfail > 30)
		fprintf(stderr, "crash check: ... %d failures in all\n", nfail);
	fprintf(stderr,
		"crash check: %" PRIu64 " ops, %" PRIu64 " guarantees%s; read %" PRIu64
		" dirs, %" PRIu64 " files, %" PRIu64 " bytes; unsynced files: %d kept all, %d lost "
		"all, %d in part%s\n",
		nintent, nguar, cut != SIZE_MAX ? " + age" : "", ndirs_read, nfiles_read,
		bytes_read, fates[1], fates[2], fates[3], nfail ? "; FAILED" : "");
	if (nfail)
		return EX_BAD;
	state_save(argv[optind + 3], true);
	return EX_OK;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return cmd_init(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr,
		"usage: crash_writer init ROOT STATE\n"
		"       crash_writer write [-s SEED] [-t SECONDS] ROOT STATE LOG\n"
		"       crash_writer check [-k KILL_NS] [-a AGE_MS] ROOT STATE LOG NEWSTATE\n");
	return EX_INTERNAL;
}
