/*
 * internal.h - private to store/: the on-disk constants, byte-order helpers
 * and the structs behind the opaque handles. Outside store/, include only
 * store.h; if you need something from here, add a function to store.h.
 */
#ifndef REVFS_STORE_INTERNAL_H
#define REVFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

/* ---- on-disk constants (docs/FORMAT.md) ------------------------------ */

#define BLOCK_SIZE  4096u
#define MARK_DATA   0x00 /* block begins with (the continuation of) data */
#define MARK_HEADER 0x01 /* block begins with a committed header */

#define REC_HDR_SIZE 8u		/* u32 length, u32 st_crc32c */
#define REC_MAX_LEN  (8u << 20) /* longest payload a reader accepts */
#define REC_DATA     1
#define REC_LEAF     2
#define REC_INTERIOR 3
#define REC_HEADER   4
#define REC_META     5 /* a file store's attributes (FEAT_RO_META) */

#define HDR_MAGIC	 0x52565354u /* "RVST" */
#define FORMAT_VERSION	 1
#define HDR_PAYLOAD_SIZE 128u
#define HDR_NONE	 UINT64_MAX /* no previous header */
/* Feature bits. An unknown incompat bit refuses to open, an unknown
 * ro_compat bit opens read-only, compat bits are ignored. */
#define FEAT_RO_SELF	 0x1u /* the header names its position and store */
#define FEAT_RO_META	 0x2u /* the header points at the file's attributes */
#define FEAT_COMPAT_KIND 0x1u /* byte 20 says save (0) or interim (1) */
/* Committed by one sync, without a marker flip: the header carries the
 * CRC32C of its commit region, which recovery checks (docs/FORMAT.md). */
#define FEAT_IN_ONESYNC 0x1u
/* Sealed: every record and header is sealed with AES-256-GCM under the
 * store's key (docs/FORMAT.md, section 20). Every header of the store. */
#define FEAT_IN_SEALED 0x2u
/* Inline: a header may carry an inline area after its 128 bytes (a small
 * file's content, its attributes), and names the previous header's area
 * length (docs/FORMAT.md, section 7). Once set, every later header. */
#define FEAT_IN_INLINE	     0x4u
#define FEAT_INCOMPAT_KNOWN  (FEAT_IN_ONESYNC | FEAT_IN_SEALED | FEAT_IN_INLINE)
#define FEAT_RO_COMPAT_KNOWN (FEAT_RO_SELF | FEAT_RO_META)
#define META_HEAD	     4u /* type, 3 reserved: then the user's bytes */

#define DATA_HEAD_FIXED 12u  /* type, flags, reserved, npages, tail */
#define ST_EXTENT_PAGES 256u /* pages per data record at most (1 MiB) */
#define EXT_VAL_SIZE	24u  /* file-store tree value: one extent */
#define PAGE_KEY_SIZE	8u   /* file-store tree key: page number */
/* A staged extent with rec 0 is a hole (st_file_punch): its pages leave the
 * tree at commit. Never written: a record is never at offset 0. */
#define HOLE_MAX_PAGES (1u << 30)

#define NODE_HDR_SIZE  4u    /* type, level, u16 count */
#define NODE_TARGET    4000u /* nodes are split to be about this size (at most twice) */
#define TREE_MAX_LEVEL 24u   /* deeper than any real tree; bounds recursion */

_Static_assert(REC_HDR_SIZE + HDR_PAYLOAD_SIZE < BLOCK_SIZE - 1, "a header fits in its block");
_Static_assert(DATA_HEAD_FIXED == 1 + 1 + 2 + 4 + 4, "data record head");
_Static_assert(EXT_VAL_SIZE == 8 + 4 + 4 + 4 + 4, "extent value");
_Static_assert(ST_META_MAX == REC_MAX_LEN - META_HEAD, "attributes fit a record");

/* ---- crc32c.c ---------------------------------------------------------- */

uint32_t st_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* st_crc32c(0, p[i], len) for i in 0..3, faster than one at a time. */
void st_crc32c_x4(const uint8_t *const p[4], size_t len, uint32_t out[4]);

/* ---- format.c: encoders and decoders, each over (buf, len) ----------- */

/* A decoded header (the payload of a REC_HEADER record). */
struct hdr {
	uint16_t version;
	uint8_t kind;
	uint32_t compat, ro_compat, incompat;
	uint64_t seq;
	uint64_t time_ns;
	uint64_t size;
	uint64_t mtime_ns;
	uint64_t root;		/* offset of the root node record; 0 = empty tree */
	uint64_t root_count;	/* reduce of the whole tree: entries */
	uint64_t root_bytes;	/* reduce of the whole tree: live bytes */
	uint64_t prev;		/* offset of the previous header's block, or HDR_NONE */
	uint8_t commit_kind;	/* ST_SAVE or ST_INTERIM (FEAT_COMPAT_KIND) */
	uint64_t self;		/* FEAT_RO_SELF: the position it was written at */
	uint8_t id[ST_ID_SIZE]; /* FEAT_RO_SELF: the store's identity */
	uint64_t meta;		/* FEAT_RO_META: the attributes record, 0 none, or
				 * pos | META_AREA: in the header's area */
	uint32_t region_crc;	/* FEAT_IN_ONESYNC: CRC32C of the commit region */
	uint16_t prev_area;	/* FEAT_IN_INLINE: area_len of the header at prev */
	uint64_t pos;		/* where this header's block starts (not stored) */
	/* Its inline area (FEAT_IN_INLINE), as read: not part of the fixed
	 * payload. The body's bytes are read with st_header_area. */
	uint16_t area_len;  /* bytes on disk after the fixed payload; 0: none */
	uint8_t area_flags; /* AREA_CONTENT, AREA_ATTRS */
	uint32_t attr_len;  /* AREA_ATTRS: bytes of attributes in the body */
	uint32_t area_crc;  /* CRC32C of the body as on disk */
};

/* The inline area: a head in the clear, then the body: the attributes and
 * the content, sealed as one in a sealed store. The header's crc covers
 * the head, which lies in the block's first sector with the fixed payload;
 * the body has its own crc, so a body torn by a crash is told from damage
 * the way a one-sync commit region is. */
#define AREA_HEAD    12u  /* u8 flags, 3 reserved, u32 attr_len, u32 body crc */
#define AREA_CONTENT 0x1u /* the file's content: `size` bytes; root is 0 */
#define AREA_ATTRS   0x2u /* the attributes in effect; meta is 0 on disk */
/* In memory, a header's meta for attributes in its own area: its position
 * with this bit, never 0 and never a record's position. */
#define META_AREA (1ull << 63)

/* Physical end of the header record whose block starts at pos. */
#define HDR_REC_END (1 + REC_HDR_SIZE + HDR_PAYLOAD_SIZE)
/* A sealed header's payload: its type byte, then the other 127 bytes
 * sealed (nonce, ciphertext, tag). */
#define HDR_SEALED_SIZE (HDR_PAYLOAD_SIZE + ST_SEAL_OVERHEAD)
#define HDR_SEALED_END	(1 + REC_HDR_SIZE + HDR_SEALED_SIZE)
_Static_assert(HDR_SEALED_END < BLOCK_SIZE, "a sealed header fits in its block");

/* The end of the header at pos (HDR_NONE: none, 0): where appends after it
 * go, and where the commit region of the header that follows it begins
 * (that region ends at the later header's block). */
static inline uint64_t hdr_region_start(uint64_t pos, bool sealed, uint16_t area_len)
{
	return pos == HDR_NONE ? 0 : pos + (sealed ? HDR_SEALED_END : HDR_REC_END) + area_len;
}
/* Where h's own commit region begins: the end of the header before it. */
static inline uint64_t hdr_prev_end(const struct hdr *h, bool sealed)
{
	return hdr_region_start(h->prev, sealed, h->prev_area);
}
/* The largest content kept inline: a header with its area head and
 * sealed body fits its block. A file of at most this many bytes, whose
 * attributes fit beside it, is committed in its header. */
#define INLINE_MAX (BLOCK_SIZE - HDR_SEALED_END - AREA_HEAD - ST_SEAL_OVERHEAD)
_Static_assert(INLINE_MAX == 3891, "store.h says ST_INLINE keeps up to 3891 bytes");
/* The longest area on disk after a fixed payload of fixed bytes. */
#define AREA_MAX(fixed) (BLOCK_SIZE - 1 - REC_HDR_SIZE - (fixed))

void st_hdr_encode(const struct hdr *h, uint8_t out[HDR_PAYLOAD_SIZE]);
/* Returns ST_OK, ST_ECORRUPT (bad type/magic/field) or ST_EVERSION. */
int st_hdr_decode(const uint8_t *buf, size_t len, struct hdr *h);
/* Checks the area head a (AREA_HEAD bytes) of header h (decoded), whose
 * area takes len bytes on disk in a store sealed or not, and fills h's
 * area fields. ST_OK or ST_ECORRUPT. */
int st_area_decode(const uint8_t *a, size_t len, bool sealed, struct hdr *h);
/* Writes an area head. */
void st_area_head(uint8_t out[AREA_HEAD], unsigned flags, uint32_t attr_len, uint32_t crc);

/* A file-store extent: pages [page, page + npages) of the file live in
 * pages [rec_first, rec_first + npages) of the data record at rec. */
struct ext {
	uint64_t page;
	uint64_t rec;
	uint32_t rec_npages;
	uint32_t rec_first;
	uint32_t npages;
	uint32_t tail; /* bytes stored in the extent's last page, 1..4096 */
};

void st_ext_key_encode(uint64_t page, uint8_t out[PAGE_KEY_SIZE]);
void st_ext_val_encode(const struct ext *e, uint8_t out[EXT_VAL_SIZE]);
/* Decodes key and value into e; ST_ECORRUPT if sizes or fields are bad. */
int st_ext_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, struct ext *e);
uint64_t st_ext_bytes(const struct ext *e);
/* The part of e covering pages [from, to), which must overlap e. */
struct ext st_ext_slice(const struct ext *e, uint64_t from, uint64_t to);

/* Decoded head of a data record. crcs points into the caller's buffer. */
struct data_head {
	uint32_t npages;
	uint32_t tail;
	const uint8_t *crcs;
};
int st_data_head_decode(const uint8_t *buf, size_t len, struct data_head *d);
/* A data record's payload length; sealed, each page has its nonce and tag. */
static inline uint64_t data_payload_len(uint32_t npages, uint32_t tail, bool sealed)
{
	return DATA_HEAD_FIXED + 4ull * npages + (uint64_t)(npages - 1) * BLOCK_SIZE + tail +
	       (sealed ? (uint64_t)npages * ST_SEAL_OVERHEAD : 0);
}

/* The associated data of a sealed record, header or data page: what it
 * is and where (docs/FORMAT.md, section 20). */
#define SEAL_AAD_SIZE 24u
static inline void seal_aad(uint8_t out[SEAL_AAD_SIZE], uint8_t role, uint64_t pos, uint32_t index,
			    uint32_t npages, uint32_t tail)
{
	out[0] = role;
	out[1] = out[2] = out[3] = 0;
	st_put64(out + 4, pos);
	st_put32(out + 12, index);
	st_put32(out + 16, npages);
	st_put32(out + 20, tail);
}

/* Reduce values of a subtree. */
struct reduce {
	uint64_t count;
	uint64_t bytes;
};

/* One entry of a decoded node. Pointers point into the node's buffer. */
struct tentry {
	const uint8_t *key;
	const uint8_t *val; /* leaf only */
	uint32_t vlen;	    /* leaf only */
	uint16_t klen;
	uint64_t child;	 /* interior only */
	struct reduce r; /* interior only: the child's subtree */
};

struct tnode {
	uint8_t level; /* 0 = leaf */
	uint32_t n;
	struct tentry *e;
	uint8_t *buf; /* owns the payload the entries point into */
	uint32_t len; /* payload bytes */
	uint64_t pos;
};

/* Decodes a node payload; checks every length, key order, and that every
 * child pointer lies before pos (children are always written first).
 * On success n->buf is NOT set (the caller owns buf). */
int st_node_decode(const uint8_t *buf, size_t len, uint64_t pos, struct tnode *n);
void st_node_free(struct tnode *n);

/* ---- block.c: the block file ------------------------------------------ */

/* An open store file, shared by a handle, its versions and a compaction.
 * Immutable after creation except refs. Freed (and closed) at the last unref. */
struct st_file {
	int fd;
	char *path; /* for messages */
	const struct st_ops *ops;
	void *ctx;
	atomic_uint refs;
	dev_t dev;
	ino_t ino;
	uint64_t id; /* unique for the process's life: the node cache's key */
	/* The store's identity, if the caller gave one (st_open_opts.id):
	 * every header read from the file must carry it. Set once at open. */
	bool has_sid;
	uint8_t sid[ST_ID_SIZE];
	/* Sealed (st_open_opts.key): records are sealed under key, and a
	 * store that is not is refused. Set once at open. */
	bool sealed;
	struct st_key key;
};

struct st_file *st_file_ref(struct st_file *f);
void st_file_unref(struct st_file *f);

/* A writer appending to one file. Guarded by whoever owns it: the handle's
 * writer lock for the store's writer, the compactor alone for its own. */
struct writer {
	struct st_file *f;
	uint64_t end; /* physical offset where the next byte goes */
	uint8_t *buf; /* physical bytes not yet written, starting at buf_pos */
	size_t len, cap;
	uint64_t buf_pos;
	uint64_t wb_from;  /* bytes before this were handed to ops->writeback */
	uint64_t wb_chunk; /* ... which is called every wb_chunk bytes */
	/* The file holds zeros from end up to here, if greater: the reserve
	 * (st_writer_reserve), which later commits overwrite in place. */
	uint64_t zero_end;
	/* The running CRC32C of the physical bytes from run_from to end: the
	 * commit region a one-sync header seals (st_writer_header). Kept only
	 * while the run is at most RUN_CRC_MAX long; past that, run_long. */
	uint64_t run_from;
	uint32_t run_crc;
	bool run_long;
	bool nosync;
};

#define RUN_CRC_MAX (8u << 20) /* longest commit region committed by one sync */

void st_writer_init(struct writer *w, struct st_file *f, uint64_t end, bool nosync);
void st_writer_release(struct writer *w);
/* Appends one record; its crc covers the length and the first crc_iov
 * parts. Returns ST_OK and *pos, the record's physical offset. */
struct iovec;
int st_writer_record(struct writer *w, const struct iovec *iov, int niov, int crc_iov,
		     uint64_t *pos);
/* Where the next record appended will start (past a block's marker). */
uint64_t st_writer_next_pos(const struct writer *w);
/* Pads to the next block and appends a header there, marker as given.
 * Sets h->pos. With FEAT_IN_ONESYNC in h->incompat, seals the commit
 * region in h->region_crc and marks the block a header, or clears the bit
 * if the region cannot be sealed (st_writer_onesync_ok, after the
 * padding) and uses the marker given: the caller looks at the bit
 * afterwards. The next commit region starts after the header. */
/* The header's inline area to write, if any (FEAT_IN_INLINE): flags,
 * attributes (AREA_ATTRS: h->meta becomes the header's position) and
 * content (AREA_CONTENT: size bytes, root 0). The caller sets h->prev_area
 * to the previous header's area_len; a header with an area or after one
 * gets FEAT_IN_INLINE. */
struct st_area {
	unsigned flags;
	const uint8_t *attrs;
	size_t attr_len;
	const uint8_t *content;
	size_t content_len;
};
int st_writer_header(struct writer *w, struct hdr *h, uint8_t marker, const struct st_area *a);
/* Whether an area of these parts fits a header of file f's block. */
bool st_area_fits(const struct st_file *f, size_t attr_len, size_t content_len);
/* Whether the bytes appended since prev_end (the end of the header before)
 * are the whole commit region of the next header, short enough to be
 * sealed. */
bool st_writer_onesync_ok(const struct writer *w, uint64_t prev_end);
/* Sets the writer back to end (a rollback's cut): nothing buffered, the
 * next commit region starts there. */
void st_writer_rewind(struct writer *w, uint64_t end);
/* Makes dst, a writer just set up at src->end of the same file, go on
 * where src stopped: its reserve and the commit region under way. */
void st_writer_adopt(struct writer *dst, const struct writer *src);
int st_writer_flush(struct writer *w);
int st_writer_sync(struct writer *w);
/* Writes the marker byte of the header block at pos (the commit point). */
int st_writer_flip(struct writer *w, uint64_t pos);
/* Bytes of zeros the file holds past w->end. */
uint64_t st_writer_reserved(const struct writer *w);
/* Writes zeros from the end of the reserve (or w->end) up to w->end + n,
 * so that later appends land in blocks already written: on ext4 their
 * fdatasync is then a flush of data only, with no journal commit for the
 * file's growth. The buffer must be empty. No sync. */
int st_writer_reserve(struct writer *w, uint64_t n);

/* Reads n physical bytes at off, retrying short reads; *got < n only at
 * the end of the file. */
int st_pread_full(struct st_file *f, void *buf, size_t n, uint64_t off, size_t *got);
/* Physical end of n stream bytes that start at physical pos. */
uint64_t st_stream_end(uint64_t pos, uint64_t n);
/* Reads n stream bytes starting at physical pos, which must end by limit;
 * every marker crossed must say data. */
int st_stream_read(struct st_file *f, uint64_t pos, void *buf, size_t n, uint64_t limit);
/* Reads the record at pos (ending by limit) whose type must be one of
 * the bits in types (1 << REC_x). Verifies its crc. *payload is malloc()ed;
 * for a data record only the head is read. */
int st_record_read(struct st_file *f, uint64_t pos, uint64_t limit, unsigned types,
		   uint8_t **payload, uint32_t *len);
/* Appends an attributes record holding len bytes of buf; *pos is where. */
int st_meta_append(struct writer *w, const uint8_t *buf, size_t len, uint64_t *pos);
/* Reads the attributes record at pos (ending by limit): *buf malloc()ed. */
int st_meta_read(struct st_file *f, uint64_t pos, uint64_t limit, uint8_t **buf, size_t *len);
/* The attributes named by meta in the header at hpos: a record before it,
 * or (meta == hpos | META_AREA) the header's inline area. *buf malloc()ed. */
int st_meta_get(struct st_file *f, uint64_t meta, uint64_t hpos, uint8_t **buf, size_t *len);
/* Keeps in st->cur_meta the newest commit's attributes (wlock held),
 * read once per position. ST_OK, or the read's error (nothing kept). */
int st_cur_meta_load(st_store *st);
/* The inline content of header h (AREA_CONTENT): h->size bytes to out
 * (BLOCK_SIZE bytes). */
int st_inline_content(struct st_file *f, const struct hdr *h, uint8_t *out);
/* filestore.c, wlock held: makes the staged content inline if it may be
 * (nothing staged past INLINE_MAX, no tree content showing), loading the
 * newest commit's inline content; a no-op if it may not. */
int st_inline_enter(st_store *st);
/* ... and the reverse: the inline content becomes a staged extent. */
int st_inline_spill(st_store *st);
/* Reads and verifies the header whose block starts at pos. */
int st_header_read(struct st_file *f, uint64_t pos, uint64_t file_size, struct hdr *h);
/* Reads the body of h's inline area (attributes, then content) into out
 * (BLOCK_SIZE bytes): *len bytes, 0 if it has none. Verifies its crc and
 * seal: ST_ECORRUPT if it does not match. */
int st_header_area(struct st_file *f, const struct hdr *h, uint8_t *out, size_t *len);
/* Scans back from the end for the newest committed header. recover: skip
 * damaged ones. A one-sync header whose commit region fails its CRC is a
 * torn commit, passed over like a torn tail (*torn_at its position): the
 * newest such one only, and only if its seq is above min_seq, the newest
 * commit the caller knows was made (else it is damage). ST_ENOTFOUND if
 * there is none. */
int st_header_find(struct st_file *f, uint64_t file_size, bool recover, uint64_t min_seq,
		   struct hdr *h, uint64_t *torn_at);
/* Checks the commit region of a one-sync header h: ST_OK (also for a
 * header without FEAT_IN_ONESYNC), ST_ECORRUPT carrying h->pos on a
 * mismatch, or an I/O error. */
int st_header_region_check(struct st_file *f, const struct hdr *h);
/* Reads pages [first, first + n) of the data record at rec into buf,
 * verifying each page's crc; short last page zero-filled to 4096. */
int st_data_read_pages(struct st_file *f, uint64_t rec, uint64_t limit, uint32_t first, uint32_t n,
		       uint8_t *buf);

/* Appends a data record of npages pages, the last one tail bytes long. */
int st_data_append(struct writer *w, const uint8_t *data, uint32_t npages, uint32_t tail,
		   uint64_t *rec);

/* ---- btree.c ---------------------------------------------------------- */

struct tree {
	uint64_t root; /* 0: empty */
	struct reduce r;
};

enum { ACT_PUT = 1, ACT_DEL = 2 };
struct action {
	const uint8_t *key;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t klen;
	uint8_t op;
};

/* Reads and decodes the node at pos (which must lie before limit). */
int st_node_read(struct st_file *f, uint64_t pos, uint64_t limit, struct tnode *n);
/* Drops cached nodes of f at or after from: bytes a rollback cut off. */
void st_node_cache_forget(const struct st_file *f, uint64_t from);

/* Applies sorted, unique-keyed actions; appends new nodes through w and
 * reads old ones from f (which may differ from w->f: never, today). */
int st_tree_modify(struct st_file *f, struct writer *w, enum st_kind kind, const struct tree *in,
		   struct action *acts, size_t nacts, struct tree *out);

/* Exact lookup. *val malloc()ed. ST_ENOTFOUND if absent. */
int st_tree_get(struct st_file *f, uint64_t limit, const struct tree *t, const void *key,
		size_t klen, uint8_t **val, uint32_t *vlen);

/* Calls cb for entries in key order starting at the greatest key <= start
 * (floor) or the least key >= start. cb returns non-zero to stop. */
typedef int (*tree_cb)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
int st_tree_iter(struct st_file *f, uint64_t limit, const struct tree *t, const void *start,
		 size_t slen, bool floor, tree_cb cb, void *arg);

/* Calls cb with the changes that turn tree a into tree b, in key order:
 * ACT_PUT with b's value for added or changed keys, ACT_DEL for removed.
 * Subtrees shared by pointer are skipped. */
typedef int (*diff_cb)(void *arg, const struct action *a);
int st_tree_diff(struct st_file *f, uint64_t limit, const struct tree *a, const struct tree *b,
		 diff_cb cb, void *arg);

/* Orders keys: memcmp, then the shorter first. */
int st_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Live bytes a leaf value stands for (data bytes of an extent; 0 for kv). */
uint64_t st_value_bytes(enum st_kind kind, const uint8_t *val, size_t vlen);

/* ---- the handle ------------------------------------------------------- */

/* A staged key-value change (sorted by key in kvmap). */
struct kvent {
	uint8_t *key;
	uint8_t *val; /* NULL for a delete */
	uint32_t klen, vlen;
};

struct st_store {
	enum st_kind kind;
	int flags;
	bool readonly; /* a version handle, or ST_READONLY */
	char *path;
	const struct st_ops *ops;
	void *ctx;
	uint64_t (*clock)(void *ctx);

	/* Serializes mutations, commits and compaction's final catch-up. */
	pthread_mutex_t wlock;
	/* Guards the published state below for readers; held only briefly,
	 * never across I/O. Order: wlock before slock. */
	pthread_mutex_t slock;

	struct st_file *file; /* slock to read; wlock+slock to change */
	struct hdr head;      /* newest commit; slock to read; wlock+slock to change */

	/* kv staged changes, sorted by key: slock to change and to read, so a
	 * put never waits for a commit's syncs */
	struct kvent *kv;
	size_t nkv, kvcap;
	/* kv changes a running commit took from kv: set and cleared under
	 * wlock+slock, read under slock (readers look in kv, then here) */
	struct kvent *ckv;
	size_t nckv;

	/* file staged changes, all wlock */
	struct ext *ex; /* sorted by page, non-overlapping */
	size_t nex, excap;
	uint64_t size;	      /* staged file size */
	uint64_t mtime_ns;    /* staged mtime */
	uint8_t commit_kind;  /* of the next commit: ST_SAVE unless staged */
	uint64_t trunc_pages; /* pages kept by the lowest staged truncate; UINT64_MAX none */
	uint8_t *meta;	      /* staged attributes (st_file_set_meta), or NULL */
	size_t meta_len;
	/* wlock: a copy of the attributes record at cur_meta_pos (the newest
	 * commit's, once read), so that unchanged attributes cost nothing */
	uint8_t *cur_meta;
	size_t cur_meta_len;
	uint64_t cur_meta_pos; /* 0: no copy held */
	/* wlock: the staged content of a small file, kept for its header's
	 * inline area (BLOCK_SIZE bytes; [0, size) valid) while inline; the
	 * file then has no staged extent and shows nothing of the tree */
	uint8_t *ibuf;
	bool inline_on;

	uint64_t torn_at;	/* set at open: a torn commit passed over, or HDR_NONE */
	struct writer w;	/* wlock: appends to file */
	bool broken;		/* wlock: a failed rollback left the tail unknown */
	unsigned small_commits; /* wlock: small commits in a row on this handle */
	bool compacting;	/* wlock: a compaction of this store is running */
	/* wlock: a compaction renamed a new file over the store and the
	 * directory is not synced yet; a commit must sync it before its flip. */
	bool dir_unsynced;
	struct hdr pending;  /* wlock: the header of a prepared group commit */
	bool pending_switch; /* wlock: SW_PENDING when that commit was prepared */
	/* slock: SW_PENDING while a compaction's new file is the handle's but
	 * not yet under the store's name; commits wait on switch_cv before
	 * their flip (compact.c) */
	int switching;
	pthread_cond_t switch_cv;
};

enum { SW_NONE, SW_PENDING, SW_FAILED };
/* compact.c. Waits (slock) until no compaction switch is pending; a
 * committer calls it with wlock held, before its flip. ST_OK, or ST_EIO
 * if that switch failed. */
int st_store_switch_wait(st_store *st);
bool st_store_switch_pending(st_store *st);

/* Snapshot of what a reader needs: a file ref and the header. */
void st_store_snapshot(st_store *st, struct st_file **f, struct hdr *h);
uint64_t st_store_time(st_store *st);

/* Resets staged changes (wlock held): a file store's, and a key-value
 * store's changes taken by the commit (ckv); new puts (kv) stay. */
void st_stage_clear(st_store *st);
/* kvstore.c, wlock and slock held: a commit takes the staged puts (kv into
 * ckv); a failed one gives them back under newer puts, or drops both. */
void st_kv_take(st_store *st);
void st_kv_give_back(st_store *st, bool drop);
/* Builds the sorted actions that turn tree t (the newest commit's) into
 * the staged state (wlock held). *arena holds the encoded keys and values
 * the actions point to; free both after st_tree_modify. */
int st_stage_actions(st_store *st, const struct tree *t, struct action **acts, size_t *nacts,
		     uint8_t **arena);

/* A handle with nothing open yet. NULL if out of memory. */
st_store *st_store_alloc(enum st_kind kind, const char *path, int flags,
			 const struct st_open_opts *opts);
/* Drops staged changes and trims the file to the last commit; returns rc.
 * wlock held, slock not. */
int st_store_fail_rollback(st_store *st, int rc);
/* Where appends after header h go: its end, or 0 before a deferred store's
 * first commit (h->pos == HDR_NONE). */
uint64_t st_head_end(const struct hdr *h);

/* version.c */
int st_header_prev(struct st_file *f, const struct hdr *h, struct hdr *prev);
/* What a version shows of itself (struct st_version) from its header. */
void st_version_of(const struct hdr *h, struct st_version *v);
void st_retention_apply(const struct st_retention *r, uint64_t now, const struct hdr *v, size_t n,
			bool *keep);

/* fsyncs the directory that holds the store (unless ST_NOSYNC). */
int st_store_dir_sync(st_store *st);

/* Opens the file of a store and wraps it (no header work). */
int st_file_open(const struct st_ops *ops, void *ctx, const char *path, int flags, mode_t mode,
		 struct st_file **out);

#endif /* REVFS_STORE_INTERNAL_H */
