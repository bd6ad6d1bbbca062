#!/usr/bin/env bash
# Start throwaway PostgreSQL and Redis instances for the test suite and print the
# environment that points at them. Used by `make test` (and so by CI).
#   eval "$(.ci/services.sh start)"   # start (idempotent) and export URLs
#   .ci/services.sh stop
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${CMS_TEST_SERVICES_DIR:-$ROOT/var/test-services}
PG_PORT=${CMS_TEST_PG_PORT:-55432}
REDIS_PORT=${CMS_TEST_REDIS_PORT:-56379}
PG_DATA=$RUN_DIR/pgdata

pg_bin() {
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$1" ] && { echo "$dir/$1"; return; }
  done
  command -v "$1" || { echo "error: PostgreSQL's $1 not found (install postgresql-15)" >&2; exit 1; }
}

as_postgres() {
  # PostgreSQL refuses to run as root; run its tools as the postgres user then.
  if [ "$(id -u)" = "0" ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  else
    echo "error: redis-server is missing; install it (apt-get install redis-server) and rerun" >&2
    exit 1
  fi
}

start() {
  mkdir -p "$RUN_DIR"
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$RUN_DIR" --shell /bin/bash postgres
    chown postgres "$RUN_DIR"
    chmod 755 "$RUN_DIR"
  fi
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    as_postgres "$(pg_bin initdb) -D '$PG_DATA' -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null"
  fi
  if ! as_postgres "$(pg_bin pg_ctl) -D '$PG_DATA' status >/dev/null 2>&1"; then
    as_postgres "$(pg_bin pg_ctl) -D '$PG_DATA' -l '$PG_DATA/server.log' -w -t 60 \
      -o \"-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300\" start >/dev/null"
  fi
  ensure_redis
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" --maxclients 20000
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/cms"
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  [ -d "$PG_DATA" ] && as_postgres "$(pg_bin pg_ctl) -D '$PG_DATA' -m fast stop >/dev/null 2>&1" || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
