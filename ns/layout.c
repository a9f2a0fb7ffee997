/*
 * layout.c - where things are in a backing directory: the folders and
 * names of the file stores, the namespace store, and making, emptying and
 * completing the layout (docs/FORMAT.md, section 19, "Layout").
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsint.h"

static int path_fits(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? st_fail(ST_EINVAL, 0, 0, "path too long") : ST_OK;
}

int ns_store_path(const char *dir, uint64_t ino, char *buf, size_t len)
{
	unsigned x = (unsigned)(ino % NS_FOLDERS);

	if (!dir)
		return path_fits(
		    snprintf(buf, len, "%s/%02x/%llu.rev", NS_INO_DIR, x, (unsigned long long)ino),
		    len);
	return path_fits(
	    snprintf(buf, len, "%s/%s/%02x/%llu.rev", dir, NS_INO_DIR, x, (unsigned long long)ino),
	    len);
}

int ns_folder_path(const char *dir, unsigned x, char *buf, size_t len)
{
	if (!dir)
		return path_fits(snprintf(buf, len, "%s/%02x/", NS_INO_DIR, x), len);
	return path_fits(snprintf(buf, len, "%s/%s/%02x", dir, NS_INO_DIR, x), len);
}

bool ns_store_name_parse(const char *name, uint64_t *ino)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (strcmp(p, ".rev") != 0)
		return false;
	*ino = v;
	return true;
}

const uint8_t *ns_store_id(const struct ns_super *sb, uint64_t ino, uint8_t buf[ST_ID_SIZE])
{
	uint8_t be[8];

	if (!sb || !(sb->incompat & NS_FEAT_DAMAGE))
		return NULL;
	memcpy(buf, sb->uuid, ST_ID_SIZE);
	st_put64(be, ino);
	for (int i = 0; i < 8; i++)
		buf[8 + i] ^= be[i];
	return buf;
}

int ns_store_opts(const struct ns_super *sb, uint64_t ino, struct st_open_opts *o,
		  uint8_t id[ST_ID_SIZE], struct st_key *key)
{
	int rc;

	o->id = ns_store_id(sb, ino, id);
	o->key = NULL;
	if (!sb || !(sb->incompat & NS_FEAT_SEALED))
		return ST_OK;
	/* An encrypted vault: each store sealed under its own key. */
	if (!o->id)
		return st_fail(ST_ECORRUPT, 0, 0, "encrypted vault without store identities");
	if ((rc = ns_key_store(sb, o->id, key)) != ST_OK)
		return rc;
	o->key = key;
	return ST_OK;
}

/* st_open with the store's identity and key added to opts. */
static int open_with_id(const char *path, enum st_kind kind, const struct ns_super *sb,
			uint64_t ino, int flags, const struct st_open_opts *opts, st_store **out)
{
	struct st_open_opts o = {0};
	uint8_t id[ST_ID_SIZE];
	struct st_key key = {{0}};
	int rc;

	if (opts)
		o = *opts;
	if (sb && (sb->incompat & NS_FEAT_ONESYNC) && !(flags & ST_READONLY))
		flags |= ST_ONESYNC;
	if (sb && (sb->incompat & NS_FEAT_INLINE) && kind == ST_KIND_FILE && !(flags & ST_READONLY))
		flags |= ST_INLINE;
	rc = ns_store_opts(sb, ino, &o, id, &key);
	if (rc == ST_OK)
		rc = st_open(path, kind, flags, &o, out);
	memset(&key, 0, sizeof(key));
	return rc;
}

int ns_open(const char *dir, const struct ns_super *sb, int flags, const struct st_open_opts *opts,
	    st_store **out)
{
	char path[4096];
	int rc = path_fits(snprintf(path, sizeof(path), "%s/%s", dir, NS_STORE_NAME), sizeof(path));

	return rc ? rc : open_with_id(path, ST_KIND_KV, sb, 0, flags, opts, out);
}

int ns_file_open(const char *dir, const struct ns_super *sb, uint64_t ino, int flags,
		 const struct st_open_opts *opts, st_store **out)
{
	char path[4096];
	int rc = ns_store_path(dir, ino, path, sizeof(path));

	return rc ? rc : open_with_id(path, ST_KIND_FILE, sb, ino, flags, opts, out);
}

int ns_seal_store(const char *dir, const struct ns_super *sb, uint64_t ino, bool *did)
{
	const struct st_retention all = {.min_count = UINT32_MAX};
	struct st_open_opts o = {0};
	struct st_compact_opts co = {.keep = &all};
	uint8_t id[ST_ID_SIZE];
	struct st_key key;
	char path[4096];
	st_store *st;
	int rc = ino ? ns_store_path(dir, ino, path, sizeof(path))
		     : path_fits(snprintf(path, sizeof(path), "%s/%s", dir, NS_STORE_NAME),
				 sizeof(path));

	*did = false;
	if (rc)
		return rc;
	o.id = ns_store_id(sb, ino, id);
	if (!o.id)
		return st_fail(ST_EINVAL, EINVAL, 0, "stores without identities cannot be sealed");
	{
		struct stat sb_file;

		/* Never committed: nothing in it to seal. */
		if (stat(path, &sb_file) == 0 && sb_file.st_size == 0)
			return ST_OK;
	}
	/* Opened as a plain store: a sealed one says so (ST_EKEY). */
	rc = st_open(path, ino ? ST_KIND_FILE : ST_KIND_KV, 0, &o, &st);
	if (rc == ST_EKEY || (rc == ST_ENOTFOUND && ino))
		return ST_OK;
	if (rc)
		return rc;
	rc = ns_key_store(sb, o.id, &key);
	co.seal = &key;
	if (rc == ST_OK)
		rc = st_compact(st, &co, NULL);
	memset(&key, 0, sizeof(key));
	st_close(st);
	*did = rc == ST_OK;
	return rc;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) != 0)
		rc = st_fail(ST_EIO, errno, 0, "cannot sync %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int ns_folders_make(const char *dir)
{
	char path[4096];
	int rc;

	for (unsigned x = 0; x < NS_FOLDERS; x++) {
		if ((rc = ns_folder_path(dir, x, path, sizeof(path))) != ST_OK)
			return rc;
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return st_fail(errno == ENOSPC ? ST_ENOSPC : ST_EIO, errno, 0,
				       "cannot create %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, NS_INO_DIR);
	return sync_dir(path);
}

int ns_format(const char *dir, const struct ns_super *sb, uint32_t uid, uint32_t gid)
{
	char path[4096];
	struct ns_inode root = {0};
	st_store *ns;
	int rc;

	rc = path_fits(snprintf(path, sizeof(path), "%s/%s", dir, NS_INO_DIR), sizeof(path));
	if (rc)
		return rc;
	if (mkdir(path, 0700) != 0)
		return st_fail(errno == EEXIST ? ST_EEXIST : ST_EIO, errno, 0,
			       "cannot create %s: %s", path, strerror(errno));
	rc = ns_open(dir, sb, ST_CREATE | ST_EXCL, NULL, &ns);
	if (rc)
		return rc;
	root.version = ns_inode_version(sb);
	root.mode = S_IFDIR | 0755;
	root.uid = uid;
	root.gid = gid;
	root.nlink = 2;
	root.parent = NS_ROOT_INO;
	root.atime_ns = root.mtime_ns = root.ctime_ns = root.btime_ns = (int64_t)st_realtime_ns();
	rc = ns_inode_put(ns, NS_ROOT_INO, &root, NULL);
	if (!rc)
		rc = ns_next_ino_put(ns, NS_ROOT_INO + 1);
	if (!rc)
		rc = ns_clean_set(ns, true);
	if (!rc)
		rc = st_commit(ns, NULL);
	if (!rc && (sb->ro_compat & NS_FEAT_FENCE)) {
		struct ns_fence f = {.clean = true, .time_ns = st_realtime_ns()};
		struct st_version v;

		st_current(ns, &v);
		f.ns_seq = v.seq;
		memcpy(f.uuid, sb->uuid, sizeof(f.uuid));
		rc = ns_fence_write(dir, sb, &f);
	}
	st_close(ns);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int ns_wipe(const char *dir)
{
	static const char *files[] = {NS_SUPER_NAME,	     NS_FENCE_NAME,
				      NS_STORE_NAME,	     NS_STORE_NAME ".compact",
				      NS_STORE_NAME ".fsck", NS_SUPER_NAME ".tmp",
				      NS_SUPER_COPY_NAME,    NS_SUPER_COPY_NAME ".tmp"};
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, NS_INO_DIR);
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		return st_fail_errno(errno, "remove", path);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			return st_fail_errno(errno, "remove", path);
	}
	return ST_OK;
}
