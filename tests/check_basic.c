/*
 * check_basic.c - the store's public interface end to end: create, write,
 * commit, read back, reopen, versions, kv put/get/range, info.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(file_roundtrip)
{
	char *p = tu_path(tu_dir, "f.rev");
	st_store *st;
	uint64_t seed = 1;
	size_t n = 3 * 1024 * 1024 + 123;
	uint8_t *data = malloc(n), *back = malloc(n);
	struct st_version v;

	tu_fill(&seed, data, n);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, data, n), ST_OK);
	ck_assert_int_eq(st_commit(st, &v), ST_OK);
	ck_assert_uint_eq(v.seq, 1);
	ck_assert_uint_eq(v.size, n);
	memset(back, 0xaa, n);
	ck_assert_int_eq(st_file_read(st, 0, back, n), (ssize_t)n);
	ck_assert(memcmp(data, back, n) == 0);
	/* an unaligned overwrite in the middle */
	memset(data + 5000, 0x5a, 10000);
	ck_assert_int_eq(st_file_write(st, 5000, data + 5000, 10000), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, back, n), (ssize_t)n);
	ck_assert(memcmp(data, back, n) == 0);
	ck_assert_int_eq(st_file_read(st, 4000, back, 100), 100);
	ck_assert(memcmp(data + 4000, back, 100) == 0);
	st_close(st);
	free(data);
	free(back);
	free(p);
}
END_TEST

START_TEST(holes_and_truncate)
{
	char *p = tu_path(tu_dir, "h.rev");
	st_store *st;
	uint8_t buf[20000], zero[20000] = {0};

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	memset(buf, 7, sizeof(buf));
	ck_assert_int_eq(st_file_write(st, 100000, buf, 10), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_uint_eq(st_file_size(st), 100010);
	ck_assert_int_eq(st_file_read(st, 0, buf, sizeof(buf)), sizeof(buf));
	ck_assert(memcmp(buf, zero, sizeof(buf)) == 0);
	ck_assert_int_eq(st_file_seek(st, 0, SEEK_DATA), 98304);
	ck_assert_int_eq(st_file_seek(st, 0, SEEK_HOLE), 0);
	ck_assert_int_eq(st_file_seek(st, 98304, SEEK_HOLE), 100010);
	/* truncate into the written page, then grow: the cut bytes are zeros */
	ck_assert_int_eq(st_file_truncate(st, 100005), ST_OK);
	ck_assert_int_eq(st_file_truncate(st, 200000), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_read(st, 100000, buf, 20), 20);
	ck_assert(buf[4] == 7 && buf[5] == 0 && buf[9] == 0);
	ck_assert_int_eq(st_file_truncate(st, 0), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, buf, 20), 0);
	st_close(st);
	free(p);
}
END_TEST

static int count_cb(void *arg, const struct st_version *v)
{
	uint64_t *prev = arg;

	ck_assert(v->seq < *prev);
	*prev = v->seq;
	return 0;
}

/* st_file_punch: holes read as zeros, take no room, keep the size, and
 * stay right through staging, reopening, older versions and compaction. */
START_TEST(punch_holes)
{
	static const struct {
		uint64_t off, len;
	} holes[] = {
	    {100, 50},		       /* inside one page */
	    {4000, 200},	       /* across a page boundary */
	    {3 * 4096, 5 * 4096},      /* whole pages */
	    {10 * 4096 - 7, 3 * 4096}, /* partial, whole, partial */
	    {60 * 4096 + 10, 1 << 30}, /* to the end and past it: cut at the size */
	};
	char *p = tu_path(tu_dir, "h.rev");
	size_t n = 64 * 4096 + 333;
	uint8_t *data = malloc(n), *back = malloc(n);
	struct st_version v1, v2;
	st_store *st, *old;
	uint64_t seed = 7;

	tu_fill(&seed, data, n);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, data, n), ST_OK);
	ck_assert_int_eq(st_commit(st, &v1), ST_OK);
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		uint64_t end = holes[i].off + holes[i].len < n ? holes[i].off + holes[i].len : n;

		ck_assert_int_eq(st_file_punch(st, holes[i].off, holes[i].len), ST_OK);
		memset(data + holes[i].off, 0, (size_t)(end - holes[i].off));
	}
	/* A write staged after a punch wins over it; a punch after a write
	 * zeroes what the write staged. */
	memset(data + 4 * 4096, 0x11, 100);
	ck_assert_int_eq(st_file_write(st, 4 * 4096, data + 4 * 4096, 100), ST_OK);
	memset(data + 30 * 4096, 0x22, 3 * 4096);
	ck_assert_int_eq(st_file_write(st, 30 * 4096, data + 30 * 4096, 3 * 4096), ST_OK);
	ck_assert_int_eq(st_file_punch(st, 31 * 4096, 4096), ST_OK);
	memset(data + 31 * 4096, 0, 4096);
	ck_assert_int_eq(st_file_punch(st, n + 10, 100), ST_OK); /* past the end: nothing */
	ck_assert_int_eq(st_commit(st, &v2), ST_OK);
	ck_assert_uint_eq(v2.size, n);
	ck_assert_uint_lt(v2.bytes, v1.bytes - 9 * 4096); /* 10 whole pages are gone */
	ck_assert_int_eq(st_file_read(st, 0, back, n), (ssize_t)n);
	ck_assert(memcmp(data, back, n) == 0);
	ck_assert_int_eq(st_file_seek(st, 3 * 4096, SEEK_HOLE), 3 * 4096);
	ck_assert_int_eq(st_file_seek(st, 3 * 4096, SEEK_DATA), 4 * 4096);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	/* The version before the holes still has its bytes. */
	ck_assert_int_eq(st_open_version(st, v1.seq, &old), ST_OK);
	ck_assert_int_eq(st_file_read(old, 3 * 4096, back, 4096), 4096);
	ck_assert(back[0] != 0 || back[1] != 0 || back[2] != 0);
	st_close(old);
	ck_assert_int_eq(st_compact(st, NULL, NULL), ST_OK);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_read(st, 0, back, n), (ssize_t)n);
	ck_assert(memcmp(data, back, n) == 0);
	ck_assert_int_eq(st_check(st, ST_CHECK_DATA | ST_CHECK_ALL), ST_OK);
	st_close(st);
	free(data);
	free(back);
	free(p);
}
END_TEST

/* Interim commits (st_set_commit_kind): flagged in st_versions, ignored
 * by the retention rule unless newest or pinned, gone after compaction. */
static int kinds_cb(void *arg, const struct st_version *v)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 64 - n, "%llu%s ", (unsigned long long)v->seq, v->interim ? "i" : "");
	return 0;
}

START_TEST(interim_commits)
{
	static const char kind[] = "SiiSiSi"; /* seq 1..7: S save, i interim */
	const uint64_t pins[] = {3};
	struct st_retention keep = {.min_count = 100}, keep_pin = {.min_count = 100};
	struct st_compact_opts co = {.keep = &keep};
	char *p = tu_path(tu_dir, "k.rev"), list[64] = "";
	st_store *st;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	for (int i = 0; kind[i]; i++) {
		ck_assert_int_eq(st_file_write(st, (uint64_t)i, "k", 1), ST_OK);
		st_set_commit_kind(st, kind[i] == 'i' ? ST_INTERIM : ST_SAVE);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_versions(st, kinds_cb, list), ST_OK);
	ck_assert_str_eq(list, "7i 6 5i 4 3i 2i 1 ");
	/* A pinned interim commit stays; the others go but for the newest. */
	keep_pin.pins = pins;
	keep_pin.npins = 1;
	co.keep = &keep_pin;
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	list[0] = 0;
	ck_assert_int_eq(st_versions(st, kinds_cb, list), ST_OK);
	ck_assert_str_eq(list, "7i 6 4 3i 1 ");
	co.keep = &keep;
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	list[0] = 0;
	ck_assert_int_eq(st_versions(st, kinds_cb, list), ST_OK);
	ck_assert_str_eq(list, "7i 6 4 1 ");
	/* min counts saves (and the newest): min:2 keeps 7i and 6. */
	keep.min_count = 2;
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	list[0] = 0;
	ck_assert_int_eq(st_versions(st, kinds_cb, list), ST_OK);
	ck_assert_str_eq(list, "7i 6 ");
	st_close(st);
	/* The kinds survive a reopen. */
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	list[0] = 0;
	ck_assert_int_eq(st_versions(st, kinds_cb, list), ST_OK);
	ck_assert_str_eq(list, "7i 6 ");
	st_close(st);
	free(p);
}
END_TEST

/* Attributes (st_file_set_meta): each version keeps those staged for
 * its commit or, unchanged, its predecessor's (one record, shared), also
 * through compaction and a reopen; none for commits made before. */
struct meta_seen {
	char list[128];
	uint64_t pos[9];
	st_store *st;
};

static int meta_cb(void *arg, const struct st_version *v)
{
	struct meta_seen *m = arg;
	size_t n = strlen(m->list);
	void *buf;
	size_t len;

	ck_assert_int_eq(st_version_meta(m->st, v, &buf, &len), ST_OK);
	snprintf(m->list + n, sizeof(m->list) - n, "%llu:%.*s ", (unsigned long long)v->seq,
		 buf ? (int)len : 1, buf ? (const char *)buf : "-");
	if (v->seq < 9)
		m->pos[v->seq] = v->meta;
	free(buf);
	return 0;
}

static void meta_list(st_store *st, struct meta_seen *m)
{
	m->list[0] = 0;
	m->st = st;
	ck_assert_int_eq(st_versions(st, meta_cb, m), ST_OK);
}

START_TEST(attributes)
{
	static const char *attrs[] = {"a", "a", "bb", "bb"}; /* seq 2..5 */
	struct st_retention keep = {.min_count = 100};
	struct st_compact_opts co = {.keep = &keep};
	char *p = tu_path(tu_dir, "m.rev");
	struct meta_seen m;
	st_store *st, *v;
	void *buf;
	size_t len;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	ck_assert_int_eq(st_file_write(st, 0, "x", 1), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK); /* seq 1: before any */
	ck_assert_int_eq(st_file_meta(st, &buf, &len), ST_OK);
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(len, 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(st_file_set_meta(st, attrs[i], strlen(attrs[i])), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	/* A failed commit drops staged attributes with the rest. */
	ck_assert_int_eq(st_file_set_meta(st, "zzz", 3), ST_OK);
	st_rollback(st);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK); /* seq 6: 5's */
	ck_assert_int_eq(st_file_set_meta(st, "a", 1), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK); /* seq 7 */
	meta_list(st, &m);
	ck_assert_str_eq(m.list, "7:a 6:bb 5:bb 4:bb 3:a 2:a 1:- ");
	ck_assert_uint_eq(m.pos[1], 0);
	ck_assert_uint_eq(m.pos[3], m.pos[2]); /* unchanged: the same record */
	ck_assert_uint_ne(m.pos[4], m.pos[3]);
	ck_assert_uint_eq(m.pos[6], m.pos[4]);
	ck_assert_uint_ne(m.pos[7], m.pos[2]); /* changed back: a new record */
	ck_assert_int_eq(st_file_meta(st, &buf, &len), ST_OK);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(buf, "a", 1);
	free(buf);
	/* A version's handle has its own. */
	ck_assert_int_eq(st_open_version(st, 4, &v), ST_OK);
	ck_assert_int_eq(st_file_meta(v, &buf, &len), ST_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(buf, "bb", 2);
	free(buf);
	st_close(v);
	ck_assert_int_eq(st_check(st, ST_CHECK_ALL | ST_CHECK_DATA), ST_OK);
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	meta_list(st, &m);
	ck_assert_str_eq(m.list, "7:a 6:bb 5:bb 4:bb 3:a 2:a 1:- ");
	ck_assert_uint_eq(m.pos[3], m.pos[2]);
	ck_assert_uint_eq(m.pos[6], m.pos[4]);
	ck_assert_int_eq(st_check(st, ST_CHECK_ALL | ST_CHECK_DATA), ST_OK);
	/* After the switch, unchanged attributes still add nothing. */
	ck_assert_int_eq(st_file_set_meta(st, "a", 1), ST_OK);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK); /* seq 8 */
	meta_list(st, &m);
	ck_assert_str_eq(m.list, "8:a 7:a 6:bb 5:bb 4:bb 3:a 2:a 1:- ");
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	meta_list(st, &m);
	ck_assert_str_eq(m.list, "8:a 7:a 6:bb 5:bb 4:bb 3:a 2:a 1:- ");
	ck_assert_int_eq(st_check(st, ST_CHECK_ALL), ST_OK);
	st_close(st);
	/* A damaged record is damage, said where: never no attributes. */
	{
		int fd = open(p, O_RDWR);
		uint8_t b;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pread(fd, &b, 1, (off_t)m.pos[4] + 12), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)m.pos[4] + 12), 1);
		close(fd);
	}
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_READONLY, NULL, &st), ST_OK);
	ck_assert_int_eq(st_check(st, ST_CHECK_ALL), ST_ECORRUPT);
	ck_assert_uint_eq(st_last_error()->offset, m.pos[4]);
	ck_assert_int_eq(st_open_version(st, 4, &v), ST_OK);
	ck_assert_int_eq(st_file_meta(v, &buf, &len), ST_ECORRUPT);
	ck_assert_ptr_null(buf);
	st_close(v);
	st_close(st);
	free(p);
}
END_TEST

/* A stale view of a store (what a distributed filesystem's client may
 * serve: an older length, with bytes past its newest header) opened with
 * the newest commit the caller knows: refused, and nothing cut. */
START_TEST(behind_refused_uncut)
{
	char *p = tu_path(tu_dir, "b.rev"), *q = tu_path(tu_dir, "stale.rev");
	struct st_open_opts o = {.min_seq = 3};
	struct st_version v2;
	struct stat sb;
	static char buf[1 << 16];
	st_store *st;
	int in, out;
	ssize_t n;

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_DEFER, NULL, &st), ST_OK);
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(st_file_write(st, (uint64_t)i * 5000, "v", 1), ST_OK);
		ck_assert_int_eq(st_commit(st, i == 2 ? &v2 : NULL), ST_OK);
	}
	st_close(st);
	/* The stale view: the file up to seq 2's header and 100 bytes more. */
	in = open(p, O_RDONLY);
	out = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(in >= 0 && out >= 0);
	n = pread(in, buf, sizeof(buf), 0);
	ck_assert_int_ge(n, (ssize_t)v2.offset + 137 + 100);
	ck_assert_int_eq(write(out, buf, v2.offset + 137 + 100), (ssize_t)v2.offset + 137 + 100);
	close(in);
	close(out);
	ck_assert_int_eq(st_open(q, ST_KIND_FILE, 0, &o, &st), ST_EBEHIND);
	ck_assert_int_eq(stat(q, &sb), 0);
	ck_assert_int_eq(sb.st_size, (off_t)v2.offset + 137 + 100); /* not cut */
	/* Without it the open takes seq 2 and cuts the tail: what min_seq
	 * prevents. The real store opens with it. */
	o.min_seq = 2;
	ck_assert_int_eq(st_open(q, ST_KIND_FILE, 0, &o, &st), ST_OK);
	st_close(st);
	ck_assert_int_eq(stat(q, &sb), 0);
	ck_assert_int_eq(sb.st_size, (off_t)v2.offset + 137);
	o.min_seq = 3;
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, &o, &st), ST_OK);
	st_close(st);
	free(p);
	free(q);
}
END_TEST

START_TEST(versions)
{
	char *p = tu_path(tu_dir, "v.rev");
	st_store *st, *old;
	uint64_t prev = UINT64_MAX;
	char buf[64];
	struct st_open_opts o = {.clock = tu_clock};

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, &o, &st), ST_OK);
	for (int i = 1; i <= 50; i++) {
		int len = snprintf(buf, sizeof(buf), "version %d", i);
		tu_clock_ns += 1000000000ull;
		ck_assert_int_eq(st_file_truncate(st, 0), ST_OK);
		ck_assert_int_eq(st_file_write(st, 0, buf, (size_t)len), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_versions(st, count_cb, &prev), 0);
	ck_assert_uint_eq(prev, 0);
	ck_assert_int_eq(st_open_version(st, 17, &old), ST_OK);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(st_file_read(old, 0, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "version 17");
	ck_assert_int_eq(st_file_write(old, 0, "x", 1), ST_EROFS);
	st_close(old);
	ck_assert_int_eq(st_open_at_time(st, tu_clock_ns - 5000000000ull, &old), ST_OK);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(st_file_read(old, 0, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "version 45");
	st_close(old);
	ck_assert_int_eq(st_open_version(st, 51, &old), ST_ENOTFOUND);
	st_close(st);
	free(p);
}
END_TEST

static int keep_cb(void *arg, const struct st_version *v)
{
	struct st_version *all = arg;

	all[v->seq] = *v;
	return 0;
}

static void read_is(st_store *v, int n)
{
	char buf[64], want[64];

	snprintf(want, sizeof(want), "version %d", n);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(st_file_read(v, 0, buf, sizeof(buf)), (ssize_t)strlen(want));
	ck_assert_str_eq(buf, want);
}

/* st_open_version_at goes straight to a listed version's header, and
 * falls back to the chain when the offset no longer holds it. */
START_TEST(version_at)
{
	char *p = tu_path(tu_dir, "va.rev");
	struct st_version all[41], wrong;
	struct st_retention keep = {.min_count = 100};
	struct st_compact_opts co = {.keep = &keep};
	st_store *st, *old;
	char buf[64];

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	for (int i = 1; i <= 40; i++) {
		int len = snprintf(buf, sizeof(buf), "version %d", i);

		ck_assert_int_eq(st_file_truncate(st, 0), ST_OK);
		ck_assert_int_eq(st_file_write(st, 0, buf, (size_t)len), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_versions(st, keep_cb, all), 0);
	ck_assert_int_eq(st_open_version_at(st, &all[17], &old), ST_OK);
	read_is(old, 17);
	st_close(old);
	/* Another version's header, a data block, past the end: the walk. */
	wrong = all[17];
	wrong.offset = all[3].offset;
	ck_assert_int_eq(st_open_version_at(st, &wrong, &old), ST_OK);
	read_is(old, 17);
	st_close(old);
	wrong.offset = 1;
	ck_assert_int_eq(st_open_version_at(st, &wrong, &old), ST_OK);
	read_is(old, 17);
	st_close(old);
	wrong.offset = all[40].offset + 1000000;
	ck_assert_int_eq(st_open_version_at(st, &wrong, &old), ST_OK);
	read_is(old, 17);
	st_close(old);
	wrong.seq = 99;
	ck_assert_int_eq(st_open_version_at(st, &wrong, &old), ST_ENOTFOUND);
	ck_assert_ptr_null(old);
	/* Offsets from before a compaction. */
	ck_assert_int_eq(st_compact(st, &co, NULL), ST_OK);
	for (int i = 1; i <= 40; i += 13) {
		ck_assert_int_eq(st_open_version_at(st, &all[i], &old), ST_OK);
		read_is(old, i);
		st_close(old);
	}
	st_close(st);
	free(p);
}
END_TEST

static int collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	char *out = arg;

	(void)v;
	(void)vl;
	strncat(out, k, kl);
	strcat(out, ",");
	return 0;
}

START_TEST(kv_basic)
{
	char *p = tu_path(tu_dir, "ns.rev");
	st_store *st;
	void *v;
	size_t vl;
	char out[256] = "";

	ck_assert_int_eq(st_open(p, ST_KIND_KV, ST_CREATE, NULL, &st), ST_OK);
	ck_assert_int_eq(st_kv_put(st, "a/1", 3, "one", 3), ST_OK);
	ck_assert_int_eq(st_kv_put(st, "a/2", 3, "two", 3), ST_OK);
	ck_assert_int_eq(st_kv_put(st, "b/1", 3, "bee", 3), ST_OK);
	ck_assert_int_eq(st_kv_get(st, "a/2", 3, &v, &vl), ST_OK);
	ck_assert(vl == 3 && memcmp(v, "two", 3) == 0);
	free(v);
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	ck_assert_int_eq(st_kv_del(st, "a/1", 3), ST_OK);
	ck_assert_int_eq(st_kv_put(st, "a/3", 3, "three", 5), ST_OK);
	ck_assert_int_eq(st_kv_get(st, "a/1", 3, &v, &vl), ST_ENOTFOUND);
	ck_assert_int_eq(st_kv_range(st, "a/", 2, collect_cb, out), 0);
	ck_assert_str_eq(out, "a/2,a/3,");
	ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_KV, 0, NULL, &st), ST_OK);
	out[0] = 0;
	ck_assert_int_eq(st_kv_range(st, "", 0, collect_cb, out), 0);
	ck_assert_str_eq(out, "a/2,a/3,b/1,");
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &(st_store *){0}), ST_EKIND);
	st_close(st);
	free(p);
}
END_TEST

START_TEST(info_and_errors)
{
	char *p = tu_path(tu_dir, "i.rev");
	st_store *st;
	struct st_info in;
	uint8_t buf[65536] = {1};

	ck_assert_int_eq(st_open(p, ST_KIND_FILE, 0, NULL, &st), ST_ENOTFOUND);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE, NULL, &st), ST_OK);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(st_file_write(st, 0, buf, sizeof(buf)), ST_OK);
		ck_assert_int_eq(st_commit(st, NULL), ST_OK);
	}
	ck_assert_int_eq(st_info(st, &in), ST_OK);
	ck_assert_uint_eq(in.entries, 1);
	ck_assert(in.live_bytes >= sizeof(buf) && in.live_bytes < 2 * sizeof(buf));
	ck_assert(in.fragmentation > 0.8 && in.fragmentation < 1.0);
	st_close(st);
	ck_assert_int_eq(st_open(p, ST_KIND_FILE, ST_CREATE | ST_EXCL, NULL, &st), ST_EEXIST);
	ck_assert_str_eq(st_strerror(ST_ECORRUPT), "store is corrupt");
	free(p);
}
END_TEST

/* Internal to the store; declared here to test them against each other. */
uint32_t st_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t st_crc32c_sw(uint32_t crc, const void *buf, size_t len);
void st_crc32c_x4(const uint8_t *const p[4], size_t len, uint32_t out[4]);

START_TEST(crc32c_implementations)
{
	static uint8_t buf[4][5000];
	uint64_t seed = 12;

	/* The standard check value of CRC-32C. */
	ck_assert_uint_eq(st_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(st_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	tu_fill(&seed, buf, sizeof(buf));
	for (size_t len = 0; len < 5000; len += 1 + len / 3) {
		const uint8_t *p[4] = {buf[0], buf[1], buf[2] + 1, buf[3] + 3};
		uint32_t x4[4];

		st_crc32c_x4(p, len, x4);
		for (int i = 0; i < 4; i++) {
			ck_assert_uint_eq(st_crc32c(0, p[i], len), st_crc32c_sw(0, p[i], len));
			ck_assert_uint_eq(x4[i], st_crc32c_sw(0, p[i], len));
		}
		/* incremental: crc of a whole equals crc continued over parts */
		ck_assert_uint_eq(
		    st_crc32c(st_crc32c(0, buf[0], len / 2), buf[0] + len / 2, len - len / 2),
		    st_crc32c(0, buf[0], len));
	}
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, file_roundtrip);
	tcase_add_test(tc, holes_and_truncate);
	tcase_add_test(tc, punch_holes);
	tcase_add_test(tc, interim_commits);
	tcase_add_test(tc, attributes);
	tcase_add_test(tc, behind_refused_uncut);
	tcase_add_test(tc, versions);
	tcase_add_test(tc, version_at);
	tcase_add_test(tc, kv_basic);
	tcase_add_test(tc, info_and_errors);
	tcase_add_test(tc, crc32c_implementations);
}

int main(void)
{
	return tu_main("basic", 120, add_tests, NULL);
}
