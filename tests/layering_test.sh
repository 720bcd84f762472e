#!/usr/bin/env bash
# The layer rules of STYLE.md, checked on the includes: engine is pure (Abseil and the
# standard library), only store includes pqxx/libpq, only rpc (and clients) include
# gRPC or generated protos, and main.cc only wires.
set -uo pipefail
root=${1:-.}
cd "$root" || exit 2
fail=0
check() {  # check DIR PATTERN WHY
  local hits
  hits=$(grep -rnE "$2" "$1" --include='*.h' --include='*.cc' || true)
  if [ -n "$hits" ]; then
    echo "layering: $3"; echo "$hits"; fail=1
  fi
}
check server/engine '#include [<"](pqxx|libpq|grpc|grpcpp|prometheus|google/protobuf|saasmetrics/v1|server/(store|rpc|observability|cache))' \
  "engine must stay pure (Abseil and std only)"
check server/store '#include [<"](grpc|grpcpp|prometheus|google/protobuf|saasmetrics/v1|server/(rpc|observability|cache))' \
  "store must not depend on gRPC, protos, Prometheus or upper layers"
check server/observability '#include [<"](pqxx|libpq|server/(store|rpc))' \
  "observability must not depend on the database or rpc layers"
check server/rpc '#include [<"](pqxx|libpq)|#include "server/store/(tx|migrate)\.h"' \
  "rpc must reach the database only through store's public headers"
check server/cache '#include [<"](grpc|grpcpp|saasmetrics/v1|server/rpc)' \
  "cache must not depend on rpc"
# Public store headers (what rpc includes) must not pull pqxx in.
for h in server/store/*.h; do
  case "$h" in server/store/tx.h|server/store/migrate.h) continue ;; esac
  if grep -qE '#include [<"](pqxx|libpq)' "$h"; then
    echo "layering: $h is a public store header but includes pqxx/libpq"; fail=1
  fi
done
if [ "$fail" -eq 0 ]; then echo "layering: ok"; fi
exit $fail
