/*
 * check_crash.c - a crash leaves a torn tail: the file cut at any byte.
 * The store must open at the newest version whose header is whole, read
 * every earlier version back exactly, and take a new commit. A user's
 * data that holds a perfect store image must never be taken for a header.
 * Each test runs with two-sync commits (marker flip) and with one-sync
 * commits (ST_ONESYNC), whose header is marked before its region is
 * durable: there a crash may also leave the header with any part of its
 * region missing or stale, which must read as the commit before. The cuts
 * and torn regions again in a sealed store with one-sync commits (every
 * record sealed with AES-256-GCM). And all of it again for a small file
 * whose content is inline in its headers (ST_INLINE), which also grows
 * past the limit and comes back: a cut or a torn sector inside the last
 * header's inline area reads as the commit before.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define NVER 24
/* Random cuts among the earlier commits: 150 per mode (300 made the
 * sanitized make check run over its budget; every byte of the last
 * commit is still cut). */
#define NCUTS 150

struct ver {
	uint64_t seq, hdr, end; /* the header's position; the offset just past it */
	uint8_t *data;
	size_t size;
};

static struct ver vers[NVER + 1];
static int nvers;
/* The bytes the last commit wrote: where the last two versions differ. */
static uint64_t last_off, last_len;
/* The mode of each test, from its loop index: bit 0 one-sync commits
 * (ST_ONESYNC), bit 1 a sealed store (st_open_opts.key), bit 2 a small
 * file inline (ST_INLINE, created deferred: no version before the first
 * commit). */
static int sync_flag; /* 0 or ST_ONESYNC, with ST_INLINE | ST_DEFER */
static struct st_key key = {{1, 2, 3}};
static const struct st_open_opts sealed = {.key = &key};
static const struct st_open_opts *sopts; /* NULL or &sealed */
static bool inline_mode;

static void mode(int loop)
{
	sync_flag = loop & 1 ? ST_ONESYNC : 0;
	sopts = loop & 2 ? &sealed : NULL;
	inline_mode = loop & 4;
}

/* Runs before the temporary directory goes. */
static void cleanup(void)
{
	for (int i = 0; i < nvers; i++)
		free(vers[i].data);
	nvers = 0;
}

static void record(st_store *st, const char *path, const uint8_t *m, size_t size)
{
	struct st_version v;

	st_current(st, &v);
	vers[nvers].seq = v.seq;
	vers[nvers].hdr = v.offset;
	/* No reserve without syncs: the file ends with the header. */
	vers[nvers].end = tu_file_size(path);
	vers[nvers].data = malloc(size ? size : 1);
	memcpy(vers[nvers].data, m, size);
	vers[nvers].size = size;
	nvers++;
}

/* Builds a store of NVER commits of mixed writes; the last one small.
 * Inline: writes around the limit, growing past it now and then and
 * truncated to 0 now and then; the last commit a small file again. */
static char *build(int loop)
{
	char *p = tu_path(tu_dir, "s.rev");
	static uint8_t m[1 << 20], buf[1 << 18];
	uint64_t seed = 99;
	size_t size = 0;
	st_store *st;
	int flags;

	mode(loop);
	flags = ST_CREATE | ST_NOSYNC | sync_flag | (inline_mode ? ST_INLINE | ST_DEFER : 0);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, flags, sopts, &st), ST_OK);
	if (!inline_mode)
		record(st, p, m, 0);
	for (int i = 1; i < NVER; i++) {
		size_t off = tu_rand(&seed) % (sizeof(m) / 2), len;

		len = i == NVER - 1 ? 5000 : tu_rand(&seed) % sizeof(buf);
		if (inline_mode) {
			off = tu_rand(&seed) % (i == NVER - 1 ? 2000 : 3000);
			len = i % 9 == 0 ? 5000 : tu_rand(&seed) % 900;
			if (i % 10 == 0 || i == NVER - 1) {
				ck_assert_int_eq(st_file_truncate(st, 0), ST_OK);
				memset(m, 0, size);
				size = 0;
			}
		}
		tu_fill(&seed, buf, len);
		last_off = off;
		last_len = len;
		ck_assert_int_eq(st_file_write(st, off, buf, len), ST_OK);
		memcpy(m + off, buf, len);
		if (len && off + len > size) /* writing nothing extends nothing */
			size = off + len;
		if (i % 7 == 0) {
			size -= size / 3;
			memset(m + size, 0, sizeof(m) - size);
			ck_assert_int_eq(st_file_truncate(st, size), ST_OK);
		}
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
		record(st, p, m, size);
	}
	st_close(st);
	/* The last commit is a small file in its header: an area. */
	if (inline_mode)
		ck_assert_uint_gt(vers[nvers - 1].end - vers[nvers - 1].hdr, 1 + 8 + 156);
	return p;
}

static void expect_version(st_store *st, int k)
{
	static uint8_t buf[1 << 20];
	struct st_version v;

	st_current(st, &v);
	ck_assert_uint_eq(v.seq, vers[k].seq);
	ck_assert_int_eq(st_file_read(st, 0, buf, sizeof(buf)), (ssize_t)vers[k].size);
	ck_assert(memcmp(buf, vers[k].data, vers[k].size) == 0);
}

/* Version k, read only where it differs from the version after it (the
 * last commit's write, a page either side) and at its end: for the cuts
 * of the last commit, whose every byte is cut. Reading whole versions of
 * about 700 KB at each of the 10,000 or so cuts per mode was most of the
 * sanitized run's time; every 64th cut still reads the whole version. */
static void expect_version_near_last(st_store *st, int k)
{
	static uint8_t buf[16384];
	struct st_version v;
	uint64_t size = vers[k].size, lo = last_off > 4096 ? last_off - 4096 : 0;
	uint64_t hi = last_off + last_len + 4096, tail = size > 4096 ? size - 4096 : 0;

	st_current(st, &v);
	ck_assert_uint_eq(v.seq, vers[k].seq);
	ck_assert_uint_eq(st_file_size(st), size);
	ck_assert_uint_le(hi - lo, sizeof(buf));
	hi = hi < size ? hi : size;
	if (lo < hi) {
		ck_assert_int_eq(st_file_read(st, lo, buf, hi - lo), (ssize_t)(hi - lo));
		ck_assert(memcmp(buf, vers[k].data + lo, hi - lo) == 0);
	}
	ck_assert_int_eq(st_file_read(st, tail, buf, 4096), (ssize_t)(size - tail));
	ck_assert(memcmp(buf, vers[k].data + tail, size - tail) == 0);
}

/* The newest version whose header ends at or before cut. */
static int version_at(uint64_t cut)
{
	int k = nvers - 1;

	while (vers[k].end > cut)
		k--;
	return k;
}

static void expect_all_before(st_store *st, int k)
{
	for (int j = 0; j <= k; j++) {
		st_store *old;
		ck_assert_int_eq(st_open_version(st, vers[j].seq, &old), ST_OK);
		expect_version(old, j);
		st_close(old);
	}
}

/* Copies the cut file, opens it writable, commits, reopens, checks. */
static void commit_after(const char *cutfile, int k)
{
	char *q = tu_path(tu_dir, "w.rev");
	st_store *st;
	struct st_version v;

	tu_copy_file(cutfile, q);
	ck_assert_int_eq(st_open(q, ST_KIND_FILE, ST_NOSYNC | sync_flag, sopts, &st), ST_OK);
	ck_assert_int_eq(st_file_write(st, 3, "after", 5), ST_OK);
	ck_assert_int_eq(st_commit(st, &v), ST_OK);
	ck_assert_uint_eq(v.seq, vers[k].seq + 1);
	st_close(st);
	ck_assert_int_eq(st_open(q, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	expect_all_before(st, k);
	st_close(st);
	unlink(q);
	free(q);
}

START_TEST(cut_every_byte_of_last_commit)
{
	char *p = build(_i), *w = tu_path(tu_dir, "cut.rev");
	uint64_t end = vers[nvers - 1].end, start = vers[nvers - 2].end;
	st_store *st;
	uint64_t n = 0;

	ck_assert_uint_eq(tu_file_size(p), end);
	tu_copy_file(p, w);
	/* Shrinking one copy keeps it a prefix of the whole file. */
	for (uint64_t cut = end; cut-- > start; n++) {
		int k = version_at(cut);

		tu_truncate(w, cut);
		ck_assert_int_eq(st_open(w, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
		ck_assert_int_eq(k, nvers - 2);
		if (n % 64 == 0 || cut % 4096 < 2)
			expect_version(st, k);
		else
			expect_version_near_last(st, k);
		if (n % 512 == 0 || cut % 4096 < 2)
			expect_all_before(st, k);
		st_close(st);
		if (n % 1024 == 0 || cut == end - 1 || cut == start)
			commit_after(w, k);
	}
	free(w);
	free(p);
}
END_TEST

START_TEST(cut_earlier_commits)
{
	char *p = build(_i), *w = tu_path(tu_dir, "cut.rev");
	uint64_t seed = 5, end = vers[nvers - 1].end;
	uint64_t cuts[NCUTS];
	st_store *st;

	for (int i = 0; i < NCUTS; i++)
		cuts[i] = vers[0].end + tu_rand(&seed) % (end - vers[0].end);
	for (int i = 0; i < NCUTS; i++) /* descending, to keep shrinking one copy */
		for (int j = i + 1; j < NCUTS; j++)
			if (cuts[j] > cuts[i]) {
				uint64_t t = cuts[i];
				cuts[i] = cuts[j];
				cuts[j] = t;
			}
	tu_copy_file(p, w);
	for (int i = 0; i < NCUTS; i++) {
		int k = version_at(cuts[i]);

		tu_truncate(w, cuts[i]);
		ck_assert_int_eq(st_open(w, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
		expect_version(st, k);
		if (i % 10 == 0)
			expect_all_before(st, k);
		st_close(st);
		if (i % 25 == 0)
			commit_after(w, k);
	}
	free(w);
	free(p);
}
END_TEST

/*
 * A store image written as user data, at every offset within a block
 * (4096 commits, one per offset): cutting the file just before each real
 * header must open at the real previous version, never at a header of
 * the image.
 */
START_TEST(store_image_in_user_data)
{
	char *img = tu_path(tu_dir, "img.rev"), *p = tu_path(tu_dir, "host.rev");
	static uint8_t image[3 * 4096];
	static uint64_t hdr_pos[4097];
	size_t ilen;
	st_store *st;
	FILE *f;

	int flag;

	mode(_i);
	flag = sync_flag;

	/* The image: a small but perfectly valid store with two versions. */
	ck_assert_int_eq(st_open(img, ST_KIND_FILE, ST_CREATE | ST_NOSYNC | flag, sopts, &st),
			 ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, "inner version", 13), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	f = fopen(img, "rb");
	ilen = fread(image, 1, sizeof(image), f);
	fclose(f);
	ck_assert(ilen > 4096 && ilen < sizeof(image));
	ck_assert(image[0] == 1 && image[4096] == 1); /* header-marked blocks */

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_NOSYNC | flag, sopts, &st), ST_OK);
	for (unsigned shift = 0; shift < 4096; shift++) {
		struct st_version v;
		ck_assert_int_eq(st_file_write(st, shift, image, ilen), ST_OK);
		ck_assert_int_eq(st_commit(st, &v), ST_OK);
		hdr_pos[shift + 1] = v.offset;
	}
	st_close(st);
	for (unsigned k = 4096; k >= 1; k--) {
		struct st_version v;

		tu_truncate(p, hdr_pos[k]); /* the data of commit k, not its header */
		ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
		st_current(st, &v);
		ck_assert_uint_eq(v.seq, k - 1);
		ck_assert_uint_eq(v.offset, hdr_pos[k - 1]);
		if (k % 512 == 0)
			ck_assert_int_eq(st_check(st, ST_CHECK_DATA), ST_OK);
		st_close(st);
	}
	free(img);
	free(p);
}
END_TEST

/*
 * One-sync commits: the header of the last commit is on disk, but a piece
 * of its region is not (zeros: a block never written, or the reserve) or
 * holds other bytes (a rolled-back commit's). Every 512-byte sector of
 * the region in turn, then the whole region: the store must open at the
 * commit before whenever the bytes differ, at the last one when they do
 * not, and take a new commit either way.
 */
START_TEST(torn_region_of_last_commit)
{
	char *p = build(_i), *w = tu_path(tu_dir, "torn.rev");
	uint64_t hdr = vers[nvers - 1].hdr, start = vers[nvers - 2].end, end = vers[nvers - 1].end;
	static uint8_t orig[1 << 20], sector[512];
	static uint64_t from[4096], to[4096];
	uint64_t seed = 11;
	unsigned torn = 0, n = 0;
	FILE *f;

	ck_assert(end - start <= sizeof(orig));
	f = fopen(p, "rb");
	ck_assert(fseek(f, (long)start, SEEK_SET) == 0);
	ck_assert_uint_eq(fread(orig, 1, end - start, f), end - start);
	fclose(f);
	/* Each sector of the region; (inline) each of the header's area past
	 * its first sector, which holds the parts its crc covers; then the
	 * whole region. */
	for (uint64_t o = start; o < hdr; o += 512) {
		from[n] = o;
		to[n++] = o + 512 < hdr ? o + 512 : hdr;
	}
	for (uint64_t o = hdr + 512; inline_mode && o < end; o += 512) {
		from[n] = o;
		to[n++] = o + 512 < end ? o + 512 : end;
	}
	from[n] = start;
	to[n++] = hdr;
	for (unsigned r = 0; r < n; r++) {
		bool differs = false;
		st_store *st;

		for (int garbage = 0; garbage < 2; garbage++) {
			FILE *g;

			tu_copy_file(p, w);
			g = fopen(w, "r+b");
			for (uint64_t o = from[r]; o < to[r]; o += sizeof(sector)) {
				size_t k = to[r] - o < sizeof(sector) ? (size_t)(to[r] - o)
								      : sizeof(sector);

				memset(sector, 0, sizeof(sector));
				if (garbage)
					tu_fill(&seed, sector, k);
				if (memcmp(sector, orig + (o - start), k))
					differs = true;
				ck_assert(fseek(g, (long)o, SEEK_SET) == 0);
				ck_assert_uint_eq(fwrite(sector, 1, k, g), k);
			}
			fclose(g);
			ck_assert_int_eq(st_open(w, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
			expect_version(st, differs ? nvers - 2 : nvers - 1);
			torn += differs;
			st_close(st);
			if (garbage && (r % 16 == 0 || r == n - 1))
				commit_after(w, differs ? nvers - 2 : nvers - 1);
		}
	}
	ck_assert(torn > 0);
	free(w);
	free(p);
}
END_TEST

/* Only the newest commit may be torn: a one-sync commit with a damaged
 * region under a newer one is damage, which recovery mode passes over. */
START_TEST(damaged_region_under_newer_commit)
{
	char *p = build(_i);
	uint64_t at = vers[nvers - 2].end + 100; /* in the region of the last commit */
	st_store *st;
	FILE *f;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	/* Damage just before an older header (padding, most likely) is not
	 * looked for at open; a full check finds it. */
	f = fopen(p, "r+b");
	ck_assert(fseek(f, (long)(vers[nvers - 5].hdr - 3), SEEK_SET) == 0);
	ck_assert_uint_eq(fwrite("XYZ", 1, 3, f), 3);
	fclose(f);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_OK);
	expect_version(st, nvers - 1);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_ECORRUPT);
	st_close(st);
	/* Tear the last commit, and damage the one before it too. */
	f = fopen(p, "r+b");
	for (int i = 0; i < 2; i++) {
		ck_assert(fseek(f, (long)at, SEEK_SET) == 0);
		ck_assert_uint_eq(fwrite("XYZ", 1, 3, f), 3);
		at = vers[nvers - 3].end + 100;
	}
	fclose(f);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, sopts, &st), ST_ECORRUPT);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY | ST_RECOVER, sopts, &st), ST_OK);
	expect_version(st, nvers - 3);
	st_close(st);
	free(p);
}
END_TEST

static void add_tests(TCase *tc)
{
	/* Sealed (2, 3): with one-sync commits only, and no store image in
	 * user data, which a sealed store never shows in the clear. */
	tcase_add_loop_test(tc, cut_every_byte_of_last_commit, 0, 2);
	tcase_add_loop_test(tc, cut_every_byte_of_last_commit, 3, 4);
	tcase_add_loop_test(tc, cut_earlier_commits, 0, 2);
	tcase_add_loop_test(tc, cut_earlier_commits, 3, 4);
	tcase_add_loop_test(tc, store_image_in_user_data, 0, 2);
	/* One-sync only: plain (1) and sealed (3). */
	tcase_add_loop_test(tc, torn_region_of_last_commit, 1, 2);
	tcase_add_loop_test(tc, torn_region_of_last_commit, 3, 4);
	tcase_add_loop_test(tc, damaged_region_under_newer_commit, 1, 2);
	tcase_add_loop_test(tc, damaged_region_under_newer_commit, 3, 4);
	/* Inline (4..7): cuts with two syncs and one, torn regions and
	 * areas with one, plain and sealed. */
	tcase_add_loop_test(tc, cut_every_byte_of_last_commit, 4, 6);
	tcase_add_loop_test(tc, cut_every_byte_of_last_commit, 7, 8);
	tcase_add_loop_test(tc, cut_earlier_commits, 5, 6);
	tcase_add_loop_test(tc, torn_region_of_last_commit, 5, 6);
	tcase_add_loop_test(tc, torn_region_of_last_commit, 7, 8);
	tcase_add_loop_test(tc, damaged_region_under_newer_commit, 5, 6);
}

int main(void)
{
	return tu_main("crash", 600, add_tests, cleanup);
}
