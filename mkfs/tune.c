/*
 * tune.c - revfs-tune: shows and changes the settings a backing directory's
 * superblock keeps after mkfs.revfs: its label, default retention rule,
 * reserve and history budget, and whether its commits take one sync
 * and whether a small file lives in its store's header (tune2fs does this for ext4). With no option
 * it prints them. A change rewrites the superblock whole (ns_super_write: a temporary file, fsync,
 * rename, directory fsync); a mount reads it at its start, so a mounted directory takes a change at
 * its next mount.
 *
 *   revfs-tune [-L LABEL] [--keep=RULE] [--reserve=SIZE|N%]
 *              [--history-max=SIZE|N%] [--one-sync] [--inline] [-q] DIR
 *
 * It also changes an encrypted vault's passphrase or key file
 * (--new-passphrase, --new-key-file), unlocked by the old one or by the
 * recovery key mkfs.revfs printed: the master key is wrapped anew, and
 * no store is rewritten. And it encrypts an unencrypted one, offline,
 * history included (--encrypt).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ns.h"
#include "store.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

static const char *prog = "revfs-tune";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-L LABEL] [--keep=RULE] [--reserve=SIZE|N%%]\n"
		"          [--history-max=SIZE|N%%] [--one-sync] [--inline] [-q] DIR\n"
		"Show the settings of the revfs backing directory DIR, or change them.\n\n"
		"  -L, --label=LABEL        a label of up to %u bytes\n"
		"      --keep=RULE          default retention, e.g. %s or latest\n"
		"      --reserve=SIZE|N%%    free space history leaves to live data\n"
		"                           (0: the default, 10%% of the disk, at most 1G)\n"
		"      --history-max=SIZE|N%% the most history may take (0: no budget)\n"
		"      --one-sync           commit with one sync from now on (a directory\n"
		"                           made before mkfs.revfs did so); older revfs\n"
		"                           programs cannot use it afterwards\n"
		"      --inline             keep a small file (up to 3891 bytes) in its\n"
		"                           store's header from now on, one block a file;\n"
		"                           older revfs programs cannot use it afterwards\n"
		"      --encrypt            encrypt an unencrypted directory, history\n"
		"                           included (offline; its new passphrase as\n"
		"                           --new-passphrase takes it)\n"
		"      --new-passphrase     wrap an encrypted vault's key under a new\n"
		"                           passphrase (asked twice, or from\n"
		"                           --new-passphrase-fd=FD), with --kdf,\n"
		"                           --kdf-n, --kdf-r, --kdf-p as mkfs.revfs takes\n"
		"      --new-key-file=FILE  ... or under a key file\n"
		"      --passphrase-fd=FD, --key-file=FILE  the current passphrase or key\n"
		"                           file (default: asked on the terminal)\n"
		"      --recovery-key-fd=FD  unlock with the recovery key read from FD\n"
		"                           instead (a forgotten passphrase)\n"
		"  -q, --quiet              print nothing after a change\n"
		"  -h, --help               this help\n"
		"  -V, --version            the version\n"
		"A mount takes a change at its next mount; the mount options -o keep,\n"
		"-o reserve and -o history_max override these. See revfs-tune(8).\n",
		prog, NS_LABEL_MAX, NS_KEEP_DEFAULT);
}

static void show(const char *dir, const struct ns_super *sb)
{
	char uuid[37], r[32], h[32], when[64];
	time_t sec = (time_t)(sb->created_ns / 1000000000ull);
	struct tm tm;

	ns_super_uuid_str(sb, uuid);
	ns_space_format(sb->reserve, r, sizeof(r));
	ns_space_format(sb->history_max, h, sizeof(h));
	if (!gmtime_r(&sec, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "?");
	printf("%s\n  uuid:        %s\n  created:     %s\n  label:       %s\n"
	       "  keep:        %s\n  reserve:     %s\n  history max: %s\n  commits:     %s\n",
	       dir, uuid, when, sb->label[0] ? sb->label : "(none)", sb->keep,
	       sb->reserve ? r : "default (10%, at most 1G)", sb->history_max ? h : "none",
	       sb->incompat & NS_FEAT_ONESYNC ? "one sync" : "two syncs");
	printf("  small files: %s\n",
	       sb->incompat & NS_FEAT_INLINE ? "inline, in their store's header" : "not inline");
	if (!(sb->incompat & NS_FEAT_SEALED))
		printf("  encryption:  none\n");
	else if (sb->slot.kdf == NS_KDF_SCRYPT)
		printf("  encryption:  AES-256-GCM, passphrase: scrypt N=%llu r=%u p=%u\n",
		       (unsigned long long)sb->slot.n, sb->slot.r, sb->slot.p);
	else if (sb->slot.kdf == NS_KDF_PBKDF2)
		printf("  encryption:  AES-256-GCM, passphrase: PBKDF2-HMAC-SHA256, %llu "
		       "iterations\n",
		       (unsigned long long)sb->slot.n);
	else
		printf("  encryption:  AES-256-GCM, key file\n");
}

/* Seals every store of dir (sb unlocked): the namespace, then ino/. */
static int seal_stores(const char *dir, const struct ns_super *sb, uint64_t *stores,
		       uint64_t *sealed)
{
	char path[4096];
	bool did;
	int rc;

	if ((rc = ns_seal_store(dir, sb, 0, &did)) != ST_OK)
		return rc;
	*stores = 1;
	*sealed = did;
	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		struct dirent *e;
		DIR *d;

		ns_folder_path(dir, x, path, sizeof(path));
		if (!(d = opendir(path)))
			continue;
		while ((e = readdir(d))) {
			uint64_t ino;

			if (!ns_store_name_parse(e->d_name, &ino))
				continue;
			if ((rc = ns_seal_store(dir, sb, ino, &did)) != ST_OK)
				break;
			(*stores)++;
			*sealed += did;
		}
		closedir(d);
		if (rc)
			return rc;
	}
	return ST_OK;
}

/*
 * --encrypt: converts a plain vault, history included, offline. The
 * superblock goes first (the key, and NS_FEAT_SEALING: nothing else opens
 * the vault meanwhile), then each store is compacted into a sealed file
 * keeping every save, then the fence is sealed and the flag cleared. An
 * interrupted run is finished by running it again (with the passphrase
 * now set): stores already sealed are left as they are.
 */
static int encrypt_vault(const char *dir, struct ns_super *sb, const struct ns_secret_src *old_src,
			 const struct ns_secret_src *new_src, struct ns_keyslot *kdf,
			 const bool kdf_given[3], bool quiet)
{
	const struct ns_lock_wait no_wait = {0};
	uint8_t secret[NS_SECRET_MAX];
	char prompt[4200];
	uint64_t sealed = 0, stores = 0;
	struct ns_fence f;
	size_t len;
	int rc, lockfd, status = 8;

	if ((sb->incompat & NS_FEAT_SEALED) && !(sb->incompat & NS_FEAT_SEALING)) {
		fprintf(stderr, "%s: %s is encrypted already\n", prog, dir);
		return 16;
	}
	if (!(sb->incompat & NS_FEAT_DAMAGE)) {
		fprintf(stderr,
			"%s: %s was made before stores had identities, from which their keys "
			"come: copy its files into a vault made by mkfs.revfs --encrypt\n",
			prog, dir);
		return 8;
	}
	if (!ns_super_writable(sb)) {
		fprintf(stderr, "%s: %s has features this revfs-tune can only read\n", prog, dir);
		return 8;
	}
	/* Offline only: every store is rewritten. */
	lockfd = ns_lock_open(dir, true);
	if (lockfd < 0 || ns_lock_take(lockfd, &no_wait, NULL, 0) != NS_LOCK_TAKEN) {
		fprintf(stderr,
			"%s: %s is mounted (or its lock cannot be taken): unmount it first\n", prog,
			dir);
		goto out_close;
	}
	if (!(sb->incompat & NS_FEAT_SEALED)) {
		char text[NS_RECOVERY_TEXT];

		if (ns_kdf_params(new_src->key_file != NULL, kdf->kdf, kdf->n, kdf->r, kdf->p,
				  kdf_given, kdf) != ST_OK) {
			fprintf(stderr, "%s: %s\n", prog, st_last_error()->msg);
			status = 16;
			goto out_close;
		}
		snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", dir);
		rc = ns_secret_read(new_src, prompt, true, secret, &len);
		if (rc == ST_OK)
			rc = ns_key_create(sb, kdf, secret, len);
		memset(secret, 0, sizeof(secret));
		sb->incompat |= NS_FEAT_SEALING;
		if (rc == ST_OK)
			rc = ns_super_write(dir, sb);
		if (rc) {
			fprintf(stderr, "%s: %s: %s; nothing was changed\n", prog, dir,
				st_last_error()->msg);
			goto out_close;
		}
		/* Shown before the stores are touched: a run cut short has
		 * shown it already. */
		ns_key_recovery_text(sb, text);
		printf("recovery key (keep it safe and apart from the vault; it is not shown "
		       "again):\n  %s\n",
		       text);
		memset(text, 0, sizeof(text));
		fflush(stdout);
	} else if (ns_key_unlock_from(sb, old_src, dir) != ST_OK) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, st_last_error()->msg);
		goto out_close;
	}
	if ((rc = seal_stores(dir, sb, &stores, &sealed)) != ST_OK)
		goto out_fail;
	/* The fence, sealed too (read as it was: plain). */
	if ((sb->ro_compat & NS_FEAT_FENCE) && ns_fence_read(dir, NULL, &f) == ST_OK &&
	    (rc = ns_fence_write(dir, sb, &f)) != ST_OK)
		goto out_fail;
	sb->incompat &= ~NS_FEAT_SEALING;
	if ((rc = ns_super_write(dir, sb)) != ST_OK)
		goto out_fail;
	if (!quiet)
		printf("%s encrypted: %llu stores, %llu sealed by this run\n", dir,
		       (unsigned long long)stores, (unsigned long long)sealed);
	status = 0;
	goto out_close;
out_fail:
	fprintf(stderr,
		"%s: %s: %s; run %s --encrypt again to finish (nothing else opens the "
		"vault until then)\n",
		prog, dir, st_last_error()->msg, prog);
out_close:
	ns_key_forget(sb);
	if (lockfd >= 0)
		close(lockfd);
	return status;
}

/* --new-passphrase, --new-key-file: unlocks sb with the old secret or the
 * recovery key, wraps the master key under the new one. 0 or an exit
 * status, said. */
static int rewrap(const char *dir, struct ns_super *sb, const struct ns_secret_src *old_src,
		  int recovery_fd, const struct ns_secret_src *new_src, struct ns_keyslot *kdf,
		  const bool kdf_given[3])
{
	uint8_t secret[NS_SECRET_MAX];
	char prompt[4200];
	size_t len;
	int rc;

	if (!(sb->incompat & NS_FEAT_SEALED)) {
		fprintf(stderr, "%s: %s is not encrypted; it has no passphrase to change\n", prog,
			dir);
		return 16;
	}
	if (ns_kdf_params(new_src->key_file != NULL, kdf->kdf, kdf->n, kdf->r, kdf->p, kdf_given,
			  kdf) != ST_OK) {
		fprintf(stderr, "%s: %s\n", prog, st_last_error()->msg);
		return 16;
	}
	if (recovery_fd >= 0) {
		rc = ns_passphrase_read(recovery_fd, "", (char *)secret, sizeof(secret), &len);
		if (rc == ST_OK)
			rc = ns_key_recover(sb, (const char *)secret);
	} else {
		rc = ns_key_unlock_from(sb, old_src, dir);
	}
	if (rc) {
		fprintf(stderr, "%s: %s: %s; nothing was changed\n", prog, dir,
			st_last_error()->msg);
		return 8;
	}
	snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", dir);
	rc = ns_secret_read(new_src, prompt, true, secret, &len);
	if (rc == ST_OK)
		rc = ns_key_rewrap(sb, kdf, secret, len);
	memset(secret, 0, sizeof(secret));
	ns_key_forget(sb);
	if (rc) {
		fprintf(stderr, "%s: %s: %s; nothing was changed\n", prog, dir,
			st_last_error()->msg);
		return rc == ST_EINVAL ? 16 : 8;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"label", required_argument, NULL, 'L'},
	    {"keep", required_argument, NULL, 'k'},
	    {"reserve", required_argument, NULL, 'r'},
	    {"history-max", required_argument, NULL, 'H'},
	    {"one-sync", no_argument, NULL, 'O'},
	    {"inline", no_argument, NULL, 'I'},
	    {"new-passphrase", no_argument, NULL, 'N'},
	    {"encrypt", no_argument, NULL, 'E'},
	    {"new-passphrase-fd", required_argument, NULL, 'F'},
	    {"new-key-file", required_argument, NULL, 'G'},
	    {"passphrase-fd", required_argument, NULL, 'P'},
	    {"key-file", required_argument, NULL, 'K'},
	    {"recovery-key-fd", required_argument, NULL, 'Y'},
	    {"kdf", required_argument, NULL, 'D'},
	    {"kdf-n", required_argument, NULL, 'n'},
	    {"kdf-r", required_argument, NULL, 'R'},
	    {"kdf-p", required_argument, NULL, 'p'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	const char *dir, *label = NULL, *keep = NULL;
	uint64_t reserve = 0, history_max = 0;
	bool set_reserve = false, set_history = false, quiet = false, one_sync = false;
	bool inline_files = false;
	struct st_retention r;
	struct ns_super sb;
	const struct ns_lock_wait no_wait = {0};
	char keepbuf[512];
	bool mounted, rekey = false, encrypt = false, kdf_given[3] = {false, false, false};
	struct ns_secret_src old_src = {.fd = -1}, new_src = {.fd = -1};
	struct ns_keyslot kdf = {.kdf = NS_KDF_SCRYPT};
	int c, rc, lockfd, recovery_fd = -1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":L:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			label = optarg;
			break;
		case 'k':
			keep = optarg;
			break;
		case 'r':
		case 'H':
			if (ns_space_parse(optarg, c == 'r' ? &reserve : &history_max) != ST_OK) {
				fprintf(stderr,
					"%s: --%s=%s: give a size (4096, 512M, 2G), a percentage "
					"of the backing filesystem (10%%) or 0\n",
					prog, c == 'r' ? "reserve" : "history-max", optarg);
				return 16;
			}
			if (c == 'r')
				set_reserve = true;
			else
				set_history = true;
			break;
		case 'O':
			one_sync = true;
			break;
		case 'I':
			inline_files = true;
			break;
		case 'N':
			rekey = true;
			break;
		case 'E':
			encrypt = true;
			break;
		case 'G':
			new_src.key_file = optarg;
			rekey = true;
			break;
		case 'K':
			old_src.key_file = optarg;
			break;
		case 'D':
			if (strcmp(optarg, "scrypt") && strcmp(optarg, "pbkdf2")) {
				fprintf(stderr, "%s: --kdf=%s: scrypt or pbkdf2\n", prog, optarg);
				return 16;
			}
			kdf.kdf = strcmp(optarg, "scrypt") ? NS_KDF_PBKDF2 : NS_KDF_SCRYPT;
			break;
		case 'F':
		case 'P':
		case 'Y':
		case 'n':
		case 'R':
		case 'p': {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' ||
			    (c != 'n' && v > INT32_MAX)) {
				fprintf(stderr, "%s: %s=%s: give a whole number\n", prog,
					argv[optind - 1], optarg);
				return 16;
			}
			if (c == 'F')
				new_src.fd = (int)v, rekey = true;
			else if (c == 'P')
				old_src.fd = (int)v;
			else if (c == 'Y')
				recovery_fd = (int)v;
			else if (c == 'n')
				kdf.n = v, kdf_given[0] = true;
			else if (c == 'R')
				kdf.r = (uint32_t)v, kdf_given[1] = true;
			else
				kdf.p = (uint32_t)v, kdf_given[2] = true;
			break;
		}
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, REVFS_VERSION);
			return 0;
		default:
			fprintf(stderr, "%s: %s %s; see %s --help\n", prog,
				c == ':' ? "option needs a value:" : "unknown option",
				argv[optind - 1], prog);
			return 16;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: expected one backing directory; see %s --help\n", prog, prog);
		return 16;
	}
	dir = argv[optind];
	if (label && strlen(label) > NS_LABEL_MAX) {
		fprintf(stderr, "%s: label '%s' is longer than %u bytes\n", prog, label,
			NS_LABEL_MAX);
		return 16;
	}
	if (keep && (st_retention_parse(keep, &r) != ST_OK ||
		     st_retention_format(&r, keepbuf, sizeof(keepbuf)) != ST_OK ||
		     strlen(keepbuf) > NS_KEEP_MAX)) {
		fprintf(stderr, "%s: bad --keep rule '%s' (example: %s, or latest)\n", prog, keep,
			NS_KEEP_DEFAULT);
		return 16;
	}
	rc = ns_super_read(dir, &sb);
	if (rc) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, dir,
			rc == ST_ENOTFOUND ? "not a revfs backing directory" : st_last_error()->msg,
			rc == ST_EVERSION    ? "; use a newer revfs-tune"
			: rc == ST_ENOTFOUND ? ""
					     : "; run fsck.revfs on it");
		return 8;
	}
	if (encrypt)
		return encrypt_vault(dir, &sb, &old_src, &new_src, &kdf, kdf_given, quiet);
	if (sb.incompat & NS_FEAT_SEALING) {
		fprintf(stderr, "%s: %s is being encrypted: finish it with %s --encrypt\n", prog,
			dir, prog);
		return 8;
	}
	if (!label && !keep && !set_reserve && !set_history && !one_sync && !inline_files &&
	    !rekey) {
		show(dir, &sb);
		return 0;
	}
	if (rekey && (rc = rewrap(dir, &sb, &old_src, recovery_fd, &new_src, &kdf, kdf_given)))
		return rc;
	/* The lock says whether a daemon has the directory; held meanwhile
	 * if not, so that no mount starts half-way. */
	lockfd = ns_lock_open(dir, true);
	mounted = lockfd >= 0 && ns_lock_take(lockfd, &no_wait, NULL, 0) != NS_LOCK_TAKEN;
	if (!ns_super_writable(&sb)) {
		fprintf(stderr, "%s: %s has features this revfs-tune can only read\n", prog, dir);
		return 8;
	}
	if (label)
		snprintf(sb.label, sizeof(sb.label), "%s", label);
	if (keep)
		memcpy(sb.keep, keepbuf, strlen(keepbuf) + 1);
	if (set_reserve)
		sb.reserve = reserve;
	if (set_history)
		sb.history_max = history_max;
	if (one_sync)
		sb.incompat |= NS_FEAT_ONESYNC;
	if (inline_files)
		sb.incompat |= NS_FEAT_INLINE;
	rc = ns_super_write(dir, &sb);
	if (rc) {
		fprintf(stderr, "%s: cannot write the superblock of %s: %s\n", prog, dir,
			st_last_error()->msg);
		return 8;
	}
	if (!quiet) {
		show(dir, &sb);
		if (mounted)
			printf("%s is mounted: its daemon takes this at the next mount\n", dir);
	}
	if (lockfd >= 0)
		close(lockfd);
	return 0;
}
