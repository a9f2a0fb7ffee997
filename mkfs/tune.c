/*
 * tune.c - revfs-tune: shows and changes the settings a backing directory's
 * superblock keeps after mkfs.revfs: its label, default retention rule,
 * reserve and history budget, and whether its commits take one sync
 * (tune2fs does this for ext4). With no option it prints them. A change rewrites the superblock
 * whole (ns_super_write: a temporary file, fsync, rename, directory fsync); a mount reads it at its
 * start, so a mounted directory takes a change at its next mount.
 *
 *   revfs-tune [-L LABEL] [--keep=RULE] [--reserve=SIZE|N%]
 *              [--history-max=SIZE|N%] [--one-sync] [-q] DIR
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
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
		"          [--history-max=SIZE|N%%] [--one-sync] [-q] DIR\n"
		"Show the settings of the revfs backing directory DIR, or change them.\n\n"
		"  -L, --label=LABEL        a label of up to %u bytes\n"
		"      --keep=RULE          default retention, e.g. %s or latest\n"
		"      --reserve=SIZE|N%%    free space history leaves to live data\n"
		"                           (0: the default, 10%% of the disk, at most 1G)\n"
		"      --history-max=SIZE|N%% the most history may take (0: no budget)\n"
		"      --one-sync           commit with one sync from now on (a directory\n"
		"                           made before mkfs.revfs did so); older revfs\n"
		"                           programs cannot use it afterwards\n"
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
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"label", required_argument, NULL, 'L'},
						 {"keep", required_argument, NULL, 'k'},
						 {"reserve", required_argument, NULL, 'r'},
						 {"history-max", required_argument, NULL, 'H'},
						 {"one-sync", no_argument, NULL, 'O'},
						 {"quiet", no_argument, NULL, 'q'},
						 {"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	const char *dir, *label = NULL, *keep = NULL;
	uint64_t reserve = 0, history_max = 0;
	bool set_reserve = false, set_history = false, quiet = false, one_sync = false;
	struct st_retention r;
	struct ns_super sb;
	const struct ns_lock_wait no_wait = {0};
	char keepbuf[512];
	bool mounted;
	int c, rc, lockfd;

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
	if (!label && !keep && !set_reserve && !set_history && !one_sync) {
		show(dir, &sb);
		return 0;
	}
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
