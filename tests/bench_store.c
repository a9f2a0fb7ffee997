/*
 * bench_store.c - figures for the store engine, measured in one run on one
 * disk: sequential commit throughput against plain write()+fdatasync(),
 * random-write commit rate and write amplification, compaction speed, the
 * writer-lock hold of compaction's final catch-up under load, and peak
 * memory. It reports; it does not pass or fail.
 *
 * Usage: bench_store [-s SCALE] [-d DIR] [-t FIGURES] [-k]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define MIB		 (1024ull * 1024ull)
#define PAGE		 ST_PAGE_SIZE
#define WRITE_SIZE	 MIB	       /* the sequential figures write 1 MiB at a time */
#define SEQ_COMMIT	 (64 * MIB)    /* and commit (or fdatasync) every 64 MiB */
#define SEQ_ROUNDS	 3	       /* store and reference rounds, alternating */
#define RAND_BATCH	 32	       /* random page writes per commit */
#define GC_WRITE	 (64 * 1024)   /* overwrite size when making garbage */
#define GC_COMMIT	 (16 * MIB)    /* commit interval when making garbage */
#define LIVE_WRITES	 4	       /* small writes per commit of the busy writer */
#define LIVE_COMPACTIONS 30	       /* compactions under load */
#define LIVE_BASE_NS	 5000000000ull /* the busy writer alone, for comparison */

static char *g_dir;	     /* the temporary directory, removed at the end */
static double g_scale = 1.0; /* -s: multiplies every size */
static bool g_keep;	     /* -k: keep the directory when something fails */
static atomic_flag g_dying = ATOMIC_FLAG_INIT;

/* ---- failing ------------------------------------------------------------ */

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d)) != NULL) {
			char *p;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
				continue;
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static _Noreturn void quit(void)
{
	/* Both threads of figure 4 may fail at once: one cleans up, the other waits. */
	if (atomic_flag_test_and_set(&g_dying))
		for (;;)
			pause();
	fflush(stdout);
	if (g_dir && g_keep)
		fprintf(stderr, "bench: kept %s\n", g_dir);
	else if (g_dir)
		remove_dir(g_dir);
	_exit(1);
}

static _Noreturn void die(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s: %s\n", what, st_strerror(rc), st_last_error()->msg);
	quit();
}

static _Noreturn void die_sys(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	quit();
}

static void check(int rc, const char *what)
{
	if (rc != ST_OK)
		die(what, rc);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die_sys("malloc");
	return p;
}

static char *path_of(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", g_dir, name) < 0)
		die_sys("asprintf");
	return p;
}

/* ---- measuring ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double mb_per_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes * 1e3 / (double)ns : 0.0;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array: with few samples p99 is the max. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;

	if (n == 0)
		return 0;
	return v[rank ? rank - 1 : 0];
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		die_sys(path);
	return (uint64_t)sb.st_size;
}

/* n times the scale, rounded, at least 1. */
static uint64_t scaled_count(uint64_t n)
{
	uint64_t v = (uint64_t)((double)n * g_scale + 0.5);

	return v ? v : 1;
}

static uint64_t scaled(uint64_t mib)
{
	return scaled_count(mib) * MIB;
}

/* A kB figure from /proc/self/status ("VmHWM", "VmRSS"); 0 if absent. */
static uint64_t proc_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t flen = strlen(field);
	char line[256];
	uint64_t kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			kb = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* ---- data ------------------------------------------------------------- */

static uint64_t rand_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd9dull;
}

/* The bytes of a page are a function of (tag, page): a read-back can check
 * every page against the last write that covered it without a copy. */
static void fill_page(uint8_t *p, uint64_t tag, uint64_t page)
{
	uint64_t s = (tag + 1) * 0x9e3779b97f4a7c15ull ^ (page * 0xbf58476d1ce4e5b9ull);

	s = s ? s : 1;
	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = rand_next(&s);
		memcpy(p + i, &v, 8);
	}
}

static void fill_pages(uint8_t *buf, uint64_t tag, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fill_page(buf + i * PAGE, tag, first + i);
}

/* A cheap per-call change, so no layer can notice repeated buffers. */
static void stamp(uint8_t *buf, uint64_t v)
{
	memcpy(buf, &v, sizeof(v));
}

static st_store *store_create(const char *path)
{
	st_store *st;

	check(st_open(path, ST_KIND_FILE, ST_CREATE | ST_EXCL, NULL, &st), "st_open");
	return st;
}

/* Whether the 1 MiB write at off is followed by a commit (or fdatasync). */
static bool sync_point(uint64_t off, uint64_t total)
{
	return (off + WRITE_SIZE) % SEQ_COMMIT == 0 || off + WRITE_SIZE >= total;
}

/* Writes [0, size) with tag 0 in 1 MiB writes, committing every 64 MiB. */
static void store_fill(st_store *st, uint64_t size, uint8_t *buf)
{
	for (uint64_t off = 0; off < size; off += WRITE_SIZE) {
		fill_pages(buf, 0, off / PAGE, WRITE_SIZE / PAGE);
		check(st_file_write(st, off, buf, WRITE_SIZE), "st_file_write");
		if (sync_point(off, size))
			check(st_commit(st, NULL), "st_commit");
	}
}

/* Reads the whole file back; tags (NULL: all 0) says which write each page
 * holds. Any mismatch is an engine bug, so it stops the run. */
static void store_verify(st_store *st, uint64_t size, const uint32_t *tags, uint8_t *buf,
			 uint8_t *want)
{
	for (uint64_t off = 0; off < size; off += WRITE_SIZE) {
		ssize_t r = st_file_read(st, off, buf, WRITE_SIZE);

		if (r < 0)
			die("st_file_read", (int)r);
		if ((uint64_t)r != WRITE_SIZE) {
			fprintf(stderr, "bench: st_file_read at %llu: %zd bytes, expected %llu\n",
				(unsigned long long)off, r, (unsigned long long)WRITE_SIZE);
			quit();
		}
		for (uint64_t p = 0; p < WRITE_SIZE / PAGE; p++) {
			uint64_t page = off / PAGE + p;

			fill_page(want, tags ? tags[page] : 0, page);
			if (memcmp(buf + p * PAGE, want, PAGE)) {
				fprintf(stderr, "bench: wrong data read back at offset %llu\n",
					(unsigned long long)(page * PAGE));
				quit();
			}
		}
	}
}

/* ---- 1. sequential commit throughput ---------------------------------- */

struct seq_result {
	uint64_t total;
	double store[SEQ_ROUNDS], plain[SEQ_ROUNDS];	       /* MB/s */
	uint64_t store_cpu[SEQ_ROUNDS], plain_cpu[SEQ_ROUNDS]; /* process CPU ns */
	double store_med, plain_med;
	uint64_t store_cpu_med, plain_cpu_med;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die_sys("write");
		buf += r;
		len -= (size_t)r;
	}
}

/*
 * Drops the synced pages of a file from the page cache, on both sides.
 * Without it each round takes fresh page-cache pages, and where the
 * memory is virtualised (freed guest pages handed back to the host)
 * faulting those in costs more than the disk and varies several-fold
 * from round to round. Dropped pages are reused at once, still warm.
 */
static void drop_cache(int fd)
{
	int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

	if (rc != 0) {
		errno = rc;
		die_sys("posix_fadvise");
	}
}

static double seq_plain(const char *path, uint8_t *buf, uint64_t total, uint64_t *cpu)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	uint64_t t0, c0;

	if (fd < 0)
		die_sys(path);
	t0 = now_ns();
	c0 = cpu_ns();
	for (uint64_t off = 0; off < total; off += WRITE_SIZE) {
		stamp(buf, off);
		write_all(fd, buf, WRITE_SIZE);
		if (sync_point(off, total)) {
			if (fdatasync(fd) < 0)
				die_sys("fdatasync");
			drop_cache(fd);
		}
	}
	*cpu = cpu_ns() - c0;
	t0 = now_ns() - t0;
	close(fd);
	if (unlink(path) < 0)
		die_sys(path);
	return mb_per_s(total, t0);
}

static double seq_store(const char *path, uint8_t *buf, uint64_t total, uint64_t *cpu)
{
	st_store *st = store_create(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC); /* only to drop its cache */
	uint64_t t0, c0;

	if (fd < 0)
		die_sys(path);
	t0 = now_ns();
	c0 = cpu_ns();
	for (uint64_t off = 0; off < total; off += WRITE_SIZE) {
		stamp(buf, off);
		check(st_file_write(st, off, buf, WRITE_SIZE), "st_file_write");
		if (sync_point(off, total)) {
			check(st_commit(st, NULL), "st_commit");
			drop_cache(fd);
		}
	}
	*cpu = cpu_ns() - c0;
	t0 = now_ns() - t0;
	close(fd);
	st_close(st);
	if (unlink(path) < 0)
		die_sys(path);
	return mb_per_s(total, t0);
}

static double median_double(const double *v)
{
	double s[SEQ_ROUNDS];

	memcpy(s, v, sizeof(s));
	qsort(s, SEQ_ROUNDS, sizeof(double), cmp_double);
	return s[SEQ_ROUNDS / 2];
}

static uint64_t median_u64(const uint64_t *v)
{
	uint64_t s[SEQ_ROUNDS];

	memcpy(s, v, sizeof(s));
	qsort(s, SEQ_ROUNDS, sizeof(uint64_t), cmp_u64);
	return s[SEQ_ROUNDS / 2];
}

static void bench_seq(struct seq_result *r)
{
	char *plain = path_of("seq.plain"), *store = path_of("seq.rev");
	uint8_t *buf = xmalloc(WRITE_SIZE);

	r->total = scaled(512);
	fill_pages(buf, 1, 0, WRITE_SIZE / PAGE);
	for (int i = 0; i < SEQ_ROUNDS; i++) {
		/* Alternate, so drift in the disk's speed hits both alike. */
		r->plain[i] = seq_plain(plain, buf, r->total, &r->plain_cpu[i]);
		r->store[i] = seq_store(store, buf, r->total, &r->store_cpu[i]);
		fprintf(stderr, "  [1] round %d: plain %.1f MB/s, store %.1f MB/s\n", i + 1,
			r->plain[i], r->store[i]);
	}
	r->plain_med = median_double(r->plain);
	r->store_med = median_double(r->store);
	r->plain_cpu_med = median_u64(r->plain_cpu);
	r->store_cpu_med = median_u64(r->store_cpu);
	free(buf);
	free(plain);
	free(store);
}

/* ---- 2. random page writes -------------------------------------------- */

struct rand_result {
	uint64_t size, writes, commits, growth;
	uint64_t ns;
	uint64_t entries; /* extents in the tree at the end */
};

static void bench_rand(struct rand_result *r)
{
	char *path = path_of("rand.rev");
	uint8_t *buf = xmalloc(WRITE_SIZE);
	uint64_t seed = 0x2545f4914f6cdd9dull, npages, before, t0;
	struct st_info info;
	st_store *st;

	r->size = scaled(256);
	r->commits = scaled_count(1024);
	r->writes = r->commits * RAND_BATCH;
	npages = r->size / PAGE;
	st = store_create(path);
	store_fill(st, r->size, buf);
	before = file_size(path);
	t0 = now_ns();
	for (uint64_t c = 0; c < r->commits; c++) {
		for (unsigned i = 0; i < RAND_BATCH; i++) {
			uint64_t page = rand_next(&seed) % npages;

			stamp(buf, c * RAND_BATCH + i);
			check(st_file_write(st, page * PAGE, buf, PAGE), "st_file_write");
		}
		check(st_commit(st, NULL), "st_commit");
	}
	r->ns = now_ns() - t0;
	check(st_info(st, &info), "st_info");
	r->entries = info.entries;
	st_close(st);
	/* After the close, which cuts off the reserve of zeros that small
	 * commits keep ahead of the tail: the growth is what was committed. */
	r->growth = file_size(path) - before;
	if (unlink(path) < 0)
		die_sys(path);
	free(buf);
	free(path);
}

/* ---- 3. compaction ---------------------------------------------------- */

struct gc_result {
	uint64_t live;	  /* file size: the bytes one version holds */
	uint64_t written; /* bytes written in all, overwrites included */
	struct st_info before, after;
	struct st_compact_stats stats;
	uint64_t ns;
	uint64_t again_after; /* file size after a second compaction */
};

static void bench_gc(struct gc_result *r)
{
	char *path = path_of("gc.rev");
	uint8_t *buf = xmalloc(WRITE_SIZE), *want = xmalloc(PAGE);
	uint64_t seed = 0x9e3779b97f4a7c15ull, npages, since = 0, t0;
	struct st_compact_stats again;
	uint32_t *tags;
	st_store *st;

	r->live = scaled(256);
	npages = r->live / PAGE;
	tags = calloc(npages, sizeof(*tags));
	if (!tags)
		die_sys("calloc");
	st = store_create(path);
	store_fill(st, r->live, buf);
	/* Twice the live size again in 64 KiB overwrites at page-aligned
	 * random offsets: records end up partly live, the tree fragmented. */
	r->written = r->live;
	for (uint32_t tag = 1; r->written < 3 * r->live; tag++) {
		uint64_t first = rand_next(&seed) % (npages - GC_WRITE / PAGE + 1);

		fill_pages(buf, tag, first, GC_WRITE / PAGE);
		check(st_file_write(st, first * PAGE, buf, GC_WRITE), "st_file_write");
		for (uint64_t p = first; p < first + GC_WRITE / PAGE; p++)
			tags[p] = tag;
		r->written += GC_WRITE;
		since += GC_WRITE;
		if (since >= GC_COMMIT || r->written >= 3 * r->live) {
			check(st_commit(st, NULL), "st_commit");
			since = 0;
		}
	}
	check(st_info(st, &r->before), "st_info");
	t0 = now_ns();
	check(st_compact(st, NULL, &r->stats), "st_compact");
	r->ns = now_ns() - t0;
	check(st_info(st, &r->after), "st_info");
	/* Nothing changed since: whatever a second pass still finds to copy is
	 * garbage the first one could not drop. */
	check(st_compact(st, NULL, &again), "st_compact (again)");
	r->again_after = again.bytes_after;
	/* The compacted file must read back whole, also after a reopen. */
	st_close(st);
	check(st_open(path, ST_KIND_FILE, 0, NULL, &st), "st_open after compaction");
	store_verify(st, r->live, tags, buf, want);
	st_close(st);
	if (unlink(path) < 0)
		die_sys(path);
	free(tags);
	free(want);
	free(buf);
	free(path);
}

/* ---- 4. final catch-up lock hold under load --------------------------- */

enum { PH_ALONE, PH_COMPACT, PH_STOP };

/* One round of the writer: its writes, then its commit. */
struct commit_rec {
	uint64_t start;	 /* of the first write */
	uint64_t cycle;	 /* writes and commit, ns */
	uint64_t commit; /* st_commit alone, ns */
};

struct lat {
	struct commit_rec *v;
	size_t n, cap;
};

struct live {
	st_store *st;
	uint64_t npages;
	atomic_int phase;
	struct lat lat[2]; /* the writer's commits: alone, during compaction */
	uint32_t *tags;	   /* the writer's last write to each page, 0: the fill */
};

static void lat_add(struct lat *l, uint64_t start, uint64_t cycle, uint64_t commit)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		struct commit_rec *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			die_sys("realloc");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].start = start;
	l->v[l->n].cycle = cycle;
	l->v[l->n].commit = commit;
	l->n++;
}

static void *live_writer(void *arg)
{
	struct live *lv = arg;
	uint64_t seed = 0xd1b54a32d192ed03ull;
	uint32_t tag = 0;
	uint8_t buf[PAGE];
	int ph;

	while ((ph = atomic_load(&lv->phase)) != PH_STOP) {
		uint64_t t0 = now_ns(), t1, t2;

		for (int i = 0; i < LIVE_WRITES; i++) {
			uint64_t page = rand_next(&seed) % lv->npages;

			fill_page(buf, ++tag, page);
			check(st_file_write(lv->st, page * PAGE, buf, PAGE),
			      "st_file_write (writer)");
			lv->tags[page] = tag;
		}
		t1 = now_ns();
		check(st_commit(lv->st, NULL), "st_commit (writer)");
		t2 = now_ns();
		lat_add(&lv->lat[ph], t0, t2 - t0, t2 - t1);
	}
	return NULL;
}

/* Notes when the final catch-up got the writer lock: with lock_hold_ns
 * that gives the window in which a writer's commit can be held up by it. */
static int live_hook(void *arg, enum st_compact_step step)
{
	if (step == ST_STEP_LOCKED)
		*(uint64_t *)arg = now_ns();
	return 0;
}

struct live_result {
	uint64_t size;
	uint64_t hold[LIVE_COMPACTIONS]; /* sorted */
	uint64_t took[LIVE_COMPACTIONS]; /* whole st_compact, sorted */
	uint64_t passes, copied;
	uint64_t phase_ns[2];
	uint64_t commits[2], commit_p99[2], commit_max[2], cycle_max[2];
	uint64_t overlap_n, overlap_max, apart_max; /* cycles vs the locked windows */
};

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Splits the writer's rounds during compaction by whether they overlapped
 * a locked window (its writes wait for the lock too): tells lock waits
 * apart from disk and CPU contention. */
static void live_overlap(struct live_result *r, const struct lat *l, const uint64_t *locked,
			 const uint64_t *hold)
{
	for (size_t i = 0; i < l->n; i++) {
		uint64_t s = l->v[i].start, e = s + l->v[i].cycle;
		bool over = false;

		for (int k = 0; k < LIVE_COMPACTIONS && !over; k++)
			over = locked[k] && s < locked[k] + hold[k] && e > locked[k];
		if (over) {
			r->overlap_n++;
			if (l->v[i].cycle > r->overlap_max)
				r->overlap_max = l->v[i].cycle;
		} else if (l->v[i].cycle > r->apart_max) {
			r->apart_max = l->v[i].cycle;
		}
	}
}

static void bench_live(struct live_result *r)
{
	char *path = path_of("live.rev");
	uint8_t *buf = xmalloc(WRITE_SIZE), *want = xmalloc(PAGE);
	uint64_t locked[LIVE_COMPACTIONS] = {0}, hold[LIVE_COMPACTIONS];
	struct st_compact_opts opts = {.hook = live_hook};
	struct live lv = {0};
	pthread_t th;
	uint64_t t0, t1;
	int rc;

	r->size = scaled(64);
	lv.npages = r->size / PAGE;
	if (!(lv.tags = calloc(lv.npages, sizeof(*lv.tags))))
		die_sys("calloc");
	lv.st = store_create(path);
	store_fill(lv.st, r->size, buf);
	atomic_init(&lv.phase, PH_ALONE);
	t0 = now_ns();
	if ((rc = pthread_create(&th, NULL, live_writer, &lv)) != 0) {
		errno = rc;
		die_sys("pthread_create");
	}
	sleep_ns(LIVE_BASE_NS);
	atomic_store(&lv.phase, PH_COMPACT);
	t1 = now_ns();
	r->phase_ns[PH_ALONE] = t1 - t0;
	for (int i = 0; i < LIVE_COMPACTIONS; i++) {
		struct st_compact_stats s;
		uint64_t c0 = now_ns();

		opts.hook_arg = &locked[i];
		check(st_compact(lv.st, &opts, &s), "st_compact (under load)");
		r->took[i] = now_ns() - c0;
		hold[i] = r->hold[i] = s.lock_hold_ns;
		r->passes += s.passes;
		r->copied += s.copied_bytes;
	}
	atomic_store(&lv.phase, PH_STOP);
	r->phase_ns[PH_COMPACT] = now_ns() - t1;
	if ((rc = pthread_join(th, NULL)) != 0) {
		errno = rc;
		die_sys("pthread_join");
	}
	live_overlap(r, &lv.lat[PH_COMPACT], locked, hold);
	qsort(r->hold, LIVE_COMPACTIONS, sizeof(uint64_t), cmp_u64);
	qsort(r->took, LIVE_COMPACTIONS, sizeof(uint64_t), cmp_u64);
	for (int p = 0; p < 2; p++) {
		struct lat *l = &lv.lat[p];
		uint64_t *ns = xmalloc((l->n ? l->n : 1) * sizeof(*ns));

		for (size_t i = 0; i < l->n; i++) {
			ns[i] = l->v[i].commit;
			if (l->v[i].cycle > r->cycle_max[p])
				r->cycle_max[p] = l->v[i].cycle;
		}
		qsort(ns, l->n, sizeof(uint64_t), cmp_u64);
		r->commits[p] = l->n;
		r->commit_p99[p] = percentile(ns, l->n, 99);
		r->commit_max[p] = l->n ? ns[l->n - 1] : 0;
		free(ns);
		free(l->v);
	}
	/* Every commit the writer made must have survived the switches. */
	check(st_check(lv.st, 0), "st_check after compactions");
	st_close(lv.st);
	check(st_open(path, ST_KIND_FILE, 0, NULL, &lv.st), "st_open after compactions");
	store_verify(lv.st, r->size, lv.tags, buf, want);
	st_close(lv.st);
	if (unlink(path) < 0)
		die_sys(path);
	free(lv.tags);
	free(want);
	free(buf);
	free(path);
}

/* ---- 5. peak memory --------------------------------------------------- */

struct mem_result {
	uint64_t size;
	uint64_t base_kb;   /* VmRSS before the store is opened, buffers touched */
	uint64_t maxrss_kb; /* getrusage ru_maxrss */
	uint64_t hwm_kb;    /* VmHWM */
};

/* Runs first, while the process holds little else: both figures are
 * high-water marks of the whole process's life. */
static void bench_mem(struct mem_result *r)
{
	char *path = path_of("mem.rev");
	uint8_t *buf = xmalloc(WRITE_SIZE), *want = xmalloc(PAGE);
	struct rusage ru;
	st_store *st;

	r->size = scaled(1024);
	memset(buf, 0, WRITE_SIZE);
	memset(want, 0, PAGE);
	r->base_kb = proc_status_kb("VmRSS");
	st = store_create(path);
	store_fill(st, r->size, buf);
	store_verify(st, r->size, NULL, buf, want);
	st_close(st);
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		die_sys("getrusage");
	r->maxrss_kb = (uint64_t)ru.ru_maxrss;
	r->hwm_kb = proc_status_kb("VmHWM");
	if (unlink(path) < 0)
		die_sys(path);
	free(want);
	free(buf);
	free(path);
}

/* ---- report ----------------------------------------------------------- */

static const char *met(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void print_seq(const struct seq_result *r)
{
	double ratio = r->plain_med > 0 ? r->store_med / r->plain_med : 0;
	double gib = (double)r->total / (double)(1024 * MIB);

	printf("1  sequential writes: %llu MiB in 1 MiB writes, commit every 64 MiB\n",
	       (unsigned long long)(r->total / MIB));
	printf("   %-44s %10.1f %10.1f %7.2f  >= 0.85 %s\n",
	       "MB/s, median of 3 (store | write+fdatasync)", r->store_med, r->plain_med, ratio,
	       met(ratio >= 0.85));
	printf("   %-44s %10.2f %10.2f %7.2f\n", "CPU s per GiB, median of 3",
	       (double)r->store_cpu_med / 1e9 / gib, (double)r->plain_cpu_med / 1e9 / gib,
	       r->plain_cpu_med ? (double)r->store_cpu_med / (double)r->plain_cpu_med : 0.0);
	for (int i = 0; i < SEQ_ROUNDS; i++) {
		char label[64];

		snprintf(label, sizeof(label), "  round %d, MB/s", i + 1);
		printf("   %-44s %10.1f %10.1f %7.2f\n", label, r->store[i], r->plain[i],
		       r->plain[i] > 0 ? r->store[i] / r->plain[i] : 0.0);
	}
}

static void print_rand(const struct rand_result *r)
{
	double s = (double)r->ns / 1e9, user = (double)r->writes * PAGE;

	printf("2  random 4 KiB writes into a %llu MiB file, commit every %d: %llu writes\n",
	       (unsigned long long)(r->size / MIB), RAND_BATCH, (unsigned long long)r->writes);
	printf("   %-44s %10.1f\n", "commits/s", (double)r->commits / s);
	printf("   %-44s %10.2f %10.1f %7s  (file growth MiB | written MiB)\n",
	       "write amplification", (double)r->growth / user, (double)r->growth / MIB, "");
	printf("   %-44s %10llu\n", "extents in the tree at the end",
	       (unsigned long long)r->entries);
}

static void print_gc(const struct gc_result *r)
{
	double copied_mb = (double)r->stats.copied_bytes / 1e6;

	printf("3  compaction, no writer: %llu MiB live after %llu MiB written\n",
	       (unsigned long long)(r->live / MIB), (unsigned long long)(r->written / MIB));
	printf("   %-44s %10.1f %10.1f\n", "MB/s: copied_bytes | live bytes, per second",
	       mb_per_s(r->stats.copied_bytes, r->ns), mb_per_s(r->live, r->ns));
	printf("   %-44s %10.2f %10.1f %7.2f  (copied/live)\n", "time (s) | data copied (MB)",
	       (double)r->ns / 1e9, copied_mb, (double)r->stats.copied_bytes / (double)r->live);
	printf("   %-44s %10.1f %10.1f %7.2f  (after/before)\n", "file MiB, before | after",
	       (double)r->stats.bytes_before / MIB, (double)r->stats.bytes_after / MIB,
	       (double)r->stats.bytes_after / (double)r->stats.bytes_before);
	printf("   %-44s %10.2f %10.2f %7.2f  (after a 2nd run)\n",
	       "file bytes / live bytes, before | after",
	       (double)r->stats.bytes_before / (double)r->live,
	       (double)r->stats.bytes_after / (double)r->live,
	       (double)r->again_after / (double)r->live);
	printf("   %-44s %10.1f %10.1f\n", "live MiB (st_info), before | after",
	       (double)r->before.live_bytes / MIB, (double)r->after.live_bytes / MIB);
	printf("   %-44s %10.3f %10.3f\n", "fragmentation, before | after", r->before.fragmentation,
	       r->after.fragmentation);
	printf("   %-44s %10llu %10llu\n", "versions, before | kept",
	       (unsigned long long)r->stats.versions_before,
	       (unsigned long long)r->stats.versions_kept);
	printf("   %-44s %10.1f\n", "lock hold (ms)", ms(r->stats.lock_hold_ns));
}

static double ratio_u64(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_live(const struct live_result *r)
{
	uint64_t p99 = percentile(r->hold, LIVE_COMPACTIONS, 99);
	double rate[2];

	for (int p = 0; p < 2; p++)
		rate[p] = (double)r->commits[p] * 1e9 / (double)r->phase_ns[p];
	printf(
	    "4  %d compactions of a %llu MiB store while a writer commits %d x 4 KiB in a loop\n",
	    LIVE_COMPACTIONS, (unsigned long long)(r->size / MIB), LIVE_WRITES);
	printf("   %-44s %10.2f %10.2f %7.2f  p99 < 10 ms %s\n", "lock hold ms: p50 | p99 | max",
	       ms(percentile(r->hold, LIVE_COMPACTIONS, 50)), ms(p99),
	       ms(r->hold[LIVE_COMPACTIONS - 1]), met(p99 < 10000000));
	printf("   %-44s %10.2f %10.2f %7.2f\n", "st_compact s: p50 | max, passes per run",
	       (double)percentile(r->took, LIVE_COMPACTIONS, 50) / 1e9,
	       (double)r->took[LIVE_COMPACTIONS - 1] / 1e9, (double)r->passes / LIVE_COMPACTIONS);
	printf("   %-44s %10s %10s %7s\n", "writer", "compacting", "alone", "ratio");
	printf("   %-44s %10.1f %10.1f %7.2f\n", "  longest st_commit (ms)",
	       ms(r->commit_max[PH_COMPACT]), ms(r->commit_max[PH_ALONE]),
	       ratio_u64(r->commit_max[PH_COMPACT], r->commit_max[PH_ALONE]));
	printf("   %-44s %10.1f %10.1f %7.2f\n", "  p99 st_commit (ms)",
	       ms(r->commit_p99[PH_COMPACT]), ms(r->commit_p99[PH_ALONE]),
	       ratio_u64(r->commit_p99[PH_COMPACT], r->commit_p99[PH_ALONE]));
	printf("   %-44s %10.1f %10.1f %7.2f\n", "  longest round, writes + commit (ms)",
	       ms(r->cycle_max[PH_COMPACT]), ms(r->cycle_max[PH_ALONE]),
	       ratio_u64(r->cycle_max[PH_COMPACT], r->cycle_max[PH_ALONE]));
	printf("   %-44s %10.1f %10.1f %7.2f\n", "  commits/s", rate[PH_COMPACT], rate[PH_ALONE],
	       rate[PH_ALONE] > 0 ? rate[PH_COMPACT] / rate[PH_ALONE] : 0.0);
	printf("   %-44s %10.1f %10.1f %7llu\n", "  longest round: overlapping | not, count",
	       ms(r->overlap_max), ms(r->apart_max), (unsigned long long)r->overlap_n);
	printf("   %-44s\n", "    (overlapping = it ran while a final catch-up held the lock)");
}

static void print_mem(const struct mem_result *r)
{
	printf("5  peak memory: write, commit, read back a %llu MiB file store\n",
	       (unsigned long long)(r->size / MIB));
	printf("   %-44s %10.1f %10.1f\n", "ru_maxrss | VmHWM (MiB)", (double)r->maxrss_kb / 1024,
	       (double)r->hwm_kb / 1024);
	printf("   %-44s %10.1f %10.1f\n", "before opening | peak above that (MiB)",
	       (double)r->base_kb / 1024,
	       r->hwm_kb > r->base_kb ? (double)(r->hwm_kb - r->base_kb) / 1024 : 0.0);
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_store [-s SCALE] [-d DIR] [-t FIGURES] [-k]\n"
		   "  -s SCALE    multiply every size (default 1)\n"
		   "  -d DIR      make the temporary directory inside DIR (default\n"
		   "              build/bench if it exists, else $TMPDIR or /tmp)\n"
		   "  -t FIGURES  run only these figures, e.g. -t 14 (default 12345)\n"
		   "  -k          keep the temporary directory if something fails\n");
}

int main(int argc, char **argv)
{
	const char *parent = NULL, *figs = "12345";
	struct seq_result seq = {0};
	struct rand_result rnd = {0};
	struct gc_result gc = {0};
	struct live_result live = {0};
	struct mem_result mem = {0};
	struct stat sb;
	double load[2];
	char *end;
	int opt;

	while ((opt = getopt(argc, argv, "s:d:t:kh")) != -1) {
		switch (opt) {
		case 's':
			g_scale = strtod(optarg, &end);
			if (*end || !(g_scale > 0) || g_scale > 64) {
				fprintf(stderr, "bench: bad scale %s\n", optarg);
				return 2;
			}
			break;
		case 'd':
			parent = optarg;
			break;
		case 't':
			figs = optarg;
			break;
		case 'k':
			g_keep = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Next to the build by default: the figures are about the repo's disk. */
	if (!parent)
		parent = stat("build/bench", &sb) == 0 && S_ISDIR(sb.st_mode) ? "build/bench"
			 : getenv("TMPDIR") && *getenv("TMPDIR")	      ? getenv("TMPDIR")
									      : "/tmp";
	if (asprintf(&g_dir, "%s/tmp.XXXXXX", parent) < 0)
		die_sys("asprintf");
	if (!mkdtemp(g_dir)) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", g_dir, strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getloadavg(&load[0], 1) != 1)
		load[0] = -1;
	fprintf(stderr, "bench: scale %.2f, working in %s\n", g_scale, g_dir);

	if (strchr(figs, '5')) {
		fprintf(stderr, "[5] peak memory\n");
		bench_mem(&mem);
	}
	if (strchr(figs, '1')) {
		fprintf(stderr, "[1] sequential commit throughput\n");
		bench_seq(&seq);
	}
	if (strchr(figs, '2')) {
		fprintf(stderr, "[2] random page writes\n");
		bench_rand(&rnd);
	}
	if (strchr(figs, '3')) {
		fprintf(stderr, "[3] compaction\n");
		bench_gc(&gc);
	}
	if (strchr(figs, '4')) {
		fprintf(stderr, "[4] compaction under load\n");
		bench_live(&live);
	}

	if (getloadavg(&load[1], 1) != 1)
		load[1] = -1;
	printf("\nrevfs store benchmark: scale %.2f, %ld CPUs, MB = 10^6 bytes, MiB = 2^20\n",
	       g_scale, sysconf(_SC_NPROCESSORS_ONLN));
	/* Other work on the machine skews every figure: say how busy it was. */
	printf("load average (1 min): %.2f at the start, %.2f at the end\n", load[0], load[1]);
	printf("#  %-44s %10s %10s %7s  target\n", "figure", "store", "reference", "ratio");
	if (strchr(figs, '1'))
		print_seq(&seq);
	if (strchr(figs, '2'))
		print_rand(&rnd);
	if (strchr(figs, '3'))
		print_gc(&gc);
	if (strchr(figs, '4'))
		print_live(&live);
	if (strchr(figs, '5'))
		print_mem(&mem);

	remove_dir(g_dir);
	free(g_dir);
	return 0;
}
