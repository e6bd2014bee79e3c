#!/usr/bin/env bash
# Run a command with the local Kafka broker (fresh log) and PostgreSQL up; stop both afterwards,
# whatever happens. Usage: devtools/with-infra.sh COMMAND [ARGS...]
source "$(dirname "$0")/common.sh"

# Quietly, so the command's own last line (the demo's Summary) stays the last line printed.
cleanup() {
  # Only this checkout's services: other checkouts on the machine may run stacks of their own.
  pkill -f "$ROOT/.venv/bin/python -m services\\." 2>/dev/null || true
  bash "$ROOT/devtools/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$ROOT/devtools/postgres.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The ports can be moved (BRIDGEWORK_KAFKA_PORT, BRIDGEWORK_PG_PORT) so that two checkouts can
# run their stacks side by side; the services and tests then follow them.
export BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS="${BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${BRIDGEWORK_KAFKA_PORT:-19092}}"
if [[ -z "${DATABASE_URL:-}${BRIDGEWORK_DATABASE_URL:-}" ]]; then
  export BRIDGEWORK_DATABASE_URL="postgresql://bridgework@127.0.0.1:${BRIDGEWORK_PG_PORT:-55432}/bridgework"
fi

bash "$ROOT/devtools/kafka.sh" reset
bash "$ROOT/devtools/kafka.sh" start
bash "$ROOT/devtools/postgres.sh" start
"$@"
