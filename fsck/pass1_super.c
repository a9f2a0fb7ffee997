/*
 * pass1_super.c - pass 1: the superblock and the layout around it.
 *
 * Checks: revfs.super decodes (magic, size, crc, string fields, version
 * and incompat bits), its retention rule parses, its flush interval is not
 * 0; ino/ and ns.rev exist. A directory with no superblock magic but with
 * ns.rev and ino/ is taken for a revfs whose superblock was lost.
 *
 * Relies on: nothing checked before it. A damaged superblock is rewritten
 * with ns_super_write (temp file, fsync, rename): the uuid, label and rule
 * are kept from the damaged bytes where they still read as sane
 * (ns_super_salvage), else defaults.
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

static void rewrite(struct fsck *c, struct ns_super *sb)
{
	char uuid[37];

	if (ns_super_write(c->dir, sb) != ST_OK) {
		fsck_unfixed(c, st_last_error()->msg);
		return;
	}
	ns_super_uuid_str(sb, uuid);
	printf("    wrote a new superblock: uuid %s, label '%s', keep %s\n", uuid, sb->label,
	       sb->keep);
	c->sb = *sb;
	c->sb_ok = true;
	fsck_fixed(c);
}

int pass1_super(struct fsck *c)
{
	struct st_retention r;
	struct ns_super sb;
	int rc = ns_super_read(c->dir, &c->sb);

	switch (rc) {
	case ST_OK:
		c->sb_ok = true;
		if (c->sb.incompat & NS_FEAT_SEALING) {
			fsck_error(c,
				   "%s is being encrypted, some stores sealed and some not: "
				   "finish it with revfs-tune --encrypt",
				   c->dir);
			c->fatal = true;
			return -1;
		}
		/* An encrypted vault is checked with its key: every store and
		 * record is sealed. */
		if ((c->sb.incompat & NS_FEAT_SEALED) && !c->no_key &&
		    ns_key_unlock_from(&c->sb, &c->key_src, c->dir) != ST_OK) {
			/* No key given and no terminal to ask on: what can be
			 * checked without it is. A key given and refused is
			 * an error. */
			if (c->key_src.key_file || c->key_src.fd >= 0 ||
			    st_last_error()->code != ST_EINVAL) {
				fsck_error(c, "%s is encrypted: %s", c->dir, st_last_error()->msg);
				c->fatal = true;
				return -1;
			}
			c->no_key = true;
		}
		if ((c->sb.incompat & NS_FEAT_SEALED) && c->no_key)
			printf("%s is encrypted and no key was given (--passphrase-fd, "
			       "--key-file): only its stores' structure is checked\n",
			       c->dir);
		if (c->sb.incompat & NS_FEAT_SEALED) {
			bool main_ok, copy_ok;

			ns_super_copies(c->dir, &main_ok, &copy_ok);
			if ((!main_ok || !copy_ok) &&
			    fsck_problem(c, PR_SUPER_COPY,
					 main_ok ? NS_SUPER_COPY_NAME : NS_SUPER_NAME, NULL)) {
				if (ns_super_write(c->dir, &c->sb) == ST_OK)
					fsck_fixed(c);
				else
					fsck_unfixed(c, st_last_error()->msg);
			}
		}
		if (!c->readonly && !ns_super_writable(&c->sb)) {
			/* A newer revfs's: it may be checked (-n), never repaired. */
			fsck_problem(c, PR_SUPER_NEWER, NS_SUPER_NAME,
				     "read-only-compatible features 0x%x that this fsck does not "
				     "know; check it with -n",
				     c->sb.ro_compat & ~NS_SUPER_RO_COMPAT_KNOWN);
			c->fatal = true;
			return -1;
		}
		break;
	case ST_ENOTFOUND:
		if (!exists(c, NS_STORE_NAME, false) || !exists(c, NS_INO_DIR, true)) {
			fsck_error(c, "%s is not a revfs backing directory (no %s)", c->dir,
				   NS_SUPER_NAME);
			c->fatal = true;
			return -1;
		}
		if (fsck_problem(c, PR_SUPER_MISSING, NS_SUPER_NAME, NULL)) {
			ns_super_salvage(c->dir, &sb);
			rewrite(c, &sb);
		}
		break;
	case ST_ECORRUPT:
		if (fsck_problem(c, PR_SUPER_CORRUPT, NS_SUPER_NAME, "%s", st_last_error()->msg)) {
			ns_super_salvage(c->dir, &sb);
			rewrite(c, &sb);
		}
		break;
	case ST_EVERSION:
		fsck_problem(c, PR_SUPER_NEWER, NS_SUPER_NAME, "%s", st_last_error()->msg);
		c->fatal = true; /* never touch what a newer revfs wrote */
		return -1;
	default:
		fsck_error(c, "cannot read %s/%s: %s", c->dir, NS_SUPER_NAME, st_last_error()->msg);
		c->fatal = true;
		return -1;
	}
	if (c->sb_ok && st_retention_parse(c->sb.keep, &r) != ST_OK &&
	    fsck_problem(c, PR_SUPER_KEEP, NS_SUPER_NAME, "'%s'", c->sb.keep)) {
		sb = c->sb;
		snprintf(sb.keep, sizeof(sb.keep), "%s", NS_KEEP_DEFAULT);
		rewrite(c, &sb);
	}
	if (c->sb_ok && c->sb.flush_ms == 0 &&
	    fsck_problem(c, PR_SUPER_FLUSH, NS_SUPER_NAME, NULL)) {
		sb = c->sb;
		sb.flush_ms = 1000;
		rewrite(c, &sb);
	}
	if (!exists(c, NS_INO_DIR, true) && fsck_problem(c, PR_NO_INO_DIR, "ino/", NULL)) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", c->dir, NS_INO_DIR);
		if (mkdir(path, 0700) == 0)
			fsck_fixed(c);
		else
			fsck_unfixed(c, strerror(errno));
	}
	if (!exists(c, NS_STORE_NAME, false)) {
		fsck_problem(c, PR_NS_MISSING, NS_STORE_NAME, NULL);
		c->fatal = true;
		return -1;
	}
	return 0;
}
