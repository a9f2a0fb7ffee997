/*
 * pass1_super.c - pass 1: the superblock and the layout around it.
 *
 * Checks: revfs.super decodes (magic, size, crc, string fields, version
 * and incompat bits), its retention rule parses, its flush interval is not
 * 0; ino/ and ns.rev exist. A directory with no superblock magic but with
 * ns.rev and ino/ is taken for a revfs whose superblock was lost.
 *
 * Relies on: nothing checked before it. A damaged superblock is rewritten
 * with st_super_write (temp file, fsync, rename): the uuid, creation time,
 * label and rule are kept from the damaged bytes where they still read as
 * sane, else defaults.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck.h"

static bool exists(const struct fsck *c, const char *name, bool dir)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	return stat(path, &sb) == 0 && (dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
}

/* A C string of at most max bytes within the field, printable. */
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

/* Keeps what still reads as sane from a damaged superblock (offsets from
 * FORMAT.md, section 19); the rest are st_super_init's defaults. */
static void salvage(const struct fsck *c, struct st_super *sb)
{
	char path[4096];
	uint8_t raw[512];
	struct st_retention r;
	ssize_t n;
	int fd;

	st_super_init(sb);
	snprintf(path, sizeof(path), "%s/%s", c->dir, ST_SUPER_NAME);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, raw, sizeof(raw), 0);
	close(fd);
	if (n != (ssize_t)sizeof(raw))
		return;
	if ((raw[30] & 0xf0) == 0x40 && (raw[32] & 0xc0) == 0x80)
		memcpy(sb->uuid, raw + 24, 16);
	if (sane_text(raw + 56, 64))
		memcpy(sb->label, raw + 56, strlen((const char *)raw + 56) + 1);
	if (sane_text(raw + 120, 128) && st_retention_parse((const char *)raw + 120, &r) == ST_OK)
		memcpy(sb->keep, raw + 120, strlen((const char *)raw + 120) + 1);
}

static void rewrite(struct fsck *c, struct st_super *sb)
{
	char uuid[37];

	if (st_super_write(c->dir, sb) != ST_OK) {
		fsck_unfixed(c, st_last_error()->msg);
		return;
	}
	st_super_uuid_str(sb, uuid);
	printf("    wrote a new superblock: uuid %s, label '%s', keep %s\n", uuid, sb->label,
	       sb->keep);
	c->sb = *sb;
	c->sb_ok = true;
	fsck_fixed(c);
}

int pass1_super(struct fsck *c)
{
	struct st_retention r;
	struct st_super sb;
	int rc = st_super_read(c->dir, &c->sb);

	switch (rc) {
	case ST_OK:
		c->sb_ok = true;
		break;
	case ST_ENOTFOUND:
		if (!exists(c, ST_NS_NAME, false) || !exists(c, "ino", true)) {
			fsck_error(c, "%s is not a revfs backing directory (no %s)", c->dir,
				   ST_SUPER_NAME);
			c->fatal = true;
			return -1;
		}
		if (fsck_problem(c, PR_SUPER_MISSING, ST_SUPER_NAME, NULL)) {
			salvage(c, &sb);
			rewrite(c, &sb);
		}
		break;
	case ST_ECORRUPT:
		if (fsck_problem(c, PR_SUPER_CORRUPT, ST_SUPER_NAME, "%s", st_last_error()->msg)) {
			salvage(c, &sb);
			rewrite(c, &sb);
		}
		break;
	case ST_EVERSION:
		fsck_problem(c, PR_SUPER_NEWER, ST_SUPER_NAME, "%s", st_last_error()->msg);
		c->fatal = true; /* never touch what a newer revfs wrote */
		return -1;
	default:
		fsck_error(c, "cannot read %s/%s: %s", c->dir, ST_SUPER_NAME, st_last_error()->msg);
		c->fatal = true;
		return -1;
	}
	if (c->sb_ok && st_retention_parse(c->sb.keep, &r) != ST_OK &&
	    fsck_problem(c, PR_SUPER_KEEP, ST_SUPER_NAME, "'%s'", c->sb.keep)) {
		sb = c->sb;
		snprintf(sb.keep, sizeof(sb.keep), "%s", ST_KEEP_DEFAULT);
		rewrite(c, &sb);
	}
	if (c->sb_ok && c->sb.flush_ms == 0 &&
	    fsck_problem(c, PR_SUPER_FLUSH, ST_SUPER_NAME, NULL)) {
		sb = c->sb;
		sb.flush_ms = 1000;
		rewrite(c, &sb);
	}
	if (!exists(c, "ino", true) && fsck_problem(c, PR_NO_INO_DIR, "ino/", NULL)) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/ino", c->dir);
		if (mkdir(path, 0700) == 0)
			fsck_fixed(c);
		else
			fsck_unfixed(c, strerror(errno));
	}
	if (!exists(c, ST_NS_NAME, false)) {
		fsck_problem(c, PR_NS_MISSING, ST_NS_NAME, NULL);
		c->fatal = true;
		return -1;
	}
	return 0;
}
