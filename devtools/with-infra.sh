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

# The ports can be moved (BRIDGEWORK_KAFKA_PORT, BRIDGEWORK_KAFKA_CLUSTER_PORT,
# BRIDGEWORK_PG_PORT) so that two checkouts can run their stacks side by side; the services and
# tests then follow them. BRIDGEWORK_KAFKA_BROKERS=3 runs a three-broker cluster instead of one
# broker, and the services create their topics with three replicas, two of them in sync.
export BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS="${BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS:-$(bash "$ROOT/devtools/kafka.sh" bootstrap)}"
if (( ${BRIDGEWORK_KAFKA_BROKERS:-1} >= 3 )); then
  export BRIDGEWORK_KAFKA_REPLICATION_FACTOR="${BRIDGEWORK_KAFKA_REPLICATION_FACTOR:-3}"
  export BRIDGEWORK_KAFKA_MIN_INSYNC_REPLICAS="${BRIDGEWORK_KAFKA_MIN_INSYNC_REPLICAS:-2}"
fi
if [[ -z "${DATABASE_URL:-}${BRIDGEWORK_DATABASE_URL:-}" ]]; then
  export BRIDGEWORK_DATABASE_URL="postgresql://bridgework@127.0.0.1:${BRIDGEWORK_PG_PORT:-55432}/bridgework"
fi

bash "$ROOT/devtools/kafka.sh" reset
bash "$ROOT/devtools/kafka.sh" start
bash "$ROOT/devtools/postgres.sh" start
"$@"
