/*
 * problem.c - the problem table and fsck_problem(), the one function every
 * finding goes through (e2fsck's fix_problem). The table says, per code,
 * what is wrong, what the fix is called in the question, and whether preen
 * mode may fix it on its own. The mode decides the answer: -n says no, -y
 * yes, -p yes to safe fixes and stops on anything else, and without them
 * the user is asked on a terminal.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"

struct problem {
	enum fsck_code code;
	const char *msg;
	const char *fix; /* the question: "Fix", "Remove", ... */
	int flags;
};

static const struct problem problems[] = {
    {PR_SUPER_MISSING, "no superblock, but a namespace and ino/ are here", "Write a new one", 0},
    {PR_SUPER_CORRUPT, "superblock damaged", "Write a new one with defaults", 0},
    {PR_SUPER_NEWER, "superblock of a newer format", "", PRF_NOFIX},
    {PR_SUPER_KEEP, "superblock retention rule does not parse", "Reset to the default", PRF_PREEN},
    {PR_SUPER_FLUSH, "superblock flush interval is 0", "Reset to 1000 ms", PRF_PREEN},
    {PR_NO_INO_DIR, "ino/ is missing", "Create", PRF_PREEN},
    {PR_NS_MISSING, "the namespace store ns.rev is missing", "", PRF_NOFIX},
    {PR_SUPER_COPY, "one of the two superblocks of an encrypted vault is missing or damaged",
     "Write both anew", PRF_PREEN},
    {PR_STORE_HEADER, "newest header damaged", "Fall back to the newest good version", 0},
    {PR_SEALED_DAMAGE, "sealed store damaged (seen without the key)", "", PRF_NOFIX},
    {PR_STORE_CONTENT, "newest version damaged", "Fall back to the newest good version", 0},
    {PR_STORE_TAIL, "uncommitted tail after the newest header", "Trim", PRF_PREEN},
    {PR_STORE_LOST, "no version checks out", "Salvage the readable pages", 0},
    {PR_STORE_EMPTY, "store never committed", "Remove", PRF_PREEN},
    {PR_STORE_OLD, "older version damaged", "", PRF_INFO},
    {PR_STORE_CHAIN, "version chain broken", "", PRF_INFO},
    {PR_STORE_NEWER, "store of a newer format", "", PRF_NOFIX},
    {PR_STORE_KIND, "store of the wrong kind", "", PRF_NOFIX},
    {PR_NS_UNUSABLE, "the namespace has no version that checks out", "", PRF_NOFIX},
    {PR_STORE_STRAY, "not a store's name", "", PRF_INFO},
    {PR_ROOT_MISSING, "root directory missing", "Recreate", 0},
    {PR_ROOT_BAD, "root directory record wrong", "Fix", 0},
    {PR_INODE_BAD, "inode record damaged", "Clear", 0},
    {PR_DIRENT_DANGLING, "entry names an inode with no record", "Remove entry", 0},
    {PR_DIRENT_PARENT, "entry in something that is not a directory", "Remove entry", 0},
    {PR_DIRENT_TYPE, "entry type differs from its inode's", "Fix", PRF_PREEN},
    {PR_DIRENT_NAME, "entry has an invalid name", "Remove entry", 0},
    {PR_DIR_MULTI, "second entry for a directory", "Remove entry", 0},
    {PR_DIR_PARENT, "directory's parent field wrong", "Fix", PRF_PREEN},
    {PR_DIR_UNREACHABLE, "directory not reachable from the root", "Reconnect to /lost+found", 0},
    {PR_INODE_UNATTACHED, "inode has no entry", "Connect to /lost+found", 0},
    {PR_NLINK, "wrong link count", "Fix", PRF_PREEN},
    {PR_STORE_MISSING, "regular file's store is missing", "Set size to 0", 0},
    {PR_SIZE, "file size past its store's", "Fix", PRF_PREEN},
    {PR_STORE_ORPHAN, "store that no inode names", "Connect to /lost+found", 0},
    {PR_ORPHAN_KEY, "orphan key of a linked or missing inode", "Remove", PRF_PREEN},
    {PR_XATTR_DANGLING, "attributes of a missing inode", "Remove", PRF_PREEN},
    {PR_NEXT_INO, "inode counter missing or too small", "Fix", PRF_PREEN},
    {PR_META_BAD, "unknown or malformed key", "Remove", 0},
    {PR_LOSTFOUND, "/lost+found is not a directory", "", PRF_NOFIX},
    {PR_GRAVE_LIVE, "deleted file's key names a live inode", "Remove", PRF_PREEN},
    {PR_PIN_DANGLING, "pin of a missing inode", "Remove", PRF_PREEN},
    {PR_STORE_BEHIND, "store older than the namespace says", "Take the store's newest version", 0},
    {PR_LINEAGE_BAD, "lineage record of no file, or in a cycle", "Remove", PRF_PREEN},
    {PR_VACATED_BAD, "vacated name of a missing directory", "Remove", PRF_PREEN},
    {PR_ROLLED_BACK, "vault older than its last mount left it", "", PRF_NOFIX},
    {PR_FENCE_BAD, "fence missing or damaged", "Write anew", PRF_PREEN},
    {PR_LEFTOVER_COMPACT, "stale compaction file", "Remove", PRF_PREEN},
    {PR_LEFTOVER_TEMP, "stale temporary file", "Remove", PRF_PREEN},
};

volatile sig_atomic_t fsck_interrupted;

static const struct problem *lookup(enum fsck_code code)
{
	for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
		if (problems[i].code == code)
			return &problems[i];
	abort(); /* every code has a row: the code's own invariant */
}

/* Reads an answer from the terminal: 1 yes, 0 no. */
static int ask(struct fsck *c, const char *fix)
{
	char line[64];

	if (c->yes_all) {
		printf("%s? yes\n", fix);
		return 1;
	}
	for (;;) {
		printf("%s<y>? ", fix);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin) || fsck_interrupted) {
			printf("\n");
			fsck_interrupted = 1;
			return 0;
		}
		if (line[0] == '\n' || line[0] == 'y' || line[0] == 'Y')
			return 1;
		if (line[0] == 'a' || line[0] == 'A') {
			c->yes_all = true;
			return 1;
		}
		if (line[0] == 'n' || line[0] == 'N')
			return 0;
	}
}

bool fsck_problem(struct fsck *c, enum fsck_code code, const char *what, const char *fmt, ...)
{
	const struct problem *p = lookup(code);
	char detail[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	if (!(p->flags & PRF_INFO))
		c->nfound++;
	printf("[%d] %s: %s%s%s", code, what, p->msg, detail[0] ? ": " : "", detail);
	if (p->flags & (PRF_INFO | PRF_NOFIX)) {
		printf(".\n");
		if (p->flags & PRF_NOFIX)
			c->nleft++;
		return false;
	}
	if (c->readonly) {
		printf(". %s? no\n", p->fix);
		c->nleft++;
		return false;
	}
	switch (c->mode) {
	case MODE_YES:
		printf(". %s? yes\n", p->fix);
		return true;
	case MODE_PREEN:
		if (p->flags & PRF_PREEN) {
			printf(". %s: done.\n", p->fix);
			return true;
		}
		printf(".\n\n%s: UNEXPECTED INCONSISTENCY; RUN fsck.revfs MANUALLY.\n"
		       "\t(i.e., without -a or -p options)\n",
		       c->dir);
		fflush(stdout);
		exit(FSCK_UNCORRECTED | (c->nfixed ? FSCK_NONDESTRUCT : 0));
	case MODE_ASK:
		printf(". ");
		if (ask(c, p->fix))
			return true;
		c->nleft++;
		return false;
	case MODE_NO:
		break;
	}
	printf(". %s? no\n", p->fix);
	c->nleft++;
	return false;
}

/*
 * For the interruption test only: FSCK_TEST_STOP_AFTER=N[:int|:term]
 * sends the process SIGKILL (or SIGINT, SIGTERM) right after its N-th
 * repair, a moment a test could not hit with a timer. Unset, it costs one
 * getenv per run. docs/fsck.revfs.8 says it is not for use.
 */
static void test_stop_point(void)
{
	static long left = -1;
	static int sig = SIGKILL;
	const char *env, *colon;

	if (left < 0) {
		env = getenv("FSCK_TEST_STOP_AFTER");
		left = env ? strtol(env, NULL, 10) : 0;
		if (left < 0)
			left = 0;
		colon = env ? strchr(env, ':') : NULL;
		if (colon && !strcmp(colon, ":int"))
			sig = SIGINT;
		else if (colon && !strcmp(colon, ":term"))
			sig = SIGTERM;
		if (left == 0)
			return;
	} else if (left == 0) {
		return;
	}
	if (--left == 0) {
		fflush(stdout);
		raise(sig);
	}
}

void fsck_fixed(struct fsck *c)
{
	c->nfixed++;
	test_stop_point();
}

void fsck_unfixed(struct fsck *c, const char *why)
{
	printf("    could not fix it: %s\n", why);
	c->nleft++;
}

void fsck_error(struct fsck *c, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsck.revfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->exit_extra |= FSCK_ERROR;
}

void fsck_info(struct fsck *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *fsck_bytes(uint64_t n, char buf[32])
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}
