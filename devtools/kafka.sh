#!/usr/bin/env bash
# Apache Kafka in KRaft mode, from Kafka's own Maven artifacts: one node (the default), or a
# cluster of BRIDGEWORK_KAFKA_BROKERS nodes (3 for a replicated cluster), each a broker and a
# controller in a process of its own.
#
# Usage: devtools/kafka.sh start|stop|status|fetch|reset|bootstrap
#        devtools/kafka.sh start-node|stop-node|kill-node N     (one node of a cluster, 1..N)
#
# One node listens on BRIDGEWORK_KAFKA_PORT (19092) and BRIDGEWORK_KAFKA_CONTROLLER_PORT (19093)
# with its log in .local/kafka. A cluster's node i listens on BRIDGEWORK_KAFKA_CLUSTER_PORT + i - 1
# (29092, 29093, 29094 for three) and its controller on the N ports after those, with its log in
# .local/kafka-cluster/node-i. `bootstrap` prints the brokers' addresses; `stop` stops every node
# of either layout that is running, whatever BRIDGEWORK_KAFKA_BROKERS says now.
source "$(dirname "$0")/common.sh"

KAFKA_HOST=127.0.0.1
BROKERS="${BRIDGEWORK_KAFKA_BROKERS:-1}"
[[ "$BROKERS" =~ ^[1-9]$ ]] || { log "BRIDGEWORK_KAFKA_BROKERS must be 1 to 9, not $BROKERS"; exit 2; }
SINGLE_PORT="${BRIDGEWORK_KAFKA_PORT:-19092}"
SINGLE_CONTROLLER_PORT="${BRIDGEWORK_KAFKA_CONTROLLER_PORT:-19093}"
CLUSTER_PORT="${BRIDGEWORK_KAFKA_CLUSTER_PORT:-29092}"
SINGLE_HOME="$LOCAL/kafka"
CLUSTER_HOME="$LOCAL/kafka-cluster"
LIBS="$SINGLE_HOME/libs"  # one copy of the artifacts for either layout
# Replicas as a production cluster keeps them (at most 3 copies; one broker may be down).
REPLICAS=$((BROKERS < 3 ? BROKERS : 3))
MIN_ISR=$((REPLICAS > 1 ? 2 : 1))

fetch() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch Kafka: apt-get install maven"; exit 1; }
  log "fetching Apache Kafka broker artifacts with Maven (devtools/kafka/pom.xml)"
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -Dstyle.color=never -f "$ROOT/devtools/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime
  touch "$LIBS/.complete"
}

# Where node $1 keeps its config, log and data, and the ports it listens on.
node_home() { if ((BROKERS == 1)); then echo "$SINGLE_HOME"; else echo "$CLUSTER_HOME/node-$1"; fi; }
node_port() { if ((BROKERS == 1)); then echo "$SINGLE_PORT"; else echo $((CLUSTER_PORT + $1 - 1)); fi; }
controller_port() {
  if ((BROKERS == 1)); then echo "$SINGLE_CONTROLLER_PORT"; else echo $((CLUSTER_PORT + BROKERS + $1 - 1)); fi
}

voters() {
  local i out=()
  for ((i = 1; i <= BROKERS; i++)); do out+=("$i@$KAFKA_HOST:$(controller_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

bootstrap() {
  local i out=()
  for ((i = 1; i <= BROKERS; i++)); do out+=("$KAFKA_HOST:$(node_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

write_config() {
  local node=$1 home port controller
  home=$(node_home "$node") port=$(node_port "$node") controller=$(controller_port "$node")
  mkdir -p "$home"
  cat > "$home/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$controller
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$home/data
num.partitions=3
default.replication.factor=$REPLICAS
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$REPLICAS
transaction.state.log.replication.factor=$REPLICAS
transaction.state.log.min.isr=$MIN_ISR
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Retention applied within seconds rather than Kafka's 5 minutes: a test of a short retention
# (tests/e2e/test_rebuild.py) sees old segments go.
log.retention.check.interval.ms=1000
PROPS
  cp "$ROOT/devtools/kafka/log4j.properties" "$home/log4j.properties"
}

# A cluster's nodes run with a smaller heap than the one node: three JVMs share the machine.
heap() { if ((BROKERS == 1)); then echo "-Xms256m -Xmx768m"; else echo "-Xms128m -Xmx512m"; fi; }

java_cmd() {
  # shellcheck disable=SC2046
  java $(heap) -cp "$LIBS/*" -Dlog4j.configuration="file:$SINGLE_HOME/log4j.properties" "$@"
}

pid_of() { cat "$(node_home "$1")/broker.pid" 2>/dev/null; }
node_running() { local pid; pid=$(pid_of "$1") && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }

cluster_id() {
  local file
  if ((BROKERS == 1)); then file="$SINGLE_HOME/cluster.id"; else file="$CLUSTER_HOME/cluster.id"; fi
  [[ -s "$file" ]] || java_cmd kafka.tools.StorageTool random-uuid > "$file"
  cat "$file"
}

# Launch node $1 (formatting its log directory the first time); does not wait for it.
launch_node() {
  local node=$1 home
  home=$(node_home "$node")
  if node_running "$node"; then log "node $node already running (pid $(pid_of "$node"))"; return 0; fi
  write_config "$node"
  if [[ ! -f "$home/data/meta.properties" ]]; then
    java_cmd kafka.tools.StorageTool format -t "$(cluster_id)" -c "$home/server.properties" >/dev/null
  fi
  log "starting Kafka node $node on $KAFKA_HOST:$(node_port "$node") (log: $home/broker.log)"
  # The JVM settings of Kafka's own start script (kafka-run-class.sh): G1 with a 20 ms pause
  # target instead of the JVM's default 200 ms, since a broker pause stalls every message.
  # shellcheck disable=SC2046
  nohup java $(heap) -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
    -Djava.awt.headless=true -cp "$LIBS/*" \
    -Dlog4j.configuration="file:$home/log4j.properties" \
    kafka.Kafka "$home/server.properties" >"$home/broker.log" 2>&1 &
  echo $! > "$home/broker.pid"
}

await_node() {
  local node=$1
  wait_for_port "$KAFKA_HOST" "$(node_port "$node")" 90 "Kafka node $node" \
    || { tail -20 "$(node_home "$node")/broker.log" >&2; exit 1; }
}

start() {
  local i
  mkdir -p "$SINGLE_HOME"
  fetch
  cp "$ROOT/devtools/kafka/log4j.properties" "$SINGLE_HOME/log4j.properties"
  # Every node first: a cluster's brokers answer only once a majority of controllers has met.
  for ((i = 1; i <= BROKERS; i++)); do launch_node "$i"; done
  for ((i = 1; i <= BROKERS; i++)); do await_node "$i"; done
  log "Kafka is up ($BROKERS node(s): $(bootstrap))"
}

# stop_pid_file FILE SIGNAL: stop the process named in FILE, SIGKILL after 30 s.
stop_pid_file() {
  local file=$1 signal=$2 pid
  [[ -f "$file" ]] || return 0
  pid=$(cat "$file")
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  local file stopped=0
  # Every node of either layout, in parallel: a cluster's controllers wait for one another.
  for file in "$SINGLE_HOME/broker.pid" "$CLUSTER_HOME"/node-*/broker.pid; do
    [[ -f "$file" ]] || continue
    stop_pid_file "$file" TERM &
    stopped=1
  done
  wait
  ((stopped)) && log "Kafka stopped"
  return 0
}

node_arg() {
  [[ "${1:-}" =~ ^[1-9]$ ]] && (($1 <= BROKERS)) || { log "a node number from 1 to $BROKERS"; exit 2; }
}

status() {
  local i up=0
  for ((i = 1; i <= BROKERS; i++)); do node_running "$i" && up=$((up + 1)); done
  if ((up == BROKERS)); then echo "kafka running"; elif ((up)); then echo "kafka $up of $BROKERS nodes running"; else echo "kafka stopped"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  fetch) fetch ;;
  status) status ;;
  bootstrap) bootstrap ;;
  reset)
    stop
    if ((BROKERS == 1)); then rm -rf "$SINGLE_HOME/data" "$SINGLE_HOME/cluster.id"; else rm -rf "$CLUSTER_HOME"; fi
    ;;
  start-node) node_arg "${2:-}"; launch_node "$2"; await_node "$2" ;;
  stop-node) node_arg "${2:-}"; stop_pid_file "$(node_home "$2")/broker.pid" TERM ;;
  kill-node) node_arg "${2:-}"; stop_pid_file "$(node_home "$2")/broker.pid" KILL ;;
  *) echo "usage: $0 start|stop|status|fetch|reset|bootstrap|start-node N|stop-node N|kill-node N" >&2; exit 2 ;;
esac
