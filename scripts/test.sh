#!/usr/bin/env bash
# Builds kvd and runs its test suite: unit and scenario tests, then the simulator sweep.
# Works on a fresh Debian 12 machine (installs what it needs first).
#   scripts/test.sh                 # everything CI runs
#   KVD_TEST_LABELS=unit scripts/test.sh   # one tier only (unit | sim | integration)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=${KVD_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -L "${KVD_TEST_LABELS:-unit|sim|integration}"
