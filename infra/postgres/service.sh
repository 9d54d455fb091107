#!/usr/bin/env bash
# PostgreSQL 15 (Debian) + pgvector 0.8 (built from Debian trixie's source package).
# Usage: service.sh install|start|stop|status|env
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PORT=54329
URL="postgres://supergate:supergate@127.0.0.1:$PORT/supergate"
PG_BIN=/usr/lib/postgresql/15/bin
VECTOR_CONTROL=/usr/share/postgresql/15/extension/vector.control
TRIXIE_SRC=/etc/apt/sources.list.d/supergate-trixie-src.sources

# initdb runs as the postgres OS user, which must be able to reach the data dir, and a
# unix socket path is limited to ~107 bytes: if the repo path fails either, keep the
# cluster under /var/tmp instead (stable per repo path).
pg_dir() {
  local dir="$STATE_DIR/postgres"
  ensure_state_dir
  if ! runuser -u postgres -- test -x "$STATE_DIR" || ((${#dir} > 80)); then
    dir="/var/tmp/supergate-$(printf '%s' "$REPO_ROOT" | md5sum | cut -c1-12)/postgres"
  fi
  echo "$dir"
}
PG_DIR="$(pg_dir)"
DATA="$PG_DIR/data"
SOCK_DIR="$PG_DIR/run"
LOGFILE="$PG_DIR/postgres.log"

vector_is_08() { grep -Eq "^default_version *= *'0\.8\." "$VECTOR_CONTROL" 2>/dev/null; }

# The mirror this machine already uses for bookworm, so no host name is hard-coded.
debian_mirror() {
  {
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | awk -v RS= '
      /(^|\n)Suites:[^\n]*bookworm( |\n|$)/ && !/(^|\n)Enabled: *no/ {
        if (match($0, /(^|\n)URIs: *[^ \n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.*URIs: */, "", s); print s }
      }'
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      awk '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i+1) == "bookworm") print $i }'
  } | grep -v -m1 security || true
}

install_pgvector() {
  if vector_is_08; then return 0; fi
  apt_install postgresql-server-dev-15 build-essential dpkg-dev
  if [[ ! -f $TRIXIE_SRC ]]; then
    local mirror; mirror="$(debian_mirror)"
    [[ -n $mirror ]] || die "postgres: cannot find this machine's Debian mirror in /etc/apt"
    log "postgres: adding trixie deb-src (source packages only)"
    # deb-src only: apt reads no binary package index from it, so nothing from trixie
    # can ever be installed; the bookworm archive keyring also carries trixie's keys.
    cat > "$TRIXIE_SRC" <<EOF
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  if ! apt-cache showsrc pgvector 2>/dev/null | grep -q '^Version: 0\.8\.'; then
    log "postgres: refreshing the trixie source index only"
    apt-get update -qq -o Dir::Etc::SourceList="$TRIXIE_SRC" -o Dir::Etc::SourceParts=- \
      -o APT::Get::List-Cleanup=0 || die "postgres: apt-get update of the trixie sources failed"
  fi
  local tmp; tmp="$(mktemp -d)"
  # apt fetches as the unprivileged _apt user when it can write the target dir.
  chown _apt "$tmp"
  log "postgres: building pgvector from the trixie source package"
  (
    cd "$tmp"
    apt-get source -q pgvector/trixie
    cd pgvector-*/
    # Portable flags (no -march=native) and no LLVM bitcode: the JIT gains nothing here.
    make -s -j2 PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" with_llvm=no
    make -s install PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" with_llvm=no
  ) > "$tmp.log" 2>&1 || { rm -rf "$tmp"; fail_with_log "postgres: pgvector build failed" "$tmp.log"; }
  rm -rf "$tmp" "$tmp.log"
  vector_is_08 || die "postgres: pgvector built but $VECTOR_CONTROL is not 0.8.x"
  log "postgres: installed pgvector $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$VECTOR_CONTROL")"
}

cmd_install() {
  if ! pkg_installed postgresql-15; then
    apt_install postgresql-common
    # Otherwise the package creates and starts a "main" cluster on 5432 we never use.
    sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    apt_install postgresql-15 postgresql-client-15
  fi
  install_pgvector
}

healthy() {
  pg_isready -q -h 127.0.0.1 -p "$PORT" -t 2 &&
    [[ "$(psql "$URL" -tAXc "SELECT extversion FROM pg_extension WHERE extname='vector'" 2>/dev/null)" == 0.8.* ]]
}

postmaster_pid() { head -n1 "$DATA/postmaster.pid" 2>/dev/null || true; }
running() { pid_alive "$(postmaster_pid)" postgres; }

as_pg() { runuser -u postgres -- "$@"; }

init_cluster() {
  log "postgres: initdb into $DATA"
  mkdir -p "$DATA" "$SOCK_DIR"
  chown -R postgres:postgres "$PG_DIR"
  chmod 700 "$DATA"
  as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 ||
    fail_with_log "postgres: initdb failed" "$PG_DIR/initdb.log"
  echo "include_if_exists = 'supergate.conf'" >> "$DATA/postgresql.conf"
}

setup_db() {
  as_pg psql -h "$SOCK_DIR" -p "$PORT" -d postgres -qtAX -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supergate') THEN
    CREATE ROLE supergate;
  END IF;
END $$;
-- SUPERUSER because pgvector is not a trusted extension: without it the app could not
-- CREATE EXTENSION vector in the databases it creates (e.g. one per test run).
ALTER ROLE supergate SUPERUSER LOGIN CREATEDB CREATEROLE PASSWORD 'supergate';
SELECT 'CREATE DATABASE supergate OWNER supergate'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'supergate') \gexec
\c supergate
CREATE EXTENSION IF NOT EXISTS vector;
SQL
}

cmd_start() {
  if running && healthy; then log "postgres: already running on $PORT"; return 0; fi
  [[ $PG_DIR == "$STATE_DIR"/* ]] || log "postgres: repo path not reachable by the postgres user or too long for a socket, data in $PG_DIR"
  [[ -f "$DATA/PG_VERSION" ]] || init_cluster
  mkdir -p "$SOCK_DIR" && chown postgres:postgres "$SOCK_DIR"
  cat > "$DATA/supergate.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK_DIR'
shared_buffers = 128MB
max_connections = 200
password_encryption = scram-sha-256
EOF
  chown postgres:postgres "$DATA/supergate.conf"
  if ! running; then
    ensure_port_free postgres "$PORT"
    log "postgres: starting on 127.0.0.1:$PORT"
    rotate_log "$LOGFILE"
    touch "$LOGFILE" && chown postgres:postgres "$LOGFILE"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null ||
      fail_with_log "postgres: did not start" "$LOGFILE"
  fi
  setup_db >>"$LOGFILE" 2>&1 || fail_with_log "postgres: creating role/database/extension failed" "$LOGFILE"
  wait_healthy postgres 30 "$LOGFILE"
  log "postgres: ready on $PORT (pgvector $(psql "$URL" -tAXc "SELECT extversion FROM pg_extension WHERE extname='vector'"))"
}

cmd_stop() {
  # SIGINT is "fast" shutdown: SIGTERM ("smart") would wait for clients to disconnect.
  stop_pid postgres "$(postmaster_pid)" postgres INT 30
}

cmd_status() {
  if running && healthy; then echo "postgres running  127.0.0.1:$PORT"
  elif running; then echo "postgres unhealthy 127.0.0.1:$PORT"
  else echo "postgres stopped  127.0.0.1:$PORT"; fi
}

cmd_env() { echo "export SUPERGATE_DATABASE_URL=$URL"; }

case "${1:-}" in
  install | start | stop | status | env) "cmd_$1" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
