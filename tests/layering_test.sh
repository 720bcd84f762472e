#!/usr/bin/env bash
# The layer rules of STYLE.md, checked on the includes: engine is pure (Abseil and the
# standard library), only store includes pqxx/libpq, only rpc (and clients) include
# gRPC or generated protos, rpc → query → {engine, store, cache}, and main.cc only wires.
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
check server/rpc '#include [<"](pqxx|libpq)' "rpc must not include pqxx/libpq"
check server/cache '#include [<"](pqxx|libpq|grpc|grpcpp|saasmetrics/v1|server/(rpc|query|store))' \
  "cache must not depend on the database, rpc or query layers"
check server/query '#include [<"](pqxx|libpq|grpc|grpcpp|prometheus|google/protobuf|saasmetrics/v1|server/(rpc|observability))' \
  "query must not depend on gRPC, protos, Prometheus or rpc (it returns absl::Status)"
check server/engine '#include [<"]server/query' "engine must not depend on query"
check server/store '#include [<"]server/query' "store must not depend on query"

# rpc reaches partitions, snapshots and the cache only through the query layer (server.cc
# only wires them).
hits=$(grep -rnE '#include [<"]server/(cache/|store/metrics_store)' server/rpc | grep -v '^server/rpc/server.cc:' || true)
if [ -n "$hits" ]; then
  echo "layering: rpc must go through the query layer for partitions and the cache"; echo "$hits"
  fail=1
fi
# Store headers that include pqxx say "Internal to the store layer"; only store (and
# its tests) may include those.
for h in server/store/*.h; do
  if grep -q "Internal to the store layer" "$h"; then
    if grep -rqE "#include \"$h\"" server/rpc server/observability server/main.cc client; then
      echo "layering: $h is internal to store but included above it"; fail=1
    fi
  elif grep -qE '#include [<"](pqxx|libpq)' "$h"; then
    echo "layering: $h includes pqxx/libpq but is not marked 'Internal to the store layer'"
    fail=1
  fi
done
if [ "$fail" -eq 0 ]; then echo "layering: ok"; fi
exit $fail
