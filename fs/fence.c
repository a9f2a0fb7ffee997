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
 *     of this vault to expire (they are time-bound: GlusterFS's are 1 s),
 *     unless it sees that the client caches nothing (GlusterFS: its mount
 *     options and the translators its .meta tree lists);
 *   - the fence (ns_fence_*, read past every cache) records the newest
 *     namespace commit at each mount, after namespace commits (the fence
 *     thread) and at a clean unmount: a namespace found older is waited
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
/* The wait for a network client's caches when it cannot be seen to
 * cache nothing: GlusterFS's expire after 1 s. */
#define SETTLE_MS 2000

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
 * GlusterFS's client-side translators that serve bytes, sizes or names
 * from the client's memory, or reorder what it sends, and the volume
 * options that take each out of the graph. The volume's settings are the
 * servers' to keep, but each client runs the translators they choose, and
 * its .meta tree shows the graph it runs.
 */
static const struct {
	const char *type;
	const char *option;
} gl_caches[] = {
    {"performance/md-cache", "stat-prefetch"},	     {"performance/quick-read", "quick-read"},
    {"performance/open-behind", "open-behind"},	     {"performance/write-behind", "write-behind"},
    {"performance/io-threads", "client-io-threads"}, {"performance/io-cache", "io-cache"},
    {"performance/read-ahead", "read-ahead"},	     {"performance/nl-cache", "nl-cache"},
};

/* The FUSE caching a GlusterFS client takes as options: each must be 0. */
static const char *const gl_timeouts[] = {"attribute-timeout", "entry-timeout", "negative-timeout"};

/* Appends sep (unless *buf is empty), pre and word to buf. */
static void list_add(char *buf, size_t len, const char *sep, const char *pre, const char *word)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s%s", n ? sep : "", pre, word);
}

/* The first line of a small file, without its newline, into buf: 0 or -1. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return -1;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/*
 * What the GlusterFS client mounted at point caches, from its .meta tree:
 * the mount options it lacks (attribute-timeout=0...) into mopts and the
 * volume options to turn off (quick-read...) into vopts. 1 if it caches,
 * 0 if not (both ""), -1 if its .meta tree cannot tell (no meta
 * translator, or no permission).
 */
static int gluster_caching(const char *point, char *mopts, size_t mlen, char *vopts, size_t vlen)
{
	char path[PATH_MAX + 320], graph[PATH_MAX + 32], line[4096], *tok, *save;
	bool has[3] = {false, false, false};
	struct dirent *e;
	DIR *d;

	mopts[0] = vopts[0] = 0;
	/* cmdline holds the client's command line: the mount's options are
	 * among its arguments, as --attribute-timeout=0 and the like. */
	snprintf(path, sizeof(path), "%s/.meta/cmdline", point);
	{
		FILE *f = fopen(path, "r");
		size_t n;

		if (!f)
			return -1;
		n = fread(line, 1, sizeof(line) - 1, f);
		fclose(f);
		line[n] = 0;
	}
	for (tok = strtok_r(line, " \"\n", &save); tok; tok = strtok_r(NULL, " \"\n", &save))
		for (int k = 0; k < 3; k++)
			if (strncmp(tok, "--", 2) == 0 &&
			    strncmp(tok + 2, gl_timeouts[k], strlen(gl_timeouts[k])) == 0 &&
			    strcmp(tok + 2 + strlen(gl_timeouts[k]), "=0") == 0)
				has[k] = true;
	for (int k = 0; k < 3; k++)
		if (!has[k]) {
			char opt[64];

			snprintf(opt, sizeof(opt), "%s=0", gl_timeouts[k]);
			list_add(mopts, mlen, ",", "", opt);
		}
	snprintf(graph, sizeof(graph), "%s/.meta/graphs/active", point);
	if (!(d = opendir(graph)))
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/type", graph, e->d_name);
		if (read_line(path, line, sizeof(line)) != 0)
			continue;
		for (size_t i = 0; i < sizeof(gl_caches) / sizeof(gl_caches[0]); i++)
			if (strcmp(line, gl_caches[i].type) == 0 &&
			    !strstr(vopts, gl_caches[i].option))
				list_add(vopts, vlen, ", ", "performance.", gl_caches[i].option);
	}
	closedir(d);
	return mopts[0] || vopts[0];
}

/* The network filesystem dir is on, or NULL; *point receives the mount
 * point of a FUSE one (else ""). */
static const char *network_fs(const char *dir, char *point, size_t len)
{
	struct find_mount f = {.path = NULL};
	char real[PATH_MAX];
	struct statfs s;

	point[0] = 0;
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
	for (size_t i = 0; i < sizeof(net_fuse) / sizeof(net_fuse[0]); i++)
		if (strcmp(f.fstype + 5, net_fuse[i]) == 0) {
			snprintf(point, len, "%s", f.point);
			return net_fuse[i];
		}
	return NULL;
}

/*
 * Sets fs->netfs and says in the log what the backing directory is on.
 * Returns how long to wait at mount for its client's caches: -o settle_ms
 * if given; else none for a GlusterFS client that is seen to cache
 * nothing, and SETTLE_MS for any other network filesystem.
 */
static unsigned settle_time(struct fs *fs)
{
	char point[PATH_MAX], mopts[256], vopts[512];
	unsigned ms = fs->o.settle_ms == SETTLE_UNSET ? SETTLE_MS : fs->o.settle_ms;
	int caching = -1;

	fs->netfs = network_fs(fs->backing, point, sizeof(point));
	if (!fs->netfs)
		return 0;
	if (strcmp(fs->netfs, "glusterfs") == 0) {
		caching = gluster_caching(point, mopts, sizeof(mopts), vopts, sizeof(vopts));
	}
	if (caching == 1) {
		char advice[1024];

		snprintf(advice, sizeof(advice), "%s%s%s%s%s", mopts[0] ? "mount it with -o " : "",
			 mopts, mopts[0] && vopts[0] ? " and " : "",
			 vopts[0] ? "set the volume's options off: " : "", vopts);
		fs_log(
		    LOG_WARNING,
		    "the GlusterFS client of %s caches what revfs reads: %s, so that a mount may "
		    "follow another's unmount at once; until then revfs waits %u ms at each "
		    "mount",
		    point, advice, ms);
	}
	if (caching == 0 && fs->o.settle_ms == SETTLE_UNSET)
		ms = 0;
	fs_log(LOG_INFO,
	       "%s is on %s: revfs relies on its fsync, rename and flock reaching every client; "
	       "%s, so it waits %u ms at mount",
	       fs->backing, fs->netfs,
	       caching == 0   ? "this client caches nothing"
	       : caching == 1 ? "this client caches"
			      : "whether its client caches is not known",
	       ms);
	return ms;
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

	sleep_ms(settle_time(fs));
	if (!(fs->sb.ro_compat & NS_FEAT_FENCE))
		return open_ns(fs, 0, &seq) ? -1 : 0;
	rc = ns_fence_read(fs->backing, &fs->sb, &f);
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
	rc = ns_fence_write(fs->backing, &fs->sb, &f);
	if (rc) {
		fs_log(LOG_ERR, "cannot write the fence: %s", st_last_error()->msg);
		return -fs_errno(rc);
	}
	return 0;
}

/*
 * The fence thread. After an unclean end the fence would otherwise say
 * only what the namespace held when the last mount began: a stale view
 * of the namespace, or of a store whose newest commit the namespace
 * records (store_seq), would then be caught only by the settle wait. So
 * each namespace commit is recorded in the fence too, from this thread:
 * its sync is never on an fsync's path, and it comes at most once per
 * flush interval. The fence only ever says what is already committed.
 */
static void *fence_main(void *arg)
{
	struct fs *fs = arg;
	struct timespec until;
	struct st_version v;
	bool failed = false;

	pthread_mutex_lock(&fs->fence_lock);
	for (;;) {
		while (!fs->fence_kicked && !fs->fence_stop)
			pthread_cond_wait(&fs->fence_cv, &fs->fence_lock);
		if (fs->fence_stop)
			break;
		fs->fence_kicked = false;
		pthread_mutex_unlock(&fs->fence_lock);
		st_current(fs->ns, &v);
		if (v.seq > fs->fence_seq) {
			struct ns_fence f = {.gen = fs->fence_gen, .ns_seq = v.seq};
			int rc;

			f.time_ns = st_realtime_ns();
			memcpy(f.uuid, fs->sb.uuid, sizeof(f.uuid));
			rc = ns_fence_write(fs->backing, &fs->sb, &f);
			/* A failure is said once; the next commit tries again. */
			if (rc && !failed)
				fs_log(LOG_ERR, "cannot write the fence: %s", st_last_error()->msg);
			failed = rc != 0;
			pthread_mutex_lock(&fs->fence_lock);
			if (rc == 0) {
				fs->fence_seq = v.seq;
				fs->fence_writes++;
			} else {
				fs->fence_fails++;
			}
		} else {
			pthread_mutex_lock(&fs->fence_lock);
		}
		deadline_in_ms(&until, fs->o.flush_ms);
		while (!fs->fence_stop &&
		       pthread_cond_timedwait(&fs->fence_cv, &fs->fence_lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&fs->fence_lock);
	return NULL;
}

int fence_start(struct fs *fs)
{
	struct st_version v;
	int rc;

	if (fs->o.ro || !(fs->sb.ro_compat & NS_FEAT_FENCE))
		return 0;
	st_current(fs->ns, &v);
	fs->fence_seq = v.seq; /* what fence_mark wrote at the mount */
	cond_init_monotonic(&fs->fence_cv);
	rc = pthread_create(&fs->fence_thread, NULL, fence_main, fs);
	if (rc) {
		pthread_cond_destroy(&fs->fence_cv);
		return -rc;
	}
	fs->fence_running = true;
	return 0;
}

void fence_kick(struct fs *fs)
{
	if (!fs->fence_running)
		return;
	pthread_mutex_lock(&fs->fence_lock);
	fs->fence_kicked = true;
	pthread_cond_signal(&fs->fence_cv);
	pthread_mutex_unlock(&fs->fence_lock);
}

void fence_stop(struct fs *fs)
{
	if (!fs->fence_running)
		return;
	pthread_mutex_lock(&fs->fence_lock);
	fs->fence_stop = true;
	pthread_cond_signal(&fs->fence_cv);
	pthread_mutex_unlock(&fs->fence_lock);
	pthread_join(fs->fence_thread, NULL);
	pthread_cond_destroy(&fs->fence_cv);
	fs->fence_running = false;
}
