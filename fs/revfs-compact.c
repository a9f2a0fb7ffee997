/*
 * revfs-compact.c - revfs-compact: compacts stores now instead of waiting
 * for the background compactor.
 *
 * Inside a mount it asks the running daemon, one REVFS_IOC_COMPACT ioctl
 * per regular file (fs/ctl.h): only the daemon may touch a mounted store,
 * and the kernel hands it our credentials, so it can refuse files we may
 * not write. On an unmounted backing directory it compacts every store
 * itself through the store library, holding the directory's lock so that
 * no daemon mounts it meanwhile. Like mkfs.revfs it is a thin client of
 * store/store.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ns.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

#define EXIT_FAILED 1 /* some file could not be compacted */
#define EXIT_USAGE  2

/* statfs(2) f_type of every FUSE filesystem: a hint when mountinfo is unreadable. */
#define FUSE_MAGIC 0x65735546

/* How long a file whose compaction is already running is retried. */
#define BUSY_WAIT_MS 30000

static const char *prog = "revfs-compact";

struct opts {
	bool dry_run, quiet, verbose, pause, resume, purge, purge_deleted;
	const char *keep;	  /* --keep, or NULL */
	struct ns_secret_src key; /* an encrypted backing directory's passphrase or key file */
};

struct totals {
	uint64_t files, failed, before, after;
};

/* One file inside a mount, to compact through its daemon. */
struct target {
	char *path;
	dev_t dev;
};

/* The files collected from the PATH arguments. */
struct targets {
	struct target *v;
	size_t n, cap;
};

/* Progress on a terminal: one line on stderr, redrawn at most ten times a second. */
struct progress {
	bool on;
	bool shown;
	uint64_t last; /* st_monotonic_ns() of the last line shown */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [--dry-run] [--keep=RULE] [-q] [-v] PATH...\n"
		"       %s --purge [-q] [-v] PATH...\n"
		"       %s --purge-deleted PATH\n"
		"       %s --pause | --resume PATH\n"
		"Compact revfs stores now. A PATH inside a mount (a file, or a directory:\n"
		"every regular file under it) is compacted by the running daemon; a PATH\n"
		"that is an unmounted backing directory has every store compacted here.\n\n"
		"  -n, --dry-run    say what would be reclaimed; change nothing\n"
		"      --passphrase-fd=FD, --key-file=FILE  an encrypted backing directory's\n"
		"                   passphrase or key file (default: asked on the terminal)\n"
		"      --keep=RULE  versions to keep (backing directories only), e.g.\n"
		"                   %s or latest; default: the superblock's\n"
		"      --purge      remove the past versions of each file and its lineage\n"
		"                   (in a mount): root all, its owner hers; gone for good\n"
		"      --purge-deleted  remove the versions of every deleted file of\n"
		"                   the mount that holds PATH (root only)\n"
		"      --pause      pause the mount's background compactor\n"
		"      --resume     resume it\n"
		"  -q, --quiet      print only errors\n"
		"  -v, --verbose    a line per file\n"
		"  -h, --help       this help\n"
		"  -V, --version    the version\n"
		"Exit status: 0 success, 1 some file could not be compacted, 2 usage error.\n",
		prog, prog, prog, prog, NS_KEEP_DEFAULT);
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
	return EXIT_USAGE;
}

/* "12.3 MiB": for people; totals also give exact bytes for scripts. */
static const char *human(uint64_t n, char *buf, size_t len)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static uint64_t reclaimed(uint64_t before, uint64_t after)
{
	return before > after ? before - after : 0;
}

static void progress_clear(struct progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", stderr);
		p->shown = false;
	}
}

static void progress_show(struct progress *p, const char *what, size_t done, size_t total)
{
	uint64_t now;

	if (!p->on)
		return;
	now = st_monotonic_ns();
	if (p->shown && done < total && now - p->last < 100000000u)
		return;
	p->last = now;
	fprintf(stderr, "\rcompacting %zu/%zu %s", done, total, what);
	p->shown = true;
}

/* ---- which filesystem a path is on ------------------------------------- */

/* The best mount of a device so far, for mount_of(). */
struct mount_pick {
	dev_t dev;
	const char *real;
	char *mnt, *fstype;
	size_t mlen, flen, best;
	bool found;
};

static int pick_cb(void *arg, const struct ns_mount *m)
{
	struct mount_pick *p = arg;
	size_t l = strlen(m->point);
	bool prefix;

	if (makedev(m->major, m->minor) != p->dev)
		return 0;
	prefix = strncmp(p->real, m->point, l) == 0 &&
		 (p->real[l] == '/' || p->real[l] == 0 || strcmp(m->point, "/") == 0);
	if (p->found && (!prefix || l <= p->best))
		return 0;
	snprintf(p->mnt, p->mlen, "%s", m->point);
	snprintf(p->fstype, p->flen, "%s", m->fstype);
	p->best = prefix ? l : 0;
	p->found = true;
	return 0;
}

/*
 * Finds the mount of dev in /proc/self/mountinfo: its mount point and
 * filesystem type (e.g. "fuse.revfs"). Among bind mounts of the same device
 * the longest mount point that is a prefix of real wins. Returns 0, or -1
 * if mountinfo cannot be read or has no such device.
 */
static int mount_of(dev_t dev, const char *real, char *mnt, size_t mlen, char *fstype, size_t flen)
{
	struct mount_pick p = {dev, real, mnt, fstype, mlen, flen, 0, false};

	return ns_mounts(pick_cb, &p) == 0 && p.found ? 0 : -1;
}

/* Whether real (a canonical path) is mnt/.revfs or under it. */
static bool in_revfs_tree(const char *real, const char *mnt)
{
	size_t l = strcmp(mnt, "/") == 0 ? 0 : strlen(mnt);

	return strncmp(real, mnt, l) == 0 && strncmp(real + l, "/.revfs", 7) == 0 &&
	       (real[l + 7] == 0 || real[l + 7] == '/');
}

/*
 * Whether path is inside a revfs mount, by mountinfo's filesystem type, or
 * (when mountinfo cannot be read) by statfs's FUSE magic, in which case the
 * ioctl decides. Says why not on stderr. Fills mnt with the mount point.
 */
static bool on_revfs(const char *path, const char *real, const struct stat *st, char *mnt,
		     size_t mlen)
{
	char fstype[256];
	struct statfs sf;

	if (mount_of(st->st_dev, real, mnt, mlen, fstype, sizeof(fstype)) == 0) {
		if (strcmp(fstype, "fuse.revfs") == 0)
			return true;
		fprintf(stderr,
			"%s: %s is not in a revfs mount (/proc/self/mountinfo: %s is %s); give a "
			"path inside a mounted revfs, or an unmounted backing directory\n",
			prog, path, mnt, fstype);
		return false;
	}
	snprintf(mnt, mlen, "%s", real);
	if (statfs(real, &sf) == 0 && sf.f_type == FUSE_MAGIC)
		return true;
	fprintf(stderr,
		"%s: %s is not in a revfs mount (statfs: not a FUSE filesystem); give a path "
		"inside a mounted revfs, or an unmounted backing directory\n",
		prog, path);
	return false;
}

/* ---- inside a mount: ask the daemon ------------------------------------ */

static void targets_add(struct targets *t, const char *path, dev_t dev)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
		if (!t->v) {
			perror(prog);
			exit(EXIT_FAILED);
		}
	}
	t->v[t->n].path = strdup(path);
	if (!t->v[t->n].path) {
		perror(prog);
		exit(EXIT_FAILED);
	}
	t->v[t->n++].dev = dev;
}

/* nftw has no argument for its callback: the walk in progress. */
static struct {
	struct targets *t;
	const char *skip; /* the mount's .revfs, never walked */
	uint64_t failed;
} walk;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	switch (type) {
	case FTW_F:
		if (S_ISREG(st->st_mode))
			targets_add(walk.t, path, st->st_dev);
		break;
	case FTW_D:
		if (strcmp(path, walk.skip) == 0)
			return FTW_SKIP_SUBTREE;
		break;
	case FTW_DNR:
	case FTW_NS:
		fprintf(stderr, "%s: cannot read %s: %s; its files are not compacted\n", prog, path,
			strerror(errno));
		walk.failed++;
		break;
	}
	return FTW_CONTINUE;
}

/*
 * Adds the regular files of path (a file, or a directory walked without
 * crossing into other filesystems) to t. Returns false after saying why
 * on stderr.
 */
static bool collect(const char *path, struct targets *t, uint64_t *failed)
{
	char real[PATH_MAX], mnt[PATH_MAX], skip[PATH_MAX + 8];
	struct stat st;

	if (!realpath(path, real) || stat(real, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return false;
	}
	if (!on_revfs(path, real, &st, mnt, sizeof(mnt)))
		return false;
	if (in_revfs_tree(real, mnt)) {
		fprintf(stderr,
			"%s: %s is in the read-only version tree %s/.revfs; give the file "
			"itself\n",
			prog, path, strcmp(mnt, "/") ? mnt : "");
		return false;
	}
	if (S_ISREG(st.st_mode)) {
		targets_add(t, real, st.st_dev);
		return true;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s is neither a regular file nor a directory\n", prog, path);
		return false;
	}
	snprintf(skip, sizeof(skip), "%s/.revfs", strcmp(mnt, "/") ? mnt : "");
	walk.t = t;
	walk.skip = skip;
	walk.failed = 0;
	if (nftw(real, walk_one, 32, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL) != 0) {
		fprintf(stderr, "%s: cannot walk %s: %s\n", prog, path, strerror(errno));
		return false;
	}
	*failed += walk.failed;
	return true;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The one line that says what to do about a failed REVFS_IOC_COMPACT. */
static void compact_error(const char *path, int err)
{
	const char *what;

	switch (err) {
	case EACCES:
		what = "permission denied: you may compact only files you can write";
		break;
	case EPERM:
		what = "permission denied: only the file's owner or root may purge it";
		break;
	case EBUSY:
		what = "its compaction has been running for too long; try again later";
		break;
	case ENOSPC:
		what = "not enough space on the backing disk for the copy; free some and "
		       "run again";
		break;
	case EIO:
		what = "I/O error in the daemon (see its log); unmount and run fsck.revfs";
		break;
	default:
		what = strerror(err);
		break;
	}
	fprintf(stderr, "%s: %s: %s\n", prog, path, what);
}

/*
 * Compacts one file through the daemon. Returns 0, ENOENT if it went away
 * meanwhile (not a failure), ENOTTY if the daemon does not answer control
 * ioctls, or another errno (already reported).
 */
/* Adds one store's figures to the totals (a file's, or with file false
 * the namespace's, which the count of files leaves out); whether to say
 * them too (-v), the progress line cleared for it. */
static bool counted(struct totals *tot, bool file, uint64_t before, uint64_t after,
		    const struct opts *o, struct progress *p)
{
	tot->files += file;
	tot->before += before;
	tot->after += after;
	if (!o->verbose)
		return false;
	progress_clear(p);
	return true;
}

static int compact_file(const struct target *tg, const struct opts *o, struct totals *tot,
			struct progress *p)
{
	struct revfs_compact_arg a;
	char b1[32], b2[32], b3[32];
	struct stat st;
	long waited = 0;
	int fd, rc = 0;

	fd = open(tg->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		if (rc == ENOENT)
			return rc;
		progress_clear(p);
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, tg->path, strerror(rc));
		return rc;
	}
	/* Replaced by something else since the walk: not ours to compact. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != tg->dev) {
		close(fd);
		return ENOENT;
	}
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.flags =
		    (o->dry_run ? REVFS_COMPACT_DRY_RUN : 0) | (o->purge ? REVFS_COMPACT_PURGE : 0);
		if (ioctl(fd, REVFS_IOC_COMPACT, &a) == 0)
			break;
		rc = errno;
		if (rc == EINTR)
			continue;
		/* The background compactor has it: wait for it, then compact again. */
		if (rc == EBUSY && waited < BUSY_WAIT_MS) {
			sleep_ms(100);
			waited += 100;
			continue;
		}
		break;
	}
	close(fd);
	if (rc == ENOTTY || rc == EINVAL || rc == ENOTSUP || rc == ENOSYS)
		return ENOTTY;
	if (rc) {
		if (rc == ENOENT)
			return rc;
		progress_clear(p);
		compact_error(tg->path, rc);
		return rc;
	}
	if (!counted(tot, true, a.bytes_before, a.bytes_after, o, p))
		return 0;
	if (o->dry_run)
		printf("%s: %s, about %s to reclaim (versions %llu -> %llu)\n", tg->path,
		       human(a.bytes_before, b1, sizeof(b1)),
		       human(reclaimed(a.bytes_before, a.bytes_after), b2, sizeof(b2)),
		       (unsigned long long)a.versions_before, (unsigned long long)a.versions_kept);
	else
		printf("%s: %s -> %s, %s reclaimed (versions %llu -> %llu)\n", tg->path,
		       human(a.bytes_before, b1, sizeof(b1)), human(a.bytes_after, b2, sizeof(b2)),
		       human(reclaimed(a.bytes_before, a.bytes_after), b3, sizeof(b3)),
		       (unsigned long long)a.versions_before, (unsigned long long)a.versions_kept);
	fflush(stdout);
	return 0;
}

/*
 * The namespace of the mount whose root is path: root asks the daemon to
 * compact it (or measure it) under the mount's rule. Others skip it. 0 or
 * an errno (said).
 */
static int compact_namespace(const char *path, const struct opts *o, struct totals *tot,
			     struct progress *p)
{
	struct revfs_compact_arg a;
	char b1[32], b2[32], b3[32];
	int fd, rc = 0;

	if (geteuid() != 0 || o->purge)
		return 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* said by the walk */
	memset(&a, 0, sizeof(a));
	a.flags = REVFS_COMPACT_NAMESPACE | (o->dry_run ? REVFS_COMPACT_DRY_RUN : 0);
	while (ioctl(fd, REVFS_IOC_COMPACT, &a) != 0 && (rc = errno) == EINTR)
		rc = 0;
	close(fd);
	if (rc == ENOTTY || rc == EINVAL)
		return 0; /* a daemon that compacts no namespace on request */
	if (rc) {
		progress_clear(p);
		fprintf(stderr, "%s: cannot %s the namespace of %s: %s\n", prog,
			o->dry_run ? "measure" : "compact", path, strerror(rc));
		return rc;
	}
	if (!counted(tot, false, a.bytes_before, a.bytes_after, o, p))
		return 0;
	printf("%s (the namespace): %s -> %s, %s %s (commits %llu -> %llu)\n", path,
	       human(a.bytes_before, b1, sizeof(b1)), human(a.bytes_after, b2, sizeof(b2)),
	       human(reclaimed(a.bytes_before, a.bytes_after), b3, sizeof(b3)),
	       o->dry_run ? "to reclaim" : "reclaimed", (unsigned long long)a.versions_before,
	       (unsigned long long)a.versions_kept);
	fflush(stdout);
	return 0;
}

static void compact_targets(struct targets *t, const struct opts *o, struct totals *tot,
			    struct progress *p)
{
	dev_t bad[16];
	size_t nbad = 0;

	for (size_t i = 0; i < t->n; i++) {
		bool skip = false;
		int rc;

		for (size_t j = 0; j < nbad; j++)
			skip |= bad[j] == t->v[i].dev;
		if (skip) {
			tot->failed++;
			continue;
		}
		progress_show(p, "files", i, t->n);
		rc = compact_file(&t->v[i], o, tot, p);
		if (rc == ENOTTY) {
			/* One message per mount, not one per file. */
			progress_clear(p);
			fprintf(stderr,
				"%s: %s: the ioctl is unknown there (ENOTTY or EINVAL), so it is "
				"not a revfs mount or its daemon predates revfs-compact; remount "
				"with a newer revfs\n",
				prog, t->v[i].path);
			if (nbad < sizeof(bad) / sizeof(bad[0]))
				bad[nbad++] = t->v[i].dev;
		}
		if (rc && rc != ENOENT)
			tot->failed++;
	}
	progress_show(p, "files", t->n, t->n);
	progress_clear(p);
}

/* --pause and --resume: one ioctl on any file or directory of the mount. */
/* Opens path, which must be in a revfs mount (its mount point into mnt),
 * for a control ioctl. The descriptor, or -1 with the reason said. */
static int open_in_mount(const char *path, char mnt[PATH_MAX])
{
	char real[PATH_MAX];
	struct stat st;
	int fd;

	if (!realpath(path, real) || stat(real, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	if (!on_revfs(path, real, &st, mnt, PATH_MAX))
		return -1;
	fd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
	return fd;
}

/* --purge-deleted: the daemon removes the graveyard of the mount. */
static int purge_deleted(const char *path, const struct opts *o)
{
	struct revfs_purge_arg a = {0};
	char mnt[PATH_MAX], b1[32];
	int fd = open_in_mount(path, mnt), rc = 0;

	if (fd < 0)
		return EXIT_FAILED;
	if (ioctl(fd, REVFS_IOC_PURGE_DELETED, &a) != 0)
		rc = errno;
	close(fd);
	if (rc == EPERM || rc == EACCES) {
		fprintf(stderr, "%s: %s: only root may purge the history of deleted files\n", prog,
			path);
		return EXIT_FAILED;
	}
	if (rc) {
		fprintf(stderr, "%s: %s: cannot purge the history of deleted files: %s\n", prog,
			path, strerror(rc));
		return EXIT_FAILED;
	}
	if (!o->quiet)
		printf("purged the history of %llu deleted file%s in %s: %s given back\n",
		       (unsigned long long)a.files, a.files == 1 ? "" : "s", mnt,
		       human(a.bytes, b1, sizeof(b1)));
	return 0;
}

static int pause_resume(const char *path, bool pause, const struct opts *o)
{
	char mnt[PATH_MAX];
	int fd = open_in_mount(path, mnt), rc = 0;

	if (fd < 0)
		return EXIT_FAILED;
	if (ioctl(fd, pause ? REVFS_IOC_PAUSE : REVFS_IOC_RESUME) != 0)
		rc = errno;
	close(fd);
	if (rc == EPERM || rc == EACCES) {
		fprintf(stderr,
			"%s: %s: only root or the owner of the mount's root directory may %s "
			"the compactor\n",
			prog, path, pause ? "pause" : "resume");
		return EXIT_FAILED;
	}
	if (rc == ENOTTY || rc == EINVAL || rc == ENOTSUP || rc == ENOSYS) {
		fprintf(stderr,
			"%s: %s: the ioctl is unknown there (%s), so it is not a revfs mount or "
			"its daemon predates revfs-compact\n",
			prog, path, strerror(rc));
		return EXIT_FAILED;
	}
	if (rc) {
		fprintf(stderr, "%s: %s: cannot %s the compactor: %s\n", prog, path,
			pause ? "pause" : "resume", strerror(rc));
		return EXIT_FAILED;
	}
	if (!o->quiet)
		printf("the compactor of %s is %s\n", mnt, pause ? "paused" : "running again");
	return 0;
}

/* ---- an unmounted backing directory: compact it here ------------------- */

/* Whether path is a backing directory: it has a revfs superblock. */
static bool is_backing(const char *path)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", path, NS_SUPER_NAME);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "<ino>.rev", not "<ino>.rev.compact" or anything else. */
static int only_stores(const struct dirent *e)
{
	uint64_t ino;

	return ns_store_name_parse(e->d_name, &ino);
}

/* Every store of the backing directory: ns.rev first, then ino/XX/<ino>.rev. */
static int list_stores(const char *dir, struct targets *t)
{
	struct dirent **files;
	char folder[PATH_MAX], p[PATH_MAX * 2];
	int n;

	snprintf(p, sizeof(p), "%s/%s", dir, NS_STORE_NAME);
	targets_add(t, p, 0);
	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		if (ns_folder_path(dir, x, folder, sizeof(folder)) != ST_OK)
			return -1;
		n = scandir(folder, &files, only_stores, versionsort);
		if (n < 0 && errno != ENOENT)
			return -1;
		for (int j = 0; j < n; j++) {
			snprintf(p, sizeof(p), "%s/%s", folder, files[j]->d_name);
			targets_add(t, p, 0);
			free(files[j]);
		}
		if (n >= 0)
			free(files);
	}
	return 0;
}

static const char *store_msg(int rc)
{
	const struct st_error *e = st_last_error();

	return e->code == rc && e->msg[0] ? e->msg : st_strerror(rc);
}

/* The pinned versions of the backing directory: (ino, seq) pairs. */
struct pins {
	struct pin {
		uint64_t ino, seq;
	} * v;
	size_t n, cap;
};

static int pin_cb(void *arg, uint64_t ino, uint64_t seq)
{
	struct pins *ps = arg;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 16;
		struct pin *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return ST_ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n].ino = ino;
	ps->v[ps->n++].seq = seq;
	return 0;
}

/*
 * Reads every pin from the namespace store (in the working directory, the
 * backing directory): no rule may drop a pinned version, ours included.
 * Returns 0 or an st_err.
 */
static int load_pins(const struct ns_super *sb, struct pins *ps)
{
	st_store *ns;
	int rc;

	rc = ns_open(".", sb, ST_READONLY, NULL, &ns);
	if (rc)
		return rc;
	rc = ns_pin_list(ns, 0, pin_cb, ps); /* 0: every inode's */
	st_close(ns);
	return rc;
}

/* The pins of inode ino's file store into keep. */
static int pins_of(const struct pins *ps, uint64_t ino, struct st_retention *keep, uint64_t **seqs)
{
	size_t n = 0;

	*seqs = malloc((ps->n ? ps->n : 1) * sizeof(**seqs));
	if (!*seqs)
		return ST_ENOMEM;
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].ino == ino)
			(*seqs)[n++] = ps->v[i].seq;
	keep->pins = *seqs;
	keep->npins = n;
	return 0;
}

/* Compacts (or measures, on a dry run) one store. Returns 0 or an st_err. */
static int compact_store(const char *dir, const struct ns_super *sb, const char *rel,
			 const struct st_retention *rule, const struct pins *ps,
			 const struct opts *o, struct totals *tot, struct progress *p)
{
	struct st_open_opts so = {0};
	uint8_t id[ST_ID_SIZE];
	struct st_key key;
	uint64_t ino = 0; /* 0: the namespace */
	enum st_kind kind =
	    ns_store_name_parse(strrchr(rel, '/') + 1, &ino) ? ST_KIND_FILE : ST_KIND_KV;
	struct st_retention keep = *rule;
	struct st_compact_opts co = {.keep = &keep};
	uint64_t *seqs = NULL;
	struct st_compact_stats cs = {0};
	struct st_info info;
	char b1[32], b2[32], b3[32], path[PATH_MAX * 2];
	st_store *st;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, rel + 2); /* what the user knows */
	/* A dry run must not even trim a torn tail. */
	rc = ns_store_opts(sb, ino, &so, id, &key);
	if (rc == ST_OK)
		rc = st_open(rel, kind, o->dry_run ? ST_READONLY : 0, &so, &st);
	if (rc == ST_ENOTFOUND && kind == ST_KIND_FILE)
		return 0; /* removed since the listing */
	if (rc)
		goto out_report;
	rc = st_info(st, &info);
	if (rc)
		goto out_close;
	keep.pins = NULL;
	keep.npins = 0;
	if (kind == ST_KIND_FILE)
		rc = pins_of(ps, ino, &keep, &seqs);
	/* A dry run: what this rule and the pins would keep, exactly for
	 * the data. */
	if (rc == ST_OK)
		rc = o->dry_run ? st_compact_estimate(st, &co, &cs) : st_compact(st, &co, &cs);
	free(seqs);
out_close:
	st_close(st);
out_report:
	if (rc) {
		progress_clear(p);
		fprintf(stderr, "%s: cannot %s %s: %s%s\n", prog,
			o->dry_run ? "measure" : "compact", path, store_msg(rc),
			rc == ST_ECORRUPT || rc == ST_EVERSION ? "; run fsck.revfs on the "
								 "backing directory"
			: rc == ST_ENOSPC		       ? "; free some space and run again"
							       : "");
		return rc;
	}
	if (!counted(tot, true, cs.bytes_before, cs.bytes_after, o, p))
		return 0;
	if (o->dry_run)
		printf("%s: %s, about %s to reclaim (versions %llu -> %llu; %llu bytes live in "
		       "the newest)\n",
		       path, human(cs.bytes_before, b1, sizeof(b1)),
		       human(reclaimed(cs.bytes_before, cs.bytes_after), b2, sizeof(b2)),
		       (unsigned long long)cs.versions_before, (unsigned long long)cs.versions_kept,
		       (unsigned long long)info.live_bytes);
	else
		printf(
		    "%s: %s -> %s, %s reclaimed (versions %llu -> %llu)\n", path,
		    human(cs.bytes_before, b1, sizeof(b1)), human(cs.bytes_after, b2, sizeof(b2)),
		    human(reclaimed(cs.bytes_before, cs.bytes_after), b3, sizeof(b3)),
		    (unsigned long long)cs.versions_before, (unsigned long long)cs.versions_kept);
	fflush(stdout);
	return 0;
}

/* Says who holds BACKING/.lock, from the note the daemon keeps in it. */
static void say_mounted(const char *dir, const char *note)
{
	fprintf(stderr,
		"%s: %s is mounted%s%s%s; run revfs-compact on paths inside the mount "
		"instead\n",
		prog, dir, note[0] ? " (" : "", note, note[0] ? ")" : "");
}

/*
 * Compacts every store of the unmounted backing directory dir. Returns an
 * exit status.
 */
static int compact_backing(const char *dir, const struct opts *o, struct totals *tot,
			   struct progress *p)
{
	struct targets t = {0};
	struct pins pins = {0};
	struct ns_super sb;
	struct st_retention keep;
	struct stat ds;
	const struct ns_lock_wait wait = {.leaving_ticks = 100, .empty_ticks = 100};
	char lock[PATH_MAX], note[512];
	uid_t euid = geteuid();
	gid_t egid = getegid();
	bool switched = false;
	int fd = -1, cwd, rc, status = EXIT_FAILED;

	rc = ns_super_read(dir, &sb);
	if (rc) {
		fprintf(stderr, "%s: cannot read the superblock of %s: %s%s\n", prog, dir,
			store_msg(rc),
			rc == ST_EVERSION ? "; use a newer revfs-compact"
					  : "; run fsck.revfs on it");
		return EXIT_FAILED;
	}
	if (sb.incompat & NS_FEAT_SEALING) {
		fprintf(stderr, "%s: %s is being encrypted; finish it with revfs-tune --encrypt\n",
			prog, dir);
		return EXIT_FAILED;
	}
	if ((sb.incompat & NS_FEAT_SEALED) && ns_key_unlock_from(&sb, &o->key, dir) != ST_OK) {
		fprintf(stderr, "%s: %s: %s; nothing compacted\n", prog, dir, st_last_error()->msg);
		return EXIT_FAILED;
	}
	if (!o->dry_run && !ns_super_writable(&sb)) {
		fprintf(stderr,
			"%s: %s has features this revfs-compact can only read; use a newer "
			"revfs-compact\n",
			prog, dir);
		return EXIT_FAILED;
	}
	if (st_retention_parse(o->keep ? o->keep : sb.keep, &keep) != ST_OK) {
		fprintf(stderr,
			"%s: %s: the superblock's keep rule '%s' is not valid; give one "
			"with --keep\n",
			prog, dir, sb.keep);
		return EXIT_FAILED;
	}
	/*
	 * Root compacting a user's backing directory works as that user, so that
	 * the new store files (and a new .lock) belong to the user, whose daemon
	 * must open them on the next mount. It enters the directory first, as
	 * root, and works with relative paths: the user may not be able to
	 * reach it by name (a parent only root may search).
	 */
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || stat(dir, &ds) != 0 || chdir(dir) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, cwd < 0 ? "." : dir, strerror(errno));
		goto out_cwd;
	}
	if (euid == 0 && ds.st_uid != 0) {
		if (setegid(ds.st_gid) != 0 || seteuid(ds.st_uid) != 0) {
			fprintf(stderr, "%s: cannot work as the owner (uid %u) of %s: %s\n", prog,
				(unsigned)ds.st_uid, dir, strerror(errno));
			goto out_ids;
		}
		switched = true;
	}
	snprintf(lock, sizeof(lock), "%s/%s", dir, NS_LOCK_NAME);
	/* A dry run creates nothing, not even the lock file. */
	fd = ns_lock_open(".", o->dry_run);
	if (fd < 0 && !(o->dry_run && fd == -ENOENT)) {
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, lock, strerror(-fd));
		goto out_ids;
	}
	/* Held until we are done, so no daemon mounts the directory meanwhile.
	 * A daemon just unmounted may still be committing ("closing"): it is
	 * waited for, up to 10 s, so that "umount; revfs-compact" works. */
	rc = fd >= 0 ? ns_lock_take(fd, &wait, note, sizeof(note)) : NS_LOCK_TAKEN;
	if (rc != NS_LOCK_TAKEN) {
		if (rc > 0)
			say_mounted(dir, note);
		else
			fprintf(stderr, "%s: cannot lock %s: %s\n", prog, lock, strerror(-rc));
		goto out_close;
	}
	if ((rc = load_pins(&sb, &pins)) != ST_OK) {
		fprintf(stderr,
			"%s: cannot read the pinned versions from %s/%s: %s; nothing compacted, "
			"run fsck.revfs on %s\n",
			prog, dir, NS_STORE_NAME, store_msg(rc), dir);
		goto out_free;
	}
	if (list_stores(".", &t) != 0) {
		fprintf(stderr, "%s: cannot list the stores of %s: %s\n", prog, dir,
			strerror(errno));
		goto out_free;
	}
	status = 0;
	for (size_t i = 0; i < t.n; i++) {
		progress_show(p, "stores", i, t.n);
		if (compact_store(dir, &sb, t.v[i].path, &keep, &pins, o, tot, p) != 0) {
			tot->failed++;
			status = EXIT_FAILED;
		}
	}
	progress_show(p, "stores", t.n, t.n);
	progress_clear(p);
out_free:
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	free(pins.v);
out_close:
	if (fd >= 0)
		close(fd);
out_ids:
	if (switched && (seteuid(euid) != 0 || setegid(egid) != 0)) {
		fprintf(stderr, "%s: cannot switch back to uid %u: %s\n", prog, (unsigned)euid,
			strerror(errno));
		exit(EXIT_FAILED);
	}
out_cwd:
	/* The next PATH may be relative to where we started. */
	if (cwd >= 0 && fchdir(cwd) != 0) {
		fprintf(stderr, "%s: cannot return to the working directory: %s\n", prog,
			strerror(errno));
		exit(EXIT_FAILED);
	}
	if (cwd >= 0)
		close(cwd);
	return status;
}

/* ---- main --------------------------------------------------------------- */

static void print_total(const struct opts *o, const struct totals *tot, bool failed_early)
{
	char b1[32], b2[32], b3[32];
	uint64_t r = reclaimed(tot->before, tot->after);

	if (o->quiet || (tot->files == 0 && tot->failed == 0 && failed_early))
		return;
	if (o->dry_run)
		printf("dry run: %llu file%s, %s; about %s could be reclaimed (%llu -> %llu "
		       "bytes)\n",
		       (unsigned long long)tot->files, tot->files == 1 ? "" : "s",
		       human(tot->before, b1, sizeof(b1)), human(r, b2, sizeof(b2)),
		       (unsigned long long)tot->before, (unsigned long long)tot->after);
	else
		printf("%s %llu file%s: %s -> %s, %s reclaimed (%llu -> %llu bytes)\n",
		       o->purge ? "purged" : "compacted", (unsigned long long)tot->files,
		       tot->files == 1 ? "" : "s", human(tot->before, b1, sizeof(b1)),
		       human(tot->after, b2, sizeof(b2)), human(r, b3, sizeof(b3)),
		       (unsigned long long)tot->before, (unsigned long long)tot->after);
	if (tot->failed)
		printf("%llu file%s could not be compacted\n", (unsigned long long)tot->failed,
		       tot->failed == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	enum {
		OPT_KEEP = 256,
		OPT_PAUSE,
		OPT_RESUME,
		OPT_PURGE,
		OPT_PURGE_DELETED,
		OPT_PASS_FD,
		OPT_KEY_FILE
	};
	static const struct option longopts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"keep", required_argument, NULL, OPT_KEEP},
	    {"passphrase-fd", required_argument, NULL, OPT_PASS_FD},
	    {"key-file", required_argument, NULL, OPT_KEY_FILE},
	    {"pause", no_argument, NULL, OPT_PAUSE},
	    {"resume", no_argument, NULL, OPT_RESUME},
	    {"purge", no_argument, NULL, OPT_PURGE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"purge-deleted", no_argument, NULL, OPT_PURGE_DELETED},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	struct opts o = {.key = {.fd = -1}};
	struct totals tot = {0};
	struct targets t = {0};
	struct progress p = {0};
	struct st_retention r;
	bool *offline;
	int c, status = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":nqvVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case OPT_PASS_FD: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || !*optarg || v < 0 || v > INT32_MAX) {
				fprintf(stderr, "%s: --passphrase-fd=%s: give a descriptor\n", prog,
					optarg);
				return EXIT_USAGE;
			}
			o.key.fd = (int)v;
			break;
		}
		case OPT_KEY_FILE:
			o.key.key_file = optarg;
			break;
		case OPT_KEEP:
			o.keep = optarg;
			break;
		case OPT_PAUSE:
			o.pause = true;
			break;
		case OPT_RESUME:
			o.resume = true;
			break;
		case OPT_PURGE:
			o.purge = true;
			break;
		case OPT_PURGE_DELETED:
			o.purge_deleted = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, REVFS_VERSION);
			return 0;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind == argc) {
		fprintf(stderr, "%s: expected a PATH; see %s --help\n", prog, prog);
		return EXIT_USAGE;
	}
	if (o.keep && (strlen(o.keep) > NS_KEEP_MAX || st_retention_parse(o.keep, &r) != ST_OK)) {
		fprintf(stderr, "%s: bad --keep rule '%s' (example: %s, or latest)\n", prog, o.keep,
			NS_KEEP_DEFAULT);
		return EXIT_USAGE;
	}
	if (o.purge_deleted) {
		if (o.pause || o.resume || o.purge || o.dry_run || o.keep || optind != argc - 1) {
			fprintf(stderr,
				"%s: --purge-deleted takes one PATH in a mount and no other "
				"option but -q; see %s --help\n",
				prog, prog);
			return EXIT_USAGE;
		}
		return purge_deleted(argv[optind], &o);
	}
	if (o.pause || o.resume) {
		if ((o.pause && o.resume) || o.dry_run || o.keep || o.purge || optind != argc - 1) {
			fprintf(stderr,
				"%s: --pause and --resume take one PATH in a mount and no "
				"other option but -q; see %s --help\n",
				prog, prog);
			return EXIT_USAGE;
		}
		return pause_resume(argv[optind], o.pause, &o);
	}
	if (o.quiet)
		o.verbose = false;
	p.on = !o.quiet && isatty(STDERR_FILENO);

	/*
	 * Every PATH is sorted out before any work: a backing directory that is
	 * not itself inside a mount is compacted here, the rest by the daemon.
	 * --keep has no meaning for the daemon (its rule is -o keep=), so
	 * it is refused before anything changes.
	 */
	offline = calloc((size_t)argc, sizeof(*offline));
	if (!offline) {
		perror(prog);
		return EXIT_FAILED;
	}
	for (int i = optind; i < argc; i++) {
		char real[PATH_MAX], mnt[PATH_MAX], fstype[256];
		struct stat st;

		if (!is_backing(argv[i]))
			continue;
		offline[i] =
		    !(realpath(argv[i], real) && stat(real, &st) == 0 &&
		      mount_of(st.st_dev, real, mnt, sizeof(mnt), fstype, sizeof(fstype)) == 0 &&
		      strcmp(fstype, "fuse.revfs") == 0);
	}
	for (int i = optind; i < argc; i++) {
		if ((o.purge && (offline[i] || o.keep || o.dry_run))) {
			fprintf(stderr,
				"%s: --purge takes paths in a mount (the daemon purges them), "
				"and neither --keep nor --dry-run; %s\n",
				prog, argv[i]);
			free(offline);
			return EXIT_USAGE;
		}
		if (o.keep && !offline[i]) {
			fprintf(stderr,
				"%s: --keep applies to backing directories only; %s is compacted "
				"by its daemon with the mount's rule (-o keep=)\n",
				prog, argv[i]);
			free(offline);
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (offline[i]) {
			if (compact_backing(argv[i], &o, &tot, &p) != 0)
				status = EXIT_FAILED;
		} else if (!collect(argv[i], &t, &tot.failed)) {
			status = EXIT_FAILED;
		}
	}
	compact_targets(&t, &o, &tot, &p);
	/* A mount's root: its namespace too. */
	for (int i = optind; i < argc; i++) {
		char real[PATH_MAX], backing[PATH_MAX];

		if (!offline[i] && realpath(argv[i], real) &&
		    ns_revfs_mount(real, backing, sizeof(backing)) &&
		    compact_namespace(real, &o, &tot, &p) != 0)
			tot.failed++;
	}
	free(offline);
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	/* Nothing done and the reason already said: no empty total. */
	print_total(&o, &tot, status != 0);
	if (tot.failed)
		status = EXIT_FAILED;
	return status;
}
