#!/usr/bin/env bash
# Fuzzes the gateway's request-body decoding (fuzz_test.go) with Go's native fuzzer.
#   deploy/gateway/fuzz.sh SECONDS [WORK_DIR]
# WORK_DIR is build.sh's (the stubs it generated); made afresh when missing. A finding
# fails the run and is kept under WORK_DIR/src/saasmetrics/gateway/testdata/fuzz.
set -euo pipefail
seconds=${1:?usage: fuzz.sh SECONDS [WORK_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
work=${2:-$here/../../build/gateway-work}
if [ ! -d "$work/src/saasmetrics/gen" ]; then
  "$here/build.sh" "$work/saasmetrics-gateway" "$work" >/dev/null
fi
work=$(cd "$work" && pwd)
pkg=$work/src/saasmetrics/gateway
cp "$here/main.go" "$here/fuzz_test.go" "$pkg/"
cd "$pkg"
GO111MODULE=off GOPROXY=off CGO_ENABLED=0 GOPATH="$work:/usr/share/gocode" \
  GOCACHE="${GOCACHE:-$work/.gocache}" \
  go test -run=NONE -fuzz=FuzzRequestBody -fuzztime="${seconds}s" . 2>&1 | tee "$work/fuzz.log" |
  grep -Ev '^fuzz: elapsed: [0-9]+s, (execs|gathering)' || true
grep -q '^ok' "$work/fuzz.log"
execs=$(grep -o 'execs: [0-9]*' "$work/fuzz.log" | tail -1)
echo "fuzz gateway: ${execs:-execs: ?} in ${seconds}s, no findings"
