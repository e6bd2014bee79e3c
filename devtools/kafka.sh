#!/usr/bin/env bash
# A single-node Apache Kafka broker in KRaft mode, from Kafka's own Maven artifacts.
# Usage: devtools/kafka.sh start|stop|status|fetch
source "$(dirname "$0")/common.sh"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${BRIDGEWORK_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${BRIDGEWORK_KAFKA_CONTROLLER_PORT:-19093}"
HOME_DIR="$LOCAL/kafka"
LIBS="$HOME_DIR/libs"
DATA="$HOME_DIR/data"
PID_FILE="$HOME_DIR/broker.pid"

fetch() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch Kafka: apt-get install maven"; exit 1; }
  log "fetching Apache Kafka broker artifacts with Maven (devtools/kafka/pom.xml)"
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -Dstyle.color=never -f "$ROOT/devtools/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$HOME_DIR"
  cat > "$HOME_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cp "$ROOT/devtools/kafka/log4j.properties" "$HOME_DIR/log4j.properties"
}

java_cmd() {
  java -Xms256m -Xmx768m -cp "$LIBS/*" -Dlog4j.configuration="file:$HOME_DIR/log4j.properties" "$@"
}

running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

start() {
  if running; then log "broker already running (pid $(cat "$PID_FILE"))"; return 0; fi
  fetch
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then
    java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$HOME_DIR/server.properties" >/dev/null
  fi
  log "starting Kafka broker on $KAFKA_HOST:$KAFKA_PORT (log: $HOME_DIR/broker.log)"
  # The JVM settings of Kafka's own start script (kafka-run-class.sh): G1 with a 20 ms pause
  # target instead of the JVM's default 200 ms, since a broker pause stalls every message.
  nohup java -Xms256m -Xmx768m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
    -Djava.awt.headless=true -cp "$LIBS/*" \
    -Dlog4j.configuration="file:$HOME_DIR/log4j.properties" \
    kafka.Kafka "$HOME_DIR/server.properties" >"$HOME_DIR/broker.log" 2>&1 &
  echo $! > "$PID_FILE"
  wait_for_port "$KAFKA_HOST" "$KAFKA_PORT" 60 Kafka || { tail -20 "$HOME_DIR/broker.log" >&2; exit 1; }
  log "Kafka is up"
}

stop() {
  running || { rm -f "$PID_FILE"; return 0; }
  local pid; pid=$(cat "$PID_FILE")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  log "Kafka stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  fetch) fetch ;;
  status) running && echo "kafka running" || echo "kafka stopped" ;;
  reset) stop; rm -rf "$DATA" ;;
  *) echo "usage: $0 start|stop|status|fetch|reset" >&2; exit 2 ;;
esac
