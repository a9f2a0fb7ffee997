/*
 * meta.c - a version's attributes (ns_meta): what each commit of a file
 * records with it in its store, so that history can show and check the
 * owner, group, mode, xattrs and enclosing directories of each version as
 * they were, whatever becomes of the namespace's old versions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "revfs.h"

struct xcopy {
	struct ns_meta_xattr *x;
	size_t n, cap;
	int rc;
};

static int xcopy_cb(void *arg, const char *name, size_t nlen, const void *val, size_t vlen)
{
	struct xcopy *c = arg;
	struct ns_meta_xattr *e;
	char *p;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct ns_meta_xattr *nx = realloc(c->x, cap * sizeof(*nx));

		if (!nx)
			goto oom;
		c->x = nx;
		c->cap = cap;
	}
	if (!(p = malloc(nlen + vlen + 1)))
		goto oom;
	memcpy(p, name, nlen);
	memcpy(p + nlen, val, vlen);
	e = &c->x[c->n++];
	e->name = p;
	e->nlen = nlen;
	e->val = p + nlen;
	e->vlen = vlen;
	return 0;
oom:
	c->rc = -ENOMEM;
	return 1;
}

/* The owner, group and mode of directory d now, and its parent (ns_lock
 * held): the loaded inode's, which may be ahead of its record. */
static int dir_perm(struct fs *fs, uint64_t d, struct ns_perm *p, uint64_t *parent)
{
	struct inode *di = ino_find(fs, d);
	struct ns_inode a;
	int rc = 0;

	if (di) {
		pthread_mutex_lock(&di->lock);
		a = di->a;
		rc = di->removed ? -ENOENT : 0;
		pthread_mutex_unlock(&di->lock);
	} else {
		rc = -fs_errno(ns_inode_get(fs->ns, d, &a, NULL));
	}
	if (rc)
		return rc;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	p->mode = a.mode;
	p->uid = a.uid;
	p->gid = a.gid;
	*parent = a.parent;
	return 0;
}

int meta_gather(struct fs *fs, uint64_t ino, const struct ns_perm *self, uint64_t parent,
		void **buf, size_t *len)
{
	struct ns_meta m = {.self = *self};
	struct ns_perm *gate = NULL;
	struct xcopy xc = {0};
	int rc = 0, xrc;

	pthread_mutex_lock(&fs->ns_lock);
	/* The directories that lead to the file by the name it was last
	 * reached through, up to the root; unknown if one is gone. */
	if (parent && (gate = calloc(NS_META_GATE_MAX, sizeof(*gate)))) {
		uint64_t d = parent;

		m.gate_known = true;
		while (m.ngate < NS_META_GATE_MAX) {
			uint64_t up;

			if (dir_perm(fs, d, &gate[m.ngate], &up) != 0) {
				m.gate_known = false;
				break;
			}
			m.ngate++;
			if (d == NS_ROOT_INO)
				break;
			d = up;
		}
		if (d != NS_ROOT_INO)
			m.gate_known = false;
	}
	xrc = ns_xattr_list(fs->ns, ino, xcopy_cb, &xc);
	pthread_mutex_unlock(&fs->ns_lock);
	m.gate = gate;
	m.ngate = m.gate_known ? m.ngate : 0;
	m.xattrs_known = xrc == ST_OK && xc.rc == 0;
	m.x = xc.x;
	m.nx = m.xattrs_known ? (uint32_t)xc.n : 0;
	if ((rc = ns_meta_encode(&m, buf, len)) != ST_OK)
		rc = -fs_errno(rc);
	for (size_t i = 0; i < xc.n; i++)
		free((void *)xc.x[i].name);
	free(xc.x);
	free(gate);
	return rc;
}

int meta_read(st_store *st, const struct st_version *v, struct ns_meta *m, void **buf)
{
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	*buf = NULL;
	rc = v ? st_version_meta(st, v, buf, &len) : st_file_meta(st, buf, &len);
	if (rc == ST_OK && !*buf)
		return -ENODATA;
	if (rc == ST_OK)
		rc = ns_meta_decode(*buf, len, m);
	if (rc != ST_OK) {
		free(*buf);
		*buf = NULL;
		return -fs_errno(rc);
	}
	return 0;
}

bool meta_perm(st_store *st, const struct st_version *v, struct meta_cache *c, struct ns_perm *out,
	       bool *has_xattrs)
{
	struct ns_meta m;
	void *buf;

	*has_xattrs = false;
	if (!v->meta)
		return false;
	if (v->meta != c->pos) {
		if (meta_read(st, v, &m, &buf) != 0)
			return false; /* stat and open read it again, and say why */
		c->perm = m.self;
		c->has_xattrs = m.nx > 0;
		c->pos = v->meta;
		ns_meta_free(&m);
		free(buf);
	}
	*out = c->perm;
	*has_xattrs = c->has_xattrs;
	return true;
}

struct others {
	st_store *st;
	uint32_t uid;
	struct meta_cache mc;
	struct u64s *out;
};

static int others_cb(void *arg, const struct st_version *v)
{
	struct others *o = arg;
	struct ns_perm p;
	bool x;

	if (meta_perm(o->st, v, &o->mc, &p, &x) && p.uid != o->uid)
		return u64s_push(o->out, v->seq);
	return 0;
}

int meta_others(st_store *st, uint32_t uid, struct u64s *out)
{
	struct others o = {.st = st, .uid = uid, .out = out};
	int rc = st_versions(st, others_cb, &o);

	return rc ? -fs_errno(rc) : 0;
}
