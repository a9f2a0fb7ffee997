/*
 * meta.c - a file version's attributes as its store keeps them
 * (docs/FORMAT.md, section 19, "Version attributes"): the bytes the daemon
 * hands to st_file_set_meta and reads back with st_version_meta.
 */
#include <stdlib.h>
#include <string.h>

#include "nsint.h"

#define META_VERSION  1
#define META_FIXED    20u /* version, flags, u16 ngate, u32 nx, mode, uid, gid */
#define META_PERM     12u /* mode, uid, gid */
#define META_XHEAD    5u  /* u8 nlen, u32 vlen */
#define META_F_GATE   0x1u
#define META_F_XATTRS 0x2u
#define META_VLEN_MAX (256u << 10) /* what the namespace keeps per value */

static void perm_put(uint8_t *p, const struct ns_perm *a)
{
	st_put32(p, a->mode);
	st_put32(p + 4, a->uid);
	st_put32(p + 8, a->gid);
}

static void perm_get(const uint8_t *p, struct ns_perm *a)
{
	a->mode = st_get32(p);
	a->uid = st_get32(p + 4);
	a->gid = st_get32(p + 8);
}

int ns_meta_encode(const struct ns_meta *m, void **out, size_t *outlen)
{
	uint32_t ngate = m->gate_known ? m->ngate : 0;
	bool with_x = m->xattrs_known;
	size_t len = META_FIXED + (size_t)ngate * META_PERM, xlen = 0;
	uint8_t *buf, *p;

	if (ngate > NS_META_GATE_MAX)
		return st_fail(ST_EINVAL, 0, 0, "a path of %u directories", ngate);
	for (uint32_t i = 0; with_x && i < m->nx; i++) {
		if (m->x[i].nlen == 0 || m->x[i].nlen > NS_NAME_MAX || m->x[i].vlen > META_VLEN_MAX)
			return st_fail(ST_EINVAL, 0, 0, "an xattr past the namespace's limits");
		xlen += META_XHEAD + m->x[i].nlen + m->x[i].vlen;
	}
	if (len + xlen > ST_META_MAX) /* keep what fits: the owner and mode */
		with_x = false;
	else
		len += xlen;
	if (!(buf = malloc(len)))
		return st_fail_oom();
	buf[0] = META_VERSION;
	buf[1] = (uint8_t)((m->gate_known ? META_F_GATE : 0) | (with_x ? META_F_XATTRS : 0));
	st_put16(buf + 2, (uint16_t)(ngate & 0xffff));
	st_put32(buf + 4, with_x ? m->nx : 0);
	perm_put(buf + 8, &m->self);
	p = buf + META_FIXED;
	for (uint32_t i = 0; i < ngate; i++, p += META_PERM)
		perm_put(p, &m->gate[i]);
	for (uint32_t i = 0; with_x && i < m->nx; i++) {
		p[0] = (uint8_t)m->x[i].nlen;
		st_put32(p + 1, (uint32_t)m->x[i].vlen);
		memcpy(p + META_XHEAD, m->x[i].name, m->x[i].nlen);
		memcpy(p + META_XHEAD + m->x[i].nlen, m->x[i].val, m->x[i].vlen);
		p += META_XHEAD + m->x[i].nlen + m->x[i].vlen;
	}
	*out = buf;
	*outlen = len;
	return ST_OK;
}

static int bad(const char *what)
{
	return st_fail(ST_ECORRUPT, 0, 0, "version attributes: %s", what);
}

int ns_meta_decode(const void *data, size_t len, struct ns_meta *m)
{
	const uint8_t *buf = data, *p, *end = buf + len;

	memset(m, 0, sizeof(*m));
	if (len < META_FIXED)
		return bad("too short");
	if (buf[0] != META_VERSION)
		return st_fail(ST_EVERSION, 0, 0, "version attributes of version %u", buf[0]);
	m->gate_known = buf[1] & META_F_GATE;
	m->xattrs_known = buf[1] & META_F_XATTRS;
	m->ngate = st_get16(buf + 2);
	m->nx = st_get32(buf + 4);
	perm_get(buf + 8, &m->self);
	if ((!m->gate_known && m->ngate) || (!m->xattrs_known && m->nx))
		return bad("entries the flags deny");
	if ((size_t)m->ngate * META_PERM > len - META_FIXED)
		return bad("directories past the end");
	/* Each xattr takes at least META_XHEAD + 1 bytes: bounds the array. */
	if (m->nx > (len - META_FIXED) / (META_XHEAD + 1))
		return bad("xattrs past the end");
	if ((m->ngate && !(m->gate = calloc(m->ngate, sizeof(*m->gate)))) ||
	    (m->nx && !(m->x = calloc(m->nx, sizeof(*m->x))))) {
		ns_meta_free(m);
		return st_fail_oom();
	}
	p = buf + META_FIXED;
	for (uint32_t i = 0; i < m->ngate; i++, p += META_PERM)
		perm_get(p, &m->gate[i]);
	for (uint32_t i = 0; i < m->nx; i++) {
		struct ns_meta_xattr *x = &m->x[i];

		if ((size_t)(end - p) < META_XHEAD)
			goto corrupt;
		x->nlen = p[0];
		x->vlen = st_get32(p + 1);
		p += META_XHEAD;
		if (x->nlen == 0 || x->vlen > META_VLEN_MAX || (size_t)(end - p) < x->nlen ||
		    (size_t)(end - p) - x->nlen < x->vlen)
			goto corrupt;
		x->name = (const char *)p;
		x->val = p + x->nlen;
		p += x->nlen + x->vlen;
	}
	if (p != end)
		goto corrupt;
	return ST_OK;
corrupt:
	ns_meta_free(m);
	return bad("a malformed xattr");
}

void ns_meta_free(struct ns_meta *m)
{
	free(m->gate);
	free(m->x);
	m->gate = NULL;
	m->x = NULL;
	m->ngate = m->nx = 0;
}
