#!/usr/bin/env bash
# Apache Kafka 4 in KRaft mode (one node: broker + controller), run from Maven Central jars.
# Usage: service.sh install|start|stop|status|env
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PORT=19092
CONTROLLER_PORT=19093
POM="$INFRA_DIR/kafka/pom.xml"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
LIBS="$CACHE_DIR/kafka-$VERSION/libs"
DIR="$STATE_DIR/kafka"
PIDFILE="$DIR/kafka.pid"
LOGFILE="$DIR/server.log"
# Any fixed 16-byte id in base64url; only this single-node cluster ever sees it.
CLUSTER_ID=c3VwZXJnYXRlLWthZmthMQ

java_ok() { java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; }

cmd_install() {
  # Kafka 4 brokers need Java 17 or newer.
  java_ok || apt_install openjdk-17-jre-headless
  java_ok || die "kafka: needs Java 17+ as 'java' on PATH"
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "kafka: fetching Kafka $VERSION jars into $LIBS"
  # Download into a scratch dir and rename, so an interrupted fetch is never mistaken
  # for a complete one.
  rm -rf "$LIBS.tmp"
  mkdir -p "$CACHE_DIR"
  mvn -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS.tmp" \
    >"$CACHE_DIR/kafka-maven.log" 2>&1 ||
    fail_with_log "kafka: maven could not fetch the jars" "$CACHE_DIR/kafka-maven.log"
  touch "$LIBS.tmp/.complete"
  rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS"
  log "kafka: $(find "$LIBS" -name '*.jar' | wc -l) jars cached"
}

# A real protocol round trip (ApiVersions), not just an open port.
healthy() {
  port_open "$PORT" &&
    timeout 20 java -Dlog4j2.configurationFile="$DIR/log4j2-tools.properties" -cp "$LIBS/*" \
      org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$PORT" 2>/dev/null |
    grep -q "^127.0.0.1:$PORT (id: 1 .*isFenced: false"
}
running() { pid_alive "$(cat "$PIDFILE" 2>/dev/null || true)" kafka.Kafka; }

write_config() {
  cat > "$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat > "$DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOGFILE
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  # The health-check CLI would otherwise print client INFO noise or config warnings.
  cat > "$DIR/log4j2-tools.properties" <<EOF
status = error
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = err
EOF
}

cmd_start() {
  if running && healthy; then log "kafka: already running on $PORT"; return 0; fi
  [[ -f "$LIBS/.complete" ]] || die "kafka: jars missing in $LIBS (run: infra/services.sh up, which installs)"
  ensure_state_dir
  mkdir -p "$DIR/data"
  if ! running; then
    ensure_port_free kafka "$PORT" "$CONTROLLER_PORT"
    write_config
    if [[ ! -f "$DIR/data/meta.properties" ]]; then
      log "kafka: formatting KRaft storage in $DIR/data"
      java -Dlog4j2.configurationFile="$DIR/log4j2-tools.properties" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 ||
        fail_with_log "kafka: storage format failed" "$DIR/format.log"
    fi
    rotate_log "$LOGFILE"
    log "kafka: starting Kafka $VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT)"
    nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$DIR/log4j2.properties" -cp "$LIBS/*" \
      kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 </dev/null &
    echo $! > "$PIDFILE"
  fi
  wait_healthy kafka 60 "$LOGFILE" "$DIR/stdout.log"
  log "kafka: ready on $PORT"
}

cmd_stop() { stop_pid kafka "$(cat "$PIDFILE" 2>/dev/null || true)" kafka.Kafka TERM 30; }

cmd_status() {
  if running && healthy; then echo "kafka    running  127.0.0.1:$PORT"
  elif running; then echo "kafka    unhealthy 127.0.0.1:$PORT"
  else echo "kafka    stopped  127.0.0.1:$PORT"; fi
}

cmd_env() { echo "export SUPERGATE_KAFKA_BROKERS=127.0.0.1:$PORT"; }

case "${1:-}" in
  install | start | stop | status | env) "cmd_$1" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
