/*
 * ns.h - the namespace library: everything a backing directory holds above
 * the store engine. The superblock, the lock file and its note, the
 * records of the namespace store (inodes, directory entries, xattrs,
 * orphans, pins, the graveyard, counters), and where each file's store
 * lives. The daemon, mkfs.revfs, fsck.revfs and revfs-compact use these
 * functions and never build a namespace key or parse superblock bytes
 * themselves: the key layout is private to ns/ (nsint.h). docs/FORMAT.md,
 * section 19, is the byte layout.
 *
 * Errors: the superblock, layout and record functions return ST_OK or a
 * negative st_err, with the details in st_last_error(), as the engine's
 * do. The lock-file and mountinfo functions deal in system calls and
 * return -errno, as each says.
 *
 * Threads and locks: the record functions take an st_store handle of the
 * namespace (kind ST_KIND_KV) and only stage changes on it (st_kv_put and
 * st_kv_del), which the engine serializes under the handle's own staging
 * lock; they keep no state of their own. A caller that needs several
 * records to change together (an entry and its inode) holds its own lock
 * around them: the daemon's fs->ns_lock. Committing is the caller's
 * (st_commit). The lock-file functions use the descriptor they are given
 * and nothing shared.
 */
#ifndef REVFS_NS_H
#define REVFS_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* ---- the backing directory's files ------------------------------------ */

#define NS_SUPER_NAME "revfs.super" /* the superblock */
/* An encrypted vault's copy of it (the wrapped key must survive one
 * damaged block). */
#define NS_SUPER_COPY_NAME "revfs.super.2"
#define NS_STORE_NAME	   "ns.rev"	 /* the namespace store */
#define NS_LOCK_NAME	   ".lock"	 /* flock()ed by the mounted daemon */
#define NS_FENCE_NAME	   "revfs.fence" /* what the next mount must find (ns_fence_*) */
#define NS_INO_DIR	   "ino"	 /* ino/XX/<ino>.rev: one store per regular file */
#define NS_ROOT_INO	   1u		 /* the root directory's inode */
#define NS_NAME_MAX	   255u		 /* longest directory entry or xattr name */

#define NS_FOLDERS 256u /* ino/00 .. ino/ff: a store is in folder ino & 0xff */

/* "DIR/ino/XX/<ino>.rev": the path of inode ino's file store ("ino/XX/<ino>.rev"
 * if dir is NULL). ST_EINVAL if it does not fit in len. */
int ns_store_path(const char *dir, uint64_t ino, char *buf, size_t len);
/* "DIR/ino/XX" for folder x (< NS_FOLDERS); "ino/XX/" if dir is NULL. */
int ns_folder_path(const char *dir, unsigned x, char *buf, size_t len);
/* Whether a file name in a folder is a store, "<ino>.rev" (decimal, no
 * leading zero); *ino its number. Not "<ino>.rev.compact" or ".fsck". */
bool ns_store_name_parse(const char *name, uint64_t *ino);

struct ns_super;

/*
 * The identity of the store of inode ino (0: the namespace store), in buf,
 * for st_open_opts.id: the superblock's uuid with its last 8 bytes XORed
 * with the big-endian ino (docs/FORMAT.md, section 19). NULL if sb is NULL
 * or the backing directory predates identities (no NS_FEAT_DAMAGE).
 */
const uint8_t *ns_store_id(const struct ns_super *sb, uint64_t ino, uint8_t buf[ST_ID_SIZE]);

/*
 * What st_open needs to open the store of inode ino (0: the namespace) of
 * the backing directory sb describes: o->id (ns_store_id, in id) and, for
 * an encrypted vault, o->key (its key, in key). ST_OK, or ST_EKEY if the
 * vault is encrypted and sb is not unlocked. For a program that opens a
 * store by its own path (fsck's copies); ns_open and ns_file_open use it.
 */
int ns_store_opts(const struct ns_super *sb, uint64_t ino, struct st_open_opts *o,
		  uint8_t id[ST_ID_SIZE], struct st_key *key);

/* Opens DIR/ns.rev with st_open's flags (ST_READONLY, ST_CREATE...); sb
 * (may be NULL) gives its identity and, with NS_FEAT_ONESYNC, adds
 * ST_ONESYNC to a writable open (NS_FEAT_INLINE: ST_INLINE to a file
 * store's); opts (may be NULL) the rest. */
int ns_open(const char *dir, const struct ns_super *sb, int flags, const struct st_open_opts *opts,
	    st_store **out);
/*
 * Seals the store of inode ino (0: the namespace) of a vault being
 * encrypted (sb unlocked, NS_FEAT_SEALING): a plain store is compacted
 * into a sealed file keeping every save (st_compact_opts.seal); a sealed
 * one is left as it is. *did says whether it was sealed here. ST_OK (also
 * for a store that is gone), or the store's error.
 */
int ns_seal_store(const char *dir, const struct ns_super *sb, uint64_t ino, bool *did);
/* Opens the file store of inode ino in DIR the same way. */
int ns_file_open(const char *dir, const struct ns_super *sb, uint64_t ino, int flags,
		 const struct st_open_opts *opts, st_store **out);

/*
 * Makes a new backing directory's contents in DIR (which mkfs made or
 * emptied): ino/ and the namespace, holding the root directory (mode 0755,
 * owned by uid and gid), the inode counter and the clean mark, committed,
 * in the form the superblock sb (to be written) says.
 * The superblock is the caller's, written last. ST_EEXIST if ino/ or
 * ns.rev already exist.
 */
int ns_format(const char *dir, const struct ns_super *sb, uint32_t uid, uint32_t gid);
/* Removes what a revfs keeps in DIR: ino/ and everything in it, the
 * namespace, the superblock and their temporary files (not .lock, not
 * other files). ST_OK or st_fail_errno's error. */
int ns_wipe(const char *dir);
/* Makes the folders ino/00 .. ino/ff that are missing and syncs ino/, so
 * that creating a store never needs a directory sync above its own folder.
 * ST_OK, or the error with the path in st_last_error() (sys_errno set). */
int ns_folders_make(const char *dir);

/* ---- superblock: revfs.super -------------------------------------------- */

#define NS_SUPER_VERSION 1u
/* Stores name their identity and each header its position, inode records
 * are version 2 with the store's newest seq (docs/FORMAT.md, section 17). */
#define NS_FEAT_DAMAGE 0x2u
/* Lineage ('L') and vacated-name ('V') records: a path's history goes on
 * across the files that take its place (docs/FORMAT.md, section 19). */
#define NS_FEAT_LINEAGE 0x8u
/* Lineage records keep the owner, group and mode of each version they
 * keep (their second form, docs/FORMAT.md, section 19). */
#define NS_FEAT_VATTR 0x10u
/* Stores may hold one-sync commits (store header incompat bit 0x1, which
 * a program that does not know it cannot read): ns_open and ns_file_open
 * open writable stores with ST_ONESYNC. */
#define NS_FEAT_ONESYNC 0x20u
/* Encrypted: every store is sealed (store header incompat 0x2) under a key
 * derived from the master key, which the superblock keeps wrapped
 * (ns_key_*; docs/FORMAT.md, sections 19 and 20). Needs NS_FEAT_DAMAGE:
 * each store's key comes from its identity. */
#define NS_FEAT_SEALED 0x1u
/* Being encrypted (revfs-tune --encrypt): with NS_FEAT_SEALED, some
 * stores may still be plain. Nothing but revfs-tune --encrypt, which
 * finishes the job, opens the vault meanwhile. */
#define NS_FEAT_SEALING 0x40u
/* File stores may keep a small file's content and attributes in their
 * headers (store header incompat bit 0x4, which a program that does not
 * know it cannot read): ns_file_open opens writable ones with ST_INLINE. */
#define NS_FEAT_INLINE 0x4u
#define NS_SUPER_INCOMPAT_KNOWN                                                                    \
	(NS_FEAT_SEALED | NS_FEAT_DAMAGE | NS_FEAT_LINEAGE | NS_FEAT_VATTR | NS_FEAT_ONESYNC |     \
	 NS_FEAT_SEALING | NS_FEAT_INLINE)
/* The fence file revfs.fence says what the next mount must find at least
 * (a vault on a distributed filesystem); programs that do not keep it up
 * to date may only read. */
#define NS_FEAT_FENCE		 0x1u
#define NS_SUPER_RO_COMPAT_KNOWN NS_FEAT_FENCE
/* The superblock keeps a reserve and a history budget (compat: a program
 * that does not know them ignores them, and nothing is lost). */
#define NS_FEAT_SPACE	0x1u
#define NS_LABEL_MAX	63u
#define NS_KEEP_MAX	127u
#define NS_KEEP_DEFAULT "all:1h,hourly:1d,daily:30d,min:10"

/* How the master key is wrapped: the key-encryption key comes from a
 * passphrase (scrypt or PBKDF2-HMAC-SHA256) or a key file. */
enum ns_kdf { NS_KDF_SCRYPT = 1, NS_KDF_PBKDF2 = 2, NS_KDF_KEYFILE = 3 };
#define NS_SALT_SIZE  32u
#define NS_CHECK_SIZE 16u
struct ns_keyslot {
	uint8_t kdf;   /* enum ns_kdf */
	uint64_t n;    /* scrypt's N, or PBKDF2's iterations */
	uint32_t r, p; /* scrypt's r and p */
	uint8_t salt[NS_SALT_SIZE];
	uint8_t nonce[ST_NONCE_SIZE];
	uint8_t wrapped[ST_KEY_SIZE]; /* the master key, sealed with AES-256-GCM */
	uint8_t tag[ST_TAG_SIZE];
	uint8_t check[NS_CHECK_SIZE]; /* tells a recovery key right from wrong */
};

struct ns_super {
	uint32_t version;		      /* format version of the backing directory */
	uint32_t compat, ro_compat, incompat; /* feature bits; none defined yet */
	uint8_t uuid[16];		      /* random, made by mkfs */
	uint64_t created_ns;		      /* when mkfs ran */
	uint32_t flush_ms;		      /* default flush interval */
	char label[NS_LABEL_MAX + 1];	      /* NUL-terminated, may be empty */
	char keep[NS_KEEP_MAX + 1];	      /* default retention rule, st_retention_parse text */
	uint64_t reserve;		      /* NS_FEAT_SPACE: free space kept for live data */
	uint64_t history_max;		      /* ... the most history may take (ns_space_*) */
	struct ns_keyslot slot;		      /* NS_FEAT_SEALED: the wrapped master key */
	/* In memory only: the master key, once ns_key_unlock (or
	 * ns_key_create) found it. Every store opened through ns_open and
	 * ns_file_open is then sealed with its own key. */
	bool unlocked;
	uint8_t master[ST_KEY_SIZE];
};

/*
 * A space setting (the reserve, the history budget) as the superblock and
 * the options keep it: 0 none (the default), bytes, or with NS_SPACE_PCT
 * set hundredths of a percent of the backing filesystem.
 */
#define NS_SPACE_PCT (1ull << 63)
/* "4096", "512M", "2G", "1T" (binary units), "5%", "2.5%" or "0" into *out.
 * ST_OK or ST_EINVAL. */
int ns_space_parse(const char *text, uint64_t *out);
/* Bytes of a setting on a filesystem of total bytes (0 stays 0). */
uint64_t ns_space_bytes(uint64_t v, uint64_t total);
/* Its text, as ns_space_parse takes it ("0" for none). */
void ns_space_format(uint64_t v, char *buf, size_t len);

/* Fills sb with defaults and a fresh random uuid. */
void ns_super_init(struct ns_super *sb);
/* Whether this build may write the backing directory: no ro_compat bit it
 * does not know (ns_super_decode already refused unknown incompat bits). */
static inline bool ns_super_writable(const struct ns_super *sb)
{
	return (sb->ro_compat & ~NS_SUPER_RO_COMPAT_KNOWN) == 0;
}
/* The uuid as 36 characters and a NUL. */
void ns_super_uuid_str(const struct ns_super *sb, char out[37]);
/* Encodes into buf (at least NS_SUPER_SIZE bytes); returns the length or ST_EINVAL. */
#define NS_SUPER_SIZE 512u
int ns_super_encode(const struct ns_super *sb, uint8_t *buf, size_t len);
/* ST_OK, ST_ENOTFOUND (no magic: not a revfs), ST_ECORRUPT, ST_EVERSION. */
int ns_super_decode(const uint8_t *buf, size_t len, struct ns_super *sb);
/* Reads DIR/revfs.super: the errors of ns_super_decode, ST_EIO. */
int ns_super_read(const char *dir, struct ns_super *sb);
/* An encrypted vault's two copies (revfs.super, revfs.super.2): whether
 * each reads whole, and the copy also whether its key slot is the
 * superblock's. fsck writes both anew when one is not. */
int ns_super_copies(const char *dir, bool *main_ok, bool *copy_ok);
/* Writes DIR/revfs.super durably (temp file, fsync, rename, directory fsync). */
int ns_super_write(const char *dir, const struct ns_super *sb);
/*
 * For a superblock that does not decode: fills sb with ns_super_init's
 * defaults, then keeps from DIR/revfs.super's bytes, field by field, what
 * still reads as sane (a version-4 uuid, a printable label, a retention
 * rule that parses). Never fails: what cannot be read stays a default.
 */
void ns_super_salvage(const char *dir, struct ns_super *sb);

/* ---- the lock file: .lock and the daemon's note in it ------------------- */

/*
 * Opens DIR/.lock: read-write and created if missing, or, with readonly,
 * read-only and never created (a check that must not write). Returns the
 * descriptor, or -errno (-ENOENT: readonly and no daemon ever made it).
 */
int ns_lock_open(const char *dir, bool readonly);

/* How long ns_lock_take waits, in ticks of 100 ms. */
struct ns_lock_wait {
	unsigned live_ticks;	/* while the note names a daemon serving a mount (it
				 * may not have noticed an unmount yet) */
	unsigned leaving_ticks; /* while the holder is on its way out */
	unsigned empty_ticks;	/* while the note is empty (being rewritten) */
	/* Called once, when the wait for a daemon on its way out has lasted
	 * quiet_ticks (NULL: nothing said): a short wait goes unsaid. */
	void (*waiting)(void *arg, const char *note);
	unsigned quiet_ticks;
	/* Polled each tick; true ends the wait (NULL: never). */
	bool (*canceled)(void *arg);
	void *arg;
};

enum ns_lock_result {
	NS_LOCK_TAKEN = 0,    /* the flock is ours until the descriptor closes */
	NS_LOCK_MOUNTED = 1,  /* a daemon serving a mount holds it */
	NS_LOCK_TIMEOUT = 2,  /* a daemon on its way out still held it at the end */
	NS_LOCK_CANCELED = 3, /* w->canceled said so */
};

/*
 * Takes the flock on fd (from ns_lock_open), waiting as w says for a daemon
 * that is finishing its unmount. note (len bytes, may be NULL) receives the
 * holder's last note, one line. Returns an ns_lock_result, or -errno if
 * flock itself failed.
 */
int ns_lock_take(int fd, const struct ns_lock_wait *w, char *note, size_t len);

/* Reads the note, one line without its newline ("" if none). */
void ns_lock_note_read(int fd, char *note, size_t len);
/* Replaces the note ("pid N on MNT\n", "closing\n", ""). 0 or -errno. */
int ns_lock_note_write(int fd, const char *note);

/*
 * Whether the daemon holding the lock is on its way out, from its note:
 * "closing" (committing after its unmount), empty (being rewritten), or
 * "pid N on MNT" with MNT no longer mounted here (fusermount3 -u returns
 * before the daemon has noticed).
 */
bool ns_lock_leaving(const char *note);

/* ---- mounts: one reader of /proc/self/mountinfo -------------------------- */

struct ns_mount {
	unsigned major, minor; /* the device */
	const char *root;      /* the mount's root within its filesystem */
	const char *point;     /* the mount point, unescaped */
	const char *fstype;    /* e.g. "fuse.revfs" */
	const char *source;    /* e.g. a revfs mount's backing directory, unescaped */
};
/*
 * Calls cb for each mount of this process's namespace, in mountinfo's
 * order; cb returns 0 to go on, anything else to stop (then returned).
 * The strings are valid during the call only. -errno if mountinfo cannot
 * be read.
 */
int ns_mounts(int (*cb)(void *arg, const struct ns_mount *m), void *arg);
/* Whether path is the mount point of a revfs mount (the top one if
 * several are stacked); if so, *backing receives its backing directory. */
bool ns_revfs_mount(const char *path, char *backing, size_t len);

/* ---- encryption: the master key (key.c) ----------------------------------- */

/* The default passphrase KDF: scrypt with N = 2^17, r = 8, p = 1 (128 MiB,
 * about three quarters of a second on a 2-core machine). */
#define NS_SCRYPT_N    131072u
#define NS_SCRYPT_R    8u
#define NS_SCRYPT_P    1u
#define NS_KEYFILE_MIN 32u /* a key file holds at least this many bytes */
/* The recovery key's text: 64 hex digits in 8 groups of 8, and a NUL. */
#define NS_RECOVERY_TEXT 72u

/*
 * The KDF of a new wrapping, from a program's options: a key file's, else
 * kdf's (NS_KDF_SCRYPT or NS_KDF_PBKDF2) with the parameters given (a
 * false given[i]: n, r, p take the default) into *out. ST_OK, or ST_EINVAL
 * with what is wrong (scrypt's N not a power of 2, r or p 0; PBKDF2 with
 * r or p, or no iterations).
 */
int ns_kdf_params(bool key_file, enum ns_kdf kdf, uint64_t n, uint32_t r, uint32_t p,
		  const bool given[3], struct ns_keyslot *out);

/*
 * Makes sb an encrypted vault's: a random master key, wrapped under the
 * key derived from secret (len bytes) as slot->kdf, n, r and p say (its
 * salt made here); sets NS_FEAT_SEALED and leaves sb unlocked. ST_OK,
 * ST_EINVAL (parameters), ST_EIO.
 */
int ns_key_create(struct ns_super *sb, const struct ns_keyslot *params, const void *secret,
		  size_t len);
/* Unwraps the master key with secret: ST_OK (sb unlocked), ST_EKEY (the
 * wrong passphrase or key file), ST_EINVAL (not encrypted), ST_EIO. */
int ns_key_unlock(struct ns_super *sb, const void *secret, size_t len);
/* Wraps the (unlocked) master key anew under secret, with params' KDF and
 * a fresh salt: a passphrase change that rewrites no data. The caller
 * writes the superblock. */
int ns_key_rewrap(struct ns_super *sb, const struct ns_keyslot *params, const void *secret,
		  size_t len);
/* The recovery key: the master key as text, and back. ns_key_recover
 * unlocks sb with it (ST_EKEY if it is not this vault's). */
void ns_key_recovery_text(const struct ns_super *sb, char out[NS_RECOVERY_TEXT]);
int ns_key_recover(struct ns_super *sb, const char *text);
/* The key of the store whose identity is id (sb unlocked). */
int ns_key_store(const struct ns_super *sb, const uint8_t id[ST_ID_SIZE], struct st_key *out);
/* Forgets the master key. */
void ns_key_forget(struct ns_super *sb);

/*
 * A passphrase into buf (at most cap - 1 bytes, NUL-terminated, the
 * newline dropped): from fd if fd >= 0 (its first line), else from the
 * terminal without echo, after prompt. ST_OK, ST_EINVAL (empty, too long,
 * or no terminal), ST_EIO.
 */
int ns_passphrase_read(int fd, const char *prompt, char *buf, size_t cap, size_t *len);
/* A key file's bytes (at least NS_KEYFILE_MIN, at most cap). */
int ns_keyfile_read(const char *path, uint8_t *buf, size_t cap, size_t *len);

/* Where a program gets the secret that wraps the master key. */
struct ns_secret_src {
	const char *key_file; /* a key file, or NULL: a passphrase ... */
	int fd;		      /* ... read from this descriptor, or -1: the terminal */
};
#define NS_SECRET_MAX 1024u
/* The secret from src into buf (NS_SECRET_MAX bytes): a key file's bytes,
 * or a passphrase, asked on the terminal after prompt (and asked again to
 * confirm if confirm). ST_OK, or ST_EINVAL / ST_EIO with the reason. */
int ns_secret_read(const struct ns_secret_src *src, const char *prompt, bool confirm, uint8_t *buf,
		   size_t *len);
/* Unlocks sb with the secret from src: its kind (key file or passphrase)
 * must be the slot's. ST_OK, ST_EKEY (wrong), ST_EINVAL, ST_EIO. */
int ns_key_unlock_from(struct ns_super *sb, const struct ns_secret_src *src, const char *dir);

/* ---- the fence: what the next mount must find ----------------------------- */

/*
 * Written when a daemon mounts (not clean) and when it unmounts cleanly
 * (clean, with the namespace's newest commit), and read before the
 * namespace at every mount. Its file is larger than any client cache
 * keeps whole (GlusterFS's quick-read: 1 MiB at most) and read with
 * O_DIRECT, so that a distributed filesystem's client serves it fresh
 * where it may serve the stores stale (docs/FORMAT.md, section 19).
 */
struct ns_fence {
	bool clean;	 /* the last daemon unmounted cleanly */
	uint64_t gen;	 /* +1 at each mount */
	uint64_t ns_seq; /* clean: the namespace's newest commit then; else at the mount */
	uint64_t time_ns;
	uint8_t uuid[16]; /* the superblock's */
};
/* ST_OK, ST_ENOTFOUND (no fence), ST_ECORRUPT, or an I/O error. */
int ns_fence_read(const char *dir, const struct ns_super *sb, struct ns_fence *f);
/* Writes and syncs it in place (made whole, and the directory synced, the
 * first time). */
int ns_fence_write(const char *dir, const struct ns_super *sb, const struct ns_fence *f);

/* ---- records of the namespace store ------------------------------------- */

/* An inode record: the truth about a file's current attributes. */
struct ns_inode {
	uint8_t version; /* record version: 1, or 2 (with store_seq) */
	uint32_t mode, uid, gid, nlink;
	uint32_t flags; /* none defined yet */
	uint64_t size;	/* bytes; a symlink's target length; 0 for directories */
	uint64_t rdev;	/* device number of a device node */
	int64_t atime_ns, mtime_ns, ctime_ns, btime_ns; /* ns since the epoch */
	uint64_t parent; /* a directory's parent (itself for the root); else 0 */
	/* Version 2, regular files: the newest commit seq of the file's store
	 * that the namespace knows; 0 if it has none yet. A store older than
	 * this is damage. */
	uint64_t store_seq;
	/* Version 2, regular files: the live bytes (data and tree) of that
	 * commit, what st_blocks reports without opening the store. */
	uint64_t store_bytes;
};

/*
 * A file version's attributes, kept in its store with the version
 * (st_file_set_meta; docs/FORMAT.md, section 19, "Version attributes"), so
 * that they stay known as long as the version does: its owner, group and
 * mode, those of the directories that led to it when it was committed (its
 * parent first, up to the root), and its xattrs.
 */
struct ns_perm {
	uint32_t mode, uid, gid;
};
struct ns_meta_xattr {
	const char *name; /* nlen bytes, not NUL-terminated */
	size_t nlen;
	const void *val;
	size_t vlen;
};
struct ns_meta {
	struct ns_perm self;
	bool gate_known;   /* the directories were recorded (gate) */
	bool xattrs_known; /* the xattrs were (too many to keep: not) */
	uint32_t ngate, nx;
	struct ns_perm *gate;	 /* ngate, the parent first */
	struct ns_meta_xattr *x; /* nx, in name order */
};
#define NS_META_GATE_MAX 4096u /* directories a path may be deep and recorded */
/* Encodes m: *buf malloc()ed. When the xattrs would not fit in
 * ST_META_MAX, they are left out (xattrs_known false). */
int ns_meta_encode(const struct ns_meta *m, void **buf, size_t *len);
/* Decodes buf (trusted for nothing): m's arrays are malloc()ed and point
 * into buf, which must outlive m. ST_ECORRUPT or ST_EVERSION if bad. */
int ns_meta_decode(const void *buf, size_t len, struct ns_meta *m);
void ns_meta_free(struct ns_meta *m); /* the arrays of a decoded m */

/* The record version the backing directory of superblock sb uses. */
static inline uint8_t ns_inode_version(const struct ns_super *sb)
{
	return sb && (sb->incompat & NS_FEAT_DAMAGE) ? 2 : 1;
}

/* The DT_* type an entry records for a file of this mode. */
static inline uint8_t ns_dtype(uint32_t mode)
{
	return (uint8_t)((mode & 0170000u) >> 12);
}

/*
 * Inode ino's record. If target is not NULL, *target receives a symlink's
 * target (malloc()ed, NUL-terminated; NULL for other files). ST_ENOTFOUND,
 * ST_ECORRUPT or ST_EVERSION (a record that does not decode), ST_ENOMEM,
 * or the store's read errors.
 */
int ns_inode_get(st_store *ns, uint64_t ino, struct ns_inode *a, char **target);
/* Stages inode ino's record; target is a symlink's (NULL otherwise). */
int ns_inode_put(st_store *ns, uint64_t ino, const struct ns_inode *a, const char *target);
int ns_inode_del(st_store *ns, uint64_t ino);
/* Each inode record, by inode number; one that does not decode is skipped
 * (fsck's to report). As ns_dirent_list. */
int ns_inode_list(st_store *ns, int (*cb)(void *arg, uint64_t ino, const struct ns_inode *a),
		  void *arg);

/* Entry name (NUL-terminated, 1..NS_NAME_MAX bytes) of directory dir. */
int ns_dirent_get(st_store *ns, uint64_t dir, const char *name, uint64_t *ino, uint8_t *type);
int ns_dirent_put(st_store *ns, uint64_t dir, const char *name, uint64_t ino, uint8_t type);
int ns_dirent_del(st_store *ns, uint64_t dir, const char *name);
/*
 * Calls cb for each entry of dir in name order (by bytes), staged changes
 * included; an entry whose value does not decode is skipped (fsck reports
 * it). name is NUL-terminated, nlen long. cb returns 0 to go on, anything
 * else to stop, which is then returned.
 */
typedef int (*ns_dirent_cb)(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type);
int ns_dirent_list(st_store *ns, uint64_t dir, ns_dirent_cb cb, void *arg);
/* ST_OK if directory dir has no entries, ST_EEXIST if it has one, or an error. */
int ns_dir_empty(st_store *ns, uint64_t dir);

/* Extended attribute name (NUL-terminated) of inode ino; the value is
 * malloc()ed for ns_xattr_get. */
int ns_xattr_get(st_store *ns, uint64_t ino, const char *name, void **val, size_t *vlen);
int ns_xattr_put(st_store *ns, uint64_t ino, const char *name, const void *val, size_t vlen);
int ns_xattr_del(st_store *ns, uint64_t ino, const char *name);
/* Each xattr of ino in name order; the name is NUL-terminated. As ns_dirent_list. */
typedef int (*ns_xattr_cb)(void *arg, const char *name, size_t nlen, const void *val, size_t vlen);
int ns_xattr_list(st_store *ns, uint64_t ino, ns_xattr_cb cb, void *arg);

/* Orphans: files with no links left, still open at the time. */
int ns_orphan_put(st_store *ns, uint64_t ino);
int ns_orphan_del(st_store *ns, uint64_t ino);
/* Each orphan, by inode number; as ns_dirent_list. */
int ns_orphan_list(st_store *ns, int (*cb)(void *arg, uint64_t ino), void *arg);

/* Pins: versions of a file that no retention rule drops. */
int ns_pin_put(st_store *ns, uint64_t ino, uint64_t seq);
int ns_pin_del(st_store *ns, uint64_t ino, uint64_t seq);
/* ST_OK if version seq of ino is pinned, else ST_ENOTFOUND. */
int ns_pin_get(st_store *ns, uint64_t ino, uint64_t seq);
/* Each pin of ino (0: of every inode), by inode then seq; as ns_dirent_list. */
int ns_pin_list(st_store *ns, uint64_t ino, int (*cb)(void *arg, uint64_t ino, uint64_t seq),
		void *arg);

/*
 * The graveyard: a deleted regular file's store, kept for the namespace
 * versions that still name it. seq is the first namespace version surely
 * without the file (the store goes once no older version is kept), time_ns
 * when it was deleted.
 */
int ns_grave_put(st_store *ns, uint64_t ino, uint64_t seq, uint64_t time_ns);
int ns_grave_del(st_store *ns, uint64_t ino);
/* Each grave, by inode number; a malformed one is skipped (fsck's to report). */
int ns_grave_list(st_store *ns, int (*cb)(void *arg, uint64_t ino, uint64_t seq, uint64_t time_ns),
		  void *arg);

/*
 * Lineage: regular file ino took the place of file pred at its path (pred
 * was renamed over, or its name was vacated before ino took it) at cut_ns;
 * pred's versions committed up to cut_ns are part of that path's history,
 * and pred's own lineage goes on from there. ST_ENOTFOUND if none.
 */
int ns_lineage_get(st_store *ns, uint64_t ino, uint64_t *pred, uint64_t *cut_ns);
/* One of the predecessor's versions, as its successor's record may keep
 * them (so that a listing need not open the predecessor's store). */
struct ns_linver {
	uint64_t seq, time_ns, size, offset;
	struct ns_perm perm; /* its owner, group and mode, if perm_known */
	bool perm_known;     /* (the second form only) */
	bool has_xattrs;     /* with perm_known: it has xattrs */
};
/* The form of lineage record the backing directory of sb writes: 2 (with
 * each version's owner, group and mode) with NS_FEAT_VATTR, else 1. */
static inline int ns_lineage_form(const struct ns_super *sb)
{
	return sb && (sb->incompat & NS_FEAT_VATTR) ? 2 : 1;
}
#define NS_LINVER_MAX 8000u /* versions a record keeps at most (the newest) */
/* Stages the record in form 1 or 2 (ns_lineage_form); v (newest first, n
 * of them, may be NULL) are the predecessor's versions up to the cut. A
 * reader takes either form. */
int ns_lineage_put(st_store *ns, int form, uint64_t ino, uint64_t pred, uint64_t cut_ns,
		   const struct ns_linver *v, size_t n);
/* The versions record ino keeps, malloc()ed in *v (NULL and 0 if none:
 * then the predecessor's store says). */
int ns_lineage_versions(st_store *ns, uint64_t ino, struct ns_linver **v, size_t *n);
int ns_lineage_del(st_store *ns, uint64_t ino);
/* Each lineage record, by inode; a malformed one is skipped. */
int ns_lineage_list(st_store *ns,
		    int (*cb)(void *arg, uint64_t ino, uint64_t pred, uint64_t cut_ns), void *arg);

/*
 * A vacated name: entry name (NUL-terminated) of directory dir held regular
 * file ino until time_ns, when it was unlinked or renamed away. The next
 * regular file to take the name takes up ino's history (a lineage record)
 * and the mark goes. ST_ENOTFOUND if none.
 */
int ns_vacated_get(st_store *ns, uint64_t dir, const char *name, uint64_t *ino, uint64_t *time_ns);
int ns_vacated_put(st_store *ns, uint64_t dir, const char *name, uint64_t ino, uint64_t time_ns);
int ns_vacated_del(st_store *ns, uint64_t dir, const char *name);
/* Removes every vacated name of directory dir (which goes). */
int ns_vacated_clear(st_store *ns, uint64_t dir);
/* Each vacated name, by directory then name; a malformed one is skipped. */
int ns_vacated_list(st_store *ns,
		    int (*cb)(void *arg, uint64_t dir, const char *name, size_t nlen, uint64_t ino,
			      uint64_t time_ns),
		    void *arg);

/* The inode counter: the next inode number to hand out. ST_ENOTFOUND if
 * missing, ST_ECORRUPT if malformed. */
int ns_next_ino_get(st_store *ns, uint64_t *next);
int ns_next_ino_put(st_store *ns, uint64_t next);
/* The clean mark: set at a clean unmount, cleared at mount. ST_OK if set,
 * ST_ENOTFOUND if not. */
int ns_clean_get(st_store *ns);
int ns_clean_set(st_store *ns, bool clean);

/* ---- every record, for fsck --------------------------------------------- */

enum ns_rec_kind {
	NS_REC_INODE,	   /* ino, inode (decode_rc says whether it decoded) */
	NS_REC_DIRENT,	   /* ino (the directory), name, child, type */
	NS_REC_XATTR,	   /* ino, name (may hold NULs), value */
	NS_REC_ORPHAN,	   /* ino */
	NS_REC_PIN,	   /* ino, seq */
	NS_REC_GRAVE,	   /* ino, seq, time_ns */
	NS_REC_LINEAGE,	   /* ino, child (the predecessor), time_ns (the cut) */
	NS_REC_VACATED,	   /* ino (the directory), name, child (the file), time_ns */
	NS_REC_NEXT_INO,   /* next_ino */
	NS_REC_CLEAN,	   /* the clean mark */
	NS_REC_META_OTHER, /* a counter this build does not know (a newer daemon's) */
	NS_REC_BAD,	   /* a malformed key or value: why says what */
};

struct ns_rec {
	enum ns_rec_kind kind;
	uint64_t ino;	  /* the key's inode: a directory's for an entry */
	const char *name; /* entry or xattr name, nlen bytes (not NUL-terminated) */
	size_t nlen;
	struct ns_inode inode; /* NS_REC_INODE, if decode_rc is ST_OK */
	int decode_rc;	       /* NS_REC_INODE: ST_OK, ST_ECORRUPT or ST_EVERSION */
	const char *target;    /* a symlink's target, tlen bytes */
	size_t tlen;
	uint64_t child;	       /* NS_REC_DIRENT: the inode it names */
	uint8_t type;	       /* NS_REC_DIRENT: its DT_ type */
	uint64_t seq, time_ns; /* NS_REC_PIN, NS_REC_GRAVE */
	uint64_t next_ino;     /* NS_REC_NEXT_INO */
	const void *val;       /* the raw value (NS_REC_XATTR's value) */
	size_t vlen;
	const char *why;   /* NS_REC_BAD */
	unsigned key_type; /* the key's type byte (for messages; 0 if none) */
	const void *key;   /* the raw key, for ns_key_del */
	size_t klen;
};

/*
 * Calls cb for every record of the namespace in key order, classified and
 * decoded; a record that does not fit its kind comes as NS_REC_BAD. The
 * pointers are valid during the call only. cb returns 0 to go on.
 */
int ns_walk(st_store *ns, int (*cb)(void *arg, const struct ns_rec *r), void *arg);
/* Stages the removal of a record by its raw key (from ns_walk). */
int ns_key_del(st_store *ns, const void *key, size_t klen);

#endif /* REVFS_NS_H */
