/*
 * backing.c - the backing directory's own formats: the superblock file and
 * the records of the namespace store (inodes, directory entries, xattrs,
 * orphans). The daemon, mkfs and fsck all read and write these, so their
 * byte layout lives here, next to the store format (docs/FORMAT.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- superblock -------------------------------------------------------- */

#define SB_MAGIC "REVFSSB\x01"
#define SB_SIZE	 512u
#define SB_LABEL 56u
#define SB_KEEP	 120u
#define SB_CRC	 (SB_SIZE - 4u)

_Static_assert(SB_KEEP + ST_KEEP_MAX + 1 <= SB_CRC, "superblock fields fit");
_Static_assert(SB_LABEL + ST_LABEL_MAX + 1 <= SB_KEEP, "label fits before keep");

void st_super_init(struct st_super *sb)
{
	struct timespec ts;

	memset(sb, 0, sizeof(*sb));
	sb->version = ST_SUPER_VERSION;
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != (ssize_t)sizeof(sb->uuid)) {
		/* No entropy source: time and pid still make a unique enough id. */
		clock_gettime(CLOCK_REALTIME, &ts);
		st_put64(sb->uuid, (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 40);
		st_put64(sb->uuid + 8, (uint64_t)ts.tv_nsec);
	}
	sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);
	clock_gettime(CLOCK_REALTIME, &ts);
	sb->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	sb->flush_ms = 1000;
	snprintf(sb->keep, sizeof(sb->keep), "%s", ST_KEEP_DEFAULT);
}

void st_super_uuid_str(const struct st_super *sb, char out[37])
{
	const uint8_t *u = sb->uuid;

	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int st_super_encode(const struct st_super *sb, uint8_t *buf, size_t len)
{
	size_t l = strlen(sb->label), k = strlen(sb->keep);

	if (len < SB_SIZE || l > ST_LABEL_MAX || k > ST_KEEP_MAX)
		return st_fail(ST_EINVAL, 0, 0, "superblock: label or retention too long");
	memset(buf, 0, SB_SIZE);
	memcpy(buf, SB_MAGIC, 8);
	st_put32(buf + 8, sb->version);
	st_put32(buf + 12, sb->compat);
	st_put32(buf + 16, sb->ro_compat);
	st_put32(buf + 20, sb->incompat);
	memcpy(buf + 24, sb->uuid, 16);
	st_put64(buf + 40, sb->created_ns);
	st_put32(buf + 48, sb->flush_ms);
	memcpy(buf + SB_LABEL, sb->label, l);
	memcpy(buf + SB_KEEP, sb->keep, k);
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

int st_super_decode(const uint8_t *buf, size_t len, struct st_super *sb)
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
	sb->incompat = st_get32(buf + 20);
	memcpy(sb->uuid, buf + 24, 16);
	sb->created_ns = st_get64(buf + 40);
	sb->flush_ms = st_get32(buf + 48);
	if (field_str(buf + SB_LABEL, ST_LABEL_MAX, sb->label) ||
	    field_str(buf + SB_KEEP, ST_KEEP_MAX, sb->keep))
		return st_fail(ST_ECORRUPT, 0, SB_LABEL, "superblock string field not terminated");
	if (sb->version > ST_SUPER_VERSION || (sb->incompat & ~ST_SUPER_INCOMPAT_KNOWN))
		return st_fail(ST_EVERSION, 0, 0, "superblock version %u (this build knows %u)",
			       sb->version, ST_SUPER_VERSION);
	if (sb->version == 0)
		return st_fail(ST_ECORRUPT, 0, 8, "superblock version 0");
	return ST_OK;
}

int st_super_read(const char *dir, struct st_super *sb)
{
	char path[4096];
	uint8_t buf[SB_SIZE + 1];
	ssize_t n;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, ST_SUPER_NAME);
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
	return st_super_decode(buf, (size_t)n, sb);
}

int st_super_write(const char *dir, const struct st_super *sb)
{
	char path[4096], tmp[4096];
	uint8_t buf[SB_SIZE];
	int fd, rc;

	rc = st_super_encode(sb, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, ST_SUPER_NAME);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, ST_SUPER_NAME);
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

/* ---- namespace records ------------------------------------------------ */

int st_ns_store_path(const char *dir, uint64_t ino, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/ino/%02x/%llu.rev", dir, (unsigned)(ino & 0xff),
			 (unsigned long long)ino);

	return n < 0 || (size_t)n >= len ? st_fail(ST_EINVAL, 0, 0, "path too long") : ST_OK;
}

size_t st_ns_key(uint8_t type, uint64_t ino, const void *name, size_t nlen, uint8_t *key)
{
	key[0] = type;
	st_put64(key + 1, ino);
	if (nlen)
		memcpy(key + 9, name, nlen);
	return 9 + nlen;
}

int st_ns_inode_encode(const struct st_inode *in, const void *target, size_t tlen, uint8_t *buf,
		       size_t len)
{
	if (len < ST_NS_INODE_SIZE + tlen || tlen > ST_MAX_VALUE - ST_NS_INODE_SIZE)
		return st_fail(ST_ETOOBIG, 0, 0, "inode record too large");
	memset(buf, 0, ST_NS_INODE_SIZE);
	buf[0] = 1; /* record version */
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
	if (tlen)
		memcpy(buf + ST_NS_INODE_SIZE, target, tlen);
	return (int)(ST_NS_INODE_SIZE + tlen);
}

int st_ns_inode_decode(const void *vbuf, size_t len, struct st_inode *in, const void **target,
		       size_t *tlen)
{
	const uint8_t *buf = vbuf;

	if (len < ST_NS_INODE_SIZE)
		return st_fail(ST_ECORRUPT, 0, 0, "inode record of %zu bytes", len);
	if (buf[0] != 1)
		return st_fail(ST_EVERSION, 0, 0, "inode record version %u", buf[0]);
	memset(in, 0, sizeof(*in));
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
	if (S_ISLNK(in->mode) && in->size != len - ST_NS_INODE_SIZE)
		return st_fail(ST_ECORRUPT, 0, 0,
			       "symlink record of %zu bytes for a target of %llu", len,
			       (unsigned long long)in->size);
	if (target)
		*target = buf + ST_NS_INODE_SIZE;
	if (tlen)
		*tlen = len - ST_NS_INODE_SIZE;
	return ST_OK;
}

void st_ns_dirent_encode(uint64_t ino, uint8_t type, uint8_t out[ST_NS_DIRENT_SIZE])
{
	st_put64(out, ino);
	out[8] = type;
}

int st_ns_dirent_decode(const void *vbuf, size_t len, uint64_t *ino, uint8_t *type)
{
	const uint8_t *buf = vbuf;

	if (len != ST_NS_DIRENT_SIZE)
		return st_fail(ST_ECORRUPT, 0, 0, "directory entry of %zu bytes", len);
	*ino = st_get64(buf);
	*type = buf[8];
	return ST_OK;
}

void st_ns_u64_encode(uint64_t v, uint8_t out[8])
{
	st_put64(out, v);
}

uint64_t st_ns_u64_decode(const void *buf)
{
	return st_get64(buf);
}

/* ---- the lock note ---------------------------------------------------------- */

/* Undoes /proc/self/mountinfo's octal escapes (\040 for a space) in place. */
static void mountinfo_unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

/* Whether path is a mount point in this process's mount namespace. */
static bool is_mount_point(const char *path)
{
	char line[8192], *f[5], *save;
	bool found = false;
	FILE *mi = fopen("/proc/self/mountinfo", "re");

	if (!mi)
		return true; /* cannot tell: as if mounted */
	while (!found && fgets(line, sizeof(line), mi)) {
		int i = 0;

		for (char *t = strtok_r(line, " ", &save); t && i < 5;
		     t = strtok_r(NULL, " ", &save))
			f[i++] = t;
		if (i < 5)
			continue;
		mountinfo_unescape(f[4]);
		found = strcmp(f[4], path) == 0;
	}
	fclose(mi);
	return found;
}

bool st_lock_leaving(const char *note)
{
	char mnt[4096];
	long pid;
	int at = -1;

	if (note[0] == 0 || strncmp(note, "closing", 7) == 0)
		return true;
	if (sscanf(note, "pid %ld on %n", &pid, &at) < 1 || at < 0 || note[at] != '/')
		return false;
	snprintf(mnt, sizeof(mnt), "%s", note + at);
	mnt[strcspn(mnt, "\n")] = 0;
	return !is_mount_point(mnt);
}
