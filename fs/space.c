/*
 * space.c - live data before history.
 *
 * The flusher samples the backing disk's free space each round (space_check)
 * and writers sample it when they come near the edge. Below the low-water
 * mark the compactor's thread gives history back (space_reclaim), oldest
 * first across the mount: the graveyard (stores of deleted paths) first,
 * then the oldest versions of any file beyond its newest, the replaced
 * files of its lineage and the namespace's old versions included; never a
 * pinned version, never a file's newest. It stops at the high-water mark.
 * A write that would not fit waits for that (space_admit_locked) and gets
 * ENOSPC only when nothing more can go, or after -o space_wait_s.
 *
 * Why a copy and not holes: a compaction copies what a store keeps before
 * the old file goes, so giving space back takes room for the kept bytes.
 * Punching holes where dropped records lie would take none, but every
 * crash invariant of the store rests on bytes never changing once written,
 * and a header chain would then lead into zeros. So the low-water mark is
 * the reserve plus the largest store's kept bytes (space_need): a
 * give-back starts while there is still room for its copy, and writers
 * leave that room free while it runs (fs->space_hold). Dropping a deleted
 * or replaced file's store whole needs no copy at all.
 *
 * Locks: the samples, the marks and the writers' waits are under
 * flush_lock; the give-back's requests, counters and the last figures are
 * under compact_lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "revfs.h"

#define SEC_NS 1000000000ull
/* A sample older than this is taken again before a writer is let in. */
#define SAMPLE_NS (SEC_NS / 2)
/* Closer to the edge than this, a writer samples each time. */
#define NEAR_BYTES (256ull << 20)
/* Beyond what is dirty: the trees and headers its commits add. */
#define COMMIT_SLACK (4ull << 20)
/* A copy's room beyond its estimate: its trees and headers. */
#define COPY_SLACK (1ull << 20)
/* The default reserve: a tenth of the disk, at most this. */
#define RESERVE_MAX (1ull << 30)
/* A give-back that found nothing is not tried again by the flusher's
 * samples sooner than this (a waiting writer asks at once). */
#define DRY_PAUSE_NS (30 * SEC_NS)
/* The figures of .revfs/stats are taken again after this. */
#define FIGS_NS (2 * SEC_NS)
/* The history budget is checked this often, and this often near it. */
#define BUDGET_CHECK_NS (60 * SEC_NS)
#define BUDGET_NEAR_NS	(5 * SEC_NS)
/* A file store this much larger than its newest version has history. */
#define HISTORY_MIN (64ull << 10)

/* flush_lock held. */
static void sample_locked(struct fs *fs)
{
	struct statvfs sv;

	if (fstatvfs(fs->backing_fd, &sv) != 0)
		return;
	fs->space_user = (uint64_t)sv.f_bavail * sv.f_frsize;
	fs->space_root = (uint64_t)sv.f_bfree * sv.f_frsize;
	fs->space_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	fs->space_sampled_ns = st_monotonic_ns();
}

int space_init(struct fs *fs)
{
	uint64_t r;

	pthread_mutex_lock(&fs->flush_lock);
	sample_locked(fs);
	pthread_mutex_unlock(&fs->flush_lock);
	/* The option, else the superblock's, else the default. */
	r = fs->o.reserve_set ? fs->o.reserve : fs->sb.reserve;
	if (r || fs->o.reserve_set) {
		fs->reserve = ns_space_bytes(r, fs->space_total);
	} else {
		fs->reserve = fs->space_total / 10;
		if (fs->reserve > RESERVE_MAX)
			fs->reserve = RESERVE_MAX;
	}
	r = fs->o.history_max_set ? fs->o.history_max : fs->sb.history_max;
	fs->history_max = ns_space_bytes(r, fs->space_total);
	return 0;
}

/* The free space below which history gives way, and the one it stops at
 * (flush_lock held). */
static uint64_t low_water(const struct fs *fs)
{
	return fs->reserve + fs->space_need;
}

static uint64_t high_water(const struct fs *fs)
{
	return low_water(fs) + fs->reserve / 2 + COPY_SLACK;
}

/* What the disk has for writes beyond what is dirty (flush_lock held). */
static uint64_t free_beyond_dirty(const struct fs *fs, bool root)
{
	uint64_t a = root ? fs->space_root : fs->space_user;

	return a > fs->dirty_bytes ? a - fs->dirty_bytes : 0;
}

bool space_low_locked(const struct fs *fs)
{
	return free_beyond_dirty(fs, false) < low_water(fs);
}

bool space_low(struct fs *fs)
{
	bool low;

	pthread_mutex_lock(&fs->flush_lock);
	sample_locked(fs);
	low = space_low_locked(fs);
	pthread_mutex_unlock(&fs->flush_lock);
	return low;
}

/* Asks the compactor's thread for a give-back (takes compact_lock, a
 * leaf: flush_lock may be held). force: a writer that does not fit asks,
 * even right after a round that could give nothing. Whether a give-back
 * is asked for or running now. */
static bool kick(struct fs *fs, bool force)
{
	bool giving;

	pthread_mutex_lock(&fs->compact_lock);
	if (!fs->reclaim_wanted && !fs->reclaim_running &&
	    (force || !fs->reclaim_dry_ns ||
	     st_monotonic_ns() - fs->reclaim_dry_ns >= DRY_PAUSE_NS)) {
		fs->reclaim_wanted = true;
		pthread_cond_signal(&fs->compact_cv);
	}
	giving = fs->reclaim_wanted || fs->reclaim_running;
	pthread_mutex_unlock(&fs->compact_lock);
	return giving;
}

void space_check(struct fs *fs)
{
	bool low, budget = false;

	if (fs->o.ro)
		return;
	pthread_mutex_lock(&fs->flush_lock);
	sample_locked(fs);
	low = space_low_locked(fs);
	pthread_mutex_unlock(&fs->flush_lock);
	/* The budget is checked against a walk of the stores: every minute,
	 * or every BUDGET_NEAR_NS once history is near it. */
	if (fs->history_max) {
		uint64_t now = st_monotonic_ns();

		pthread_mutex_lock(&fs->compact_lock);
		budget = !fs->budget_checked_ns ||
			 now - fs->budget_checked_ns >=
			     (fs->budget_near ? BUDGET_NEAR_NS : BUDGET_CHECK_NS) ||
			 (fs->budget_written > fs->history_max / 10 &&
			  now - fs->budget_checked_ns >= BUDGET_NEAR_NS);
		if (budget) {
			fs->budget_checked_ns = now;
			fs->budget_written = 0;
		}
		pthread_mutex_unlock(&fs->compact_lock);
	}
	if (low || budget)
		kick(fs, budget);
}

void space_note(struct fs *fs, uint64_t kept)
{
	pthread_mutex_lock(&fs->flush_lock);
	if (kept > fs->space_need)
		fs->space_need = kept;
	pthread_mutex_unlock(&fs->flush_lock);
}

void space_committed(struct fs *fs, uint64_t bytes)
{
	if (!fs->history_max)
		return;
	pthread_mutex_lock(&fs->compact_lock);
	fs->budget_written += bytes;
	pthread_mutex_unlock(&fs->compact_lock);
}

void space_more_history(struct fs *fs)
{
	pthread_mutex_lock(&fs->compact_lock);
	fs->reclaim_dry_ns = 0;
	pthread_mutex_unlock(&fs->compact_lock);
}

bool space_room_for(struct fs *fs, uint64_t bytes)
{
	bool room;

	pthread_mutex_lock(&fs->flush_lock);
	sample_locked(fs);
	room = free_beyond_dirty(fs, false) >= low_water(fs) + bytes;
	pthread_mutex_unlock(&fs->flush_lock);
	return room;
}

/* Whether len more dirty bytes of a writer (root or not) fit, leaving
 * hold bytes for a give-back's copy (flush_lock held; samples when stale
 * or near the edge). */
static bool fits_locked(struct fs *fs, uint64_t len, bool root, uint64_t hold)
{
	uint64_t h, need, avail;

	for (int pass = 0;; pass++) {
		avail = root ? fs->space_root : fs->space_user;
		h = hold;
		/* The daemon writes as root: what a give-back holds may lie in
		 * the blocks reserved for root, which a user's write never gets. */
		if (!root) {
			uint64_t rootonly =
			    fs->space_root > fs->space_user ? fs->space_root - fs->space_user : 0;

			h = h > rootonly ? h - rootonly : 0;
		}
		need = fs->dirty_bytes + len + h + COMMIT_SLACK + (fs->dirty_bytes + len) / 32;
		if (pass > 0 || (st_monotonic_ns() - fs->space_sampled_ns < SAMPLE_NS &&
				 avail >= need + NEAR_BYTES))
			break;
		sample_locked(fs);
	}
	return !fs->nospace && avail >= need;
}

/* Whether the last give-back could drop nothing, and nothing became
 * history since (takes compact_lock). */
static bool dry(struct fs *fs)
{
	bool d;

	pthread_mutex_lock(&fs->compact_lock);
	d = fs->reclaim_dry_ns != 0;
	pthread_mutex_unlock(&fs->compact_lock);
	return d;
}

int space_admit_locked(struct fs *fs, uint64_t len, bool root)
{
	uint64_t t0 = 0, gen0 = UINT64_MAX, fgen = 0;
	struct timespec ts;
	int rc = 0;

	for (;;) {
		bool low = space_low_locked(fs), fits, over, giving = false;
		/* Below the low-water mark, writes leave room for the copy a
		 * give-back may need. */
		uint64_t hold = fs->space_hold;

		if (low && fs->space_need > hold && !dry(fs))
			hold = fs->space_need;
		fits = fits_locked(fs, len, root, hold);
		/* ... and let a give-back run first, so that the copy finds the
		 * room it was sized for. */
		if (fits && (!low || !kick(fs, false)))
			break;
		if (!t0) {
			t0 = st_monotonic_ns();
			fgen = fs->started_gen;
		}
		/* What is dirty is committed first: the versions it supersedes
		 * are what a give-back can drop. Then a give-back that began
		 * after that and could drop nothing means the live data and the
		 * pins do not fit. */
		if (gen0 == UINT64_MAX && fs->done_gen > fgen) {
			pthread_mutex_lock(&fs->compact_lock);
			gen0 = fs->reclaim_started;
			pthread_mutex_unlock(&fs->compact_lock);
		}
		over = false;
		if (gen0 != UINT64_MAX) {
			pthread_mutex_lock(&fs->compact_lock);
			over = fs->reclaim_dry_gen > gen0;
			/* A round under way may still drop something, and its
			 * copy holds room it gives back at its end: no verdict
			 * before it ends. */
			giving = fs->reclaim_wanted || fs->reclaim_running;
			pthread_mutex_unlock(&fs->compact_lock);
		}
		if (fs->stop || st_monotonic_ns() - t0 >= (uint64_t)fs->o.space_wait_s * SEC_NS ||
		    (!fits && over && !giving)) {
			/* No give-back can use the room kept for its copy: the
			 * write may have it. */
			fits = fits || fits_locked(fs, len, root, fs->space_hold);
			rc = fits ? 0 : -ENOSPC;
			break;
		}
		/* Once a round found nothing to drop, another is not forced:
		 * the verdict comes when none is under way. */
		if (!fits) {
			pthread_cond_signal(&fs->flush_cv);
			if (gen0 != UINT64_MAX && !over)
				kick(fs, true);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		fs->room_waiters++; /* the flusher lets old gaps go (gap_floor) */
		pthread_cond_timedwait(&fs->room_cv, &fs->flush_lock, &ts);
		fs->room_waiters--;
	}
	if (t0) {
		fs->space_waits++;
		stat_ring_add(&fs->space_wait_ring, st_monotonic_ns() - t0);
		if (rc)
			fs->space_enospc++;
	}
	if (rc && st_monotonic_ns() - fs->space_enospc_logged >= SEC_NS) {
		/* Once a second at most: a writer may try again at once. */
		fs->space_enospc_logged = st_monotonic_ns();
		fs_log(LOG_WARNING,
		       "a write of %" PRIu64 " bytes gets ENOSPC: %" PRIu64
		       " MiB free for %s, %" PRIu64 " MiB dirty, %" PRIu64
		       " MiB held for a give-back's copy%s",
		       len, (root ? fs->space_root : fs->space_user) >> 20, root ? "root" : "users",
		       fs->dirty_bytes >> 20, fs->space_hold >> 20,
		       fs->nospace ? "; a commit failed for want of space" : "");
	}
	return rc;
}

/* ---- what the backing directory holds ----------------------------------- */

enum cand_kind {
	C_LIVE,	 /* a regular file's store */
	C_PRED,	 /* a replaced file's store, on a live file's lineage */
	C_GRAVE, /* a deleted path's store: the graveyard */
	C_NS,	 /* the namespace */
};

struct cand {
	uint64_t ino;	/* 0: the namespace */
	uint64_t alloc; /* bytes the store file takes on disk */
	uint64_t live;	/* bytes of its newest version */
	uint64_t time;	/* C_GRAVE: when it was deleted */
	enum cand_kind kind;
	/* Filled for the give-back: */
	uint64_t newest;   /* time of its newest version */
	uint64_t per;	   /* bytes a dropped version gives back, estimated */
	uint64_t pins;	   /* bytes of its pinned versions (they are kept) */
	size_t ndrop;	   /* versions that may go */
	size_t nbefore;	   /* ... of them older than the cut being applied */
	bool pinned;	   /* some version is pinned */
	bool done;	   /* dropped whole */
	uint64_t cut_done; /* the cut it was compacted to */
};

struct scan {
	struct cand *c;
	size_t n, cap;
	struct graves graves; /* by inode */
	struct u64s lineage;  /* (ino, pred) pairs */
};

static int cand_add(struct scan *s, uint64_t ino, uint64_t live, enum cand_kind kind, uint64_t time)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct cand *c = realloc(s->c, cap * sizeof(*c));

		if (!c)
			return ST_ENOMEM;
		s->c = c;
		s->cap = cap;
	}
	s->c[s->n++] = (struct cand){.ino = ino, .live = live, .kind = kind, .time = time};
	return 0;
}

static int inode_cb(void *arg, uint64_t ino, const struct ns_inode *a)
{
	if (!S_ISREG(a->mode) || a->store_seq == 0)
		return 0;
	return cand_add(arg, ino, a->store_bytes ? a->store_bytes : a->size, C_LIVE, 0);
}

static int lineage_cb(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns)
{
	struct scan *s = arg;
	int rc;

	(void)cut_ns;
	if ((rc = u64s_push(&s->lineage, ino)) != 0)
		return rc;
	return u64s_push(&s->lineage, pred);
}

/* Index of the grave of ino in g (by inode), or -1. */
static ssize_t grave_find(const struct graves *g, uint64_t ino)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (g->v[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->n && g->v[lo].ino == ino ? (ssize_t)lo : -1;
}

/* Index of pair key in pairs (sorted by key), or -1. */
static ssize_t pair_find(const struct u64s *p, uint64_t key)
{
	size_t lo = 0, hi = p->n / 2;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->v[2 * mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n / 2 && p->v[2 * lo] == key ? (ssize_t)lo : -1;
}

static uint64_t alloc_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/*
 * Lists every store the backing directory holds, classified: the files'
 * (C_LIVE), the replaced files on a live file's lineage (C_PRED), the rest
 * of the graveyard (C_GRAVE), and the namespace; with the bytes each takes.
 * The records are read under ns_lock; the files' sizes are not.
 */
static int scan(struct fs *fs, struct scan *s)
{
	char path[4096];
	uint8_t *onlive = NULL;
	size_t ngraves;
	int rc;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_inode_list(fs->ns, inode_cb, s);
	/* A loaded file's newest commit may be newer than its record. */
	for (size_t i = 0; rc == ST_OK && i < s->n; i++) {
		struct inode *in = ino_find(fs, s->c[i].ino);

		if (in) {
			pthread_mutex_lock(&in->lock);
			if (in->committed_seq)
				s->c[i].live = in->committed_bytes;
			pthread_mutex_unlock(&in->lock);
		}
	}
	if (rc == ST_OK)
		rc = fs_graves_locked(fs, &s->graves);
	if (rc == ST_OK)
		rc = ns_lineage_list(fs->ns, lineage_cb, s);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc != ST_OK)
		return -fs_errno(rc);
	/* Graves come by inode, lineage records too: a grave is on a live
	 * lineage if following preds from a file that is not a grave
	 * reaches it. */
	ngraves = s->graves.n;
	onlive = calloc(ngraves ? ngraves : 1, 1);
	if (!onlive)
		return -ENOMEM;
	for (size_t i = 0; i < s->lineage.n / 2; i++) {
		uint64_t ino = s->lineage.v[2 * i];
		size_t steps = 0;
		ssize_t g;

		if (grave_find(&s->graves, ino) >= 0)
			continue; /* a chain that starts in the graveyard */
		for (uint64_t p = s->lineage.v[2 * i + 1]; p && steps++ < ngraves + 1;) {
			ssize_t l;

			if ((g = grave_find(&s->graves, p)) < 0 || onlive[g])
				break;
			onlive[g] = 1;
			l = pair_find(&s->lineage, p);
			p = l >= 0 ? s->lineage.v[2 * l + 1] : 0;
		}
	}
	for (size_t i = 0; rc == 0 && i < ngraves; i++)
		rc = cand_add(s, s->graves.v[i].ino, 0, onlive[i] ? C_PRED : C_GRAVE,
			      s->graves.v[i].time);
	free(onlive);
	if (rc == 0)
		rc = cand_add(s, 0, 0, C_NS, 0);
	if (rc)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		struct cand *c = &s->c[i];

		if (c->kind == C_NS) {
			struct st_info info;

			c->alloc = alloc_of(st_path(fs->ns));
			c->live = st_info(fs->ns, &info) == ST_OK ? info.live_bytes : 0;
		} else if (ns_store_path(fs->backing, c->ino, path, sizeof(path)) == 0) {
			c->alloc = alloc_of(path);
		}
	}
	return 0;
}

static void scan_release(struct scan *s)
{
	free(s->c);
	free(s->graves.v);
	free(s->lineage.v);
}

/* The figures of a scan, and the largest store with history's newest
 * version (what a give-back's copy may need) into *need. */
static void figures_of(const struct scan *s, struct space_figs *f, uint64_t *need)
{
	memset(f, 0, sizeof(*f));
	*need = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct cand *c = &s->c[i];

		if ((c->kind == C_LIVE || c->kind == C_NS) && c->alloc >= c->live + HISTORY_MIN &&
		    c->live > *need)
			*need = c->live;
		switch (c->kind) {
		case C_LIVE:
			f->live += c->alloc < c->live ? c->alloc : c->live;
			f->history += c->alloc > c->live ? c->alloc - c->live : 0;
			f->files++;
			break;
		case C_PRED:
			f->history += c->alloc;
			break;
		case C_GRAVE:
			f->graveyard += c->alloc;
			f->graves++;
			break;
		case C_NS:
			f->ns = c->alloc;
			break;
		}
	}
}

/* Keeps a scan's figures for .revfs/stats, and its measure of the room a
 * give-back's copy needs. */
static void keep_figures(struct fs *fs, const struct scan *s, struct space_figs *out)
{
	uint64_t need;

	figures_of(s, out, &need);
	space_note(fs, need);
	pthread_mutex_lock(&fs->compact_lock);
	fs->figs = *out;
	fs->figs_ns = st_monotonic_ns();
	pthread_mutex_unlock(&fs->compact_lock);
}

int space_figures(struct fs *fs, struct space_figs *out)
{
	struct scan s;
	uint64_t now = st_monotonic_ns();
	int rc = 0;

	pthread_mutex_lock(&fs->compact_lock);
	if (fs->figs_ns && now - fs->figs_ns < FIGS_NS) {
		*out = fs->figs;
		pthread_mutex_unlock(&fs->compact_lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->compact_lock);
	rc = scan(fs, &s);
	if (rc == 0)
		keep_figures(fs, &s, out);
	scan_release(&s);
	return rc;
}

int space_history_of(struct fs *fs, uint64_t ino, uint64_t *out)
{
	struct u64s preds = {0};
	struct inode *in = ino_get(fs, ino);
	uint64_t live = 0, alloc, pred, cut, cur = ino;
	char path[4096];
	int rc = 0;

	if (in) {
		pthread_mutex_lock(&in->lock);
		live = in->committed_bytes;
		pthread_mutex_unlock(&in->lock);
		ino_put(fs, in);
	}
	alloc = ns_store_path(fs->backing, ino, path, sizeof(path)) == 0 ? alloc_of(path) : 0;
	*out = alloc > live ? alloc - live : 0;
	/* The files its path's history goes on from (atomic saves). */
	pthread_mutex_lock(&fs->ns_lock);
	while (preds.n < 1000000 && ns_lineage_get(fs->ns, cur, &pred, &cut) == ST_OK && pred &&
	       pred != ino && (rc = u64s_push(&preds, pred)) == 0)
		cur = pred;
	pthread_mutex_unlock(&fs->ns_lock);
	for (size_t i = 0; i < preds.n; i++)
		if (ns_store_path(fs->backing, preds.v[i], path, sizeof(path)) == 0)
			*out += alloc_of(path);
	free(preds.v);
	return rc ? -ENOMEM : 0;
}

/* ---- the give-back ------------------------------------------------------- */

struct dropv {
	uint64_t time;
	size_t cand;
};

static int dropv_cmp(const void *a, const void *b)
{
	const struct dropv *x = a, *y = b;

	return (x->time > y->time) - (x->time < y->time);
}

static int grave_time_cmp(const void *a, const void *b)
{
	const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;

	return (x->time > y->time) - (x->time < y->time);
}

static bool pinned(const uint64_t *pins, size_t npins, uint64_t seq)
{
	for (size_t i = 0; i < npins; i++)
		if (pins[i] == seq)
			return true;
	return false;
}

/* Adds candidate i's versions that may go to d: all but the newest (a
 * replaced file's: all), pins never. Sets its newest time, count and
 * per-version estimate. */
static int droppable(struct fs *fs, struct scan *s, size_t i, struct dropv **d, size_t *nd,
		     size_t *cap)
{
	struct cand *c = &s->c[i];
	struct {
		struct st_version *v;
		size_t n;
	} l = {0};
	uint64_t *pins = NULL;
	size_t npins = 0;
	st_store *st = NULL;
	int rc;

	if (c->kind == C_NS)
		rc = st_versions_list(fs->ns, &l.v, &l.n);
	else if ((rc = ns_file_open(fs->backing, &fs->sb, c->ino, ST_READONLY, NULL, &st)) == ST_OK)
		rc = st_versions_list(st, &l.v, &l.n);
	if (st)
		st_close(st);
	if (rc == ST_OK && c->kind != C_NS && fs_pins(fs, c->ino, &pins, &npins) != 0)
		rc = ST_EIO;
	if (rc != ST_OK || l.n == 0) {
		free(l.v);
		free(pins);
		return 0; /* a store that does not list is left as it is */
	}
	c->newest = l.v[0].time_ns;
	c->pinned = npins > 0;
	/* The newest as listed here, not as the scan saw it: a commit in
	 * between (a cut committed at once, fileops.c) would count a
	 * pinned newest twice, as the newest and as a pin, and the copy
	 * would seem too large for the room there is. */
	if (c->kind == C_LIVE)
		c->live = l.v[0].bytes;
	for (size_t k = c->kind == C_PRED ? 0 : 1; k < l.n; k++) {
		if (pinned(pins, npins, l.v[k].seq)) {
			c->pins += l.v[k].bytes; /* kept: the copy takes it */
			continue;
		}
		/* Interim commits go with any compaction: not counted. */
		if (l.v[k].interim)
			continue;
		if (*nd == *cap) {
			size_t ncap = *cap ? *cap * 2 : 1024;
			struct dropv *nv = realloc(*d, ncap * sizeof(*nv));

			if (!nv) {
				free(l.v);
				free(pins);
				return -ENOMEM;
			}
			*d = nv;
			*cap = ncap;
		}
		(*d)[(*nd)++] = (struct dropv){.time = l.v[k].time_ns, .cand = i};
		c->ndrop++;
	}
	if (c->ndrop) {
		uint64_t excess = c->kind == C_PRED    ? c->alloc
				  : c->alloc > c->live ? c->alloc - c->live
						       : 0;

		c->per = excess > c->pins ? (excess - c->pins) / c->ndrop : 0;
	}
	fs_log(LOG_DEBUG, "give-back: store %" PRIu64 ": %zu versions, %zu may go, %zu pinned",
	       c->ino, l.n, c->ndrop, npins);
	/* What a give-back's copy of it takes at least: the low-water mark
	 * makes room for it. */
	if (c->kind != C_PRED)
		space_note(fs, c->live + c->pins);
	free(l.v);
	free(pins);
	return 0;
}

/* The free bytes now, for users and for the daemon (takes flush_lock). */
static void free_now(struct fs *fs, uint64_t *user, uint64_t *root)
{
	pthread_mutex_lock(&fs->flush_lock);
	sample_locked(fs);
	*user = free_beyond_dirty(fs, false);
	if (root)
		*root = free_beyond_dirty(fs, true);
	pthread_mutex_unlock(&fs->flush_lock);
}

/* Wakes the writers waiting for room (takes flush_lock). */
static void wake_writers(struct fs *fs)
{
	pthread_mutex_lock(&fs->flush_lock);
	pthread_cond_broadcast(&fs->room_cv);
	pthread_mutex_unlock(&fs->flush_lock);
}

struct tally {
	size_t graves, preds, files, versions, nocopy;
	uint64_t nocopy_need; /* the largest copy there was no room for */
	uint64_t cut;	      /* the newest cut applied */
};

/* Candidate c compacted so that versions older than cut go; the newest
 * and pins stay. Whole, with no copy, if it is a replaced file all of
 * whose versions go. Skipped if its copy would not fit. */
static void give_back(struct fs *fs, struct cand *c, uint64_t cut, struct tally *t)
{
	uint64_t user, root, room, least;

	if (c->done || c->cut_done >= cut)
		return;
	if (c->kind == C_PRED) {
		/* Its versions leave the path's history together, with no copy,
		 * once the cut passes the newest; pinned ones stay. */
		if (c->newest < cut && !c->pinned && fs_grave_drop(fs, c->ino) >= 0) {
			c->done = true;
			t->preds++;
		}
		return;
	}
	/* Room for the copy: the newest version, and the others newer than
	 * the cut as estimated. If that does not fit, the newest alone (and
	 * pins) is what it must come to. */
	free_now(fs, &user, &root);
	least = c->live + c->pins + COPY_SLACK;
	room = least;
	if (c->alloc > c->live + c->pins + c->per * c->nbefore)
		room += c->alloc - c->live - c->pins - c->per * c->nbefore;
	if (room > root) {
		if (least > root) {
			fs_log(LOG_DEBUG,
			       "give-back: inode %" PRIu64
			       ": no room for a copy of at least %" PRIu64 " MiB (newest %" PRIu64
			       " MiB, pinned %" PRIu64 " MiB), %" PRIu64 " MiB free",
			       c->ino, least >> 20, c->live >> 20, c->pins >> 20, root >> 20);
			t->nocopy++;
			if (least > t->nocopy_need)
				t->nocopy_need = least;
			return;
		}
		cut = st_realtime_ns() + 1;
		room = least;
	}
	fs_log(LOG_DEBUG,
	       "give-back: %s %" PRIu64 ": %" PRIu64 " MiB on disk, newest %" PRIu64
	       " MiB, pinned %" PRIu64 " MiB; copy of about %" PRIu64 " MiB, %" PRIu64 " MiB free",
	       c->kind == C_NS ? "namespace" : "inode", c->ino, c->alloc >> 20, c->live >> 20,
	       c->pins >> 20, room >> 20, root >> 20);
	if (compactor_cut(fs, c->ino, cut, room) == 0) {
		c->cut_done = cut;
		t->files++;
	}
}

/*
 * One give-back round: the graveyard, oldest deletion first, then the
 * oldest versions across the mount, until the high-water mark. Logs one
 * line. Returns whether it freed anything.
 */
static bool reclaim_round(struct fs *fs)
{
	struct scan s;
	struct cand **graves = NULL;
	struct dropv *d = NULL;
	size_t nd = 0, dcap = 0, ng = 0;
	struct tally t = {0};
	struct space_figs figs;
	uint64_t user0, user, high, low, hist, goal, t0 = st_monotonic_ns();
	int rc;

	if ((rc = scan(fs, &s)) != 0) {
		scan_release(&s);
		fs_log(LOG_ERR, "cannot list the stores to give space back: %s", strerror(-rc));
		return false;
	}
	keep_figures(fs, &s, &figs);
	free_now(fs, &user0, NULL);
	pthread_mutex_lock(&fs->flush_lock);
	high = high_water(fs);
	low = low_water(fs);
	pthread_mutex_unlock(&fs->flush_lock);
	/* What to give back: up to the high-water mark if the disk is below
	 * the low one; under nine tenths of the budget if history is over. */
	hist = figs.history + figs.graveyard;
	if (s.n && s.c[s.n - 1].kind == C_NS && figs.ns > s.c[s.n - 1].live)
		hist += figs.ns - s.c[s.n - 1].live;
	goal = user0 < low ? high - user0 : 0;
	if (fs->history_max && hist > fs->history_max && hist - fs->history_max / 10 * 9 > goal)
		goal = hist - fs->history_max / 10 * 9;
	pthread_mutex_lock(&fs->compact_lock);
	fs->budget_near = fs->history_max && hist > fs->history_max / 10 * 8;
	pthread_mutex_unlock(&fs->compact_lock);
	fs_log(LOG_DEBUG,
	       "give-back: %" PRIu64 " MiB free, low-water mark %" PRIu64 " MiB, history %" PRIu64
	       " MiB, budget %" PRIu64 " MiB",
	       user0 >> 20, low >> 20, hist >> 20, fs->history_max >> 20);
	if (!goal) {
		scan_release(&s);
		return true; /* nothing to do */
	}
	user = user0;
	/* 1. The graveyard: deleted paths' stores, whole, oldest first. */
	graves = calloc(s.n ? s.n : 1, sizeof(*graves));
	for (size_t i = 0; graves && i < s.n; i++)
		if (s.c[i].kind == C_GRAVE)
			graves[ng++] = &s.c[i];
	if (ng)
		qsort(graves, ng, sizeof(*graves), grave_time_cmp);
	for (size_t i = 0; i < ng && user < user0 + goal; i++) {
		uint64_t *pins = NULL;
		size_t npins = 0;

		if (fs_pins(fs, graves[i]->ino, &pins, &npins) != 0 || npins) {
			free(pins);
			continue; /* a pinned version stays, and its store with it */
		}
		if (fs_grave_drop(fs, graves[i]->ino) >= 0)
			t.graves++;
		free_now(fs, &user, NULL);
	}
	free(graves);
	if (t.graves)
		at_ns_changed();
	/* 2. Versions, oldest first across the files, their lineages and
	 * the namespace. */
	for (size_t i = 0; user < user0 + goal && i < s.n; i++) {
		struct cand *c = &s.c[i];

		if (c->kind == C_GRAVE || (c->kind == C_LIVE && c->alloc < c->live + HISTORY_MIN))
			continue;
		if (droppable(fs, &s, i, &d, &nd, &dcap) != 0)
			break;
	}
	if (nd)
		qsort(d, nd, sizeof(*d), dropv_cmp);
	for (size_t k = 0; k < nd && user < user0 + goal;) {
		uint64_t want = (user0 + goal - user) + (user0 + goal - user) / 4, acc = 0, cut;
		size_t j = k;

		/* The cut: past enough of the oldest versions to give the
		 * bytes wanted, as estimated; each store is then compacted
		 * once for it. */
		while (j < nd && (acc < want || j == k)) {
			acc += s.c[d[j].cand].per;
			s.c[d[j].cand].nbefore++;
			j++;
		}
		while (j < nd && d[j].time == d[j - 1].time)
			s.c[d[j++].cand].nbefore++;
		cut = d[j - 1].time + 1;
		for (size_t x = k; x < j; x++)
			if (!s.c[d[x].cand].done && s.c[d[x].cand].cut_done < cut)
				give_back(fs, &s.c[d[x].cand], cut, &t);
		/* The versions older than the cut of the stores that took it. */
		for (size_t x = k; x < j; x++)
			t.versions += s.c[d[x].cand].done || s.c[d[x].cand].cut_done >= cut;
		t.cut = cut;
		k = j;
		free_now(fs, &user, NULL);
		wake_writers(fs);
	}
	free(d);
	scan_release(&s);
	if (t.nocopy && !t.graves && !t.preds && !t.files) {
		bool again;

		pthread_mutex_lock(&fs->compact_lock);
		again = fs->reclaim_dry_ns && st_monotonic_ns() - fs->reclaim_dry_ns < DRY_PAUSE_NS;
		pthread_mutex_unlock(&fs->compact_lock);
		if (!again)
			fs_log(LOG_ERR,
			       "the backing disk is full: %" PRIu64
			       " MiB free, and the history of %zu "
			       "files cannot be given back without room for a copy (up to %" PRIu64
			       " MiB); remove files, or give the disk more room",
			       user0 >> 20, t.nocopy, t.nocopy_need >> 20);
	} else if (t.graves || t.preds || t.files) {
		char when[64] = "";
		time_t sec = (time_t)(t.cut / SEC_NS);
		struct tm tm;

		if (t.cut && localtime_r(&sec, &tm))
			strftime(when, sizeof(when), ", versions before %Y-%m-%d %H:%M:%S", &tm);
		fs_log(
		    LOG_WARNING,
		    "history gave way to %s: %" PRIu64 " MiB were free (low-water mark %" PRIu64
		    " MiB), history took %" PRIu64 " MiB (budget %" PRIu64
		    " MiB); dropped %zu deleted files, %zu replaced files and %zu versions of %zu "
		    "stores%s; %" PRIu64 " MiB free now, in %" PRIu64 " ms%s",
		    user0 < low ? "live data" : "its budget", user0 >> 20, low >> 20, hist >> 20,
		    fs->history_max >> 20, t.graves, t.preds, t.versions, t.files, when, user >> 20,
		    (st_monotonic_ns() - t0) / 1000000,
		    t.nocopy ? " (some stores had no room for their copy)" : "");
	}
	pthread_mutex_lock(&fs->compact_lock);
	fs->reclaim_rounds++;
	fs->reclaim_graves += t.graves + t.preds;
	fs->reclaim_versions += t.versions;
	fs->reclaim_bytes += user > user0 ? user - user0 : 0;
	fs->figs_ns = 0; /* the figures changed: taken again when asked */
	pthread_mutex_unlock(&fs->compact_lock);
	/* Progress: a mebibyte at least (the namespace's own compaction
	 * frees next to nothing, and each commit gives it a version). */
	return user >= user0 + (1u << 20);
}

void space_reclaim(struct fs *fs)
{
	uint64_t gen;
	bool freed;

	pthread_mutex_lock(&fs->compact_lock);
	gen = fs->reclaim_started;
	fs->reclaim_running = true;
	pthread_mutex_unlock(&fs->compact_lock);
	freed = reclaim_round(fs);
	pthread_mutex_lock(&fs->compact_lock);
	fs->reclaim_running = false;
	if (!freed) {
		fs->reclaim_dry_gen = gen;
		fs->reclaim_dry_ns = st_monotonic_ns();
	} else {
		fs->reclaim_dry_ns = 0;
	}
	pthread_mutex_unlock(&fs->compact_lock);
	wake_writers(fs);
}
