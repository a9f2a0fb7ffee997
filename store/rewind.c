/*
 * rewind.c - st_rewind: makes an older version of a store its newest, for
 * fsck. The file is never changed in place: its bytes up to the end of the
 * chosen header are copied into "<store>.fsck", which is synced and then
 * renamed over the store, so a crash leaves the old file or the new one,
 * each whole (docs/FORMAT.md, section 19, "Rewinding a store").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define COPY_CHUNK (1u << 20)

/* Copies [0, end) of f into a new file at tmp and syncs it. */
static int copy_prefix(st_store *st, struct st_file *f, uint64_t end, const char *tmp)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int fd, rc = ST_OK;

	if (!buf)
		return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
	/* A leftover temp file of an interrupted rewind holds nothing of use. */
	if (st->ops->unlink(st->ctx, tmp) < 0 && errno != ENOENT) {
		rc = st_fail_errno(errno, "unlink", tmp);
		goto out_free_buf;
	}
	fd = st->ops->open(st->ctx, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = st_fail_errno(errno, "create", tmp);
		goto out_free_buf;
	}
	/* The copy replaces the store: it keeps the store's owner. */
	{
		struct stat sb;

		if (f->ops->fstat(f->ctx, f->fd, &sb) == 0 &&
		    (sb.st_uid != geteuid() || sb.st_gid != getegid()) && st->ops->fchown &&
		    st->ops->fchown(st->ctx, fd, sb.st_uid, sb.st_gid) < 0 && errno != EPERM) {
			rc = st_fail_errno(errno, "chown", tmp);
			goto out_close;
		}
	}
	while (off < end) {
		size_t n = end - off < COPY_CHUNK ? (size_t)(end - off) : COPY_CHUNK;
		ssize_t r = st->ops->pread(st->ctx, f->fd, buf, n, (off_t)off);

		if (r <= 0) {
			rc = r < 0 ? st_fail_errno(errno, "read", st->path)
				   : st_fail(ST_ECORRUPT, 0, off,
					     "%s: file shorter than its header", st->path);
			goto out_close;
		}
		for (ssize_t done = 0; done < r;) {
			ssize_t w = st->ops->pwrite(st->ctx, fd, buf + done, (size_t)(r - done),
						    (off_t)(off + (uint64_t)done));

			if (w <= 0) {
				rc = st_fail_errno(w < 0 ? errno : ENOSPC, "write", tmp);
				goto out_close;
			}
			done += w;
		}
		off += (uint64_t)r;
	}
	if (!(st->flags & ST_NOSYNC) && st->ops->fdatasync(st->ctx, fd) < 0)
		rc = st_fail_errno(errno, "fdatasync", tmp);
out_close:
	st->ops->close(st->ctx, fd);
	if (rc != ST_OK)
		st->ops->unlink(st->ctx, tmp);
out_free_buf:
	free(buf);
	return rc;
}

int st_rewind(st_store *st, uint64_t seq)
{
	struct st_file *f;
	struct stat sb;
	struct hdr h, p;
	char *tmp = NULL;
	int rc = ST_OK;

	if (!st->readonly)
		return st_fail(ST_EINVAL, 0, 0, "%s: st_rewind needs a read-only handle", st->path);
	st_store_snapshot(st, &f, &h);
	while (h.pos != HDR_NONE && h.seq != seq) {
		if (h.prev == HDR_NONE || h.seq < seq) {
			rc = st_fail(ST_ENOTFOUND, 0, 0, "%s: no version %llu", st->path,
				     (unsigned long long)seq);
			goto out_unref;
		}
		if ((rc = st_header_prev(f, &h, &p)) != ST_OK)
			goto out_unref;
		h = p;
	}
	if (h.pos == HDR_NONE) {
		rc = st_fail(ST_ENOTFOUND, 0, 0, "%s: no version committed yet", st->path);
		goto out_unref;
	}
	/* The name must still be this file: a rename over it since the open
	 * would be undone by ours. */
	if (st->ops->stat(st->ctx, st->path, &sb) < 0) {
		rc = st_fail_errno(errno, "stat", st->path);
		goto out_unref;
	}
	if (sb.st_dev != f->dev || sb.st_ino != f->ino) {
		rc = st_fail(ST_EDELETED, 0, 0, "%s: replaced since it was opened", st->path);
		goto out_unref;
	}
	if (asprintf(&tmp, "%s.fsck", st->path) < 0) {
		tmp = NULL;
		rc = st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
		goto out_unref;
	}
	rc = copy_prefix(st, f, st_head_end(&h), tmp);
	if (rc != ST_OK)
		goto out_free_tmp;
	if (st->ops->rename(st->ctx, tmp, st->path) < 0) {
		rc = st_fail_errno(errno, "rename", tmp);
		st->ops->unlink(st->ctx, tmp);
		goto out_free_tmp;
	}
	rc = st_store_dir_sync(st);
out_free_tmp:
	free(tmp);
out_unref:
	st_file_unref(f);
	return rc;
}
