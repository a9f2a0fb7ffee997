/*
 * main.c - the revfs daemon: options, the checks on the backing directory
 * (a revfs of a format this build reads, not mounted elsewhere), the FUSE
 * session, and an unmount that commits everything before it exits.
 *
 *   revfs [-f] [-d] [-s] [-o OPTIONS] BACKING MOUNTPOINT
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "revfs.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

/* A daemon that is still committing after an unmount holds the lock a
 * little longer; a new mount waits for it this long, and says so only
 * after QUIET_TICKS (100 ms each): the kernel does not wait for a FUSE
 * daemon at unmount, so "umount; mount" commonly waits a moment, and a
 * script (xfstests' generic/524) must not see a line for that. */
#define LOCK_WAIT_S 60
#define QUIET_TICKS 20

enum { KEY_HELP, KEY_VERSION, KEY_VERBOSE, KEY_RO };

/* The -o options as given (NULL: not given), parsed after fuse_opt_parse:
 * its %u and %d would take "-1" and wrap what overflows. */
enum {
	O_FLUSH_MS,
	O_SAVE_S,
	O_DIRTY_MB,
	O_ATTR_TIMEOUT,
	O_COMPACT,
	O_COMPACT_FRAG,
	O_COMPACT_MIN_MB,
	O_COMPACT_MBPS,
	O_SETTLE_MS,
	O_FENCE_WAIT_S,
	O_SPACE_WAIT_S,
	O_WRITEBACK,
	O_PASSPHRASE_FD,
	O_NUMERIC
};

struct cmdline {
	struct fs_opts o;
	char *num[O_NUMERIC];
	char *keep;
	char *key_file;
	char *reserve, *history_max;
	char *backing;
	char *mnt; /* the mount point as given: checked before libfuse's own words */
	int nonopt;
	int help, version;
};

#define OPT(t, f)                                                                                  \
	{                                                                                          \
		t, offsetof(struct cmdline, f), 1                                                  \
	}
static const struct fuse_opt opt_spec[] = {
    OPT("flush_ms=%s", num[O_FLUSH_MS]),
    OPT("save_s=%s", num[O_SAVE_S]),
    OPT("dirty_mb=%s", num[O_DIRTY_MB]),
    OPT("attr_timeout=%s", num[O_ATTR_TIMEOUT]),
    OPT("compact=%s", num[O_COMPACT]),
    OPT("compact_frag=%s", num[O_COMPACT_FRAG]),
    OPT("compact_min_mb=%s", num[O_COMPACT_MIN_MB]),
    OPT("compact_mbps=%s", num[O_COMPACT_MBPS]),
    OPT("settle_ms=%s", num[O_SETTLE_MS]),
    OPT("fence_wait_s=%s", num[O_FENCE_WAIT_S]),
    OPT("space_wait_s=%s", num[O_SPACE_WAIT_S]),
    OPT("writeback=%s", num[O_WRITEBACK]),
    OPT("passphrase_fd=%s", num[O_PASSPHRASE_FD]),
    OPT("key_file=%s", key_file),
    OPT("keep=%s", keep),
    OPT("reserve=%s", reserve),
    OPT("history_max=%s", history_max),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("-v", KEY_VERBOSE),
    FUSE_OPT_KEY("--verbose", KEY_VERBOSE),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: revfs [-f] [-d] [-s] [-v] [-o OPTION[,OPTION...]] BACKING MOUNTPOINT\n"
		   "Mount the revfs backing directory BACKING (made by mkfs.revfs) on\n"
		   "MOUNTPOINT. Every save (fsync, last close) of a file becomes a version.\n\n"
		   "  -f                 stay in the foreground; log to stderr (else to syslog)\n"
		   "  -d                 debug: -f, debug messages, and libfuse logs every\n"
		   "                     request\n"
		   "  -s                 serve requests from one thread\n"
		   "  -v, --verbose      log the daemon's debug messages too (not libfuse's)\n"
		   "  -o flush_ms=N      commit dirty files every N ms (default: the\n"
		   "                     superblock's, 1000); those commits are interim:\n"
		   "                     a version is an fsync, a last close, or:\n"
		   "  -o save_s=N        every N s of a file kept open and written\n"
		   "                     (default 300)\n"
		   "  -o dirty_mb=N      dirty memory limit in MiB; writers wait past it\n"
		   "                     (default 256)\n"
		   "  -o attr_timeout=S  seconds the kernel caches names and attributes\n"
		   "                     (default 1)\n"
		   "  -o keep=RULE       versions compaction keeps (default: the superblock's)\n"
		   "  -o compact=0|1     the background compactor (default 1)\n"
		   "  -o compact_frag=P  compact at P%% garbage (default 30)\n"
		   "  -o compact_min_mb=N  ... in a store of at least N MiB (default 1)\n"
		   "  -o compact_mbps=N  copy at most N MB/s (default: 16 while files are\n"
		   "                     written, no limit when idle)\n"
		   "  -o settle_ms=N     on a network or distributed filesystem, wait N ms\n"
		   "                     at mount for its client's caches to expire\n"
		   "                     (default 2000, or 0 for a GlusterFS client seen\n"
		   "                     to cache nothing; 0 for none)\n"
		   "  -o fence_wait_s=N  wait at most N s for the storage to show what the\n"
		   "                     last unmount left, then refuse (default 30)\n"
		   "  -o reserve=SIZE|N%%  history gives way to live data when the backing\n"
		   "                     disk has less free (default: the superblock's, else\n"
		   "                     10%% of it, at most 1G)\n"
		   "  -o history_max=SIZE|N%%  history takes at most this (default: the\n"
		   "                     superblock's, else no budget; 0: none)\n"
		   "  -o space_wait_s=N  a write waits at most N s for history to give way\n"
		   "                     before it fails with ENOSPC (default 30)\n"
		   "  -o passphrase_fd=FD  an encrypted vault's passphrase is read from FD\n"
		   "                     (default: asked on the terminal)\n"
		   "  -o key_file=FILE   ... or its key file\n"
		   "  -o writeback=0|1   the kernel's writeback cache, pushed each flush\n"
		   "                     interval where the daemon may (as root); default 0\n"
		   "  -o ro              mount read-only\n"
		   "  -o allow_other     let other users in (see mount.fuse3(8))\n"
		   "  -h, --help         this help\n"
		   "  -V, --version      the version\n"
		   "Exit status: 0 mounted (or, in the foreground, unmounted with everything\n"
		   "committed), 1 an error. See revfs(8).\n");
}

/* The numeric options: name, range, and what each becomes. */
static const struct numopt {
	const char *name;
	double min, max;
	bool whole; /* a whole number (else any decimal, as attr_timeout) */
} numopts[O_NUMERIC] = {
    [O_FLUSH_MS] = {"flush_ms", 1, 3600000, true},
    [O_SAVE_S] = {"save_s", 1, 86400, true},
    [O_DIRTY_MB] = {"dirty_mb", 1, 1048576, true},
    [O_ATTR_TIMEOUT] = {"attr_timeout", 0, 86400, false},
    [O_COMPACT] = {"compact", 0, 1, true},
    [O_COMPACT_FRAG] = {"compact_frag", 0, 100, true},
    [O_COMPACT_MIN_MB] = {"compact_min_mb", 0, 16777216, true},
    [O_COMPACT_MBPS] = {"compact_mbps", 0, 1000000, true},
    [O_SETTLE_MS] = {"settle_ms", 0, 600000, true},
    [O_FENCE_WAIT_S] = {"fence_wait_s", 0, 86400, true},
    [O_SPACE_WAIT_S] = {"space_wait_s", 0, 3600, true},
    [O_WRITEBACK] = {"writeback", 0, 1, true},
    [O_PASSPHRASE_FD] = {"passphrase_fd", 0, 1048576, true},
};

/* Option i's value into *out (untouched if it was not given). 0, or -1
 * with a message that names the option and its range. */
static int numopt_parse(const struct cmdline *c, int i, double *out)
{
	const struct numopt *n = &numopts[i];
	const char *text = c->num[i];
	char *end;
	double v;

	if (!text)
		return 0;
	errno = 0;
	v = strtod(text, &end);
	if (text[0] < '0' || text[0] > '9' || *end || errno || !(v >= n->min && v <= n->max) ||
	    (n->whole && strspn(text, "0123456789") != strlen(text))) {
		fprintf(stderr,
			"revfs: -o %s=%s: %s must be %s from %.0f to %.0f; see revfs --help\n",
			n->name, text, n->name, n->whole ? "a whole number" : "a number", n->min,
			n->max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A size option (-o reserve, -o history_max; NULL: not given) into *out
 * and *set. 0, or -1 with a message. */
static int space_opt(const char *name, const char *text, uint64_t *out, bool *set)
{
	*set = text != NULL;
	if (text && ns_space_parse(text, out) != ST_OK) {
		fprintf(stderr,
			"revfs: -o %s=%s: give a size (4096, 512M, 2G) or a percentage of the "
			"backing disk (5%%), 0 for none; see revfs --help\n",
			name, text);
		return -1;
	}
	return 0;
}

/* Checks every numeric option and sets what it controls. 0 or -1. */
static int numopts_apply(struct cmdline *c)
{
	double v[O_NUMERIC];

	v[O_FLUSH_MS] = UINT_MAX; /* not given: the superblock's default */
	v[O_SAVE_S] = 300;
	v[O_DIRTY_MB] = 256;
	v[O_ATTR_TIMEOUT] = 1.0;
	v[O_COMPACT] = 1;
	v[O_COMPACT_FRAG] = 30;
	v[O_COMPACT_MIN_MB] = 1;
	v[O_COMPACT_MBPS] = 0;
	v[O_SETTLE_MS] = SETTLE_UNSET; /* not given: fence.c decides */
	v[O_FENCE_WAIT_S] = 30;
	v[O_SPACE_WAIT_S] = 30;
	v[O_WRITEBACK] = 0;	 /* off: it won nothing in make bench-fs (revfs.8) */
	v[O_PASSPHRASE_FD] = -1; /* not given: the terminal */
	for (int i = 0; i < O_NUMERIC; i++)
		if (numopt_parse(c, i, &v[i]))
			return -1;
	c->o.flush_ms = (unsigned)v[O_FLUSH_MS];
	c->o.save_s = (unsigned)v[O_SAVE_S];
	c->o.dirty_mb = (unsigned)v[O_DIRTY_MB];
	c->o.attr_timeout = v[O_ATTR_TIMEOUT];
	c->o.compact = (int)v[O_COMPACT];
	c->o.compact_frag = v[O_COMPACT_FRAG] / 100.0;
	c->o.compact_min = (uint64_t)v[O_COMPACT_MIN_MB] << 20;
	c->o.compact_bps = (uint64_t)v[O_COMPACT_MBPS] * 1000000;
	c->o.settle_ms = (unsigned)v[O_SETTLE_MS];
	c->o.fence_wait_s = (unsigned)v[O_FENCE_WAIT_S];
	c->o.space_wait_s = (unsigned)v[O_SPACE_WAIT_S];
	c->o.writeback = (int)v[O_WRITEBACK];
	c->o.passphrase_fd = (int)v[O_PASSPHRASE_FD];
	c->o.key_file = c->key_file;
	if (space_opt("reserve", c->reserve, &c->o.reserve, &c->o.reserve_set) ||
	    space_opt("history_max", c->history_max, &c->o.history_max, &c->o.history_max_set))
		return -1;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cmdline *c = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopt++ == 0) {
			c->backing = strdup(arg);
			return 0;
		}
		if (c->nonopt > 2) {
			fprintf(stderr,
				"revfs: unexpected argument '%s' after BACKING and MOUNTPOINT; see "
				"revfs --help\n",
				arg);
			return -1;
		}
		if (!(c->mnt = strdup(arg)))
			return -1;
		return 1; /* the mountpoint, for fuse_parse_cmdline */
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case KEY_VERBOSE:
		c->o.verbose = 1;
		return 0;
	case KEY_RO:
		c->o.ro = 1;
		return 1; /* also a mount option for the kernel */
	default:
		/* Of the dashed ones, libfuse's command line takes -d, -f and
		 * -s (-h and -V are ours); -o options go to it unchecked, and
		 * it refuses those neither it nor the kernel knows. */
		if (arg[0] == '-' && strcmp(arg, "-d") != 0 && strcmp(arg, "-f") != 0 &&
		    strcmp(arg, "-s") != 0) {
			fprintf(stderr, "revfs: unknown option %s; see revfs --help\n", arg);
			return -1;
		}
		return 1;
	}
}

/* What to do about a backing directory this user may not write. */
static const char *perm_hint(int err)
{
	return err == EACCES || err == EPERM ? "; mount it as the owner of the backing directory"
					     : "";
}

static void say_waiting(void *arg, const char *note)
{
	(void)note;
	fprintf(stderr, "revfs: waiting for the previous mount of %s to finish committing\n",
		(const char *)arg);
}

/* Takes BACKING/.lock. A daemon that is finishing an unmount is waited for;
 * one that is serving a mount is an error. */
static int take_lock(struct fs *fs)
{
	/* Just unmounted, the daemon may not have said "closing" yet: 2 s. */
	const struct ns_lock_wait w = {.live_ticks = 20,
				       .leaving_ticks = LOCK_WAIT_S * 10,
				       .empty_ticks = LOCK_WAIT_S * 10,
				       .waiting = say_waiting,
				       .quiet_ticks = QUIET_TICKS,
				       .arg = fs->backing};
	char note[512];
	int rc;

	fs->lock_fd = ns_lock_open(fs->backing, false);
	if (fs->lock_fd < 0) {
		fprintf(stderr, "revfs: cannot open %s/%s: %s%s\n", fs->backing, NS_LOCK_NAME,
			strerror(-fs->lock_fd), perm_hint(-fs->lock_fd));
		return -1;
	}
	rc = ns_lock_take(fs->lock_fd, &w, note, sizeof(note));
	switch (rc) {
	case NS_LOCK_TAKEN:
		fs->locked = true;
		return 0;
	case NS_LOCK_MOUNTED:
		fprintf(stderr, "revfs: %s is already mounted (%s); unmount it first\n",
			fs->backing, note[0] ? note : "lock held");
		return -1;
	case NS_LOCK_TIMEOUT:
		fprintf(stderr,
			"revfs: %s is still locked after %d s by the daemon of its last "
			"mount; wait until it exits, then mount again\n",
			fs->backing, LOCK_WAIT_S);
		return -1;
	default:
		fprintf(stderr, "revfs: cannot lock %s/%s: %s\n", fs->backing, NS_LOCK_NAME,
			strerror(-rc));
		return -1;
	}
}

static void lock_note(struct fs *fs, const char *what)
{
	int rc = ns_lock_note_write(fs->lock_fd, what);

	if (rc)
		fs_log(LOG_WARNING, "cannot write the lock file: %s", strerror(-rc));
}

/* The mount point: an existing directory that is not a revfs mount
 * already (a second one would hide the first). 0, or -1 with a message. */
static int check_mountpoint(const char *mnt)
{
	char backing[4096];
	struct stat sb;

	if (stat(mnt, &sb) != 0) {
		fprintf(stderr, "revfs: mount point %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "revfs: mount point %s is not a directory\n", mnt);
		return -1;
	}
	if (ns_revfs_mount(mnt, backing, sizeof(backing))) {
		fprintf(stderr, "revfs: %s is already a revfs mount (of %s); unmount it first\n",
			mnt, backing);
		return -1;
	}
	return 0;
}

static int open_backing(struct fs *fs)
{
	int rc;

	rc = ns_super_read(fs->backing, &fs->sb);
	if (rc == ST_ENOTFOUND) {
		fprintf(stderr,
			"revfs: %s is not a revfs backing directory (no %s); make one "
			"with mkfs.revfs\n",
			fs->backing, NS_SUPER_NAME);
		return -1;
	}
	if (rc == ST_EVERSION) {
		fprintf(stderr, "revfs: %s was made by a newer revfs (%s); upgrade revfs\n",
			fs->backing, st_last_error()->msg);
		return -1;
	}
	if (rc) {
		fprintf(stderr, "revfs: %s: %s; check it with fsck.revfs %s\n", fs->backing,
			st_last_error()->msg, fs->backing);
		return -1;
	}
	if (fs->sb.incompat & NS_FEAT_SEALING) {
		fprintf(stderr,
			"revfs: %s is being encrypted; finish it with revfs-tune --encrypt %s\n",
			fs->backing, fs->backing);
		return -1;
	}
	if (fs->sb.incompat & NS_FEAT_SEALED) {
		struct ns_secret_src src = {.key_file = fs->o.key_file, .fd = fs->o.passphrase_fd};

		/* Before the lock: a person may take a while to type. */
		rc = ns_key_unlock_from(&fs->sb, &src, fs->backing);
		/* The descriptor was given for this: the daemon lets it go. */
		if (fs->o.passphrase_fd > 2)
			close(fs->o.passphrase_fd);
		if (rc) {
			fprintf(stderr, "revfs: %s: %s%s\n", fs->backing, st_last_error()->msg,
				rc == ST_EKEY ? "; nothing was written" : "");
			return -1;
		}
	} else if (fs->o.key_file || fs->o.passphrase_fd >= 0) {
		fprintf(stderr,
			"revfs: %s is not encrypted: -o key_file and -o passphrase_fd "
			"are for encrypted vaults\n",
			fs->backing);
		return -1;
	}
	if (!ns_super_writable(&fs->sb) && !fs->o.ro) {
		fprintf(stderr,
			"revfs: %s has features this revfs can only read; mount it with "
			"-o ro, or upgrade revfs\n",
			fs->backing);
		return -1;
	}
	if (fs->keep_text && st_retention_parse(fs->keep_text, &fs->keep) != ST_OK) {
		fprintf(stderr,
			"revfs: -o keep=%s: bad retention rule (example: "
			"all:1h+hourly:1d+daily:30d+min:10, or latest)\n",
			fs->keep_text);
		return -1;
	}
	if (!fs->keep_text && st_retention_parse(fs->sb.keep, &fs->keep) != ST_OK) {
		fprintf(stderr,
			"revfs: %s/%s: bad retention rule '%s'; give one with -o keep=RULE, or "
			"run fsck.revfs %s\n",
			fs->backing, NS_SUPER_NAME, fs->sb.keep, fs->backing);
		return -1;
	}
	if (fs->o.flush_ms == UINT_MAX)
		fs->o.flush_ms =
		    fs->sb.flush_ms >= 1 && fs->sb.flush_ms <= 3600000 ? fs->sb.flush_ms : 1000;
	if (take_lock(fs))
		return -1;
	if (!fs->o.ro && ns_folders_make(fs->backing) != ST_OK) {
		int err = st_last_error()->sys_errno;

		fprintf(stderr, "revfs: %s%s\n", st_last_error()->msg,
			err == EROFS ? "; mount it with -o ro" : perm_hint(err));
		return -1;
	}
	if (fence_open_ns(fs))
		return -1;
	fs->backing_fd = open(fs->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->backing_fd < 0) {
		fprintf(stderr, "revfs: cannot open %s: %s\n", fs->backing, strerror(errno));
		return -1;
	}
	space_init(fs);
	rc = fs_ns_load(fs);
	if (rc == 0 && !fs->o.ro)
		rc = fs_ns_mark(fs, false);
	if (rc == 0 && !fs->o.ro)
		rc = fence_mark(fs, false);
	if (rc) {
		fprintf(stderr, "revfs: cannot load the namespace of %s: %s; run fsck.revfs %s\n",
			fs->backing, strerror(-rc), fs->backing);
		return -1;
	}
	return 0;
}

/*
 * libfuse's own messages ("fuse: unknown option(s): ..."), in revfs's
 * words: with the program's name, and, while the command line is being
 * taken (before the mount), a pointer to --help. Once the daemon runs they
 * go where its other messages go (syslog when it is in the background,
 * where stderr is gone).
 */
static bool fuse_msgs_started;

/* One whole line of libfuse's, which at startup may come in pieces (its
 * list of unknown options): a piece without its newline waits in pending.
 * Startup is one thread; the daemon's threads log whole lines. */
static void fuse_log_cb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static char pending[1024];
	char line[1024], *m = pending;
	size_t n;

	if (fuse_msgs_started) { /* threads: a whole line each, no buffer shared */
		vsnprintf(line, sizeof(line), fmt, ap);
		n = strlen(line);
		while (n && line[n - 1] == '\n')
			line[--n] = 0;
		fs_log((int)level, "%s", strncmp(line, "fuse: ", 6) ? line : line + 6);
		return;
	}
	n = strlen(pending);
	vsnprintf(pending + n, sizeof(pending) - n, fmt, ap);
	n = strlen(pending);
	if (n && pending[n - 1] != '\n' && n < sizeof(pending) - 1)
		return;
	while (n && pending[n - 1] == '\n')
		pending[--n] = 0;
	if (!strncmp(m, "fuse: ", 6))
		m += 6;
	if (level <= FUSE_LOG_ERR)
		fprintf(stderr, "revfs: %s%s\n", m,
			strstr(m, "option") || strstr(m, "argument") ? "; see revfs --help" : "");
	pending[0] = 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo = {0};
	struct fuse_loop_config *lc = NULL;
	struct cmdline c = {0};
	struct fs fs = {0};
	char *opts = NULL;
	int ret = 1;

	fuse_set_log_func(fuse_log_cb);
	if (fuse_opt_parse(&args, &c, opt_spec, opt_proc) != 0)
		return 1;
	if (c.help) {
		usage(stdout);
		ret = 0;
		goto out_args;
	}
	if (c.version) {
		printf("revfs %s (libfuse %s)\n", REVFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (c.nonopt == 2 && check_mountpoint(c.mnt))
		goto out_args;
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out_args;
	if (!c.backing || !fo.mountpoint || c.nonopt != 2) {
		fprintf(stderr, "revfs: expected BACKING and MOUNTPOINT; see revfs --help\n");
		goto out_args;
	}
	if (numopts_apply(&c))
		goto out_args;
	fs.backing = realpath(c.backing, NULL);
	if (!fs.backing) {
		fprintf(stderr, "revfs: backing directory %s: %s%s\n", c.backing, strerror(errno),
			errno == ENOENT ? "; make one with mkfs.revfs" : "");
		goto out_args;
	}
	/* In the foreground fs_log() writes to stderr, debug messages with -d
	 * only. In the background it writes to syslog, without debug messages:
	 * -d keeps the daemon in the foreground (libfuse's rule). Errors before
	 * the daemon detaches go to stderr either way, to whoever mounted. */
	c.o.foreground = fo.foreground;
	c.o.debug = fo.debug;
	if (!fo.foreground) {
		openlog("revfs", LOG_PID, LOG_DAEMON);
		setlogmask(LOG_UPTO(c.o.verbose ? LOG_DEBUG : LOG_INFO));
	}
	fs.o = c.o;
	fs.lock_fd = fs.backing_fd = -1;
	fs.push_clone = fs.push_wake[0] = fs.push_wake[1] = -1;
	fs.push_child = -1;
	fs.dirty_limit = (uint64_t)c.o.dirty_mb << 20;
	pthread_mutex_init(&fs.ns_lock, NULL);
	pthread_mutex_init(&fs.ns_commit_lock, NULL);
	pthread_mutex_init(&fs.flush_lock, NULL);
	pthread_mutex_init(&fs.dir_lock, NULL);
	pthread_mutex_init(&fs.compact_lock, NULL);
	pthread_mutex_init(&fs.fence_lock, NULL);
	pthread_cond_init(&fs.compact_cv, NULL);
	fs.keep_text = c.keep;
	pthread_cond_init(&fs.done_cv, NULL);
	pthread_cond_init(&fs.sync_cv, NULL);
	pthread_cond_init(&fs.room_cv, NULL);
	the_fs = &fs;
	/* Dirty buffers (up to 4 MiB each) come and go at the write rate:
	 * from the heap, reused, they cost no page faults and no zeroing of
	 * fresh pages, which mmap()ed ones do (a sixth of the daemon's time in
	 * a large sequential write). Up to 64 MiB of freed memory may stay. */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	/* Each open file holds its store open: allow as many as the system
	 * lets this process have. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/* The session first: libfuse refuses options it does not know here,
	 * before the backing directory is touched (opening it for writing
	 * marks it unclean until the unmount). */
	if (asprintf(&opts, "-odefault_permissions,fsname=%s,subtype=revfs", fs.backing) < 0 ||
	    fuse_opt_add_arg(&args, opts) != 0)
		goto out_fs;
	fs.se = fuse_session_new(&args, &revfs_ops, sizeof(revfs_ops), &fs);
	if (!fs.se)
		goto out_fs;
	if (open_backing(&fs))
		goto out_session;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, fo.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(fo.foreground) != 0)
		goto out_unmount;
	/* The writeback cache, pushed each interval where it can be; decided
	 * before the loop's INIT asks. One request thread could not serve the
	 * writeback that SEEK_DATA waits for (fsop_lseek): no cache then. */
	if (fo.singlethread && fs.o.writeback == 1) {
		fs_log(LOG_WARNING, "writeback cache off: -s serves requests from one thread");
		fs.o.writeback = 0;
	}
	if (!fs.o.ro && fs.o.writeback == 1) {
		int e = push_prepare(&fs, fo.mountpoint);

		fs.writeback = true;
		if (e)
			fs_log(LOG_WARNING,
			       "writeback cache on, but it cannot be pushed (%s): writes that are "
			       "not fsynced may wait in the kernel for its dirty expiry",
			       strerror(-e));
	}
	{
		char note[4200];

		snprintf(note, sizeof(note), "pid %ld on %s\n", (long)getpid(), fo.mountpoint);
		lock_note(&fs, note);
	}
	/* After fuse_daemonize: a thread does not survive its fork. The
	 * fence thread first: the flusher kicks it. */
	if (fence_start(&fs) != 0) {
		fs_log(LOG_ERR, "cannot start the fence thread");
		goto out_unmount;
	}
	if (!fs.o.ro && flusher_start(&fs) != 0) {
		fs_log(LOG_ERR, "cannot start the flusher");
		goto out_unmount;
	}
	if (!fs.o.ro && compactor_start(&fs) != 0) {
		fs_log(LOG_ERR, "cannot start the compactor");
		goto out_unmount;
	}
	if (push_start(&fs) != 0) {
		fs_log(LOG_ERR, "cannot start the push thread");
		goto out_unmount;
	}
	fuse_msgs_started = true;
	fs_log(LOG_INFO, "mounted %s on %s%s", fs.backing, fo.mountpoint,
	       fs.o.ro ? " read-only" : "");
	if (fo.singlethread) {
		ret = fuse_session_loop(fs.se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, fo.max_threads);
		ret = fuse_session_loop_mt(fs.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	lock_note(&fs, "closing\n");
out_unmount:
	push_stop(&fs);
	fuse_session_unmount(fs.se);
	compactor_stop(&fs);
	flusher_stop(&fs);
	fence_stop(&fs);
	if (!fs.o.ro) {
		bool lost;

		pthread_mutex_lock(&fs.flush_lock);
		lost = fs.dirty_bytes || fs.dirty_head;
		pthread_mutex_unlock(&fs.flush_lock);
		pthread_mutex_lock(&fs.ns_lock);
		lost = lost || fs.ns_dirty || fs.ns_lazy;
		pthread_mutex_unlock(&fs.ns_lock);
		/* Clean only if everything reached the disk. */
		if (lost || fs_ns_mark(&fs, true) != 0 || fence_mark(&fs, true) != 0)
			ret = 1;
	}
	fs_log(LOG_INFO, "unmounted %s", fs.backing);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	/* The session's end aborts a syncfs the push process may wait in
	 * (and the push thread with it, for its answer). */
	fuse_session_destroy(fs.se);
	push_join(&fs);
out_fs:
	ns_key_forget(&fs.sb);
	fs_dirs_release(&fs);
	vt_release_all();
	if (fs.htab)
		fs_table_release(&fs);
	if (fs.ns)
		st_close(fs.ns);
	if (fs.backing_fd >= 0)
		close(fs.backing_fd);
	if (fs.lock_fd >= 0) {
		if (fs.locked)
			lock_note(&fs, "");
		close(fs.lock_fd);
	}
	free(fs.backing);
	free(opts);
	the_fs = NULL;
out_args:
	for (int i = 0; i < O_NUMERIC; i++)
		free(c.num[i]);
	free(c.backing);
	free(c.mnt);
	free(c.keep);
	free(c.key_file);
	free(c.reserve);
	free(c.history_max);
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
