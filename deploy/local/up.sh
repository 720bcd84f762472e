#!/usr/bin/env bash
# README command (1): on a fresh Debian 12 machine, install dependencies, build, start a
# project-local PostgreSQL (.local/pg), the saasmetrics server and its REST gateway, create
# the demo tenant, and print how to query it. Re-running restarts the service with the
# data kept. deploy/local/down.sh stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
state=$root/.local
pg_port=${SAASMETRICS_PG_PORT:-55432}
grpc_port=${SAASMETRICS_GRPC_PORT:-50051}
http_port=${SAASMETRICS_HTTP_PORT:-8080}
metrics_port=${SAASMETRICS_METRICS_PORT:-9464}
pgbin=/usr/lib/postgresql/15/bin
bin=$root/build/bin

deploy/install-deps.sh all
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
mkdir -p "$state"
"$root/deploy/local/down.sh" --keep-db >/dev/null 2>&1 || true

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgdata=$state/pg
if [ ! -f "$pgdata/db/PG_VERSION" ]; then
  mkdir -p "$pgdata"
  [ "$(id -u)" -eq 0 ] && chown postgres "$pgdata"
  chmod 700 "$pgdata"
  as_pg "$pgbin/initdb" -D "$pgdata/db" -U postgres -A trust -E UTF8 --no-locale >/dev/null
fi
if ! as_pg "$pgbin/pg_ctl" -D "$pgdata/db" status >/dev/null 2>&1; then
  as_pg "$pgbin/pg_ctl" -D "$pgdata/db" -l "$pgdata/server.log" -w start \
    -o "-h 127.0.0.1 -p $pg_port -k $pgdata" >/dev/null
fi
db_url="postgresql://postgres@127.0.0.1:$pg_port/saasmetrics"
as_pg "$pgbin/../bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='saasmetrics'" | grep -q 1 ||
  as_pg "$pgbin/../bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE saasmetrics"

nohup "$bin/saasmetrics" --database_url="$db_url" --grpc_address="127.0.0.1:$grpc_port" \
  --metrics_address="127.0.0.1:$metrics_port" >"$state/server.log" 2>&1 &
echo $! >"$state/server.pid"
ctl=("$bin/saasctl" --address="127.0.0.1:$grpc_port")
for _ in $(seq 1 120); do
  "${ctl[@]}" --timeout=1s health >/dev/null 2>&1 && break
  kill -0 "$(cat "$state/server.pid")" 2>/dev/null || { cat "$state/server.log"; exit 1; }
  sleep 0.5
done
"${ctl[@]}" health >/dev/null || { echo "server did not become SERVING:"; cat "$state/server.log"; exit 1; }

if [ -x "$bin/saasmetrics-gateway" ]; then
  nohup "$bin/saasmetrics-gateway" --listen="127.0.0.1:$http_port" \
    --backend="127.0.0.1:$grpc_port" >"$state/gateway.log" 2>&1 &
  echo $! >"$state/gateway.pid"
fi

"${ctl[@]}" tenants get demo >/dev/null 2>&1 ||
  "${ctl[@]}" tenants create demo --currency=USD --timezone=UTC --name="Demo SaaS" >/dev/null
# Demo data: dbt's public subscription-periods sample (idempotent: re-running adds nothing).
dataset=$root/../shared/datasets/subscription_periods.csv
[ -f "$dataset" ] || dataset=$root/deploy/local/subscription_periods.csv
"${ctl[@]}" import subscription-periods "$dataset" --tenant=demo

cat <<EOT

saasmetrics is running (health: SERVING).
  gRPC        127.0.0.1:$grpc_port       (log: .local/server.log)
  REST        http://127.0.0.1:$http_port   (grpc-gateway; log: .local/gateway.log)
  Prometheus  http://127.0.0.1:$metrics_port/metrics
  PostgreSQL  $db_url

Try (tenant "demo" holds the subscription-periods sample, 2017-2020):
  build/bin/saasctl --address=127.0.0.1:$grpc_port metrics mrr --tenant=demo --from=2018-01-01 --to=2019-12-31 --interval=quarter
  build/bin/saasctl --address=127.0.0.1:$grpc_port metrics churn --tenant=demo --from=2019-01-01 --to=2019-06-30
  build/bin/saasctl --address=127.0.0.1:$grpc_port metrics movements --tenant=demo --from=2019-01-01 --to=2019-01-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port -o json tenants get demo
  curl -s 'http://127.0.0.1:$http_port/v1/tenants/demo/metrics/mrr?query.start_date=2019-01-01&query.end_date=2019-03-31&query.interval=INTERVAL_MONTH'
  curl -s http://127.0.0.1:$http_port/v1/tenants/demo
  curl -s -X POST http://127.0.0.1:$http_port/v1/tenants -d '{"tenant_id":"acme","currency":"EUR","timezone":"Europe/Berlin"}'
  curl -s http://127.0.0.1:$metrics_port/metrics | grep grpc_server_handled_total

Stop everything: deploy/local/down.sh   (add --wipe to delete the local database too)
EOT
