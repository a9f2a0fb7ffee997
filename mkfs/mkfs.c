/*
 * mkfs.c - mkfs.revfs: makes a new backing directory. It writes the
 * namespace store with the root directory first and the superblock last, so
 * that a directory holds a revfs only once everything else is in place.
 * Follows mkfs(8): "mkfs -t revfs DIR" runs "mkfs.revfs DIR".
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ns.h"

#ifndef REVFS_VERSION
#define REVFS_VERSION "0.1"
#endif

static const char *prog = "mkfs.revfs";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-L LABEL] [-f] [--keep=RULE] [--reserve=SIZE|N%%]\n"
		"          [--history-max=SIZE|N%%] [--encrypt [--passphrase-fd=FD]\n"
		"          [--kdf=scrypt|pbkdf2] [--kdf-n=N] [--kdf-r=R] [--kdf-p=P]]\n"
		"          [--key-file=FILE] [-q] [-v] DIR\n"
		"Make a new revfs backing directory at DIR (created if missing, else it\n"
		"must be empty).\n\n"
		"  -L, --label=LABEL  a label of up to %u bytes\n"
		"  -f, --force        use a non-empty directory, or overwrite an existing\n"
		"                     revfs (its files and history are deleted)\n"
		"      --keep=RULE    default retention, e.g. %s or latest\n"
		"      --reserve=SIZE|N%%  free space history leaves to live data (default:\n"
		"                     10%% of the backing filesystem, at most 1G)\n"
		"      --history-max=SIZE|N%%  the most history may take (default: no cap)\n"
		"      --encrypt      seal everything with a random master key, kept wrapped\n"
		"                     by a passphrase, asked on the terminal (twice)\n"
		"      --passphrase-fd=FD  read the passphrase from descriptor FD instead\n"
		"      --kdf=scrypt|pbkdf2  the passphrase's KDF (default scrypt)\n"
		"      --kdf-n=N, --kdf-r=R, --kdf-p=P  its parameters (scrypt: N=%u,\n"
		"                     r=%u, p=%u; pbkdf2: N iterations, default 600000)\n"
		"      --key-file=FILE  --encrypt with FILE's bytes (at least %u) as the key\n"
		"  -q, --quiet        print nothing on success\n"
		"  -v, --verbose      accepted; no effect\n"
		"  -h, --help         this help\n"
		"  -V, --version      the version\n",
		prog, NS_LABEL_MAX, NS_KEEP_DEFAULT, NS_SCRYPT_N, NS_SCRYPT_R, NS_SCRYPT_P,
		NS_KEYFILE_MIN);
}

/* One line for a bad option, instead of getopt's line and then the usage:
 * the option, and where to look. Returns the usage exit status. */
static int bad_option(int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "%s: option %s needs a value; see %s --help\n", prog,
			argv[optind - 1], prog);
	else if (optopt > 0 && optopt < 256)
		fprintf(stderr, "%s: unknown option -%c; see %s --help\n", prog, optopt, prog);
	else
		fprintf(stderr, "%s: unknown option %s; see %s --help\n", prog, argv[optind - 1],
			prog);
	return 16;
}

/* 1 if dir has entries, 0 if empty, -1 on error (errno set). */
static int dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"label", required_argument, NULL, 'L'},
						 {"force", no_argument, NULL, 'f'},
						 {"keep", required_argument, NULL, 'k'},
						 {"quiet", no_argument, NULL, 'q'},
						 {"reserve", required_argument, NULL, 'r'},
						 {"history-max", required_argument, NULL, 'H'},
						 {"encrypt", no_argument, NULL, 'E'},
						 {"passphrase-fd", required_argument, NULL, 'P'},
						 {"key-file", required_argument, NULL, 'K'},
						 {"kdf", required_argument, NULL, 'D'},
						 {"kdf-n", required_argument, NULL, 'n'},
						 {"kdf-r", required_argument, NULL, 'R'},
						 {"kdf-p", required_argument, NULL, 'p'},
						 {"verbose", no_argument, NULL, 'v'},
						 {"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	struct ns_super sb, old;
	struct st_retention r;
	const char *dir, *label = "", *keep = NS_KEEP_DEFAULT;
	const struct ns_lock_wait no_wait = {0};
	char uuid[37], keepbuf[512], rbuf[32], hbuf[32];
	uint64_t reserve = 0, history_max = 0;
	int force = 0, quiet = 0, is_revfs, c, rc, lockfd = -1;
	struct ns_keyslot kdf = {.kdf = NS_KDF_SCRYPT};
	struct ns_secret_src src = {.fd = -1};
	bool encrypt = false, kdf_given[3] = {false, false, false};
	uint8_t secret[NS_SECRET_MAX];
	size_t slen = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":L:fqvVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			label = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'k':
			keep = optarg;
			break;
		case 'r':
		case 'H':
			if (ns_space_parse(optarg, c == 'r' ? &reserve : &history_max) != ST_OK) {
				fprintf(stderr,
					"%s: --%s=%s: give a size (4096, 512M, 2G) or a "
					"percentage of the backing filesystem (10%%)\n",
					prog, c == 'r' ? "reserve" : "history-max", optarg);
				return 16;
			}
			break;
		case 'E':
			encrypt = true;
			break;
		case 'P':
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
			if (c == 'P')
				src.fd = (int)v;
			else if (c == 'n')
				kdf.n = v, kdf_given[0] = true;
			else if (c == 'R')
				kdf.r = (uint32_t)v, kdf_given[1] = true;
			else
				kdf.p = (uint32_t)v, kdf_given[2] = true;
			if (c == 'P')
				encrypt = true;
			break;
		}
		case 'K':
			src.key_file = optarg;
			encrypt = true;
			break;
		case 'D':
			if (strcmp(optarg, "scrypt") && strcmp(optarg, "pbkdf2")) {
				fprintf(stderr, "%s: --kdf=%s: scrypt or pbkdf2\n", prog, optarg);
				return 16;
			}
			kdf.kdf = strcmp(optarg, "scrypt") ? NS_KDF_PBKDF2 : NS_KDF_SCRYPT;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'v':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, REVFS_VERSION);
			return 0;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: expected one directory; see %s --help\n", prog, prog);
		return 16;
	}
	dir = argv[optind];
	if (strlen(label) > NS_LABEL_MAX) {
		fprintf(stderr, "%s: label '%s' is longer than %u bytes\n", prog, label,
			NS_LABEL_MAX);
		return 16;
	}
	if (strlen(keep) > NS_KEEP_MAX || st_retention_parse(keep, &r) != ST_OK) {
		fprintf(stderr, "%s: bad --keep rule '%s' (example: %s, or latest)\n", prog, keep,
			NS_KEEP_DEFAULT);
		return 16;
	}

	if (encrypt) {
		/* The parameters first: a passphrase is not asked for nothing. */
		if (ns_kdf_params(src.key_file != NULL, kdf.kdf, kdf.n, kdf.r, kdf.p, kdf_given,
				  &kdf) != ST_OK) {
			fprintf(stderr, "%s: %s\n", prog, st_last_error()->msg);
			return 16;
		}
		if (ns_secret_read(&src, "Passphrase for the new vault: ", true, secret, &slen) !=
		    ST_OK) {
			fprintf(stderr, "%s: %s\n", prog, st_last_error()->msg);
			return 8;
		}
	} else if (kdf_given[0] || kdf_given[1] || kdf_given[2] || kdf.kdf != NS_KDF_SCRYPT) {
		fprintf(stderr, "%s: the --kdf options go with --encrypt\n", prog);
		return 16;
	}

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s%s\n", prog, dir, strerror(errno),
			errno == ENOENT ? "; create its parent first" : "");
		return 8;
	}
	rc = dir_has_entries(dir);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot read %s: %s%s\n", prog, dir, strerror(errno),
			errno == ENOTDIR ? "; give a directory" : "");
		return 8;
	}
	is_revfs = ns_super_read(dir, &old) != ST_ENOTFOUND;
	if (is_revfs || rc > 0) {
		if (!force) {
			fprintf(stderr, "%s: %s %s; use -f to %s\n", prog, dir,
				is_revfs ? "already holds a revfs" : "is not empty",
				is_revfs ? "overwrite it (its files and history are lost)"
					 : "make a revfs in it anyway");
			return 8;
		}
		/* Held until mkfs exits, so no mount starts while it works;
		 * a daemon still holding it, even on its way out, is mounted. */
		lockfd = ns_lock_open(dir, true);
		if (lockfd >= 0 && ns_lock_take(lockfd, &no_wait, NULL, 0) != NS_LOCK_TAKEN) {
			fprintf(stderr, "%s: %s is mounted; unmount it first\n", prog, dir);
			return 8;
		}
		if (is_revfs && ns_wipe(dir) != ST_OK) {
			fprintf(stderr, "%s: cannot remove the old revfs in %s: %s\n", prog, dir,
				st_last_error()->msg);
			return 8;
		}
	}

	ns_super_init(&sb);
	snprintf(sb.label, sizeof(sb.label), "%s", label);
	if (st_retention_format(&r, keepbuf, sizeof(keepbuf)) != ST_OK ||
	    strlen(keepbuf) > NS_KEEP_MAX) {
		fprintf(stderr, "%s: the --keep rule is longer than %u bytes written out (%s)\n",
			prog, NS_KEEP_MAX, keepbuf);
		return 16;
	}
	memcpy(sb.keep, keepbuf, strlen(keepbuf) + 1);
	sb.reserve = reserve;
	sb.history_max = history_max;
	if (encrypt) {
		rc = ns_key_create(&sb, &kdf, secret, slen);
		memset(secret, 0, sizeof(secret));
		if (rc) {
			fprintf(stderr, "%s: cannot make the key: %s\n", prog,
				st_last_error()->msg);
			return 8;
		}
	}
	/* The stores carry identities drawn from the uuid: the namespace is
	 * made with the superblock it will have, which is written last. */
	rc = ns_format(dir, &sb, (uint32_t)getuid(), (uint32_t)getgid());
	if (rc) {
		fprintf(stderr, "%s: cannot write the namespace in %s: %s\n", prog, dir,
			st_last_error()->msg[0] ? st_last_error()->msg : st_strerror(rc));
		return 8;
	}
	rc = ns_super_write(dir, &sb);
	if (rc) {
		fprintf(stderr, "%s: cannot write the superblock in %s: %s\n", prog, dir,
			st_last_error()->msg);
		return 8;
	}
	if (encrypt) {
		char text[NS_RECOVERY_TEXT];

		/* The one time it is shown: with it, a lost passphrase is not
		 * a lost vault (revfs-tune --recovery-key-fd). */
		ns_key_recovery_text(&sb, text);
		printf("recovery key (keep it safe and apart from the vault; it is not shown "
		       "again):\n  %s\n",
		       text);
		memset(text, 0, sizeof(text));
		ns_key_forget(&sb);
	}
	if (!quiet) {
		ns_super_uuid_str(&sb, uuid);
		ns_space_format(sb.reserve, rbuf, sizeof(rbuf));
		ns_space_format(sb.history_max, hbuf, sizeof(hbuf));
		printf("revfs made in %s\n  uuid:  %s\n  label: %s\n  keep:  %s\n"
		       "  reserve:     %s\n  history max: %s\n  encryption:  %s\n",
		       dir, uuid, sb.label[0] ? sb.label : "(none)", sb.keep,
		       sb.reserve ? rbuf : "default (10%, at most 1G)",
		       sb.history_max ? hbuf : "none",
		       !encrypt			  ? "none"
		       : src.key_file		  ? "AES-256-GCM, key file"
		       : kdf.kdf == NS_KDF_SCRYPT ? "AES-256-GCM, passphrase (scrypt)"
						  : "AES-256-GCM, passphrase (PBKDF2-HMAC-SHA256)");
	}
	return 0;
}
