/*
 * fsx.c - randomized model test of the files in one directory, in the spirit
 * of fsx. Works on any filesystem; written for revfs mounts.
 *
 * Forked processes run random operations on a few files of DIR, each through
 * its own descriptors: reads, writes, truncates, mmap reads and writes, fsync,
 * close and reopen (O_TRUNC, O_APPEND), rename, link, unlink (the unlinked
 * file stays open and in use for a while), SEEK_DATA/SEEK_HOLE, stat and
 * readdir. Every result is checked against one model of the files kept in
 * shared memory. The processes take turns under a process-shared mutex, each
 * running a random burst of operations, so that an operation and its model
 * update are atomic and the whole run, interleaving included, depends only
 * on the seed: a failure replays with the same options.
 *
 * On the first mismatch it prints the seed, the op number, the last
 * operations and the bytes, and exits 1. With -o it checks every file once
 * more at the end and writes a manifest (sha256, size, links, name) that a
 * script can check again after a remount.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	    ((uint64_t)64 * 1024) /* model allocation unit; absent = zeros */
#define MAX_FILES   64
#define MAX_PROCS   16
#define ORPHANS_MAX 3			  /* unlinked-but-open files one process keeps */
#define FAR_CHUNKS  16			  /* model chunks an inode may have beyond -m */
#define IO_MAX	    ((size_t)256 * 1024)  /* longest single read or write */
#define BUF_SIZE    ((size_t)1024 * 1024) /* piece size of whole-file reads */
#define LOG_LEN	    64
#define LOG_SHOW    50
#define LOG_TEXT    200

enum op_kind {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FSYNC,
	OP_REOPEN,
	OP_RENAME,
	OP_LINK,
	OP_UNLINK,
	OP_SEEK,
	OP_STAT,
	OP_READDIR,
	OP_PUNCH, /* fallocate: punch hole or zero range */
	/* not drawn; done when a drawn op needs them */
	OP_CREATE,
	OP_CLOSE,
	OP_NKINDS,
	OP_NDRAWN = OP_CREATE
};

/* Open flags -x can leave out too, besides the drawn ops. */
#define X_OTRUNC (1u << OP_NKINDS)
#define X_APPEND (1u << (OP_NKINDS + 1))

static const char *const op_names[OP_NKINDS] = {
    "read", "write",  "mapread", "mapwrite", "truncate", "fsync", "reopen", "rename",
    "link", "unlink", "seek",	 "stat",     "readdir",	 "punch", "create", "close",
};

/*
 * mapwrite and fsync are rarer than the rest because on a filesystem that
 * commits on fsync (msync(MS_SYNC) is one) they cost most of the run's time.
 */
static const unsigned op_weights[OP_NDRAWN] = {40, 40, 10, 3, 16, 1, 10, 6, 6, 6, 12, 10, 2, 8};

static struct {
	uint64_t nops, seed, maxsize, far;
	int nfiles, nprocs, verbose;
	unsigned exclude; /* bit per op_kind, X_OTRUNC, X_APPEND */
	const char *dir, *manifest;
} cfg;

/* One file (inode) of the model; names refer to it by slot index. */
struct minode {
	int used;
	int nlink;   /* names that refer to it */
	int opens;   /* descriptors open on it, all processes together */
	int nchunks; /* model chunks allocated */
	uint32_t id; /* creation serial, to tell files apart in the log */
	uint64_t size;
	uint64_t ino; /* st_ino seen at creation */
};

struct logent {
	uint64_t op;
	int proc;
	char text[LOG_TEXT];
};

/* Everything the processes share, in one MAP_SHARED mapping made before fork. */
struct shared {
	pthread_mutex_t lock;
	pthread_cond_t turn_cv;
	int turn; /* index of the process whose turn it is */
	int failed;
	int done[MAX_PROCS];
	uint64_t next_op;
	uint32_t next_id;
	int names[MAX_FILES]; /* inode slot, -1 if the name does not exist */
	uint64_t counts[OP_NKINDS];
	uint64_t log_next;
	struct logent ring[LOG_LEN];
	size_t free_top;
};

static struct shared *S;
static struct minode *inodes;
static int32_t *ctab;	    /* per slot, tablen chunk numbers (-1: zeros) */
static int32_t *free_stack; /* free chunk numbers */
static uint8_t *pool;
static size_t nslots, tablen, budget, npool;

/* Per process. */
struct handle {
	int fd;
	int slot;
	int append;
};

static int me = -1; /* process index; -1 in the parent */
static uint64_t rng;
static int dfd = -1;
static uint64_t page;
static uint64_t cur_op;
static int cur_name; /* name the current target was reached by; -1 if unlinked */
static uint8_t *ebuf, *abuf;
static char fname[MAX_FILES][16];
static struct handle hs[MAX_FILES + ORPHANS_MAX + 1];
static int nhs;
static sigjmp_buf map_jmp;
static volatile sig_atomic_t in_map;

/* ---- random numbers: splitmix64, one stream per process ------------------ */

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void fill_random(uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = rnd();

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = rnd();

		memcpy(p, &v, len);
	}
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- log ring and failure reports ---------------------------------------- */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	struct logent *e = &S->ring[S->log_next++ % LOG_LEN];
	va_list ap;

	e->op = cur_op;
	e->proc = me;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	if (cfg.verbose) {
		printf("%8" PRIu64 " p%d %s\n", e->op, e->proc, e->text);
		fflush(stdout);
	}
}

static void fail_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_begin(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsx: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void print_replay(void)
{
	fprintf(stderr,
		"fsx: seed %" PRIu64 ", process %d, op %" PRIu64 " of %" PRIu64 ", dir %s\n"
		"fsx: replay: fsx -s %" PRIu64 " -n %" PRIu64 " -f %d -p %d -m %" PRIu64
		" -F %" PRIu64,
		cfg.seed, me, cur_op, cfg.nops, cfg.dir, cfg.seed, cur_op + 1, cfg.nfiles,
		cfg.nprocs, cfg.maxsize, cfg.far);
	if (cfg.exclude) {
		const char *sep = " -x ";

		for (int k = 0; k < OP_NDRAWN; k++) {
			if (cfg.exclude & (1u << k)) {
				fprintf(stderr, "%s%s", sep, op_names[k]);
				sep = ",";
			}
		}
		if (cfg.exclude & X_OTRUNC) {
			fprintf(stderr, "%sotrunc", sep);
			sep = ",";
		}
		if (cfg.exclude & X_APPEND)
			fprintf(stderr, "%sappend", sep);
	}
	fprintf(stderr, " -v DIR\n");
}

static void print_log(void)
{
	uint64_t n = S->log_next, first = n > LOG_SHOW ? n - LOG_SHOW : 0;

	print_replay();
	fprintf(stderr, "fsx: last operations, oldest first (p: process):\n");
	for (uint64_t i = first; i < n; i++) {
		const struct logent *e = &S->ring[i % LOG_LEN];

		fprintf(stderr, "  %8" PRIu64 " p%d %s\n", e->op, e->proc, e->text);
	}
}

static _Noreturn void fail_end(void)
{
	print_log();
	S->failed = 1;
	if (me >= 0) {
		/* let the other processes see the failure and stop */
		pthread_cond_broadcast(&S->turn_cv);
		pthread_mutex_unlock(&S->lock);
	}
	exit(1);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsx: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fail_end();
}

static void check_bytes(const char *what, int slot, uint64_t off, const uint8_t *exp,
			const uint8_t *act, size_t len)
{
	size_t first = 0, last = 0, bad = 0;

	if (memcmp(exp, act, len) == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		if (exp[i] != act[i]) {
			if (!bad)
				first = i;
			last = i;
			bad++;
		}
	}
	fail_begin(
	    "%s: %zu bad bytes in [%" PRIu64 ", %" PRIu64 ") of file i%u (model size %" PRIu64
	    "), first at offset %" PRIu64 ", last at %" PRIu64,
	    what, bad, off, off + len, inodes[slot].id, inodes[slot].size, off + first, off + last);
	fprintf(stderr, "  offset     expected                                          actual\n");
	for (size_t row = first & ~(size_t)15; row < len && row < (first & ~(size_t)15) + 64;
	     row += 16) {
		fprintf(stderr, "  %-10" PRIu64 " ", off + row);
		for (size_t i = row; i < row + 16; i++) {
			if (i < len)
				fprintf(stderr, "%02x%c", exp[i], i == first ? '<' : ' ');
			else
				fprintf(stderr, "   ");
		}
		fprintf(stderr, " ");
		for (size_t i = row; i < row + 16 && i < len; i++)
			fprintf(stderr, "%02x%c", act[i], exp[i] != act[i] ? '*' : ' ');
		fprintf(stderr, "\n");
	}
	fail_end();
}

/* ---- the model's file contents: sparse chunks from a shared pool --------- */

static int32_t *table(int slot)
{
	return ctab + (size_t)slot * tablen;
}

static uint8_t *chunk_at(int32_t c)
{
	return pool + (size_t)c * CHUNK;
}

static void m_read(int slot, uint64_t off, uint64_t len, uint8_t *buf)
{
	const int32_t *t = table(slot);

	while (len > 0) {
		uint64_t ci = off / CHUNK, co = off % CHUNK, n = min64(CHUNK - co, len);

		if (ci < tablen && t[ci] >= 0)
			memcpy(buf, chunk_at(t[ci]) + co, n);
		else
			memset(buf, 0, n);
		buf += n;
		off += n;
		len -= n;
	}
}

/* Chunks a write of [off, off+len) would have to allocate. */
static uint64_t m_needed(int slot, uint64_t off, uint64_t len)
{
	const int32_t *t = table(slot);
	uint64_t n = 0;

	for (uint64_t ci = off / CHUNK; ci <= (off + len - 1) / CHUNK; ci++)
		n += t[ci] < 0;
	return n;
}

/* A write that fits the budget: nothing past -F, at most `budget` chunks. */
static int m_fits(int slot, uint64_t off, uint64_t len)
{
	return off + len <= cfg.far &&
	       (uint64_t)inodes[slot].nchunks + m_needed(slot, off, len) <= budget;
}

static void m_write(int slot, uint64_t off, const uint8_t *buf, uint64_t len)
{
	struct minode *m = &inodes[slot];
	int32_t *t = table(slot);

	if (off + len > m->size)
		m->size = off + len;
	while (len > 0) {
		uint64_t ci = off / CHUNK, co = off % CHUNK, n = min64(CHUNK - co, len);

		if (t[ci] < 0) {
			if (S->free_top == 0)
				fail("model: out of chunks (a bug in fsx)");
			t[ci] = free_stack[--S->free_top];
			memset(chunk_at(t[ci]), 0, CHUNK);
			m->nchunks++;
		}
		memcpy(chunk_at(t[ci]) + co, buf, n);
		buf += n;
		off += n;
		len -= n;
	}
}

/*
 * Bytes past the size in allocated chunks are kept zero, so that a later
 * extension (truncate up, write past EOF) reads zeros there without work.
 */
static void m_truncate(int slot, uint64_t ns)
{
	struct minode *m = &inodes[slot];
	int32_t *t = table(slot);

	if (ns < m->size) {
		for (uint64_t ci = ns / CHUNK; ci <= (m->size - 1) / CHUNK; ci++) {
			uint64_t start = ci * CHUNK;

			if (t[ci] < 0)
				continue;
			if (start >= ns) {
				free_stack[S->free_top++] = t[ci];
				t[ci] = -1;
				m->nchunks--;
			} else {
				memset(chunk_at(t[ci]) + (ns - start), 0, CHUNK - (ns - start));
			}
		}
	}
	m->size = ns;
}

/* Zeros over [off, min(end, size)): a punched hole or a zeroed range.
 * Chunks stay allocated (absent ones already read as zeros). */
static void m_zero(int slot, uint64_t off, uint64_t end)
{
	struct minode *m = &inodes[slot];
	int32_t *t = table(slot);

	if (end > m->size)
		end = m->size;
	while (off < end) {
		uint64_t ci = off / CHUNK, co = off % CHUNK, n = min64(CHUNK - co, end - off);

		if (t[ci] >= 0)
			memset(chunk_at(t[ci]) + co, 0, n);
		off += n;
	}
}

/* Offset of the first nonzero model byte in [off, end), or UINT64_MAX. */
static uint64_t m_first_data(int slot, uint64_t off, uint64_t end)
{
	const int32_t *t = table(slot);

	while (off < end) {
		uint64_t ci = off / CHUNK, co = off % CHUNK, n = min64(CHUNK - co, end - off);

		if (ci < tablen && t[ci] >= 0) {
			const uint8_t *p = chunk_at(t[ci]) + co;

			for (uint64_t i = 0; i < n; i++)
				if (p[i])
					return off + i;
		}
		off += n;
	}
	return UINT64_MAX;
}

static int slot_alloc(void)
{
	for (size_t s = 0; s < nslots; s++) {
		if (!inodes[s].used) {
			memset(&inodes[s], 0, sizeof(inodes[s]));
			inodes[s].used = 1;
			inodes[s].id = S->next_id++;
			return (int)s;
		}
	}
	fail("model: out of inode slots (a bug in fsx)");
}

/* A file goes away with its last name and its last descriptor. */
static void maybe_free(int slot)
{
	if (inodes[slot].nlink == 0 && inodes[slot].opens == 0) {
		m_truncate(slot, 0);
		inodes[slot].used = 0;
	}
}

/* ---- descriptors of this process ----------------------------------------- */

static int h_find(int slot)
{
	for (int h = 0; h < nhs; h++)
		if (hs[h].slot == slot)
			return h;
	return -1;
}

static int is_orphan(int h)
{
	return inodes[hs[h].slot].nlink == 0;
}

static int orphan_count(void)
{
	int n = 0;

	for (int h = 0; h < nhs; h++)
		n += is_orphan(h);
	return n;
}

static const char *hdesc(int h)
{
	static char buf[64];
	const struct minode *m = &inodes[hs[h].slot];

	snprintf(buf, sizeof(buf), "i%u fd %d%s%s", m->id, hs[h].fd, hs[h].append ? " append" : "",
		 m->nlink ? "" : " unlinked");
	return buf;
}

static void h_close(int h)
{
	int slot = hs[h].slot;

	note("close %s", hdesc(h));
	if (close(hs[h].fd) != 0)
		fail("close: %s", strerror(errno));
	inodes[slot].opens--;
	maybe_free(slot);
	hs[h] = hs[--nhs];
}

static void close_orphan(void)
{
	for (int h = 0; h < nhs; h++) {
		if (is_orphan(h)) {
			S->counts[OP_CLOSE]++;
			h_close(h);
			return;
		}
	}
	fail("no unlinked file to close (a bug in fsx)");
}

/*
 * A process holds at most one descriptor per file, so at most nfiles on
 * named files; the rest are unlinked ones. Bounding those bounds the files
 * alive at once, which sizes the model.
 */
static void make_room(void)
{
	while (nhs >= cfg.nfiles + ORPHANS_MAX)
		close_orphan();
}

static void check_stat(const char *what, const struct stat *st, int slot)
{
	const struct minode *m = &inodes[slot];

	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != m->size ||
	    st->st_nlink != (nlink_t)m->nlink || st->st_ino != m->ino)
		fail("%s of i%u: mode 0%o size %" PRIu64 " nlink %lu ino %" PRIu64
		     ", expected a regular file, size %" PRIu64 " nlink %d ino %" PRIu64,
		     what, m->id, (unsigned)st->st_mode, (uint64_t)st->st_size,
		     (unsigned long)st->st_nlink, (uint64_t)st->st_ino, m->size, m->nlink, m->ino);
}

/* Opens an existing name; the file must be the one the model has there. */
static int h_open(int n, int extra)
{
	int slot = S->names[n], fd;
	struct stat st;

	make_room();
	note("open %s i%u%s%s", fname[n], inodes[slot].id, extra & O_TRUNC ? " O_TRUNC" : "",
	     extra & O_APPEND ? " O_APPEND" : "");
	fd = openat(dfd, fname[n], O_RDWR | extra);
	if (fd < 0)
		fail("open %s: %s", fname[n], strerror(errno));
	if (extra & O_TRUNC)
		m_truncate(slot, 0);
	if (fstat(fd, &st) != 0)
		fail("fstat: %s", strerror(errno));
	check_stat("fstat after open", &st, slot);
	inodes[slot].opens++;
	hs[nhs] = (struct handle){fd, slot, !!(extra & O_APPEND)};
	return nhs++;
}

static void op_create(int n)
{
	int extra = rnd_below(8) == 0 && !(cfg.exclude & X_APPEND) ? O_APPEND : 0, fd, slot;
	struct stat st;

	S->counts[OP_CREATE]++;
	make_room();
	slot = slot_alloc();
	note("create %s i%u%s", fname[n], inodes[slot].id, extra ? " O_APPEND" : "");
	fd = openat(dfd, fname[n], O_RDWR | O_CREAT | O_EXCL | extra, 0644);
	if (fd < 0)
		fail("create %s: %s", fname[n], strerror(errno));
	if (fstat(fd, &st) != 0)
		fail("fstat: %s", strerror(errno));
	for (size_t s = 0; s < nslots; s++)
		if (inodes[s].used && (int)s != slot && inodes[s].ino == st.st_ino)
			fail("new file %s has st_ino %" PRIu64 " of live file i%u", fname[n],
			     (uint64_t)st.st_ino, inodes[s].id);
	inodes[slot].ino = st.st_ino;
	inodes[slot].nlink = 1;
	inodes[slot].opens = 1;
	check_stat("fstat after create", &st, slot);
	S->names[n] = slot;
	hs[nhs++] = (struct handle){fd, slot, !!extra};
}

/*
 * The file an op works on: sometimes an unlinked one this process still has
 * open, else a random name (opened if this process has no descriptor on its
 * file yet). A missing name is created instead and -1 returned.
 */
static int target(void)
{
	int norph = orphan_count(), n, h;

	if (norph > 0 && rnd_below(4) == 0) {
		int k = (int)rnd_below((uint64_t)norph);

		cur_name = -1;
		for (h = 0; h < nhs; h++)
			if (is_orphan(h) && k-- == 0)
				return h;
	}
	n = (int)rnd_below((uint64_t)cfg.nfiles);
	cur_name = n;
	if (S->names[n] < 0) {
		op_create(n);
		return -1;
	}
	h = h_find(S->names[n]);
	return h >= 0 ? h : h_open(n, 0);
}

/* ---- choosing offsets and lengths ---------------------------------------- */

/* Often page aligned or just either side of a page boundary; < lim. */
static uint64_t shape(uint64_t x, uint64_t lim)
{
	switch (rnd_below(4)) {
	case 0:
		x -= x % page;
		break;
	case 1:
		x -= x % page;
		x += rnd_below(33);
		x = x >= 16 ? x - 16 : x;
		break;
	default:
		break;
	}
	return x < lim ? x : lim - 1;
}

/* Mostly within the first -m bytes, sometimes anywhere, sometimes past EOF. */
static uint64_t pick_off(uint64_t size)
{
	uint64_t r = rnd_below(100), dense = min64(size, cfg.maxsize);

	if (r < 8 || size == 0)
		return size + rnd_below(2 * page);
	if (r < 25)
		return rnd_below(size);
	return shape(rnd_below(dense), dense);
}

/* An offset inside a file of SIZE > 0. */
static uint64_t pick_in(uint64_t size)
{
	uint64_t off = pick_off(size);

	return off < size ? off : size - 1 - rnd_below(min64(size, page));
}

static uint64_t pick_len(void)
{
	uint64_t r = rnd_below(100);
	uint64_t max = r < 40 ? 512 : r < 75 ? 8192 : r < 95 ? 65536 : IO_MAX;

	return 1 + rnd_below(max);
}

/* ---- I/O helpers ----------------------------------------------------------- */

/* Reads until LEN or EOF; a short read before EOF is retried, like stdio. */
static uint64_t pread_full(int fd, uint8_t *buf, uint64_t len, uint64_t off, const char *what)
{
	uint64_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (r < 0)
			fail("%s: pread(%" PRIu64 ", %" PRIu64 "): %s", what, off + got, len - got,
			     strerror(errno));
		if (r == 0)
			break;
		got += (uint64_t)r;
	}
	return got;
}

/* Reads [off, off+len) through fd and checks it, size and EOF included. */
static void read_check(int fd, int slot, uint64_t off, uint64_t len, const char *what)
{
	while (len > 0) {
		uint64_t n = min64(len, BUF_SIZE), size = inodes[slot].size;
		uint64_t want = off >= size ? 0 : min64(n, size - off);
		uint64_t got = pread_full(fd, abuf, n, off, what);

		if (got != want)
			fail("%s: read of %" PRIu64 " at %" PRIu64 " returned %" PRIu64
			     " bytes, expected %" PRIu64 " (model size %" PRIu64 ")",
			     what, n, off, got, want, size);
		m_read(slot, off, want, ebuf);
		check_bytes(what, slot, off, ebuf, abuf, want);
		off += n;
		len -= n;
	}
}

static void write_full(int fd, const uint8_t *buf, uint64_t len, uint64_t off, int append)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t r = append ? write(fd, buf + done, len - done)
				   : pwrite(fd, buf + done, len - done, (off_t)(off + done));

		if (r <= 0)
			fail("write of %" PRIu64 " at %" PRIu64 ": %s", len - done, off + done,
			     r < 0 ? strerror(errno) : "returned 0");
		done += (uint64_t)r;
	}
}

static void on_sigbus(int sig)
{
	if (in_map)
		siglongjmp(map_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* memcpy to or from a mapping; -1 if it raised SIGBUS. */
static int map_copy(void *dst, const void *src, size_t n)
{
	if (sigsetjmp(map_jmp, 1)) {
		in_map = 0;
		return -1;
	}
	in_map = 1;
	memcpy(dst, src, n);
	in_map = 0;
	return 0;
}

/* ---- operations ------------------------------------------------------------ */

static void do_truncate(int h, uint64_t ns, const char *why)
{
	int slot = hs[h].slot;
	int bypath = cur_name >= 0 && rnd_below(4) == 0;

	S->counts[OP_TRUNCATE]++;
	note("truncate %s%s%s %" PRIu64 " -> %" PRIu64 "%s", bypath ? fname[cur_name] : "",
	     bypath ? " " : "", hdesc(h), inodes[slot].size, ns, why);
	if (bypath) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", cfg.dir, fname[cur_name]);
		if (truncate(path, (off_t)ns) != 0)
			fail("truncate %s %" PRIu64 ": %s", path, ns, strerror(errno));
	} else if (ftruncate(hs[h].fd, (off_t)ns) != 0) {
		fail("ftruncate %" PRIu64 ": %s", ns, strerror(errno));
	}
	m_truncate(slot, ns);
}

/* What a write does instead when the model has no room for it. */
static void shrink(int h)
{
	uint64_t dense = min64(inodes[hs[h].slot].size, cfg.maxsize);

	do_truncate(h, rnd_below(dense / 2 + 1), " (instead of a write: model budget)");
}

static void op_read(int h)
{
	int slot = hs[h].slot;
	uint64_t size = inodes[slot].size, off, len;

	S->counts[OP_READ]++;
	if (size <= 2 * cfg.maxsize && rnd_below(16) == 0) {
		/* the whole file and one byte more, to see EOF where the model has it */
		off = 0;
		len = size + 1;
	} else {
		off = pick_off(size);
		len = pick_len();
	}
	note("read %s %" PRIu64 "+%" PRIu64 " size %" PRIu64, hdesc(h), off, len, size);
	read_check(hs[h].fd, slot, off, len, "read");
}

static void op_write(int h)
{
	int slot = hs[h].slot;
	uint64_t size = inodes[slot].size, off, len = pick_len(), r = rnd_below(100);

	if (hs[h].append) {
		off = size;
	} else {
		uint64_t lim;

		if (r < 5 && cfg.far > cfg.maxsize) {
			/* far past the rest: a sparse file */
			len = min64(len, 16384);
			off = cfg.maxsize + rnd_below(cfg.far - cfg.maxsize);
		} else if (r < 25) {
			/* around EOF: extends, or overwrites the tail */
			off = size + rnd_below(page) - min64(size, rnd_below(page));
		} else {
			off = shape(rnd_below(cfg.maxsize), cfg.maxsize);
		}
		lim = off < cfg.maxsize ? cfg.maxsize : cfg.far;
		if (off >= lim)
			off = lim - 1;
		len = min64(len, lim - off);
	}
	if (!m_fits(slot, off, len)) {
		shrink(h);
		return;
	}
	S->counts[OP_WRITE]++;
	note("write %s %" PRIu64 "+%" PRIu64 " size %" PRIu64 "%s", hdesc(h), off, len, size,
	     off + len > size ? " (extends)" : "");
	fill_random(ebuf, len);
	write_full(hs[h].fd, ebuf, len, off, hs[h].append);
	m_write(slot, off, ebuf, len);
}

static void op_mapread(int h)
{
	int slot = hs[h].slot;
	uint64_t size = inodes[slot].size, off, len, end, pa, want;
	uint8_t *p;

	if (size == 0) {
		op_read(h);
		return;
	}
	S->counts[OP_MAPREAD]++;
	off = pick_in(size);
	len = pick_len();
	/*
	 * Up to the end of the page holding EOF: POSIX has the rest of that
	 * page read as zeros. Past it would be SIGBUS.
	 */
	end = min64(off + len, (size + page - 1) / page * page);
	len = end - off;
	pa = off - off % page;
	note("mapread %s %" PRIu64 "+%" PRIu64 " size %" PRIu64, hdesc(h), off, len, size);
	p = mmap(NULL, end - pa, PROT_READ, MAP_SHARED, hs[h].fd, (off_t)pa);
	if (p == MAP_FAILED)
		fail("mmap %" PRIu64 "+%" PRIu64 " PROT_READ: %s", pa, end - pa, strerror(errno));
	if (map_copy(abuf, p + (off - pa), len) != 0)
		fail("SIGBUS reading the mapping in [%" PRIu64 ", %" PRIu64
		     "), model size %" PRIu64,
		     off, end, size);
	if (munmap(p, end - pa) != 0)
		fail("munmap: %s", strerror(errno));
	want = min64(len, size - off);
	m_read(slot, off, want, ebuf);
	memset(ebuf + want, 0, len - want);
	check_bytes("mapread", slot, off, ebuf, abuf, len);
}

/* A few stores into one mapping, then one msync for them all. */
static void op_mapwrite(int h)
{
	int slot = hs[h].slot;
	uint64_t size = inodes[slot].size, off, len, pa, stores;
	uint8_t *p;

	if (size == 0) {
		op_write(h);
		return;
	}
	/* only inside the file: stores past EOF are not part of it */
	off = pick_in(size);
	len = min64(pick_len(), size - off);
	if (!m_fits(slot, off, len)) {
		shrink(h);
		return;
	}
	S->counts[OP_MAPWRITE]++;
	pa = off - off % page;
	stores = 1 + (rnd_below(2) ? 0 : rnd_below(4));
	note("mapwrite %s %" PRIu64 "+%" PRIu64 " size %" PRIu64 ", %" PRIu64 " store(s)", hdesc(h),
	     off, len, size, stores);
	p = mmap(NULL, off + len - pa, PROT_READ | PROT_WRITE, MAP_SHARED, hs[h].fd, (off_t)pa);
	if (p == MAP_FAILED)
		fail("mmap %" PRIu64 "+%" PRIu64 " PROT_WRITE: %s", pa, off + len - pa,
		     strerror(errno));
	for (uint64_t i = 0; i < stores; i++) {
		/* the first store covers the whole range, later ones parts of it */
		uint64_t so = i ? rnd_below(len) : 0;
		uint64_t sl = i ? 1 + rnd_below(len - so) : len;

		fill_random(ebuf, sl);
		if (map_copy(p + (off - pa) + so, ebuf, sl) != 0)
			fail("SIGBUS writing the mapping in [%" PRIu64 ", %" PRIu64
			     "), model size %" PRIu64,
			     off + so, off + so + sl, size);
		m_write(slot, off + so, ebuf, sl);
	}
	/* before the turn passes: the data must reach the filesystem */
	if (msync(p, off + len - pa, MS_SYNC) != 0)
		fail("msync: %s", strerror(errno));
	if (munmap(p, off + len - pa) != 0)
		fail("munmap: %s", strerror(errno));
}

static void op_truncate(int h)
{
	uint64_t size = inodes[hs[h].slot].size, dense = min64(size, cfg.maxsize), ns;
	uint64_t r = rnd_below(100);

	if (r < 5)
		ns = 0;
	else if (r < 40)
		ns = shape(rnd_below(dense + 1), dense + 1);
	else if (r < 55)
		ns = rnd_below(size + 1);
	else if (r < 94 || cfg.far <= cfg.maxsize)
		ns = size < cfg.maxsize
			 ? shape(size + rnd_below(cfg.maxsize - size + 1), cfg.maxsize + 1)
			 : min64(size + rnd_below(2 * page), cfg.far);
	else
		ns = cfg.maxsize + rnd_below(cfg.far - cfg.maxsize + 1);
	do_truncate(h, ns, ns < size ? " (down)" : ns > size ? " (up)" : "");
}

static void op_fsync(int h)
{
	int data = (int)rnd_below(2);

	S->counts[OP_FSYNC]++;
	note("%s %s", data ? "fdatasync" : "fsync", hdesc(h));
	if ((data ? fdatasync(hs[h].fd) : fsync(hs[h].fd)) != 0)
		fail("%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

static void op_reopen(int h)
{
	uint64_t r = rnd_below(8);
	int extra = (r == 0 ? O_TRUNC : 0) | (r >= 6 ? O_APPEND : 0);

	extra &= ~(cfg.exclude & X_OTRUNC ? O_TRUNC : 0) & ~(cfg.exclude & X_APPEND ? O_APPEND : 0);

	if (cur_name < 0) {
		/* an unlinked file cannot be opened again: just close it */
		S->counts[OP_CLOSE]++;
		h_close(h);
		return;
	}
	S->counts[OP_REOPEN]++;
	h_close(h);
	h_open(cur_name, extra);
}

static int random_name(int exists)
{
	int n = 0, cand[MAX_FILES];

	for (int i = 0; i < cfg.nfiles; i++)
		if ((S->names[i] >= 0) == exists)
			cand[n++] = i;
	return n ? cand[rnd_below((uint64_t)n)] : -1;
}

/* An unlinked name must give ENOENT. */
static void expect_enoent(int n, const char *what, int r)
{
	if (r == 0 || errno != ENOENT)
		fail("%s of missing %s: %s, expected ENOENT", what, fname[n],
		     r == 0 ? "succeeded" : strerror(errno));
}

static void op_rename(void)
{
	int a = random_name(1), b, sa, sb, gone = random_name(0);

	if (a < 0) {
		op_create((int)rnd_below((uint64_t)cfg.nfiles));
		return;
	}
	S->counts[OP_RENAME]++;
	if (gone >= 0 && rnd_below(16) == 0) {
		note("rename %s %s (missing)", fname[gone], fname[a]);
		expect_enoent(gone, "rename", renameat(dfd, fname[gone], dfd, fname[a]));
		return;
	}
	b = a;
	if (cfg.nfiles > 1)
		while (b == a)
			b = (int)rnd_below((uint64_t)cfg.nfiles);
	sa = S->names[a];
	sb = S->names[b];
	if (sb < 0)
		note("rename %s (i%u) %s (new name)", fname[a], inodes[sa].id, fname[b]);
	else
		note("rename %s (i%u) %s (i%u)", fname[a], inodes[sa].id, fname[b], inodes[sb].id);
	if (renameat(dfd, fname[a], dfd, fname[b]) != 0)
		fail("rename %s %s: %s", fname[a], fname[b], strerror(errno));
	/* two names of one file: POSIX has rename do nothing, both stay */
	if (sa == sb)
		return;
	if (sb >= 0) {
		inodes[sb].nlink--;
		maybe_free(sb);
	}
	S->names[b] = sa;
	S->names[a] = -1;
}

static void op_link(void)
{
	int a = random_name(1), b = random_name(0), sa;

	if (a < 0) {
		op_create((int)rnd_below((uint64_t)cfg.nfiles));
		return;
	}
	S->counts[OP_LINK]++;
	sa = S->names[a];
	if (b < 0 || rnd_below(10) == 0) {
		/* onto an existing name */
		b = (int)rnd_below((uint64_t)cfg.nfiles);
		if (S->names[b] >= 0) {
			int r;

			note("link %s %s (exists)", fname[a], fname[b]);
			r = linkat(dfd, fname[a], dfd, fname[b], 0);
			if (r == 0 || errno != EEXIST)
				fail("link onto existing %s: %s, expected EEXIST", fname[b],
				     r == 0 ? "succeeded" : strerror(errno));
			return;
		}
	}
	note("link %s (i%u) %s", fname[a], inodes[sa].id, fname[b]);
	if (linkat(dfd, fname[a], dfd, fname[b], 0) != 0)
		fail("link %s %s: %s", fname[a], fname[b], strerror(errno));
	inodes[sa].nlink++;
	S->names[b] = sa;
}

static void op_unlink(void)
{
	int a = random_name(1), sa;

	S->counts[OP_UNLINK]++;
	if (a < 0 || rnd_below(16) == 0) {
		int gone = random_name(0);

		if (gone >= 0) {
			note("unlink %s (missing)", fname[gone]);
			expect_enoent(gone, "unlink", unlinkat(dfd, fname[gone], 0));
			return;
		}
	}
	if (a < 0)
		fail("unlink: no name exists and none is missing (a bug in fsx)");
	sa = S->names[a];
	note("unlink %s (i%u, %d names, %d open)", fname[a], inodes[sa].id, inodes[sa].nlink,
	     inodes[sa].opens);
	if (unlinkat(dfd, fname[a], 0) != 0)
		fail("unlink %s: %s", fname[a], strerror(errno));
	S->names[a] = -1;
	inodes[sa].nlink--;
	maybe_free(sa);
}

/*
 * Only what POSIX promises: a filesystem may call a hole data, never data
 * a hole. So a hole it reports must read as zeros in the model, offsets stay
 * in [off, size], and EOF has the implicit hole.
 */
static void op_seek(int h)
{
	int slot = hs[h].slot, fd = hs[h].fd, data = (int)rnd_below(2);
	uint64_t size = inodes[slot].size, off = pick_off(size), d, z;
	off_t r;

	S->counts[OP_SEEK]++;
	note("seek %s %s %" PRIu64 " size %" PRIu64, data ? "SEEK_DATA" : "SEEK_HOLE", hdesc(h),
	     off, size);
	r = lseek(fd, (off_t)off, data ? SEEK_DATA : SEEK_HOLE);
	if (off >= size) {
		if (r != -1 || errno != ENXIO)
			fail("lseek(%" PRIu64 ", %s) at or past EOF %" PRIu64
			     " returned %jd (%s), expected ENXIO",
			     off, data ? "SEEK_DATA" : "SEEK_HOLE", size, (intmax_t)r,
			     r == -1 ? strerror(errno) : "no error");
		return;
	}
	if (data) {
		if (r == -1 && errno != ENXIO)
			fail("lseek(%" PRIu64 ", SEEK_DATA): %s", off, strerror(errno));
		d = r == -1 ? size : (uint64_t)r;
		if (d < off || (r != -1 && d >= size))
			fail("lseek(%" PRIu64 ", SEEK_DATA) = %jd, outside [%" PRIu64 ", %" PRIu64
			     ")",
			     off, (intmax_t)r, off, size);
		z = m_first_data(slot, off, d);
		if (z != UINT64_MAX)
			fail("lseek(%" PRIu64 ", SEEK_DATA) = %jd skips data: the model has byte "
			     "%" PRIu64 " nonzero",
			     off, (intmax_t)r, z);
		return;
	}
	if (r == -1)
		fail("lseek(%" PRIu64 ", SEEK_HOLE) before EOF %" PRIu64 ": %s", off, size,
		     strerror(errno));
	if ((uint64_t)r < off || (uint64_t)r > size)
		fail("lseek(%" PRIu64 ", SEEK_HOLE) = %jd, outside [%" PRIu64 ", %" PRIu64 "]", off,
		     (intmax_t)r, off, size);
	if ((uint64_t)r == size)
		return;
	/* a hole starts at r: it runs to the next data, and must read as zeros */
	off = (uint64_t)r;
	r = lseek(fd, (off_t)off, SEEK_DATA);
	if (r == -1 && errno != ENXIO)
		fail("lseek(%" PRIu64 ", SEEK_DATA): %s", off, strerror(errno));
	d = r == -1 ? size : (uint64_t)r;
	if (d <= off || d > size)
		fail("SEEK_HOLE gave a hole at %" PRIu64 " but SEEK_DATA from there = %jd", off,
		     (intmax_t)r);
	z = m_first_data(slot, off, d);
	if (z != UINT64_MAX)
		fail("hole [%" PRIu64 ", %" PRIu64 ") from SEEK_HOLE/SEEK_DATA has data: the model "
		     "has byte %" PRIu64 " nonzero",
		     off, d, z);
}

/* fallocate PUNCH_HOLE|KEEP_SIZE, or ZERO_RANGE with or without KEEP_SIZE
 * (which may grow the file, like a truncate up). */
static void op_punch(int h)
{
	int slot = hs[h].slot, zero = rnd_below(3) == 0;
	int keep = !zero || rnd_below(2), mode;
	uint64_t size = inodes[slot].size, off = pick_off(size), len = pick_len();

	if (rnd_below(8) == 0)
		len *= 16; /* a long one: many whole pages */
	if (off >= cfg.far)
		off = cfg.far - 1;
	len = min64(len, cfg.far - off);
	mode =
	    (zero ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) | (keep ? FALLOC_FL_KEEP_SIZE : 0);
	S->counts[OP_PUNCH]++;
	note("%s%s %s %" PRIu64 "+%" PRIu64 " size %" PRIu64, zero ? "zero range" : "punch hole",
	     keep ? "" : " (may grow)", hdesc(h), off, len, size);
	if (fallocate(hs[h].fd, mode, (off_t)off, (off_t)len) != 0)
		fail("fallocate %s %" PRIu64 "+%" PRIu64 ": %s", zero ? "ZERO_RANGE" : "PUNCH_HOLE",
		     off, len, strerror(errno));
	m_zero(slot, off, off + len);
	if (!keep && off + len > size)
		inodes[slot].size = off + len;
}

static void op_stat(int h)
{
	int n = (int)rnd_below((uint64_t)cfg.nfiles), r;
	struct stat st;

	S->counts[OP_STAT]++;
	note("stat %s, %s", hdesc(h), fname[n]);
	if (fstat(hs[h].fd, &st) != 0)
		fail("fstat: %s", strerror(errno));
	check_stat("fstat", &st, hs[h].slot);
	r = fstatat(dfd, fname[n], &st, AT_SYMLINK_NOFOLLOW);
	if (S->names[n] < 0)
		expect_enoent(n, "stat", r);
	else if (r != 0)
		fail("stat %s: %s", fname[n], strerror(errno));
	else
		check_stat(fname[n], &st, S->names[n]);
}

/* "fsx.N" -> N; -1 for other names, which belong to someone else. */
static int parse_name(const char *s)
{
	long v = 0;

	if (strncmp(s, "fsx.", 4) != 0 || !s[4])
		return -1;
	for (s += 4; *s; s++) {
		if (*s < '0' || *s > '9' || v > 1000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return (int)v;
}

/* The fsx names in the directory are exactly the model's. */
static void check_dir(void)
{
	int seen[MAX_FILES] = {0}, fd;
	DIR *d;
	struct dirent *de;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || !(d = fdopendir(fd)))
		fail("opendir %s: %s", cfg.dir, strerror(errno));
	for (errno = 0; (de = readdir(d)); errno = 0) {
		int n = parse_name(de->d_name);

		if (n < 0)
			continue;
		if (n >= cfg.nfiles || S->names[n] < 0)
			fail("readdir: %s is listed but does not exist", de->d_name);
		if (seen[n]++)
			fail("readdir: %s is listed twice", de->d_name);
	}
	if (errno)
		fail("readdir: %s", strerror(errno));
	closedir(d);
	for (int n = 0; n < cfg.nfiles; n++)
		if (S->names[n] >= 0 && !seen[n])
			fail("readdir: %s exists but is not listed", fname[n]);
}

static void op_readdir(void)
{
	S->counts[OP_READDIR]++;
	note("readdir");
	check_dir();
}

static int pick_kind(void)
{
	unsigned total = 0, r;

	for (int k = 0; k < OP_NDRAWN; k++)
		if (!(cfg.exclude & (1u << k)))
			total += op_weights[k];
	r = (unsigned)rnd_below(total);
	for (int k = 0; k < OP_NDRAWN; k++) {
		if (cfg.exclude & (1u << k))
			continue;
		if (r < op_weights[k])
			return k;
		r -= op_weights[k];
	}
	return OP_READ;
}

static void one_op(void)
{
	int kind, h;

	/* others' unlinks may have left this process more unlinked files */
	while (orphan_count() > ORPHANS_MAX)
		close_orphan();
	kind = pick_kind();
	switch (kind) {
	case OP_RENAME:
		op_rename();
		return;
	case OP_LINK:
		op_link();
		return;
	case OP_UNLINK:
		op_unlink();
		return;
	case OP_READDIR:
		op_readdir();
		return;
	default:
		break;
	}
	h = target();
	if (h < 0)
		return;
	switch (kind) {
	case OP_READ:
		op_read(h);
		break;
	case OP_WRITE:
		op_write(h);
		break;
	case OP_MAPREAD:
		op_mapread(h);
		break;
	case OP_MAPWRITE:
		op_mapwrite(h);
		break;
	case OP_TRUNCATE:
		op_truncate(h);
		break;
	case OP_FSYNC:
		op_fsync(h);
		break;
	case OP_REOPEN:
		op_reopen(h);
		break;
	case OP_SEEK:
		op_seek(h);
		break;
	case OP_PUNCH:
		op_punch(h);
		break;
	default:
		op_stat(h);
		break;
	}
}

/* ---- processes --------------------------------------------------------------- */

/* To the next process that is not done; the order is fixed, so replayable. */
static void pass_turn(void)
{
	int next = me;

	do
		next = (next + 1) % cfg.nprocs;
	while (S->done[next] && next != me);
	S->turn = next;
	pthread_cond_broadcast(&S->turn_cv);
}

static void alloc_buffers(void)
{
	ebuf = malloc(BUF_SIZE);
	abuf = malloc(BUF_SIZE);
	if (!ebuf || !abuf) {
		perror("fsx: malloc");
		exit(2);
	}
}

static _Noreturn void child(int idx)
{
	struct sigaction sa;

	me = idx;
	/* each process its own stream: SEED + its index */
	rng = cfg.seed + (uint64_t)idx;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	pthread_mutex_lock(&S->lock);
	dfd = open(cfg.dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		fail("open %s: %s", cfg.dir, strerror(errno));
	for (;;) {
		uint64_t burst;

		while (S->turn != me && !S->failed)
			pthread_cond_wait(&S->turn_cv, &S->lock);
		if (S->failed) {
			pthread_mutex_unlock(&S->lock);
			exit(2);
		}
		/* random bursts, so that the interleaving varies with the seed */
		burst = rnd_below(2) ? 1 : 1 + rnd_below(16);
		while (burst-- > 0 && S->next_op < cfg.nops) {
			cur_op = S->next_op++;
			one_op();
		}
		if (S->next_op >= cfg.nops)
			break;
		pass_turn();
	}
	cur_op = cfg.nops;
	while (nhs > 0)
		h_close(nhs - 1);
	close(dfd);
	S->done[me] = 1;
	pass_turn();
	pthread_mutex_unlock(&S->lock);
	exit(0);
}

/* ---- SHA-256 (FIPS 180-4), for the manifest ---------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t nbuf;
};

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, c->h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + sha_k[i] + w[i];
		uint32_t s0 = ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + s0 + maj;
	}
	for (int i = 0; i < 8; i++)
		c->h[i] += v[i];
}

static void sha_init(struct sha256 *c)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->nbuf = 0;
}

static void sha_update(struct sha256 *c, const uint8_t *p, size_t n)
{
	c->len += n;
	while (n > 0) {
		size_t k = 64 - c->nbuf < n ? 64 - c->nbuf : n;

		if (c->nbuf == 0 && n >= 64) {
			sha_block(c, p);
			p += 64;
			n -= 64;
			continue;
		}
		memcpy(c->buf + c->nbuf, p, k);
		c->nbuf += k;
		p += k;
		n -= k;
		if (c->nbuf == 64) {
			sha_block(c, c->buf);
			c->nbuf = 0;
		}
	}
}

static void sha_final(struct sha256 *c, char hex[65])
{
	uint64_t bits = c->len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (c->nbuf < 56 ? 56 : 120) - c->nbuf;

	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha_update(c, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08x", c->h[i]);
}

/* ---- the parent: setup, final check, manifest --------------------------------- */

static int group_of(int n)
{
	for (int i = 0; i < n; i++)
		if (S->names[i] == S->names[n])
			return i;
	return n;
}

/*
 * After the children are done and every descriptor is closed: each name
 * read whole through a fresh descriptor, no file left behind, and the
 * manifest written.
 */
static void final_check(void)
{
	FILE *mf = NULL;

	cur_op = cfg.nops;
	dfd = open(cfg.dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		fail("open %s: %s", cfg.dir, strerror(errno));
	for (size_t s = 0; s < nslots; s++)
		if (inodes[s].used && (inodes[s].nlink == 0 || inodes[s].opens != 0))
			fail("model: file i%u left with %d names, %d open (a bug in fsx)",
			     inodes[s].id, inodes[s].nlink, inodes[s].opens);
	check_dir();
	if (cfg.manifest) {
		mf = fopen(cfg.manifest, "w");
		if (!mf)
			fail("%s: %s", cfg.manifest, strerror(errno));
		fprintf(mf, "# fsx manifest: sha256 size nlink group name "
			    "(group: the first name of the same file)\n");
	}
	for (int n = 0; n < cfg.nfiles; n++) {
		int slot = S->names[n], fd;
		struct stat st;
		struct sha256 sc;
		char hex[65];

		if (slot < 0)
			continue;
		note("final check %s (i%u, size %" PRIu64 ")", fname[n], inodes[slot].id,
		     inodes[slot].size);
		fd = openat(dfd, fname[n], O_RDONLY);
		if (fd < 0)
			fail("open %s: %s", fname[n], strerror(errno));
		if (fstat(fd, &st) != 0)
			fail("fstat: %s", strerror(errno));
		check_stat("final fstat", &st, slot);
		read_check(fd, slot, 0, inodes[slot].size + 1, "final read");
		close(fd);
		if (!mf)
			continue;
		/* read_check found the file equal to the model: hash the model */
		sha_init(&sc);
		for (uint64_t off = 0; off < inodes[slot].size; off += BUF_SIZE) {
			uint64_t k = min64(BUF_SIZE, inodes[slot].size - off);

			m_read(slot, off, k, ebuf);
			sha_update(&sc, ebuf, k);
		}
		sha_final(&sc, hex);
		fprintf(mf, "%s %" PRIu64 " %d %s %s\n", hex, inodes[slot].size, inodes[slot].nlink,
			fname[group_of(n)], fname[n]);
	}
	if (mf && fclose(mf) != 0)
		fail("%s: %s", cfg.manifest, strerror(errno));
	close(dfd);
}

/* Names of earlier runs would not be in the model. */
static void clean_dir(void)
{
	DIR *d = opendir(cfg.dir);
	struct dirent *de;

	if (!d) {
		fprintf(stderr, "fsx: %s: %s\n", cfg.dir, strerror(errno));
		exit(2);
	}
	while ((de = readdir(d))) {
		if (parse_name(de->d_name) >= 0 && unlinkat(dirfd(d), de->d_name, 0) != 0) {
			fprintf(stderr, "fsx: unlink %s/%s: %s\n", cfg.dir, de->d_name,
				strerror(errno));
			exit(2);
		}
	}
	closedir(d);
}

static void setup_shared(void)
{
	size_t off_inodes, off_ctab, off_free, off_pool, total;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	uint8_t *base;

	nslots = (size_t)cfg.nfiles + (size_t)cfg.nprocs * (cfg.nfiles + ORPHANS_MAX) + 1;
	tablen = (cfg.far + CHUNK - 1) / CHUNK;
	budget = (cfg.maxsize + CHUNK - 1) / CHUNK + FAR_CHUNKS;
	npool = nslots * budget;
	off_inodes = (sizeof(struct shared) + 63) & ~(size_t)63;
	off_ctab = off_inodes + ((nslots * sizeof(struct minode) + 63) & ~(size_t)63);
	off_free = off_ctab + ((nslots * tablen * sizeof(int32_t) + 63) & ~(size_t)63);
	off_pool = (off_free + npool * sizeof(int32_t) + page - 1) / page * page;
	total = off_pool + npool * CHUNK;
	/* untouched chunks cost nothing: reserve no swap for them */
	base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (base == MAP_FAILED) {
		perror("fsx: mmap of the model");
		exit(2);
	}
	S = (struct shared *)base;
	inodes = (struct minode *)(base + off_inodes);
	ctab = (int32_t *)(base + off_ctab);
	free_stack = (int32_t *)(base + off_free);
	pool = base + off_pool;
	for (size_t i = 0; i < nslots * tablen; i++)
		ctab[i] = -1;
	for (size_t i = 0; i < npool; i++)
		free_stack[i] = (int32_t)(npool - 1 - i);
	S->free_top = npool;
	for (int n = 0; n < MAX_FILES; n++)
		S->names[n] = -1;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&S->lock, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&S->turn_cv, &ca);
}

static _Noreturn void usage(void)
{
	fprintf(stderr,
		"usage: fsx [-n OPS] [-s SEED] [-f FILES] [-p PROCS] [-m MAXSIZE] [-F FARMAX]\n"
		"           [-x OP,...] [-o MANIFEST] [-v] DIR\n"
		"  -n  operations in all (100000)       -s  seed (1)\n"
		"  -f  files, names fsx.0.. (4, <= %d)  -p  processes (2, <= %d)\n"
		"  -m  file size for most ops (1M)      -F  far offsets up to (64M; -F 0: none)\n"
		"  -x  leave out ops: read,write,mapread,mapwrite,truncate,fsync,reopen,\n"
		"      rename,link,unlink,seek,stat,readdir,punch; and the open flags\n"
		"      otrunc,append\n"
		"  -o  write a manifest of the final files (sha256 size nlink group name)\n"
		"  -v  print every operation\n"
		"Sizes take K, M, G. With the same options a run repeats exactly.\n",
		MAX_FILES, MAX_PROCS);
	exit(2);
}

static uint64_t parse_num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		usage();
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		usage();
	return v;
}

static void parse_exclude(char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		int k;

		if (strcmp(tok, "otrunc") == 0) {
			cfg.exclude |= X_OTRUNC;
			continue;
		}
		if (strcmp(tok, "append") == 0) {
			cfg.exclude |= X_APPEND;
			continue;
		}
		for (k = 0; k < OP_NDRAWN; k++)
			if (strcmp(tok, op_names[k]) == 0)
				break;
		if (k == OP_NDRAWN) {
			fprintf(stderr, "fsx: unknown op %s\n", tok);
			usage();
		}
		cfg.exclude |= 1u << k;
	}
}

int main(int argc, char **argv)
{
	pid_t pids[MAX_PROCS];
	struct timespec t0, t1;
	int opt, bad = 0, far_set = 0;
	double secs;

	cfg.nops = 100000;
	cfg.seed = 1;
	cfg.nfiles = 4;
	cfg.nprocs = 2;
	cfg.maxsize = 1 << 20;
	cfg.far = 64 << 20;
	while ((opt = getopt(argc, argv, "n:s:f:p:m:F:x:o:v")) != -1) {
		switch (opt) {
		case 'n':
			cfg.nops = parse_num(optarg);
			break;
		case 's':
			cfg.seed = parse_num(optarg);
			break;
		case 'f':
			cfg.nfiles = (int)min64(parse_num(optarg), MAX_FILES + 1);
			break;
		case 'p':
			cfg.nprocs = (int)min64(parse_num(optarg), MAX_PROCS + 1);
			break;
		case 'm':
			cfg.maxsize = parse_num(optarg);
			break;
		case 'F':
			cfg.far = parse_num(optarg);
			far_set = 1;
			break;
		case 'x':
			parse_exclude(optarg);
			break;
		case 'o':
			cfg.manifest = optarg;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || cfg.nfiles < 1 || cfg.nfiles > MAX_FILES || cfg.nprocs < 1 ||
	    cfg.nprocs > MAX_PROCS || cfg.maxsize < 1 || cfg.maxsize > ((uint64_t)1 << 30) ||
	    cfg.far > ((uint64_t)1 << 40))
		usage();
	if ((cfg.exclude & ((1u << OP_NDRAWN) - 1)) == (1u << OP_NDRAWN) - 1) {
		fprintf(stderr, "fsx: every op left out\n");
		usage();
	}
	/* -F below -m means no far offsets; the default grows with -m */
	if (cfg.far < cfg.maxsize)
		cfg.far = far_set ? cfg.maxsize : 4 * cfg.maxsize;
	cfg.dir = argv[optind];
	page = (uint64_t)sysconf(_SC_PAGESIZE);
	for (int n = 0; n < MAX_FILES; n++)
		snprintf(fname[n], sizeof(fname[n]), "fsx.%d", n);
	alloc_buffers();
	setup_shared();
	clean_dir();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fflush(stdout);
	for (int i = 0; i < cfg.nprocs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fsx: fork");
			for (int j = 0; j < i; j++)
				kill(pids[j], SIGKILL);
			exit(2);
		}
		if (pids[i] == 0)
			child(i);
	}
	for (int left = cfg.nprocs; left > 0; left--) {
		int st, i;
		pid_t pid = wait(&st);

		if (pid < 0) {
			perror("fsx: wait");
			exit(2);
		}
		for (i = 0; i < cfg.nprocs && pids[i] != pid; i++)
			;
		if (i == cfg.nprocs)
			continue;
		pids[i] = 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		if (!bad && !S->failed) {
			/* it died without a report: make one from the log */
			cur_op = S->next_op ? S->next_op - 1 : 0;
			fail_begin("process %d %s %d", i,
				   WIFSIGNALED(st) ? "killed by signal" : "exited with status",
				   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			print_log();
		}
		bad = 1;
		/* one failed: the rest may wait for a turn that never comes */
		for (int j = 0; j < cfg.nprocs; j++)
			if (pids[j] > 0)
				kill(pids[j], SIGKILL);
	}
	if (bad)
		exit(1);
	final_check();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("fsx: %" PRIu64 " ops in %.2f s, seed %" PRIu64 ", %d processes, %d files:",
	       cfg.nops, secs, cfg.seed, cfg.nprocs, cfg.nfiles);
	for (int k = 0; k < OP_NKINDS; k++)
		printf(" %s %" PRIu64, op_names[k], S->counts[k]);
	printf("\n");
	return 0;
}
