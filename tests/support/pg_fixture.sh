#!/usr/bin/env bash
# Starts or stops the throwaway PostgreSQL 15 a test run owns.
#   pg_fixture.sh start STATE_DIR   initdb into a fresh temp dir, start on a free loopback
#                                   port, write STATE_DIR/conninfo (libpq URL of the
#                                   'postgres' database) and STATE_DIR/datadir
#   pg_fixture.sh stop STATE_DIR    stop it and delete its data
#   pg_fixture.sh halt STATE_DIR    stop it (fast shutdown), keeping its data: an outage
#   pg_fixture.sh resume STATE_DIR  start it again on the same port after `halt`
# Runs the server as the 'postgres' user when invoked as root (PostgreSQL refuses root).
set -euo pipefail
cmd=${1:?usage: pg_fixture.sh start|stop|halt|resume STATE_DIR}
state=${2:?usage: pg_fixture.sh start|stop|halt|resume STATE_DIR}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Throwaway data: durability settings off (a clean shutdown still writes everything).
settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  [ -f "$state/datadir" ] || return 0
  local data; data=$(cat "$state/datadir")
  if [ -d "$data" ]; then
    as_owner "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$data"
  fi
  rm -f "$state/datadir" "$state/conninfo"
}

case "$cmd" in
  start)
    mkdir -p "$state"
    stop  # a previous run that died leaves its server behind
    data=$(mktemp -d /tmp/saasmetrics-test-pg.XXXXXX)
    echo "$data" > "$state/datadir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$data"
    chmod 700 "$data"
    as_owner "$bin/initdb" -D "$data/db" -U postgres -A trust -E UTF8 --no-locale \
      >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log"; exit 1; }
    for attempt in 1 2 3 4 5; do
      # Below the kernel's ephemeral range (32768-60999): no outgoing connection can hold it.
      port=$(( 20000 + RANDOM % 12000 ))  # a taken port fails the start; then try another
      if as_owner "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 30 start \
           -o "-h 127.0.0.1 -p $port -k $data $settings" >/dev/null; then
        echo "postgresql://postgres@127.0.0.1:$port/postgres" > "$state/conninfo"
        echo "test PostgreSQL on 127.0.0.1:$port (data $data)"
        exit 0
      fi
    done
    cat "$data/server.log"; exit 1 ;;
  stop) stop ;;
  halt)
    data=$(cat "$state/datadir")
    as_owner "$bin/pg_ctl" -D "$data/db" -m fast -w stop >/dev/null ;;
  resume)
    data=$(cat "$state/datadir")
    port=$(sed -E 's/.*:([0-9]+)\/.*/\1/' "$state/conninfo")
    as_owner "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 30 start \
      -o "-h 127.0.0.1 -p $port -k $data $settings" >/dev/null ;;
  *) echo "usage: pg_fixture.sh start|stop|halt|resume STATE_DIR" >&2; exit 2 ;;
esac
