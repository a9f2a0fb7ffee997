/*
 * records.c - the records of the namespace store: their keys, their
 * values, and the typed functions every program uses to read and stage
 * them. docs/FORMAT.md, section 19, "Namespace keys" and "Inode record".
 *
 * Every byte read back is untrusted: a value of the wrong length or an
 * inode record that does not decode is an error (or, in a listing, is
 * skipped and left for fsck, whose ns_walk reports it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nsint.h"

/* ---- codecs -------------------------------------------------------------- */

size_t ns_key(uint8_t type, uint64_t ino, const void *name, size_t nlen, uint8_t *key)
{
	key[0] = type;
	st_put64(key + 1, ino);
	if (nlen)
		memcpy(key + NSK_PREFIX, name, nlen);
	return NSK_PREFIX + nlen;
}

int ns_inode_encode(const struct ns_inode *in, const void *target, size_t tlen, uint8_t *buf,
		    size_t len)
{
	size_t fixed = in->version >= 2 ? NSV_INODE2_SIZE : NSV_INODE_SIZE;

	if (len < fixed + tlen || tlen > ST_MAX_VALUE - fixed)
		return st_fail(ST_ETOOBIG, 0, 0, "inode record too large");
	memset(buf, 0, fixed);
	buf[0] = in->version >= 2 ? 2 : 1;
	st_put32(buf + 4, in->mode);
	st_put32(buf + 8, in->uid);
	st_put32(buf + 12, in->gid);
	st_put32(buf + 16, in->nlink);
	st_put32(buf + 20, in->flags);
	st_put64(buf + 24, in->size);
	st_put64(buf + 32, in->rdev);
	st_put64(buf + 40, (uint64_t)in->atime_ns);
	st_put64(buf + 48, (uint64_t)in->mtime_ns);
	st_put64(buf + 56, (uint64_t)in->ctime_ns);
	st_put64(buf + 64, (uint64_t)in->btime_ns);
	st_put64(buf + 72, in->parent);
	if (fixed == NSV_INODE2_SIZE) {
		st_put64(buf + 80, in->store_seq);
		st_put64(buf + 88, in->store_bytes);
	}
	if (tlen)
		memcpy(buf + fixed, target, tlen);
	return (int)(fixed + tlen);
}

int ns_inode_decode(const void *vbuf, size_t len, struct ns_inode *in, const void **target,
		    size_t *tlen)
{
	const uint8_t *buf = vbuf;
	size_t fixed;

	if (len < 1 || (buf[0] != 1 && buf[0] != 2))
		return len < 1 ? st_fail(ST_ECORRUPT, 0, 0, "empty inode record")
			       : st_fail(ST_EVERSION, 0, 0, "inode record version %u", buf[0]);
	fixed = buf[0] == 2 ? NSV_INODE2_SIZE : NSV_INODE_SIZE;
	if (len < fixed)
		return st_fail(ST_ECORRUPT, 0, 0, "inode record of %zu bytes", len);
	memset(in, 0, sizeof(*in));
	in->version = buf[0];
	if (fixed == NSV_INODE2_SIZE) {
		in->store_seq = st_get64(buf + 80);
		in->store_bytes = st_get64(buf + 88);
	}
	in->mode = st_get32(buf + 4);
	in->uid = st_get32(buf + 8);
	in->gid = st_get32(buf + 12);
	in->nlink = st_get32(buf + 16);
	in->flags = st_get32(buf + 20);
	in->size = st_get64(buf + 24);
	in->rdev = st_get64(buf + 32);
	in->atime_ns = (int64_t)st_get64(buf + 40);
	in->mtime_ns = (int64_t)st_get64(buf + 48);
	in->ctime_ns = (int64_t)st_get64(buf + 56);
	in->btime_ns = (int64_t)st_get64(buf + 64);
	in->parent = st_get64(buf + 72);
	/* The target is the rest of the record: a cut record would otherwise
	 * decode as a shorter target. */
	if (S_ISLNK(in->mode) && in->size != len - fixed)
		return st_fail(ST_ECORRUPT, 0, 0,
			       "symlink record of %zu bytes for a target of %llu", len,
			       (unsigned long long)in->size);
	if (target)
		*target = buf + fixed;
	if (tlen)
		*tlen = len - fixed;
	return ST_OK;
}

void ns_dirent_encode(uint64_t ino, uint8_t type, uint8_t out[NSV_DIRENT_SIZE])
{
	st_put64(out, ino);
	out[8] = type;
}

int ns_dirent_decode(const void *vbuf, size_t len, uint64_t *ino, uint8_t *type)
{
	const uint8_t *buf = vbuf;

	if (len != NSV_DIRENT_SIZE)
		return st_fail(ST_ECORRUPT, 0, 0, "directory entry of %zu bytes", len);
	*ino = st_get64(buf);
	*type = buf[8];
	return ST_OK;
}

/* The key of a named record and its length; 0, with ST_ETOOBIG recorded,
 * if the name is too long. */
static size_t named_key(uint8_t type, uint64_t ino, const char *name, uint8_t *key)
{
	size_t nlen = strlen(name);

	if (nlen > NS_NAME_MAX) {
		st_fail(ST_ETOOBIG, ENAMETOOLONG, 0, "name of %zu bytes", nlen);
		return 0;
	}
	return ns_key(type, ino, name, nlen, key);
}

static int named_del(st_store *ns, uint8_t type, uint64_t ino, const char *name)
{
	uint8_t key[NSK_MAX];
	size_t klen = named_key(type, ino, name, key);

	return klen ? st_kv_del(ns, key, klen) : ST_ETOOBIG;
}

static int put_empty(st_store *ns, uint8_t type, uint64_t ino)
{
	uint8_t key[NSK_MAX];

	return st_kv_put(ns, key, ns_key(type, ino, NULL, 0, key), "", 0);
}

static int del_plain(st_store *ns, uint8_t type, uint64_t ino)
{
	uint8_t key[NSK_MAX];

	return st_kv_del(ns, key, ns_key(type, ino, NULL, 0, key));
}

/* ---- inodes ---------------------------------------------------------------- */

int ns_inode_get(st_store *ns, uint64_t ino, struct ns_inode *a, char **target)
{
	uint8_t key[NSK_MAX];
	const void *t;
	size_t vlen, tlen;
	void *val;
	int rc;

	if (target)
		*target = NULL;
	rc = st_kv_get(ns, key, ns_key(NSK_INODE, ino, NULL, 0, key), &val, &vlen);
	if (rc)
		return rc;
	rc = ns_inode_decode(val, vlen, a, &t, &tlen);
	if (rc == ST_OK && target && S_ISLNK(a->mode) && !(*target = strndup(t, tlen)))
		rc = st_fail_oom();
	free(val);
	return rc;
}

int ns_inode_put(st_store *ns, uint64_t ino, const struct ns_inode *a, const char *target)
{
	uint8_t key[NSK_MAX], *rec;
	size_t tlen = target ? strlen(target) : 0;
	int rc;

	rec = malloc(NSV_INODE2_SIZE + tlen);
	if (!rec)
		return st_fail_oom();
	rc = ns_inode_encode(a, target, tlen, rec, NSV_INODE2_SIZE + tlen);
	if (rc >= 0)
		rc = st_kv_put(ns, key, ns_key(NSK_INODE, ino, NULL, 0, key), rec, (size_t)rc);
	free(rec);
	return rc;
}

int ns_inode_del(st_store *ns, uint64_t ino)
{
	return del_plain(ns, NSK_INODE, ino);
}

struct inode_list {
	int (*cb)(void *arg, uint64_t ino, const struct ns_inode *a);
	void *arg;
};

static int inode_list_cb(void *arg, const void *vkey, size_t klen, const void *val, size_t vlen)
{
	const struct inode_list *l = arg;
	struct ns_inode a;
	const void *t;
	size_t tlen;

	/* A malformed record is skipped: fsck's to report. */
	if (klen != NSK_PREFIX || ns_inode_decode(val, vlen, &a, &t, &tlen) != ST_OK)
		return 0;
	return l->cb(l->arg, st_get64((const uint8_t *)vkey + 1), &a);
}

int ns_inode_list(st_store *ns, int (*cb)(void *arg, uint64_t ino, const struct ns_inode *a),
		  void *arg)
{
	struct inode_list l = {.cb = cb, .arg = arg};
	uint8_t type = NSK_INODE;

	return st_kv_range(ns, &type, 1, inode_list_cb, &l);
}

/* ---- directory entries ------------------------------------------------------ */

int ns_dirent_get(st_store *ns, uint64_t dir, const char *name, uint64_t *ino, uint8_t *type)
{
	uint8_t key[NSK_MAX];
	size_t klen, vlen;
	void *val;
	int rc;

	if (!(klen = named_key(NSK_DIRENT, dir, name, key)))
		return ST_ETOOBIG;
	rc = st_kv_get(ns, key, klen, &val, &vlen);
	if (rc)
		return rc;
	rc = ns_dirent_decode(val, vlen, ino, type);
	free(val);
	return rc;
}

int ns_dirent_put(st_store *ns, uint64_t dir, const char *name, uint64_t ino, uint8_t type)
{
	uint8_t key[NSK_MAX], val[NSV_DIRENT_SIZE];
	size_t klen;

	if (!(klen = named_key(NSK_DIRENT, dir, name, key)))
		return ST_ETOOBIG;
	ns_dirent_encode(ino, type, val);
	return st_kv_put(ns, key, klen, val, sizeof(val));
}

int ns_dirent_del(st_store *ns, uint64_t dir, const char *name)
{
	return named_del(ns, NSK_DIRENT, dir, name);
}

/* A listing of the named records (entries or xattrs) under one key prefix. */
struct named_list {
	ns_dirent_cb dirent;
	ns_xattr_cb xattr;
	void *arg;
};

static int named_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	const struct named_list *l = arg;
	char name[NS_NAME_MAX + 1];
	size_t nlen = klen - NSK_PREFIX;
	uint64_t ino = 0;
	uint8_t type = 0;

	if (klen <= NSK_PREFIX || nlen > NS_NAME_MAX)
		return 0; /* malformed: fsck's to report */
	memcpy(name, (const uint8_t *)key + NSK_PREFIX, nlen);
	name[nlen] = 0;
	if (l->xattr)
		return l->xattr(l->arg, name, nlen, val, vlen);
	if (ns_dirent_decode(val, vlen, &ino, &type) != ST_OK)
		return 0;
	return l->dirent(l->arg, name, nlen, ino, type);
}

int ns_dirent_list(st_store *ns, uint64_t dir, ns_dirent_cb cb, void *arg)
{
	struct named_list l = {.dirent = cb, .arg = arg};
	uint8_t key[NSK_MAX];

	return st_kv_range(ns, key, ns_key(NSK_DIRENT, dir, NULL, 0, key), named_cb, &l);
}

static int any_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)arg;
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	return 1;
}

int ns_dir_empty(st_store *ns, uint64_t dir)
{
	uint8_t key[NSK_MAX];
	int rc = st_kv_range(ns, key, ns_key(NSK_DIRENT, dir, NULL, 0, key), any_cb, NULL);

	return rc == 1 ? ST_EEXIST : rc;
}

/* ---- extended attributes ------------------------------------------------------ */

int ns_xattr_get(st_store *ns, uint64_t ino, const char *name, void **val, size_t *vlen)
{
	uint8_t key[NSK_MAX];
	size_t klen;

	if (!(klen = named_key(NSK_XATTR, ino, name, key)))
		return ST_ETOOBIG;
	return st_kv_get(ns, key, klen, val, vlen);
}

int ns_xattr_put(st_store *ns, uint64_t ino, const char *name, const void *val, size_t vlen)
{
	uint8_t key[NSK_MAX];
	size_t klen;

	if (!(klen = named_key(NSK_XATTR, ino, name, key)))
		return ST_ETOOBIG;
	return st_kv_put(ns, key, klen, val, vlen);
}

int ns_xattr_del(st_store *ns, uint64_t ino, const char *name)
{
	return named_del(ns, NSK_XATTR, ino, name);
}

int ns_xattr_list(st_store *ns, uint64_t ino, ns_xattr_cb cb, void *arg)
{
	struct named_list l = {.xattr = cb, .arg = arg};
	uint8_t key[NSK_MAX];

	return st_kv_range(ns, key, ns_key(NSK_XATTR, ino, NULL, 0, key), named_cb, &l);
}

/* ---- orphans, pins, the graveyard ------------------------------------------------ */

int ns_orphan_put(st_store *ns, uint64_t ino)
{
	return put_empty(ns, NSK_ORPHAN, ino);
}

int ns_orphan_del(st_store *ns, uint64_t ino)
{
	return del_plain(ns, NSK_ORPHAN, ino);
}

struct ino_list {
	int (*orphan)(void *arg, uint64_t ino);
	int (*pin)(void *arg, uint64_t ino, uint64_t seq);
	int (*grave)(void *arg, uint64_t ino, uint64_t seq, uint64_t time_ns);
	void *arg;
};

static int ino_list_cb(void *arg, const void *vkey, size_t klen, const void *vval, size_t vlen)
{
	const struct ino_list *l = arg;
	const uint8_t *key = vkey, *val = vval;
	uint64_t ino = klen >= NSK_PREFIX ? st_get64(key + 1) : 0;

	/* A malformed record is skipped: fsck's to report. */
	if (l->orphan)
		return klen == NSK_PREFIX ? l->orphan(l->arg, ino) : 0;
	if (l->pin)
		return klen == NSK_PREFIX + 8 ? l->pin(l->arg, ino, st_get64(key + NSK_PREFIX)) : 0;
	if (klen != NSK_PREFIX || vlen != NSV_GRAVE_SIZE)
		return 0;
	return l->grave(l->arg, ino, st_get64(val), st_get64(val + 8));
}

int ns_orphan_list(st_store *ns, int (*cb)(void *arg, uint64_t ino), void *arg)
{
	struct ino_list l = {.orphan = cb, .arg = arg};
	uint8_t type = NSK_ORPHAN;

	return st_kv_range(ns, &type, 1, ino_list_cb, &l);
}

static size_t pin_key(uint64_t ino, uint64_t seq, uint8_t *key)
{
	uint8_t s[8];

	st_put64(s, seq);
	return ns_key(NSK_PIN, ino, s, 8, key);
}

int ns_pin_put(st_store *ns, uint64_t ino, uint64_t seq)
{
	uint8_t key[NSK_MAX];

	return st_kv_put(ns, key, pin_key(ino, seq, key), "", 0);
}

int ns_pin_del(st_store *ns, uint64_t ino, uint64_t seq)
{
	uint8_t key[NSK_MAX];

	return st_kv_del(ns, key, pin_key(ino, seq, key));
}

int ns_pin_get(st_store *ns, uint64_t ino, uint64_t seq)
{
	uint8_t key[NSK_MAX];
	size_t vlen;
	void *val;
	int rc = st_kv_get(ns, key, pin_key(ino, seq, key), &val, &vlen);

	if (rc == ST_OK)
		free(val);
	return rc;
}

int ns_pin_list(st_store *ns, uint64_t ino, int (*cb)(void *arg, uint64_t ino, uint64_t seq),
		void *arg)
{
	struct ino_list l = {.pin = cb, .arg = arg};
	uint8_t key[NSK_MAX];
	size_t klen = ns_key(NSK_PIN, ino, NULL, 0, key);

	/* Inode 0 is none: the type byte alone, every inode's pins. */
	return st_kv_range(ns, key, ino ? klen : 1, ino_list_cb, &l);
}

int ns_grave_put(st_store *ns, uint64_t ino, uint64_t seq, uint64_t time_ns)
{
	uint8_t key[NSK_MAX], val[NSV_GRAVE_SIZE];

	st_put64(val, seq);
	st_put64(val + 8, time_ns);
	return st_kv_put(ns, key, ns_key(NSK_GRAVE, ino, NULL, 0, key), val, sizeof(val));
}

int ns_grave_del(st_store *ns, uint64_t ino)
{
	return del_plain(ns, NSK_GRAVE, ino);
}

int ns_grave_list(st_store *ns, int (*cb)(void *arg, uint64_t ino, uint64_t seq, uint64_t time_ns),
		  void *arg)
{
	struct ino_list l = {.grave = cb, .arg = arg};
	uint8_t type = NSK_GRAVE;

	return st_kv_range(ns, &type, 1, ino_list_cb, &l);
}

/* ---- lineage and vacated names ------------------------------------------------ */

static int put_pair(st_store *ns, const uint8_t *key, size_t klen, uint64_t a, uint64_t b)
{
	uint8_t val[NSV_PAIR_SIZE];

	st_put64(val, a);
	st_put64(val + 8, b);
	return st_kv_put(ns, key, klen, val, sizeof(val));
}

static int get_pair(st_store *ns, const uint8_t *key, size_t klen, uint64_t *a, uint64_t *b)
{
	size_t vlen;
	void *val;
	int rc = st_kv_get(ns, key, klen, &val, &vlen);

	if (rc)
		return rc;
	if (vlen == NSV_PAIR_SIZE) {
		*a = st_get64(val);
		*b = st_get64((uint8_t *)val + 8);
	} else {
		rc = st_fail(ST_ECORRUPT, 0, 0, "lineage or vacated record of %zu bytes", vlen);
	}
	free(val);
	return rc;
}

/*
 * A lineage value, form 1: 16 bytes (pred, cut), then versions of 32
 * bytes (u64 seq, time, size, offset). Form 2: 24 bytes (pred, cut, u32
 * 48, u32 0), then versions of 48 bytes (the same, then u32 mode, uid,
 * gid, flags; flags 0x1: those three are known, 0x2: the version has
 * xattrs). Lengths tell them apart:
 * 16 + 32n is a multiple of 16, 24 + 48n never is.
 */
#define LINVER_SIZE   32u
#define LINVER2_HEAD  24u
#define LINVER2_SIZE  48u
#define LINVER2_KNOWN 0x1u
#define LINVER2_XATTR 0x2u

static bool lineage_form(size_t vlen, size_t *head, size_t *each, size_t *n)
{
	if (vlen % 16 == 0) {
		*head = NSV_PAIR_SIZE;
		*each = LINVER_SIZE;
	} else {
		*head = LINVER2_HEAD;
		*each = LINVER2_SIZE;
	}
	if (vlen < *head || (vlen - *head) % *each)
		return false;
	*n = (vlen - *head) / *each;
	return *n <= NS_LINVER_MAX;
}

static bool lineage_len_ok(size_t vlen)
{
	size_t head, each, n;

	return lineage_form(vlen, &head, &each, &n);
}

static int lineage_read(st_store *ns, uint64_t ino, uint8_t **val, size_t *vlen)
{
	uint8_t key[NSK_MAX];
	void *v;
	int rc = st_kv_get(ns, key, ns_key(NSK_LINEAGE, ino, NULL, 0, key), &v, vlen);

	if (rc)
		return rc;
	if (!lineage_len_ok(*vlen) || (*vlen % 16 && st_get32((uint8_t *)v + 16) != LINVER2_SIZE)) {
		free(v);
		return st_fail(ST_ECORRUPT, 0, 0, "lineage record of %zu bytes", *vlen);
	}
	*val = v;
	return ST_OK;
}

int ns_lineage_get(st_store *ns, uint64_t ino, uint64_t *pred, uint64_t *cut_ns)
{
	uint8_t *val;
	size_t vlen;
	int rc = lineage_read(ns, ino, &val, &vlen);

	if (rc)
		return rc;
	*pred = st_get64(val);
	*cut_ns = st_get64(val + 8);
	free(val);
	return ST_OK;
}

int ns_lineage_versions(st_store *ns, uint64_t ino, struct ns_linver **v, size_t *n)
{
	uint8_t *val;
	size_t vlen;
	int rc = lineage_read(ns, ino, &val, &vlen);

	size_t head, each;

	*v = NULL;
	*n = 0;
	if (rc)
		return rc;
	(void)lineage_form(vlen, &head, &each, n); /* lineage_read checked it */
	if (*n && !(*v = calloc(*n, sizeof(**v)))) {
		free(val);
		*n = 0;
		return st_fail_oom();
	}
	for (size_t i = 0; i < *n; i++) {
		const uint8_t *p = val + head + i * each;

		(*v)[i].seq = st_get64(p);
		(*v)[i].time_ns = st_get64(p + 8);
		(*v)[i].size = st_get64(p + 16);
		(*v)[i].offset = st_get64(p + 24);
		if (each == LINVER2_SIZE && (st_get32(p + 44) & LINVER2_KNOWN)) {
			(*v)[i].perm.mode = st_get32(p + 32);
			(*v)[i].perm.uid = st_get32(p + 36);
			(*v)[i].perm.gid = st_get32(p + 40);
			(*v)[i].perm_known = true;
			(*v)[i].has_xattrs = st_get32(p + 44) & LINVER2_XATTR;
		}
	}
	free(val);
	return ST_OK;
}

int ns_lineage_put(st_store *ns, int form, uint64_t ino, uint64_t pred, uint64_t cut_ns,
		   const struct ns_linver *v, size_t n)
{
	size_t head = form == 2 ? LINVER2_HEAD : NSV_PAIR_SIZE;
	size_t each = form == 2 ? LINVER2_SIZE : LINVER_SIZE;
	uint8_t key[NSK_MAX], *val;
	size_t vlen;
	int rc;

	if (n > NS_LINVER_MAX)
		n = NS_LINVER_MAX; /* the newest: v is newest first */
	vlen = head + n * each;
	if (!(val = calloc(1, vlen)))
		return st_fail_oom();
	st_put64(val, pred);
	st_put64(val + 8, cut_ns);
	if (form == 2)
		st_put32(val + 16, LINVER2_SIZE);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = val + head + i * each;

		st_put64(p, v[i].seq);
		st_put64(p + 8, v[i].time_ns);
		st_put64(p + 16, v[i].size);
		st_put64(p + 24, v[i].offset);
		if (form == 2 && v[i].perm_known) {
			st_put32(p + 32, v[i].perm.mode);
			st_put32(p + 36, v[i].perm.uid);
			st_put32(p + 40, v[i].perm.gid);
			st_put32(p + 44, LINVER2_KNOWN | (v[i].has_xattrs ? LINVER2_XATTR : 0));
		}
	}
	rc = st_kv_put(ns, key, ns_key(NSK_LINEAGE, ino, NULL, 0, key), val, vlen);
	free(val);
	return rc;
}

int ns_lineage_del(st_store *ns, uint64_t ino)
{
	return del_plain(ns, NSK_LINEAGE, ino);
}

struct pair_list {
	int (*lineage)(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns);
	int (*vacated)(void *arg, uint64_t dir, const char *name, size_t nlen, uint64_t ino,
		       uint64_t time_ns);
	void *arg;
};

static int pair_list_cb(void *arg, const void *vkey, size_t klen, const void *vval, size_t vlen)
{
	const struct pair_list *l = arg;
	const uint8_t *key = vkey, *val = vval;
	char name[NS_NAME_MAX + 1];

	if (klen < NSK_PREFIX)
		return 0; /* fsck's to report */
	if (l->lineage)
		return klen == NSK_PREFIX && lineage_len_ok(vlen)
			   ? l->lineage(l->arg, st_get64(key + 1), st_get64(val), st_get64(val + 8))
			   : 0;
	if (vlen != NSV_PAIR_SIZE)
		return 0;
	if (klen == NSK_PREFIX || klen > NSK_MAX)
		return 0;
	memcpy(name, key + NSK_PREFIX, klen - NSK_PREFIX);
	name[klen - NSK_PREFIX] = 0;
	return l->vacated(l->arg, st_get64(key + 1), name, klen - NSK_PREFIX, st_get64(val),
			  st_get64(val + 8));
}

int ns_lineage_list(st_store *ns,
		    int (*cb)(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns), void *arg)
{
	struct pair_list l = {.lineage = cb, .arg = arg};
	uint8_t type = NSK_LINEAGE;

	return st_kv_range(ns, &type, 1, pair_list_cb, &l);
}

static int vacated_key(uint64_t dir, const char *name, uint8_t *key, size_t *klen)
{
	size_t nlen = strlen(name);

	if (nlen == 0 || nlen > NS_NAME_MAX)
		return st_fail(ST_ETOOBIG, ENAMETOOLONG, 0, "name of %zu bytes", nlen);
	*klen = ns_key(NSK_VACATED, dir, name, nlen, key);
	return ST_OK;
}

int ns_vacated_get(st_store *ns, uint64_t dir, const char *name, uint64_t *ino, uint64_t *time_ns)
{
	uint8_t key[NSK_MAX];
	size_t klen = 0;
	int rc = vacated_key(dir, name, key, &klen);

	return rc ? rc : get_pair(ns, key, klen, ino, time_ns);
}

int ns_vacated_put(st_store *ns, uint64_t dir, const char *name, uint64_t ino, uint64_t time_ns)
{
	uint8_t key[NSK_MAX];
	size_t klen = 0;
	int rc = vacated_key(dir, name, key, &klen);

	return rc ? rc : put_pair(ns, key, klen, ino, time_ns);
}

int ns_vacated_del(st_store *ns, uint64_t dir, const char *name)
{
	uint8_t key[NSK_MAX];
	size_t klen = 0;
	int rc = vacated_key(dir, name, key, &klen);

	return rc ? rc : st_kv_del(ns, key, klen);
}

struct vac_names {
	uint8_t (*keys)[NSK_MAX];
	size_t *lens, n, cap;
};

static int vac_collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct vac_names *v = arg;

	(void)val;
	(void)vlen;
	if (klen > NSK_MAX)
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		uint8_t(*k)[NSK_MAX] = realloc(v->keys, cap * sizeof(*k));
		size_t *l = k ? realloc(v->lens, cap * sizeof(*l)) : NULL;

		if (k)
			v->keys = k;
		if (!k || !l)
			return ST_ENOMEM;
		v->lens = l;
		v->cap = cap;
	}
	memcpy(v->keys[v->n], key, klen);
	v->lens[v->n++] = klen;
	return 0;
}

int ns_vacated_clear(st_store *ns, uint64_t dir)
{
	struct vac_names v = {0};
	uint8_t key[NSK_MAX];
	int rc = st_kv_range(ns, key, ns_key(NSK_VACATED, dir, NULL, 0, key), vac_collect, &v);

	for (size_t i = 0; rc == ST_OK && i < v.n; i++)
		rc = st_kv_del(ns, v.keys[i], v.lens[i]);
	free(v.keys);
	free(v.lens);
	return rc;
}

int ns_vacated_list(st_store *ns,
		    int (*cb)(void *arg, uint64_t dir, const char *name, size_t nlen, uint64_t ino,
			      uint64_t time_ns),
		    void *arg)
{
	struct pair_list l = {.vacated = cb, .arg = arg};
	uint8_t type = NSK_VACATED;

	return st_kv_range(ns, &type, 1, pair_list_cb, &l);
}

/* ---- counters ----------------------------------------------------------------- */

static size_t meta_key(const char *name, uint8_t *key)
{
	return ns_key(NSK_META, 0, name, strlen(name), key);
}

int ns_next_ino_get(st_store *ns, uint64_t *next)
{
	uint8_t key[NSK_MAX];
	size_t vlen;
	void *val;
	int rc = st_kv_get(ns, key, meta_key(NSK_META_NEXT_INO, key), &val, &vlen);

	if (rc)
		return rc;
	if (vlen == 8)
		*next = st_get64(val);
	else
		rc = st_fail(ST_ECORRUPT, 0, 0, "inode counter of %zu bytes", vlen);
	free(val);
	return rc;
}

int ns_next_ino_put(st_store *ns, uint64_t next)
{
	uint8_t key[NSK_MAX], v[8];

	st_put64(v, next);
	return st_kv_put(ns, key, meta_key(NSK_META_NEXT_INO, key), v, sizeof(v));
}

int ns_clean_get(st_store *ns)
{
	uint8_t key[NSK_MAX];
	size_t vlen;
	void *val;
	int rc = st_kv_get(ns, key, meta_key(NSK_META_CLEAN, key), &val, &vlen);

	if (rc == ST_OK)
		free(val);
	return rc;
}

int ns_clean_set(st_store *ns, bool clean)
{
	uint8_t key[NSK_MAX];
	size_t klen = meta_key(NSK_META_CLEAN, key);

	return clean ? st_kv_put(ns, key, klen, "", 0) : st_kv_del(ns, key, klen);
}

/* ---- every record, for fsck ---------------------------------------------------- */

/* A valid entry name: 1..255 bytes, no '/', no NUL, not "." or "..". */
static bool valid_name(const uint8_t *p, size_t len)
{
	if (len == 0 || len > NS_NAME_MAX || (len == 1 && p[0] == '.') ||
	    (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	return !memchr(p, '/', len) && !memchr(p, 0, len);
}

static bool meta_is(const uint8_t *k, size_t klen, const char *name)
{
	size_t n = strlen(name);

	return klen == NSK_PREFIX + n && memcmp(k + NSK_PREFIX, name, n) == 0;
}

/* Classifies and decodes one record into r (whose key and value are set). */
static void classify(struct ns_rec *r)
{
	const uint8_t *k = r->key;
	size_t klen = r->klen, vlen = r->vlen;

	r->kind = NS_REC_BAD;
	r->key_type = klen ? k[0] : 0;
	if (klen < NSK_PREFIX) {
		r->why = "key too short";
		return;
	}
	r->ino = st_get64(k + 1);
	r->name = (const char *)k + NSK_PREFIX;
	r->nlen = klen - NSK_PREFIX;
	switch (k[0]) {
	case NSK_DIRENT:
		if (!valid_name(k + NSK_PREFIX, r->nlen))
			r->why = "bad entry name";
		else if (ns_dirent_decode(r->val, vlen, &r->child, &r->type) != ST_OK)
			r->why = "bad entry value";
		else
			r->kind = NS_REC_DIRENT;
		return;
	case NSK_INODE:
		if (klen != NSK_PREFIX) {
			r->why = "inode key with a name";
			return;
		}
		r->kind = NS_REC_INODE;
		r->decode_rc =
		    ns_inode_decode(r->val, vlen, &r->inode, (const void **)&r->target, &r->tlen);
		if (r->decode_rc != ST_OK || !S_ISLNK(r->inode.mode)) {
			r->target = NULL;
			r->tlen = 0;
		}
		return;
	case NSK_META:
		if (meta_is(k, klen, NSK_META_NEXT_INO)) {
			if (vlen != 8) {
				r->why = "inode counter of the wrong size";
				return;
			}
			r->kind = NS_REC_NEXT_INO;
			r->next_ino = st_get64(r->val);
		} else {
			/* Other names may be a newer daemon's: left alone. */
			r->kind =
			    meta_is(k, klen, NSK_META_CLEAN) ? NS_REC_CLEAN : NS_REC_META_OTHER;
		}
		return;
	case NSK_ORPHAN:
		if (klen != NSK_PREFIX || vlen != 0)
			r->why = "malformed orphan mark";
		else
			r->kind = NS_REC_ORPHAN;
		return;
	case NSK_GRAVE:
		if (klen != NSK_PREFIX || vlen != NSV_GRAVE_SIZE) {
			r->why = "malformed grave";
			return;
		}
		r->kind = NS_REC_GRAVE;
		r->seq = st_get64(r->val);
		r->time_ns = st_get64((const uint8_t *)r->val + 8);
		return;
	case NSK_PIN:
		if (klen != NSK_PREFIX + 8 || vlen != 0) {
			r->why = "malformed pin";
			return;
		}
		r->kind = NS_REC_PIN;
		r->seq = st_get64(k + NSK_PREFIX);
		return;
	case NSK_LINEAGE:
		if (klen != NSK_PREFIX || !lineage_len_ok(vlen)) {
			r->why = "malformed lineage record";
			return;
		}
		r->kind = NS_REC_LINEAGE;
		r->child = st_get64(r->val);
		r->time_ns = st_get64((const uint8_t *)r->val + 8);
		return;
	case NSK_VACATED:
		if (!valid_name(k + NSK_PREFIX, r->nlen) || vlen != NSV_PAIR_SIZE) {
			r->why = "malformed vacated name";
			return;
		}
		r->kind = NS_REC_VACATED;
		r->child = st_get64(r->val);
		r->time_ns = st_get64((const uint8_t *)r->val + 8);
		return;
	case NSK_XATTR:
		/* A name past the longest would not fit the keys the typed
		 * functions build: malformed, removed by its raw key. */
		if (klen == NSK_PREFIX || klen > NSK_MAX)
			r->why = "bad xattr name";
		else
			r->kind = NS_REC_XATTR;
		return;
	default:
		r->why = "unknown record type";
		return;
	}
}

struct walk {
	int (*cb)(void *arg, const struct ns_rec *r);
	void *arg;
};

static int walk_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	const struct walk *w = arg;
	struct ns_rec r = {.key = key, .klen = klen, .val = val, .vlen = vlen};

	classify(&r);
	return w->cb(w->arg, &r);
}

int ns_walk(st_store *ns, int (*cb)(void *arg, const struct ns_rec *r), void *arg)
{
	struct walk w = {.cb = cb, .arg = arg};

	return st_kv_range(ns, NULL, 0, walk_cb, &w);
}

int ns_key_del(st_store *ns, const void *key, size_t klen)
{
	return st_kv_del(ns, key, klen);
}
