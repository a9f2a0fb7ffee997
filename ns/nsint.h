/*
 * nsint.h - private to ns/ (and to the tests that forge damaged records):
 * the namespace store's key and value layout (docs/FORMAT.md, section 19,
 * "Namespace keys"). Outside ns/, use the typed functions of ns.h; if one
 * is missing, add it there.
 */
#ifndef REVFS_NS_INT_H
#define REVFS_NS_INT_H

#include "ns.h"

/* A key: a type byte, a big-endian u64 inode number, then a name. */
#define NSK_INODE   'I' /* (ino) -> inode record */
#define NSK_DIRENT  'D' /* (parent ino, name) -> dirent value */
#define NSK_XATTR   'X' /* (ino, xattr name) -> value */
#define NSK_ORPHAN  'O' /* (ino) -> empty: no links left, still open */
#define NSK_META    'M' /* (0, name) -> meta value */
#define NSK_PIN	    'P' /* (ino, u64 seq) -> empty: a version no retention rule drops */
#define NSK_GRAVE   'G' /* (ino) -> grave value: a deleted file's store, kept */
#define NSK_LINEAGE 'L' /* (ino) -> u64 predecessor, u64 cut time */
#define NSK_VACATED 'V' /* (dir ino, name) -> u64 file ino, u64 time */

#define NSK_PREFIX 9u			      /* type byte and inode number */
#define NSK_MAX	   (NSK_PREFIX + NS_NAME_MAX) /* longest key */

#define NSK_META_NEXT_INO "next_ino" /* u64: the next inode number */
#define NSK_META_CLEAN	  "clean"    /* empty: the last unmount was clean */

#define NSV_INODE_SIZE	80u /* fixed part of a version-1 inode record; a target follows */
#define NSV_INODE2_SIZE 96u /* version 2: store_seq at 80, store_bytes at 88 */
#define NSV_DIRENT_SIZE 9u  /* u64 ino, u8 type (DT_*) */
#define NSV_GRAVE_SIZE	16u /* u64 seq, u64 deletion time */
#define NSV_PAIR_SIZE	16u /* lineage and vacated values: u64 ino, u64 time */

/* Writes the key (type, ino, name) into key (NSK_MAX bytes); its length. */
size_t ns_key(uint8_t type, uint64_t ino, const void *name, size_t nlen, uint8_t *key);
/* Encodes an inode record (and a symlink target); its length or ST_ETOOBIG. */
int ns_inode_encode(const struct ns_inode *in, const void *target, size_t tlen, uint8_t *buf,
		    size_t len);
/* Decodes one; *target points into buf. ST_ECORRUPT or ST_EVERSION if bad. */
int ns_inode_decode(const void *buf, size_t len, struct ns_inode *in, const void **target,
		    size_t *tlen);
void ns_dirent_encode(uint64_t ino, uint8_t type, uint8_t out[NSV_DIRENT_SIZE]);
int ns_dirent_decode(const void *buf, size_t len, uint64_t *ino, uint8_t *type);

#endif /* REVFS_NS_INT_H */
