#!/usr/bin/env bash
# Run a command with the local Kafka broker (fresh log) and PostgreSQL up; stop both afterwards,
# whatever happens. Usage: deploy/with-infra.sh COMMAND [ARGS...]
source "$(dirname "$0")/common.sh"

# Quietly, so the command's own last line (the demo's Summary) stays the last line printed.
cleanup() {
  pkill -f 'services\.(profiles|matcher|notifier)' 2>/dev/null || true
  bash "$ROOT/deploy/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$ROOT/deploy/postgres.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

bash "$ROOT/deploy/kafka.sh" reset
bash "$ROOT/deploy/kafka.sh" start
bash "$ROOT/deploy/postgres.sh" start
"$@"
