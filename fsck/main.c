/*
 * main.c - fsck.revfs: checks and repairs a revfs backing directory, in
 * passes run from a table (e2fsck's shape). This file parses fsck(8)'s
 * options, takes the backing directory's lock, runs the passes, prints the
 * summary and turns the outcome into fsck(8)'s exit status. "fsck -t revfs
 * DIR" runs "fsck.revfs DIR".
 *
 * Every repair is a new commit, a rename of a synced temporary file, or the
 * removal of a file nothing needs, so an interruption at any moment leaves
 * the directory no worse than before and a second run completes the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsck.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

/* How long a daemon committing after its unmount is waited for, in 0.1 s. */
#define LOCK_WAIT_TICKS 600

static const struct fsck_pass passes[] = {
    {"Pass 1: superblock", pass1_super},
    {"Pass 2: stores", pass2_stores},
    {"Pass 3: namespace", pass3_namespace},
    {"Pass 4: leftovers", pass4_leftovers},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: fsck.revfs [-n | -y | -p | -a] [-f] [-v] [-C [FD]] DIR\n"
		   "Check (and repair) the revfs backing directory DIR.\n\n"
		   "  -n        check only; change nothing (allowed while mounted)\n"
		   "  -y        repair everything that can be repaired\n"
		   "  -p, -a    repair what is safe without asking; stop on anything else\n"
		   "  -f        check every version of every store, not only the newest\n"
		   "  -v, --verbose  verbose\n"
		   "  -C [FD]   progress (on a terminal by default; FD > 0: lines for fsck(8))\n"
		   "  --passphrase-fd=FD  an encrypted vault's passphrase, from FD (default:\n"
		   "            asked on the terminal)\n"
		   "  --key-file=FILE  ... or its key file\n"
		   "  --no-key  check an encrypted vault's structure only, without its key\n"
		   "            (also without a terminal and no key given)\n"
		   "  -h        this help;  -V, --version  the version\n"
		   "Without -n, -y or -p it asks on a terminal, and acts as -n without one.\n"
		   "Exit status: 0 clean, 1 errors corrected, 4 errors left, 8 operational\n"
		   "error, 16 usage error, 32 cancelled; values combine.\n");
}

/* One line for a bad option, instead of getopt's line and then the usage:
 * the option, and where to look. Returns the usage exit status. */
static int bad_option(int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "fsck.revfs: option %s needs a value; see fsck.revfs -h\n",
			argv[optind - 1]);
	else if (optopt > 0 && optopt < 256)
		fprintf(stderr, "fsck.revfs: unknown option -%c; see fsck.revfs -h\n", optopt);
	else
		fprintf(stderr, "fsck.revfs: unknown option %s; see fsck.revfs -h\n",
			argv[optind - 1]);
	return FSCK_USAGE;
}

void fsck_progress(struct fsck *c, int pass, uint64_t done, uint64_t total)
{
	if (c->progress_fd > 0) {
		dprintf(c->progress_fd, "%d %llu %llu %s\n", pass, (unsigned long long)done,
			(unsigned long long)total, c->dir);
		return;
	}
	if (!c->progress || total == 0)
		return;
	if (done != total && done % 64)
		return;
	fprintf(stderr, "\r%s: pass %d: %llu/%llu (%3.0f%%)%s", c->dir, pass,
		(unsigned long long)done, (unsigned long long)total,
		100.0 * (double)done / (double)total, done == total ? "\r\033[K" : "");
}

static void say_waiting(void *arg, const char *note)
{
	(void)note;
	fprintf(stderr,
		"fsck.revfs: waiting for the daemon of %s to finish committing after its "
		"unmount\n",
		((const struct fsck *)arg)->dir);
}

static bool canceled(void *arg)
{
	(void)arg;
	return fsck_interrupted;
}

/* Takes BACKING/.lock. Returns 0, or an exit status. */
static int take_lock(struct fsck *c)
{
	/* Held until exit, so no daemon mounts while fsck works.
	 * fusermount3 -u returns at once; the daemon then commits what is left
	 * ("closing" in the lock file) and lets go. That is waited for, as the
	 * next mount does, rather than checking a directory still being
	 * written. An empty note is one being rewritten: a moment. */
	const struct ns_lock_wait w = {.leaving_ticks = LOCK_WAIT_TICKS,
				       .empty_ticks = 10,
				       .waiting = say_waiting,
				       .quiet_ticks =
					   20, /* 2 s: a moment after an unmount goes unsaid */
				       .canceled = canceled,
				       .arg = c};
	int rc;

	/* -n must not even create the lock file. */
	c->lockfd = ns_lock_open(c->dir, c->readonly);
	if (c->lockfd < 0) {
		int err = -c->lockfd;

		if (err == ENOENT && c->readonly)
			return 0; /* no daemon ever mounted it */
		fprintf(
		    stderr, "fsck.revfs: cannot open %s/%s: %s%s\n", c->dir, NS_LOCK_NAME,
		    strerror(err),
		    err == EACCES || err == EPERM || err == EROFS
			? "; run it as the owner of the backing directory, or check only with -n"
			: "");
		return FSCK_ERROR;
	}
	rc = ns_lock_take(c->lockfd, &w, NULL, 0);
	if (rc == NS_LOCK_TAKEN)
		return 0;
	if (rc == NS_LOCK_CANCELED)
		return FSCK_CANCELED;
	if (rc < 0) {
		fprintf(stderr, "fsck.revfs: cannot lock %s/%s: %s\n", c->dir, NS_LOCK_NAME,
			strerror(-rc));
		return FSCK_ERROR;
	}
	/* Held by a daemon serving a mount, or still on its way out. */
	c->mounted = true;
	if (!c->readonly) {
		fprintf(stderr,
			"fsck.revfs: %s is mounted (its lock is held); unmount it to repair it, or "
			"check it with -n\n",
			c->dir);
		return FSCK_ERROR;
	}
	fprintf(stderr,
		"fsck.revfs: warning: %s is mounted; the daemon may change it while it is checked, "
		"so the results may be stale\n",
		c->dir);
	return 0;
}

static void summary(struct fsck *c)
{
	char live[32], total[32];

	if (c->sb_ok || c->nstores)
		printf("%s: %zu stores, %llu versions, %s live of %s; %llu problems, %llu fixed, "
		       "%llu left\n",
		       c->dir, c->nstores + (c->ns_ok ? 1 : 0), (unsigned long long)c->versions,
		       fsck_bytes(c->live_bytes, live), fsck_bytes(c->file_bytes, total),
		       (unsigned long long)c->nfound, (unsigned long long)c->nfixed,
		       (unsigned long long)c->nleft);
	if (c->nfixed)
		printf("\n%s: ***** BACKING DIRECTORY WAS MODIFIED *****\n", c->dir);
	if (c->nleft && c->mode != MODE_PREEN)
		printf("\n%s: ********** WARNING: errors are left **********\n", c->dir);
}

int fsck_run(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {"verbose", no_argument, NULL, 'v'},
						 {"passphrase-fd", required_argument, NULL, 'P'},
						 {"key-file", required_argument, NULL, 'K'},
						 {"no-key", no_argument, NULL, 'N'},
						 {NULL, 0, NULL, 0}};
	struct fsck c = {.mode = MODE_ASK, .lockfd = -1, .key_src = {.fd = -1}};
	char backing[4096];
	int opt, nmodes = 0, rc;

	/* Run again in one process (the fuzz target): getopt starts over. A
	 * signal caught before this run still cancels it. */
	optind = 0;
	c.progress = isatty(STDERR_FILENO);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":nypafvVC::rh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			c.mode = MODE_NO;
			nmodes++;
			break;
		case 'y':
			c.mode = MODE_YES;
			nmodes++;
			break;
		case 'p':
		case 'a': /* fsck(8)'s old name for -p */
			c.mode = MODE_PREEN;
			nmodes++;
			break;
		case 'r': /* e2fsck's "interactive": the default */
			break;
		case 'P': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || !*optarg || v < 0 || v > INT32_MAX) {
				fprintf(stderr,
					"fsck.revfs: --passphrase-fd=%s: give a descriptor\n",
					optarg);
				return FSCK_USAGE;
			}
			c.key_src.fd = (int)v;
			break;
		}
		case 'K':
			c.key_src.key_file = optarg;
			break;
		case 'N':
			c.no_key = true;
			break;
		case 'f':
			c.force = true;
			break;
		case 'v':
			c.verbose = true;
			break;
		case 'C':
			c.progress = true;
			if (optarg)
				c.progress_fd = atoi(optarg);
			else if (optind < argc && argv[optind][0] >= '0' &&
				 argv[optind][0] <= '9' && optind < argc - 1)
				c.progress_fd = atoi(argv[optind++]);
			break;
		case 'h':
			usage(stdout);
			return FSCK_OK;
		case 'V':
			printf("fsck.revfs %s\n", REVFS_VERSION);
			return FSCK_OK;
		default:
			return bad_option(opt, argv);
		}
	}
	if (nmodes > 1) {
		fprintf(stderr, "fsck.revfs: only one of -n, -y and -p (or -a) may be given\n");
		return FSCK_USAGE;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "fsck.revfs: expected one directory; see fsck.revfs -h\n");
		return FSCK_USAGE;
	}
	c.dir = argv[optind];
	if (c.mode == MODE_ASK && !isatty(STDIN_FILENO))
		c.mode = MODE_NO;
	c.readonly = c.mode == MODE_NO;
	if (c.mode == MODE_PREEN)
		c.progress = c.progress_fd > 0;

	if (access(c.dir, F_OK) != 0) {
		fprintf(stderr, "fsck.revfs: backing directory %s: %s\n", c.dir, strerror(errno));
		return FSCK_ERROR;
	}
	/* Not even the lock file is made in a mount. */
	if (ns_revfs_mount(c.dir, backing, sizeof(backing))) {
		fprintf(stderr,
			"fsck.revfs: %s is a revfs mount of %s; check the backing directory: "
			"fsck.revfs -n %s\n",
			c.dir, backing, backing);
		return FSCK_ERROR;
	}
	rc = take_lock(&c);
	if (rc) {
		if (c.lockfd >= 0)
			close(c.lockfd);
		return rc;
	}
	if (c.mode != MODE_PREEN)
		printf("fsck.revfs %s: checking %s%s\n", REVFS_VERSION, c.dir,
		       c.readonly ? " (no changes: -n)" : "");
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		if (fsck_interrupted)
			break;
		if (c.mode != MODE_PREEN)
			printf("%s\n", passes[i].name);
		fflush(stdout);
		if (passes[i].run(&c) != 0 || c.fatal)
			break;
	}
	fflush(stdout);
	summary(&c);
	rc = c.exit_extra;
	if (c.nfixed)
		rc |= FSCK_NONDESTRUCT;
	if (c.nleft || (c.fatal && !c.exit_extra))
		rc |= FSCK_UNCORRECTED;
	if (fsck_interrupted) {
		printf("%s: interrupted\n", c.dir);
		rc |= FSCK_CANCELED;
	}
	free(c.stores);
	if (c.lockfd >= 0)
		close(c.lockfd);
	return rc;
}

/* The fuzz target links everything above and calls fsck_run() itself. */
#ifndef FSCK_NO_MAIN
static void on_signal(int sig)
{
	(void)sig;
	fsck_interrupted = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {0};

	/* A signal only sets a flag: the passes stop between repairs, never
	 * inside one, and the exit status says 32 (cancelled). */
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return fsck_run(argc, argv);
}
#endif
