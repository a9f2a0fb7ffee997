/*
 * xattr.c - extended attributes of the real tree, kept in the namespace
 * (ns_xattr_*): user., trusted. and security. names; system. names are
 * refused. The user.revfs.* names (versions, pins) are answered by
 * vtree.c's vx_* functions first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "ops.h"

/* ---- extended attributes --------------------------------------------------- */

static int xattr_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -EINVAL;
	if (len > XNAME_MAX_BYTES)
		return -ERANGE;
	/* The namespaces a local disk stores. Not system.*: ACLs are not
	 * enforced here, so they are refused rather than pretended. */
	if (strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "security.", 9) == 0)
		return 0;
	return -EOPNOTSUPP;
}

void fsop_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags)
{
	struct fs *fs = FS(req);
	struct inode *in;
	size_t vlen;
	void *old;
	int rc = fs->o.ro ? -EROFS : vx_set(fs, ino, name, value, size);

	if (rc != 1) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == 0 && size > XVALUE_MAX_BYTES)
		rc = -E2BIG;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	if (!in) {
		rc = -ESTALE;
		goto out_unlock;
	}
	rc = ns_xattr_get(fs->ns, ino, name, &old, &vlen);
	if (rc == ST_OK) {
		free(old);
		rc = flags & XATTR_CREATE ? -EEXIST : 0;
	} else if (rc == ST_ENOTFOUND) {
		rc = flags & XATTR_REPLACE ? -ENODATA : 0;
	} else {
		rc = -fs_errno(rc);
	}
	if (rc == 0) {
		rc = -fs_errno(ns_xattr_put(fs->ns, ino, name, value, size));
		fs->ns_dirty = true;
	}
	if (rc == 0)
		rc = touch(fs, in, T_C);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

void fs_reply_xattr(fuse_req_t req, int rc, const void *buf, size_t len, size_t size)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

void fsop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = FS(req);
	char vbuf[4096];
	size_t vlen = 0;
	void *val = NULL;
	int rc = vx_get(fs, ino, name, vbuf, sizeof(vbuf), &vlen);

	if (rc != 1) {
		fs_reply_xattr(req, rc < 0 ? rc : 0, vbuf, vlen, size);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == -EOPNOTSUPP)
		rc = -ENODATA;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = ns_xattr_get(fs->ns, ino, name, &val, &vlen);
	pthread_mutex_unlock(&fs->ns_lock);
	fs_reply_xattr(req, rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc), val, vlen, size);
	free(val);
}

struct xlist {
	char *buf;
	size_t len, cap;
};

static int xlist_cb(void *arg, const char *name, size_t n, const void *val, size_t vlen)
{
	struct xlist *x = arg;

	(void)val;
	(void)vlen;
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		char *b;

		while (cap < x->len + n + 1)
			cap *= 2;
		b = realloc(x->buf, cap);
		if (!b)
			return ST_ENOMEM;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, name, n);
	x->buf[x->len + n] = 0;
	x->len += n + 1;
	return 0;
}

/* The names of ino's xattrs, NUL-separated, into x (ns_lock held). */
static int xattr_names(struct fs *fs, uint64_t ino, struct xlist *x)
{
	return -fs_errno(ns_xattr_list(fs->ns, ino, xlist_cb, x));
}

void fsop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = FS(req);
	struct xlist x = {0};
	int rc;

	pthread_mutex_lock(&fs->ns_lock);
	rc = xattr_names(fs, ino, &x);
	pthread_mutex_unlock(&fs->ns_lock);
	/* The user.revfs.* names are not listed: copies (cp -a, rsync -X)
	 * would try to set them on the new file and fail. They are read by
	 * name. */
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, x.len);
	else if (x.len > size)
		fuse_reply_err(req, ERANGE);
	else if (x.len > XLIST_MAX_BYTES)
		fuse_reply_err(req, E2BIG);
	else
		fuse_reply_buf(req, x.buf, x.len);
	free(x.buf);
}

void fsop_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = FS(req);
	struct inode *in;
	size_t vlen;
	void *old;
	int rc = fs->o.ro ? -EROFS : vx_remove(fs, ino, name);

	if (rc != 1) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = xattr_name_ok(name);
	if (rc == -EOPNOTSUPP)
		rc = -ENODATA;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	in = ino_find(fs, ino);
	rc = ns_xattr_get(fs->ns, ino, name, &old, &vlen);
	if (rc == ST_OK) {
		free(old);
		rc = -fs_errno(ns_xattr_del(fs->ns, ino, name));
		fs->ns_dirty = true;
		if (rc == 0 && in)
			rc = touch(fs, in, T_C);
	} else {
		rc = rc == ST_ENOTFOUND ? -ENODATA : -fs_errno(rc);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

void fs_xattr_clear(struct fs *fs, uint64_t ino)
{
	struct xlist x = {0};

	if (xattr_names(fs, ino, &x) == 0)
		for (size_t p = 0; p < x.len; p += strlen(x.buf + p) + 1)
			ns_xattr_del(fs->ns, ino, x.buf + p);
	free(x.buf);
}
