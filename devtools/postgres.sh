#!/usr/bin/env bash
# A local PostgreSQL server for Bridgework, installed from Debian's packages when missing.
# When DATABASE_URL is set, that server is used instead and this script does nothing.
# Usage: devtools/postgres.sh start|stop|status|bin (bin: where its tools are, pg_dump among them)
source "$(dirname "$0")/common.sh"

PG_PORT="${BRIDGEWORK_PG_PORT:-55432}"
# PostgreSQL runs as the postgres user when we are root, and that user may not be able to reach
# a checkout under /root: keep its data under /tmp then, one folder per checkout.
if [[ $(id -u) -eq 0 ]]; then
  PG_DIR="${BRIDGEWORK_PG_DIR:-/tmp/bridgework-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)}"
else
  PG_DIR="${BRIDGEWORK_PG_DIR:-$LOCAL/postgres}"
fi
DATA="$PG_DIR/data"
# The server's log must carry no personal data (docs/security.md): an error's DETAIL quotes the
# row's values ("Key (email)=(...) already exists"), the statement and its parameters may too.
# Terse errors, no failing statement, no parameters (even if slow-statement logging is turned on).
PRIVATE_LOG_OPTIONS="-c log_error_verbosity=terse -c log_min_error_statement=panic"
PRIVATE_LOG_OPTIONS+=" -c log_parameter_max_length=0 -c log_parameter_max_length_on_error=0"
# Extra server options, e.g. "-c track_commit_timestamp=on" for the pipeline benchmark's
# commit stage (docs/scaling.md). Read at start: stop the server to change them.
EXTRA_OPTIONS="${BRIDGEWORK_PG_OPTIONS:-}"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z "$dir" ]]; then
    log "installing PostgreSQL from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  if [[ -n "${DATABASE_URL:-}" ]]; then log "DATABASE_URL is set: using that server"; return 0; fi
  local bin; bin=$(pg_bin)
  mkdir -p "$PG_DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$DATA" -U bridgework --auth=trust -E UTF8 >/dev/null
  fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "PostgreSQL already running"; return 0
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c fsync=off -c max_connections=200 $PRIVATE_LOG_OPTIONS $EXTRA_OPTIONS" >/dev/null
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U bridgework bridgework 2>/dev/null || true
  log "PostgreSQL is up: postgresql://bridgework@127.0.0.1:$PG_PORT/bridgework"
}

stop() {
  [[ -n "${DATABASE_URL:-}" || ! -f "$DATA/PG_VERSION" ]] && return 0
  local bin; bin=$(pg_bin)
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  log "PostgreSQL stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) as_owner "$(pg_bin)/pg_ctl" -D "$DATA" status ;;
  bin) pg_bin ;;
  *) echo "usage: $0 start|stop|status|bin" >&2; exit 2 ;;
esac
