/*
 * mkfs.c - mkfs.revfs: makes a new backing directory. It writes the
 * namespace store with the root directory first and the superblock last, so
 * that a directory holds a revfs only once everything else is in place.
 * Follows mkfs(8): "mkfs -t revfs DIR" runs "mkfs.revfs DIR".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

static const char *prog = "mkfs.revfs";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-L LABEL] [-f] [--keep=RULE] [-q] [-V] DIR\n"
		"Make a new revfs backing directory at DIR (created if missing, else it\n"
		"must be empty).\n\n"
		"  -L, --label=LABEL  a label of up to %u bytes\n"
		"  -f, --force        use a non-empty directory, or overwrite an existing\n"
		"                     revfs (its files and history are deleted)\n"
		"      --keep=RULE    default retention, e.g. %s or latest\n"
		"  -q, --quiet        print nothing on success\n"
		"  -V, --verbose      accepted for mkfs(8); no effect\n"
		"  -h, --help         this help\n"
		"      --version      the version\n",
		prog, ST_LABEL_MAX, ST_KEEP_DEFAULT);
}

/* One line for a bad option, instead of getopt's line and then the usage:
 * the option, and where to look. Returns the usage exit status. */
static int bad_option(int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "%s: option %s needs a value; see %s --help\n", prog,
			argv[optind - 1], prog);
	else if (optopt > 0 && optopt < 256)
		fprintf(stderr, "%s: unknown option -%c; see %s --help\n", prog, optopt, prog);
	else
		fprintf(stderr, "%s: unknown option %s; see %s --help\n", prog, argv[optind - 1],
			prog);
	return 16;
}

/* 1 if dir has entries, 0 if empty, -1 on error (errno set). */
static int dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes what a previous revfs left in dir (its files only). */
static int wipe_revfs(const char *dir)
{
	static const char *files[] = {ST_SUPER_NAME, ST_NS_NAME, ST_NS_NAME ".compact",
				      ST_SUPER_NAME ".tmp"};
	char path[4096];
	size_t i;

	snprintf(path, sizeof(path), "%s/ino", dir);
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		return -1;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/* Writes ns.rev: the root directory, owned by the caller, and the inode counter. */
static int make_namespace(const char *dir)
{
	char path[4096];
	uint8_t key[ST_NS_KEY_MAX], rec[ST_NS_INODE_SIZE], v[8];
	struct st_inode root = {0};
	struct timespec ts;
	st_store *ns;
	size_t klen;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, ST_NS_NAME);
	rc = st_open(path, ST_KIND_KV, ST_CREATE | ST_EXCL, NULL, &ns);
	if (rc)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	root.mode = S_IFDIR | 0755;
	root.uid = getuid();
	root.gid = getgid();
	root.nlink = 2;
	root.parent = ST_ROOT_INO;
	root.atime_ns = root.mtime_ns = root.ctime_ns = root.btime_ns =
	    (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	klen = st_ns_key(ST_NS_INODE, ST_ROOT_INO, NULL, 0, key);
	rc = st_ns_inode_encode(&root, NULL, 0, rec, sizeof(rec));
	if (rc >= 0)
		rc = st_kv_put(ns, key, klen, rec, (size_t)rc);
	if (!rc) {
		klen = st_ns_key(ST_NS_META, 0, "next_ino", 8, key);
		st_ns_u64_encode(ST_ROOT_INO + 1, v);
		rc = st_kv_put(ns, key, klen, v, sizeof(v));
	}
	if (!rc) {
		/* Nothing to reconcile on the first mount. */
		klen = st_ns_key(ST_NS_META, 0, "clean", 5, key);
		rc = st_kv_put(ns, key, klen, "", 0);
	}
	if (!rc)
		rc = st_commit(ns, NULL);
	st_close(ns);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"label", required_argument, NULL, 'L'}, {"force", no_argument, NULL, 'f'},
	    {"keep", required_argument, NULL, 'k'},  {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},     {NULL, 0, NULL, 0}};
	struct st_super sb, old;
	struct st_retention r;
	const char *dir, *label = "", *keep = ST_KEEP_DEFAULT;
	char path[4096], uuid[37], keepbuf[512];
	int force = 0, quiet = 0, is_revfs, c, rc, lockfd = -1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":L:fqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			label = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'k':
			keep = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'V':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("%s %s\n", prog, REVFS_VERSION);
			return 0;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: expected one directory; see %s --help\n", prog, prog);
		return 16;
	}
	dir = argv[optind];
	if (strlen(label) > ST_LABEL_MAX) {
		fprintf(stderr, "%s: label '%s' is longer than %u bytes\n", prog, label,
			ST_LABEL_MAX);
		return 16;
	}
	if (strlen(keep) > ST_KEEP_MAX || st_retention_parse(keep, &r) != ST_OK) {
		fprintf(stderr, "%s: bad --keep rule '%s' (example: %s, or latest)\n", prog, keep,
			ST_KEEP_DEFAULT);
		return 16;
	}

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s%s\n", prog, dir, strerror(errno),
			errno == ENOENT ? "; create its parent first" : "");
		return 8;
	}
	rc = dir_has_entries(dir);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot read %s: %s%s\n", prog, dir, strerror(errno),
			errno == ENOTDIR ? "; give a directory" : "");
		return 8;
	}
	is_revfs = st_super_read(dir, &old) != ST_ENOTFOUND;
	if (is_revfs || rc > 0) {
		if (!force) {
			fprintf(stderr, "%s: %s %s; use -f to %s\n", prog, dir,
				is_revfs ? "already holds a revfs" : "is not empty",
				is_revfs ? "overwrite it (its files and history are lost)"
					 : "make a revfs in it anyway");
			return 8;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, ST_LOCK_NAME);
		lockfd = open(path, O_RDWR | O_CLOEXEC);
		/* Held until mkfs exits, so no mount starts while it works. */
		if (lockfd >= 0 && flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
			fprintf(stderr, "%s: %s is mounted; unmount it first\n", prog, dir);
			return 8;
		}
		if (is_revfs && wipe_revfs(dir) != 0) {
			fprintf(stderr, "%s: cannot remove the old revfs in %s: %s\n", prog, dir,
				strerror(errno));
			return 8;
		}
	}

	snprintf(path, sizeof(path), "%s/ino", dir);
	if (mkdir(path, 0700) != 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
		return 8;
	}
	rc = make_namespace(dir);
	if (rc) {
		fprintf(stderr, "%s: cannot write the namespace in %s: %s\n", prog, dir,
			st_last_error()->msg[0] ? st_last_error()->msg : st_strerror(rc));
		return 8;
	}
	st_super_init(&sb);
	snprintf(sb.label, sizeof(sb.label), "%s", label);
	if (st_retention_format(&r, keepbuf, sizeof(keepbuf)) != ST_OK ||
	    strlen(keepbuf) > ST_KEEP_MAX) {
		fprintf(stderr, "%s: the --keep rule is longer than %u bytes written out (%s)\n",
			prog, ST_KEEP_MAX, keepbuf);
		return 16;
	}
	memcpy(sb.keep, keepbuf, strlen(keepbuf) + 1);
	rc = st_super_write(dir, &sb);
	if (rc) {
		fprintf(stderr, "%s: cannot write the superblock in %s: %s\n", prog, dir,
			st_last_error()->msg);
		return 8;
	}
	if (!quiet) {
		st_super_uuid_str(&sb, uuid);
		printf("revfs made in %s\n  uuid:  %s\n  label: %s\n  keep:  %s\n", dir, uuid,
		       sb.label[0] ? sb.label : "(none)", sb.keep);
	}
	return 0;
}
