#!/usr/bin/env bash
# README command (2): install what the build and tests need, build, and run every test
# through ctest. The tests start their own throwaway PostgreSQL (tests/support/pg_fixture.sh).
#   tests/run.sh [extra ctest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deploy/install-deps.sh all
build=${SAASMETRICS_BUILD_DIR:-$root/build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build"
ctest --test-dir "$build" -j "$(nproc)" --output-on-failure --timeout 300 "$@"
