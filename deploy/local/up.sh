#!/usr/bin/env bash
# README command (1): on a fresh Debian 12 machine, install dependencies, build, start a
# project-local PostgreSQL (.local/pg), the saasmetrics server and its REST gateway, create
# the demo tenant, and print how to query it. Re-running restarts the service with the
# data kept. deploy/local/down.sh stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
state=$root/.local
pg_port=${SAASMETRICS_PG_PORT:-15432}  # below the ephemeral range (32768-60999)
grpc_port=${SAASMETRICS_GRPC_PORT:-50051}
http_port=${SAASMETRICS_HTTP_PORT:-8080}
metrics_port=${SAASMETRICS_METRICS_PORT:-9464}
pgbin=/usr/lib/postgresql/15/bin
bin=$root/build/bin

deploy/install-deps.sh all
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what this script runs: the test binaries and fuzz targets are tests/run.sh's.
targets=(saasmetrics saasctl)
command -v go >/dev/null && targets+=(gateway)
cmake --build build --target "${targets[@]}"
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

# Every call needs an API key. The server's bootstrap admin key (every tenant, every role)
# is made once and kept in a file only this user can read; saasctl reads it from there.
new_token() {
  printf 'sm_%s_%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
    "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
}
umask 077
[ -s "$state/admin.token" ] || new_token >"$state/admin.token"
printf 'Authorization: Bearer %s\n' "$(cat "$state/admin.token")" >"$state/admin.header"
umask 022

nohup "$bin/saasmetrics" --database_url="$db_url" --grpc_address="127.0.0.1:$grpc_port" \
  --metrics_address="127.0.0.1:$metrics_port" --bootstrap_admin_key_file="$state/admin.token" \
  >"$state/server.log" 2>&1 &
echo $! >"$state/server.pid"
ctl=("$bin/saasctl" --address="127.0.0.1:$grpc_port" --token_file="$state/admin.token")
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

ensure_tenant() {  # ensure_tenant ID NAME
  "${ctl[@]}" tenants get "$1" >/dev/null 2>&1 ||
    "${ctl[@]}" tenants create "$1" --currency=USD --timezone=UTC --name="$2" >/dev/null
}
# Demo data (idempotent: re-running adds nothing):
# - demo: dbt's public subscription-periods sample (2017-2020);
# - telco: IBM's public Telco churn snapshot, its month December 2024;
# - acme: the seeded generator, 2 000 customers over 2023-2024 with usage, those in DE
#   billed in EUR and in GB in GBP (with a weekly rate table into USD);
# - live: the generator again, 300 customers over the six months before this one, so that
#   the last 92 days (what a health watch covers) have moves.
ensure_tenant demo "Demo SaaS"
"${ctl[@]}" -q import subscription-periods deploy/local/subscription_periods.csv --tenant=demo
ensure_tenant telco "Telco (IBM sample)"
"${ctl[@]}" -q import telco deploy/local/telco_customer_churn.csv --tenant=telco --snapshot=2024-12-31
ensure_tenant acme "Acme (generated)"
"${ctl[@]}" -q generate --tenant=acme --customers=2000 --months=24 --first_month=2023-01 --usage=200000 \
  --local_currencies
if ! "${ctl[@]}" pql-rules list --tenant=acme | grep -q '^engaged '; then
  echo '{"rule_id":"engaged","name":"Engaged trial","window_days":30,"conditions":[{"kind":"KIND_EVENT_COUNT","event_type":"report.created","threshold":5}]}' |
    "${ctl[@]}" pql-rules create --tenant=acme - >/dev/null
fi
ensure_tenant live "Live (generated, the last six months)"
"${ctl[@]}" -q generate --tenant=live --customers=300 --months=6 \
  --first_month="$(date -u -d "$(date -u +%Y-%m-15) -6 months" +%Y-%m)" --usage=30000
for tenant in acme live; do
  if ! "${ctl[@]}" engagement-models list --tenant=$tenant | grep -q '^health '; then
    echo '{"model_id":"health","name":"Customer health","window_days":30,"components":[{"name":"active days","event_types":["login"],"aggregation":"AGGREGATION_ACTIVE_DAYS","target":12,"weight":2},{"name":"reports","event_types":["report.created"],"aggregation":"AGGREGATION_COUNT","target":10,"weight":1}]}' |
      "${ctl[@]}" engagement-models create --tenant=$tenant - >/dev/null
  fi
done

# Churn models (ANALYTICS.md "Churn risk"): Telco's from its snapshot (labels: churned within
# 30 days of Nov 30; 5-fold cross-validation), acme's from 18 month ends of usage and billing.
"${ctl[@]}" -q models train --tenant=telco --id=churn --from=2024-11-01 --to=2024-11-30 \
  --horizon_days=30 --field=attributes.contract --field=attributes.payment_method \
  --field=attributes.internet_service >/dev/null
"${ctl[@]}" -q models train --tenant=acme --id=churn --from=2023-01-01 --to=2024-06-30 \
  --field=acquisition_channel >/dev/null

# A demo key that reads every tenant (and nothing else), made once.
umask 077
if [ ! -s "$state/demo.token" ] ||
  ! "$bin/saasctl" --address="127.0.0.1:$grpc_port" --token_file="$state/demo.token" \
    tenants get demo >/dev/null 2>&1; then
  "${ctl[@]}" keys create --roles=read --name="up.sh demo key" 2>/dev/null >"$state/demo.token.new"
  tail -n 1 "$state/demo.token.new" >"$state/demo.token"
  rm -f "$state/demo.token.new"
fi
printf 'Authorization: Bearer %s\n' "$(cat "$state/demo.token")" >"$state/demo.header"
umask 022

cat <<EOT

saasmetrics is running (health: SERVING).
  gRPC        127.0.0.1:$grpc_port       (log: .local/server.log)
  REST        http://127.0.0.1:$http_port   (grpc-gateway; log: .local/gateway.log)
  Dashboard   http://127.0.0.1:$http_port/#/mrr?tenant=demo&start=2019-01-01&end=2019-12-31&interval=month
              (enter the demo key below once; it stays in that browser tab only)
  Prometheus  http://127.0.0.1:$metrics_port/metrics
  PostgreSQL  $db_url

API keys: every call sends one. The demo key (reads every tenant, nothing else):
  $(cat "$state/demo.token")   (in .local/demo.token; the admin key is in .local/admin.token)
  Create more: build/bin/saasctl --token_file=.local/admin.token keys create --tenant=demo --roles=read,ingest

Try (tenants: demo = subscription-periods sample 2017-2020; telco = Telco snapshot, Dec 2024;
     acme = generated 2023-2024 with usage, billed in USD, EUR and GBP; live = generated, the
     six months before this one):
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics mrr --tenant=demo --from=2018-01-01 --to=2019-12-31 --interval=quarter
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics churn --tenant=telco --from=2024-10-01 --to=2024-12-31 --filter=attributes.contract=Month-to-month
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics churn --tenant=telco --from=2024-12-01 --to=2024-12-31 --group_by=attributes.contract
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics cohorts --tenant=telco --from=2024-01-01 --to=2024-12-31 --group_by=attributes.contract
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics mrr --tenant=acme --from=2024-01-01 --to=2024-12-31 --interval=quarter --by_currency
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics unit-economics --tenant=acme --from=2024-01-01 --to=2024-12-31 --interval=quarter
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics active --tenant=acme --from=2024-12-01 --to=2024-12-31 --interval=week
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics pql --tenant=acme --rule=engaged --from=2024-01-01 --to=2024-12-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics engagement --tenant=acme --model=health --from=2024-01-01 --to=2024-12-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics engagement-scores --tenant=acme --model=health --to=2024-12-31 --max_score=20
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics health --tenant=acme --from=2024-07-01 --to=2024-12-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics health-customers --tenant=acme --to=2024-12-31 --group=at_risk
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token customer cus_0000042 --tenant=acme --date=2024-12-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics icp --tenant=acme --to=2024-12-31 --field=acquisition_channel --field=country --field=attributes.segment
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics nps --tenant=acme --from=2024-01-01 --to=2024-12-31 --interval=quarter --group_by=health
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics renewals --tenant=acme --from=2024-01-01 --to=2024-12-31 --interval=quarter
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics mrr-by-cohort --tenant=acme --from=2024-01-01 --to=2024-12-31 --interval=quarter
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics health-transitions --tenant=acme --from=2024-12-01 --to=2024-12-31 --group=at_risk
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token health watch --tenant=live --from=$(date -u -d '-30 days' +%F) --until=$(date -u -d '-1 day' +%F) --group=at_risk   # without --until it keeps watching
  timeout 3 curl -sN -H @.local/demo.header 'http://127.0.0.1:$http_port/v1/tenants/live/health_transitions:watch?query.start_date=$(date -u -d '-3 days' +%F)'   # a stream: days as they end
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics activation --tenant=acme --event_type=report.created --from=2024-01-01 --to=2024-12-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics survival --tenant=telco --from=2015-01-01 --to=2024-12-31 --group_by=attributes.contract --cox --cox_field=attributes.contract
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics retention-drivers --tenant=acme --from=2023-01-01 --to=2024-06-30
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token models get --tenant=telco --id=churn
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token models list --tenant=acme
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token models scores --tenant=acme --id=churn --to=2024-12-31 --limit=20
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token metrics movements --tenant=demo --from=2019-01-01 --to=2019-01-31
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/demo.token -o json tenants get demo
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/admin.token keys list
  build/bin/saasctl --address=127.0.0.1:$grpc_port --token_file=.local/admin.token load --tenant=acme --clients=4 --duration=10s
  curl -s -H @.local/demo.header 'http://127.0.0.1:$http_port/v1/tenants/demo/metrics/mrr?query.start_date=2019-01-01&query.end_date=2019-03-31&query.interval=INTERVAL_MONTH'
  curl -s -H @.local/demo.header http://127.0.0.1:$http_port/v1/tenants/demo
  curl -s -H @.local/admin.header -X POST http://127.0.0.1:$http_port/v1/tenants -d '{"tenant_id":"example","currency":"EUR","timezone":"Europe/Berlin"}'
  curl -s http://127.0.0.1:$metrics_port/metrics | grep grpc_server_handled_total

Stop everything: deploy/local/down.sh   (add --wipe to delete the local database too)
EOT
