/*
 * testutil.h - helpers shared by the tests: temporary directories, a
 * seeded random generator, and a fault-injecting st_ops table.
 */
#ifndef REVFS_TESTUTIL_H
#define REVFS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The temporary directory of the running test: made before each test and
 * removed after it by tu_main's fixture. */
extern char *tu_dir;

/*
 * Runs a test binary's one suite: a test case named name with the given
 * timeout (seconds), the tu_dir fixture, and the tests add() adds.
 * cleanup, if not NULL, runs after each test before tu_dir goes. Returns
 * the exit status for main().
 */
struct TCase;
int tu_main(const char *name, unsigned timeout, void (*add)(struct TCase *tc),
	    void (*cleanup)(void));

/* A fresh directory under $TMPDIR (or /tmp); removed by tu_rmdir. */
char *tu_mkdtemp(void);
void tu_rmdir(const char *dir);
/* dir + "/" + name, malloc()ed. */
char *tu_path(const char *dir, const char *name);

/* xorshift64*: reproducible from the seed. */
uint64_t tu_rand(uint64_t *state);
void tu_fill(uint64_t *state, void *buf, size_t len);

/* File helpers (abort the test on failure). */
uint64_t tu_file_size(const char *path);
void tu_copy_file(const char *from, const char *to);
void tu_truncate(const char *path, uint64_t len);
void tu_flip_bit(const char *path, uint64_t off, unsigned bit);

/*
 * Fault injection. Every write-like call (pwrite, fdatasync, fsync,
 * ftruncate, rename, unlink, fsync_dir, syncfs) is counted; when the count reaches
 * fail_at (1-based), the call fails as the mode says, and so does every
 * later write-like call if sticky is set (a "crashed" process does nothing
 * more). Reads always work.
 */
enum tu_fault { TU_EIO = 1, TU_ENOSPC, TU_SHORT };
struct tu_faults {
	uint64_t count;	  /* write-like calls seen */
	uint64_t fail_at; /* 0: never */
	enum tu_fault mode;
	bool sticky;
	bool fired;
};
extern const struct st_ops tu_fault_ops; /* ops_ctx: a struct tu_faults * */

/* A settable clock for st_open_opts.clock (ops_ctx must be NULL). */
extern uint64_t tu_clock_ns;
uint64_t tu_clock(void *ctx);

#endif
