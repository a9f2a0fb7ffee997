/*
 * commit.c - opening a store, committing (one store, or a group of stores
 * that share their syncs), and recovering from a failed commit.
 *
 * Crash-safety invariants, and where each is kept. A commit is two-sync
 * (a marker flip between two syncs) or, with ST_ONESYNC and a region of
 * at most RUN_CRC_MAX, one-sync (commit_write decides):
 *
 *  1. Nothing already in the file is rewritten, except one byte per
 *     two-sync commit: the marker of the new header's block
 *     (st_writer_flip, from group_flip).
 *  2. Two-sync: data, tree nodes and the header itself are written and
 *     synced before that marker changes (st_commit_group: group_prepare
 *     writes, the first group_sync makes them durable, a new store's
 *     directory and a compaction's rename included).
 *  3. So a two-sync header block marked MARK_HEADER always begins a
 *     complete header whose whole tree is on disk; a crash before the
 *     flip leaves an unmarked, ignored tail (st_header_find skips it), a
 *     crash after it a new version.
 *  3a. One-sync: the header is written marked, sealing its region (every
 *     byte since the header before) with a CRC (st_writer_header); the
 *     first sync makes it all durable, and it is committed then. A crash
 *     before that may leave the header with part of its region: the
 *     region's CRC fails and st_header_find takes it for a torn commit.
 *     Only the newest commit can be torn, because a commit begins only
 *     after the one before it was published (wlock, invariant 4).
 *  4. A commit is published to readers only once it is durable (after
 *     the second sync, or the first for one-sync), so no reader sees a
 *     version a crash could take back (st_commit_group).
 *  5. A writable open trims everything after the newest committed header
 *     (st_open), and a failed commit trims back to it (rollback, from
 *     group_drop), so the next commit appends after committed bytes only,
 *     and its region starts right after that header (st_writer_rewind).
 *
 * A group commit holds the writer locks of all its stores from its writes
 * to its publication; each store's failure is its own (group_drop), so one
 * bad store does not hold the others back. st_commit is a group of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t st_store_time(st_store *st)
{
	uint64_t t = st->clock ? st->clock(st->ctx) : st_realtime_ns();

	return t > st->head.time_ns ? t : st->head.time_ns + 1;
}

void st_store_snapshot(st_store *st, struct st_file **f, struct hdr *h)
{
	pthread_mutex_lock(&st->slock);
	*f = st_file_ref(st->file);
	*h = st->head;
	pthread_mutex_unlock(&st->slock);
}

int st_store_dir_sync(st_store *st)
{
	const char *path = st->path;
	char *copy = strdup(path);
	int rc = ST_OK;

	if (!copy)
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	if (!(st->flags & ST_NOSYNC) && st->ops->fsync_dir(st->ctx, dirname(copy)) < 0)
		rc = st_fail_errno(errno, "fsync directory of", path);
	free(copy);
	return rc;
}

/* Writes the first header of a new, empty store. */
/* A store made with an identity names it, and each header's position, in
 * every header (FEAT_RO_SELF); commits and compaction copy both words. */
static void head_identity(const st_store *st, struct hdr *h)
{
	if (!st->file->has_sid)
		return;
	h->ro_compat |= FEAT_RO_SELF;
	memcpy(h->id, st->file->sid, ST_ID_SIZE);
}

static int store_init(st_store *st)
{
	struct writer *w = &st->w;
	struct hdr h = {.kind = (uint8_t)st->kind, .prev = HDR_NONE};
	int rc;

	head_identity(st, &h);
	h.time_ns = st_store_time(st);
	if (st->flags & ST_ONESYNC)
		h.incompat |= FEAT_IN_ONESYNC;
	if ((rc = st_writer_header(w, &h, MARK_DATA, NULL)) != ST_OK ||
	    (rc = st_writer_sync(w)) != ST_OK)
		return rc;
	if (!(h.incompat & FEAT_IN_ONESYNC) &&
	    ((rc = st_writer_flip(w, h.pos)) != ST_OK || (rc = st_writer_sync(w)) != ST_OK))
		return rc;
	st->head = h;
	return st_store_dir_sync(st);
}

/* A new store whose creation is not synced: no header in the file yet, and
 * its first commit (which has no predecessor) is its first version. Until
 * that commit's marker is durable the file holds nothing committed, and a
 * reopen with ST_CREATE starts it again. */
static void store_virgin(st_store *st)
{
	memset(&st->head, 0, sizeof(st->head));
	st->head.kind = (uint8_t)st->kind;
	st->head.prev = HDR_NONE;
	st->head.pos = HDR_NONE;
	head_identity(st, &st->head);
	st->dir_unsynced = true;
}

uint64_t st_head_end(const struct hdr *h)
{
	return hdr_region_start(h->pos, h->incompat & FEAT_IN_SEALED, h->area_len);
}

static void store_free(st_store *st)
{
	/* A reserve is not part of any commit: a store at rest has none. A
	 * failed cut only leaves zeros, which the next open trims. */
	if (!st->readonly && st->file && st_writer_reserved(&st->w) &&
	    st->ops->ftruncate(st->ctx, st->file->fd, (off_t)st->w.end) < 0)
		st_fail_errno(errno, "trim the reserve of", st->path);
	st_stage_clear(st);
	st_kv_give_back(st, true);
	free(st->kv);
	free(st->ex);
	free(st->cur_meta);
	st_writer_release(&st->w);
	st_file_unref(st->file);
	pthread_mutex_destroy(&st->wlock);
	pthread_mutex_destroy(&st->slock);
	pthread_cond_destroy(&st->switch_cv);
	free(st->path);
	free(st);
}

st_store *st_store_alloc(enum st_kind kind, const char *path, int flags,
			 const struct st_open_opts *opts)
{
	st_store *st = calloc(1, sizeof(*st));

	if (!st || !(st->path = strdup(path))) {
		free(st);
		return NULL;
	}
	st->kind = kind;
	st->flags = flags;
	st->readonly = flags & ST_READONLY;
	st->ops = opts && opts->ops ? opts->ops : &st_posix_ops;
	st->ctx = opts ? opts->ops_ctx : NULL;
	st->clock = opts ? opts->clock : NULL;
	st->trunc_pages = UINT64_MAX;
	st->torn_at = HDR_NONE;
	pthread_mutex_init(&st->wlock, NULL);
	pthread_mutex_init(&st->slock, NULL);
	pthread_cond_init(&st->switch_cv, NULL);
	return st;
}

int st_open(const char *path, enum st_kind kind, int flags, const struct st_open_opts *opts,
	    st_store **out)
{
	int oflags = flags & ST_READONLY ? O_RDONLY : O_RDWR;
	struct stat sb;
	st_store *st;
	int rc;

	*out = NULL;
	if ((kind != ST_KIND_FILE && kind != ST_KIND_KV) || !path ||
	    ((flags & ST_READONLY) && (flags & ST_CREATE)))
		return st_fail(ST_EINVAL, EINVAL, 0, "st_open: bad arguments");
	if (!(st = st_store_alloc(kind, path, flags, opts)))
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	if (flags & ST_CREATE)
		oflags |= O_CREAT | (flags & ST_EXCL ? O_EXCL : 0);
	if ((rc = st_file_open(st->ops, st->ctx, path, oflags, 0600, &st->file)) != ST_OK)
		goto fail;
	if (opts && opts->id) {
		st->file->has_sid = true;
		memcpy(st->file->sid, opts->id, ST_ID_SIZE);
	}
	if (opts && opts->key) {
		st->file->sealed = true;
		st->file->key = *opts->key;
	}
	if (st->ops->fstat(st->ctx, st->file->fd, &sb) < 0) {
		rc = st_fail_errno(errno, "fstat", path);
		goto fail;
	}
	st_writer_init(&st->w, st->file, 0, flags & ST_NOSYNC);
	if (sb.st_size == 0 && (flags & ST_CREATE)) {
		if (flags & ST_DEFER)
			store_virgin(st);
		else if ((rc = store_init(st)) != ST_OK)
			goto fail;
	} else {
		rc = st_header_find(st->file, (uint64_t)sb.st_size, flags & ST_RECOVER,
				    opts ? opts->min_seq : 0, &st->head, &st->torn_at);
		if (rc == ST_ENOTFOUND && (flags & ST_CREATE) && !(flags & ST_EXCL)) {
			/* Creation crashed before the first commit: nothing in the
			 * file was ever committed, so start it again. */
			if (st->ops->ftruncate(st->ctx, st->file->fd, 0) < 0) {
				rc = st_fail_errno(errno, "reset the unfinished store", path);
				goto fail;
			}
			if (flags & ST_DEFER)
				store_virgin(st);
			else if ((rc = store_init(st)) != ST_OK)
				goto fail;
			goto opened;
		}
		if (rc == ST_ENOTFOUND)
			rc = st_fail(ST_ECORRUPT, 0, 0, "%s: no committed header in the store",
				     path);
		if (rc != ST_OK)
			goto fail;
		if (st->head.kind != kind) {
			rc = st_fail(ST_EKIND, 0, st->head.pos, "%s: store is of another kind",
				     path);
			goto fail;
		}
		if (opts && opts->min_seq > st->head.seq) {
			rc = st_fail(ST_EBEHIND, 0, st->head.pos,
				     "%s: newest commit %llu, older than the %llu known", path,
				     (unsigned long long)st->head.seq,
				     (unsigned long long)opts->min_seq);
			goto fail;
		}
		if (st->head.ro_compat & ~FEAT_RO_COMPAT_KNOWN)
			st->readonly = true;
		st_writer_init(&st->w, st->file, st_head_end(&st->head), flags & ST_NOSYNC);
		if (!st->readonly && (uint64_t)sb.st_size > st->w.end &&
		    st->ops->ftruncate(st->ctx, st->file->fd, (off_t)st->w.end) < 0) {
			rc = st_fail_errno(errno, "trim the torn tail of", path);
			goto fail;
		}
	}
opened:
	st->size = st->head.size;
	st->mtime_ns = st->head.mtime_ns;
	*out = st;
	return ST_OK;
fail:
	store_free(st);
	return rc;
}

void st_close(st_store *st)
{
	if (st)
		store_free(st);
}

/* After a failed write: drop what is staged and cut the file back to the
 * end of the last commit (invariant 5). wlock held. */
static void rollback(st_store *st, bool drop_staged)
{
	uint64_t end = st_head_end(&st->head);

	/* A file store's staged extents point at bytes cut off below, so they
	 * go; a key-value store's are in memory and stay for the next try. */
	pthread_mutex_lock(&st->slock);
	if (st->kind == ST_KIND_KV)
		st_kv_give_back(st, drop_staged);
	else
		st_stage_clear(st);
	pthread_mutex_unlock(&st->slock);
	st_writer_rewind(&st->w, end);
	st_node_cache_forget(st->file, end);
	if (st->ops->ftruncate(st->ctx, st->file->fd, (off_t)end) < 0)
		st->broken = true;
}

void st_rollback(st_store *st)
{
	if (st->readonly)
		return;
	pthread_mutex_lock(&st->wlock);
	rollback(st, true);
	pthread_mutex_unlock(&st->wlock);
}

int st_store_fail_rollback(st_store *st, int rc)
{
	rollback(st, true);
	return rc;
}

/*
 * The reserve: after RESERVE_AFTER small commits in a row (a writer that
 * syncs often), the commit also writes zeros ahead of its end, synced with
 * it, enough for many more commits of its size. Those then write into
 * blocks the file already has, and on ext4 their fdatasyncs flush data
 * only, instead of committing the journal for the file's growth each time.
 * The zeros are an uncommitted tail like any other (docs/FORMAT.md,
 * section 2); st_close cuts them off. A failure to reserve fails nothing.
 */
#define RESERVE_SMALL (1u << 20)   /* commits up to this size are small */
#define RESERVE_AFTER 2		   /* ... and this many in a row start a reserve */
#define RESERVE_MIN   (256u << 10) /* reserve at least this much */
#define RESERVE_MAX   (16u << 20)  /* ... at most this */
#define RESERVE_AHEAD 16	   /* ... about this many commits' worth */

static void commit_reserve(st_store *st, uint64_t bytes)
{
	uint64_t want = RESERVE_AHEAD * bytes;

	if (st->w.nosync || bytes > RESERVE_SMALL) {
		st->small_commits = 0;
		return;
	}
	if (st->small_commits < RESERVE_AFTER)
		st->small_commits++;
	if (st->small_commits < RESERVE_AFTER ||
	    st_writer_reserved(&st->w) >= 2 * bytes + BLOCK_SIZE)
		return;
	if (want < RESERVE_MIN)
		want = RESERVE_MIN;
	if (want > RESERVE_MAX)
		want = RESERVE_MAX;
	(void)st_writer_reserve(&st->w, want);
}

/*
 * What a file store's commit puts in its header's inline area (wlock held):
 * the content, while it is inline and fits beside the attributes; the
 * attributes, new or those of the commit before, when they fit too.
 * Content that does not fit becomes a staged extent here. Attributes left
 * out of the area are in a->attrs with no AREA_ATTRS: to be written as a
 * record, unless the newest commit's record still holds them (NULL).
 */
static int inline_choose(st_store *st, struct st_area *a)
{
	const uint8_t *attrs = st->meta;
	size_t alen = st->meta_len;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = st_inline_enter(st)) != ST_OK)
		return rc;
	/* Attributes in the newest header's area: not a record to point at. */
	if (!attrs && (st->head.area_flags & AREA_ATTRS)) {
		if ((rc = st_cur_meta_load(st)) != ST_OK)
			return rc;
		attrs = st->cur_meta;
		alen = st->cur_meta_len;
	}
	a->attrs = attrs;
	a->attr_len = alen;
	if (!st->inline_on)
		return ST_OK;
	if (!st_area_fits(st->file, 0, (size_t)st->size))
		return st_inline_spill(st);
	if (st->size) {
		a->flags |= AREA_CONTENT;
		a->content = st->ibuf;
		a->content_len = (size_t)st->size;
	}
	if (attrs && alen && st_area_fits(st->file, alen, (size_t)st->size))
		a->flags |= AREA_ATTRS;
	return ST_OK;
}

/* Writes the attributes that inline_choose left out of the area as a
 * record; h->meta names them (wlock held). */
static int attrs_record(st_store *st, struct st_area *a, struct hdr *h)
{
	int rc = ST_OK;

	if (a->flags & AREA_ATTRS)
		h->meta = 0; /* st_writer_header names its own position */
	else if (a->attrs)
		rc = st_meta_append(&st->w, a->attrs, a->attr_len, &h->meta);
	if (!(a->flags & AREA_ATTRS)) {
		a->attrs = NULL;
		a->attr_len = 0;
	}
	return rc;
}

/* Appends the staged changes, the tree and a header still marked data
 * (invariant 2's writes) and puts it all in the file; no sync. wlock held. */
static int commit_write(st_store *st, struct hdr *h)
{
	struct st_area area = {0};
	struct tree t, nt;
	struct action *acts = NULL;
	uint8_t *arena = NULL;
	size_t nacts = 0;
	int rc;

	if (st->broken)
		return st_fail(ST_EIO, EIO, 0,
			       "%s: an earlier failure left the store unusable; reopen it",
			       st->path);
	t.root = st->head.root;
	t.r.count = st->head.root_count;
	t.r.bytes = st->head.root_bytes;
	if (st->kind == ST_KIND_KV) {
		pthread_mutex_lock(&st->slock);
		st_kv_take(st);
		pthread_mutex_unlock(&st->slock);
	}
	if (st->kind == ST_KIND_FILE && (rc = inline_choose(st, &area)) != ST_OK)
		return rc;
	if (st->inline_on) { /* the content is the area's: an empty tree */
		memset(&nt, 0, sizeof(nt));
	} else {
		rc = st_stage_actions(st, &t, &acts, &nacts, &arena);
		if (rc == ST_OK)
			rc = st_tree_modify(st->file, &st->w, st->kind, &t, acts, nacts, &nt);
		free(acts);
		free(arena);
		if (rc != ST_OK)
			return rc;
	}
	*h = st->head;
	h->seq = st->head.seq + 1;
	h->time_ns = st_store_time(st);
	h->size = st->kind == ST_KIND_FILE ? st->size : 0;
	h->mtime_ns = st->kind == ST_KIND_FILE ? st->mtime_ns : 0;
	h->root = nt.root;
	h->root_count = nt.r.count;
	h->root_bytes = nt.r.bytes;
	h->prev = st->head.pos; /* HDR_NONE for the first commit of a deferred store */
	/* Once a store has an interim commit its headers all say their kind
	 * (the feature words are copied from commit to commit). */
	h->commit_kind = st->commit_kind;
	if (h->commit_kind == ST_INTERIM)
		h->compat |= FEAT_COMPAT_KIND;
	h->prev_area = st->head.pos == HDR_NONE ? 0 : st->head.area_len;
	/* New attributes, or those of the commit before (copied above); those
	 * of a header's area are written again, in this one's or as a record. */
	if ((rc = attrs_record(st, &area, h)) != ST_OK)
		return rc;
	if (h->meta)
		h->ro_compat |= FEAT_RO_META;
	/* One sync if the handle may and the region can be sealed (else the
	 * header goes out unmarked and is flipped between two syncs). */
	h->incompat &= ~FEAT_IN_ONESYNC;
	if ((st->flags & ST_ONESYNC) && st_writer_onesync_ok(&st->w, st_head_end(&st->head)))
		h->incompat |= FEAT_IN_ONESYNC;
	if ((rc = st_writer_header(&st->w, h, MARK_DATA, area.flags ? &area : NULL)) != ST_OK ||
	    (rc = st_writer_flush(&st->w)) != ST_OK)
		return rc;
	commit_reserve(st, st->w.end - st_head_end(&st->head));
	return ST_OK;
}

/* Publishes h to readers (invariant 4). wlock held. */
static void commit_publish(st_store *st, const struct hdr *h, struct st_version *out)
{
	pthread_mutex_lock(&st->slock);
	st->head = *h;
	if (st->meta) { /* what was committed is the copy now */
		free(st->cur_meta);
		st->cur_meta = st->meta;
		st->cur_meta_len = st->meta_len;
		st->cur_meta_pos = h->meta;
		st->meta = NULL;
	}
	st_stage_clear(st);
	pthread_mutex_unlock(&st->slock);
	if (out)
		st_version_of(h, out);
}

/* ---- the commit: one store, or a group sharing its syncs ---------------- */

/* Takes the writer lock and writes the commit (invariant 2's writes); the
 * lock stays held on success, is released on failure. */
static int group_prepare(st_store *st)
{
	int rc;

	if (st->readonly)
		return st_fail(ST_EROFS, EROFS, 0, "%s: read-only", st->path);
	pthread_mutex_lock(&st->wlock);
	if ((rc = commit_write(st, &st->pending)) != ST_OK) {
		rollback(st, false);
		pthread_mutex_unlock(&st->wlock);
		return rc;
	}
	st->pending_switch = st_store_switch_pending(st);
	return ST_OK;
}

/* Makes one prepared store durable by itself: the file, a compaction's
 * rename under way, a new store's directory (invariant 2). wlock held. */
static int group_sync_one(st_store *st)
{
	int rc = st_writer_sync(&st->w);

	if (rc == ST_OK)
		rc = st_store_switch_wait(st);
	if (rc == ST_OK && st->dir_unsynced) {
		if ((rc = st_store_dir_sync(st)) == ST_OK)
			st->dir_unsynced = false;
	}
	return rc;
}

/* The flip (invariant 1's one byte), once everything before it is durable.
 * synced_all: a syncfs made the file and its directory durable. wlock held. */
static int group_flip(st_store *st, bool synced_all)
{
	int rc = st_store_switch_wait(st);

	if (rc != ST_OK)
		return rc;
	/* A compaction's rename that was pending at the prepare may have come
	 * after the shared sync: its directory is synced here. */
	if (synced_all && !st->pending_switch)
		st->dir_unsynced = false;
	if (st->dir_unsynced && st->pending_switch) {
		if ((rc = st_store_dir_sync(st)) != ST_OK)
			return rc;
		st->dir_unsynced = false;
	}
	if (st->dir_unsynced) /* cannot happen: the syncs above made it so */
		return st_fail(ST_EINVAL, 0, 0, "%s: directory not synced before the flip",
			       st->path);
	if (st->pending.incompat & FEAT_IN_ONESYNC)
		return ST_OK; /* its header is marked: durable now, committed */
	return st_writer_flip(&st->w, st->pending.pos);
}

static bool group_flipped(const st_store *st)
{
	return !(st->pending.incompat & FEAT_IN_ONESYNC);
}

/* Ends store i's part in the group with err: rollback (invariant 5), unlock. */
static void group_drop(st_store *st, int *rc, int err)
{
	*rc = err;
	rollback(st, false);
	pthread_mutex_unlock(&st->wlock);
}

/* One sync point: a syncfs(2) through the first store still in the group
 * (all share the filesystem), or each store's own syncs. flipped_only:
 * the second sync point, which one-sync commits do not need. */
static void group_sync(st_store *const *sts, size_t n, int *rcs, bool *synced_all,
		       bool flipped_only)
{
	st_store *first = NULL;

	for (size_t i = 0; i < n && !first; i++)
		if (rcs[i] == ST_OK && (!flipped_only || group_flipped(sts[i])))
			first = sts[i];
	if (!first)
		return;
	if (*synced_all && first && first->ops->syncfs && !(first->flags & ST_NOSYNC)) {
		int rc = ST_OK;

		if (first->ops->syncfs(first->ctx, first->file->fd) < 0)
			rc = st_fail_errno(errno, "syncfs of", first->path);
		/* A one-sync commit is committed once its first sync is done:
		 * the second one failing is not its failure. */
		for (size_t i = 0; rc != ST_OK && i < n; i++)
			if (rcs[i] == ST_OK && (!flipped_only || group_flipped(sts[i])))
				group_drop(sts[i], &rcs[i], rc);
		return;
	}
	*synced_all = false; /* no syncfs to be had: each store's own */
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (rcs[i] == ST_OK && (!flipped_only || group_flipped(sts[i])) &&
		    (rc = group_sync_one(sts[i])) != ST_OK)
			group_drop(sts[i], &rcs[i], rc);
	}
}

/* The caller's hook at a step: a non-zero return drops what is left. */
static bool group_hook(st_store *const *sts, size_t n, int *rcs, const struct st_group_opts *o,
		       enum st_group_step step)
{
	if (!o || !o->hook || o->hook(o->hook_arg, step) == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (rcs[i] == ST_OK)
			group_drop(sts[i], &rcs[i],
				   st_fail(ST_EABORTED, 0, 0, "commit stopped by its caller"));
	return true;
}

size_t st_commit_group(st_store *const *sts, size_t n, const struct st_group_opts *o, int *rcs,
		       struct st_version *out)
{
	bool synced_all = o && o->sync == ST_SYNC_FS;
	size_t done = 0;

	for (size_t i = 0; i < n; i++)
		rcs[i] = group_prepare(sts[i]);
	if (group_hook(sts, n, rcs, o, ST_GROUP_WRITTEN))
		return 0;
	/* Invariants 2, 1 and 4, in that order, for every store at once. */
	group_sync(sts, n, rcs, &synced_all, false);
	if (group_hook(sts, n, rcs, o, ST_GROUP_SYNCED))
		return 0;
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (rcs[i] == ST_OK && (rc = group_flip(sts[i], synced_all)) != ST_OK)
			group_drop(sts[i], &rcs[i], rc);
	}
	if (group_hook(sts, n, rcs, o, ST_GROUP_FLIPPED))
		return 0;
	group_sync(sts, n, rcs, &synced_all, true);
	if (group_hook(sts, n, rcs, o, ST_GROUP_DURABLE))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] != ST_OK)
			continue;
		commit_publish(sts[i], &sts[i]->pending, out ? &out[i] : NULL);
		pthread_mutex_unlock(&sts[i]->wlock);
		done++;
	}
	return done;
}

int st_commit(st_store *st, struct st_version *out)
{
	int rc;

	st_commit_group(&st, 1, NULL, &rc, out);
	return rc;
}

void st_current(st_store *st, struct st_version *out)
{
	pthread_mutex_lock(&st->slock);
	st_version_of(&st->head, out);
	pthread_mutex_unlock(&st->slock);
}

int st_info(st_store *st, struct st_info *out)
{
	struct st_file *f;
	struct stat sb;
	struct hdr h;
	uint64_t committed;
	int rc = ST_OK;

	st_store_snapshot(st, &f, &h);
	if (f->ops->fstat(f->ctx, f->fd, &sb) < 0) {
		rc = st_fail_errno(errno, "fstat", f->path);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->kind = st->kind;
	out->file_bytes = (uint64_t)sb.st_size;
	out->live_bytes = h.root_bytes + BLOCK_SIZE / 2; /* the header and its padding, about */
	out->entries = h.root_count;
	out->seq = h.seq;
	out->has_id = h.ro_compat & FEAT_RO_SELF;
	out->torn_at = st->torn_at == HDR_NONE ? UINT64_MAX : st->torn_at;
	memcpy(out->id, h.id, ST_ID_SIZE);
	/* Garbage is counted in the committed bytes: a tail past the newest
	 * header (a reserve, a commit under way) is not garbage to compact. */
	committed = st_head_end(&h) < out->file_bytes ? st_head_end(&h) : out->file_bytes;
	out->committed_bytes = committed;
	if (out->live_bytes > out->file_bytes)
		out->live_bytes = out->file_bytes;
	out->fragmentation =
	    committed > out->live_bytes ? 1.0 - (double)out->live_bytes / (double)committed : 0.0;
out:
	st_file_unref(f);
	return rc;
}

int st_tail(st_store *st, uint64_t *len, bool *zeros)
{
	uint8_t buf[4 * BLOCK_SIZE];
	struct st_file *f;
	struct stat sb;
	struct hdr h;
	uint64_t off;
	int rc = ST_OK;

	st_store_snapshot(st, &f, &h);
	*len = 0;
	*zeros = true;
	if (f->ops->fstat(f->ctx, f->fd, &sb) < 0) {
		rc = st_fail_errno(errno, "fstat", f->path);
		goto out;
	}
	off = st_head_end(&h);
	if ((uint64_t)sb.st_size > off)
		*len = (uint64_t)sb.st_size - off;
	while (*zeros && off < (uint64_t)sb.st_size) {
		size_t got, want = (uint64_t)sb.st_size - off < sizeof(buf)
				       ? (size_t)((uint64_t)sb.st_size - off)
				       : sizeof(buf);

		if ((rc = st_pread_full(f, buf, want, off, &got)) != ST_OK)
			goto out;
		if (got == 0)
			break; /* cut meanwhile */
		for (size_t i = 0; i < got && *zeros; i++)
			*zeros = buf[i] == 0;
		off += got;
	}
out:
	st_file_unref(f);
	return rc;
}

const char *st_path(st_store *st)
{
	return st->path;
}
