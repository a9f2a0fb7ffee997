/*
 * fence.c - what a mount must find before it trusts the backing directory.
 *
 * On a distributed filesystem (GlusterFS, CephFS, NFS...) a client may
 * serve a file's bytes, size and name from its caches for a while after
 * another client changed them. A revfs mounted through a second client
 * just after the first unmounted would then read an older namespace and
 * older stores, and write on top of them: fsynced data lost for good. So:
 *
 *   - at mount, revfs says what the backing directory is on, and on a
 *     network filesystem first waits -o settle_ms for the client's caches
 *     of this vault to expire (they are time-bound: GlusterFS's are 1 s);
 *   - the fence (ns_fence_*, read past every cache) records each clean
 *     unmount's newest namespace commit: a namespace found older is waited
 *     for up to -o fence_wait_s, then the mount is refused, with the
 *     likely cause and the settings that fix it. The stores' newest
 *     commits are in the namespace's records (store_seq): a store found
 *     older is damage, read as EIO, never as an older version.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <syslog.h>
#include <time.h>

#include "revfs.h"

#define FUSE_MAGIC 0x65735546

/* f_type of the network and cluster filesystems statfs names. */
static const struct {
	long type;
	const char *name;
} net_types[] = {
    {0x6969, "nfs"},	   {0x00c36400, "cephfs"}, {0xfe534d42, "smb2"},   {0xff534d42, "cifs"},
    {0x517b, "smb"},	   {0x5346414f, "afs"},	   {0x01021997, "9p"},	   {0x01161970, "gfs2"},
    {0x7461636f, "ocfs2"}, {0x47504653, "gpfs"},   {0x0bd00bd0, "lustre"},
};

/* FUSE filesystems that are clients of a network service. */
static const char *const net_fuse[] = {"glusterfs", "ceph-fuse", "sshfs",   "s3fs",
				       "gcsfuse",   "juicefs",	 "moosefs", "lizardfs"};

struct find_mount {
	const char *path;
	size_t best;
	char fstype[64];
	char point[PATH_MAX]; /* the mount point of the filesystem found */
};

static int mount_cb(void *arg, const struct ns_mount *m)
{
	struct find_mount *f = arg;
	size_t n = strlen(m->point);

	if (strncmp(f->path, m->point, n) != 0 ||
	    (f->path[n] != '/' && f->path[n] != 0 && strcmp(m->point, "/") != 0))
		return 0;
	if (n >= f->best) { /* the deepest, and the last of stacked ones */
		f->best = n;
		snprintf(f->fstype, sizeof(f->fstype), "%s", m->fstype);
		snprintf(f->point, sizeof(f->point), "%s", m->point);
	}
	return 0;
}

/*
 * A GlusterFS client's caching, read from the command line of the
 * glusterfs process that serves the mount at point (its mount options
 * become --attribute-timeout=... and the like): 1 if it caches
 * attributes, entries or negative lookups, 0 if not, -1 if unknown. The
 * volume's performance translators are the servers' to say; they are
 * read with "gluster volume get", not from here.
 */
static int gluster_caches(const char *point)
{
	static const char *const zero[] = {"--attribute-timeout=0", "--entry-timeout=0",
					   "--negative-timeout=0"};
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		char path[300], args[8192], *last = NULL;
		bool is_gluster = false, has[3] = {false, false, false};
		size_t n;
		FILE *f;

		if (strspn(e->d_name, "0123456789") != strlen(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(args, 1, sizeof(args) - 1, f);
		fclose(f);
		args[n] = 0;
		for (size_t i = 0; i < n; i += strlen(args + i) + 1) {
			const char *a = args + i, *base = strrchr(a, '/');

			if (i == 0)
				is_gluster = strcmp(base ? base + 1 : a, "glusterfs") == 0;
			for (int k = 0; k < 3; k++)
				has[k] = has[k] || strcmp(a, zero[k]) == 0;
			last = args + i;
		}
		if (is_gluster && last && strcmp(last, point) == 0)
			found = !(has[0] && has[1] && has[2]);
	}
	closedir(d);
	return found;
}

/* The network filesystem dir is on, or NULL. */
static const char *network_fs(const char *dir)
{
	struct find_mount f = {.path = NULL};
	char real[PATH_MAX];
	struct statfs s;

	if (statfs(dir, &s) != 0)
		return NULL;
	for (size_t i = 0; i < sizeof(net_types) / sizeof(net_types[0]); i++)
		if ((long)s.f_type == net_types[i].type)
			return net_types[i].name;
	if ((long)s.f_type != FUSE_MAGIC || !realpath(dir, real))
		return NULL;
	f.path = real;
	if (ns_mounts(mount_cb, &f) != 0 || strncmp(f.fstype, "fuse.", 5) != 0)
		return NULL;
	for (size_t i = 0; i < sizeof(net_fuse) / sizeof(net_fuse[0]); i++) {
		if (strcmp(f.fstype + 5, net_fuse[i]) != 0)
			continue;
		if (i == 0 && gluster_caches(f.point) == 1)
			fs_log(LOG_WARNING,
			       "the GlusterFS client of %s caches attributes and names: mount "
			       "it with attribute-timeout=0,entry-timeout=0,negative-timeout=0, "
			       "and set the volume's performance.stat-prefetch, quick-read, "
			       "open-behind, write-behind and client-io-threads off, to fail "
			       "over without waiting (-o settle_ms=0); until then revfs waits "
			       "at each mount",
			       f.point);
		return net_fuse[i];
	}
	return NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* Opens the namespace: 0, 1 if its newest commit is older than min_seq
 * (nothing changed), or -1 with a message. */
static int open_ns(struct fs *fs, uint64_t min_seq, uint64_t *seq)
{
	struct st_open_opts o = {.min_seq = min_seq};
	struct st_version v;
	int rc = ns_open(fs->backing, &fs->sb, fs->o.ro ? ST_READONLY : 0, &o, &fs->ns);

	if (rc == ST_EBEHIND) {
		*seq = 0;
		return 1;
	}
	if (rc) {
		fprintf(stderr, "revfs: cannot open the namespace %s/%s: %s; run fsck.revfs %s\n",
			fs->backing, NS_STORE_NAME, st_last_error()->msg, fs->backing);
		return -1;
	}
	st_current(fs->ns, &v);
	*seq = v.seq;
	return 0;
}

int fence_open_ns(struct fs *fs)
{
	struct ns_fence f = {0};
	uint64_t seq, waited = 0;
	int rc;

	fs->netfs = network_fs(fs->backing);
	if (fs->netfs) {
		fs_log(LOG_INFO,
		       "%s is on %s: revfs relies on its fsync, rename and flock reaching every "
		       "client; it waits %u ms at mount for this client's caches",
		       fs->backing, fs->netfs, fs->o.settle_ms);
		sleep_ms(fs->o.settle_ms);
	}
	if (!(fs->sb.ro_compat & NS_FEAT_FENCE))
		return open_ns(fs, 0, &seq) ? -1 : 0;
	rc = ns_fence_read(fs->backing, &f);
	if (rc == ST_ENOTFOUND) {
		fs_log(LOG_WARNING, "%s has no %s; this mount makes one", fs->backing,
		       NS_FENCE_NAME);
	} else if (rc || memcmp(f.uuid, fs->sb.uuid, sizeof(f.uuid)) != 0) {
		fprintf(stderr, "revfs: %s/%s: %s; run fsck.revfs %s\n", fs->backing, NS_FENCE_NAME,
			rc ? st_last_error()->msg : "of another vault", fs->backing);
		return -1;
	}
	fs->fence_gen = f.gen;
	/* The namespace only grows: never older than the fence, clean or not
	 * (at a mount it records the namespace then). */
	for (;;) {
		if ((rc = open_ns(fs, f.ns_seq, &seq)) < 0)
			return -1;
		if (rc == 0)
			break;
		if (waited >= (uint64_t)fs->o.fence_wait_s * 1000) {
			fprintf(
			    stderr,
			    "revfs: %s: the namespace is older than commit %llu, which the "
			    "last mount left: the storage serves an older view of the vault. "
			    "On a distributed filesystem this is its client's caching: on "
			    "GlusterFS, set performance.stat-prefetch, quick-read, open-behind, "
			    "write-behind and client-io-threads off and mount with "
			    "attribute-timeout=0,entry-timeout=0,negative-timeout=0. Nothing was "
			    "written; mount again once it shows the vault as it is, and check it "
			    "with fsck.revfs\n",
			    fs->backing, (unsigned long long)f.ns_seq);
			return -1;
		}
		if (waited == 0)
			fs_log(LOG_WARNING,
			       "%s: the namespace is older than commit %llu, which the last "
			       "mount left: waiting up to %u s for the storage to catch up",
			       fs->backing, (unsigned long long)f.ns_seq, fs->o.fence_wait_s);
		sleep_ms(250);
		waited += 250;
	}
	if (waited)
		fs_log(LOG_INFO, "%s: the storage caught up after %llu ms", fs->backing,
		       (unsigned long long)waited);
	return 0;
}

int fence_mark(struct fs *fs, bool clean)
{
	struct ns_fence f = {.clean = clean, .time_ns = st_realtime_ns()};
	struct st_version v;
	int rc;

	if (fs->o.ro || !(fs->sb.ro_compat & NS_FEAT_FENCE))
		return 0;
	if (!clean)
		fs->fence_gen++;
	st_current(fs->ns, &v);
	f.gen = fs->fence_gen;
	f.ns_seq = v.seq;
	memcpy(f.uuid, fs->sb.uuid, sizeof(f.uuid));
	rc = ns_fence_write(fs->backing, &f);
	if (rc) {
		fs_log(LOG_ERR, "cannot write the fence: %s", st_last_error()->msg);
		return -fs_errno(rc);
	}
	return 0;
}
