#!/bin/sh
# fsx (tests/fsx.c) while the compactor compacts every store after every
# commit (threshold 0): every read matches the model, the files are intact
# after a remount, and compactions ran and none failed. FSX_OPS as in
# test_fsx.sh (default here 30000).
FSX_MOUNT_OPTS="-o compact_frag=0,compact_min_mb=0" FSX_OPS=${FSX_OPS:-30000} \
	FSX_MIN_COMPACTIONS=${FSX_MIN_COMPACTIONS:-20} exec sh "$(dirname "$0")/test_fsx.sh"
