#!/usr/bin/env bash
# Redis (Debian's redis-server), no persistence: it only holds test state.
# Usage: service.sh install|start|stop|status|env
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PORT=63799
DIR="$STATE_DIR/redis"
PIDFILE="$DIR/redis.pid"
LOGFILE="$DIR/redis.log"

cmd_install() {
  # redis-tools brings redis-cli; the package's own redis on 6379 is never used.
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
  fi
}

healthy() { [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]; }
running() { pid_alive "$(cat "$PIDFILE" 2>/dev/null || true)" redis-server; }

cmd_start() {
  if running && healthy; then log "redis: already running on $PORT"; return 0; fi
  ensure_state_dir
  mkdir -p "$DIR"
  if ! running; then
    ensure_port_free redis "$PORT"
    cat > "$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $PORT
daemonize yes
pidfile $PIDFILE
logfile $LOGFILE
dir $DIR
save ""
appendonly no
EOF
    log "redis: starting on 127.0.0.1:$PORT"
    rotate_log "$LOGFILE"
    redis-server "$DIR/redis.conf" || fail_with_log "redis: redis-server failed to start" "$LOGFILE"
  fi
  wait_healthy redis 30 "$LOGFILE"
  log "redis: ready on $PORT"
}

cmd_stop() { stop_pid redis "$(cat "$PIDFILE" 2>/dev/null || true)" redis-server TERM 30; }

cmd_status() {
  if running && healthy; then echo "redis    running  127.0.0.1:$PORT"
  elif running; then echo "redis    unhealthy 127.0.0.1:$PORT"
  else echo "redis    stopped  127.0.0.1:$PORT"; fi
}

cmd_env() { echo "export SUPERGATE_REDIS_URL=redis://127.0.0.1:$PORT"; }

case "${1:-}" in
  install | start | stop | status | env) "cmd_$1" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
