#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/*_fuzzer.cc) over the committed corpus.
#   tests/fuzz/run.sh [--seconds=300] [--merge] [--bin_dir=DIR] [TARGET...]
# Without --bin_dir it installs clang, builds the targets in build/fuzz-long and runs each
# for --seconds (default 300) in turn; the test suite runs each for seconds against the
# targets the main build made (ctest -R fuzz). --merge adds the inputs that reached new
# coverage, minimised, to tests/fuzz/corpus/TARGET. A crash, leak, sanitizer report or
# failed property exits non-zero and leaves the input in the artifacts directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=300 merge=0 bin_dir="" targets=()
for a in "$@"; do
  case "$a" in
    --seconds=*) seconds=${a#*=} ;;
    --merge) merge=1 ;;
    --bin_dir=*) bin_dir=${a#*=} ;;
    -*) echo "unknown flag $a" >&2; exit 2 ;;
    *) targets+=("$a") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(ingest_request query_spec records page_token)
if [ -z "$bin_dir" ]; then
  "$root/deploy/install-deps.sh" all >/dev/null
  build=${SAASMETRICS_FUZZ_BUILD_DIR:-$root/build/fuzz-long}
  cmake -S "$root/tests/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build "$build"
  bin_dir=$build/bin
fi
work=$(mktemp -d /tmp/saasmetrics-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts=${SAASMETRICS_FUZZ_ARTIFACTS:-$root/build/fuzz-artifacts}
mkdir -p "$artifacts"
failed=0
for t in "${targets[@]}"; do
  corpus=$root/tests/fuzz/corpus/$t
  mkdir -p "$work/$t"
  log=$work/$t.log
  # New inputs go to the scratch directory; the committed corpus is read only.
  if "$bin_dir/${t}_fuzzer" -max_total_time="$seconds" -seed=1 -print_final_stats=1 \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-" \
      "$work/$t" "$corpus" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz $t: $execs executions in ${seconds}s, $cov, no findings"
  else
    failed=1
    echo "fuzz $t: FINDING (input saved under $artifacts/$t-*)"
    grep -E "ERROR|property failed|SUMMARY|==[0-9]+==" "$log" | head -20 || true
    tail -40 "$log"
  fi
  if [ "$merge" = 1 ]; then
    "$bin_dir/${t}_fuzzer" -merge=1 "$corpus" "$work/$t" >/dev/null 2>&1
    echo "fuzz $t: corpus now $(ls "$corpus" | wc -l) inputs"
  fi
done
exit $failed
