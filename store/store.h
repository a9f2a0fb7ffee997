/*
 * store.h - the public interface of the revfs store engine.
 *
 * A store is one append-only file holding a copy-on-write B+tree and a chain
 * of headers; every header is a commit and a version. Two kinds exist: a file
 * store (page-keyed extents: the bytes of one regular file) and a key-value
 * store (ordered byte-string keys: the namespace). docs/FORMAT.md describes
 * the bytes on disk.
 *
 * This header is all that fs/, mkfs/, fsck/ and tests outside store/ may use.
 * Need something more? Add a function here, do not reach into the structs.
 *
 * Errors: every function returning int returns ST_OK (0) or a negative
 * st_err. The details of the last error of the calling thread (errno of the
 * failing syscall, file offset of a corrupt record) are in st_last_error().
 *
 * Threads: a handle may be used from many threads at once. Readers (get,
 * read, range, versions) never wait for a commit's fdatasync, and neither
 * do key-value puts and deletes. File-store mutations and commits are
 * serialized by the handle's writer lock; compaction's final catch-up takes
 * that same lock, and nothing else of compaction does.
 */
#ifndef REVFS_STORE_H
#define REVFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_store st_store;

enum st_err {
	ST_OK = 0,
	ST_EIO = -1,	   /* a syscall failed; errno in st_last_error() */
	ST_ECORRUPT = -2,  /* bad checksum, length or pointer; offset in st_last_error() */
	ST_ENOMEM = -3,	   /* allocation failed */
	ST_ENOTFOUND = -4, /* no such key, version or file */
	ST_EINVAL = -5,	   /* bad argument */
	ST_EEXIST = -6,	   /* the store already exists */
	ST_ENOSPC = -7,	   /* the backing disk is full */
	ST_EROFS = -8,	   /* the handle is a read-only version or snapshot */
	ST_EVERSION = -9,  /* written by a newer format, or unknown incompat feature */
	ST_EKIND = -10,	   /* a file store used as a key-value store, or the reverse */
	ST_EDELETED = -11, /* the store was deleted while being compacted */
	ST_EBUSY = -12,	   /* a compaction of this store is already running */
	ST_ETOOBIG = -13,  /* key, value or file offset past the format's limits */
	ST_EABORTED = -14, /* compaction stopped by its caller */
	ST_EBEHIND = -15,  /* the store's newest commit is older than st_open_opts.min_seq */
	ST_EKEY = -16,	   /* a sealed store opened without its key, or a plain one with */
};

/* A short English message for an st_err code. Never NULL. */
const char *st_strerror(int err);

/* What went wrong last in the calling thread. */
struct st_error {
	int code;	 /* the st_err returned */
	int sys_errno;	 /* errno of the failing syscall, or 0 */
	uint64_t offset; /* file offset of the bad record for ST_ECORRUPT, else 0 */
	char msg[160];	 /* one line: what, where */
};
const struct st_error *st_last_error(void);

/*
 * The I/O operations table. Every byte the engine reads or writes goes
 * through it, so tests can inject EIO, short writes, ENOSPC and crashes.
 * Each call returns what the syscall returns, with errno set on failure.
 * st_posix_ops is the default.
 */
struct st_ops {
	int (*open)(void *ctx, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, off_t off);
	int (*fdatasync)(void *ctx, int fd);
	int (*fsync)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*fstat)(void *ctx, int fd, struct stat *st);
	int (*stat)(void *ctx, const char *path, struct stat *st);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*fsync_dir)(void *ctx, const char *dir); /* open the directory, fsync it */
	/* Optional (NULL: large writes go through the buffer, one more copy). */
	ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off);
	/* Optional (NULL: a compacted file is owned by the caller). */
	int (*fchown)(void *ctx, int fd, uid_t uid, gid_t gid);
	/* Optional hint (NULL: none): start writing [off, off+len) to the disk
	 * and return without waiting, so that a large commit's data is mostly
	 * on the disk when its fdatasync comes. Errors are ignored: the sync
	 * that follows reports them. */
	int (*writeback)(void *ctx, int fd, off_t off, off_t len);
	/* Optional (NULL: a group commit syncs each store instead): syncfs(2)
	 * of the filesystem holding fd. */
	int (*syncfs)(void *ctx, int fd);
};
extern const struct st_ops st_posix_ops;

enum st_kind {
	ST_KIND_FILE = 1, /* page-keyed extents: a regular file's bytes */
	ST_KIND_KV = 2,	  /* byte-string keys and values: the namespace */
};

/* st_open flags */
#define ST_CREATE   0x1	 /* create the store if it does not exist */
#define ST_EXCL	    0x2	 /* with ST_CREATE: fail with ST_EEXIST if it exists */
#define ST_READONLY 0x4	 /* never write: no tail trim, mutations give ST_EROFS */
#define ST_RECOVER  0x8	 /* skip damaged header-marked blocks instead of failing */
#define ST_NOSYNC   0x10 /* skip fdatasync (tests and benchmarks only) */
/* With ST_CREATE: a new store is not synced at creation; its first commit
 * (which syncs the file and its directory) is its first version. */
#define ST_DEFER 0x20
/* Commits of this handle of at most 8 MiB need one sync: their header,
 * written marked, seals its commit region with a checksum that recovery
 * checks (docs/FORMAT.md, section 3). Such headers carry an incompat
 * feature bit, which older readers refuse; larger commits, and every
 * commit without this flag, flip a marker between two syncs. */
#define ST_ONESYNC 0x40
/* A file store's commits keep a small file's content (at most 3891 bytes)
 * and its attributes in the header, so that such a file takes one block.
 * Such headers carry an incompat feature bit, which older readers refuse;
 * a store that has one keeps writing them, whatever the flags. */
#define ST_INLINE 0x80

#define ST_ID_SIZE 16u /* bytes of a store's identity */

struct st_open_opts {
	const struct st_ops *ops; /* NULL: st_posix_ops */
	void *ops_ctx;		  /* passed to every op */
	/* Commit time source; NULL: CLOCK_REALTIME. Times are made strictly
	 * increasing along a store's chain whatever it returns. */
	uint64_t (*clock)(void *ops_ctx);
	/* The store's identity (ST_ID_SIZE bytes), or NULL. Given, a store
	 * this open creates has it in every header, with each header's own
	 * position (docs/FORMAT.md, section 7), and every header read must
	 * carry it: a header copied from elsewhere is damage. NULL: a store is
	 * created without, and headers that have one are checked for their
	 * position only. */
	const uint8_t *id;
	/* The newest commit the caller knows the store has (0: none). A
	 * one-sync commit up to it whose region does not match its checksum is
	 * damage (ST_ECORRUPT), not a commit a crash tore. A store
	 * whose newest commit is older is refused with ST_EBEHIND before
	 * anything in the file changes: a writable open would otherwise cut
	 * what it takes for a torn tail, and on a filesystem whose client
	 * serves a stale view (a distributed one) that tail is the newer
	 * commits, there for every other reader. */
	uint64_t min_seq;
	/* The store's key (st_key_derive), or NULL. Given, the store is
	 * sealed: a store this open creates seals every record and header
	 * (AES-256-GCM), and one found not sealed is refused with ST_EKEY.
	 * NULL: a sealed store is refused with ST_EKEY. The key is copied. */
	const struct st_key *key;
};

/*
 * Opens (or with ST_CREATE creates) the store at path, of the given kind.
 * Finds the newest committed header by scanning back from the end of the
 * file; a torn tail after it is ignored, and trimmed unless ST_READONLY.
 * A header-marked block with a bad checksum is ST_ECORRUPT, unless
 * ST_RECOVER is given, in which case the scan goes on to an older header.
 * opts may be NULL. Returns ST_OK and *out, or an error (ST_ENOTFOUND,
 * ST_EEXIST, ST_ECORRUPT, ST_EVERSION, ST_EKIND, ST_EIO, ST_ENOMEM).
 */
int st_open(const char *path, enum st_kind kind, int flags, const struct st_open_opts *opts,
	    st_store **out);

/*
 * Closes the handle. Uncommitted changes are dropped (they were never
 * durable). Versions opened from it stay usable until they are closed.
 */
void st_close(st_store *st);

/* Per-commit information: what a version shows of itself. */
struct st_version {
	uint64_t seq;	   /* commit sequence number, strictly increasing */
	uint64_t time_ns;  /* wall-clock time of the commit */
	uint64_t size;	   /* file size as of the commit (0 for key-value) */
	uint64_t mtime_ns; /* file mtime as of the commit (0 for key-value) */
	uint64_t offset;   /* file offset of the header (informational) */
	uint64_t bytes;	   /* live bytes of the version: its data and tree nodes */
	bool interim;	   /* an interim commit, not a save (st_set_commit_kind) */
	uint64_t meta;	   /* where its attributes are (st_version_meta); 0: none */
};

/* What a commit is: a save (a version people see), or an interim commit
 * that bounds what a crash loses and gives way to the next save. */
enum st_commit_kind { ST_SAVE = 0, ST_INTERIM = 1 };
/*
 * The kind of the next commit (ST_SAVE unless set; back to ST_SAVE after
 * each commit). Interim commits are listed by st_versions (flagged) but
 * count for no retention rule: compaction keeps one only if it is the
 * newest or pinned.
 */
void st_set_commit_kind(st_store *st, enum st_commit_kind kind);

/*
 * Commits every change staged since the last commit: appends the tree
 * nodes and the header, fdatasync, flips the header's marker byte,
 * fdatasync (a group commit of one store); with ST_ONESYNC and a commit
 * of at most 8 MiB, appends the header already marked and makes one
 * fdatasync. Commits even when nothing changed (a new version). On an
 * error before the marker flip (one-sync: before its sync returned), the
 * store stays at its previous version; a
 * file store's staged changes are dropped, a key-value store's are kept so
 * that the next commit retries them (st_rollback drops them). An error at or after the flip (the
 * second fdatasync failed and the flip could not be undone) leaves the
 * outcome undetermined, as with fsync(2): after a reopen the store is at
 * either version, each complete. If out is not NULL it receives the new
 * version.
 */
int st_commit(st_store *st, struct st_version *out);

/* How a group commit makes its stores durable at each of its two sync points. */
enum st_group_sync {
	ST_SYNC_EACH = 0, /* each store's fdatasync (and a new store's directory fsync) */
	ST_SYNC_FS = 1,	  /* one syncfs(2) of the filesystem the stores are on: cheaper
			   * for many stores; each store's own syncs if the ops have none */
};

/* The steps of a group commit, for st_group_opts.hook. */
enum st_group_step {
	ST_GROUP_WRITTEN = 1, /* every commit written (writer locks held), nothing synced */
	ST_GROUP_SYNCED = 2,  /* ... and durable; no marker flipped yet */
	ST_GROUP_FLIPPED = 3, /* every marker flipped, not yet synced, nothing published */
	ST_GROUP_DURABLE = 4, /* ... and synced; published next */
};

struct st_group_opts {
	enum st_group_sync sync;
	/* Tests: called after each step, every store of the group still locked;
	 * a non-zero return drops the commits not yet published (ST_EABORTED).
	 * NULL: none. */
	int (*hook)(void *arg, enum st_group_step step);
	void *hook_arg;
};

/*
 * Commits the changes staged on n stores together, sharing their syncs:
 * each store's commit is written under its writer lock (taken in array
 * order and held to the end), then all are made durable, all markers
 * flipped, all made durable again (one-sync commits skip these two
 * steps, and the second sync point is left out when no store flipped),
 * and each version published and its
 * lock released. rcs[i] receives store i's result, as st_commit would
 * give it (a store failing at any step is rolled back alone; the others go
 * on; a failed syncfs fails every store still in the group). If out is not
 * NULL, out[i] receives each new version. o may be NULL (ST_SYNC_EACH).
 * Returns the number of stores committed.
 */
size_t st_commit_group(st_store *const *sts, size_t n, const struct st_group_opts *o, int *rcs,
		       struct st_version *out);

/* Drops every change staged since the last commit. */
void st_rollback(st_store *st);

/* The newest committed version of the handle (or the version it was opened at). */
void st_current(st_store *st, struct st_version *out);

/* Space accounting from the newest commit's reduce values; no scan. */
struct st_info {
	enum st_kind kind;
	uint64_t file_bytes;	  /* size of the store file */
	uint64_t committed_bytes; /* the file up to the newest header's end: what
				   * follows (a commit under way, a reserve of
				   * zeros) is not part of any version */
	uint64_t live_bytes;	  /* bytes reachable from the newest version */
	uint64_t entries;	  /* extents (file) or keys (key-value) */
	double fragmentation;	  /* 1 - live/committed bytes (the file up to the
				   * newest header's end), in [0, 1] */
	uint64_t seq;		  /* newest seq */
	bool has_id;		  /* the newest header names the store's identity */
	uint8_t id[ST_ID_SIZE];	  /* ... which is this */
	/* The open passed over a torn one-sync commit whose header is at this
	 * offset (its region does not match its checksum): a crash came before
	 * its sync, or its bytes were damaged. UINT64_MAX: none. */
	uint64_t torn_at;
};
int st_info(st_store *st, struct st_info *out);

/*
 * The bytes after the newest header (*len), and whether they are all
 * zeros (*zeros): a writer's reserve (docs/FORMAT.md, section 2), which
 * holds nothing, rather than the start of a commit a crash cut short
 * (records begin with a length and a checksum). Reads them. ST_OK, or
 * ST_EIO.
 */
int st_tail(st_store *st, uint64_t *len, bool *zeros);

/* ---- file stores ---------------------------------------------------- */

#define ST_PAGE_SIZE	 4096u
#define ST_MAX_FILE_SIZE (1ull << 52) /* 4 PiB: page numbers fit comfortably */

/*
 * Stages a write of len bytes at off. Whole pages become one extent record
 * per run (at most ST_EXTENT_PAGES pages each); partial pages at either end
 * are merged with the bytes already there. Extends the size if the write
 * ends past it. The data is appended now and becomes visible at commit.
 */
int st_file_write(st_store *st, uint64_t off, const void *buf, size_t len);

/* Stages a new size: truncating down drops pages past it, up leaves a hole. */
int st_file_truncate(st_store *st, uint64_t size);

/*
 * Stages a hole over bytes [off, off + len), cut at the size (which stays):
 * they read as zeros from the commit on. Whole pages leave the tree and
 * take no room; the partial pages at either end are rewritten with those
 * bytes zeroed. ST_OK, ST_EROFS, ST_EKIND, ST_ETOOBIG, or a write error.
 */
int st_file_punch(st_store *st, uint64_t off, uint64_t len);

/* Stages the mtime to record with the next commit. */
int st_file_set_mtime(st_store *st, uint64_t mtime_ns);

/*
 * A file's attributes: bytes the store keeps with each version and does
 * not interpret (their layout belongs to the user of the store: the
 * namespace library encodes the owner, mode and xattrs). st_file_set_meta
 * stages them for the next commit, which writes them only if they differ
 * from the newest commit's; every later commit names the same record until
 * they change. Compaction keeps each kept version's. ST_ETOOBIG past
 * ST_META_MAX bytes.
 */
#define ST_META_MAX ((8u << 20) - 4u)
int st_file_set_meta(st_store *st, const void *buf, size_t len);
/* The attributes of the newest commit (or of a version's handle), or of
 * version v: *buf malloc()ed, or NULL with *len 0 when it has none (a
 * store or commit made before they were kept). ST_ECORRUPT if damaged. */
int st_file_meta(st_store *st, void **buf, size_t *len);
int st_version_meta(st_store *st, const struct st_version *v, void **buf, size_t *len);

/*
 * Reads up to len bytes at off from the newest committed version (or the
 * handle's version). Holes read as zeros; nothing is read past the size.
 * Returns the number of bytes read (0 at or past the end), or an st_err.
 */
ssize_t st_file_read(st_store *st, uint64_t off, void *buf, size_t len);

/* Size of the file with the staged changes (what the next commit records). */
uint64_t st_file_size(st_store *st);

/*
 * Finds the next data (whence SEEK_DATA) or hole (SEEK_HOLE) at or after
 * off in the committed version, at page granularity. Returns the offset,
 * or ST_ENOTFOUND when off is at or past the end (as lseek's ENXIO).
 */
int64_t st_file_seek(st_store *st, uint64_t off, int whence);

/* ---- key-value stores ----------------------------------------------- */

#define ST_MAX_KEY   1024u
#define ST_MAX_VALUE (256u * 1024u)

/* Stages key = value (insert or overwrite). Visible to st_kv_get at once. */
int st_kv_put(st_store *st, const void *key, size_t klen, const void *val, size_t vlen);

/* Stages the removal of key. Removing a missing key is not an error. */
int st_kv_del(st_store *st, const void *key, size_t klen);

/*
 * Looks key up: staged changes first, then the newest commit. On ST_OK,
 * *val is a malloc()ed copy the caller frees, *vlen its length.
 * ST_ENOTFOUND if absent.
 */
int st_kv_get(st_store *st, const void *key, size_t klen, void **val, size_t *vlen);

/*
 * Calls cb for every key starting with prefix, in key order, including
 * staged changes. cb returns 0 to go on, anything else to stop (which is
 * then returned). The buffers are valid only during the call.
 */
typedef int (*st_kv_cb)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);
int st_kv_range(st_store *st, const void *prefix, size_t plen, st_kv_cb cb, void *arg);

/* ---- versions --------------------------------------------------------- */

/*
 * Calls cb for each version, newest first, following the header chain.
 * cb returns 0 to go on. A damaged header ends the walk with ST_ECORRUPT.
 */
typedef int (*st_version_cb)(void *arg, const struct st_version *v);
int st_versions(st_store *st, st_version_cb cb, void *arg);
/* The same walk into an array (malloc()ed, newest first; free it). On an
 * error, *v and *n hold the versions walked before it, which is returned. */
int st_versions_list(st_store *st, struct st_version **v, size_t *n);

/*
 * Opens version seq (or, by time, the newest version committed at or before
 * time_ns) as a read-only handle sharing the store's open file. Close it
 * with st_close(). ST_ENOTFOUND if no such version is kept.
 */
int st_open_version(st_store *st, uint64_t seq, st_store **out);
int st_open_at_time(st_store *st, uint64_t time_ns, st_store **out);
/* st_open_version() of v, as st_versions() gave it: straight to the header
 * at v->offset when it is still that version's, without walking the chain
 * (else as st_open_version). */
int st_open_version_at(st_store *st, const struct st_version *v, st_store **out);

/*
 * Checks the handle's newest version: its header, every tree node (order,
 * levels, reduce values, pointers) and every data record head it
 * references; with ST_CHECK_DATA also every data page's checksum and each
 * one-sync commit's region checksum, with
 * ST_CHECK_ALL every version in the chain, not just the newest (subtrees
 * and data that versions share are read and verified once in that walk).
 * Memory, for the call: about 100 bytes per node and data record reached
 * and 4 per data page. Returns ST_OK or the first problem (ST_ECORRUPT with its offset in
 * st_last_error()), or ST_ENOMEM or ST_EIO.
 */
#define ST_CHECK_DATA 0x1
#define ST_CHECK_ALL  0x2
int st_check(st_store *st, int flags);

/* What st_check_sealed_file saw. */
struct st_raw_report {
	uint64_t headers, records, pages; /* checked, up to the newest header */
	uint64_t end;			  /* the newest header's end: after it, a tail */
	uint64_t file_bytes;
};
/*
 * Checks a sealed store without its key: the markers, the record lengths
 * and the crcs over the sealed bytes (every header's, record's and data
 * page's) from the start of the file to the end of its newest header.
 * Nothing is authenticated, and a torn one-sync commit (whose checksum is
 * sealed) looks like damage. ST_OK; ST_ECORRUPT with the offset; ST_EIO.
 */
int st_check_sealed_file(const char *path, struct st_raw_report *r);

/*
 * Makes version seq the newest version of the store (fsck's repair of a
 * store whose newer versions or tail are damaged). The file's bytes up to
 * the end of that version's header are copied into "<path>.fsck", which is
 * synced, renamed over the store, and the directory synced: a crash leaves
 * the old file or the new one, each whole; a leftover "<path>.fsck" is
 * stale. Every newer version and any tail are gone from the new file.
 * st must be read-only (ST_READONLY, with ST_RECOVER if its newest headers
 * are damaged) and nothing else may write the store meanwhile; it keeps
 * reading the old file, so close it and reopen the store afterwards.
 * Returns ST_OK, ST_EINVAL (writable handle), ST_ENOTFOUND (no such
 * version in the chain), ST_ECORRUPT (the chain is damaged above it),
 * ST_EDELETED (the name no longer refers to the open file), ST_EIO,
 * ST_ENOSPC, ST_ENOMEM.
 */
int st_rewind(st_store *st, uint64_t seq);

/* ---- retention and compaction ----------------------------------------- */

#define ST_MAX_TIERS 8

/*
 * Which versions compaction keeps. A version is kept if any rule keeps it:
 *  - it is among the newest min_count versions (at least 1 is always kept);
 *  - it is younger than all_ns;
 *  - a tier {interval_ns, span_ns} keeps, for versions younger than span_ns,
 *    the newest version of each interval_ns-wide time slot;
 *  - its seq is pinned.
 * A cut (cut_ns, 0: none) overrides the first three: a version older than
 * it is kept only if pinned or the newest. The compactor sets it when the
 * disk runs short or history is over its budget.
 */
struct st_retention {
	uint32_t min_count;
	uint64_t all_ns;
	uint64_t cut_ns; /* wall-clock time; older versions go, pins aside */
	uint32_t ntiers;
	struct {
		uint64_t interval_ns;
		uint64_t span_ns;
	} tiers[ST_MAX_TIERS];
	const uint64_t *pins;
	size_t npins;
};

/* Which of versions v[0..n) (newest first) rule r keeps at time now, as
 * compaction decides (interim ones only if newest or pinned), into keep. */
void st_retention_keep(const struct st_retention *r, uint64_t now, const struct st_version *v,
		       size_t n, bool *keep);

/* Parses "all:1h,hourly:1d,daily:30d,min:10" or "latest". ST_EINVAL if bad. */
int st_retention_parse(const char *text, struct st_retention *out);
/* Writes the canonical text of r into buf (size len). */
int st_retention_format(const struct st_retention *r, char *buf, size_t len);

/* Progress points of a compaction, reported to the hook (tests, stats). */
enum st_compact_step {
	ST_STEP_COPY = 1,     /* the unlocked copy is done */
	ST_STEP_CATCHUP = 2,  /* one unlocked catch-up pass is done */
	ST_STEP_LOCKED = 3,   /* the writer lock is held, final catch-up begins */
	ST_STEP_SYNCED = 4,   /* the handle uses the new file (lock released), synced */
	ST_STEP_RENAMED = 5,  /* the new file has the store's name */
	ST_STEP_SWITCHED = 6, /* and the directory is synced */
	ST_STEP_PROGRESS = 7, /* a batch of the copy was written (often): a hook can stop early */
};

struct st_compact_opts {
	const struct st_retention *keep; /* NULL: keep only the newest version */
	unsigned max_passes;		 /* unlocked catch-up passes at most; 0: 16 */
	uint64_t now_ns;		 /* 0: the clock (retention ages) */
	/* Called at each step; a non-zero return aborts (ST_EABORTED). From
	 * ST_STEP_SYNCED on, the handle is on the new file: the compaction
	 * then completes and still returns ST_EABORTED. */
	int (*hook)(void *arg, enum st_compact_step step);
	void *hook_arg;
	/* Rate limit in bytes per second of the copy of the versions there
	 * at the start; 0: none. The catch-up, which copies what writers
	 * wrote meanwhile, is not limited: it might never catch up. */
	uint64_t rate_bps;
	/* Seal the new file under this key: a plain store comes out sealed,
	 * every kept version with it (ST_EINVAL if it is sealed already).
	 * NULL: as it was. */
	const struct st_key *seal;
};

struct st_compact_stats {
	uint64_t bytes_before;	  /* committed bytes when compaction began */
	uint64_t bytes_after;	  /* size of the new file */
	uint64_t bytes_copied;	  /* ... once the kept versions were copied, before the
				   * commits made meanwhile were replayed */
	uint64_t versions_before; /* versions in the chain at the start */
	uint64_t versions_kept;	  /* versions in the new file */
	unsigned passes;	  /* unlocked catch-up passes run */
	uint64_t lock_hold_ns;	  /* time the final catch-up held the writer lock */
	uint64_t copied_bytes;	  /* live data bytes copied */
	/* When the rule kept every version there was at the start: how long
	 * from then on it will go on keeping every version, so that another
	 * compaction could drop none (the oldest is younger than its "all"
	 * window until then). 0 if it dropped some, or cannot say. Set by
	 * st_compact_estimate too. */
	uint64_t quiet_ns;
	/* st_compact_estimate: dropped versions that history/ lists (saves,
	 * the newest). */
	uint64_t listed_dropped;
};

/*
 * Compacts the store while it stays open and in use: copies the versions
 * keep retains, up to the newest header, into "<path>.compact" with no lock
 * held; replays newer commits in a bounded number of unlocked passes; then,
 * under the writer lock, replays the rest (and any staged changes) and
 * switches the handle to the new file; then, with no lock, syncs it,
 * renames it over the store and syncs the directory. A commit that comes
 * after the switch waits for the rename before its flip.
 * A stale "<path>.compact" is removed first. If the store is deleted
 * meanwhile, returns ST_EDELETED and leaves nothing behind. On any error
 * the store is untouched and the temporary file removed.
 * stats may be NULL.
 */
int st_compact(st_store *st, const struct st_compact_opts *opts, struct st_compact_stats *stats);
/*
 * What st_compact with these options would leave, without writing
 * anything (a read-only handle will do): bytes_before, bytes_after (the
 * data pages the kept versions use, exactly; trees and headers in
 * proportion to the versions kept), versions_before, versions_kept and
 * listed_dropped. ST_OK, or the store's read errors.
 */
int st_compact_estimate(st_store *st, const struct st_compact_opts *opts,
			struct st_compact_stats *stats);

/* Path of the store file the handle has open. */
const char *st_path(st_store *st);

/* ---- for the libraries built on the engine (ns/) ------------------------ */

/* Records the calling thread's last error (st_last_error) and returns code. */
int st_fail(int code, int sys_errno, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a failed write's errno to ST_ENOSPC or ST_EIO, recorded as "what path: ...". */
int st_fail_errno(int sys_errno, const char *what, const char *path);
/* ST_ENOMEM, recorded. */
int st_fail_oom(void);

/* CLOCK_REALTIME in ns: what is recorded (commit and inode times). */
uint64_t st_realtime_ns(void);
/* CLOCK_MONOTONIC in ns: durations and deadlines. */
uint64_t st_monotonic_ns(void);

/* CRC32C (Castagnoli) of buf, continuing crc (0 to start). */
uint32_t st_crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- crypto.c: OpenSSL's EVP, the one home of the project's cryptography */

#define ST_KEY_SIZE	 32u /* AES-256 */
#define ST_NONCE_SIZE	 12u /* GCM's 96-bit nonce, random per sealing */
#define ST_TAG_SIZE	 16u
#define ST_SEAL_OVERHEAD (ST_NONCE_SIZE + ST_TAG_SIZE)

struct st_key {
	uint8_t k[ST_KEY_SIZE];
};

/* n bytes from OpenSSL's random generator. ST_OK or ST_EIO. */
int st_random(void *buf, size_t n);
/* HKDF-SHA256 (RFC 5869) of ikm with salt and info: outlen bytes. */
int st_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
	    const void *info, size_t infolen, uint8_t *out, size_t outlen);
/* The key of the store whose identity is id: HKDF-SHA256 with the master
 * key, the given salt (the vault's uuid) and the info "revfs store key v1"
 * followed by id (docs/FORMAT.md). ST_OK or ST_EIO. */
int st_key_derive(const uint8_t master[ST_KEY_SIZE], const uint8_t *salt, size_t saltlen,
		  const uint8_t id[ST_ID_SIZE], struct st_key *out);
/* A 32-byte key from a passphrase: scrypt (N, r, p), or PBKDF2 with
 * HMAC-SHA256 and iter iterations. ST_OK, or ST_EIO (parameters OpenSSL
 * refuses, such as an N that is not a power of 2, or too much memory). */
int st_kdf_scrypt(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen, uint64_t n,
		  uint32_t r, uint32_t p, uint8_t out[ST_KEY_SIZE]);
int st_kdf_pbkdf2(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen,
		  uint64_t iter, uint8_t out[ST_KEY_SIZE]);
int st_sha256(const void *buf, size_t len, uint8_t out[32]);
/* Seals len bytes of in under k, bound to aad (AES-256-GCM with a random
 * nonce): writes the nonce, the ciphertext and the tag, len +
 * ST_SEAL_OVERHEAD bytes, to out. ST_OK or ST_EIO. */
int st_seal(const struct st_key *k, const void *aad, size_t aadlen, const void *in, size_t len,
	    uint8_t *out);
/* Opens what st_seal wrote (len bytes) into out (len - ST_SEAL_OVERHEAD
 * bytes, not overlapping in). ST_OK; ST_ECORRUPT if it fails
 * authentication (other key, other aad, changed bytes), with no error
 * recorded: the caller says where; ST_EIO. */
int st_unseal(const struct st_key *k, const void *aad, size_t aadlen, const uint8_t *in, size_t len,
	      void *out);

/* Byte order: every integer on disk is big-endian, through these. */
static inline void st_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void st_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void st_put64(uint8_t *p, uint64_t v)
{
	st_put32(p, (uint32_t)(v >> 32));
	st_put32(p + 4, (uint32_t)v);
}
static inline uint16_t st_get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t st_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t st_get64(const uint8_t *p)
{
	return (uint64_t)st_get32(p) << 32 | st_get32(p + 4);
}

#ifdef __cplusplus
}
#endif

#endif /* REVFS_STORE_H */
