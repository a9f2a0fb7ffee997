/*
 * vstats.c - .revfs/stats: the daemon's counters, one "name value" line
 * each, as a snapshot taken at open (read past the page cache, so every
 * open sees the counters of its moment). Each counter is read under the
 * lock that guards it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vtree.h"

/* Appends one "name value" line. */
static void line(FILE *f, const char *name, unsigned long long v)
{
	fprintf(f, "%s %llu\n", name, v);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of r's samples, 0 with none. The
 * caller's copy is sorted here: the lock that guards r is not held. */
static uint64_t percentile(struct stat_ring *r, unsigned p)
{
	size_t k;

	if (r->n == 0)
		return 0;
	qsort(r->v, r->n, sizeof(r->v[0]), u64_cmp);
	k = ((size_t)r->n * p + 99) / 100;
	return r->v[k ? k - 1 : 0];
}

/* The counters' text (malloc()ed) and its length, or NULL. */
static char *stats_text(struct fs *fs, size_t *len)
{
	char *s = NULL;
	FILE *f;
	uint64_t loaded, fence_writes, fence_fails;
	struct {
		uint64_t dirty, rounds, busy, fbatches, ffiles, fsync_ns, fwaits, round_ns,
		    round_max, stalls, stall_ns, waits, wait_ns;
		uint64_t user, root, need, swaits, enospc;
		uint64_t pushes, push_fail, push_ns, push_max;
		struct stat_ring ring, sring;
	} * w;
	struct {
		uint64_t rounds, graves, versions, bytes;
	} r;
	struct space_figs figs;
	bool have_figs = space_figures(fs, &figs) == 0;
	char rule[256];
	struct {
		uint64_t n, fail, nospace, yielded, skipped, reclaimed, hold, queued, before, after,
		    passes;
		struct stat_ring ring;
		bool paused, on;
	} * c;

	/* Two rings of 2 KiB each: off the FUSE thread's stack. */
	w = malloc(sizeof(*w));
	c = malloc(sizeof(*c));
	f = w && c ? open_memstream(&s, len) : NULL;
	if (!f) {
		free(w);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&fs->ns_lock);
	loaded = fs->hcount;
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_mutex_lock(&fs->flush_lock);
	w->dirty = fs->dirty_bytes;
	w->rounds = fs->done_gen;
	w->busy = fs->flush_busy_rounds;
	w->fbatches = fs->fsync_batches;
	w->ffiles = fs->fsync_batch_files;
	w->fsync_ns = fs->fsync_batch_ns;
	w->fwaits = fs->fsync_round_waits;
	w->round_ns = fs->flush_round_ns;
	w->round_max = fs->flush_round_max_ns;
	w->ring = fs->flush_round_ring;
	w->stalls = fs->writer_stalls;
	w->stall_ns = fs->writer_stall_ns;
	w->waits = fs->flush_store_waits;
	w->wait_ns = fs->flush_store_wait_ns;
	w->user = fs->space_user;
	w->root = fs->space_root;
	w->need = fs->space_need;
	w->swaits = fs->space_waits;
	w->enospc = fs->space_enospc;
	w->sring = fs->space_wait_ring;
	w->pushes = fs->pushes;
	w->push_fail = fs->push_failures;
	w->push_ns = fs->push_ns;
	w->push_max = fs->push_max_ns;
	pthread_mutex_unlock(&fs->flush_lock);
	pthread_mutex_lock(&fs->compact_lock);
	c->n = fs->compactions;
	c->fail = fs->compact_failures;
	c->nospace = fs->compact_nospace;
	c->yielded = fs->compact_yielded;
	c->skipped = fs->compact_skipped;
	c->reclaimed = fs->compact_reclaimed;
	c->hold = fs->compact_hold_max_ns;
	c->queued = fs->ncompact;
	c->before = fs->compact_bytes_before;
	c->after = fs->compact_bytes_after;
	c->passes = fs->compact_passes;
	c->ring = fs->compact_hold_ring;
	c->paused = fs->compact_paused;
	c->on = fs->o.compact && !fs->o.ro;
	r.rounds = fs->reclaim_rounds;
	r.graves = fs->reclaim_graves;
	r.versions = fs->reclaim_versions;
	r.bytes = fs->reclaim_bytes;
	pthread_mutex_unlock(&fs->compact_lock);

	line(f, "flush_rounds", w->rounds);
	line(f, "flush_busy_rounds", w->busy);
	line(f, "flush_round_total_us", w->round_ns / 1000);
	line(f, "flush_round_p99_us", percentile(&w->ring, 99) / 1000);
	line(f, "flush_round_max_us", w->round_max / 1000);
	line(f, "flush_fsync_batches", w->fbatches);
	line(f, "flush_fsync_batch_files", w->ffiles);
	line(f, "flush_fsync_batch_total_us", w->fsync_ns / 1000);
	line(f, "flush_fsync_round_waits", w->fwaits);
	line(f, "flush_compaction_waits", w->waits);
	line(f, "flush_compaction_wait_us", w->wait_ns / 1000);
	line(f, "writer_stalls", w->stalls);
	line(f, "writer_stall_us", w->stall_ns / 1000);
	line(f, "dirty_bytes", w->dirty);
	line(f, "dirty_limit_bytes", fs->dirty_limit);
	/* The kernel's writeback cache (push.c): on or off, and the syncfs
	 * calls that push its pages each flush interval. */
	fprintf(f, "writeback %s\n", !fs->writeback ? "off" : fs->push_ok ? "pushed" : "kernel");
	line(f, "writeback_pushes", w->pushes);
	line(f, "writeback_push_failures", w->push_fail);
	line(f, "writeback_push_total_us", w->push_ns / 1000);
	line(f, "writeback_push_max_us", w->push_max / 1000);
	/* WRITEs past the end that came before the bytes in between, and
	 * what the commits did about them (push.c). */
	line(f, "writeback_gaps", __atomic_load_n(&fs->gaps_seen, __ATOMIC_RELAXED));
	line(f, "writeback_gap_holds", __atomic_load_n(&fs->gap_holds, __ATOMIC_RELAXED));
	line(f, "writeback_gaps_let_go", __atomic_load_n(&fs->gaps_let_go, __ATOMIC_RELAXED));
	pthread_mutex_lock(&fs->fence_lock);
	fence_writes = fs->fence_writes;
	fence_fails = fs->fence_fails;
	pthread_mutex_unlock(&fs->fence_lock);
	line(f, "fence_writes", fence_writes);
	line(f, "fence_write_failures", fence_fails);
	line(f, "inodes_loaded", loaded);
	fprintf(f, "compactor %s\n", !c->on ? "off" : c->paused ? "paused" : "running");
	if (st_retention_format(&fs->keep, rule, sizeof(rule)) == ST_OK)
		fprintf(f, "keep %s\n", rule); /* the rule this mount runs with */
	line(f, "compactions", c->n);
	line(f, "compaction_failures", c->fail);
	line(f, "compactions_waiting_for_space", c->nospace);
	line(f, "compactions_yielded_to_space", c->yielded);
	line(f, "compactions_skipped", c->skipped);
	line(f, "compaction_queue", c->queued);
	line(f, "compaction_reclaimed_bytes", c->reclaimed);
	line(f, "compaction_bytes_before", c->before);
	line(f, "compaction_bytes_after", c->after);
	line(f, "compaction_passes", c->passes);
	line(f, "compaction_lock_hold_p50_us", percentile(&c->ring, 50) / 1000);
	line(f, "compaction_lock_hold_p99_us", percentile(&c->ring, 99) / 1000);
	line(f, "compaction_lock_hold_max_us", c->hold / 1000);
	/* Space: what the stores take on disk, as a walk of them found it
	 * (at most 2 s ago), and the disk's free space at the last sample. */
	if (have_figs) {
		line(f, "space_live_bytes", figs.live);
		line(f, "space_history_bytes", figs.history);
		line(f, "space_graveyard_bytes", figs.graveyard);
		line(f, "space_namespace_bytes", figs.ns);
		line(f, "space_files", figs.files);
		line(f, "space_graveyard_files", figs.graves);
	}
	line(f, "space_free_bytes", w->user);
	line(f, "space_free_root_bytes", w->root);
	line(f, "space_reserve_bytes", fs->reserve);
	line(f, "space_history_max_bytes", fs->history_max);
	line(f, "space_low_water_bytes", fs->reserve + w->need);
	line(f, "space_giveback_rounds", r.rounds);
	line(f, "space_giveback_stores", r.graves);
	line(f, "space_giveback_versions", r.versions);
	line(f, "space_giveback_bytes", r.bytes);
	line(f, "space_writer_waits", w->swaits);
	line(f, "space_writer_wait_p50_us", percentile(&w->sring, 50) / 1000);
	line(f, "space_writer_wait_p99_us", percentile(&w->sring, 99) / 1000);
	line(f, "space_writer_enospc", w->enospc);
	free(w);
	free(c);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int stats_stat(struct fs *fs, const struct vnode *v, struct stat *st, double *timeout)
{
	size_t len = 0;
	char *s = stats_text(fs, &len);

	(void)v;
	free(s);
	vt_dir_stat(fs, st);
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)len;
	*timeout = 0; /* the counters change all the time */
	return 0;
}

/* One snapshot per open, read past the kernel's page cache. */
static int stats_open(struct fs *fs, const struct vnode *v, const struct vcaller *who,
		      struct vfh *h, struct fuse_file_info *fi)
{
	(void)v;
	(void)who;
	h->text = stats_text(fs, &h->len);
	if (!h->text)
		return -ENOMEM;
	fi->direct_io = 1;
	return 0;
}

const struct vkind_ops vk_stats = {.stat = stats_stat, .open = stats_open};
