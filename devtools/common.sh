# Shared by the local-infrastructure scripts: where local state lives and how to wait for a port.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${BRIDGEWORK_LOCAL_DIR:-$ROOT/.local}"
mkdir -p "$LOCAL"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# wait_for_port HOST PORT SECONDS NAME
wait_for_port() {
  local host=$1 port=$2 seconds=$3 name=$4 i
  for ((i = 0; i < seconds * 4; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  log "$name did not answer on $host:$port within ${seconds}s"
  return 1
}
