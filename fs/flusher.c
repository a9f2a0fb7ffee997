/*
 * flusher.c - the one thread that turns dirty buffers into commits.
 *
 * A round: take the dirty list; move each file's dirty set to its flush set
 * under the inode lock (writers go on into a fresh set); stage the flush
 * sets into their stores with no lock held; commit them as one group
 * (st_commit_group: shared syncs, one syncfs for a large batch, per-file
 * fdatasync for a small one); then write the inode records and commit the namespace, so a store is
 * always committed before the namespace record that refers to it. A round
 * starts at the flush interval, when dirty memory passes half its limit,
 * when something waits for one (flusher_sync), and when a writer has
 * FLUSH_STREAM_BYTES dirty in one file (flusher_kick).
 *
 * An fsync does not wait for a round: the fsyncs that come while a batch
 * runs queue their files, and one of them commits those as a batch of its
 * own (flusher_sync_file), beside whatever round is under way. A file is
 * in a round or in a batch, never both; the two share only the namespace
 * commit (ns_commit_lock). A round commits its small files before its
 * large ones, so that an fsync of a file a round took is not held up by
 * a stream's commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "revfs.h"

/* Stores committed together at most: bounds open descriptors per round. */
#define BATCH 1024
/* Files of one fsync batch at most (on the stack of a request thread). */
#define SYNC_BATCH 64
/* Up to this many stores, per-file fdatasync beats a syncfs of the disk. */
#define SMALL_BATCH 4
/* A round commits files with less than this to write before the others. */
#define SMALL_COMMIT (1u << 20)
/* After ENOSPC, writes resume once the backing disk has this much free
 * beyond what is dirty: 64 MiB, or a 16th of a smaller disk. */
#define SPACE_MARGIN (64ull << 20)

struct job {
	struct inode *in;
	uint64_t size, mtime; /* what the commit records */
	bool commit;	      /* has a store commit to make */
	bool save;	      /* ... and it is a save, not interim */
	struct ns_perm self;  /* the file's owner, group and mode ... */
	uint64_t parent;      /* ... and the directory it was reached through */
	bool held;	      /* a gap held some of it back (push.c) */
	bool prepared;	      /* staged; after commit_batch: committed */
	bool waited;	      /* the store was being compacted: wait_ns was sampled */
	uint64_t wait_ns;     /* time to get the store's writer lock */
	uint64_t asked;	      /* an fsync batch's: in->sync_asked when taken */
	uint64_t bytes;	      /* the flush set's, when taken */
	int err;	      /* errno, 0 if fine */
};

void flusher_mark(struct fs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->flush_lock);
	if (!in->listed) {
		in->listed = true;
		in->dirty_next = fs->dirty_head;
		fs->dirty_head = in;
	}
	pthread_mutex_unlock(&fs->flush_lock);
}

int flusher_reserve(struct fs *fs, uint64_t len, bool root)
{
	uint64_t t0 = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->flush_lock);
	/* Below the disk's low-water mark, little is let ahead of the commits:
	 * they make the versions a give-back can drop (space.c). */
	while (fs->dirty_bytes > 0 &&
	       fs->dirty_bytes + len > (space_low_locked(fs) ? SPACE_LOW_DIRTY : fs->dirty_limit) &&
	       !fs->stop) {
		if (!t0) /* the clock is read only by writers that wait */
			t0 = st_monotonic_ns();
		pthread_cond_signal(&fs->flush_cv);
		fs->room_waiters++;
		pthread_cond_wait(&fs->room_cv, &fs->flush_lock);
		fs->room_waiters--;
	}
	if (t0) {
		fs->writer_stalls++;
		fs->writer_stall_ns += st_monotonic_ns() - t0;
	}
	rc = space_admit_locked(fs, len, root);
	if (rc == 0)
		fs->dirty_bytes += len;
	if (fs->dirty_bytes > fs->dirty_limit / 2)
		pthread_cond_signal(&fs->flush_cv);
	pthread_mutex_unlock(&fs->flush_lock);
	return rc;
}

void flusher_release_bytes(struct fs *fs, uint64_t len)
{
	pthread_mutex_lock(&fs->flush_lock);
	fs->dirty_bytes -= len < fs->dirty_bytes ? len : fs->dirty_bytes;
	pthread_cond_broadcast(&fs->room_cv);
	pthread_mutex_unlock(&fs->flush_lock);
}

void flusher_kick(struct fs *fs)
{
	pthread_mutex_lock(&fs->flush_lock);
	if (!fs->kicked) {
		fs->kicked = true;
		pthread_cond_signal(&fs->flush_cv);
	}
	pthread_mutex_unlock(&fs->flush_lock);
}

/* What an fsync of in reports once its commit is done: the file's commit
 * error, else the namespace's. */
static int sync_error(struct fs *fs, struct inode *in)
{
	int err = 0;

	if (in) {
		pthread_mutex_lock(&in->lock);
		err = in->wb_err;
		in->wb_err = 0;
		pthread_mutex_unlock(&in->lock);
	}
	pthread_mutex_lock(&fs->ns_lock);
	if (!err)
		err = fs->ns_err;
	pthread_mutex_unlock(&fs->ns_lock);
	return -err;
}

int flusher_sync(struct fs *fs, struct inode *in)
{
	uint64_t target;

	pthread_mutex_lock(&fs->flush_lock);
	target = fs->started_gen + 1;
	if (fs->wanted_gen < target)
		fs->wanted_gen = target;
	pthread_cond_signal(&fs->flush_cv);
	while (fs->done_gen < target && fs->flusher_running)
		pthread_cond_wait(&fs->done_cv, &fs->flush_lock);
	pthread_mutex_unlock(&fs->flush_lock);
	return sync_error(fs, in);
}

/*
 * Takes the flush set of one file (under its lock). With the writeback
 * cache, a commit stops below the file's lowest open gap (push.c): what
 * lies past it stays dirty, the size committed is the gap's start, and
 * the commit is interim. Not at the last round: the kernel has sent all.
 */
static void take(struct fs *fs, struct job *j, bool last, bool pressure)
{
	struct inode *in = j->in;
	uint64_t floor, size;
	struct dset tail;
	bool data;

	pthread_mutex_lock(&in->lock);
	/* A failed commit whose set could not be merged back (no memory)
	 * left it in flush: merge it first, or wait for a later round. */
	if (!dset_empty(&in->flush) && dset_merge_under(&in->dirty, &in->flush) != 0) {
		pthread_mutex_unlock(&in->lock);
		return;
	}
	floor = last ? UINT64_MAX : gap_floor(fs, in, pressure);
	if (last)
		gap_clear(in);
	size = in->a.size;
	if (floor < size && !in->removed) {
		j->held = true;
		size = floor;
		__atomic_fetch_add(&fs->gap_holds, 1, __ATOMIC_RELAXED);
	}
	data = j->held ? dset_has_below(&in->dirty, size) : !dset_empty(&in->dirty);
	if (!in->removed && S_ISREG(in->a.mode) &&
	    (data || size != in->committed || in->a.mtime_ns != in->committed_mtime ||
	     (in->save_wanted && in->last_interim && !j->held))) {
		dset_init(&tail);
		/* No memory to split: all of it, as if there were no gap. */
		if (j->held && dset_split(&in->dirty, size, &tail) != 0) {
			j->held = false;
			size = in->a.size;
		}
		in->flush = in->dirty;
		in->dirty = tail;
		in->flushing = true;
		j->commit = true;
		j->bytes = in->flush.bytes;
		j->size = size;
		j->mtime = (uint64_t)in->a.mtime_ns;
		j->self.mode = in->a.mode;
		j->self.uid = in->a.uid;
		j->self.gid = in->a.gid;
		j->parent = in->parent_hint;
		/* A save if asked for (fsync, last close), if no one has the
		 * file open to write (a truncate or utimens by path), or if a
		 * writer has kept it open for save_s since the last save; never
		 * a commit that stops at a gap. */
		j->save = !j->held && (in->save_wanted || in->nwrite == 0 ||
				       st_realtime_ns() - in->last_save_ns >=
					   (uint64_t)fs->o.save_s * 1000000000);
		if (!j->held)
			in->save_wanted = false;
	}
	pthread_mutex_unlock(&in->lock);
}

static void commit_failed(struct job *j, int rc)
{
	struct inode *in = j->in;

	j->err = fs_errno(rc);
	if (in->wb_err != j->err) /* once per kind of failure, not every round */
		fs_log(LOG_ERR, "inode %llu: commit of %s failed: %s", (unsigned long long)in->ino,
		       st_path(in->st), st_last_error()->msg);
}

/*
 * Each commit records the file's attributes as they are (written to the
 * store only when they changed), so that its versions keep their owner,
 * mode, directories and xattrs. Vaults made before the feature
 * (NS_FEAT_VATTR) keep stores an older release can write: none there.
 */
static int stage_meta(struct fs *fs, const struct job *j, st_store *st)
{
	void *buf;
	size_t len;
	int rc;

	if (!(fs->sb.incompat & NS_FEAT_VATTR))
		return ST_OK;
	if ((rc = meta_gather(fs, j->in->ino, &j->self, j->parent, &buf, &len)) != 0)
		return rc == -ENOMEM ? ST_ENOMEM : ST_EIO;
	rc = st_file_set_meta(st, buf, len);
	free(buf);
	return rc;
}

/* Stages the flush set in the store; no inode lock held, the store
 * cannot close while in->flushing. */
static void prepare(struct fs *fs, struct job *j)
{
	struct inode *in = j->in;
	st_store *st;
	int rc;

	pthread_mutex_lock(&in->lock);
	rc = ino_store(fs, in);
	st = in->st;
	j->waited = rc == 0 && in->compacting;
	pthread_mutex_unlock(&in->lock);
	if (rc) {
		j->err = -rc;
		return;
	}
	if (j->waited) {
		/* st_file_size() takes the writer lock and nothing else: its
		 * time is the wait for a final catch-up under way. The probe
		 * runs only for stores being compacted, so costs nothing else. */
		uint64_t t0 = st_monotonic_ns();

		(void)st_file_size(st);
		j->wait_ns = st_monotonic_ns() - t0;
	}
	rc = dset_apply(&in->flush, st);
	if (rc == ST_OK && st_file_size(st) != j->size)
		rc = st_file_truncate(st, j->size);
	if (rc == ST_OK)
		rc = st_file_set_mtime(st, j->mtime);
	if (rc == ST_OK)
		st_set_commit_kind(st, j->save ? ST_SAVE : ST_INTERIM);
	if (rc == ST_OK)
		rc = stage_meta(fs, j, st);
	if (rc != ST_OK) {
		commit_failed(j, rc);
		st_rollback(st);
		return;
	}
	j->prepared = true;
}

/* Stages every job, then commits their stores as one group: a syncfs for
 * many, each file's fdatasync for few. */
static void commit_batch(struct fs *fs, struct job *jobs, size_t n)
{
	st_store *sts[BATCH];
	int rcs[BATCH];
	size_t map[BATCH], nprep = 0;
	struct st_group_opts o = {0};

	for (size_t i = 0; i < n; i++) {
		prepare(fs, &jobs[i]);
		if (jobs[i].prepared) {
			map[nprep] = i;
			sts[nprep++] = jobs[i].in->st;
		}
	}
	if (!nprep)
		return;
	o.sync = nprep > SMALL_BATCH ? ST_SYNC_FS : ST_SYNC_EACH;
	st_commit_group(sts, nprep, &o, rcs, NULL);
	for (size_t k = 0; k < nprep; k++) {
		if (rcs[k] == ST_OK)
			continue;
		jobs[map[k]].prepared = false;
		commit_failed(&jobs[map[k]], rcs[k]);
	}
}

/* After the commit: drop the flush set, or give it back on failure. */
static void settle(struct fs *fs, struct job *j)
{
	struct inode *in = j->in;
	uint64_t freed = 0;

	if (j->held) { /* the rest, once the gap is filled or let go */
		gap_queue(fs, in->ino);
		flusher_mark(fs, in);
	}
	if (!j->commit)
		return;
	pthread_mutex_lock(&in->lock);
	if (j->prepared) {
		freed = in->flush.bytes;
		dset_release(&in->flush);
		struct st_version v;

		in->committed = j->size;
		in->committed_mtime = (int64_t)j->mtime;
		/* A save that is no longer the newest is history a give-back
		 * may drop: one that found nothing may find it now. */
		if (in->committed_seq && !in->last_interim)
			space_more_history(fs);
		in->last_interim = !j->save;
		if (j->save)
			in->last_save_ns = st_realtime_ns();
		if (in->st) { /* it stays open while flushing; checked all the same */
			st_current(in->st, &v);
			in->committed_seq = v.seq;
			in->committed_bytes = v.bytes;
			/* A file being written may gain history: a give-back
			 * may have to copy this much of it. */
			space_note(fs, v.bytes);
		}
		in->attr_dirty = true; /* the record gets the committed size */
	} else {
		uint64_t before = in->dirty.bytes + in->flush.bytes;

		if (j->err == 0)
			j->err = EIO;
		if (j->save)
			in->save_wanted = true; /* the next try is the save */
		if (dset_merge_under(&in->dirty, &in->flush) == 0)
			freed = before - in->dirty.bytes;
		in->wb_err = j->err;
		if (j->err == ENOSPC) {
			pthread_mutex_lock(&fs->flush_lock);
			fs->nospace = true;
			pthread_mutex_unlock(&fs->flush_lock);
		}
	}
	in->flushing = false;
	if (!j->prepared && !in->removed)
		flusher_mark(fs, in); /* try again next round */
	if (j->prepared && in->st)
		compactor_consider(fs, in->ino, in->st);
	ino_store_idle(in);
	pthread_mutex_unlock(&in->lock);
	if (freed)
		flusher_release_bytes(fs, freed);
	if (j->prepared && freed)
		space_committed(fs, freed);
}

/*
 * Commits the namespace if an fsync needs it (names, inodes, modes,
 * xattrs) or if sizes and times have waited an interval. Under
 * ns_commit_lock from the test to the end of the commit: whoever finds
 * nothing staged here knows every commit of staged changes is durable.
 */
static void commit_ns_store(struct fs *fs, bool last)
{
	int rc = 0;
	bool dirty;

	pthread_mutex_lock(&fs->ns_commit_lock);
	pthread_mutex_lock(&fs->ns_lock);
	/* Sizes and times alone wait for the interval: after a crash the
	 * stores give them back (fs->unclean), so an fsync need not pay for
	 * a namespace commit that changes no name. */
	dirty = fs->ns_dirty || (fs->ns_lazy && (last || st_realtime_ns() - fs->ns_commit_time >=
							     fs->o.flush_ms * 1000000ull));
	if (dirty) {
		fs->ns_dirty = fs->ns_lazy = false;
		fs->ns_commit_time = st_realtime_ns();
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (dirty)
		rc = st_commit(fs->ns, NULL);
	pthread_mutex_lock(&fs->ns_lock);
	if (rc != ST_OK) {
		fs->ns_err = fs_errno(rc);
		fs->ns_dirty = true; /* the staged changes are kept for the next try */
		fs_log(LOG_ERR, "namespace commit failed: %s", st_last_error()->msg);
		if (fs->ns_err == ENOSPC) {
			pthread_mutex_lock(&fs->flush_lock);
			fs->nospace = true;
			pthread_mutex_unlock(&fs->flush_lock);
		}
	} else if (dirty) {
		fs->ns_err = 0;
		compactor_consider(fs, 0, fs->ns);
		fence_kick(fs);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_mutex_unlock(&fs->ns_commit_lock);
}

/* Writes the records of the jobs' inodes (ns_lock held). */
static void persist_records(struct fs *fs, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct inode *in = jobs[i].in;

		pthread_mutex_lock(&in->lock);
		if (in->attr_dirty && !in->removed)
			ino_persist_lazy(fs, in);
		if (in->a.nlink == 0 && in->nopen == 0 && !in->removed && !in->flushing)
			ino_remove(fs, in);
		pthread_mutex_unlock(&in->lock);
	}
}

/* The round lets go of inodes; idle ones leave the table (ns_lock held).
 * An fsync batch waiting for one of them may start. */
static void round_release(struct fs *fs, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&fs->flush_lock);
		jobs[i].in->inflight = false;
		pthread_mutex_unlock(&fs->flush_lock);
		jobs[i].in->refs++;
		ino_put_locked(fs, jobs[i].in);
	}
	pthread_mutex_lock(&fs->flush_lock);
	pthread_cond_broadcast(&fs->done_cv);
	pthread_mutex_unlock(&fs->flush_lock);
}

static int job_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct job *)a)->in->ino, y = ((const struct job *)b)->in->ino;

	return (x > y) - (x < y);
}

/* Moves the jobs that pass to the front, in their order; returns how many. */
static size_t partition(struct job *jobs, size_t n, bool (*pass)(const struct job *))
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (pass(&jobs[i])) {
			struct job t = jobs[k];

			jobs[k++] = jobs[i];
			jobs[i] = t;
		}
	return k;
}

static bool has_commit(const struct job *j)
{
	return j->commit;
}

static bool has_held(const struct job *j)
{
	return j->held;
}

/*
 * Takes the jobs' flush sets, in inode order: one order for the stores'
 * locks, which a batch holds together. Puts the jobs with a commit first,
 * in that order, then files a gap held whole, then those with nothing to
 * do; returns how many have a commit, and *nkept the first two.
 */
static size_t take_jobs(struct fs *fs, struct job *jobs, size_t n, bool last, bool pressure,
			size_t *nkept)
{
	size_t ncommit;

	if (n > 1)
		qsort(jobs, n, sizeof(*jobs), job_cmp);
	for (size_t i = 0; i < n; i++)
		take(fs, &jobs[i], last, pressure);
	ncommit = partition(jobs, n, has_commit);
	*nkept = ncommit + partition(jobs + ncommit, n - ncommit, has_held);
	return ncommit;
}

/* Commits jobs[0..ncommit), settles jobs[0..n), writes their records and
 * commits the namespace. */
static void finish_jobs(struct fs *fs, struct job *jobs, size_t ncommit, size_t n, bool last)
{
	size_t i;

	for (i = 0; i < ncommit; i += BATCH)
		commit_batch(fs, jobs + i, ncommit - i < BATCH ? ncommit - i : BATCH);
	for (i = 0; i < n; i++)
		settle(fs, &jobs[i]);
	pthread_mutex_lock(&fs->ns_lock);
	persist_records(fs, jobs, n);
	pthread_mutex_unlock(&fs->ns_lock);
	commit_ns_store(fs, last);
}

/* Lets go of the jobs' files; returns how many failed to commit. */
static size_t round_done(struct fs *fs, struct job *jobs, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		failed += jobs[i].commit && !jobs[i].prepared;
	pthread_mutex_lock(&fs->ns_lock);
	round_release(fs, jobs, n);
	pthread_mutex_unlock(&fs->ns_lock);
	return failed;
}

static bool is_small(const struct job *j)
{
	return j->bytes < SMALL_COMMIT;
}

/*
 * A round: the files it has nothing to do for go at once; the small
 * commits are made before the large ones, as a group of their own, and
 * their files go too. An fsync that finds its file in the round then
 * waits for neither of those, only for its file's commit. Returns how
 * many files failed to commit.
 */
static size_t round_run(struct fs *fs, struct job *jobs, size_t n, bool last, bool pressure)
{
	size_t ncommit, nkept, nsmall, failed = 0;

	ncommit = take_jobs(fs, jobs, n, last, pressure, &nkept);
	if (nkept < n) {
		pthread_mutex_lock(&fs->ns_lock);
		persist_records(fs, jobs + nkept, n - nkept);
		round_release(fs, jobs + nkept, n - nkept);
		pthread_mutex_unlock(&fs->ns_lock);
	}
	nsmall = partition(jobs, ncommit, is_small);
	if (nsmall && nsmall < ncommit) {
		finish_jobs(fs, jobs, nsmall, nsmall, last);
		failed += round_done(fs, jobs, nsmall);
		jobs += nsmall;
		ncommit -= nsmall;
		nkept -= nsmall;
		/* partition() kept the small ones' order, not the others'. */
		qsort(jobs, ncommit, sizeof(*jobs), job_cmp);
	}
	finish_jobs(fs, jobs, ncommit, nkept, last);
	return failed + round_done(fs, jobs, nkept);
}

/* Clears the ENOSPC state once the disk has room again (as space_check
 * just sampled it: the daemon writes as root). */
static void check_space(struct fs *fs)
{
	uint64_t margin;

	pthread_mutex_lock(&fs->flush_lock);
	margin = fs->space_total / 16;
	if (margin > SPACE_MARGIN)
		margin = SPACE_MARGIN;
	if (fs->nospace && fs->space_root > fs->dirty_bytes + margin) {
		fs->nospace = false;
		pthread_cond_broadcast(&fs->room_cv);
		fs_log(LOG_INFO, "the backing disk has room again");
	}
	pthread_mutex_unlock(&fs->flush_lock);
}

static void *flusher_main(void *arg)
{
	struct fs *fs = arg;
	struct timespec deadline;
	struct inode *list, *in;
	struct job *jobs = NULL;
	size_t n, cap = 0;
	uint64_t gen, t0, took;
	bool idle, stopping, pressure;
	unsigned failed_rounds = 0;
	size_t failed;

	pthread_mutex_lock(&fs->flush_lock);
	for (;;) {
		deadline_in_ms(&deadline, fs->o.flush_ms);
		while (!fs->stop && fs->wanted_gen <= fs->started_gen && !fs->kicked &&
		       fs->dirty_bytes <= fs->dirty_limit / 2 &&
		       pthread_cond_timedwait(&fs->flush_cv, &fs->flush_lock, &deadline) == 0)
			;
		pthread_mutex_unlock(&fs->flush_lock);
		/* Below the low-water mark history gives way (space.c). */
		space_check(fs);
		check_space(fs);
		pthread_mutex_lock(&fs->flush_lock);
		/* The round's own array: once unlisted, an inode may be listed
		 * again (its dirty_next reused) while the round runs. */
		n = 0;
		for (in = fs->dirty_head; in; in = in->dirty_next)
			n++;
		if (n > cap) {
			struct job *j = realloc(jobs, n * sizeof(*j));

			if (j) {
				jobs = j;
				cap = n;
			}
		}
		/* A file an fsync batch is committing is taken once the batch
		 * ends (what was written after the batch took it is this
		 * round's); meanwhile no new batch starts. */
		for (in = fs->dirty_head; in && !in->syncing; in = in->dirty_next)
			;
		if (in) {
			fs->sync_round_waits = true;
			while (fs->sync_leader)
				pthread_cond_wait(&fs->sync_cv, &fs->flush_lock);
			fs->sync_round_waits = false;
			pthread_cond_broadcast(&fs->sync_cv);
		}
		list = fs->dirty_head;
		for (n = 0; list && n < cap; list = list->dirty_next) {
			memset(&jobs[n], 0, sizeof(jobs[n]));
			jobs[n++].in = list;
			list->listed = false;
			list->inflight = true;
		}
		fs->dirty_head = list; /* what did not fit waits for the next round */
		gen = ++fs->started_gen;
		fs->kicked = false;
		stopping = fs->stop;
		pressure = fs->room_waiters > 0;
		pthread_mutex_unlock(&fs->flush_lock);

		t0 = st_monotonic_ns();
		failed = round_run(fs, jobs, n, stopping, pressure);
		took = st_monotonic_ns() - t0;
		failed_rounds = stopping && failed ? failed_rounds + 1 : 0;

		pthread_mutex_lock(&fs->ns_lock);
		idle = !fs->ns_dirty && !fs->ns_lazy;
		pthread_mutex_unlock(&fs->ns_lock);
		pthread_mutex_lock(&fs->flush_lock);
		/* Rounds with no file are timer ticks: they would hide the
		 * latency of the ones that commit. */
		if (n) {
			fs->flush_busy_rounds++;
			fs->flush_round_ns += took;
			if (took > fs->flush_round_max_ns)
				fs->flush_round_max_ns = took;
			stat_ring_add(&fs->flush_round_ring, took);
		}
		for (size_t i = 0; i < n; i++)
			if (jobs[i].waited) {
				fs->flush_store_waits++;
				fs->flush_store_wait_ns += jobs[i].wait_ns;
			}
		fs->done_gen = gen;
		pthread_cond_broadcast(&fs->done_cv);
		if (fs->stop && idle && !fs->dirty_head)
			break;
		if (fs->stop && (fs->nospace || failed_rounds >= 3))
			break; /* what cannot be written is lost; say so below */
	}
	if (fs->dirty_head || fs->dirty_bytes)
		fs_log(LOG_ERR, "%llu bytes could not be written at unmount",
		       (unsigned long long)fs->dirty_bytes);
	fs->flusher_running = false;
	pthread_cond_broadcast(&fs->done_cv);
	pthread_mutex_unlock(&fs->flush_lock);
	free(jobs);
	return NULL;
}

int flusher_start(struct fs *fs)
{
	int rc;

	cond_init_monotonic(&fs->flush_cv);
	fs->flusher_running = true;
	rc = pthread_create(&fs->flusher, NULL, flusher_main, fs);
	if (rc) {
		fs->flusher_running = false;
		return -rc;
	}
	return 0;
}

void flusher_stop(struct fs *fs)
{
	pthread_mutex_lock(&fs->flush_lock);
	if (!fs->flusher_running) {
		pthread_mutex_unlock(&fs->flush_lock);
		return;
	}
	fs->stop = true;
	pthread_cond_broadcast(&fs->flush_cv);
	pthread_cond_broadcast(&fs->room_cv);
	pthread_mutex_unlock(&fs->flush_lock);
	pthread_join(fs->flusher, NULL);
}

/*
 * Runs one fsync batch: the files queued that no round has, up to
 * SYNC_BATCH, or, if a round has every one (the caller's among them),
 * nothing until a round lets one go; returns false then. Called and
 * returns with flush_lock held, as the batch's leader.
 */
static bool sync_lead(struct fs *fs, struct job *jobs)
{
	struct inode *in, *next, *rest = NULL, *rest_tail = NULL;
	uint64_t t0, took;
	bool pressure;
	size_t n = 0, ncommit, nkept;

	for (in = fs->sync_head; in; in = next) {
		next = in->sync_next;
		if (in->inflight || n == SYNC_BATCH) { /* for a later batch */
			in->sync_next = NULL;
			if (rest_tail)
				rest_tail->sync_next = in;
			else
				rest = in;
			rest_tail = in;
			continue;
		}
		in->sync_queued = false;
		in->syncing = true;
		memset(&jobs[n], 0, sizeof(jobs[n]));
		jobs[n].asked = in->sync_asked;
		jobs[n++].in = in;
	}
	fs->sync_head = rest;
	fs->sync_tail = rest_tail;
	if (!n) {
		pthread_cond_wait(&fs->done_cv, &fs->flush_lock);
		return false;
	}
	fs->sync_leader = true;
	pressure = fs->room_waiters > 0;
	pthread_mutex_unlock(&fs->flush_lock);

	t0 = st_monotonic_ns();
	ncommit = take_jobs(fs, jobs, n, false, pressure, &nkept);
	finish_jobs(fs, jobs, ncommit, n, false);
	took = st_monotonic_ns() - t0;

	pthread_mutex_lock(&fs->flush_lock);
	for (size_t i = 0; i < n; i++) {
		jobs[i].in->syncing = false;
		jobs[i].in->sync_done = jobs[i].asked;
	}
	fs->fsync_batches++;
	fs->fsync_batch_files += n;
	fs->fsync_batch_ns += took;
	fs->sync_leader = false;
	pthread_cond_broadcast(&fs->sync_cv);
	return true;
}

/*
 * An fsync's commit of its file, beside the flusher's rounds: it neither
 * waits for a round of other files' dirty data (a stream's 32 MiB, say)
 * nor wakes the flusher and waits to be woken again, which on a machine
 * where a switch between threads costs tens of microseconds is a good
 * part of an fsync. The file joins the queue; if no batch is running,
 * this thread commits the queue as one (shared syncs, and the namespace
 * if names changed, as a round does); else it waits for a batch that
 * takes its file, and may lead the next one. A file a round already has
 * waits for its commit there. At a stop the flusher's last rounds do it
 * all.
 */
int flusher_sync_file(struct fs *fs, struct inode *in)
{
	struct job jobs[SYNC_BATCH];
	bool waited = false;
	uint64_t mine;

	pthread_mutex_lock(&fs->flush_lock);
	if (fs->stop || !fs->flusher_running) {
		pthread_mutex_unlock(&fs->flush_lock);
		flusher_mark(fs, in);
		return flusher_sync(fs, in);
	}
	mine = ++in->sync_asked;
	if (!in->sync_queued) {
		in->sync_queued = true;
		in->sync_next = NULL;
		if (fs->sync_tail)
			fs->sync_tail->sync_next = in;
		else
			fs->sync_head = in;
		fs->sync_tail = in;
	}
	while (in->sync_done < mine) {
		if (fs->sync_leader || fs->sync_round_waits)
			pthread_cond_wait(&fs->sync_cv, &fs->flush_lock);
		else if (!sync_lead(fs, jobs) && !waited) {
			waited = true;
			fs->fsync_round_waits++;
		}
	}
	pthread_mutex_unlock(&fs->flush_lock);
	return sync_error(fs, in);
}
