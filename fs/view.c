/*
 * view.c - a regular file's bytes as the reader sees them: the store's
 * newest commit, then the flush set being committed, then the dirty set,
 * each over the one before, each cut by the truncates made since. read and
 * lseek (SEEK_DATA, SEEK_HOLE) both ask here, so they cannot disagree.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ops.h"

/* How far the committed store shows through the sets: a truncate in
 * either cuts it. */
static uint64_t store_limit(const struct inode *in)
{
	uint64_t limit = in->committed;

	if (in->flush.trunc < limit)
		limit = in->flush.trunc;
	if (in->dirty.trunc < limit)
		limit = in->dirty.trunc;
	return limit;
}

int fs_view_read(struct fs *fs, struct inode *in, uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t limit = store_limit(in);
	ssize_t r = 0;
	int rc;

	if (off < limit) {
		size_t want = off + n <= limit ? n : (size_t)(limit - off);

		rc = ino_store(fs, in);
		if (rc == -ENODATA) {
			r = 0;
		} else if (rc) {
			return rc;
		} else {
			r = st_file_read(in->st, off, buf, want);
			if (r < 0) {
				fs_log(LOG_ERR, "inode %llu: read of %s at %llu failed: %s",
				       (unsigned long long)in->ino, st_path(in->st),
				       (unsigned long long)off, st_last_error()->msg);
				return -fs_errno((int)r);
			}
		}
	}
	memset(buf + r, 0, n - (size_t)r);
	dset_overlay(&in->flush, off, buf, n, in->dirty.trunc);
	dset_overlay(&in->dirty, off, buf, n, UINT64_MAX);
	return 0;
}

int fs_view_seek(struct fs *fs, struct inode *in, uint64_t off, int whence, uint64_t *out)
{
	uint64_t p = off, size = in->a.size, limit = store_limit(in);
	int rc = 0;

	if (p >= size)
		return -ENXIO;
	if (limit > 0 && (rc = ino_store(fs, in)) == -ENODATA) {
		limit = 0;
		rc = 0;
	}
	if (rc)
		return rc;
	/* A byte is data if a set holds it, or the committed store does below
	 * limit. Walk runs of data until the wanted kind is found. */
	for (;;) {
		uint64_t end = p, e;

		e = dset_data_end(&in->dirty, p);
		if (e > end)
			end = e;
		e = dset_data_end(&in->flush, p);
		if (e > end && p < in->dirty.trunc)
			end = e < in->dirty.trunc ? e : in->dirty.trunc;
		if (p < limit) {
			int64_t h = st_file_seek(in->st, p, SEEK_HOLE);

			if (h > (int64_t)p)
				e = (uint64_t)h < limit ? (uint64_t)h : limit;
			else
				e = p;
			if (e > end)
				end = e;
		}
		if (end == p) {
			/* p is in a hole. */
			uint64_t next = UINT64_MAX, d;

			if (whence == SEEK_HOLE)
				break;
			d = dset_next_data(&in->dirty, p);
			if (d < next)
				next = d;
			d = dset_next_data(&in->flush, p);
			if (d < next && d < in->dirty.trunc)
				next = d;
			if (p < limit) {
				int64_t s = st_file_seek(in->st, p, SEEK_DATA);

				if (s >= 0 && (uint64_t)s < limit && (uint64_t)s < next)
					next = (uint64_t)s;
			}
			if (next >= size)
				return -ENXIO;
			p = next;
			break;
		}
		if (whence == SEEK_DATA)
			break;
		p = end;
		if (p >= size) {
			p = size;
			break;
		}
	}
	*out = p;
	return 0;
}
