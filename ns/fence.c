/*
 * fence.c - revfs.fence (docs/FORMAT.md, section 19, "The fence"): one
 * 4096-byte block at the start of a file of FENCE_FILE_SIZE bytes (the
 * rest a hole), read with O_DIRECT where the filesystem takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsint.h"

#define FENCE_MAGIC	0x5256464eu /* "RVFN" */
#define FENCE_VERSION	1u
#define FENCE_BLOCK	4096u
#define FENCE_FILE_SIZE ((2u << 20) + FENCE_BLOCK) /* past any quick-read limit */
#define FENCE_CLEAN	0x1u
#define FENCE_SEALED	0x2u /* an encrypted vault's: bytes 60..87 authenticate 0..59 */
#define FENCE_CRC_AT	56u
#define FENCE_SEAL_AT	60u

static int fence_path(const char *dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, NS_FENCE_NAME);

	return n < 0 || (size_t)n >= len
		   ? st_fail(ST_EINVAL, ENAMETOOLONG, 0, "%s: path too long", dir)
		   : ST_OK;
}

static void *block_alloc(void)
{
	void *b = NULL;

	if (posix_memalign(&b, FENCE_BLOCK, FENCE_BLOCK) != 0)
		return NULL;
	memset(b, 0, FENCE_BLOCK);
	return b;
}

/* The key an encrypted vault's fence is authenticated with (sb unlocked). */
static int fence_key(const struct ns_super *sb, struct st_key *k)
{
	static const char label[] = "revfs fence key v1";

	return st_hkdf(sb->master, ST_KEY_SIZE, sb->uuid, 16, label, sizeof(label) - 1, k->k,
		       ST_KEY_SIZE);
}

static bool sealed_vault(const struct ns_super *sb)
{
	return sb && (sb->incompat & NS_FEAT_SEALED);
}

int ns_fence_read(const char *dir, const struct ns_super *sb, struct ns_fence *f)
{
	char path[4096];
	uint8_t *b;
	ssize_t n;
	int fd, rc = fence_path(dir, path, sizeof(path));

	if (rc)
		return rc;
	/* O_DIRECT: no page cache of this kernel or of a client between; a
	 * filesystem without it (tmpfs) has no client to be stale either. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? st_fail(ST_ENOTFOUND, ENOENT, 0, "%s: no fence", path)
				       : st_fail_errno(errno, "open", path);
	if (!(b = block_alloc())) {
		close(fd);
		return st_fail_oom();
	}
	n = pread(fd, b, FENCE_BLOCK, 0);
	if (n < 0)
		rc = st_fail_errno(errno, "read", path);
	else if (n < (ssize_t)FENCE_CRC_AT + 4 || st_get32(b) != FENCE_MAGIC ||
		 st_crc32c(0, b, FENCE_CRC_AT) != st_get32(b + FENCE_CRC_AT))
		rc = st_fail(ST_ECORRUPT, 0, 0, "%s: not a valid fence", path);
	else if (st_get32(b + 4) != FENCE_VERSION)
		rc = st_fail(ST_EVERSION, 0, 0, "%s: fence of version %u", path, st_get32(b + 4));
	else if (sealed_vault(sb) && !(st_get32(b + 8) & FENCE_SEALED))
		/* Else anyone could write one that lets an older vault in. */
		rc = st_fail(ST_ECORRUPT, 0, 0, "%s: an encrypted vault's fence without its seal",
			     path);
	else if (sealed_vault(sb) && sb->unlocked) {
		struct st_key k;
		uint8_t none[1];

		rc = fence_key(sb, &k);
		if (rc == ST_OK && st_unseal(&k, b, FENCE_SEAL_AT, b + FENCE_SEAL_AT,
					     ST_SEAL_OVERHEAD, none) != ST_OK)
			rc = st_fail(ST_ECORRUPT, 0, 0, "%s: the fence fails authentication", path);
		memset(&k, 0, sizeof(k));
	}
	if (rc == ST_OK) {
		f->clean = st_get32(b + 8) & FENCE_CLEAN;
		f->gen = st_get64(b + 16);
		f->ns_seq = st_get64(b + 24);
		f->time_ns = st_get64(b + 32);
		memcpy(f->uuid, b + 40, 16);
	}
	free(b);
	close(fd);
	return rc;
}

int ns_fence_write(const char *dir, const struct ns_super *sb, const struct ns_fence *f)
{
	char path[4096];
	struct stat st;
	uint8_t *b;
	bool made;
	int fd, rc = fence_path(dir, path, sizeof(path));

	if (rc)
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC);
	made = fd < 0 && errno == ENOENT;
	if (made)
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return st_fail_errno(errno, "open", path);
	if (!(b = block_alloc())) {
		close(fd);
		return st_fail_oom();
	}
	st_put32(b, FENCE_MAGIC);
	st_put32(b + 4, FENCE_VERSION);
	st_put32(b + 8, (f->clean ? FENCE_CLEAN : 0) | (sealed_vault(sb) ? FENCE_SEALED : 0));
	st_put64(b + 16, f->gen);
	st_put64(b + 24, f->ns_seq);
	st_put64(b + 32, f->time_ns);
	memcpy(b + 40, f->uuid, 16);
	st_put32(b + FENCE_CRC_AT, st_crc32c(0, b, FENCE_CRC_AT));
	if (sealed_vault(sb)) {
		struct st_key k;

		rc = sb->unlocked ? fence_key(sb, &k)
				  : st_fail(ST_EKEY, 0, 0, "%s: the vault's key is needed", path);
		if (rc == ST_OK)
			rc = st_seal(&k, b, FENCE_SEAL_AT, NULL, 0, b + FENCE_SEAL_AT);
		memset(&k, 0, sizeof(k));
		if (rc != ST_OK) {
			free(b);
			close(fd);
			return rc;
		}
	}
	if (fstat(fd, &st) != 0)
		rc = st_fail_errno(errno, "stat", path);
	else if (st.st_size < (off_t)FENCE_FILE_SIZE && ftruncate(fd, FENCE_FILE_SIZE) != 0)
		rc = st_fail_errno(errno, "extend", path);
	else if (pwrite(fd, b, FENCE_BLOCK, 0) != (ssize_t)FENCE_BLOCK)
		rc = st_fail_errno(errno ? errno : EIO, "write", path);
	else if (fdatasync(fd) != 0)
		rc = st_fail_errno(errno, "fdatasync", path);
	free(b);
	close(fd);
	if (rc == ST_OK && made) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || fsync(dfd) != 0)
			rc = st_fail_errno(errno, "fsync", dir);
		if (dfd >= 0)
			close(dfd);
	}
	return rc;
}
