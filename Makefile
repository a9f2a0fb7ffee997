# revfs - one plain Makefile.
#   make            build the store library and the programs
#   make check      install missing packages (root, Debian), build with
#                   ASan+UBSan, run every test
#   make tsan       the concurrent tests under ThreadSanitizer
#   make fuzz       each fuzz target for FUZZ_SECONDS (default 60); fuzz_fsck
#                   links fsck/ built without its main()
#   make bench      the benchmarks (figures, not pass/fail): bench-store, bench-fs,
#                   bench-fsck
#   make soak       the compactor under writers, readers and mmaps with remounts
#                   for SOAK_SECONDS (default 600); not part of make check
#   make demo       install missing packages, build, mount a demo under ./demo
#   make install / make uninstall   PREFIX (default /usr/local), DESTDIR
#   make format / make lint

CC      ?= cc
BUILD   ?= build
SAN     ?=
OPT     ?= -O2
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -pthread \
	-Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(SAN) $(CFLAGS)
LDLIBS  = -lcrypto -pthread
FUSE_CFLAGS = $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   = $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)

STORE_SRC = $(wildcard store/*.c)
STORE_OBJ = $(STORE_SRC:%.c=$(BUILD)/%.o)
LIBSTORE  = $(BUILD)/libstore.a
NS_SRC    = $(wildcard ns/*.c)
NS_OBJ    = $(NS_SRC:%.c=$(BUILD)/%.o)
LIBNS     = $(BUILD)/libns.a
# What every program links: the namespace library, then the engine.
LIBS      = $(LIBNS) $(LIBSTORE)
INC       = -Ins -Istore

FS_SRC    = $(filter-out fs/revfs-compact.c,$(wildcard fs/*.c))
FS_OBJ    = $(FS_SRC:%.c=$(BUILD)/%.o)
MKFS_SRC  = mkfs/mkfs.c
MKFS_OBJ  = $(MKFS_SRC:%.c=$(BUILD)/%.o)
FSCK_SRC  = $(wildcard fsck/*.c)
FSCK_OBJ  = $(FSCK_SRC:%.c=$(BUILD)/%.o)
PROGS     = $(BUILD)/revfs $(BUILD)/mkfs.revfs $(BUILD)/fsck.revfs \
	$(BUILD)/revfs-compact $(BUILD)/revfs-tune

# Check-based unit tests: tests/check_*.c, each its own binary.
TEST_SRC  = $(wildcard tests/check_*.c)
TEST_BIN  = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TESTLIB   = $(BUILD)/tests/testutil.o
# Tests with threads, also run under ThreadSanitizer.
TSAN_TESTS = check_compact
TSAN_FS_TESTS = test_fsx.sh test_fsx_compact.sh test_posix.sh test_recover.sh test_compact.sh \
	test_history.sh test_at.sh test_compact_races.sh test_flush.sh test_lineage.sh \
	test_history_perms.sh test_purge.sh test_space.sh test_writeback.sh
# Plain programs the shell tests (tests/test_*.sh) drive inside a mount.
FSTEST_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/posix_ops.c \
	tests/fsx.c tests/crash_writer.c tests/fsck_damage.c tests/syslog_sink.c tests/smallfiles.c \
	tests/appender.c))
FSTEST_SH  = $(sort $(wildcard tests/test_*.sh))
CHECK_FLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS  = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600

# Where check, tsan and the benchmarks build; override to keep several
# working trees' builds apart (make check ASAN_BUILD=build/asan2).
ASAN_BUILD  ?= build/asan
TSAN_BUILD  ?= build/tsan
BENCH_BUILD ?= build/bench
SOAK_BUILD  ?= build/soak
FUZZ_TARGETS = $(patsubst tests/fuzz_%.c,%,$(wildcard tests/fuzz_*.c))

.PHONY: install uninstall soak demo bench-store bench-fs bench-fsck bench-compact all lib tests run-tests check asan tsan fuzz bench format lint clean deps

all: lib $(PROGS)

lib: $(LIBS)

HDRS = store/store.h ns/ns.h

$(BUILD)/store/%.o: store/%.c $(wildcard store/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/ns/%.o: ns/%.c $(wildcard ns/*.h) store/store.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Istore -c -o $@ $<

$(BUILD)/fs/%.o: fs/%.c $(wildcard fs/*.h) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INC) $(FUSE_CFLAGS) -c -o $@ $<

$(BUILD)/mkfs/%.o: mkfs/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INC) -c -o $@ $<

$(BUILD)/fsck/%.o: fsck/%.c fsck/fsck.h $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INC) -c -o $@ $<

$(BUILD)/revfs: $(FS_OBJ) $(LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $(FS_OBJ) $(LIBS) $(FUSE_LIBS) $(LDLIBS)

$(BUILD)/mkfs.revfs: $(MKFS_OBJ) $(LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $(MKFS_OBJ) $(LIBS) $(LDLIBS)

# revfs-tune writes the superblock, as mkfs.revfs does.
$(BUILD)/revfs-tune: $(BUILD)/mkfs/tune.o $(LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/fsck.revfs: $(FSCK_OBJ) $(LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $(FSCK_OBJ) $(LIBS) $(LDLIBS)

# revfs-compact lives in fs/ for ctl.h but is not part of the daemon.
$(BUILD)/revfs-compact: fs/revfs-compact.c fs/ctl.h $(HDRS) $(LIBS)
	$(CC) $(ALL_CFLAGS) $(INC) -o $@ $< $(LIBS) $(LDLIBS)

$(LIBSTORE): $(STORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBNS): $(NS_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/testutil.o: tests/testutil.c tests/testutil.h $(wildcard store/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_FLAGS) $(INC) -c -o $@ $<

$(FSTEST_BIN): $(BUILD)/tests/%: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# fsck_damage forges namespace records through the namespace library.
$(BUILD)/tests/fsck_damage: $(LIBS)
$(BUILD)/tests/fsck_damage: LDLIBS := $(LIBS) $(LDLIBS)
$(BUILD)/tests/fsck_damage: CFLAGS += $(INC)

$(BUILD)/tests/%: tests/%.c $(TESTLIB) $(LIBS) tests/testutil.h $(BUILD)/fs/dirty.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_FLAGS) $(INC) -Ifs $(FUSE_CFLAGS) -o $@ $< $(TESTLIB) \
		$(BUILD)/fs/dirty.o $(LIBS) $(CHECK_LIBS) $(LDLIBS)

tests: $(TEST_BIN) $(PROGS) $(FSTEST_BIN)

# Runs every test binary (CK_FORK stays on: each test in its own child),
# then every mounted-filesystem test script against this build's programs.
# A busy machine is slow, not wrong: Check's timeouts are multiplied by
# 1 + the load per core (rounded up) when the run starts, unless
# CK_TIMEOUT_MULTIPLIER is given.
run-tests: tests
	@set -e; m=$${CK_TIMEOUT_MULTIPLIER:-$$(awk -v n=$$(nproc) \
		'{ m = $$1 / n; print 1 + (m == int(m) ? m : int(m) + 1) }' /proc/loadavg)}; \
	echo "Check timeouts x$$m (CK_TIMEOUT_MULTIPLIER)"; \
	for t in $(TEST_BIN); do echo "== $$t ($$(date +%T))"; CK_TIMEOUT_MULTIPLIER=$$m $$t; done
	@set -e; for t in $(FSTEST_SH); do echo "== $$t ($$(date +%T))"; REVFS_BIN=$(BUILD) sh $$t; \
		done; echo "== done ($$(date +%T))"

deps:
	@./tests/deps.sh

check: deps
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		run-tests

asan: check

tsan: deps
	$(MAKE) BUILD=$(TSAN_BUILD) OPT=-O1 SAN="-fsanitize=thread" \
		$(TSAN_TESTS:%=$(TSAN_BUILD)/tests/%) $(TSAN_BUILD)/revfs $(TSAN_BUILD)/mkfs.revfs \
		$(TSAN_BUILD)/fsck.revfs $(TSAN_BUILD)/revfs-compact $(TSAN_BUILD)/revfs-tune \
		$(FSTEST_BIN:$(BUILD)/%=$(TSAN_BUILD)/%)
	@set -e; for t in $(TSAN_TESTS); do echo "== tsan $$t"; \
		TSAN_OPTIONS=halt_on_error=1 CK_FORK=no $(TSAN_BUILD)/tests/$$t; done
	@# The daemon under TSan, driven by the tests that load it most; any
	@# report lands in $(TSAN_BUILD)/report.* and fails the target.
	@rm -f $(TSAN_BUILD)/report.*
	@set -e; for t in $(TSAN_FS_TESTS); do [ -f tests/$$t ] || continue; \
		echo "== tsan $$t"; TSAN_OPTIONS="log_path=$(CURDIR)/$(TSAN_BUILD)/report" \
		SPACE_SAVES=8 SPACE_FILES=1000 REVFS_BIN=$(TSAN_BUILD) sh tests/$$t; done
	@if ls $(TSAN_BUILD)/report.* >/dev/null 2>&1; then cat $(TSAN_BUILD)/report.*; \
		echo "tsan: the daemon reported races"; exit 1; fi

fuzz:
	@./tests/deps.sh --fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz OPT=-O1 \
			SAN="-fsanitize=fuzzer-no-link,address,undefined" build/fuzz/libns.a \
			build/fuzz/libstore.a; \
		mkdir -p build/fuzz/corpus-$$t; \
		extra=""; [ $$t != fsck ] || extra="-DFSCK_NO_MAIN -Ifsck $(FSCK_SRC)"; \
		clang -std=c11 -D_GNU_SOURCE -g -O1 $(INC) -fsanitize=fuzzer,address,undefined \
			-o build/fuzz/fuzz_$$t tests/fuzz_$$t.c $$extra build/fuzz/libns.a \
			build/fuzz/libstore.a -lcrypto -pthread; \
		echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			build/fuzz/corpus-$$t tests/corpus/$$t; \
	done

# The store's figures, then the mounted filesystem's against the plain disk
# and libfuse's passthrough_ll (tests/bench_fs.sh; BENCH_FS_ARGS="-s 0.1"
# for a quick run).
bench: bench-store bench-fs bench-fsck bench-compact bench-history bench-gluster

bench-store: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/libstore.a
	$(CC) $(CFLAGS_BASE) -Istore -o $(BENCH_BUILD)/bench_store tests/bench_store.c \
		$(BENCH_BUILD)/libstore.a $(LDLIBS)
	$(BENCH_BUILD)/bench_store $(BENCH_ARGS)

bench-fs: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/revfs $(BENCH_BUILD)/mkfs.revfs
	REVFS_BIN=$(BENCH_BUILD) bash tests/bench_fs.sh $(BENCH_FS_ARGS)

# A vault on a one-brick GlusterFS volume of this machine against the local
# disk, and the time a failover takes (tests/bench_gluster.sh, as root;
# BENCH_GLUSTER_ARGS="-r 5" for more rounds).
bench-gluster: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/revfs $(BENCH_BUILD)/mkfs.revfs
	REVFS_BIN=$(BENCH_BUILD) sh tests/bench_gluster.sh $(BENCH_GLUSTER_ARGS)

# fsck.revfs -n and -f -n against cat, cold caches (tests/bench_fsck.sh;
# BENCH_FSCK_ARGS="-s 0.1" for a quick run).
bench-fsck: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/fsck.revfs $(BENCH_BUILD)/libns.a \
		$(BENCH_BUILD)/libstore.a
	@mkdir -p $(BENCH_BUILD)/tests
	$(CC) $(CFLAGS_BASE) $(INC) -o $(BENCH_BUILD)/tests/bench_fsck_make tests/bench_fsck_make.c \
		$(BENCH_BUILD)/libns.a $(BENCH_BUILD)/libstore.a $(LDLIBS)
	REVFS_BIN=$(BENCH_BUILD) bash tests/bench_fsck.sh $(BENCH_FSCK_ARGS)

# The history tree's figures: a file with 10,000 versions listed and read,
# at/<t> on trees of 1,000 and 100,000 files (tests/bench_history.sh;
# BENCH_HISTORY_ARGS="-v 1000 -n 10000" for a quick run).
bench-history: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/revfs $(BENCH_BUILD)/mkfs.revfs \
		$(BENCH_BUILD)/revfs-compact $(BENCH_BUILD)/libns.a $(BENCH_BUILD)/libstore.a
	@mkdir -p $(BENCH_BUILD)/tests
	$(CC) $(CFLAGS_BASE) $(INC) -o $(BENCH_BUILD)/tests/bench_history_make \
		tests/bench_history_make.c $(BENCH_BUILD)/libns.a $(BENCH_BUILD)/libstore.a $(LDLIBS)
	REVFS_BIN=$(BENCH_BUILD) bash tests/bench_history.sh $(BENCH_HISTORY_ARGS)

# The compactor's figures: writer latency while its file is compacted,
# final-lock hold, throughput against cp, space after overwrites
# (tests/bench_compact.sh; BENCH_COMPACT_ARGS="-s 0.1 -t 3" for a quick run).
bench-compact: deps
	$(MAKE) BUILD=$(BENCH_BUILD) OPT=-O2 $(BENCH_BUILD)/revfs $(BENCH_BUILD)/mkfs.revfs \
		$(BENCH_BUILD)/revfs-compact
	REVFS_BIN=$(BENCH_BUILD) bash tests/bench_compact.sh $(BENCH_COMPACT_ARGS)

# tests/soak_compact.sh against an ASan+UBSan build: fsx and a version
# writer while every commit is compacted, remounts between rounds.
soak: deps
	$(MAKE) BUILD=$(SOAK_BUILD) OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		$(SOAK_BUILD)/revfs $(SOAK_BUILD)/mkfs.revfs $(SOAK_BUILD)/tests/fsx
	REVFS_BIN=$(SOAK_BUILD) SOAK_SECONDS=$(SOAK_SECONDS) sh tests/soak_compact.sh

# A filesystem to try: the backing directory demo/backing, mounted on demo/mnt.
demo: deps
	@$(MAKE) --no-print-directory all >/dev/null
	@mkdir -p demo/mnt
	@[ -f demo/backing/revfs.super ] || $(BUILD)/mkfs.revfs -q -L demo demo/backing
	@mountpoint -q demo/mnt || $(BUILD)/revfs demo/backing demo/mnt
	@echo "revfs is mounted on $(CURDIR)/demo/mnt (backing directory: demo/backing)."
	@echo "Use it with any tool:  cd demo/mnt && echo hello > notes.txt"
	@echo "Unmount it with:       fusermount3 -u demo/mnt"

# make install: PREFIX and DESTDIR as usual. The daemon and revfs-compact go
# to BINDIR, on every user's PATH; mount(8) drops PATH before mount.fuse3
# starts a "fuse.revfs" mount through /bin/sh, whose default PATH holds
# /usr/local/bin and /usr/bin. mkfs.revfs, fsck.revfs and revfs-tune go to SBINDIR, where
# mkfs(8) and fsck(8) find them on root's PATH (as e2fsprogs' do). uninstall
# removes those files and leaves the directories, as automake's does.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
INSTALL ?= install
MAN8    = revfs.8 mkfs.revfs.8 fsck.revfs.8 revfs-compact.8 revfs-tune.8

install: $(PROGS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(BUILD)/revfs $(BUILD)/revfs-compact $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(BUILD)/mkfs.revfs $(BUILD)/fsck.revfs $(BUILD)/revfs-tune \
		$(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0644 $(MAN8:%=docs/%) $(DESTDIR)$(MANDIR)/man8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/revfs $(DESTDIR)$(BINDIR)/revfs-compact \
		$(DESTDIR)$(SBINDIR)/mkfs.revfs $(DESTDIR)$(SBINDIR)/fsck.revfs \
		$(DESTDIR)$(SBINDIR)/revfs-tune \
		$(MAN8:%=$(DESTDIR)$(MANDIR)/man8/%)

FORMAT_FILES = $(wildcard store/*.[ch] ns/*.[ch] fs/*.[ch] mkfs/*.[ch] fsck/*.[ch] tests/*.[ch])

format:
	clang-format -i $(FORMAT_FILES)

lint:
	clang-format --dry-run --Werror $(FORMAT_FILES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem -D__GNUC__ $(INC) store ns fs mkfs fsck

clean:
	rm -rf build
