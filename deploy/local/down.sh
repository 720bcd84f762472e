#!/usr/bin/env bash
# Stops what deploy/local/up.sh started.
#   down.sh            stop gateway, server and PostgreSQL (data kept in .local/pg)
#   down.sh --keep-db  stop gateway and server only
#   down.sh --wipe     stop everything and delete .local/
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
state=$root/.local
for name in gateway server; do
  if [ -f "$state/$name.pid" ]; then
    pid=$(cat "$state/$name.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$state/$name.pid"
  fi
done
[ "${1:-}" = "--keep-db" ] && exit 0
if [ -f "$state/pg/db/PG_VERSION" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$state/pg/db" -w stop >/dev/null 2>&1
  else
    /usr/lib/postgresql/15/bin/pg_ctl -D "$state/pg/db" -w stop >/dev/null 2>&1
  fi
fi
[ "${1:-}" = "--wipe" ] && rm -rf "$state"
echo "stopped"
