/*
 * compactor.c - the background compactor: one thread that compacts the
 * stores the flusher found fragmented (1 - live/size at or above
 * compact_frag, file at least compact_min bytes), keeping the versions the
 * retention rule keeps. st_compact() copies with no lock held and takes the
 * store's writer lock only for its final catch-up, so writers never wait for
 * it: they write into dirty sets, and only the flusher's commit of that one
 * store can wait, for the final catch-up, or, right after it, for the new
 * file's sync and rename before its own flip. The copy is rate-limited
 * while files are being written, and its I/O has the idle class, so that
 * it slows the writers' syncs as little as it can.
 *
 * The compactor uses the inode's own store handle (a second handle would not
 * see the flusher's commits), marked in->compacting so that nothing closes it
 * meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "revfs.h"

/* The namespace store's slot in the queue. */
#define NS_ENTRY 0
/* The namespace is considered for compaction this often, besides after
 * its commits. */
#define NS_SCHEDULE_S 60

/* ioprio_set(2), which glibc does not wrap: who 0 is the calling thread. */
/* The copy's rate while files are being committed, unless -o compact_mbps
 * says otherwise: about a twentieth of what a disk of ours writes. */
#define AUTO_BPS (16ull * 1000000)

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_IDLE	   (3 << 13)
#define IOPRIO_NORMAL	   ((2 << 13) | 4) /* best effort, the default level */

/* The compactor's disk requests wait for everyone else's (the idle class:
 * served when the disk has nothing else to do, or after the scheduler's
 * aging limit), so that the copy does not slow the syncs of writers. From
 * the locked step on it is back to normal: a commit may wait for its sync.
 * Where the scheduler has no classes this changes nothing. */
static void io_class(int prio)
{
	(void)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio);
}

/* A store whose compaction was not worth making is not estimated again
 * for this long. */
#define SKIP_QUIET_NS (60ull * 1000000000ull)

/* Queues inode ino (0: the namespace) for the compactor, once
 * (compact_lock held). */
static void queue_locked(struct fs *fs, uint64_t ino)
{
	for (size_t i = 0; i < fs->ncompact; i++)
		if (fs->compact_q[i] == ino)
			return;
	if (fs->ncompact < COMPACT_QUEUE) {
		fs->compact_q[fs->ncompact++] = ino;
		pthread_cond_signal(&fs->compact_cv);
	}
}

void compactor_consider(struct fs *fs, uint64_t ino, st_store *st)
{
	struct st_info info;
	struct compact_floor *f;

	if (!fs->o.compact || st_info(st, &info) != ST_OK)
		return;
	if (info.committed_bytes < fs->o.compact_min || info.fragmentation < fs->o.compact_frag)
		return;
	pthread_mutex_lock(&fs->compact_lock);
	/* Fragmentation counts the newest version's bytes as live, but the
	 * versions retention keeps are not garbage either: right after a
	 * compaction that kept many, the store looks as fragmented as before,
	 * and would be copied again and again for nothing. */
	f = &fs->compact_floor[ino % COMPACT_FLOORS];
	if (f->ino == ino && f->bytes &&
	    (st_monotonic_ns() < f->quiet_until ||
	     (info.committed_bytes >= f->bytes &&
	      (double)(info.committed_bytes - f->bytes) <
		  fs->o.compact_frag * (double)info.committed_bytes))) {
		pthread_mutex_unlock(&fs->compact_lock);
		return;
	}
	queue_locked(fs, ino);
	pthread_mutex_unlock(&fs->compact_lock);
}

/* Counts a compaction that ended well (takes compact_lock). */
static void account(struct fs *fs, const struct st_compact_stats *cs)
{
	pthread_mutex_lock(&fs->compact_lock);
	fs->compactions++;
	if (cs->bytes_before > cs->bytes_after)
		fs->compact_reclaimed += cs->bytes_before - cs->bytes_after;
	fs->compact_bytes_before += cs->bytes_before;
	fs->compact_bytes_after += cs->bytes_after;
	fs->compact_passes += cs->passes;
	if (cs->lock_hold_ns > fs->compact_hold_max_ns)
		fs->compact_hold_max_ns = cs->lock_hold_ns;
	stat_ring_add(&fs->compact_hold_ring, cs->lock_hold_ns);
	pthread_mutex_unlock(&fs->compact_lock);
}

/* Aborts a running compaction at its next step when the daemon stops. */
static int hook(void *arg, enum st_compact_step step)
{
	struct fs *fs = arg;
	int stop;

	if (step == ST_STEP_LOCKED)
		io_class(IOPRIO_NORMAL);
	pthread_mutex_lock(&fs->compact_lock);
	/* Below the low-water mark the room is the give-back's: an ordinary
	 * compaction steps aside (one with a cut is the give-back). */
	stop = fs->compact_stop ||
	       (step == ST_STEP_PROGRESS && !fs->compact_cutting && fs->reclaim_wanted);
	pthread_mutex_unlock(&fs->compact_lock);
	return stop;
}

/* Room for a copy of the live bytes that leaves the disk above its
 * low-water mark: the room below it is the give-back's. */
static bool room_for(struct fs *fs, st_store *st)
{
	struct st_info info;

	return st_info(st, &info) == ST_OK && space_room_for(fs, info.live_bytes + (16ull << 20));
}

/* The mount's retention rule plus inode ino's pins (0: the namespace,
 * which has none): pinned versions survive any rule. Free *pins after. */
static int keep_rule(struct fs *fs, uint64_t ino, struct st_retention *keep, uint64_t **pins)
{
	*keep = fs->keep;
	*pins = NULL;
	keep->npins = 0;
	if (ino) {
		int rc = fs_pins(fs, ino, pins, &keep->npins);

		if (rc)
			return rc;
	}
	keep->pins = *pins;
	return 0;
}

/* Busy rounds of the flusher so far (takes flush_lock). */
static uint64_t busy_rounds(struct fs *fs)
{
	uint64_t n;

	pthread_mutex_lock(&fs->flush_lock);
	n = fs->flush_busy_rounds;
	pthread_mutex_unlock(&fs->flush_lock);
	return n;
}

/* The copy's rate: -o compact_mbps if given; else, if files were committed
 * since the last compaction began (*seen: the flusher's busy rounds then),
 * AUTO_BPS, so that the copy leaves the disk to the writers' syncs, unless
 * st is more than half garbage: the compactor is then behind the writers,
 * and space comes first. Else none. */
static uint64_t copy_rate(struct fs *fs, st_store *st, uint64_t *seen)
{
	uint64_t n = busy_rounds(fs);
	bool busy = n != *seen;
	struct st_info info;

	*seen = n;
	if (fs->o.compact_bps)
		return fs->o.compact_bps;
	if (!busy || (st_info(st, &info) == ST_OK && info.fragmentation > 0.5))
		return 0;
	return AUTO_BPS;
}

/* Sets the room a give-back's copy takes, which writers leave free (0:
 * done; wakes them). */
static void hold_room(struct fs *fs, uint64_t room)
{
	pthread_mutex_lock(&fs->flush_lock);
	fs->space_hold = room;
	if (!room)
		pthread_cond_broadcast(&fs->room_cv);
	pthread_mutex_unlock(&fs->flush_lock);
}

/* Compacts store st of inode ino (0: the namespace) under the mount's
 * rule; with a cut (space.c's give-back), versions older go too, at full
 * speed, with room held for the copy. 0 or a store error. */
static int compact_store(struct fs *fs, st_store *st, uint64_t ino, uint64_t *seen, uint64_t cut_ns,
			 uint64_t room)
{
	struct st_retention keep;
	struct st_compact_opts o = {.keep = &keep, .hook = hook, .hook_arg = fs};
	uint64_t *pins;
	struct st_compact_stats cs = {0};
	int rc;

	/* Below the low-water mark only the give-back (with a cut) runs. */
	if (!cut_ns && !room_for(fs, st)) {
		pthread_mutex_lock(&fs->compact_lock);
		fs->compact_nospace++;
		pthread_mutex_unlock(&fs->compact_lock);
		return ST_ENOSPC;
	}
	if ((rc = keep_rule(fs, ino, &keep, &pins)) != 0)
		return ST_EIO;
	keep.cut_ns = cut_ns;
	if (cut_ns) {
		hold_room(fs, room);
		pthread_mutex_lock(&fs->compact_lock);
		fs->compact_cutting = true;
		pthread_mutex_unlock(&fs->compact_lock);
	} else {
		o.rate_bps = copy_rate(fs, st, seen);
		io_class(IOPRIO_IDLE);
		/* Fragmentation counts every version but the newest as garbage,
		 * but the rule may keep them (all of this hour's, by default):
		 * a copy that would give back less than half of compact_frag
		 * is not made, and the store is looked at again once it grew
		 * by compact_frag, and not within a minute, or before the rule
		 * could drop a version if it keeps them all (an estimate walks
		 * every header: a file fsynced thousands of times had them all
		 * read again every few seconds, a tenth of its fsync rate). */
		if (fs->o.compact_frag > 0 && st_compact_estimate(st, &o, &cs) == ST_OK &&
		    (double)(cs.bytes_before > cs.bytes_after
				 ? cs.bytes_before - cs.bytes_after
				 : 0) < fs->o.compact_frag / 2 * (double)cs.bytes_before) {
			io_class(IOPRIO_NORMAL);
			free(pins);
			pthread_mutex_lock(&fs->compact_lock);
			fs->compact_skipped++;
			fs->compact_floor[ino % COMPACT_FLOORS].ino = ino;
			fs->compact_floor[ino % COMPACT_FLOORS].bytes = cs.bytes_before;
			fs->compact_floor[ino % COMPACT_FLOORS].quiet_until =
			    st_monotonic_ns() +
			    (cs.quiet_ns > SKIP_QUIET_NS ? cs.quiet_ns : SKIP_QUIET_NS);
			pthread_mutex_unlock(&fs->compact_lock);
			return ST_OK;
		}
		memset(&cs, 0, sizeof(cs));
	}
	rc = st_compact(st, &o, &cs);
	if (cut_ns) {
		pthread_mutex_lock(&fs->compact_lock);
		fs->compact_cutting = false;
		pthread_mutex_unlock(&fs->compact_lock);
		hold_room(fs, 0);
	} else
		io_class(IOPRIO_NORMAL);
	free(pins);
	if (rc == ST_OK) {
		/* The commits made during the copy were replayed whole, the
		 * rule not applied to them. If they are as much as a store is
		 * taken again for, it is looked at again now: no later commit
		 * may come to do it (a file saved a few times during a slow
		 * copy, then left alone, kept three versions' worth). Not
		 * while the rule keeps every version. The estimate decides
		 * whether another copy is worth it. */
		bool again = !cs.quiet_ns && cs.bytes_after > cs.bytes_copied &&
			     (double)(cs.bytes_after - cs.bytes_copied) >=
				 fs->o.compact_frag * (double)cs.bytes_after;

		account(fs, &cs);
		pthread_mutex_lock(&fs->compact_lock);
		fs->compact_floor[ino % COMPACT_FLOORS].ino = ino;
		fs->compact_floor[ino % COMPACT_FLOORS].bytes =
		    again ? cs.bytes_copied : cs.bytes_after;
		fs->compact_floor[ino % COMPACT_FLOORS].quiet_until =
		    cs.quiet_ns ? st_monotonic_ns() + cs.quiet_ns : 0;
		if (again)
			queue_locked(fs, ino);
		pthread_mutex_unlock(&fs->compact_lock);
	} else if (rc == ST_EABORTED) {
		pthread_mutex_lock(&fs->compact_lock);
		if (!fs->compact_stop)
			fs->compact_yielded++; /* to a give-back of space */
		pthread_mutex_unlock(&fs->compact_lock);
	} else if (rc != ST_EDELETED) {
		pthread_mutex_lock(&fs->compact_lock);
		fs->compact_failures++;
		pthread_mutex_unlock(&fs->compact_lock);
	}
	if (rc == ST_OK)
		fs_log(LOG_DEBUG,
		       "compacted inode %llu: %llu -> %llu bytes, %llu of %llu versions, "
		       "lock held %llu us",
		       (unsigned long long)ino, (unsigned long long)cs.bytes_before,
		       (unsigned long long)cs.bytes_after, (unsigned long long)cs.versions_kept,
		       (unsigned long long)cs.versions_before,
		       (unsigned long long)(cs.lock_hold_ns / 1000));
	else if (rc != ST_EDELETED && rc != ST_EABORTED)
		fs_log(LOG_WARNING, "compaction of inode %llu failed: %s", (unsigned long long)ino,
		       st_last_error()->msg);
	return rc;
}

/* Loads inode ino and holds its store open for a compaction: *stp is the
 * inode's own handle (a second one would not see the flusher's commits),
 * marked so that nothing closes it meanwhile. 0 or -errno (-ENODATA: a
 * read-only mount and a file never committed). */
static int hold_store(struct fs *fs, uint64_t ino, struct inode **inp, st_store **stp)
{
	struct inode *in;
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ino_load(fs, ino, &in);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&in->lock);
	if (in->removed)
		rc = -ENOENT;
	else if (!S_ISREG(in->a.mode))
		rc = -EINVAL;
	else if ((rc = ino_store(fs, in)) == 0)
		in->compacting = true;
	*stp = rc ? NULL : in->st;
	pthread_mutex_unlock(&in->lock);
	*inp = in;
	return rc;
}

/* Lets go of what hold_store() took (st may be NULL if it failed). */
static void let_go(struct fs *fs, struct inode *in, st_store *st)
{
	if (st) {
		pthread_mutex_lock(&in->lock);
		in->compacting = false;
		ino_store_idle(in);
		pthread_mutex_unlock(&in->lock);
	}
	ino_put(fs, in);
}

static int compact_inode(struct fs *fs, uint64_t ino, uint64_t *seen, uint64_t cut_ns,
			 uint64_t room)
{
	struct inode *in = NULL;
	st_store *st = NULL;
	int rc = hold_store(fs, ino, &in, &st);

	if (rc == 0)
		rc = compact_store(fs, st, ino, seen, cut_ns, room) == ST_OK ? 0 : -EIO;
	if (in) /* else removed meanwhile */
		let_go(fs, in, st);
	return rc;
}

int compactor_cut(struct fs *fs, uint64_t ino, uint64_t cut_ns, uint64_t room)
{
	uint64_t seen = 0;
	int rc;

	if (ino)
		return compact_inode(fs, ino, &seen, cut_ns, room);
	rc = compact_store(fs, fs->ns, 0, &seen, cut_ns, room);
	if (rc == ST_OK)
		fs_ns_compacted(fs);
	return rc == ST_OK ? 0 : -EIO;
}

static void *compactor_main(void *arg)
{
	struct fs *fs = arg;
	uint64_t ino, seen = 0;

	pthread_mutex_lock(&fs->compact_lock);
	for (;;) {
		while (!fs->compact_stop && !fs->reclaim_wanted &&
		       (fs->ncompact == 0 || fs->compact_paused)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += NS_SCHEDULE_S;
			if (pthread_cond_timedwait(&fs->compact_cv, &fs->compact_lock, &ts) ==
			    ETIMEDOUT) {
				/* The namespace on its own schedule: its versions
				 * leave the rule's windows with no commit to say so. */
				pthread_mutex_unlock(&fs->compact_lock);
				compactor_consider(fs, NS_ENTRY, fs->ns);
				pthread_mutex_lock(&fs->compact_lock);
			}
		}
		if (fs->compact_stop)
			break;
		/* Space comes first, paused or not. */
		if (fs->reclaim_wanted) {
			fs->reclaim_wanted = false;
			fs->reclaim_started++;
			pthread_mutex_unlock(&fs->compact_lock);
			space_reclaim(fs);
			pthread_mutex_lock(&fs->compact_lock);
			continue;
		}
		ino = fs->compact_q[0];
		memmove(fs->compact_q, fs->compact_q + 1, --fs->ncompact * sizeof(*fs->compact_q));
		pthread_mutex_unlock(&fs->compact_lock);
		if (ino == NS_ENTRY) {
			if (compact_store(fs, fs->ns, ino, &seen, 0, 0) == ST_OK)
				fs_ns_compacted(fs);
		} else {
			compact_inode(fs, ino, &seen, 0, 0);
		}
		pthread_mutex_lock(&fs->compact_lock);
	}
	pthread_mutex_unlock(&fs->compact_lock);
	return NULL;
}

int compactor_start(struct fs *fs)
{
	int rc;

	/* With -o compact=0 the thread still gives history back when space
	 * runs short: compactor_consider() queues nothing. */
	rc = pthread_create(&fs->compactor, NULL, compactor_main, fs);
	if (rc)
		return -rc;
	fs->compactor_running = true;
	return 0;
}

void compactor_stop(struct fs *fs)
{
	if (!fs->compactor_running)
		return;
	pthread_mutex_lock(&fs->compact_lock);
	fs->compact_stop = true;
	pthread_cond_broadcast(&fs->compact_cv);
	pthread_mutex_unlock(&fs->compact_lock);
	pthread_join(fs->compactor, NULL);
	fs->compactor_running = false;
}

/*
 * A purge by who (0: root) of file ino: the versions it keeps (none but
 * the newest for root or a file all of whose versions who owned; else
 * those of others, pinned in keep), the pins of the others' versions
 * only, and the path's lineage (fs_lineage_purge). 0 or -errno.
 */
static int purge_plan(struct fs *fs, uint64_t ino, st_store *st, uint32_t who,
		      struct st_retention *keep, uint64_t **pins)
{
	struct u64s others = {0};
	int rc = who ? meta_others(st, who, &others) : 0;

	if (rc) {
		free(others.v);
		return rc;
	}
	pthread_mutex_lock(&fs->ns_lock);
	fs_pins_clear(fs, ino, others.v, others.n);
	fs->ns_dirty = true;
	pthread_mutex_unlock(&fs->ns_lock);
	fs_lineage_purge(fs, ino, who);
	free(*pins);
	*pins = others.v;
	memset(keep, 0, sizeof(*keep));
	keep->min_count = 1;
	keep->pins = others.v;
	keep->npins = others.n;
	return 0;
}

int compactor_ns(struct fs *fs, struct revfs_compact_arg *a)
{
	struct st_retention keep = fs->keep;
	struct st_compact_opts o = {.keep = &keep};
	struct st_compact_stats cs = {0};
	int rc;

	keep.pins = NULL;
	keep.npins = 0;
	rc = st_compact_estimate(fs->ns, &o, &cs);
	/* A rule that keeps every commit (this hour's, by default) needs no
	 * copy: it would be the same size. */
	if (rc == ST_OK && !(a->flags & REVFS_COMPACT_DRY_RUN) &&
	    cs.versions_kept < cs.versions_before) {
		/* The background compactor may hold it: wait for it. */
		for (int i = 0; (rc = st_compact(fs->ns, &o, &cs)) == ST_EBUSY && i < 6000; i++)
			usleep(10000);
		if (rc == ST_OK) {
			account(fs, &cs);
			fs_ns_compacted(fs);
		}
	}
	if (rc != ST_OK)
		return rc == ST_EBUSY ? -EBUSY : -fs_errno(rc);
	a->bytes_before = cs.bytes_before;
	a->bytes_after = cs.bytes_after;
	a->versions_before = cs.versions_before;
	a->versions_kept = cs.versions_kept;
	a->lock_hold_ns = cs.lock_hold_ns;
	return 0;
}

int compactor_run(struct fs *fs, uint64_t ino, struct revfs_compact_arg *a, uint32_t who)
{
	struct st_retention keep;
	struct st_compact_opts o = {.keep = &keep};
	struct st_compact_stats cs = {0};
	uint64_t *pins = NULL;
	struct inode *in = NULL;
	st_store *st = NULL;
	int rc;

	/* Out: nothing done until said otherwise. */
	a->bytes_before = a->bytes_after = a->versions_before = a->versions_kept = 0;
	a->lock_hold_ns = 0;
	if ((a->flags & REVFS_COMPACT_PURGE) && !(a->flags & REVFS_COMPACT_DRY_RUN)) {
		/* What is written but not committed goes first, as a save: the
		 * newest version, the one a purge keeps, is the file as it is. */
		if ((in = ino_get(fs, ino)) != NULL) {
			pthread_mutex_lock(&in->lock);
			in->save_wanted = S_ISREG(in->a.mode);
			pthread_mutex_unlock(&in->lock);
			flusher_mark(fs, in);
			rc = flusher_sync(fs, in);
			ino_put(fs, in);
			in = NULL;
			if (rc)
				return rc;
		}
	}
	rc = hold_store(fs, ino, &in, &st);
	if (rc == -ENODATA)
		rc = 0; /* never committed: nothing to compact */
	if (st && (a->flags & REVFS_COMPACT_DRY_RUN)) {
		/* What the mount's rule would keep, and the pins. */
		if ((rc = keep_rule(fs, ino, &keep, &pins)) == 0) {
			rc = st_compact_estimate(st, &o, &cs);
			free(pins);
			pins = NULL;
			if (rc == ST_OK) {
				a->bytes_before = cs.bytes_before;
				a->bytes_after = cs.bytes_after;
			}
			rc = rc ? -fs_errno(rc) : 0;
		}
		/* As history/ lists them: the path's, its lineage's included. */
		if (rc == 0 && fs_path_versions(fs, ino, &a->versions_before) != 0)
			a->versions_before = 0;
		a->versions_kept = a->versions_before > cs.listed_dropped
				       ? a->versions_before - cs.listed_dropped
				       : 0;
	} else if (st && (rc = keep_rule(fs, ino, &keep, &pins)) == 0) {
		uint64_t listed = 0;

		(void)fs_path_versions(fs, ino, &listed);
		if ((a->flags & REVFS_COMPACT_PURGE) &&
		    (rc = purge_plan(fs, ino, st, who, &keep, &pins)) != 0) {
			free(pins);
			let_go(fs, in, st);
			return rc;
		}
		if ((a->flags & REVFS_COMPACT_PURGE) && keep.npins == 0)
			o.keep = NULL; /* the newest alone */
		/* The background compactor may hold this store: wait for it. */
		for (int i = 0; (rc = st_compact(st, &o, &cs)) == ST_EBUSY && i < 6000; i++)
			usleep(10000);
		free(pins);
		if (rc == ST_OK) {
			a->bytes_before = cs.bytes_before;
			a->bytes_after = cs.bytes_after;
			/* The path's, as history/ lists them, before and after. */
			a->versions_before = listed;
			if (fs_path_versions(fs, ino, &a->versions_kept) != 0)
				a->versions_kept = 0;
			a->lock_hold_ns = cs.lock_hold_ns;
			account(fs, &cs);
		}
		rc = rc == ST_OK ? 0 : rc == ST_EBUSY ? -EBUSY : -fs_errno(rc);
	}
	if (in)
		let_go(fs, in, st);
	return rc;
}
