/*
 * inode.c - the inode table: loading inode records from the namespace
 * store, reference counting (the kernel's lookups, requests in flight, open
 * handles), writing records back, opening file stores on demand, and
 * removing what an inode leaves when its last link and last open are gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "revfs.h"

struct fs *the_fs;

void fs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (the_fs && !the_fs->o.foreground) {
		vsyslog(prio, fmt, ap);
	} else if (prio <= LOG_INFO || (the_fs && (the_fs->o.debug || the_fs->o.verbose))) {
		char line[2048];

		/* One write per line: other threads (libfuse's -d trace too)
		 * write to stderr at the same time. */
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "revfs: %s\n", line);
	}
	va_end(ap);
}

/* The one place a store error becomes an errno for the kernel. */
int fs_errno(int st_err)
{
	const struct st_error *e = st_last_error();

	switch (st_err) {
	case ST_OK:
		return 0;
	case ST_EIO:
		return e->sys_errno ? e->sys_errno : EIO;
	case ST_ENOMEM:
		return ENOMEM;
	case ST_ENOTFOUND:
		return ENOENT;
	case ST_EINVAL:
		return EINVAL;
	case ST_EEXIST:
		return EEXIST;
	case ST_ENOSPC:
		return ENOSPC;
	case ST_EROFS:
		return EROFS;
	case ST_ETOOBIG:
		return EFBIG;
	case ST_ECORRUPT:
	case ST_EVERSION:
	case ST_EKIND:
	default:
		return EIO;
	}
}

static size_t hslot(const struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) & (fs->hsize - 1);
}

struct inode *ino_find(struct fs *fs, uint64_t ino)
{
	struct inode *in;

	for (in = fs->htab[hslot(fs, ino)]; in; in = in->hnext)
		if (in->ino == ino)
			return in;
	return NULL;
}

static int table_grow(struct fs *fs)
{
	size_t old = fs->hsize, nsize = old * 2;
	struct inode **t = calloc(nsize, sizeof(*t)), *in, *next;

	if (!t)
		return -ENOMEM;
	fs->hsize = nsize;
	for (size_t i = 0; i < old; i++)
		for (in = fs->htab[i]; in; in = next) {
			size_t s = hslot(fs, in->ino);

			next = in->hnext;
			in->hnext = t[s];
			t[s] = in;
		}
	free(fs->htab);
	fs->htab = t;
	return 0;
}

static struct inode *ino_alloc(uint64_t ino)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->ino = ino;
	in->last_save_ns = st_realtime_ns();
	pthread_mutex_init(&in->lock, NULL);
	dset_init(&in->dirty);
	dset_init(&in->flush);
	return in;
}

/* Closes inode in's store. One that was opened for a commit that never
 * came (an empty file fsynced, say) is an empty file on disk: removed, as
 * the missing store it stands for, rather than left for fsck to report. */
static void store_close(struct inode *in)
{
	struct st_version v;
	char path[4096];

	st_current(in->st, &v);
	if (v.seq == 0 && v.offset == UINT64_MAX) {
		snprintf(path, sizeof(path), "%s", st_path(in->st));
		st_close(in->st);
		if (unlink(path) != 0 && errno != ENOENT)
			fs_log(LOG_WARNING, "cannot remove the empty store %s: %s", path,
			       strerror(errno));
	} else {
		st_close(in->st);
	}
	in->st = NULL;
}

static void ino_free(struct inode *in)
{
	if (in->st)
		store_close(in);
	dset_release(&in->dirty);
	dset_release(&in->flush);
	pthread_mutex_destroy(&in->lock);
	free(in->target);
	free(in->gaps);
	free(in);
}

static int table_add(struct fs *fs, struct inode *in)
{
	size_t s;

	if (fs->hcount + 1 > fs->hsize && table_grow(fs))
		return -ENOMEM;
	s = hslot(fs, in->ino);
	in->hnext = fs->htab[s];
	fs->htab[s] = in;
	fs->hcount++;
	return 0;
}

static void table_del(struct fs *fs, struct inode *in)
{
	struct inode **p = &fs->htab[hslot(fs, in->ino)];

	while (*p != in)
		p = &(*p)->hnext;
	*p = in->hnext;
	fs->hcount--;
}

/* After an unclean end, a file's store may hold commits whose namespace
 * commit never happened (they wait up to a flush interval): its newest
 * header has the true size and mtime. A store older than the record says
 * is not taken: ino_store() reports it as damage. */
static bool reconcile(struct fs *fs, struct inode *in)
{
	struct st_version v;
	bool changed = false;
	st_store *st;

	if (ns_file_open(fs->backing, &fs->sb, in->ino, ST_READONLY, NULL, &st) != ST_OK) {
		if (st_last_error()->sys_errno == ENOENT && in->a.size && !in->committed_seq) {
			in->a.size = in->committed = 0; /* never committed */
			changed = true;
		}
		return changed; /* a damaged store is reported when the file is used */
	}
	st_current(st, &v);
	if (v.offset == UINT64_MAX)
		v.size = v.seq = 0; /* created, never committed */
	if (v.seq < in->committed_seq) {
		st_close(st);
		return false;
	}
	/* An mtime set alone (utimensat) is committed to the store as well
	 * (see take() in flusher.c), so the store's is never older. */
	if (v.size != in->a.size || (v.mtime_ns && (int64_t)v.mtime_ns != in->a.mtime_ns) ||
	    (in->a.version >= 2 &&
	     (v.seq != in->committed_seq || v.bytes != in->committed_bytes))) {
		in->a.size = in->committed = v.size;
		if (v.mtime_ns)
			in->a.mtime_ns = in->committed_mtime = (int64_t)v.mtime_ns;
		in->committed_seq = v.seq;
		in->committed_bytes = v.bytes;
		changed = true;
	}
	st_close(st);
	return changed;
}

int ino_load(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct inode *in = ino_find(fs, ino);
	int rc;

	if (in) {
		in->refs++;
		*out = in;
		return 0;
	}
	in = ino_alloc(ino);
	if (!in)
		return -ENOMEM;
	rc = ns_inode_get(fs->ns, ino, &in->a, &in->target);
	if (rc == ST_ENOTFOUND)
		fs_log(LOG_ERR,
		       "namespace: a directory entry names inode %llu, which has no record",
		       (unsigned long long)ino);
	else if (rc == ST_ECORRUPT || rc == ST_EVERSION)
		fs_log(LOG_ERR, "namespace: inode %llu: bad record: %s", (unsigned long long)ino,
		       st_last_error()->msg);
	if (rc != ST_OK) {
		ino_free(in);
		return rc == ST_ENOTFOUND ? -EIO : -fs_errno(rc);
	}
	in->committed = S_ISREG(in->a.mode) ? in->a.size : 0;
	in->committed_mtime = in->a.mtime_ns;
	in->committed_seq = in->a.store_seq;
	in->committed_bytes = in->a.store_bytes;
	in->a.version = ns_inode_version(&fs->sb);
	/* A corrected record is written back now, so the namespace holds it
	 * before this mount can be marked clean again. */
	if (fs->unclean && S_ISREG(in->a.mode) && reconcile(fs, in) && !fs->o.ro)
		ino_persist(fs, in);
	if (table_add(fs, in)) {
		ino_free(in);
		return -ENOMEM;
	}
	in->refs = 1;
	*out = in;
	return 0;
}

int ino_load_live(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct ns_inode a;
	int rc;

	if (!ino_find(fs, ino)) {
		rc = ns_inode_get(fs->ns, ino, &a, NULL);
		if (rc == ST_ENOTFOUND)
			return -ENOENT;
	}
	return ino_load(fs, ino, out);
}

struct inode *ino_get(struct fs *fs, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->ns_lock);
	return in;
}

/* Whether the inode is unused (ns_lock and in->lock held). */
static bool ino_idle(struct inode *in)
{
	return in->nopen == 0 && !in->flushing && dset_empty(&in->dirty) &&
	       dset_empty(&in->flush) && !in->attr_dirty;
}

void ino_put_locked(struct fs *fs, struct inode *in)
{
	bool listed, idle;

	in->refs--;
	if (in->nlookup || in->refs || in->ino == NS_ROOT_INO)
		return;
	pthread_mutex_lock(&fs->flush_lock);
	listed = in->listed || in->inflight || in->sync_queued || in->syncing;
	pthread_mutex_unlock(&fs->flush_lock);
	if (listed)
		return; /* the flusher still has it; it drops it after the round */
	pthread_mutex_lock(&in->lock);
	idle = ino_idle(in);
	if (idle && in->a.nlink == 0 && !in->removed)
		ino_remove(fs, in);
	pthread_mutex_unlock(&in->lock);
	if (!idle)
		return;
	table_del(fs, in);
	ino_free(in);
}

void ino_put(struct fs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->ns_lock);
	ino_put_locked(fs, in);
	pthread_mutex_unlock(&fs->ns_lock);
}

static int persist(struct fs *fs, struct inode *in, bool lazy)
{
	struct ns_inode a = in->a;
	int rc;

	if (in->removed)
		return 0;
	/* A regular file's record never claims more than its store holds, so
	 * a crash cannot make never-written bytes appear past the end. */
	if (S_ISREG(a.mode)) {
		a.size = in->committed;
		a.store_seq = in->committed_seq;
		a.store_bytes = in->committed_bytes;
	}
	rc = ns_inode_put(fs->ns, in->ino, &a, in->target);
	if (rc)
		return -fs_errno(rc);
	if (lazy)
		fs->ns_lazy = true;
	else
		fs->ns_dirty = true;
	if (S_ISREG(in->a.mode) && in->a.size == in->committed)
		in->attr_dirty = false;
	else if (!S_ISREG(in->a.mode))
		in->attr_dirty = false;
	return 0;
}

int ino_persist(struct fs *fs, struct inode *in)
{
	return persist(fs, in, false);
}

int ino_persist_lazy(struct fs *fs, struct inode *in)
{
	return persist(fs, in, S_ISREG(in->a.mode));
}

int ino_create(struct fs *fs, const struct ns_inode *a, const char *target, struct inode **out)
{
	struct inode *in;
	int rc;

	in = ino_alloc(fs->next_ino);
	if (!in || (target && !(in->target = strdup(target)))) {
		if (in)
			ino_free(in);
		return -ENOMEM;
	}
	in->a = *a;
	in->a.version = ns_inode_version(&fs->sb);
	in->a.store_seq = in->a.store_bytes = 0;
	rc = ns_next_ino_put(fs->ns, fs->next_ino + 1);
	if (rc) {
		ino_free(in);
		return -fs_errno(rc);
	}
	fs->next_ino++;
	fs->ns_dirty = true;
	rc = ino_persist(fs, in);
	if (rc == 0)
		rc = table_add(fs, in);
	if (rc) {
		ino_free(in);
		return rc;
	}
	in->refs = 1;
	*out = in;
	return 0;
}

int ino_store(struct fs *fs, struct inode *in)
{
	/* A store the namespace has seen committed is never created anew:
	 * if it is gone, empty or older, that is damage, not a new file. */
	bool known = in->committed_seq > 0;
	int flags = fs->o.ro ? ST_READONLY : known ? 0 : ST_CREATE | ST_DEFER;
	/* Refused before a writable open cuts anything (ST_EBEHIND). */
	struct st_open_opts o = {.min_seq = in->committed_seq};
	unsigned waited = 0;
	struct st_version v;
	char path[4096];
	int rc;

	if (in->st)
		return 0;
	if (in->removed)
		return -ESTALE;
	if (ns_store_path(fs->backing, in->ino, path, sizeof(path)))
		return -ENAMETOOLONG;
	for (;;) {
		rc = ns_file_open(fs->backing, &fs->sb, in->ino, flags, &o, &in->st);
		/* A distributed filesystem's client may still serve an older
		 * view: it is given time to catch up before it counts as damage. */
		if (rc != ST_EBEHIND || !fs->netfs || waited >= fs->o.fence_wait_s * 1000u)
			break;
		if (waited == 0)
			fs_log(LOG_WARNING,
			       "inode %llu: its store %s looks older than the namespace "
			       "says; waiting up to %u s for the storage",
			       (unsigned long long)in->ino, path, fs->o.fence_wait_s);
		usleep(250000);
		waited += 250;
	}
	if (rc == ST_EBEHIND) {
		if (!in->store_bad)
			fs_log(LOG_ERR,
			       "inode %llu: its store %s is older than the namespace (%s): reads "
			       "and writes fail with EIO until fsck.revfs repairs it",
			       (unsigned long long)in->ino, path, st_last_error()->msg);
		in->store_bad = true;
		return -EIO;
	}
	if (rc == ST_ENOTFOUND && fs->o.ro && !known) {
		/* Never flushed: an empty file. Nothing to open read-only. */
		return -ENODATA;
	}
	if (rc == ST_OK) {
		st_current(in->st, &v);
		/* Created just now (deferred, no version yet) only if unknown. */
		if (v.offset == UINT64_MAX ? !known : v.seq >= in->committed_seq) {
			in->last_interim = v.interim;
			goto ok;
		}
		st_close(in->st);
		in->st = NULL;
		if (!in->store_bad)
			fs_log(LOG_ERR,
			       "inode %llu: its store %s is older than the namespace (newest "
			       "version %llu, the namespace knows %llu): reads and writes fail "
			       "with EIO until fsck.revfs repairs it",
			       (unsigned long long)in->ino, path,
			       (unsigned long long)(v.offset == UINT64_MAX ? 0 : v.seq),
			       (unsigned long long)in->committed_seq);
		in->store_bad = true;
		return -EIO;
	}
	if (!in->store_bad)
		fs_log(LOG_ERR, "inode %llu: cannot open its store %s: %s%s",
		       (unsigned long long)in->ino, path, st_last_error()->msg,
		       known ? "; reads and writes fail with EIO until fsck.revfs repairs it" : "");
	in->store_bad = true;
	return known ? -EIO : -fs_errno(rc);
ok:
	in->store_bad = false;
	return 0;
}

void ino_store_idle(struct inode *in)
{
	if (in->st && in->nopen == 0 && !in->flushing && !in->compacting && dset_empty(&in->dirty))
		store_close(in);
}

/* Puts inode ino's store in the graveyard (ns_lock held). Without the
 * key, the store would be left on disk unreferenced: fsck reports those. */
static void grave_add(struct fs *fs, uint64_t ino)
{
	struct st_version cur;
	int rc;

	/* A commit of the namespace may be under way without this change:
	 * the one after it is the first that surely has it. */
	st_current(fs->ns, &cur);
	rc = ns_grave_put(fs->ns, ino, cur.seq + 2, st_realtime_ns());
	if (rc)
		fs_log(LOG_ERR, "inode %llu: cannot keep its store for history: %s",
		       (unsigned long long)ino, st_strerror(rc));
}

void ino_remove(struct fs *fs, struct inode *in)
{
	if (in->flushing)
		return;		       /* the flusher removes it when its commit is done */
	if (in->st && !in->compacting) /* else the compactor closes it */
		store_close(in);
	/* The store stays, in the graveyard, for the namespace versions
	 * that still name the file (.revfs/at/); fs_grave_reap() removes it
	 * once compaction has dropped them all. */
	if (S_ISREG(in->a.mode))
		grave_add(fs, in->ino);
	pthread_mutex_lock(&fs->flush_lock);
	fs->dirty_bytes -= in->dirty.bytes;
	pthread_cond_broadcast(&fs->room_cv);
	pthread_mutex_unlock(&fs->flush_lock);
	dset_release(&in->dirty);
	in->a.size = 0;
	ns_inode_del(fs->ns, in->ino);
	ns_orphan_del(fs->ns, in->ino);
	fs_xattr_clear(fs, in->ino);
	/* With lineages a removed file's versions may still be a path's
	 * history (it was replaced, or its name may be taken again): its pins
	 * stay with its store and go when the graveyard lets it go. */
	if (!(fs->sb.incompat & NS_FEAT_LINEAGE))
		fs_pins_clear(fs, in->ino, NULL, 0);
	fs->ns_dirty = true;
	in->removed = true;
	in->attr_dirty = false;
}

void ino_attr(const struct inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->a.mode;
	st->st_nlink = in->a.nlink;
	st->st_uid = in->a.uid;
	st->st_gid = in->a.gid;
	st->st_rdev = in->a.rdev;
	st->st_size = (off_t)in->a.size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((in->a.size + 511) / 512);
	/* What the file really takes: its store's live bytes (holes take
	 * nothing) and the bytes waiting to be committed, in 4 KiB blocks.
	 * A record of version 1 does not know: the size stands for it. */
	if (S_ISREG(in->a.mode) && in->a.version >= 2) {
		uint64_t b = in->committed_bytes + in->dirty.bytes + in->flush.bytes;

		st->st_blocks = (blkcnt_t)((b + 4095) / 4096 * 8);
	}
	st->st_atim.tv_sec = in->a.atime_ns / 1000000000;
	st->st_atim.tv_nsec = in->a.atime_ns % 1000000000;
	st->st_mtim.tv_sec = in->a.mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = in->a.mtime_ns % 1000000000;
	st->st_ctim.tv_sec = in->a.ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = in->a.ctime_ns % 1000000000;
	if (st->st_atim.tv_nsec < 0) {
		st->st_atim.tv_sec--;
		st->st_atim.tv_nsec += 1000000000;
	}
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	if (st->st_ctim.tv_nsec < 0) {
		st->st_ctim.tv_sec--;
		st->st_ctim.tv_nsec += 1000000000;
	}
}

/* Inodes that lost their last link while open, and whose last close a
 * crash prevented: collected first, removed after the range walk. */
static int orphan_cb(void *arg, uint64_t ino)
{
	return u64s_push(arg, ino);
}

static int remove_orphans(struct fs *fs)
{
	struct u64s o = {0};
	struct inode *in;
	int rc;

	rc = ns_orphan_list(fs->ns, orphan_cb, &o);
	for (size_t i = 0; rc == ST_OK && i < o.n; i++) {
		if (ino_load(fs, o.v[i], &in) != 0)
			continue;
		if (in->a.nlink > 0) {
			/* A stray mark: the file still has names. Keep it. */
			fs_log(LOG_WARNING, "inode %llu is marked unlinked but has %u links; kept",
			       (unsigned long long)in->ino, in->a.nlink);
			ns_orphan_del(fs->ns, in->ino);
			fs->ns_dirty = true;
			ino_put_locked(fs, in);
			continue;
		}
		fs_log(LOG_INFO, "removing inode %llu: unlinked while open before the last unmount",
		       (unsigned long long)o.v[i]);
		pthread_mutex_lock(&in->lock);
		ino_remove(fs, in);
		pthread_mutex_unlock(&in->lock);
		in->refs--;
		table_del(fs, in);
		ino_free(in);
	}
	free(o.v);
	return rc == ST_OK ? 0 : -fs_errno(rc);
}

/* After an unclean end: stores under inode numbers the namespace never
 * handed out. A crash between a store's commit and the namespace commit
 * that made its inode leaves one; the counter would hand its number out
 * again, and the new file would find the old bytes. */
static void remove_unborn_stores(struct fs *fs)
{
	char dir[4096], path[4400];
	struct dirent *e;
	DIR *d;

	/* A compaction of the namespace the crash cut short. */
	snprintf(path, sizeof(path), "%s/%s.compact", fs->backing, NS_STORE_NAME);
	if (unlink(path) == 0)
		fs_log(LOG_INFO, "removed a stale %s", path);
	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		if (ns_folder_path(fs->backing, x, dir, sizeof(dir)) || !(d = opendir(dir)))
			continue;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			uint64_t ino;

			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (len > 12 && strcmp(e->d_name + len - 12, ".rev.compact") == 0) {
				/* A compaction the crash cut short. */
				if (unlink(path) == 0)
					fs_log(LOG_INFO, "removed a stale %s", path);
				continue;
			}
			if (!ns_store_name_parse(e->d_name, &ino) || ino < fs->next_ino)
				continue;
			if (unlink(path) == 0)
				fs_log(LOG_INFO, "removed %s: its file was never committed", path);
		}
		closedir(d);
	}
}

int fs_ns_load(struct fs *fs)
{
	struct inode *root;
	int rc;

	fs->hsize = 1024;
	fs->htab = calloc(fs->hsize, sizeof(*fs->htab));
	if (!fs->htab)
		return -ENOMEM;
	rc = ns_next_ino_get(fs->ns, &fs->next_ino);
	if (rc) {
		fs_log(LOG_ERR, "namespace: no inode counter");
		return -EIO;
	}
	fs->unclean = ns_clean_get(fs->ns) == ST_ENOTFOUND;
	if (fs->unclean) {
		fs_log(LOG_INFO, "%s was not unmounted cleanly: file sizes come from their stores",
		       fs->backing);
		if (!fs->o.ro)
			remove_unborn_stores(fs);
	}
	rc = ino_load(fs, NS_ROOT_INO, &root);
	if (rc)
		return rc;
	root->refs--; /* the root stays loaded: ino_idle never frees it */
	if (!fs->o.ro) {
		pthread_mutex_lock(&fs->ns_lock);
		rc = remove_orphans(fs);
		pthread_mutex_unlock(&fs->ns_lock);
		if (rc)
			return rc;
		/* The namespace may have been compacted offline. */
		if ((rc = fs_grave_reap(fs)) != 0)
			fs_log(LOG_WARNING, "the graveyard of deleted files was not reaped: %s",
			       strerror(-rc));
	}
	return 0;
}

static int grave_cb(void *arg, uint64_t ino, uint64_t seq, uint64_t time_ns)
{
	struct graves *g = arg;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct grave *v = realloc(g->v, cap * sizeof(*v));

		if (!v)
			return ST_ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].ino = ino;
	g->v[g->n].seq = seq;
	g->v[g->n++].time = time_ns;
	return 0;
}

int fs_graves_locked(struct fs *fs, struct graves *g)
{
	return ns_grave_list(fs->ns, grave_cb, g);
}

/* Unlinks a graveyard store (and any compaction copy of it), then drops
 * its key: a crash between the two leaves a key without a store, which
 * the next reap drops; the other order would leave a store nothing names.
 * The bytes freed, or -1 if the store could not be removed. */
static int64_t grave_drop(struct fs *fs, uint64_t ino);

int64_t fs_grave_drop(struct fs *fs, uint64_t ino)
{
	return grave_drop(fs, ino);
}

static int64_t grave_drop(struct fs *fs, uint64_t ino)
{
	char path[4096];
	struct stat sb;
	int64_t freed = 0;

	if (ns_store_path(fs->backing, ino, path, sizeof(path)) == 0) {
		if (stat(path, &sb) == 0)
			freed = (int64_t)sb.st_blocks * 512;
		if (unlink(path) != 0 && errno != ENOENT) {
			fs_log(LOG_ERR, "cannot remove %s: %s", path, strerror(errno));
			return -1;
		}
		strcat(path, ".compact");
		unlink(path);
	}
	pthread_mutex_lock(&fs->ns_lock);
	ns_grave_del(fs->ns, ino);
	lin_bypass(fs, ino);
	ns_lineage_del(fs->ns, ino);
	fs_pins_clear(fs, ino, NULL, 0);
	fs->ns_dirty = true;
	pthread_mutex_unlock(&fs->ns_lock);
	return freed;
}

/*
 * A purge by who of replaced file pred: 1 if it has versions of others,
 * then compacted down to those (and its newest, which a store always
 * keeps); 0 if all were who's (or its store is gone); -errno.
 */
static int purge_theirs(struct fs *fs, uint64_t pred, uint32_t who)
{
	struct u64s others = {0};
	st_store *st;
	int rc = ns_file_open(fs->backing, &fs->sb, pred, 0, NULL, &st);

	if (rc == ST_ENOTFOUND)
		return 0;
	if (rc)
		return -fs_errno(rc);
	rc = meta_others(st, who, &others);
	if (rc == 0 && others.n) {
		struct st_retention keep = {.min_count = 1, .pins = others.v, .npins = others.n};
		struct st_compact_opts o = {.keep = &keep};

		rc = st_compact(st, &o, NULL);
		rc = rc == ST_OK ? 1 : -fs_errno(rc);
	}
	st_close(st);
	free(others.v);
	return rc;
}

void fs_lineage_purge(struct fs *fs, uint64_t ino, uint32_t who)
{
	uint64_t cur = ino;

	for (unsigned steps = 0; steps < 100000; steps++) {
		uint64_t pred, cut;
		struct ns_inode a;
		bool in_tree;
		int rc;

		pthread_mutex_lock(&fs->ns_lock);
		rc = ns_lineage_get(fs->ns, cur, &pred, &cut);
		in_tree = rc == ST_OK && ns_inode_get(fs->ns, pred, &a, NULL) == ST_OK;
		/* A file still in the tree keeps its own history: the path's
		 * no longer goes on into it. */
		if (in_tree && cur == ino) {
			ns_lineage_del(fs->ns, ino);
			fs->ns_dirty = true;
		}
		pthread_mutex_unlock(&fs->ns_lock);
		if (rc != ST_OK || in_tree || pred == ino)
			break;
		if (who && (rc = purge_theirs(fs, pred, who)) != 0) {
			if (rc < 0) {
				fs_log(LOG_ERR, "purge of inode %llu: replaced file %llu: %s",
				       (unsigned long long)ino, (unsigned long long)pred,
				       strerror(-rc));
				break;
			}
			/* Others' versions stay, and the link to them. */
			pthread_mutex_lock(&fs->ns_lock);
			lin_refresh(fs, cur);
			fs->ns_dirty = true;
			pthread_mutex_unlock(&fs->ns_lock);
			cur = pred;
			continue;
		}
		/* The store and its lineage record go; cur's record goes on to
		 * pred's predecessor (lin_bypass), the next to look at. */
		if (grave_drop(fs, pred) < 0)
			break;
	}
}

void fs_grave_purge(struct fs *fs, uint64_t *files, uint64_t *bytes)
{
	struct graves g = {0};
	int rc;

	*files = *bytes = 0;
	pthread_mutex_lock(&fs->ns_lock);
	rc = fs_graves_locked(fs, &g);
	pthread_mutex_unlock(&fs->ns_lock);
	for (size_t i = 0; rc == ST_OK && i < g.n; i++) {
		int64_t f = grave_drop(fs, g.v[i].ino);

		if (f >= 0) {
			*bytes += (uint64_t)f;
			(*files)++;
		}
	}
	at_ns_changed(); /* at/ views opened on those stores let go */
	fs_log(LOG_NOTICE, "purged the history of %llu deleted files (%llu KiB)",
	       (unsigned long long)*files, (unsigned long long)(*bytes >> 10));
	free(g.v);
}

static int oldest_cb(void *arg, const struct st_version *v)
{
	*(uint64_t *)arg = v->seq;
	return 0;
}

static int pred_cb(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns)
{
	(void)ino;
	(void)cut_ns;
	return u64s_push(arg, pred);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int fs_grave_reap(struct fs *fs)
{
	struct graves g = {0};
	struct u64s p = {0};
	uint64_t oldest = 0;
	size_t reaped = 0;
	int rc;

	if (fs->o.ro)
		return 0;
	fs_lineage_thin(fs);
	pthread_mutex_lock(&fs->ns_lock);
	rc = fs_graves_locked(fs, &g);
	/* A store a lineage names is a path's history: it stays while the
	 * retention rule keeps a version of it (fs_lineage_thin), until the
	 * disk runs short, or a purge. */
	if (rc == ST_OK)
		rc = ns_lineage_list(fs->ns, pred_cb, &p);
	pthread_mutex_unlock(&fs->ns_lock);
	if (p.n > 1)
		qsort(p.v, p.n, sizeof(*p.v), u64_cmp);
	/* The oldest namespace version still kept: a walk of the chain,
	 * under the store's own locks only. */
	if (rc == ST_OK && g.n)
		rc = st_versions(fs->ns, oldest_cb, &oldest);
	for (size_t i = 0; rc == ST_OK && i < g.n; i++)
		if (g.v[i].seq <= oldest &&
		    !(p.n && bsearch(&g.v[i].ino, p.v, p.n, sizeof(*p.v), u64_cmp)) &&
		    grave_drop(fs, g.v[i].ino) >= 0)
			reaped++; /* else a kept version, or a lineage, may still name it */
	if (reaped)
		fs_log(LOG_DEBUG, "removed %zu deleted files' stores: no kept version names them",
		       reaped);
	free(g.v);
	free(p.v);
	return rc == ST_OK ? 0 : -fs_errno(rc);
}

void fs_ns_compacted(struct fs *fs)
{
	at_ns_changed();
	fs_grave_reap(fs);
}

int fs_ns_mark(struct fs *fs, bool clean)
{
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_clean_set(fs->ns, clean);
	pthread_mutex_unlock(&fs->ns_lock);
	if (rc == ST_OK)
		rc = st_commit(fs->ns, NULL);
	return rc ? -fs_errno(rc) : 0;
}

void fs_table_release(struct fs *fs)
{
	struct inode *in, *next;

	for (size_t i = 0; i < fs->hsize; i++)
		for (in = fs->htab[i]; in; in = next) {
			next = in->hnext;
			ino_free(in);
		}
	free(fs->htab);
	fs->htab = NULL;
}
