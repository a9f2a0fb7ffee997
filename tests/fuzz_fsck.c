/*
 * fuzz_fsck.c - libFuzzer target: fsck.revfs -n over damaged backing
 * directories, run in-process through fsck_run().
 *
 * A small backing directory is built once with the store library (a
 * namespace of several versions, a directory, files with several versions
 * each, a symlink, a hard link, an empty file). Each input is a list of
 * damage operations applied to a fresh copy of it: byte flips, cuts and
 * removals of its files, stray and leftover files, and namespace records
 * rewritten through the store (so the damage also gets past the checksums
 * and reaches pass 3's logic). Then fsck runs with -n (and -f, -v when the
 * first byte says so; or with -y, run twice).
 *
 * Checked: no crash, hang, leak or sanitizer report; with -n, the exit
 * status is a -n one (0, 4, 8 or their sum; never 1: nothing may be
 * fixed), and no file of the directory was written, made or removed; with
 * -y, the second run has nothing left to fix.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck.h"
#include "nsint.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* From the sanitizer runtime: where its reports go. */
void __sanitizer_set_report_fd(void *fd);

#define MAX_FILES 32

/* One file of the template directory, relative to it. */
struct tfile {
	char rel[64];
	uint8_t *data;
	size_t len;
};

static struct tfile tfiles[MAX_FILES];
static size_t ntfiles;
static char tmpl[4096], work[4096];
static int real_stderr = -1, devnull = -1;

/* ---- building the template ------------------------------------------ */

static uint64_t fake_time;

/* A fixed clock: the template is the same on every run, so a crash file
 * reproduces. */
static uint64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return fake_time += 1000000000ull;
}

static const struct st_open_opts topts = {.clock = fixed_clock};

static void die(const char *what)
{
	fprintf(stderr, "fuzz_fsck: setup: %s: %s\n", what, st_last_error()->msg);
	abort();
}

static void put_inode(st_store *ns, uint64_t ino, uint32_t mode, uint32_t nlink, uint64_t size,
		      uint64_t parent, const char *target)
{
	uint8_t key[NSK_MAX], rec[NSV_INODE_SIZE + 256];
	struct ns_inode a = {.mode = mode, .nlink = nlink, .size = size, .parent = parent};
	size_t klen = ns_key(NSK_INODE, ino, NULL, 0, key);
	int len;

	a.uid = (uint32_t)getuid();
	a.gid = (uint32_t)getgid();
	a.atime_ns = a.mtime_ns = a.ctime_ns = a.btime_ns = 1700000000000000000ll;
	len = ns_inode_encode(&a, target, target ? strlen(target) : 0, rec, sizeof(rec));
	if (len < 0 || st_kv_put(ns, key, klen, rec, (size_t)len) != ST_OK)
		die("inode");
}

static void put_dirent(st_store *ns, uint64_t parent, const char *name, uint64_t ino, uint32_t mode)
{
	uint8_t key[NSK_MAX], val[NSV_DIRENT_SIZE];
	size_t klen = ns_key(NSK_DIRENT, parent, name, strlen(name), key);

	ns_dirent_encode(ino, (uint8_t)((mode & S_IFMT) >> 12), val);
	if (st_kv_put(ns, key, klen, val, sizeof(val)) != ST_OK)
		die("dirent");
}

static void put_meta(st_store *ns, const char *name, const void *val, size_t vlen)
{
	uint8_t key[NSK_MAX];
	size_t klen = ns_key(NSK_META, 0, name, strlen(name), key);

	if (st_kv_put(ns, key, klen, val, vlen) != ST_OK)
		die("meta");
}

/* A file store for ino: one commit per {off, len, truncate-to} step. */
struct step {
	uint64_t off;
	size_t len;
	uint64_t trunc; /* UINT64_MAX: none */
};

static uint64_t make_store(const char *dir, uint64_t ino, const struct step *s, size_t n)
{
	char path[4096], sub[4200];
	uint8_t buf[3 * ST_PAGE_SIZE];
	st_store *st;
	uint64_t size;

	if (ns_store_path(dir, ino, path, sizeof(path)) != ST_OK)
		die("store path");
	snprintf(sub, sizeof(sub), "%s/ino/%02x", dir, (unsigned)(ino & 0xff));
	mkdir(sub, 0700);
	if (st_open(path, ST_KIND_FILE, ST_CREATE | ST_EXCL | ST_NOSYNC, &topts, &st) != ST_OK)
		die("store");
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < s[i].len; j++)
			buf[j] = (uint8_t)(ino * 31 + i * 7 + j);
		if (s[i].len && st_file_write(st, s[i].off, buf, s[i].len) != ST_OK)
			die("write");
		if (s[i].trunc != UINT64_MAX && st_file_truncate(st, s[i].trunc) != ST_OK)
			die("truncate");
		if (st_file_set_mtime(st, 1700000000000000000ull + i) != ST_OK ||
		    st_commit(st, NULL) != ST_OK)
			die("commit");
	}
	size = st_file_size(st);
	st_close(st);
	return size;
}

static void build_template(const char *dir)
{
	static const struct step a[] = {{0, 100, UINT64_MAX}, {0, 5000, UINT64_MAX}, {0, 0, 3000}};
	static const struct step b[] = {{0, 3 * ST_PAGE_SIZE, UINT64_MAX},
					{ST_PAGE_SIZE, 10, UINT64_MAX},
					{2 * ST_PAGE_SIZE, ST_PAGE_SIZE, UINT64_MAX},
					{5 * ST_PAGE_SIZE, 700, UINT64_MAX}};
	static const struct step h[] = {{0, 4000, UINT64_MAX}, {100, 200, UINT64_MAX}};
	static const struct step e[] = {{0, 0, UINT64_MAX}};
	char path[4096];
	struct ns_super sb;
	st_store *ns;
	uint64_t sa, sbz, sh, se;
	uint8_t v[8];

	ns_super_init(&sb);
	/* The stores below have no identities, and there is no fence: a
	 * vault made before both. */
	sb.incompat = 0;
	sb.ro_compat = 0;
	if (ns_super_write(dir, &sb) != ST_OK)
		die("superblock");
	snprintf(path, sizeof(path), "%s/ino", dir);
	if (mkdir(path, 0700) != 0)
		die("ino/");
	sa = make_store(dir, 3, a, 3);
	sbz = make_store(dir, 4, b, 4);
	sh = make_store(dir, 6, h, 2);
	se = make_store(dir, 7, e, 1);

	snprintf(path, sizeof(path), "%s/%s", dir, NS_STORE_NAME);
	if (st_open(path, ST_KIND_KV, ST_CREATE | ST_EXCL | ST_NOSYNC, &topts, &ns) != ST_OK)
		die("namespace");
	/* Version 1: mkfs's. */
	put_inode(ns, 1, S_IFDIR | 0755, 2, 0, 1, NULL);
	st_put64(v, 2);
	put_meta(ns, "next_ino", v, 8);
	put_meta(ns, "clean", "", 0);
	if (st_commit(ns, NULL) != ST_OK)
		die("ns commit");
	/* Version 2: a directory and a file. */
	put_inode(ns, 2, S_IFDIR | 0755, 2, 0, 1, NULL);
	put_inode(ns, 1, S_IFDIR | 0755, 3, 0, 1, NULL);
	put_dirent(ns, 1, "d", 2, S_IFDIR);
	put_inode(ns, 3, S_IFREG | 0644, 1, sa, 0, NULL);
	put_dirent(ns, 1, "a", 3, S_IFREG);
	st_put64(v, 4);
	put_meta(ns, "next_ino", v, 8);
	if (st_commit(ns, NULL) != ST_OK)
		die("ns commit");
	/* Version 3: the rest, with a symlink, a hard link, an xattr. */
	put_inode(ns, 4, S_IFREG | 0644, 1, sbz, 0, NULL);
	put_dirent(ns, 2, "b", 4, S_IFREG);
	put_inode(ns, 5, S_IFLNK | 0777, 1, 1, 0, "a");
	put_dirent(ns, 1, "s", 5, S_IFLNK);
	put_inode(ns, 6, S_IFREG | 0600, 2, sh, 0, NULL);
	put_dirent(ns, 1, "h", 6, S_IFREG);
	put_dirent(ns, 2, "h2", 6, S_IFREG);
	put_inode(ns, 7, S_IFREG | 0600, 1, se, 0, NULL);
	put_dirent(ns, 2, "empty", 7, S_IFREG);
	{
		uint8_t key[NSK_MAX];
		size_t klen = ns_key(NSK_XATTR, 3, "user.x", 6, key);

		if (st_kv_put(ns, key, klen, "val", 3) != ST_OK)
			die("xattr");
	}
	st_put64(v, 8);
	put_meta(ns, "next_ino", v, 8);
	if (st_commit(ns, NULL) != ST_OK)
		die("ns commit");
	st_close(ns);
}

static int load_cb(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	struct tfile *t;
	int fd;

	(void)ftw;
	if (type != FTW_F)
		return 0;
	if (ntfiles == MAX_FILES)
		abort();
	t = &tfiles[ntfiles++];
	snprintf(t->rel, sizeof(t->rel), "%s", fpath + strlen(tmpl) + 1);
	t->len = (size_t)sb->st_size;
	t->data = malloc(t->len ? t->len : 1);
	fd = open(fpath, O_RDONLY);
	if (!t->data || fd < 0 || read(fd, t->data, t->len) != (ssize_t)t->len)
		abort();
	close(fd);
	return 0;
}

static int rm_cb(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	if (ftw->level > 0)
		remove(fpath);
	return 0;
}

static int cmp_tfile(const void *a, const void *b)
{
	return strcmp(((const struct tfile *)a)->rel, ((const struct tfile *)b)->rel);
}

static void cleanup(void)
{
	nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(tmpl);
	nftw(work, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(work);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/fuzz_fsck_tmpl.XXXXXX", tmp);
	snprintf(work, sizeof(work), "%s/fuzz_fsck_work.XXXXXX", tmp);
	if (!mkdtemp(tmpl) || !mkdtemp(work))
		abort();
	atexit(cleanup);
	build_template(tmpl);
	nftw(tmpl, load_cb, 16, FTW_PHYS);
	/* In name order, not readdir's: an input names the same file on any
	 * machine, so the seeds mean what they say. */
	qsort(tfiles, ntfiles, sizeof(tfiles[0]), cmp_tfile);
	if (getenv("FUZZ_FSCK_LIST"))
		for (size_t i = 0; i < ntfiles; i++)
			fprintf(stderr, "%zu %s %zu\n", i, tfiles[i].rel, tfiles[i].len);
	/* fsck's report goes nowhere; a sanitizer's, and ours, to stderr. */
	real_stderr = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	if (real_stderr < 0 || devnull < 0)
		abort();
	__sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
	/* The template itself must check out clean, or every finding is noise. */
	{
		char *argv[] = {"fsck.revfs", "-n", "-f", tmpl, NULL};
		int rc = fsck_run(4, argv);

		if (rc != 0) {
			fprintf(stderr, "fuzz_fsck: the undamaged template gives %d\n", rc);
			abort();
		}
	}
	return 0;
}

/* ---- one input ------------------------------------------------------- */

/* A fresh copy of the template in work/. */
static void reset_work(void)
{
	char path[4200];

	nftw(work, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < ntfiles; i++) {
		char *slash;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", work, tfiles[i].rel);
		for (slash = strchr(path + strlen(work) + 1, '/'); slash;
		     slash = strchr(slash + 1, '/')) {
			*slash = 0;
			mkdir(path, 0700);
			*slash = '/';
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, tfiles[i].data, tfiles[i].len) != (ssize_t)tfiles[i].len)
			abort();
		close(fd);
	}
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t take32(struct in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | take(in);
	return v;
}

/* Operation kinds: the top three bits of an op's first byte. */
enum { OP_FLIP = 0, OP_FLIP2, OP_FLIP3, OP_CUT, OP_REMOVE, OP_EXTRA, OP_KV_RAW, OP_KV_FIELD };

/* Rewrites one field of an inode record, or one entry, through the store:
 * damage that checks out as far as the store is concerned. */
static int kv_field(st_store *ns, uint8_t ino, uint8_t field, uint32_t v)
{
	uint8_t key[NSK_MAX], rec[NSV_INODE_SIZE + 256];
	struct ns_inode a = {0};
	const void *t = NULL;
	size_t klen = ns_key(NSK_INODE, ino, NULL, 0, key), vlen, tlen = 0;
	char name[8];
	void *val;
	int len;

	switch (field % 7) {
	case 4:
		return st_kv_del(ns, key, klen);
	case 5:
		snprintf(name, sizeof(name), "n%u", v & 7);
		klen = ns_key(NSK_DIRENT, ino, name, strlen(name), key);
		ns_dirent_encode((v >> 8) & 15, (uint8_t)(v >> 16), rec);
		return st_kv_put(ns, key, klen, rec, NSV_DIRENT_SIZE);
	case 6:
		snprintf(name, sizeof(name), "%s", (const char *[]){"a", "d", "s", "h"}[v & 3]);
		klen = ns_key(NSK_DIRENT, v & 4 ? 2 : 1, name, strlen(name), key);
		return st_kv_del(ns, key, klen);
	}
	if (st_kv_get(ns, key, klen, &val, &vlen) != ST_OK)
		return 0;
	if (ns_inode_decode(val, vlen, &a, &t, &tlen) != ST_OK) {
		free(val);
		return 0;
	}
	switch (field % 7) {
	case 0:
		a.mode = v;
		break;
	case 1:
		a.nlink = v;
		break;
	case 2:
		a.size = v;
		break;
	case 3:
		a.parent = v & 0xff;
		break;
	}
	len = ns_inode_encode(&a, t, tlen, rec, sizeof(rec));
	free(val);
	return len < 0 ? 0 : st_kv_put(ns, key, klen, rec, (size_t)len);
}

/* A raw key's length: mostly short, sometimes past what any valid key
 * may be (up to ST_MAX_KEY). */
static size_t raw_klen(uint8_t b)
{
	return b & 0x80 ? 9 + (size_t)(b & 0x7f) * 8 : 9 + (b & 15);
}

/* Phase 1: the namespace operations, committed as one new version. */
static void apply_kv(struct in in)
{
	char path[4200];
	st_store *ns = NULL;
	uint8_t key[ST_MAX_KEY + 16], val[256];

	while (in.n) {
		uint8_t b = take(&in), kind = b >> 5;

		if (kind < OP_KV_RAW) {
			take32(&in);
			continue;
		}
		if (!ns) {
			snprintf(path, sizeof(path), "%s/%s", work, NS_STORE_NAME);
			if (st_open(path, ST_KIND_KV, ST_NOSYNC, &topts, &ns) != ST_OK)
				return;
		}
		if (kind == OP_KV_RAW) {
			/* A key of one of the namespace's types, any tail. */
			size_t klen = raw_klen(take(&in)), vlen = take(&in);

			key[0] = "IDXOMP"[(b & 31) % 6];
			for (size_t i = 1; i < klen; i++)
				key[i] = take(&in);
			for (size_t i = 0; i < vlen && i < sizeof(val); i++)
				val[i] = take(&in);
			st_kv_put(ns, key, klen, val, vlen);
		} else {
			uint8_t ino = take(&in);
			uint32_t v = take32(&in);

			kv_field(ns, ino, b & 31, v);
		}
	}
	if (ns) {
		st_commit(ns, NULL);
		st_close(ns);
	}
}

/* Phase 2: damage to the files' bytes. */
static void apply_files(struct in in)
{
	char path[4200], other[4300];
	struct stat sb;

	while (in.n) {
		uint8_t b = take(&in), kind = b >> 5;
		const struct tfile *t = &tfiles[(b & 31) % ntfiles];
		uint32_t v;
		int fd;

		if (kind == OP_KV_RAW) {
			size_t klen = raw_klen(take(&in)), vlen = take(&in);

			for (size_t i = 1; i < klen + vlen; i++)
				take(&in);
			continue;
		}
		if (kind == OP_KV_FIELD) {
			take(&in);
			take32(&in);
			continue;
		}
		v = take32(&in);
		snprintf(path, sizeof(path), "%s/%s", work, t->rel);
		if (stat(path, &sb) != 0)
			continue;
		switch (kind) {
		case OP_FLIP:
		case OP_FLIP2:
		case OP_FLIP3: {
			uint8_t c;

			if (!sb.st_size)
				break;
			fd = open(path, O_RDWR);
			if (fd < 0)
				break;
			if (pread(fd, &c, 1, (off_t)((v >> 8) % (uint64_t)sb.st_size)) == 1) {
				c ^= (uint8_t)(v & 0xff) ? (uint8_t)(v & 0xff) : 0x80;
				if (pwrite(fd, &c, 1, (off_t)((v >> 8) % (uint64_t)sb.st_size)) !=
				    1)
					abort();
			}
			close(fd);
			break;
		}
		case OP_CUT:
			if (truncate(path, (off_t)(v % ((uint64_t)sb.st_size + 1))) != 0)
				abort();
			break;
		case OP_REMOVE:
			unlink(path);
			break;
		case OP_EXTRA:
			/* A leftover of a compaction or rewind, a temp file, a stray. */
			snprintf(other, sizeof(other), "%s%s", path,
				 (const char *[]){".compact", ".fsck", ".tmp", "~"}[v & 3]);
			if (link(path, other) != 0 && errno != EEXIST)
				abort();
			break;
		}
	}
}

/* What -n must leave as it was: every file's name, size and mtime. */
struct snap {
	char sum[8192];
	size_t len;
};

static struct snap *cur_snap;

static int snap_cb(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	struct snap *s = cur_snap;
	int n;

	(void)type;
	(void)ftw;
	n = snprintf(s->sum + s->len, sizeof(s->sum) - s->len, "%s %lld %lld.%ld %o\n", fpath,
		     (long long)sb->st_size, (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec,
		     sb->st_mode);
	if (n > 0 && (size_t)n < sizeof(s->sum) - s->len)
		s->len += (size_t)n;
	return 0;
}

static void snapshot(struct snap *s)
{
	s->len = 0;
	s->sum[0] = 0;
	cur_snap = s;
	nftw(work, snap_cb, 16, FTW_PHYS);
}

static void fail(const char *what, int rc)
{
	dprintf(real_stderr, "fuzz_fsck: %s (exit status %d)\n", what, rc);
	abort();
}

/* Runs fsck_run() with its report sent nowhere. */
static int run_fsck(int argc, char **argv)
{
	int rc, out, err;

	fflush(stdout);
	fflush(stderr);
	out = dup(STDOUT_FILENO);
	err = dup(STDERR_FILENO);
	dup2(devnull, STDOUT_FILENO);
	dup2(devnull, STDERR_FILENO);
	fsck_interrupted = 0;
	rc = fsck_run(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snap before, after;
	struct in in = {data, size};
	char *argv[6];
	int argc = 0, rc, rc2;
	uint8_t flags = take(&in);

	reset_work();
	apply_kv(in);
	apply_files(in);
	argv[argc++] = "fsck.revfs";
	argv[argc++] = flags & 4 ? "-y" : "-n";
	if (flags & 1)
		argv[argc++] = "-f";
	if (flags & 2)
		argv[argc++] = "-v";
	argv[argc++] = work;
	argv[argc] = NULL;
	snapshot(&before);
	rc = run_fsck(argc, argv);
	if (rc < 0 || rc > 32)
		fail("exit status out of 0..32", rc);
	if (!(flags & 4)) {
		if (rc & ~(FSCK_UNCORRECTED | FSCK_ERROR))
			fail("-n gave an exit status other than 0, 4, 8, 12", rc);
		snapshot(&after);
		if (before.len != after.len || memcmp(before.sum, after.sum, before.len))
			fail("-n changed the backing directory", rc);
		return 0;
	}
	/* -y: a second run finds nothing more to fix (e2fsprogs' f_* tests'
	 * rule), and no new operational error. */
	rc2 = run_fsck(argc, argv);
	if ((rc2 & FSCK_NONDESTRUCT) || ((rc2 & FSCK_ERROR) && !(rc & FSCK_ERROR)) || rc2 > 32)
		fail("a second -y run still fixed something or failed", rc2);
	return 0;
}
