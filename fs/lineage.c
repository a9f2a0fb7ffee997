/*
 * lineage.c - a path's history goes on across the files that take its
 * place (docs/FORMAT.md, section 19, "Lineage"). When a regular file
 * leaves a name (unlink, or rename away) the name is marked vacated; the
 * next regular file to take the name (create, or rename in) takes up the
 * history of the one that left, and a file renamed over another (an
 * editor's atomic save) takes up the history of the one it replaces.
 * history/ (vhistory.c) then lists the versions along the lineage, and the
 * graveyard keeps a replaced file's store while a lineage names it.
 *
 * Only in backing directories made with the feature (NS_FEAT_LINEAGE); all
 * of it under fs->ns_lock, staged for the flusher's next namespace commit.
 */
#include "ops.h"

static bool lineage_on(const struct fs *fs)
{
	return !fs->o.ro && (fs->sb.incompat & NS_FEAT_LINEAGE);
}

void lin_vacate(struct fs *fs, uint64_t dir, const char *name, const struct inode *x)
{
	if (!lineage_on(fs) || !S_ISREG(x->a.mode))
		return;
	/* A file that never had a version leaves nothing to go on with: a
	 * temporary file renamed into place leaves no mark behind it. */
	if (x->committed_seq == 0)
		return;
	if (ns_vacated_put(fs->ns, dir, name, x->ino, st_realtime_ns()) == ST_OK)
		fs->ns_dirty = true;
}

void lin_take(struct fs *fs, uint64_t dir, const char *name, const struct inode *x, bool fresh)
{
	uint64_t v, t, p, c;

	if (!lineage_on(fs) || !S_ISREG(x->a.mode) ||
	    ns_vacated_get(fs->ns, dir, name, &v, &t) != ST_OK)
		return;
	ns_vacated_del(fs->ns, dir, name);
	fs->ns_dirty = true;
	/* A file moved in brings its own history; one made here, or with
	 * none, takes up the name's. Never a file's own past as its
	 * predecessor (a file renamed away and back). */
	if (v == x->ino || (!fresh && ns_lineage_get(fs->ns, x->ino, &p, &c) == ST_OK))
		return;
	ns_lineage_put(fs->ns, x->ino, v, t);
}

void lin_replace(struct fs *fs, uint64_t dir, const char *name, const struct inode *x,
		 const struct inode *y)
{
	if (!lineage_on(fs) || !S_ISREG(x->a.mode) || !S_ISREG(y->a.mode) || x->ino == y->ino)
		return;
	/* The path's history wins over the one the file brings: an atomic
	 * save's temporary file had none worth keeping. */
	ns_vacated_del(fs->ns, dir, name);
	ns_lineage_put(fs->ns, x->ino, y->ino, st_realtime_ns());
	fs->ns_dirty = true;
}
