#!/usr/bin/env bash
# Benchmarks (not part of the test suite): builds, starts a throwaway PostgreSQL like the
# tests do, runs the benchmark, and removes the database server afterwards.
#   tests/bench/run.sh ingest [--events=2000000] [--streams=2] [--batch=5000] [--window=4] [--rounds=3]
#   tests/bench/run.sh metrics [--runs=5] [--load_calls=200] …
#   tests/bench/run.sh pql
#   tests/bench/run.sh saasctl [--usage=2000000] [--subscriptions=500000] [--rounds=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
which=${1:?usage: tests/bench/run.sh ingest [flags]}
shift
deploy/install-deps.sh build >/dev/null
build=${SAASMETRICS_BUILD_DIR:-$root/build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${which}_bench" saasmetrics saasctl
state=$build/bench-pg
trap 'tests/support/pg_fixture.sh stop "$state"' EXIT
tests/support/pg_fixture.sh start "$state"
SAASMETRICS_TEST_PG_FILE=$state/conninfo "$build/bin/${which}_bench" "$@"
