/*
 * revfs.h - private to fs/: the daemon's shared structures and the functions
 * its files offer each other.
 *
 * Locks, in the order they are taken:
 *   fs->ns_lock     the namespace store's staged changes, the inode table,
 *                   every inode's nlookup/refs, the next inode number
 *   inode->lock     the inode's attributes, dirty sets and store handle
 *   fs->flush_lock  the dirty list, flush generations, dirty byte count,
 *                   the flusher's and writers' timing counters
 *   fs->compact_lock a leaf: the compaction queue and counters; nothing
 *                   else is taken while it is held
 * A store's own locks come after all of these. Nothing holds an inode lock
 * across a sync that writers wait for: the flusher commits with none held.
 */
#ifndef REVFS_FS_H
#define REVFS_FS_H

#define FUSE_USE_VERSION 312 /* 3.12: the loop config API */

#include <fuse_lowlevel.h>
#include <limits.h>
#include <time.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ns.h"

/* ---- dirty.c: the bytes written since the last flush of one file ----- */

struct dext {
	uint64_t off;
	uint8_t *buf;
	size_t len, cap;
};

/* A range of bytes punched out: [off, end). */
struct dhole {
	uint64_t off, end;
};

/* Extents sorted by offset, not overlapping (they may touch: an append
 * past the extent size cap starts a new one). The set means: the
 * truncate, then the holes, then the extents, in that order; a punch
 * drops the extents' bytes it covers, so every byte an extent holds is
 * newer than any hole under it. */
struct dset {
	struct dext *v;
	size_t n, cap;
	uint64_t trunc;	 /* lowest size truncated to since the set began; UINT64_MAX none */
	uint64_t bytes;	 /* sum of extent lengths */
	struct dhole *h; /* holes punched since the set began: sorted, apart */
	size_t nh, hcap;
};

void dset_init(struct dset *d);
void dset_release(struct dset *d);
bool dset_empty(const struct dset *d);
/* Records a write; 0 or -ENOMEM (the set is unchanged then). */
int dset_write(struct dset *d, uint64_t off, const void *buf, size_t len);
/* Records a truncate to size: drops what lies past it. */
void dset_truncate(struct dset *d, uint64_t size);
/* Records a hole over [off, end): drops the bytes there. 0 or -ENOMEM
 * (the set then holds the same bytes as before, some maybe split). */
int dset_punch(struct dset *d, uint64_t off, uint64_t end);
/* Lays the set over buf, which holds [off, off+len) as the set found it:
 * zeros where it punched holes, then its bytes, all below limit. */
void dset_overlay(const struct dset *d, uint64_t off, uint8_t *buf, size_t len, uint64_t limit);
/* First offset >= off inside an extent, or UINT64_MAX. */
uint64_t dset_next_data(const struct dset *d, uint64_t off);
/* End of the extent holding off, or off if none does. */
uint64_t dset_data_end(const struct dset *d, uint64_t off);
/* Stages the set in a file store: the truncate, the holes, the writes. st_err. */
int dset_apply(const struct dset *d, st_store *st);
/* Whether the set changes anything below at (a truncate counts). */
bool dset_has_below(const struct dset *d, uint64_t at);
/* Moves what lies at or past at (extents, holes) to *tail, a new set; the
 * truncate stays in d. 0, or -ENOMEM with d unchanged. */
int dset_split(struct dset *d, uint64_t at, struct dset *tail);
/* older then newer, as one set, into *newer; 0, or -ENOMEM with newer
 * intact and older partly merged (still the same bytes laid over newer). */
int dset_merge_under(struct dset *newer, struct dset *older);

/* A growing list of numbers (inodes, seqs), for the namespace's list
 * callbacks: push returns 0 or ST_ENOMEM, as such a callback does. */
struct u64s {
	uint64_t *v;
	size_t n, cap;
};

static inline int u64s_push(struct u64s *l, uint64_t x)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return ST_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = x;
	return 0;
}

/* ---- inodes -------------------------------------------------------------- */

/* The generation of every inode the kernel is given: numbers are never
 * reused. Part of the handles open_by_handle_at() takes (push.c). */
#define INO_GENERATION 1

/* Bytes [lo, hi) of a file that a WRITE of the kernel's writeback passed
 * over, past the file's end as the daemon knew it (push.c). */
struct wb_gap {
	uint64_t lo, hi;
	uint64_t seen_ns; /* st_monotonic_ns() then */
};
#define WB_GAPS 8 /* per file; more are merged */

struct inode {
	uint64_t ino;
	/* fs->ns_lock */
	uint64_t nlookup;    /* the kernel's references (lookup count) */
	unsigned refs;	     /* requests and the flusher using the inode */
	struct inode *hnext; /* hash chain */

	pthread_mutex_t lock;
	/* lock (and fs->ns_lock too to change nlink) */
	struct ns_inode a;	 /* current attributes; a.size includes dirty writes */
	char *target;		 /* a symlink's target (set at creation, never changed) */
	uint32_t nopen;		 /* open file handles */
	bool attr_dirty;	 /* a differs from the namespace record */
	bool removed;		 /* no links and no opens: store and record are gone */
	bool flushing;		 /* the flusher is committing flush */
	bool compacting;	 /* the compactor is using st: it stays open */
	st_store *st;		 /* the file store, or NULL while not open */
	struct dset dirty;	 /* written since the flusher last took the set */
	struct dset flush;	 /* being committed by the flusher */
	uint64_t committed;	 /* file size as of the store's newest commit */
	int64_t committed_mtime; /* mtime as of the store's newest commit */
	/* The store's newest commit seq as far as the namespace knows (the
	 * record's store_seq, 0: no store yet): a store found older is damage. */
	uint64_t committed_seq;
	uint64_t committed_bytes; /* live bytes of that commit (st_blocks) */
	/* Versions are saves: a commit is one if an fsync asked for it, the
	 * last writer closed, or save_s passed since the last save with the
	 * file kept open and written; else it is interim. */
	bool save_wanted;      /* the next commit is a save */
	bool last_interim;     /* the store's newest commit is interim */
	uint32_t nwrite;       /* open handles that may write */
	uint64_t last_save_ns; /* when the last save was committed (or loaded) */
	int wb_err;	       /* errno of a failed flush, reported by fsync */
	/* The directory the file was last reached through (lookup, create,
	 * link, rename): its commits record the directories from there up. */
	uint64_t parent_hint;
	bool store_bad; /* opening the store failed; logged once */
	/* With the writeback cache: what the kernel's WRITEs skipped past the
	 * end of the file, which a commit stops below (push.c). NULL: none
	 * yet. */
	struct wb_gap *gaps;
	unsigned ngaps;

	/* fs->flush_lock. The pointer first, so that these flags never share
	 * a word with the ones above, which another lock guards: a compiler
	 * may merge stores to neighbouring bytes. */
	struct inode *dirty_next; /* dirty list link */
	bool listed;		  /* on the dirty list */
	bool inflight;		  /* taken by the running flush round */
	/* An fsync's commit (flusher_sync_file), beside the rounds. */
	struct inode *sync_next; /* fs->sync_head link */
	bool sync_queued;	 /* on fs->sync_head */
	bool syncing;		 /* in the batch being committed: a round waits to take it */
	uint64_t sync_asked;	 /* fsyncs that queued it */
	uint64_t sync_done;	 /* ... of those, the ones a finished batch covered */
};

/* The last STAT_RING samples of a latency, for percentiles computed when
 * .revfs/stats is read; guarded by the lock of the struct that holds it. */
#define STAT_RING 256
struct stat_ring {
	uint64_t v[STAT_RING]; /* ns */
	unsigned n;	       /* samples held, up to STAT_RING */
	unsigned next;	       /* slot the next sample goes to */
};

static inline void stat_ring_add(struct stat_ring *r, uint64_t ns)
{
	r->v[r->next] = ns;
	r->next = (r->next + 1) % STAT_RING;
	if (r->n < STAT_RING)
		r->n++;
}

#define SETTLE_UNSET UINT_MAX

/* A condition variable whose timed waits count on CLOCK_MONOTONIC (a
 * change of the wall clock does not cut them short or stretch them). */
static inline void cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* ms from now on CLOCK_MONOTONIC: the deadline of a timed wait on such a
 * condition variable. */
static inline void deadline_in_ms(struct timespec *t, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

struct fs_opts {
	unsigned flush_ms;     /* flush interval */
	unsigned save_s;       /* a file kept open and written: a version this often */
	unsigned dirty_mb;     /* dirty memory limit */
	int compact;	       /* run the background compactor */
	double compact_frag;   /* compact at this fragmentation (0..1) */
	uint64_t compact_min;  /* ... and this many bytes of store file */
	uint64_t compact_bps;  /* rate limit of the copy; 0: none */
	unsigned settle_ms;    /* network filesystems: wait at mount for caches;
				* SETTLE_UNSET: not given */
	unsigned fence_wait_s; /* wait for the storage to catch up, then refuse */
	unsigned space_wait_s; /* a write waits this long for history to give way */
	uint64_t reserve;      /* -o reserve (ns_space_* form), if reserve_set */
	uint64_t history_max;  /* -o history_max (ns_space_* form), if history_max_set */
	bool reserve_set, history_max_set;
	double attr_timeout;
	int ro;
	int writeback;	      /* -o writeback: the kernel's writeback cache, 1 on, 0 off */
	int passphrase_fd;    /* -o passphrase_fd: an encrypted vault's passphrase; -1 none */
	const char *key_file; /* -o key_file: ... or its key file; NULL none */
	int foreground, debug;
	int verbose; /* -v: the daemon's own debug messages are logged too */
};

/* What the backing directory holds, in bytes on disk (space.c). */
struct space_figs {
	uint64_t live;	    /* the files' newest versions */
	uint64_t history;   /* their older versions, their lineages' replaced files */
	uint64_t graveyard; /* deleted paths' stores */
	uint64_t ns;	    /* the namespace store */
	uint64_t files;	    /* regular files with a store */
	uint64_t graves;    /* stores in the graveyard */
};

struct fs {
	char *backing;
	int backing_fd;
	int lock_fd;
	bool locked; /* lock_fd holds the flock */
	struct fs_opts o;
	/* Set at mount, read-only after: the kind of network or distributed
	 * filesystem the backing directory is on ("glusterfs", "nfs"...), or
	 * NULL; the fence's generation this mount wrote. */
	const char *netfs;
	uint64_t fence_gen;
	struct ns_super sb;
	struct fuse_session *se;
	pthread_mutex_t dir_lock; /* guards dirs */
	struct dirh *dirs;	  /* open directory handles (ops.c) */

	st_store *ns;
	pthread_mutex_t ns_lock;
	/* ns_lock */
	struct inode **htab;
	size_t hsize, hcount;
	uint64_t next_ino;
	bool ns_dirty;		 /* staged changes an fsync needs: names, inodes, modes, xattrs */
	bool ns_lazy;		 /* staged size and times of regular files only: their stores
				  * hold the same, so these may wait for the next interval */
	uint64_t ns_commit_time; /* st_realtime_ns() of the last namespace commit */
	bool unclean;		 /* the last mount did not end cleanly: regular files take
				  * their size and mtime from their stores when loaded */
	int ns_err;		 /* errno of the last failed namespace commit, 0 after a good one */

	/* Held from the test of ns_dirty to the end of the namespace commit
	 * it leads to, by a round and by an fsync batch: a committer that
	 * finds nothing staged knows that every commit before is durable.
	 * Taken before ns_lock. */
	pthread_mutex_t ns_commit_lock;
	pthread_mutex_t flush_lock;
	pthread_cond_t flush_cv; /* wakes the flusher */
	pthread_cond_t done_cv;	 /* a flush round ended */
	pthread_cond_t room_cv;	 /* dirty memory went below the limit */
	pthread_cond_t sync_cv;	 /* an fsync batch ended */
	/* flush_lock */
	struct inode *dirty_head;
	uint64_t started_gen; /* flush rounds started */
	uint64_t wanted_gen;  /* the round an fsync waits for */
	uint64_t done_gen;    /* rounds completed */
	uint64_t dirty_bytes; /* in every dirty and flush set */
	uint64_t dirty_limit;
	/* flush_lock: fsync batches (flusher_sync_file). One runs at a time,
	 * led by one of the fsyncs waiting; its files and a round's are
	 * never the same. */
	struct inode *sync_head, *sync_tail; /* files fsyncs wait for, not yet in a batch */
	bool sync_leader;		     /* a batch is running */
	bool sync_round_waits;		     /* a round waits for it to end: no new one */
	bool kicked;			     /* flusher_kick() since the last round started */
	bool nospace; /* a commit got ENOSPC: writes wait until the flusher sees room */
	/* flush_lock: the backing disk's space (space.c) */
	uint64_t space_user, space_root;    /* free bytes (f_bavail, f_bfree) at the last sample */
	uint64_t space_total;		    /* its size (f_blocks) */
	uint64_t space_sampled_ns;	    /* when (st_monotonic_ns) */
	uint64_t space_hold;		    /* room a give-back's copy takes: writers leave it */
	uint64_t space_need;		    /* the largest file store's newest version seen: the
					     * room a give-back's copy may need */
	uint64_t space_waits, space_enospc; /* writers that waited for room; got ENOSPC */
	uint64_t space_enospc_logged;	    /* st_monotonic_ns() of the last such log line */
	struct stat_ring space_wait_ring;   /* ... how long they waited */
	/* flush_lock: timing, for .revfs/stats */
	uint64_t writer_stalls;		   /* flusher_reserve() waits for dirty room */
	uint64_t writer_stall_ns;	   /* ... and their total time */
	unsigned room_waiters;		   /* writers waiting there, or for disk room, now */
	uint64_t flush_busy_rounds;	   /* rounds that had files to commit */
	uint64_t fsync_batches;		   /* fsync batches run */
	uint64_t fsync_batch_files;	   /* ... the files they committed */
	uint64_t fsync_batch_ns;	   /* ... their total time */
	uint64_t fsync_round_waits;	   /* fsyncs that waited for a round that had the file */
	uint64_t flush_round_ns;	   /* their total duration */
	uint64_t flush_round_max_ns;	   /* the longest */
	struct stat_ring flush_round_ring; /* the last ones */
	uint64_t flush_store_waits;	   /* commits of a store under compaction */
	uint64_t flush_store_wait_ns;	   /* ... their wait for its writer lock */
	bool stop;
	bool flusher_running;
	pthread_t flusher;
	/* flush_lock: the push thread's syncfs calls (push.c) */
	uint64_t pushes, push_failures, push_ns, push_max_ns;
	/* flush_lock: files a round held below a gap, for the thread to
	 * check (push.c) */
#define GAP_QUEUE 64
	uint64_t gap_q[GAP_QUEUE];
	unsigned gap_nq;
	/* atomic: gaps seen, rounds that held a file below one, gaps the
	 * thread found the kernel had nothing for */
	uint64_t gaps_seen, gap_holds, gaps_let_go;

	/* fence.c: the fence thread records each namespace commit in the
	 * fence, at most once per flush interval */
	pthread_mutex_t fence_lock;
	pthread_cond_t fence_cv;
	/* fence_lock */
	bool fence_kicked; /* a namespace commit since the thread last looked */
	bool fence_stop;
	bool fence_running;
	uint64_t fence_seq;		    /* the namespace commit the fence records */
	uint64_t fence_writes, fence_fails; /* by the thread */
	pthread_t fence_thread;

	/* push.c, set at mount: the kernel's writeback cache is on; the push
	 * thread's copy of the mount (-1: none, or handed to its child) and
	 * its wake-up pipe; the child the thread left for push_join to reap
	 * (the thread's, then push_join's after the join) */
	bool writeback;
	bool push_ok; /* there is a copy to push through */
	int push_clone;
	int push_wake[2];
	bool push_stop; /* atomic: the push thread ends */
	bool push_running;
	pthread_t push_thread;
	pid_t push_child;

	struct st_retention keep; /* which versions compaction keeps */
	uint64_t reserve;	  /* bytes: history gives way below this much free (set at mount) */
	uint64_t history_max;	  /* bytes history may take at most, 0: no budget (set at mount) */
	const char *keep_text;	  /* -o keep=, or NULL: the superblock's */
	pthread_mutex_t compact_lock;
	pthread_cond_t compact_cv;
	/* compact_lock */
#define COMPACT_QUEUE 1024
	uint64_t compact_q[COMPACT_QUEUE]; /* inodes to compact; 0: the namespace */
	/* What the last compaction of a store left, by inode (slot ino % 1024;
	 * a collision costs at most one early compaction): what retention
	 * keeps is not garbage, so a store is taken again only once it has
	 * grown past that by compact_frag (or at once, from what its copy
	 * held, if the commits replayed after the copy were that much); and
	 * not before quiet_until (on
	 * st_monotonic_ns) if the retention rule will keep every version till
	 * then, as it does for a store all of whose versions are younger
	 * than its "all" window (st_compact_stats.quiet_ns). */
#define COMPACT_FLOORS 1024
	struct compact_floor {
		uint64_t ino, bytes, quiet_until;
	} compact_floor[COMPACT_FLOORS];
	size_t ncompact;
	bool compact_stop, compact_paused;
	uint64_t compactions, compact_failures, compact_nospace, compact_reclaimed;
	uint64_t compact_yielded; /* stopped for a give-back of space */
	uint64_t compact_skipped; /* not made: the rule keeps nearly all of the store */
	uint64_t compact_hold_max_ns;
	uint64_t compact_bytes_before;	    /* store sizes before, summed */
	uint64_t compact_bytes_after;	    /* ... and after */
	uint64_t compact_passes;	    /* unlocked catch-up passes, summed */
	struct stat_ring compact_hold_ring; /* the last final-lock hold times */
	/* compact_lock: the give-back of history when space is short */
	bool reclaim_wanted;	  /* asked for, not begun */
	bool reclaim_running;	  /* a round is under way */
	bool compact_cutting;	  /* the compaction running is the give-back's */
	uint64_t reclaim_started; /* rounds begun */
	uint64_t reclaim_dry_gen; /* the last round that could give nothing */
	uint64_t reclaim_dry_ns;  /* ... when it ended (0: the last one gave) */
	uint64_t reclaim_rounds, reclaim_graves, reclaim_versions, reclaim_bytes;
	uint64_t budget_checked_ns; /* the history budget was last checked then */
	bool budget_near;	    /* ... and history was above 80% of it */
	uint64_t budget_written;    /* bytes committed since: a tenth of the budget checks again */
	struct space_figs figs;	    /* what the stores took at figs_ns (0: take again) */
	uint64_t figs_ns;
	bool compactor_running; /* main thread only */
	pthread_t compactor;
};

extern struct fs *the_fs;

/* inode.c */
int fs_errno(int st_err);

/* fence.c: a vault on a distributed filesystem never goes back in time */
/* Opens fs->ns once the storage shows at least what the fence says the
 * last clean unmount left (waiting up to -o fence_wait_s), after a settle
 * wait on a network filesystem. Prints why not and returns -1. */
int fence_open_ns(struct fs *fs);
/* Writes the fence: not clean at mount, clean with the namespace's newest
 * commit at a clean unmount. 0 or -errno (logged). */
int fence_mark(struct fs *fs, bool clean);
/* The fence thread: started once the mount wrote its fence; kicked after
 * each namespace commit; stopped before the clean unmount's fence_mark.
 * fence_start: 0 or -errno (nothing to start on a read-only mount or a
 * vault without a fence). */
int fence_start(struct fs *fs);
void fence_kick(struct fs *fs);
void fence_stop(struct fs *fs);

/* meta.c: a version's attributes (ns_meta), kept with it in its store */
/* Encodes what a commit of file ino records: self, the directories from
 * parent (0: unknown) up to the root, as they are now, and its xattrs.
 * Takes ns_lock. *buf malloc()ed. -errno. */
int meta_gather(struct fs *fs, uint64_t ino, const struct ns_perm *self, uint64_t parent,
		void **buf, size_t *len);
/* Decodes the attributes of version v of st (NULL: of st's own version)
 * into m, whose arrays point into *buf: release with ns_meta_free, then
 * free(*buf). -ENODATA: none kept (committed before they were). -errno. */
int meta_read(st_store *st, const struct st_version *v, struct ns_meta *m, void **buf);
/* The owner, group and mode of version v of st, if it has attributes and
 * they read well. c remembers the last record read: a walk of a store's
 * versions reads each record once (versions share one until it changes);
 * zero it for each store. */
struct meta_cache {
	uint64_t pos; /* 0: none read */
	struct ns_perm perm;
	bool has_xattrs;
};
bool meta_perm(st_store *st, const struct st_version *v, struct meta_cache *c, struct ns_perm *out,
	       bool *has_xattrs);
/* The seqs of st's versions that another than uid owned (their
 * attributes say so; a version without them counts as uid's): what a
 * purge by uid keeps. 0 or -errno. */
int meta_others(st_store *st, uint32_t uid, struct u64s *out);
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct inode *ino_find(struct fs *fs, uint64_t ino); /* ns_lock held; NULL if not loaded */
/* Takes a reference on a loaded inode (ns_lock taken here). NULL: ESTALE. */
struct inode *ino_get(struct fs *fs, uint64_t ino);
/* Loads (or finds) ino with ns_lock held, adds a reference. -errno on error. */
int ino_load(struct fs *fs, uint64_t ino, struct inode **out);
/* ino_load() of an inode that may be gone (.revfs/at/ asks about deleted
 * ones): -ENOENT, and nothing logged, when it has no record. ns_lock held. */
int ino_load_live(struct fs *fs, uint64_t ino, struct inode **out);
void ino_put(struct fs *fs, struct inode *in);
void ino_put_locked(struct fs *fs, struct inode *in); /* ns_lock held */
/* Makes a new inode record (ns_lock held); the caller fills in->a first. */
int ino_create(struct fs *fs, const struct ns_inode *a, const char *target, struct inode **out);
/* Writes in's record into the namespace (ns_lock and in->lock held). */
int ino_persist(struct fs *fs, struct inode *in);
/* The same for a regular file whose size and times alone changed. */
int ino_persist_lazy(struct fs *fs, struct inode *in);
/* Marks the namespace clean (at unmount) or not (at mount); commits. */
int fs_ns_mark(struct fs *fs, bool clean);
/* Opens in's file store if it is not open (in->lock held). -errno. */
int ino_store(struct fs *fs, struct inode *in);
/* Closes in's store if nothing uses it: no open handle, no commit or
 * compaction under way, nothing dirty (in->lock held). Stores are never
 * kept open for idle inodes: descriptors stay bounded by open files. */
void ino_store_idle(struct inode *in);
/* Frees the store and record of an inode with no links and no opens
 * (ns_lock and in->lock held). */
void ino_remove(struct fs *fs, struct inode *in);
void ino_attr(const struct inode *in, struct stat *st); /* in->lock held */
int fs_ns_load(struct fs *fs);
/* The graveyard's records, by inode (ns_lock held); free g->v after.
 * 0 or a store error. */
struct grave {
	uint64_t ino, seq, time; /* time: when the file was deleted */
};
struct graves {
	struct grave *v;
	size_t n, cap;
};
int fs_graves_locked(struct fs *fs, struct graves *g);
/* Removes the stores of deleted files that no namespace version still kept
 * names (ns_lock not held). 0 or -errno. */
int fs_grave_reap(struct fs *fs);
/* lineage.c, all with ns_lock held: regular file x left name (dir, name);
 * x took a name that held no file (fresh: x was just made there); x was
 * renamed over file y at (dir, name). */
void lin_vacate(struct fs *fs, uint64_t dir, const char *name, struct inode *x);
void lin_take(struct fs *fs, uint64_t dir, const char *name, struct inode *x, bool fresh);
void lin_replace(struct fs *fs, uint64_t dir, const char *name, struct inode *x, struct inode *y);
/* File gone's store goes: the lineages that named it go on to what it
 * named (its record keeps those versions), or end there. */
void lin_bypass(struct fs *fs, uint64_t gone);

/* Removes the history file ino's path has from the files it took the
 * place of (a purge): their kept stores go, and its lineage record. A
 * purge by who (not root: 0) removes only the versions who owned: a file
 * with versions of others keeps those (and its newest), and stays in the
 * lineage. */
void fs_lineage_purge(struct fs *fs, uint64_t ino, uint32_t who);
/* Rewrites the versions file ino's lineage record keeps of its
 * predecessor from that store (after a purge compacted it). ns_lock held. */
void lin_refresh(struct fs *fs, uint64_t ino);
/* Applies the retention rule along each lineage: a replaced file none of
 * whose versions it keeps (nor pinned) is given up. 0 or -errno. */
int fs_lineage_thin(struct fs *fs);
/* Unlinks a graveyard store and drops its keys: the bytes freed, or -1. */
int64_t fs_grave_drop(struct fs *fs, uint64_t ino);
/* Removes every graveyard store now (a purge): how many, bytes freed. */
void fs_grave_purge(struct fs *fs, uint64_t *files, uint64_t *bytes);
/* After a compaction of the namespace: at/ reopens, the graveyard is reaped. */
void fs_ns_compacted(struct fs *fs);
void fs_table_release(struct fs *fs);

/* vtree.c: the read-only tree under MNT/.revfs (vtree.h: its kinds of node) */
#define VT_NAME	     ".revfs"
#define VT_BIT	     (1ull << 63) /* no namespace inode number has it */
#define VT_DIR	     (VT_BIT | 1)
#define VT_STATS     (VT_BIT | 2)
#define VT_HISTORY   (VT_BIT | 3)
#define VT_AT	     (VT_BIT | 4)
#define VT_AT_NOW    (VT_BIT | 5) /* at/now */
#define VT_AT_OLDEST (VT_BIT | 6) /* at/oldest */
static inline bool vt_is(uint64_t ino)
{
	return (ino & VT_BIT) != 0;
}
void vt_forget(uint64_t vino, uint64_t n); /* the kernel's forget of a node */
void vt_release_all(void);		   /* at exit */
/* vhistory.c: */
/* user.revfs.version, .versions, .pins and .pin.N (read by name, never
 * listed): each returns 0 (vx_get with the value and *len), -errno, or 1
 * for a name that is not theirs (an ordinary xattr). */
int vx_get(struct fs *fs, uint64_t ino, const char *name, char *out, size_t cap, size_t *len);
int vx_set(struct fs *fs, uint64_t ino, const char *name, const char *value, size_t size);
int vx_remove(struct fs *fs, uint64_t ino, const char *name);
/* How many versions history/ lists for file ino's path, its lineage's
 * included. 0 or -errno. */
int fs_path_versions(struct fs *fs, uint64_t ino, uint64_t *n);
/* The pinned versions of ino (malloc()ed). 0 or -errno. */
int fs_pins(struct fs *fs, uint64_t ino, uint64_t **pins, size_t *n);
/* Unpins every version of ino but the n in keep. ns_lock held. */
void fs_pins_clear(struct fs *fs, uint64_t ino, const uint64_t *keep, size_t n);

/* attree.c: .revfs/at/<time>/, the tree as it was at a moment */
/* Parses "2026-11-23T14:05:00[Z|+01:00]", "2026-11-23", "@<unix seconds>"
 * or "-10m" (s, m, h, d, w; "-1h30m") into ns since the epoch. 0, -EINVAL
 * (not a time) or -ENOENT (before 1970). */
int at_parse_time(const char *s, uint64_t now_ns, uint64_t *out);
/* 0 if the namespace has a version at or before t, else -ENOENT. */
int at_exists(struct fs *fs, uint64_t t);
/* Entry name of directory dir at t: its inode and DT_ type. */
int at_lookup(struct fs *fs, uint64_t t, uint64_t dir, const char *name, uint64_t *ino,
	      uint8_t *type);
/* Inode ino's record at t (and, if target, a symlink's target, malloc()ed). */
int at_inode(struct fs *fs, uint64_t t, uint64_t ino, struct ns_inode *a, char **target);
/* The version of ino's store at t (zeroed: an empty file); opened if out. */
int at_file(struct fs *fs, uint64_t t, uint64_t ino, struct st_version *v, st_store **out);
/* Adds the entries of directory dir at t to d (inode numbers vt_ino(VK_AT, ino, t)). */
int at_list(struct fs *fs, uint64_t t, uint64_t dir, struct dirh *d);
void at_ns_changed(void);  /* the namespace was compacted: snapshots reopen */
void at_release_all(void); /* at exit */

/* space.c: live data before history */
/* Takes the first sample and sets fs->reserve and fs->history_max from
 * the options, else the superblock, else the defaults (a tenth of the
 * disk, at most 1 GiB; no budget). 0. */
int space_init(struct fs *fs);
/* Samples the free space; below the low-water mark asks for a give-back.
 * Takes flush_lock and compact_lock. */
void space_check(struct fs *fs);
/* A commit left a file whose newest version takes kept bytes: a
 * give-back may have to copy that much (the low-water mark grows by the
 * largest seen since the mount, or found by a walk of the stores). */
void space_note(struct fs *fs, uint64_t kept);
/* A commit left an older save behind: a give-back that found nothing to
 * drop may find it now (takes compact_lock). */
void space_more_history(struct fs *fs);
/* Whether the disk has bytes free above its low-water mark: room for an
 * ordinary compaction's copy (takes flush_lock). */
bool space_room_for(struct fs *fs, uint64_t bytes);
/* Lets a writer (root or not) add len dirty bytes, waiting (flush_lock
 * held, released while waiting) for history to give way if they do not
 * fit. 0 or -ENOSPC. */
int space_admit_locked(struct fs *fs, uint64_t len, bool root);
/* A commit wrote bytes (for the history budget's checks). */
void space_committed(struct fs *fs, uint64_t bytes);
/* Whether the disk is below its low-water mark as last sampled
 * (flush_lock held). Writers then keep at most SPACE_LOW_DIRTY dirty. */
bool space_low_locked(const struct fs *fs);
bool space_low(struct fs *fs); /* takes flush_lock; samples the disk */
#define SPACE_LOW_DIRTY (16ull << 20)
/* The bytes on disk file ino's history takes: its store beyond its newest
 * version, and the stores of the files its path's history goes on from.
 * 0 or -errno. */
int space_history_of(struct fs *fs, uint64_t ino, uint64_t *out);
/* One give-back round, on the compactor's thread. */
void space_reclaim(struct fs *fs);
/* What the stores take now (cached for 2 s). 0 or -errno. */
int space_figures(struct fs *fs, struct space_figs *out);

/* compactor.c */
int compactor_start(struct fs *fs);
/* Compacts file ino's store (0: the namespace) under the mount's rule with
 * versions older than cut_ns dropped, pins and the newest aside; writers
 * leave room bytes free meanwhile. 0 or -errno. */
int compactor_cut(struct fs *fs, uint64_t ino, uint64_t cut_ns, uint64_t room);
void compactor_stop(struct fs *fs);
/* Queues ino (0: the namespace) if its store st is fragmented enough. */
void compactor_consider(struct fs *fs, uint64_t ino, st_store *st);
struct revfs_compact_arg;
/* Compacts inode ino's store now (or, with the dry-run flag, says what
 * would be reclaimed), waiting for a background compaction of it to end.
 * 0 or -errno. */
/* A compaction (or a purge by who: 0 for root) that revfs-compact asked for. */
int compactor_run(struct fs *fs, uint64_t ino, struct revfs_compact_arg *a, uint32_t who);
/* The namespace compacted (or measured, dry run) under the mount's rule,
 * as revfs-compact MNT asks. 0 or -errno. */
int compactor_ns(struct fs *fs, struct revfs_compact_arg *a);

/* ops.c */
struct dirh;
void fs_dirs_release(struct fs *fs); /* at exit: handles never released */
int fs_dirh_add(struct dirh *d, const char *name, size_t nlen, uint64_t ino, uint8_t type);
void fs_xattr_clear(struct fs *fs, uint64_t ino); /* ns_lock held */

/* push.c: the kernel's writeback cache, pushed each flush interval */
/* Makes the thread's copy of the mount at mountpoint: 0, or -errno if
 * there can be none (then the writeback cache waits for the kernel). */
int push_prepare(struct fs *fs, const char *mountpoint);
int push_start(struct fs *fs); /* 0 or -errno; nothing without the writeback cache */

void push_stop(struct fs *fs); /* asks it to end; does not wait */
/* The gaps of one file, its lock held. A write of [off, off+len) fills
 * what it covers; one of the kernel's writeback (writepage) that starts
 * past the end of the file opens a gap. Call before a.size grows. */
void gap_write(struct fs *fs, struct inode *in, uint64_t off, uint64_t len, bool writepage);
void gap_truncate(struct inode *in, uint64_t size); /* nothing past size is a gap */
void gap_clear(struct inode *in);		    /* the kernel has sent everything */
void gap_queue(struct fs *fs, uint64_t ino);	    /* a round held it: the thread checks */
/* The offset a commit of the file stops below (UINT64_MAX: none). Gaps
 * held too long are let go: any after 35 s, and with pressure (writers
 * wait for room) any older than a flush interval. */
uint64_t gap_floor(struct fs *fs, struct inode *in, bool pressure);
void push_join(struct fs *fs); /* waits for it; after the session ends */

/* flusher.c */
int flusher_start(struct fs *fs);
void flusher_stop(struct fs *fs);		    /* flushes everything first */
void flusher_mark(struct fs *fs, struct inode *in); /* puts in on the dirty list */
/* Waits for a flush round that starts after the call. 0 or -errno. */
int flusher_sync(struct fs *fs, struct inode *in);
/* Commits in's dirty bytes, and the namespace if names changed, beside
 * the flusher's rounds: in a batch with the files of the fsyncs that
 * came meanwhile, run by one of their threads (an fsync). 0 or -errno. */
int flusher_sync_file(struct fs *fs, struct inode *in);
/* A file with this much dirty is being streamed: its commit starts now,
 * not at the interval, so the disk works while the writer goes on and an
 * fsync at its end finds little left to do. */
#define FLUSH_STREAM_BYTES (32ull << 20)
void flusher_kick(struct fs *fs); /* starts a round soon, without waiting */
/* Accounts len more dirty bytes of a writer (root or not), waiting while
 * the limit is reached, or for history to give way (space_admit_locked).
 * 0 or -ENOSPC. */
int flusher_reserve(struct fs *fs, uint64_t len, bool root);
void flusher_release_bytes(struct fs *fs, uint64_t len);

extern const struct fuse_lowlevel_ops revfs_ops;

#endif /* REVFS_FS_H */
