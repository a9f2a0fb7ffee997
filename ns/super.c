/*
 * super.c - the superblock, revfs.super: what a backing directory is (its
 * format version, feature bits, uuid) and its defaults (flush interval,
 * retention rule). docs/FORMAT.md, section 19, "Superblock".
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ns.h"

/* ---- superblock -------------------------------------------------------- */

#define SB_MAGIC    "REVFSSB\x01"
#define SB_SIZE	    NS_SUPER_SIZE
#define SB_INCOMPAT 20u
#define SB_UUID	    24u
#define SB_LABEL    56u
#define SB_KEEP	    120u
#define SB_KDF	    248u /* the key slot (NS_FEAT_SEALED): 248..359 */
#define SB_KDF_N    252u
#define SB_KDF_R    260u
#define SB_KDF_P    264u
#define SB_SALT	    268u
#define SB_NONCE    300u
#define SB_WRAPPED  312u
#define SB_TAG	    344u
#define SB_RESERVE  360u
#define SB_HISTMAX  368u
#define SB_CHECK    376u /* ... and its check value, 376..391 */
#define SB_CRC	    (SB_SIZE - 4u)

_Static_assert(SB_KEEP + NS_KEEP_MAX + 1 <= SB_KDF, "superblock fields fit");
_Static_assert(SB_TAG + ST_TAG_SIZE == SB_RESERVE, "the key slot fits before the reserve");
_Static_assert(SB_CHECK + NS_CHECK_SIZE <= SB_CRC, "the check value fits");
_Static_assert(SB_LABEL + NS_LABEL_MAX + 1 <= SB_KEEP, "label fits before keep");

void ns_super_init(struct ns_super *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->version = NS_SUPER_VERSION;
	sb->created_ns = st_realtime_ns();
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != (ssize_t)sizeof(sb->uuid)) {
		/* No entropy source: time and pid still make a unique enough id. */
		st_put64(sb->uuid, sb->created_ns ^ (uint64_t)getpid() << 40);
		st_put64(sb->uuid + 8, st_monotonic_ns());
	}
	sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);
	sb->flush_ms = 1000;
	sb->incompat =
	    NS_FEAT_DAMAGE | NS_FEAT_LINEAGE | NS_FEAT_VATTR | NS_FEAT_ONESYNC | NS_FEAT_INLINE;
	sb->ro_compat = NS_FEAT_FENCE;
	snprintf(sb->keep, sizeof(sb->keep), "%s", NS_KEEP_DEFAULT);
}

int ns_space_parse(const char *text, uint64_t *out)
{
	char *end;
	double v;

	if (!text || text[0] < '0' || text[0] > '9')
		return st_fail(ST_EINVAL, EINVAL, 0, "not a size: '%s'", text ? text : "");
	errno = 0;
	v = strtod(text, &end);
	if (errno || v < 0)
		return st_fail(ST_EINVAL, EINVAL, 0, "not a size: '%s'", text);
	if (strcmp(end, "%") == 0) {
		if (v > 100)
			return st_fail(ST_EINVAL, EINVAL, 0, "more than 100%%: '%s'", text);
		*out = v > 0 ? NS_SPACE_PCT | (uint64_t)(v * 100 + 0.5) : 0;
		return ST_OK;
	}
	switch (*end) {
	case 'T':
	case 't':
		v *= 1024;
		/* fall through */
	case 'G':
	case 'g':
		v *= 1024;
		/* fall through */
	case 'M':
	case 'm':
		v *= 1024;
		/* fall through */
	case 'K':
	case 'k':
		v *= 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end || v >= (double)NS_SPACE_PCT)
		return st_fail(ST_EINVAL, EINVAL, 0, "not a size: '%s'", text);
	*out = (uint64_t)v;
	return ST_OK;
}

uint64_t ns_space_bytes(uint64_t v, uint64_t total)
{
	if (!(v & NS_SPACE_PCT))
		return v;
	v &= ~NS_SPACE_PCT;
	if (v > 10000)
		v = 10000;
	return total / 10000 * v + total % 10000 * v / 10000; /* floor(total * v / 10000) */
}

void ns_space_format(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	if (v & NS_SPACE_PCT) {
		v &= ~NS_SPACE_PCT;
		if (v % 100)
			snprintf(buf, len, "%llu.%02llu%%", (unsigned long long)(v / 100),
				 (unsigned long long)(v % 100));
		else
			snprintf(buf, len, "%llu%%", (unsigned long long)(v / 100));
		return;
	}
	while (v && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
}

void ns_super_uuid_str(const struct ns_super *sb, char out[37])
{
	const uint8_t *u = sb->uuid;

	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int ns_super_encode(const struct ns_super *sb, uint8_t *buf, size_t len)
{
	size_t l = strlen(sb->label), k = strlen(sb->keep);

	if (len < SB_SIZE || l > NS_LABEL_MAX || k > NS_KEEP_MAX)
		return st_fail(ST_EINVAL, 0, 0, "superblock: label or retention too long");
	memset(buf, 0, SB_SIZE);
	memcpy(buf, SB_MAGIC, 8);
	st_put32(buf + 8, sb->version);
	st_put32(buf + 12, sb->compat);
	st_put32(buf + 16, sb->ro_compat);
	st_put32(buf + SB_INCOMPAT, sb->incompat);
	memcpy(buf + SB_UUID, sb->uuid, 16);
	st_put64(buf + 40, sb->created_ns);
	st_put32(buf + 48, sb->flush_ms);
	memcpy(buf + SB_LABEL, sb->label, l);
	memcpy(buf + SB_KEEP, sb->keep, k);
	/* Written with their bit once either is set; the bit stays. */
	if (sb->reserve || sb->history_max || (sb->compat & NS_FEAT_SPACE)) {
		st_put32(buf + 12, sb->compat | NS_FEAT_SPACE);
		st_put64(buf + SB_RESERVE, sb->reserve);
		st_put64(buf + SB_HISTMAX, sb->history_max);
	}
	if (sb->incompat & NS_FEAT_SEALED) {
		const struct ns_keyslot *ks = &sb->slot;

		buf[SB_KDF] = ks->kdf;
		st_put64(buf + SB_KDF_N, ks->n);
		st_put32(buf + SB_KDF_R, ks->r);
		st_put32(buf + SB_KDF_P, ks->p);
		memcpy(buf + SB_SALT, ks->salt, NS_SALT_SIZE);
		memcpy(buf + SB_NONCE, ks->nonce, ST_NONCE_SIZE);
		memcpy(buf + SB_WRAPPED, ks->wrapped, ST_KEY_SIZE);
		memcpy(buf + SB_TAG, ks->tag, ST_TAG_SIZE);
		memcpy(buf + SB_CHECK, ks->check, NS_CHECK_SIZE);
	}
	st_put32(buf + SB_CRC, st_crc32c(0, buf, SB_CRC));
	return (int)SB_SIZE;
}

/* A NUL-terminated string field of at most max bytes, or -1. */
static int field_str(const uint8_t *p, size_t max, char *out)
{
	const uint8_t *nul = memchr(p, 0, max + 1);

	if (!nul)
		return -1;
	memcpy(out, p, (size_t)(nul - p) + 1);
	return 0;
}

int ns_super_decode(const uint8_t *buf, size_t len, struct ns_super *sb)
{
	memset(sb, 0, sizeof(*sb));
	if (len < 8 || memcmp(buf, SB_MAGIC, 8) != 0)
		return st_fail(ST_ENOTFOUND, 0, 0, "no revfs superblock magic");
	if (len != SB_SIZE)
		return st_fail(ST_ECORRUPT, 0, len, "superblock is %zu bytes, not %u", len,
			       SB_SIZE);
	if (st_get32(buf + SB_CRC) != st_crc32c(0, buf, SB_CRC))
		return st_fail(ST_ECORRUPT, 0, SB_CRC, "superblock checksum mismatch");
	sb->version = st_get32(buf + 8);
	sb->compat = st_get32(buf + 12);
	sb->ro_compat = st_get32(buf + 16);
	sb->incompat = st_get32(buf + SB_INCOMPAT);
	memcpy(sb->uuid, buf + SB_UUID, 16);
	sb->created_ns = st_get64(buf + 40);
	sb->flush_ms = st_get32(buf + 48);
	if (sb->compat & NS_FEAT_SPACE) {
		sb->reserve = st_get64(buf + SB_RESERVE);
		sb->history_max = st_get64(buf + SB_HISTMAX);
	}
	if (sb->incompat & NS_FEAT_SEALED) {
		struct ns_keyslot *k = &sb->slot;

		k->kdf = buf[SB_KDF];
		k->n = st_get64(buf + SB_KDF_N);
		k->r = st_get32(buf + SB_KDF_R);
		k->p = st_get32(buf + SB_KDF_P);
		memcpy(k->salt, buf + SB_SALT, NS_SALT_SIZE);
		memcpy(k->nonce, buf + SB_NONCE, ST_NONCE_SIZE);
		memcpy(k->wrapped, buf + SB_WRAPPED, ST_KEY_SIZE);
		memcpy(k->tag, buf + SB_TAG, ST_TAG_SIZE);
		memcpy(k->check, buf + SB_CHECK, NS_CHECK_SIZE);
	}
	if (field_str(buf + SB_LABEL, NS_LABEL_MAX, sb->label) ||
	    field_str(buf + SB_KEEP, NS_KEEP_MAX, sb->keep))
		return st_fail(ST_ECORRUPT, 0, SB_LABEL, "superblock string field not terminated");
	if (sb->version > NS_SUPER_VERSION || (sb->incompat & ~NS_SUPER_INCOMPAT_KNOWN))
		return st_fail(ST_EVERSION, 0, 0, "superblock version %u (this build knows %u)",
			       sb->version, NS_SUPER_VERSION);
	if (sb->version == 0)
		return st_fail(ST_ECORRUPT, 0, 8, "superblock version 0");
	return ST_OK;
}

/* Reads and decodes the superblock file name in dir. */
static int super_read_file(const char *dir, const char *name, struct ns_super *sb)
{
	char path[4096];
	uint8_t buf[SB_SIZE + 1];
	ssize_t n;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return st_fail(ST_ENOTFOUND, ENOENT, 0, "%s: no such file", path);
		return st_fail(ST_EIO, errno, 0, "open %s: %s", path, strerror(errno));
	}
	n = pread(fd, buf, sizeof(buf), 0);
	rc = errno;
	close(fd);
	if (n < 0)
		return st_fail(ST_EIO, rc, 0, "read %s: %s", path, strerror(rc));
	return ns_super_decode(buf, (size_t)n, sb);
}

int ns_super_read(const char *dir, struct ns_super *sb)
{
	int rc = super_read_file(dir, NS_SUPER_NAME, sb);
	struct st_error first;

	if (rc != ST_ECORRUPT)
		return rc;
	/* An encrypted vault keeps a copy: the wrapped key must not be lost
	 * with one damaged block. The first error is the one said. */
	first = *st_last_error();
	if (super_read_file(dir, NS_SUPER_COPY_NAME, sb) == ST_OK &&
	    (sb->incompat & NS_FEAT_SEALED))
		return ST_OK;
	memset(sb, 0, sizeof(*sb));
	return st_fail(ST_ECORRUPT, first.sys_errno, first.offset, "%s", first.msg);
}

int ns_super_copies(const char *dir, bool *main_ok, bool *copy_ok)
{
	struct ns_super a, b;

	*main_ok = super_read_file(dir, NS_SUPER_NAME, &a) == ST_OK;
	*copy_ok = super_read_file(dir, NS_SUPER_COPY_NAME, &b) == ST_OK;
	/* Two whole copies that differ: the newer write did not finish. */
	if (*main_ok && *copy_ok && memcmp(&a.slot, &b.slot, sizeof(a.slot)) != 0)
		*copy_ok = false;
	return ST_OK;
}

/* Writes the superblock's bytes as dir/name, whole or not at all. */
static int super_write_file(const char *dir, const char *name, const uint8_t *buf)
{
	char path[4096], tmp[4096];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return st_fail_errno(errno, "create", tmp);
	if (pwrite(fd, buf, SB_SIZE, 0) != (ssize_t)SB_SIZE || fsync(fd) != 0) {
		rc = st_fail_errno(errno ? errno : EIO, "write", tmp);
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		rc = st_fail_errno(errno, "rename", tmp);
		unlink(tmp);
		return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		rc = st_fail_errno(errno, "fsync", dir);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	return ST_OK;
}

int ns_super_write(const char *dir, const struct ns_super *sb)
{
	uint8_t buf[SB_SIZE];
	int rc = ns_super_encode(sb, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	/* The copy first: while the superblock is replaced, the copy is whole. */
	if ((sb->incompat & NS_FEAT_SEALED) &&
	    (rc = super_write_file(dir, NS_SUPER_COPY_NAME, buf)) != ST_OK)
		return rc;
	return super_write_file(dir, NS_SUPER_NAME, buf);
}

/* A C string of fewer than field bytes, all printable. */
static bool sane_text(const uint8_t *p, size_t field)
{
	size_t n = strnlen((const char *)p, field);

	if (n == field)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

void ns_super_salvage(const char *dir, struct ns_super *sb)
{
	char path[4096];
	uint8_t raw[SB_SIZE];
	struct st_retention r;
	struct st_info info;
	bool from_ns = false;
	st_store *ns;
	ssize_t n;
	int fd;

	/* An encrypted vault's copy is the superblock, whole: the key slot
	 * can be found nowhere else. */
	if (super_read_file(dir, NS_SUPER_COPY_NAME, sb) == ST_OK &&
	    (sb->incompat & NS_FEAT_SEALED))
		return;
	ns_super_init(sb);
	/* The namespace store says whether the stores have identities, and
	 * its own is the uuid (ns_store_id of inode 0): the features must be
	 * the ones the stores were made with. */
	if (ns_open(dir, NULL, ST_READONLY | ST_RECOVER, NULL, &ns) == ST_OK) {
		if (st_info(ns, &info) == ST_OK) {
			/* Identities came with this build's vaults, lineage too;
			 * a vault without them has neither. */
			if (info.has_id)
				memcpy(sb->uuid, info.id, 16);
			else
				sb->incompat &= ~(NS_FEAT_DAMAGE | NS_FEAT_LINEAGE | NS_FEAT_VATTR);
			from_ns = true;
		}
		st_close(ns);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, NS_SUPER_NAME);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, raw, sizeof(raw), 0);
	close(fd);
	if (n != (ssize_t)sizeof(raw))
		return;
	if (!from_ns && !(st_get32(raw + SB_INCOMPAT) & ~NS_SUPER_INCOMPAT_KNOWN))
		sb->incompat = st_get32(raw + SB_INCOMPAT);
	/* A version-4 uuid still has its version and variant bits. */
	if (!from_ns && (raw[SB_UUID + 6] & 0xf0) == 0x40 && (raw[SB_UUID + 8] & 0xc0) == 0x80)
		memcpy(sb->uuid, raw + SB_UUID, 16);
	if (sane_text(raw + SB_LABEL, SB_KEEP - SB_LABEL))
		memcpy(sb->label, raw + SB_LABEL, strlen((const char *)raw + SB_LABEL) + 1);
	if (sane_text(raw + SB_KEEP, NS_KEEP_MAX + 1) &&
	    st_retention_parse((const char *)raw + SB_KEEP, &r) == ST_OK)
		memcpy(sb->keep, raw + SB_KEEP, strlen((const char *)raw + SB_KEEP) + 1);
}
