/*
 * fsck.h - the private header of fsck.revfs: the state the passes share,
 * the pass table's entry, and the problem codes reported through the one
 * fsck_problem(). Uses store/store.h only, like every tool.
 */
#ifndef REVFS_FSCK_H
#define REVFS_FSCK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ns.h"

/* fsck(8) exit status bits. */
#define FSCK_OK		 0
#define FSCK_NONDESTRUCT 1 /* errors corrected */
#define FSCK_UNCORRECTED 4 /* errors left */
#define FSCK_ERROR	 8 /* operational error */
#define FSCK_USAGE	 16
#define FSCK_CANCELED	 32

enum fsck_mode {
	MODE_ASK,   /* ask on a terminal; no terminal: like MODE_NO */
	MODE_NO,    /* -n: change nothing */
	MODE_YES,   /* -y: repair everything it can */
	MODE_PREEN, /* -p, -a: repair what is safe, stop on anything else */
};

/*
 * Problem codes: pass number times 100 plus a number. The table in
 * problem.c holds each one's message and flags; docs/fsck.revfs.8 lists
 * them. Codes are never renumbered.
 */
enum fsck_code {
	PR_SUPER_MISSING = 101,	   /* no superblock, but ns.rev and ino/ are there */
	PR_SUPER_CORRUPT = 102,	   /* bad crc, size or field */
	PR_SUPER_NEWER = 103,	   /* newer format or unknown incompat bit */
	PR_SUPER_KEEP = 104,	   /* its retention rule does not parse */
	PR_SUPER_FLUSH = 105,	   /* flush interval 0 */
	PR_NO_INO_DIR = 106,	   /* ino/ is missing */
	PR_NS_MISSING = 107,	   /* ns.rev is missing */
	PR_SUPER_COPY = 108,	   /* an encrypted vault's superblock copy damaged */
	PR_STORE_HEADER = 201,	   /* newest header(s) damaged; an older one is good */
	PR_STORE_CONTENT = 202,	   /* newest version's tree or data damaged */
	PR_STORE_TAIL = 203,	   /* uncommitted bytes after the newest header */
	PR_STORE_LOST = 204,	   /* no version checks out: contents salvaged */
	PR_STORE_EMPTY = 205,	   /* a store never committed (empty file) */
	PR_STORE_OLD = 206,	   /* an older version is damaged (reported by seq) */
	PR_SEALED_DAMAGE = 212,	   /* a sealed store's bytes damaged, seen without the key */
	PR_STORE_CHAIN = 207,	   /* the version chain breaks below some seq */
	PR_STORE_NEWER = 208,	   /* a store of a newer format */
	PR_STORE_KIND = 209,	   /* a store of the wrong kind */
	PR_NS_UNUSABLE = 210,	   /* the namespace has no version that checks out */
	PR_STORE_STRAY = 211,	   /* a file in ino/ that is not a store's name */
	PR_ROOT_MISSING = 301,	   /* no root directory */
	PR_ROOT_BAD = 302,	   /* the root is not a directory or its parent is not 1 */
	PR_INODE_BAD = 303,	   /* an inode record that does not decode */
	PR_DIRENT_DANGLING = 304,  /* an entry names an inode with no record */
	PR_DIRENT_PARENT = 305,	   /* an entry in something that is not a directory */
	PR_DIRENT_TYPE = 306,	   /* an entry's type differs from its inode's */
	PR_DIRENT_NAME = 307,	   /* an entry's name is not a valid name */
	PR_DIR_MULTI = 308,	   /* a directory with more than one entry */
	PR_DIR_PARENT = 309,	   /* a directory's parent field disagrees with its entry */
	PR_DIR_UNREACHABLE = 310,  /* a directory not reachable from the root (cycle) */
	PR_INODE_UNATTACHED = 311, /* an inode with no entry, not an orphan */
	PR_NLINK = 312,		   /* wrong link count */
	PR_STORE_MISSING = 313,	   /* a regular file's store is gone */
	PR_SIZE = 314,		   /* a file's size is past its store's */
	PR_STORE_ORPHAN = 315,	   /* a store no inode names */
	PR_ORPHAN_KEY = 316,	   /* an orphan key of a linked or missing inode */
	PR_XATTR_DANGLING = 317,   /* attributes of a missing inode */
	PR_NEXT_INO = 318,	   /* the inode counter is missing or too small */
	PR_META_BAD = 319,	   /* an unknown or malformed key */
	PR_LOSTFOUND = 320,	   /* lost+found is missing or not a directory */
	PR_GRAVE_LIVE = 321,	   /* a graveyard key of an inode that has a record */
	PR_PIN_DANGLING = 322,	   /* a pin of a missing inode or a non-file */
	PR_STORE_BEHIND = 323,	   /* a store older than its inode record says */
	PR_LINEAGE_BAD = 324,	   /* a lineage record of no file, or in a cycle */
	PR_VACATED_BAD = 325,	   /* a vacated name in something not a directory */
	PR_ROLLED_BACK = 326,	   /* the namespace is older than the fence says */
	PR_FENCE_BAD = 327,	   /* revfs.fence missing, damaged or of another vault */
	PR_LEFTOVER_COMPACT = 401, /* a stale <store>.compact */
	PR_LEFTOVER_TEMP = 402,	   /* a stale <store>.fsck or revfs.super.tmp */
};

/* Problem flags. */
#define PRF_PREEN 0x1 /* safe to fix in preen mode (-p) */
#define PRF_INFO  0x2 /* reported, nothing to fix, does not change the exit status */
#define PRF_NOFIX 0x4 /* reported, cannot be fixed: an error left */

/* One file store found under ino/. */
struct fstore {
	uint64_t ino;
	bool usable;	 /* it opens and its newest version checks out */
	bool removed;	 /* pass 2 removed it (empty or never committed) */
	bool referenced; /* pass 3: a regular file's record names it */
	uint64_t size;	 /* newest version's size */
	uint64_t mtime_ns;
	uint64_t seq;	/* newest version's seq */
	uint64_t bytes; /* newest version's live bytes */
};

struct fsck {
	const char *dir;
	enum fsck_mode mode;
	bool force, verbose, progress;
	int progress_fd; /* -C N with N > 0: machine-readable lines to fd N */
	bool mounted;	 /* the lock is held by someone else: check only */
	bool readonly;	 /* nothing may be written */
	bool yes_all;	 /* MODE_ASK: the user answered "a" */
	int lockfd;

	struct ns_super sb;
	bool sb_ok;		      /* sb holds a superblock that decoded */
	struct ns_secret_src key_src; /* an encrypted vault's passphrase or key file */
	bool no_key;		      /* --no-key, or no key and no terminal: see nokey_check */

	struct fstore *stores; /* sorted by ino */
	size_t nstores, cap;
	bool ns_ok; /* ns.rev opened and its newest version checks out */

	/* summary */
	uint64_t nfound, nfixed, nleft;
	uint64_t versions, live_bytes, file_bytes;
	bool fatal;	/* stop after this pass */
	int exit_extra; /* FSCK_ERROR for operational errors */
};

extern volatile sig_atomic_t fsck_interrupted;

/*
 * Reports problem code about what (a path or an inode), with an optional
 * detail line (printf format). Returns true if it is to be fixed now. The
 * caller then fixes it and calls fsck_fixed(), or fsck_unfixed() if the
 * fix failed. Counts every problem for the summary and exit status.
 */
bool fsck_problem(struct fsck *c, enum fsck_code code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fsck_fixed(struct fsck *c);
void fsck_unfixed(struct fsck *c, const char *why);
/* An operational error (not a problem of the filesystem). */
void fsck_error(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Informational line, shown with -v. */
void fsck_info(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress: done out of total in the running pass. */
void fsck_progress(struct fsck *c, int pass, uint64_t done, uint64_t total);
/* Human-readable byte count into buf. */
const char *fsck_bytes(uint64_t n, char buf[32]);

/* A pass: returns 0 to go on, -1 to stop (c->fatal says why). */
struct fsck_pass {
	const char *name;
	int (*run)(struct fsck *c);
};

int pass1_super(struct fsck *c);
int pass2_stores(struct fsck *c);
int pass3_namespace(struct fsck *c);
int pass4_leftovers(struct fsck *c);

struct fstore *fsck_store_find(struct fsck *c, uint64_t ino);

/* The whole program but for its signal handlers: parses argv as
 * fsck.revfs does, runs the passes, returns the exit status. main() calls
 * it; the fuzz target calls it once per input. */
int fsck_run(int argc, char **argv);

#endif /* REVFS_FSCK_H */
