/*
 * check_backing.c - what the backing directory asks of store/:
 *
 *  - deferred creation (ST_DEFER): a new store has no version until its
 *    first commit, which has no predecessor; a crash anywhere in that first
 *    commit (the file cut at every byte, or the disk failing at every write)
 *    leaves a file that a reopen with ST_CREATE starts again and a reopen
 *    without it refuses (ST_ECORRUPT);
 *  - group commit (st_commit_group) over many stores, new and old: written,
 *    synced (per store or one syncfs), flipped, synced, published, with no
 *    version visible before the end; stopped at each step; EIO at each step
 *    of one store, which alone fails while the others commit; a new store's
 *    directory is synced before its flip;
 *  - the codecs of the backing directory: the superblock (every field, the
 *    string limits, a flipped bit anywhere, newer versions and features,
 *    short files) and the namespace records (keys, inodes, dirents, paths).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nsint.h"
#include "testutil.h"

/*
 * Check's ck_assert macros record their location with a write(2) on every
 * call, which would be most of this file's run time; these test first and
 * call into Check only on failure.
 */
#define EXPECT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);                         \
	} while (0)
#define EXPECT_MSG(c, ...)                                                                         \
	do {                                                                                       \
		if (!(c))                                                                          \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)
#define EXPECT_EQ(a, b)                                                                            \
	do {                                                                                       \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                   \
		if (a_ != b_)                                                                      \
			ck_abort_msg("%s:%d: %s == %jd, %s == %jd (%s)", __FILE__, __LINE__, #a,   \
				     a_, #b, b_, st_last_error()->msg);                            \
	} while (0)
#define EXPECT_UEQ(a, b)                                                                           \
	do {                                                                                       \
		uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);                                \
		if (a_ != b_)                                                                      \
			ck_abort_msg("%s:%d: %s == %ju, %s == %ju", __FILE__, __LINE__, #a, a_,    \
				     #b, b_);                                                      \
	} while (0)

_Static_assert(NSV_INODE_SIZE == 80, "inode record: fixed part of 80 bytes");
_Static_assert(NSV_DIRENT_SIZE == 9, "dirent value: u64 ino and a type byte");
_Static_assert(NSK_MAX == 9 + 255, "namespace key: type, ino, a name of 255");
_Static_assert(NS_LABEL_MAX == 63 && NS_KEEP_MAX == 127, "superblock string limits");

#define HDR_END	  137 /* marker + record header + header payload */
#define SB_SIZE	  512
#define SB_LABEL  56
#define SB_KEEP	  120
#define SB_CRC	  508
#define BLOCK	  4096u
#define FBUF	  (64u << 10) /* the largest file content the model makes */
#define NBULK	  40	      /* keys of every kv generation */
#define MAXVER	  64
#define NST	  20 /* stores of a group commit */
#define SYNC_EACH 0
#define SYNC_FS	  1

/* ---- small helpers ------------------------------------------------------ */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Bitwise CRC32C, to craft superblocks with a valid checksum. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void sb_reseal(uint8_t *buf)
{
	put_be32(buf + SB_CRC, crc32c_ref(buf, SB_CRC));
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static char *subpath(const char *sub, const char *name)
{
	char *d = tu_path(tu_dir, sub), *p = tu_path(d, name);

	free(d);
	return p;
}

static void make_dir(const char *sub)
{
	char *d = tu_path(tu_dir, sub);

	EXPECT_MSG(mkdir(d, 0700) == 0, "mkdir %s: %s", d, strerror(errno));
	free(d);
}

struct vlist {
	size_t n;
	struct st_version v[MAXVER];
};

static int vlist_cb(void *arg, const struct st_version *v)
{
	struct vlist *l = arg;

	EXPECT(l->n < MAXVER);
	l->v[l->n++] = *v;
	return 0;
}

static size_t versions_of(st_store *st, struct vlist *l)
{
	memset(l, 0, sizeof(*l));
	EXPECT_EQ(st_versions(st, vlist_cb, l), ST_OK);
	return l->n;
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(size_t *)arg)++;
	return 0;
}

/* ---- the content model: generation g of store id --------------------------
 *
 * A file store at generation g holds file_content(id, g); a kv store holds
 * "gen" = g, NBULK bulk keys whose values depend on g, and k<g-1>, k<g>.
 * Generation 0 is empty. Staging g over g-1 (or over nothing) gives g.
 */

static size_t file_content(unsigned id, uint64_t g, uint8_t *buf, size_t *base)
{
	uint64_t seed = id * 1000003ull + g;
	size_t size;

	memset(buf, 0, FBUF);
	*base = 0;
	if (g == 0)
		return 0;
	*base = size = 500 + (id * 7919u + (unsigned)g * 3571u) % 12000u;
	tu_fill(&seed, buf, size);
	if (g % 2 == 0) { /* a hole, then a tail */
		tu_fill(&seed, buf + 40000, 100);
		size = 40100;
	}
	return size;
}

static size_t kv_val(unsigned id, uint64_t g, unsigned j, uint8_t *buf)
{
	uint64_t seed = (id * 7919ull + g) * 100003ull + j + 1;
	size_t len = 20 + (id * 31u + j * 17u + (unsigned)g) % 180u;

	tu_fill(&seed, buf, len);
	return len;
}

static size_t key_of(char *k, const char *what, unsigned j)
{
	return (size_t)snprintf(k, 32, "%s%04u", what, j);
}

static void stage(st_store *st, enum st_kind kind, unsigned id, uint64_t g)
{
	static uint8_t buf[FBUF];
	char k[32], gs[32];
	size_t base, size, len;

	if (kind == ST_KIND_FILE) {
		size = file_content(id, g, buf, &base);
		EXPECT_EQ(st_file_truncate(st, 0), ST_OK);
		if (base)
			EXPECT_EQ(st_file_write(st, 0, buf, base), ST_OK);
		if (size > base)
			EXPECT_EQ(st_file_write(st, 40000, buf + 40000, size - 40000), ST_OK);
		EXPECT_UEQ(st_file_size(st), size);
		return;
	}
	if (g == 0)
		return;
	len = (size_t)snprintf(gs, sizeof(gs), "%llu", (unsigned long long)g);
	EXPECT_EQ(st_kv_put(st, "gen", 3, gs, len), ST_OK);
	for (unsigned j = 0; j < NBULK; j++) {
		len = kv_val(id, g, j, buf);
		EXPECT_EQ(st_kv_put(st, k, key_of(k, "bulk", j), buf, len), ST_OK);
	}
	for (uint64_t j = g > 1 ? g - 1 : g; j <= g; j++) {
		len = kv_val(id, 0, 1000 + (unsigned)j, buf);
		EXPECT_EQ(st_kv_put(st, k, key_of(k, "k", (unsigned)j), buf, len), ST_OK);
	}
	if (g >= 2)
		EXPECT_EQ(st_kv_del(st, k, key_of(k, "k", (unsigned)g - 2)), ST_OK);
}

static void kv_expect(st_store *st, const char *key, size_t klen, const void *val, size_t vlen)
{
	void *got = NULL;
	size_t glen = 0;

	EXPECT_MSG(st_kv_get(st, key, klen, &got, &glen) == ST_OK, "get %.*s: %s", (int)klen, key,
		   st_last_error()->msg);
	EXPECT_UEQ(glen, vlen);
	EXPECT(memcmp(got, val, vlen) == 0);
	free(got);
}

/* The content st shows (committed, or staged too for kv) is generation g. */
static void verify(st_store *st, enum st_kind kind, unsigned id, uint64_t g)
{
	static uint8_t want[FBUF], got[FBUF + BLOCK];
	char k[32], gs[32];
	size_t base, size, len, n = 0;
	void *v;

	if (kind == ST_KIND_FILE) {
		struct st_version cur;

		size = file_content(id, g, want, &base);
		st_current(st, &cur);
		EXPECT_UEQ(cur.size, size);
		EXPECT_EQ(st_file_read(st, 0, got, sizeof(got)), (ssize_t)size);
		EXPECT_MSG(memcmp(got, want, size) == 0, "store %u gen %llu differs", id,
			   (unsigned long long)g);
		return;
	}
	EXPECT_EQ(st_kv_range(st, "", 0, count_cb, &n), 0);
	if (g == 0) {
		EXPECT_UEQ(n, 0);
		EXPECT_EQ(st_kv_get(st, "gen", 3, &v, &len), ST_ENOTFOUND);
		return;
	}
	EXPECT_UEQ(n, 1 + NBULK + (g >= 2 ? 2 : 1));
	len = (size_t)snprintf(gs, sizeof(gs), "%llu", (unsigned long long)g);
	kv_expect(st, "gen", 3, gs, len);
	for (unsigned j = 0; j < NBULK; j++) {
		len = kv_val(id, g, j, want);
		kv_expect(st, k, key_of(k, "bulk", j), want, len);
	}
	for (uint64_t j = g > 1 ? g - 1 : g; j <= g; j++) {
		len = kv_val(id, 0, 1000 + (unsigned)j, want);
		kv_expect(st, k, key_of(k, "k", (unsigned)j), want, len);
	}
	if (g >= 2)
		EXPECT_EQ(st_kv_get(st, k, key_of(k, "k", (unsigned)g - 2), &v, &len),
			  ST_ENOTFOUND);
}

/*
 * st is at generation g == its newest seq, and its chain holds every
 * version down to 1 (deferred: no version 0) or 0, each complete.
 */
static void verify_chain(st_store *st, enum st_kind kind, unsigned id, uint64_t g, bool deferred)
{
	struct vlist l;
	struct st_version cur;
	size_t want = deferred ? (size_t)g : (size_t)g + 1;

	st_current(st, &cur);
	EXPECT_UEQ(cur.seq, g);
	verify(st, kind, id, g);
	EXPECT_UEQ(versions_of(st, &l), want);
	for (size_t j = 0; j < l.n; j++) {
		st_store *old;

		EXPECT_UEQ(l.v[j].seq, g - j);
		EXPECT_EQ(st_open_version(st, l.v[j].seq, &old), ST_OK);
		verify(old, kind, id, l.v[j].seq);
		st_close(old);
	}
	if (deferred) {
		st_store *old;
		EXPECT_EQ(st_open_version(st, 0, &old), ST_ENOTFOUND);
	}
}

/* ---- ST_DEFER -------------------------------------------------------------- */

static void expect_virgin(st_store *st, enum st_kind kind, const char *path)
{
	struct vlist l;
	struct st_version cur;
	struct st_info info;
	st_store *old;
	uint8_t buf[64];
	char *tmp;

	st_current(st, &cur);
	EXPECT_UEQ(cur.seq, 0);
	EXPECT_UEQ(versions_of(st, &l), 0);
	EXPECT_EQ(st_open_version(st, 0, &old), ST_ENOTFOUND);
	EXPECT_EQ(st_open_version(st, 1, &old), ST_ENOTFOUND);
	EXPECT_EQ(st_open_at_time(st, UINT64_MAX, &old), ST_ENOTFOUND);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	EXPECT_EQ(st_info(st, &info), ST_OK);
	EXPECT_UEQ(info.seq, 0);
	EXPECT_UEQ(info.entries, 0);
	EXPECT_UEQ(info.file_bytes, 0);
	if (kind == ST_KIND_FILE) {
		EXPECT_EQ(st_file_read(st, 0, buf, sizeof(buf)), 0);
		EXPECT_UEQ(st_file_size(st), 0);
		EXPECT_EQ(st_file_seek(st, 0, SEEK_DATA), ST_ENOTFOUND);
	}
	verify(st, kind, 0, 0);
	/* Compaction has nothing to do, and leaves nothing behind. */
	EXPECT_EQ(st_compact(st, NULL, NULL), ST_OK);
	EXPECT_UEQ(tu_file_size(path), 0);
	EXPECT(asprintf(&tmp, "%s.compact", path) > 0);
	EXPECT(!exists(tmp));
	free(tmp);
	st_current(st, &cur);
	EXPECT_UEQ(cur.seq, 0);
}

static void defer_lifecycle(enum st_kind kind)
{
	char *p = tu_path(tu_dir, kind == ST_KIND_FILE ? "f.rev" : "kv.rev");
	struct st_open_opts o = {.clock = tu_clock};
	struct st_retention keep;
	struct st_version v;
	struct vlist l;
	st_store *st;
	const unsigned id = 3;

	EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, &o, &st), ST_OK);
	EXPECT_UEQ(tu_file_size(p), 0);
	expect_virgin(st, kind, p);
	/* A staged change is not a version. */
	stage(st, kind, id, 1);
	EXPECT_UEQ(versions_of(st, &l), 0);
	tu_clock_ns += 1000000000ull;
	EXPECT_EQ(st_commit(st, &v), ST_OK);
	EXPECT_UEQ(v.seq, 1);
	EXPECT_UEQ(v.time_ns, tu_clock_ns);
	/* One version, and the chain ends there: its prev is none. */
	EXPECT_UEQ(versions_of(st, &l), 1);
	EXPECT_UEQ(l.v[0].seq, 1);
	EXPECT_UEQ(l.v[0].offset, v.offset);
	EXPECT_UEQ(v.offset % BLOCK, 0);
	EXPECT_UEQ(tu_file_size(p), v.offset + HDR_END);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	verify_chain(st, kind, id, 1, true);
	st_close(st);

	/* Reopened with or without ST_CREATE | ST_DEFER: the same store. */
	EXPECT_EQ(st_open(p, kind, 0, &o, &st), ST_OK);
	verify_chain(st, kind, id, 1, true);
	st_close(st);
	EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, &o, &st), ST_OK);
	verify_chain(st, kind, id, 1, true);
	for (uint64_t g = 2; g <= 5; g++) {
		tu_clock_ns += 1000000000ull;
		stage(st, kind, id, g);
		EXPECT_EQ(st_commit(st, &v), ST_OK);
		EXPECT_UEQ(v.seq, g);
	}
	verify_chain(st, kind, id, 5, true);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	EXPECT_EQ(st_open(p, kind, ST_READONLY, &o, &st), ST_OK);
	verify_chain(st, kind, id, 5, true);
	{
		st_store *other;
		EXPECT_EQ(
		    st_open(p, kind == ST_KIND_FILE ? ST_KIND_KV : ST_KIND_FILE, 0, &o, &other),
		    ST_EKIND);
		ck_assert_ptr_null(other);
	}
	st_close(st);

	/* Compaction keeps the chain that begins with no predecessor. */
	EXPECT_EQ(st_open(p, kind, 0, &o, &st), ST_OK);
	EXPECT_EQ(st_retention_parse("min:10", &keep), ST_OK);
	{
		struct st_compact_opts co = {.keep = &keep};
		EXPECT_EQ(st_compact(st, &co, NULL), ST_OK);
	}
	verify_chain(st, kind, id, 5, true);
	EXPECT_EQ(st_compact(st, NULL, NULL), ST_OK);
	EXPECT_UEQ(versions_of(st, &l), 1);
	EXPECT_UEQ(l.v[0].seq, 5);
	verify(st, kind, id, 5);
	stage(st, kind, id, 6);
	EXPECT_EQ(st_commit(st, &v), ST_OK);
	EXPECT_UEQ(v.seq, 6);
	st_close(st);
	EXPECT_EQ(st_open(p, kind, 0, &o, &st), ST_OK);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	EXPECT_UEQ(versions_of(st, &l), 2);
	verify(st, kind, id, 6);
	st_close(st);
	free(p);
}

START_TEST(defer_file_store)
{
	defer_lifecycle(ST_KIND_FILE);
}
END_TEST

START_TEST(defer_kv_store)
{
	defer_lifecycle(ST_KIND_KV);
}
END_TEST

/* A first commit with nothing staged is version 1, a header at offset 0;
 * without ST_DEFER a new store has version 0 and the first commit is 1. */
START_TEST(defer_empty_first_commit)
{
	for (int kind = ST_KIND_FILE; kind <= ST_KIND_KV; kind++) {
		char *p = tu_path(tu_dir, kind == ST_KIND_FILE ? "e.rev" : "ekv.rev");
		char *q = tu_path(tu_dir, kind == ST_KIND_FILE ? "n.rev" : "nkv.rev");
		struct st_version v;
		struct vlist l;
		st_store *st;

		EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER | ST_EXCL, NULL, &st), ST_OK);
		EXPECT_EQ(st_commit(st, &v), ST_OK);
		EXPECT_UEQ(v.seq, 1);
		EXPECT_UEQ(v.offset, 0);
		EXPECT_UEQ(v.size, 0);
		st_close(st);
		EXPECT_UEQ(tu_file_size(p), HDR_END);
		EXPECT_EQ(st_open(p, kind, ST_READONLY, NULL, &st), ST_OK);
		EXPECT_UEQ(versions_of(st, &l), 1);
		EXPECT_UEQ(l.v[0].seq, 1);
		verify(st, kind, 0, 0);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
		st_close(st);

		EXPECT_EQ(st_open(q, kind, ST_CREATE, NULL, &st), ST_OK);
		EXPECT_UEQ(versions_of(st, &l), 1);
		EXPECT_UEQ(l.v[0].seq, 0);
		EXPECT_EQ(st_commit(st, &v), ST_OK);
		EXPECT_UEQ(v.seq, 1);
		EXPECT_UEQ(versions_of(st, &l), 2);
		st_close(st);
		free(p);
		free(q);
	}
}
END_TEST

/* A deferred store closed before its first commit: an empty file. */
START_TEST(defer_never_committed)
{
	char *p = tu_path(tu_dir, "u.rev");
	struct vlist l;
	st_store *st;

	EXPECT_EQ(st_open(p, ST_KIND_KV, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	EXPECT_EQ(st_kv_put(st, "a", 1, "b", 1), ST_OK);
	st_close(st); /* the staged put is dropped */
	EXPECT_UEQ(tu_file_size(p), 0);
	EXPECT_EQ(st_open(p, ST_KIND_KV, 0, NULL, &st), ST_ECORRUPT);
	EXPECT_EQ(st_open(p, ST_KIND_KV, ST_READONLY, NULL, &st), ST_ECORRUPT);
	EXPECT_EQ(st_open(p, ST_KIND_KV, ST_CREATE | ST_EXCL | ST_DEFER, NULL, &st), ST_EEXIST);
	EXPECT_EQ(st_open(p, ST_KIND_KV, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	expect_virgin(st, ST_KIND_KV, p);
	st_close(st);
	/* Without ST_DEFER, the creation is done now: version 0. */
	EXPECT_EQ(st_open(p, ST_KIND_KV, ST_CREATE, NULL, &st), ST_OK);
	EXPECT_UEQ(versions_of(st, &l), 1);
	EXPECT_UEQ(l.v[0].seq, 0);
	st_close(st);
	EXPECT_EQ(st_open(p, ST_KIND_KV, 0, NULL, &st), ST_OK);
	EXPECT_UEQ(versions_of(st, &l), 1);
	st_close(st);
	free(p);
}
END_TEST

/* The first cut bytes of image in the file fd. */
static void put_prefix(int fd, const uint8_t *image, uint64_t cut)
{
	struct stat sb;

	EXPECT(pwrite(fd, image, cut, 0) == (ssize_t)cut);
	EXPECT(fstat(fd, &sb) == 0);
	if ((uint64_t)sb.st_size > cut)
		EXPECT(ftruncate(fd, (off_t)cut) == 0);
}

/* A store from a cut file, opened with ST_CREATE: empty, and it commits. */
static void restart_cut(const char *path, enum st_kind kind, bool defer, bool commit)
{
	int flags = ST_CREATE | ST_NOSYNC | (defer ? ST_DEFER : 0);
	struct st_version v;
	struct vlist l;
	st_store *st;

	EXPECT_EQ(st_open(path, kind, flags, NULL, &st), ST_OK);
	EXPECT_UEQ(versions_of(st, &l), defer ? 0 : 1);
	verify(st, kind, 5, 0);
	if (defer)
		EXPECT_UEQ(tu_file_size(path), 0);
	if (commit) {
		stage(st, kind, 5, 2);
		EXPECT_EQ(st_commit(st, &v), ST_OK);
		EXPECT_UEQ(v.seq, 1);
		st_close(st);
		EXPECT_EQ(st_open(path, kind, ST_READONLY, NULL, &st), ST_OK);
		EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
		EXPECT_UEQ(versions_of(st, &l), defer ? 1 : 2);
		verify(st, kind, 5, 2);
	}
	st_close(st);
}

/* The first commit of a deferred store, cut at every byte. */
static void cut_first_commit(enum st_kind kind)
{
	char *p = tu_path(tu_dir, "first.rev"), *w = tu_path(tu_dir, "cut.rev");
	char *q = tu_path(tu_dir, "restart.rev");
	struct st_version v;
	uint64_t end, n = 0;
	uint8_t *image;
	st_store *st;
	FILE *f;
	int fd, fq;

	ck_assert_int_eq(st_open(p, kind, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	stage(st, kind, 5, 2);
	ck_assert_int_eq(st_commit(st, &v), ST_OK);
	ck_assert_uint_eq(v.seq, 1);
	st_close(st);
	end = tu_file_size(p);
	ck_assert_uint_eq(end, v.offset + HDR_END);
	ck_assert_uint_ge(end, 2 * BLOCK); /* data or nodes cross block markers */
	image = malloc(end);
	f = fopen(p, "rb");
	ck_assert_uint_eq(fread(image, 1, end, f), end);
	fclose(f);

	/*
	 * Two files: w is cut shorter and shorter and must be refused as it
	 * is; q gets the same bytes back before each restart (which empties
	 * it). Reusing them is much cheaper than a new file per cut.
	 */
	fd = open(w, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fq = open(q, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(fq, 0);
	/* Every byte written but the marker never flipped: nothing either. */
	ck_assert_uint_eq(image[v.offset], 1);
	image[v.offset] = 0;
	put_prefix(fd, image, end);
	ck_assert_int_eq(st_open(w, kind, ST_READONLY, NULL, &st), ST_ECORRUPT);
	ck_assert_int_eq(st_open(w, kind, 0, NULL, &st), ST_ECORRUPT);
	put_prefix(fq, image, end);
	restart_cut(q, kind, true, true);
	put_prefix(fq, image, end);
	restart_cut(q, kind, false, true);
	image[v.offset] = 1;
	put_prefix(fd, image, end);
	ck_assert_int_eq(st_open(w, kind, ST_READONLY, NULL, &st), ST_OK);
	verify(st, kind, 5, 2);
	st_close(st);
	for (uint64_t cut = end; cut-- > 0; n++) {
		bool edge = cut == 0 || cut == end - 1 || cut % BLOCK < 2 || cut == v.offset;

		EXPECT(ftruncate(fd, (off_t)cut) == 0);
		/* Nothing was committed: without ST_CREATE, refused and untouched. */
		EXPECT_EQ(st_open(w, kind, ST_READONLY, NULL, &st), ST_ECORRUPT);
		EXPECT_EQ(st_open(w, kind, 0, NULL, &st), ST_ECORRUPT);
		EXPECT_UEQ(tu_file_size(w), cut);
		/* With ST_CREATE it starts again, deferred or not. */
		put_prefix(fq, image, cut);
		restart_cut(q, kind, n % 29 != 0, edge || n % 331 == 0);
	}
	close(fq);
	free(q);
	close(fd);
	free(image);
	free(w);
	free(p);
}

START_TEST(defer_cut_first_commit_file)
{
	cut_first_commit(ST_KIND_FILE);
}
END_TEST

START_TEST(defer_cut_first_commit_kv)
{
	cut_first_commit(ST_KIND_KV);
}
END_TEST

/* Fault ops that note which call is the marker flip (a one-byte write at a
 * block start). tu_fault_ops takes the struct, its first member. */
struct frec {
	struct tu_faults f;
	uint64_t flip_at; /* 1-based index of the flip among write-like calls */
};

static ssize_t frec_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
	struct frec *r = ctx;

	if (len == 1 && off % BLOCK == 0)
		r->flip_at = r->f.count + 1;
	return tu_fault_ops.pwrite(ctx, fd, buf, len, off);
}

static struct st_ops frec_ops;

static st_store *open_frec(const char *p, enum st_kind kind, struct frec *r)
{
	struct st_open_opts o = {.ops = &frec_ops, .ops_ctx = r};
	st_store *st;

	frec_ops = tu_fault_ops;
	frec_ops.pwrite = frec_pwrite;
	frec_ops.pwritev = NULL;
	memset(r, 0, sizeof(*r));
	EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, &o, &st), ST_OK);
	return st;
}

/* A store opened from path holds exactly one version, seq 1, generation g. */
static void expect_first(const char *path, enum st_kind kind, unsigned id, uint64_t g)
{
	struct st_version cur;
	struct vlist l;
	st_store *st;

	EXPECT_EQ(st_open(path, kind, 0, NULL, &st), ST_OK);
	st_current(st, &cur);
	EXPECT_UEQ(cur.seq, 1);
	EXPECT_UEQ(versions_of(st, &l), 1);
	verify(st, kind, id, g);
	EXPECT_EQ(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
}

/* The disk fails at each write-like call of a deferred store's first
 * commit, once or for good (a crash: nothing more is written). */
static void fault_first_commit(enum st_kind kind)
{
	static const enum tu_fault modes[] = {TU_EIO, TU_ENOSPC, TU_SHORT};
	char *p = tu_path(tu_dir, "ff.rev");
	struct frec r;
	uint64_t ncalls, flip_at;
	struct st_version v;
	struct vlist l;
	st_store *st;

	/* Dry run: the calls of staging and committing. */
	st = open_frec(p, kind, &r);
	stage(st, kind, 7, 2);
	EXPECT_EQ(st_commit(st, &v), ST_OK);
	ncalls = r.f.count;
	flip_at = r.flip_at;
	st_close(st);
	/* write, sync, directory sync, flip, sync */
	ck_assert_uint_ge(ncalls, 5);
	EXPECT_UEQ(flip_at, ncalls - 1);
	unlink(p);

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (int sticky = 0; sticky <= 1; sticky++) {
			for (uint64_t at = 1; at <= ncalls; at++) {
				bool want_err = modes[m] != TU_SHORT || (sticky && at < ncalls);
				bool landed = sticky && (flip_at < at ||
							 (flip_at == at && modes[m] == TU_SHORT));
				int rc;

				st = open_frec(p, kind, &r);
				r.f.fail_at = at;
				r.f.mode = modes[m];
				r.f.sticky = sticky;
				stage(st, kind, 7, 2);
				rc = st_commit(st, &v);
				EXPECT(r.f.fired);
				EXPECT_MSG((rc != ST_OK) == want_err,
					   "mode %zu sticky %d at %llu: rc %d", m, sticky,
					   (unsigned long long)at, rc);
				if (rc == ST_OK) {
					EXPECT_UEQ(v.seq, 1);
					st_close(st);
					expect_first(p, kind, 7, 2);
					unlink(p);
					continue;
				}
				EXPECT_EQ(rc, modes[m] == TU_EIO ? ST_EIO : ST_ENOSPC);
				EXPECT_UEQ(versions_of(st, &l), 0);
				if (!sticky) {
					/* Back to nothing on disk; a file store's staged
					 * changes are gone, a kv store's kept for the next
					 * try. The same handle commits. */
					EXPECT_UEQ(tu_file_size(p), 0);
					if (kind == ST_KIND_FILE) {
						EXPECT_UEQ(st_file_size(st), 0);
						stage(st, kind, 7, 2);
					} else {
						verify(st, kind, 7, 2);
					}
					EXPECT_EQ(st_commit(st, &v), ST_OK);
					EXPECT_UEQ(v.seq, 1);
					st_close(st);
					expect_first(p, kind, 7, 2);
				} else if (landed) {
					/* The flip reached the file and nothing undid it:
					 * the commit is there, complete. */
					st_close(st);
					expect_first(p, kind, 7, 2);
				} else {
					st_close(st);
					EXPECT_EQ(st_open(p, kind, 0, NULL, &st), ST_ECORRUPT);
					EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, NULL, &st),
						  ST_OK);
					EXPECT_UEQ(tu_file_size(p), 0);
					verify(st, kind, 7, 0);
					stage(st, kind, 7, 2);
					EXPECT_EQ(st_commit(st, &v), ST_OK);
					EXPECT_UEQ(v.seq, 1);
					st_close(st);
					expect_first(p, kind, 7, 2);
				}
				unlink(p);
			}
		}
	}
	free(p);
}

START_TEST(defer_fault_first_commit_file)
{
	fault_first_commit(ST_KIND_FILE);
}
END_TEST

START_TEST(defer_fault_first_commit_kv)
{
	fault_first_commit(ST_KIND_KV);
}
END_TEST

/* ---- group commit ------------------------------------------------------------ */

/* Store i: a kv store if i % 3 == 0, else a file store; odd ones are new
 * (deferred, in a directory of their own), even ones have 3 versions. */
struct gstore {
	char *path;
	enum st_kind kind;
	bool deferred;
	uint64_t gen; /* committed generation, == newest seq */
	st_store *st;
	struct tu_faults f;
};
static struct gstore grp[NST];
static int grp_n; /* stores in use */
static char grp_dir[64];

static void grp_close(void)
{
	for (int i = 0; i < NST; i++) {
		st_close(grp[i].st);
		free(grp[i].path);
	}
	memset(grp, 0, sizeof(grp));
}

/* Opens store i with fault ops (no fault armed) and checks it. */
static void grp_open(int i)
{
	struct gstore *g = &grp[i];
	struct st_open_opts o = {.ops = &tu_fault_ops, .ops_ctx = &g->f};
	int flags = 0;

	memset(&g->f, 0, sizeof(g->f));
	if (g->deferred && g->gen == 0) {
		/* never committed: only ST_CREATE opens it */
		EXPECT_EQ(st_open(g->path, g->kind, 0, &o, &g->st),
			  exists(g->path) ? ST_ECORRUPT : ST_ENOTFOUND);
		flags = ST_CREATE | ST_DEFER;
	}
	EXPECT_MSG(st_open(g->path, g->kind, flags, &o, &g->st) == ST_OK, "open %s: %s", g->path,
		   st_last_error()->msg);
	verify_chain(g->st, g->kind, (unsigned)i, g->gen, g->deferred);
}

static void grp_setup(const char *sub, int n)
{
	char newdir[128];

	grp_close();
	grp_n = n;
	snprintf(grp_dir, sizeof(grp_dir), "%s", sub);
	snprintf(newdir, sizeof(newdir), "%s/new", sub);
	make_dir(sub);
	make_dir(newdir);
	for (int i = 0; i < grp_n; i++) {
		struct gstore *g = &grp[i];
		char name[32];

		snprintf(name, sizeof(name), "s%02d.rev", i);
		g->kind = i % 3 == 0 ? ST_KIND_KV : ST_KIND_FILE;
		g->deferred = i % 2 == 1;
		g->path = subpath(g->deferred ? newdir : sub, name);
		if (!g->deferred) {
			st_store *st;
			EXPECT_EQ(st_open(g->path, g->kind, ST_CREATE | ST_NOSYNC, NULL, &st),
				  ST_OK);
			for (g->gen = 1; g->gen <= 3; g->gen++) {
				stage(st, g->kind, (unsigned)i, g->gen);
				EXPECT_EQ(st_commit(st, NULL), ST_OK);
			}
			g->gen = 3;
			st_close(st);
		}
		grp_open(i);
	}
}

/* Closes and reopens every store: each at its generation, whole chain. */
static void grp_reopen(void)
{
	for (int i = 0; i < grp_n; i++) {
		st_close(grp[i].st);
		grp[i].st = NULL;
		grp_open(i);
		EXPECT_EQ(st_check(grp[i].st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	}
}

static void grp_stage_all(void)
{
	for (int i = 0; i < grp_n; i++)
		stage(grp[i].st, grp[i].kind, (unsigned)i, grp[i].gen + 1);
}

/* What a group commit's hook does: at step at_step, check that no store
 * has published its new version yet (check), arm store k's faults
 * (arm_k >= 0), or stop the group (stop). */
struct grp_ctl {
	enum st_group_step at_step;
	bool check, stop, sticky;
	int arm_k;
	unsigned calls;
};

static void arm(struct tu_faults *f, bool sticky)
{
	memset(f, 0, sizeof(*f));
	f->fail_at = 1;
	f->mode = TU_EIO;
	f->sticky = sticky;
}

static int grp_hook(void *arg, enum st_group_step step)
{
	struct grp_ctl *c = arg;

	EXPECT_UEQ(step, ++c->calls); /* the steps, in order */
	if (step != c->at_step)
		return 0;
	for (int i = 0; c->check && i < grp_n; i++) {
		struct st_version cur;

		/* Flipped but not published: readers still see the old version. */
		st_current(grp[i].st, &cur);
		EXPECT_UEQ(cur.seq, grp[i].gen);
		if (grp[i].kind == ST_KIND_FILE) {
			uint8_t b[16];
			EXPECT_EQ(st_file_read(grp[i].st, 0, b, sizeof(b)),
				  grp[i].gen ? (ssize_t)sizeof(b) : 0);
		}
	}
	if (c->arm_k >= 0)
		arm(&grp[c->arm_k].f, c->sticky);
	return c->stop;
}

/* Commits what is staged on every store as one group; rcs[i] each result. */
static size_t grp_commit(int how, struct grp_ctl *c, int *rcs, struct st_version *vs)
{
	st_store *sts[NST];
	struct st_group_opts o = {
	    .sync = how == SYNC_FS ? ST_SYNC_FS : ST_SYNC_EACH, .hook = grp_hook, .hook_arg = c};

	for (int i = 0; i < grp_n; i++)
		sts[i] = grp[i].st;
	return st_commit_group(sts, (size_t)grp_n, &o, rcs, vs);
}

/* A whole group commit of generation gen + 1, synced either way. */
static void grp_round(int how)
{
	struct grp_ctl c = {.at_step = ST_GROUP_FLIPPED, .check = true, .arm_k = -1};
	struct st_version vs[NST];
	int rcs[NST];

	grp_stage_all();
	EXPECT_UEQ(grp_commit(how, &c, rcs, vs), grp_n);
	EXPECT_UEQ(c.calls, ST_GROUP_DURABLE);
	for (int i = 0; i < grp_n; i++) {
		EXPECT_EQ(rcs[i], ST_OK);
		EXPECT_UEQ(vs[i].seq, grp[i].gen + 1);
		grp[i].gen++;
	}
	for (int i = 0; i < grp_n; i++)
		verify_chain(grp[i].st, grp[i].kind, (unsigned)i, grp[i].gen, grp[i].deferred);
}

START_TEST(group_commit_each_sync)
{
	grp_setup("g", NST);
	grp_round(SYNC_EACH);
	grp_reopen();
	grp_round(SYNC_EACH);
	grp_round(SYNC_EACH);
	grp_reopen();
	for (int i = 0; i < grp_n; i++)
		EXPECT_UEQ(grp[i].gen, grp[i].deferred ? 3 : 6);
	grp_close();
}
END_TEST

START_TEST(group_commit_syncfs)
{
	grp_setup("g", NST);
	grp_round(SYNC_FS);
	grp_reopen();
	grp_round(SYNC_FS);
	grp_round(SYNC_EACH);
	grp_reopen();
	grp_round(SYNC_FS);
	grp_reopen();
	grp_close();
}
END_TEST

/* Stopped after the writes, after the sync, after the flip: every store
 * stays at its version, the file cut back to it. */
START_TEST(group_commit_abort)
{
	grp_setup("g", NST);
	for (int at = 0; at < 3; at++) {
		struct grp_ctl c = {.at_step = (enum st_group_step)(ST_GROUP_WRITTEN + at),
				    .stop = true,
				    .arm_k = -1};
		uint64_t end[NST];
		int rcs[NST];

		for (int i = 0; i < grp_n; i++)
			end[i] = tu_file_size(grp[i].path);
		grp_stage_all();
		EXPECT_UEQ(grp_commit(at == 1 ? SYNC_FS : SYNC_EACH, &c, rcs, NULL), 0);
		EXPECT_UEQ(c.calls, ST_GROUP_WRITTEN + at);
		for (int i = 0; i < grp_n; i++) {
			struct gstore *g = &grp[i];
			struct st_version cur;

			EXPECT_EQ(rcs[i], ST_EABORTED);
			st_current(g->st, &cur);
			EXPECT_UEQ(cur.seq, g->gen);
			EXPECT_UEQ(tu_file_size(g->path), end[i]);
			if (g->kind == ST_KIND_KV) {
				/* The staged changes stay for the next try... */
				verify(g->st, g->kind, (unsigned)i, g->gen + 1);
				if (at < 2) {
					st_rollback(g->st); /* ...until dropped */
				} else {
					struct st_version v;
					EXPECT_EQ(st_commit(g->st, &v), ST_OK);
					EXPECT_UEQ(v.seq, ++g->gen);
				}
			}
			verify_chain(g->st, g->kind, (unsigned)i, g->gen, g->deferred);
		}
	}
	grp_reopen();
	grp_round(SYNC_EACH);
	grp_reopen();
	grp_close();
}
END_TEST

/* Counts one store's write-like calls at each step of a group commit: the
 * count is reset after the writes, and checked against want[] after each
 * later step (UINT64_MAX: not checked). fail_at arms a fault at the first
 * step, counted from there. */
struct dir_ctl {
	struct tu_faults *f;
	uint64_t fail_at;
	uint64_t want[ST_GROUP_DURABLE + 1];
};

static int dir_hook(void *arg, enum st_group_step step)
{
	struct dir_ctl *c = arg;

	if (step == ST_GROUP_WRITTEN) {
		memset(c->f, 0, sizeof(*c->f));
		c->f->fail_at = c->fail_at;
		c->f->mode = TU_EIO;
	} else if (c->want[step] != UINT64_MAX) {
		EXPECT_UEQ(c->f->count, c->want[step]);
	}
	return 0;
}

static int dir_commit(st_store *st, enum st_group_sync how, struct dir_ctl *c, struct st_version *v)
{
	struct st_group_opts o = {.sync = how, .hook = c ? dir_hook : NULL, .hook_arg = c};
	int rc;

	st_commit_group(&st, 1, &o, &rc, v);
	return rc;
}

/* A new store's directory is synced before its flip: a failed directory
 * sync fails the commit with nothing flipped. */
START_TEST(group_commit_flip_needs_dir_sync)
{
	for (int kind = ST_KIND_FILE; kind <= ST_KIND_KV; kind++) {
		char *p = tu_path(tu_dir, kind == ST_KIND_FILE ? "n.rev" : "nkv.rev");
		struct tu_faults f = {0};
		struct st_open_opts o = {.ops = &tu_fault_ops, .ops_ctx = &f};
		struct dir_ctl c = {.f = &f};
		struct st_version v;
		st_store *st;

		EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, &o, &st), ST_OK);
		/* The directory's sync fails (the file's went through): the
		 * commit fails there, and nothing is left. */
		stage(st, kind, 11, 1);
		c.fail_at = 2;
		memset(c.want, 0xff, sizeof(c.want));
		EXPECT_EQ(dir_commit(st, ST_SYNC_EACH, &c, &v), ST_EIO);
		EXPECT(f.fired);
		EXPECT_UEQ(f.count, 3); /* fdatasync, the directory's fsync, the cut back */
		EXPECT_UEQ(tu_file_size(p), 0);
		st_rollback(st);
		expect_virgin(st, kind, p);
		/* A sync is the file's fdatasync and, the first time, the
		 * directory's fsync; then the flip; then the file alone. */
		stage(st, kind, 11, 1);
		c.fail_at = 0;
		c.want[ST_GROUP_SYNCED] = 2;
		c.want[ST_GROUP_FLIPPED] = 3;
		c.want[ST_GROUP_DURABLE] = 4;
		EXPECT_EQ(dir_commit(st, ST_SYNC_EACH, &c, &v), ST_OK);
		EXPECT_UEQ(v.seq, 1);
		/* Once the store exists, its commits sync the file only. */
		stage(st, kind, 11, 2);
		c.want[ST_GROUP_SYNCED] = 1;
		c.want[ST_GROUP_FLIPPED] = 2;
		c.want[ST_GROUP_DURABLE] = 3;
		EXPECT_EQ(dir_commit(st, ST_SYNC_EACH, &c, &v), ST_OK);
		EXPECT_UEQ(v.seq, 2);
		st_close(st);
		{
			struct vlist l;
			EXPECT_EQ(st_open(p, kind, 0, NULL, &st), ST_OK);
			EXPECT_UEQ(versions_of(st, &l), 2);
			verify(st, kind, 11, 2);
			st_close(st);
		}

		/* The same for a store restarted after an unfinished creation,
		 * made durable by one syncfs per sync point, which covers its
		 * directory: a failed one fails the commit before the flip. */
		tu_truncate(p, 100);
		EXPECT_EQ(st_open(p, kind, ST_CREATE | ST_DEFER, &o, &st), ST_OK);
		expect_virgin(st, kind, p);
		stage(st, kind, 11, 1);
		c.fail_at = 1;
		memset(c.want, 0xff, sizeof(c.want));
		EXPECT_EQ(dir_commit(st, ST_SYNC_FS, &c, &v), ST_EIO);
		EXPECT(f.fired);
		EXPECT_UEQ(tu_file_size(p), 0);
		st_rollback(st);
		expect_virgin(st, kind, p);
		stage(st, kind, 11, 1);
		c.fail_at = 0;
		c.want[ST_GROUP_SYNCED] = 1;
		c.want[ST_GROUP_FLIPPED] = 2;
		c.want[ST_GROUP_DURABLE] = 3;
		EXPECT_EQ(dir_commit(st, ST_SYNC_FS, &c, &v), ST_OK);
		EXPECT_UEQ(v.seq, 1);
		st_close(st);
		expect_first(p, kind, 11, 1);
		free(p);
	}
}
END_TEST

enum gpoint { P_PREPARE, P_SYNC1, P_FLIP, P_SYNC2, NPOINTS };

/* EIO at one step of one store: that store alone fails and stays at its
 * version, or (its flip landed and its rollback failed too) is at the new
 * one, complete; every other store commits. Then all reopen as such. */
static void grp_fault(int k, enum gpoint pt, bool sticky)
{
	/* A fault at a step is armed by the hook of the step before it. */
	struct grp_ctl c = {.at_step = (enum st_group_step)pt, .arm_k = k, .sticky = sticky};
	struct st_version vs[NST];
	int rcs[NST];

	grp_stage_all();
	if (pt == P_PREPARE)
		arm(&grp[k].f, sticky);
	EXPECT_UEQ(grp_commit(SYNC_EACH, &c, rcs, vs), grp_n - 1);
	EXPECT(grp[k].f.fired);
	EXPECT_EQ(st_last_error()->sys_errno, EIO);
	for (int i = 0; i < grp_n; i++) {
		struct st_version cur;

		st_current(grp[i].st, &cur);
		if (i == k) {
			EXPECT_EQ(rcs[i], ST_EIO);
			EXPECT_UEQ(cur.seq, grp[i].gen);
			continue;
		}
		EXPECT_EQ(rcs[i], ST_OK);
		EXPECT_UEQ(vs[i].seq, grp[i].gen + 1);
		EXPECT_UEQ(cur.seq, ++grp[i].gen);
	}
	if (sticky && pt == P_SYNC2)
		grp[k].gen++;
	/* A failed kv store keeps its staged changes for the next try. */
	st_rollback(grp[k].st);
	grp_reopen();
	grp_round(SYNC_EACH);
	grp_reopen();
}

START_TEST(group_commit_faults)
{
	/* Eight stores (the syncs are the run time). The victims: a new file
	 * store, a new kv store, an old kv store, an old file store; then the
	 * first and the last store. */
	static const int victims[] = {1, 3, 6, 2, 0, 7};
	int n = 0;

	for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++)
		for (int pt = 0; pt < NPOINTS; pt++)
			for (int sticky = 0; sticky <= 1; sticky++) {
				char sub[32];

				if (v >= 4 && sticky) /* the first and last: fewer cases */
					continue;
				snprintf(sub, sizeof(sub), "f%d", n++);
				grp_setup(sub, 8);
				grp_fault(victims[v], (enum gpoint)pt, sticky);
			}
	grp_close();
}
END_TEST

/* ---- the superblock ------------------------------------------------------------ */

static void fill_str(char *s, size_t n, char c)
{
	memset(s, c, n);
	s[n] = 0;
}

/* A superblock with every field set, the strings at their longest. */
static void sb_full(struct ns_super *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->version = NS_SUPER_VERSION;
	sb->compat = 0x89abcdefu;
	sb->ro_compat = 0x01234567u;
	sb->incompat = 0;
	for (int i = 0; i < 16; i++)
		sb->uuid[i] = (uint8_t)(0xf0 - 7 * i);
	sb->created_ns = 0x0123456789abcdefull;
	sb->flush_ms = 0xfedcba98u;
	fill_str(sb->label, NS_LABEL_MAX, 'L');
	sb->label[0] = 'x';
	sb->label[NS_LABEL_MAX - 1] = 'y';
	fill_str(sb->keep, NS_KEEP_MAX, 'K');
	sb->keep[0] = 'a';
	sb->keep[NS_KEEP_MAX - 1] = 'z';
}

static void sb_expect_eq(const struct ns_super *a, const struct ns_super *b)
{
	EXPECT_UEQ(a->version, b->version);
	EXPECT_UEQ(a->compat, b->compat);
	EXPECT_UEQ(a->ro_compat, b->ro_compat);
	EXPECT_UEQ(a->incompat, b->incompat);
	EXPECT(memcmp(a->uuid, b->uuid, 16) == 0);
	EXPECT_UEQ(a->created_ns, b->created_ns);
	EXPECT_UEQ(a->flush_ms, b->flush_ms);
	ck_assert_str_eq(a->label, b->label);
	ck_assert_str_eq(a->keep, b->keep);
}

/* The reserve and the history budget: their text forms, their bytes, and
 * the superblock's fields (compat 0x1) read back. */
START_TEST(space_settings)
{
	struct ns_super sb, back;
	uint8_t buf[SB_SIZE];
	char text[32];
	uint64_t v;

	ck_assert_int_eq(ns_space_parse("512M", &v), ST_OK);
	ck_assert_uint_eq(v, 512ull << 20);
	ns_space_format(v, text, sizeof(text));
	ck_assert_str_eq(text, "512M");
	ck_assert_int_eq(ns_space_parse("2.5%", &v), ST_OK);
	ck_assert_uint_eq(v, NS_SPACE_PCT | 250);
	ns_space_format(v, text, sizeof(text));
	ck_assert_str_eq(text, "2.50%");
	ck_assert_uint_eq(ns_space_bytes(v, 1000000), 25000);
	ck_assert_uint_eq(ns_space_bytes(4096, 1000000), 4096);
	ck_assert_int_eq(ns_space_parse("0", &v), ST_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ns_space_parse("101%", &v), ST_EINVAL);
	ck_assert_int_eq(ns_space_parse("-1", &v), ST_EINVAL);
	ck_assert_int_eq(ns_space_parse("12Q", &v), ST_EINVAL);
	ck_assert_int_eq(ns_space_parse("", &v), ST_EINVAL);
	ns_super_init(&sb);
	ck_assert_int_eq(ns_super_encode(&sb, buf, sizeof(buf)), (int)SB_SIZE);
	ck_assert_uint_eq(be32(buf + 12) & NS_FEAT_SPACE, 0); /* none set: no bit */
	sb.reserve = NS_SPACE_PCT | 500;
	sb.history_max = 1ull << 30;
	ck_assert_int_eq(ns_super_encode(&sb, buf, sizeof(buf)), (int)SB_SIZE);
	ck_assert_uint_eq(be32(buf + 12) & NS_FEAT_SPACE, NS_FEAT_SPACE);
	ck_assert_int_eq(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	ck_assert_uint_eq(back.reserve, NS_SPACE_PCT | 500);
	ck_assert_uint_eq(back.history_max, 1ull << 30);
	/* Without the bit the bytes are not read (an old program's zeros). */
	buf[15] &= (uint8_t)~NS_FEAT_SPACE;
	st_put32(buf + SB_SIZE - 4, st_crc32c(0, buf, SB_SIZE - 4));
	ck_assert_int_eq(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	ck_assert_uint_eq(back.reserve, 0);
	ck_assert_uint_eq(back.history_max, 0);
}
END_TEST

START_TEST(super_roundtrip)
{
	struct ns_super sb, back;
	uint8_t buf[SB_SIZE + 64];

	sb_full(&sb);
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(ns_super_encode(&sb, buf, sizeof(buf)), SB_SIZE);
	EXPECT_UEQ(buf[SB_SIZE], 0xee); /* nothing past 512 bytes */
	/* The layout: magic, big-endian fields, strings, crc32c at the end. */
	EXPECT(memcmp(buf, "REVFSSB\x01", 8) == 0);
	EXPECT_UEQ(be32(buf + 8), NS_SUPER_VERSION);
	EXPECT_UEQ(be32(buf + 12), sb.compat);
	EXPECT_UEQ(be32(buf + 16), sb.ro_compat);
	EXPECT_UEQ(be32(buf + 20), 0);
	EXPECT(memcmp(buf + 24, sb.uuid, 16) == 0);
	EXPECT_UEQ(be64(buf + 40), sb.created_ns);
	EXPECT_UEQ(be32(buf + 48), sb.flush_ms);
	EXPECT(memcmp(buf + SB_LABEL, sb.label, NS_LABEL_MAX + 1) == 0);
	EXPECT(memcmp(buf + SB_KEEP, sb.keep, NS_KEEP_MAX + 1) == 0);
	EXPECT_UEQ(be32(buf + SB_CRC), crc32c_ref(buf, SB_CRC));
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	sb_expect_eq(&sb, &back);

	/* Empty strings, all-zero numbers but the version. */
	memset(&sb, 0, sizeof(sb));
	sb.version = 1;
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	sb_expect_eq(&sb, &back);
	/* All ones in the numbers. */
	sb.compat = sb.ro_compat = sb.flush_ms = UINT32_MAX;
	sb.created_ns = UINT64_MAX;
	memset(sb.uuid, 0xff, 16);
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	sb_expect_eq(&sb, &back);
}
END_TEST

/* One past the string limits: the field itself holds no NUL, so the
 * struct sits in a larger zeroed object that ends the string. */
START_TEST(super_limits)
{
	struct {
		struct ns_super sb;
		char after[256];
	} w;
	uint8_t buf[SB_SIZE];

	memset(&w, 0, sizeof(w));
	sb_full(&w.sb);
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE - 1), ST_EINVAL);
	EXPECT_EQ(ns_super_encode(&w.sb, buf, 0), ST_EINVAL);
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE), SB_SIZE);
	/* label: 64 characters, ended by the first byte of keep */
	w.sb.keep[0] = 0;
	memset(w.sb.label, 'L', NS_LABEL_MAX + 1);
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE), ST_EINVAL);
	EXPECT_EQ(st_last_error()->code, ST_EINVAL);
	w.sb.label[NS_LABEL_MAX] = 0;
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE), SB_SIZE);
	/* keep: 128 characters, ended by what follows the struct */
	memset(w.sb.keep, 'K', NS_KEEP_MAX + 1);
	memset((char *)&w.sb + offsetof(struct ns_super, keep) + NS_KEEP_MAX + 1, 0,
	       sizeof(w) - offsetof(struct ns_super, keep) - NS_KEEP_MAX - 1);
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE), ST_EINVAL);
	w.sb.keep[NS_KEEP_MAX] = 0;
	EXPECT_EQ(ns_super_encode(&w.sb, buf, SB_SIZE), SB_SIZE);
}
END_TEST

START_TEST(super_bitflips)
{
	struct ns_super sb, back;
	uint8_t good[SB_SIZE], buf[SB_SIZE];

	sb_full(&sb);
	EXPECT_EQ(ns_super_encode(&sb, good, SB_SIZE), SB_SIZE);
	for (int i = 0; i < SB_SIZE; i++)
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			memcpy(buf, good, SB_SIZE);
			buf[i] ^= (uint8_t)(1u << bit);
			rc = ns_super_decode(buf, SB_SIZE, &back);
			EXPECT_MSG(rc == (i < 8 ? ST_ENOTFOUND : ST_ECORRUPT), "byte %d bit %d: %d",
				   i, bit, rc);
		}
	/* And garbage that is no superblock at all. */
	memset(buf, 0, SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_ENOTFOUND);
	memcpy(buf, good, SB_SIZE);
	memcpy(buf, "REVFSSB\x02", 8); /* another magic, even with a good crc */
	sb_reseal(buf);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_ENOTFOUND);
}
END_TEST

START_TEST(super_versions)
{
	struct ns_super sb, back;
	uint8_t buf[SB_SIZE + 1];

	sb_full(&sb);
	/* newer format versions */
	for (uint32_t v = NS_SUPER_VERSION + 1; v < NS_SUPER_VERSION + 4; v++) {
		sb.version = v;
		EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
		EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_EVERSION);
	}
	sb.version = UINT32_MAX;
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_EVERSION);
	/* version 0 was never written */
	sb.version = 0;
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_ECORRUPT);
	/* each unknown incompat bit refuses; compat and ro_compat bits do not */
	sb.version = NS_SUPER_VERSION;
	for (int bit = 0; bit < 32; bit++) {
		sb.incompat = 1u << bit;
		EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
		EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back),
			  sb.incompat & NS_SUPER_INCOMPAT_KNOWN ? ST_OK : ST_EVERSION);
	}
	sb.incompat = 0;
	sb.compat = sb.ro_compat = UINT32_MAX;
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_OK);
	EXPECT_UEQ(back.ro_compat, UINT32_MAX);

	/* Strings without their NUL, under a valid checksum. */
	sb_full(&sb);
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	buf[SB_LABEL + NS_LABEL_MAX] = 'L';
	sb_reseal(buf);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_ECORRUPT);
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	buf[SB_KEEP + NS_KEEP_MAX] = 'K';
	sb_reseal(buf);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_ECORRUPT);
	/* Bytes between the fields are not read: a reseal keeps it valid. */
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &back), ST_OK);

	/* Every wrong length. */
	EXPECT_EQ(ns_super_encode(&sb, buf, SB_SIZE), SB_SIZE);
	for (size_t len = 0; len < SB_SIZE; len++)
		EXPECT_EQ(ns_super_decode(buf, len, &back), len < 8 ? ST_ENOTFOUND : ST_ECORRUPT);
	buf[SB_SIZE] = 0;
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE + 1, &back), ST_ECORRUPT);
}
END_TEST

START_TEST(super_init_and_uuid)
{
	struct ns_super a, b;
	struct st_retention r;
	struct timespec t0, t1;
	char s[37];
	uint8_t buf[SB_SIZE];

	clock_gettime(CLOCK_REALTIME, &t0);
	ns_super_init(&a);
	clock_gettime(CLOCK_REALTIME, &t1);
	ns_super_init(&b);
	EXPECT_UEQ(a.version, NS_SUPER_VERSION);
	EXPECT_UEQ(a.compat, 0);
	EXPECT_UEQ(a.ro_compat, NS_FEAT_FENCE);
	EXPECT_UEQ(a.incompat, NS_FEAT_DAMAGE | NS_FEAT_LINEAGE | NS_FEAT_VATTR | NS_FEAT_ONESYNC |
				   NS_FEAT_INLINE); /* a new vault has all */
	EXPECT_UEQ(a.flush_ms, 1000);
	ck_assert_str_eq(a.label, "");
	ck_assert_str_eq(a.keep, NS_KEEP_DEFAULT);
	EXPECT_EQ(st_retention_parse(a.keep, &r), ST_OK);
	ck_assert_uint_ge(a.created_ns, (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec);
	ck_assert_uint_le(a.created_ns, (uint64_t)t1.tv_sec * 1000000000ull + (uint64_t)t1.tv_nsec);
	EXPECT_UEQ(a.uuid[6] >> 4, 4);	    /* version 4 */
	EXPECT_UEQ(a.uuid[8] & 0xc0, 0x80); /* RFC 4122 variant */
	EXPECT(memcmp(a.uuid, b.uuid, 16) != 0);
	EXPECT_EQ(ns_super_encode(&a, buf, SB_SIZE), SB_SIZE);
	EXPECT_EQ(ns_super_decode(buf, SB_SIZE, &b), ST_OK);
	sb_expect_eq(&a, &b);

	for (int i = 0; i < 16; i++)
		a.uuid[i] = (uint8_t)(i * 0x11 ^ (i & 1 ? 0xa0 : 0));
	memset(s, 'X', sizeof(s));
	ns_super_uuid_str(&a, s);
	ck_assert_str_eq(s, "00b12293-44f5-66d7-8839-aa1bcc7dee5f");
	memset(a.uuid, 0, 16);
	ns_super_uuid_str(&a, s);
	ck_assert_str_eq(s, "00000000-0000-0000-0000-000000000000");
}
END_TEST

START_TEST(super_file)
{
	char *dir = tu_path(tu_dir, "backing"), *f, *tmp, *nodir;
	struct ns_super sb, back;
	uint8_t good[SB_SIZE];
	DIR *d;
	struct dirent *de;
	int n = 0;

	make_dir("backing");
	f = tu_path(dir, NS_SUPER_NAME);
	tmp = tu_path(dir, NS_SUPER_NAME ".tmp");
	nodir = tu_path(tu_dir, "missing");
	EXPECT_EQ(ns_super_read(dir, &back), ST_ENOTFOUND);
	EXPECT_EQ(ns_super_read(nodir, &back), ST_ENOTFOUND);

	sb_full(&sb);
	EXPECT_EQ(ns_super_write(dir, &sb), ST_OK);
	EXPECT_UEQ(tu_file_size(f), SB_SIZE);
	EXPECT(!exists(tmp));
	EXPECT_EQ(ns_super_read(dir, &back), ST_OK);
	sb_expect_eq(&sb, &back);
	/* Rewritten over the old one (and over a stale temporary file). */
	tu_copy_file(f, tmp);
	snprintf(sb.label, sizeof(sb.label), "second");
	EXPECT_EQ(ns_super_write(dir, &sb), ST_OK);
	EXPECT(!exists(tmp));
	EXPECT_EQ(ns_super_read(dir, &back), ST_OK);
	ck_assert_str_eq(back.label, "second");
	/* Only the superblock is left in the directory. */
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	EXPECT_EQ(n, 1);

	/* A label too long writes nothing. */
	{
		struct {
			struct ns_super s;
			char after[8];
		} w;
		memset(&w, 0, sizeof(w));
		w.s = sb;
		memset(w.s.label, 'L', NS_LABEL_MAX + 1);
		w.s.keep[0] = 0;
		EXPECT_EQ(ns_super_write(dir, &w.s), ST_EINVAL);
		EXPECT(!exists(tmp));
		EXPECT_EQ(ns_super_read(dir, &back), ST_OK);
		ck_assert_str_eq(back.label, "second");
	}
	/* No such directory to write in. */
	EXPECT_EQ(ns_super_write(nodir, &sb), ST_EIO);
	EXPECT_EQ(st_last_error()->sys_errno, ENOENT);

	/* A damaged file: every cut, a byte too many, a flipped bit. */
	{
		FILE *fp = fopen(f, "rb");
		EXPECT_UEQ(fread(good, 1, SB_SIZE, fp), SB_SIZE);
		fclose(fp);
	}
	for (uint64_t cut = SB_SIZE; cut-- > 0;) {
		tu_truncate(f, cut);
		EXPECT_EQ(ns_super_read(dir, &back), cut < 8 ? ST_ENOTFOUND : ST_ECORRUPT);
	}
	{
		FILE *fp = fopen(f, "wb");
		EXPECT_UEQ(fwrite(good, 1, SB_SIZE, fp), SB_SIZE);
		EXPECT_UEQ(fwrite("", 1, 1, fp), 1);
		fclose(fp);
	}
	EXPECT_EQ(ns_super_read(dir, &back), ST_ECORRUPT);
	tu_truncate(f, SB_SIZE);
	EXPECT_EQ(ns_super_read(dir, &back), ST_OK);
	tu_flip_bit(f, 300, 3);
	EXPECT_EQ(ns_super_read(dir, &back), ST_ECORRUPT);
	tu_flip_bit(f, 300, 3);
	tu_flip_bit(f, 2, 0);
	EXPECT_EQ(ns_super_read(dir, &back), ST_ENOTFOUND);
	tu_flip_bit(f, 2, 0);
	EXPECT_EQ(ns_super_read(dir, &back), ST_OK);
	free(dir);
	free(f);
	free(tmp);
	free(nodir);
}
END_TEST

/* ---- namespace records ---------------------------------------------------------- */

START_TEST(ns_keys)
{
	uint8_t key[NSK_MAX], k2[NSK_MAX];
	char name[256];
	uint8_t u[8];

	EXPECT_UEQ(ns_key(NSK_INODE, 0x0102030405060708ull, NULL, 0, key), 9);
	EXPECT(memcmp(key, "I\x01\x02\x03\x04\x05\x06\x07\x08", 9) == 0);
	EXPECT_UEQ(ns_key(NSK_DIRENT, NS_ROOT_INO, "hello", 5, key), 14);
	EXPECT(memcmp(key, "D\0\0\0\0\0\0\0\x01hello", 14) == 0);
	EXPECT_UEQ(ns_key(NSK_XATTR, 42, "user.x", 6, key), 15);
	EXPECT(memcmp(key, "X\0\0\0\0\0\0\0\x2auser.x", 15) == 0);
	EXPECT_UEQ(ns_key(NSK_ORPHAN, UINT64_MAX, NULL, 0, key), 9);
	EXPECT(memcmp(key, "O\xff\xff\xff\xff\xff\xff\xff\xff", 9) == 0);
	EXPECT_UEQ(ns_key(NSK_META, 0, "next_ino", 8, key), 17);
	EXPECT(memcmp(key, "M\0\0\0\0\0\0\0\0next_ino", 17) == 0);
	/* a name of 255 bytes fills the key exactly */
	memset(name, 'n', 255);
	EXPECT_UEQ(ns_key(NSK_DIRENT, 7, name, 255, key), NSK_MAX);
	EXPECT(memcmp(key + 9, name, 255) == 0);
	/* byte order is numeric order */
	for (uint64_t a = 1; a < (1ull << 40); a = a * 3 + 1) {
		ns_key(NSK_INODE, a, NULL, 0, key);
		ns_key(NSK_INODE, a + 1, NULL, 0, k2);
		EXPECT(memcmp(key, k2, 9) < 0);
		ns_key(NSK_INODE, a << 8, NULL, 0, k2);
		EXPECT(memcmp(key, k2, 9) < 0);
	}
	st_put64(u, 0x0102030405060708ull);
	EXPECT(memcmp(u, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
	EXPECT_UEQ(st_get64(u), 0x0102030405060708ull);
	st_put64(u, UINT64_MAX);
	EXPECT_UEQ(st_get64(u), UINT64_MAX);
	st_put64(u, 0);
	EXPECT_UEQ(st_get64(u), 0);
}
END_TEST

START_TEST(ns_store_paths)
{
	char buf[64];
	size_t len;

	EXPECT_EQ(ns_store_path("d", 1, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "d/ino/01/1.rev");
	EXPECT_EQ(ns_store_path("/b", 0x1234, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "/b/ino/34/4660.rev");
	EXPECT_EQ(ns_store_path("b", UINT64_MAX, buf, sizeof(buf)), ST_OK);
	ck_assert_str_eq(buf, "b/ino/ff/18446744073709551615.rev");
	len = strlen(buf);
	EXPECT_EQ(ns_store_path("b", UINT64_MAX, buf, len + 1), ST_OK);
	EXPECT_EQ(ns_store_path("b", UINT64_MAX, buf, len), ST_EINVAL);
	EXPECT_EQ(ns_store_path("b", 1, buf, 0), ST_EINVAL);
}
END_TEST

static void inode_expect_eq(const struct ns_inode *a, const struct ns_inode *b)
{
	EXPECT_UEQ(a->mode, b->mode);
	EXPECT_UEQ(a->uid, b->uid);
	EXPECT_UEQ(a->gid, b->gid);
	EXPECT_UEQ(a->nlink, b->nlink);
	EXPECT_UEQ(a->flags, b->flags);
	EXPECT_UEQ(a->size, b->size);
	EXPECT_UEQ(a->rdev, b->rdev);
	EXPECT_EQ(a->atime_ns, b->atime_ns);
	EXPECT_EQ(a->mtime_ns, b->mtime_ns);
	EXPECT_EQ(a->ctime_ns, b->ctime_ns);
	EXPECT_EQ(a->btime_ns, b->btime_ns);
	EXPECT_UEQ(a->parent, b->parent);
}

START_TEST(ns_inode)
{
	static uint8_t target[4000], buf[NSV_INODE_SIZE + 4000 + 1];
	struct ns_inode in = {
	    .mode = S_IFLNK | 0777,
	    .uid = 0xfffffffeu,
	    .gid = 0x12345678u,
	    .nlink = 3,
	    .flags = 0x80000001u,
	    .size = sizeof(target),
	    .rdev = 0x1122334455667788ull,
	    .atime_ns = INT64_MIN,
	    .mtime_ns = -1,
	    .ctime_ns = -1234567890123456789ll,
	    .btime_ns = INT64_MAX,
	    .parent = 0xa1b2c3d4e5f60718ull,
	};
	struct ns_inode back;
	const void *t;
	size_t tlen;
	uint64_t seed = 17;
	int len;

	tu_fill(&seed, target, sizeof(target));
	len = ns_inode_encode(&in, target, sizeof(target), buf, sizeof(buf));
	EXPECT_EQ(len, NSV_INODE_SIZE + sizeof(target));
	/* the layout: a version byte, then big-endian fields */
	EXPECT_UEQ(buf[0], 1);
	EXPECT_UEQ(be32(buf + 4), in.mode);
	EXPECT_UEQ(be32(buf + 8), in.uid);
	EXPECT_UEQ(be64(buf + 24), in.size);
	EXPECT_UEQ(be64(buf + 40), 0x8000000000000000ull);
	EXPECT_UEQ(be64(buf + 48), UINT64_MAX);
	EXPECT_UEQ(be64(buf + 72), in.parent);
	EXPECT(memcmp(buf + NSV_INODE_SIZE, target, sizeof(target)) == 0);
	memset(&back, 0xa5, sizeof(back));
	EXPECT_EQ(ns_inode_decode(buf, (size_t)len, &back, &t, &tlen), ST_OK);
	inode_expect_eq(&in, &back);
	ck_assert_ptr_eq(t, buf + NSV_INODE_SIZE);
	EXPECT_UEQ(tlen, sizeof(target));
	EXPECT_EQ(ns_inode_decode(buf, (size_t)len, &back, NULL, NULL), ST_OK);
	/* every shorter record, and one byte more, is not this inode */
	for (size_t l = 0; l < (size_t)len; l++)
		EXPECT_MSG(ns_inode_decode(buf, l, &back, &t, &tlen) == ST_ECORRUPT,
			   "decoded %zu bytes", l);
	EXPECT_EQ(ns_inode_decode(buf, (size_t)len + 1, &back, &t, &tlen), ST_ECORRUPT);
	/* a newer record version */
	buf[0] = 3;
	EXPECT_EQ(ns_inode_decode(buf, (size_t)len, &back, &t, &tlen), ST_EVERSION);
	buf[0] = 1;
	/* too small a buffer, too long a target */
	EXPECT_EQ(ns_inode_encode(&in, target, sizeof(target), buf, (size_t)len - 1), ST_ETOOBIG);
	EXPECT_EQ(ns_inode_encode(&in, target, ST_MAX_VALUE - NSV_INODE_SIZE + 1, buf, SIZE_MAX),
		  ST_ETOOBIG);

	/* A regular file: no target. */
	in.mode = S_IFREG | 0644;
	in.size = 0x000fffffffffffffull;
	in.nlink = 1;
	len = ns_inode_encode(&in, NULL, 0, buf, NSV_INODE_SIZE);
	EXPECT_EQ(len, NSV_INODE_SIZE);
	EXPECT_EQ(ns_inode_decode(buf, NSV_INODE_SIZE, &back, &t, &tlen), ST_OK);
	inode_expect_eq(&in, &back);
	EXPECT_UEQ(tlen, 0);
	for (size_t l = 0; l < NSV_INODE_SIZE; l++)
		EXPECT_EQ(ns_inode_decode(buf, l, &back, &t, &tlen), ST_ECORRUPT);
	/* A directory and a device node. */
	in.mode = S_IFDIR | 0755;
	in.size = 0;
	in.parent = NS_ROOT_INO;
	EXPECT_EQ(ns_inode_encode(&in, NULL, 0, buf, sizeof(buf)), NSV_INODE_SIZE);
	EXPECT_EQ(ns_inode_decode(buf, NSV_INODE_SIZE, &back, &t, &tlen), ST_OK);
	inode_expect_eq(&in, &back);
	in.mode = S_IFCHR | 0600;
	in.rdev = 0x0000000500000001ull;
	EXPECT_EQ(ns_inode_encode(&in, NULL, 0, buf, sizeof(buf)), NSV_INODE_SIZE);
	EXPECT_EQ(ns_inode_decode(buf, NSV_INODE_SIZE, &back, &t, &tlen), ST_OK);
	inode_expect_eq(&in, &back);
}
END_TEST

START_TEST(ns_inode_longest_target)
{
	size_t tl = ST_MAX_VALUE - NSV_INODE_SIZE;
	uint8_t *target = calloc(1, tl), *buf = malloc(ST_MAX_VALUE);
	struct ns_inode in = {.mode = S_IFLNK | 0777, .nlink = 1, .size = tl}, back;
	const void *t;
	size_t tlen;

	memset(target, 'x', tl);
	EXPECT_EQ(ns_inode_encode(&in, target, tl, buf, ST_MAX_VALUE), ST_MAX_VALUE);
	EXPECT_EQ(ns_inode_decode(buf, ST_MAX_VALUE, &back, &t, &tlen), ST_OK);
	EXPECT_UEQ(tlen, tl);
	EXPECT(memcmp(t, target, tl) == 0);
	free(target);
	free(buf);
}
END_TEST

START_TEST(ns_dirent)
{
	uint8_t buf[NSV_DIRENT_SIZE + 1];
	uint64_t ino;
	uint8_t type;

	ns_dirent_encode(0x0102030405060708ull, DT_DIR, buf);
	EXPECT(memcmp(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
	EXPECT_UEQ(buf[8], DT_DIR);
	EXPECT_EQ(ns_dirent_decode(buf, NSV_DIRENT_SIZE, &ino, &type), ST_OK);
	EXPECT_UEQ(ino, 0x0102030405060708ull);
	EXPECT_UEQ(type, DT_DIR);
	ns_dirent_encode(UINT64_MAX, DT_LNK, buf);
	EXPECT_EQ(ns_dirent_decode(buf, NSV_DIRENT_SIZE, &ino, &type), ST_OK);
	EXPECT_UEQ(ino, UINT64_MAX);
	EXPECT_UEQ(type, DT_LNK);
	for (size_t l = 0; l <= sizeof(buf); l++)
		if (l != NSV_DIRENT_SIZE)
			EXPECT_EQ(ns_dirent_decode(buf, l, &ino, &type), ST_ECORRUPT);
}
END_TEST

struct names {
	int n;
	char last[256];
	uint64_t last_ino;
};

static int names_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct names *nm = arg;
	char name[256];
	uint64_t ino;
	uint8_t type;

	ck_assert_uint_gt(klen, 9);
	memcpy(name, (const uint8_t *)key + 9, klen - 9);
	name[klen - 9] = 0;
	EXPECT(nm->n == 0 || strcmp(nm->last, name) < 0);
	EXPECT_EQ(ns_dirent_decode(val, vlen, &ino, &type), ST_OK);
	EXPECT_UEQ(type, DT_REG);
	EXPECT_UEQ(ino, (uint64_t)atoi(name + 1) * 1000 + 2);
	snprintf(nm->last, sizeof(nm->last), "%s", name);
	nm->n++;
	return 0;
}

static int inodes_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct names *nm = arg;
	struct ns_inode in;
	uint64_t ino = st_get64((const uint8_t *)key + 1);

	EXPECT_UEQ(klen, 9);
	EXPECT(nm->n == 0 || ino > nm->last_ino);
	EXPECT_EQ(ns_inode_decode(val, vlen, &in, NULL, NULL), ST_OK);
	EXPECT_UEQ(in.nlink, ino == NS_ROOT_INO ? 2 : 1);
	nm->last_ino = ino;
	nm->n++;
	return 0;
}

/* The records in a deferred namespace store, as the daemon uses them:
 * numeric order of inode numbers, name order within a directory. */
START_TEST(ns_in_kv_store)
{
	char *dir = tu_path(tu_dir, "nsdir"), path[256];
	uint8_t key[NSK_MAX], rec[NSV_INODE_SIZE], de[NSV_DIRENT_SIZE], u[8];
	struct ns_inode in = {.mode = S_IFDIR | 0755, .nlink = 2, .parent = NS_ROOT_INO};
	struct names nm;
	st_store *st;
	size_t kl;
	int rl;

	make_dir("nsdir");
	snprintf(path, sizeof(path), "%s/%s", dir, NS_STORE_NAME);
	EXPECT_EQ(st_open(path, ST_KIND_KV, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	kl = ns_key(NSK_INODE, NS_ROOT_INO, NULL, 0, key);
	rl = ns_inode_encode(&in, NULL, 0, rec, sizeof(rec));
	EXPECT_EQ(st_kv_put(st, key, kl, rec, (size_t)rl), ST_OK);
	for (int i = 299; i >= 0; i--) {
		char name[16];
		uint64_t ino = (uint64_t)i * 1000 + 2;
		struct ns_inode f = {.mode = S_IFREG | 0644, .nlink = 1, .size = (uint64_t)i};
		int nl = snprintf(name, sizeof(name), "f%d", i);

		kl = ns_key(NSK_DIRENT, NS_ROOT_INO, name, (size_t)nl, key);
		ns_dirent_encode(ino, DT_REG, de);
		EXPECT_EQ(st_kv_put(st, key, kl, de, sizeof(de)), ST_OK);
		kl = ns_key(NSK_INODE, ino, NULL, 0, key);
		rl = ns_inode_encode(&f, NULL, 0, rec, sizeof(rec));
		EXPECT_EQ(st_kv_put(st, key, kl, rec, (size_t)rl), ST_OK);
	}
	kl = ns_key(NSK_META, 0, "next_ino", 8, key);
	st_put64(u, 300 * 1000 + 2);
	EXPECT_EQ(st_kv_put(st, key, kl, u, 8), ST_OK);
	EXPECT_EQ(st_commit(st, NULL), ST_OK);
	st_close(st);

	EXPECT_EQ(st_open(path, ST_KIND_KV, 0, NULL, &st), ST_OK);
	memset(&nm, 0, sizeof(nm));
	kl = ns_key(NSK_DIRENT, NS_ROOT_INO, NULL, 0, key);
	EXPECT_EQ(st_kv_range(st, key, kl, names_cb, &nm), 0);
	EXPECT_EQ(nm.n, 300);
	memset(&nm, 0, sizeof(nm));
	EXPECT_EQ(st_kv_range(st, "I", 1, inodes_cb, &nm), 0);
	EXPECT_EQ(nm.n, 301);
	{
		void *v;
		size_t vl;
		kl = ns_key(NSK_META, 0, "next_ino", 8, key);
		EXPECT_EQ(st_kv_get(st, key, kl, &v, &vl), ST_OK);
		EXPECT_UEQ(vl, 8);
		EXPECT_UEQ(st_get64(v), 300 * 1000 + 2);
		free(v);
	}
	st_close(st);
	free(dir);
}
END_TEST

/* The lock note: who is on the way out. */
START_TEST(lock_leaving)
{
	ck_assert(ns_lock_leaving(""));
	ck_assert(ns_lock_leaving("closing"));
	ck_assert(ns_lock_leaving("closing\n"));
	ck_assert(!ns_lock_leaving("pid 12 on /"));
	ck_assert(!ns_lock_leaving("pid 12 on /\n"));
	ck_assert(!ns_lock_leaving("pid 12 on /proc"));
	ck_assert(ns_lock_leaving("pid 12 on /no/such/mount/point\n"));
	ck_assert(!ns_lock_leaving("pid 12 on relative/mnt")); /* cannot tell */
	ck_assert(!ns_lock_leaving("something else"));
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, defer_file_store);
	tcase_add_test(tc, defer_kv_store);
	tcase_add_test(tc, defer_empty_first_commit);
	tcase_add_test(tc, defer_never_committed);
	tcase_add_test(tc, defer_cut_first_commit_file);
	tcase_add_test(tc, defer_cut_first_commit_kv);
	tcase_add_test(tc, defer_fault_first_commit_file);
	tcase_add_test(tc, defer_fault_first_commit_kv);
	tcase_add_test(tc, group_commit_each_sync);
	tcase_add_test(tc, group_commit_syncfs);
	tcase_add_test(tc, group_commit_abort);
	tcase_add_test(tc, group_commit_flip_needs_dir_sync);
	tcase_add_test(tc, group_commit_faults);
	tcase_add_test(tc, super_roundtrip);
	tcase_add_test(tc, space_settings);
	tcase_add_test(tc, super_limits);
	tcase_add_test(tc, super_bitflips);
	tcase_add_test(tc, super_versions);
	tcase_add_test(tc, super_init_and_uuid);
	tcase_add_test(tc, super_file);
	tcase_add_test(tc, ns_keys);
	tcase_add_test(tc, ns_store_paths);
	tcase_add_test(tc, ns_inode);
	tcase_add_test(tc, ns_inode_longest_target);
	tcase_add_test(tc, ns_dirent);
	tcase_add_test(tc, ns_in_kv_store);
	tcase_add_test(tc, lock_leaving);
}

int main(void)
{
	return tu_main("backing", 120, add_tests, grp_close);
}
