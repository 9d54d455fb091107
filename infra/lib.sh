# shellcheck shell=bash
# Shared helpers for infra/*/service.sh. Sourced, never run.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/.." && pwd)"
STATE_DIR="$REPO_ROOT/.state"
# Outside the repo so a fresh clone on a warm machine reuses downloads.
CACHE_DIR="${SUPERGATE_CACHE_DIR:-$HOME/.cache/supergate}"
export DEBIAN_FRONTEND=noninteractive

# Microseconds since the epoch; EPOCHREALTIME uses the locale's decimal mark.
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }
# Inherited by child scripts so every line shows time since `services.sh` began.
export SUPERGATE_T0="${SUPERGATE_T0:-$(now_us)}"

log() {
  local e=$(( $(now_us) - SUPERGATE_T0 ))
  printf '[%s +%d.%ds] %s\n' "$(date +%H:%M:%S)" $((e / 1000000)) $((e / 100000 % 10)) "$*" >&2
}

die() { log "ERROR: $*"; exit 1; }

# Make the state dir and keep it out of git without touching the repo's .gitignore.
ensure_state_dir() {
  mkdir -p "$STATE_DIR"
  [[ -f "$STATE_DIR/.gitignore" ]] || echo '*' > "$STATE_DIR/.gitignore"
}

# fail_with_log MESSAGE LOGFILE...: fail loudly with the tail of each log, so CI output
# shows why a service died.
fail_with_log() {
  local f
  log "ERROR: $1"
  for f in "${@:2}"; do
    [[ -s "$f" ]] || continue
    echo "----- last 40 lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
  echo "-----" >&2
  exit 1
}

# wait_healthy NAME SECONDS LOGFILE...: poll the caller's healthy() and running(); give
# up at once if the process died.
wait_healthy() {
  local name=$1 timeout=$2 missing=0
  local deadline=$((SECONDS + timeout))
  until healthy; do
    # Right after `cmd &` the child may not have exec'd yet (its command line is still the shell's, which
    # running() does not recognise), more so on a busy machine: only several misses in a row mean it died.
    if running; then missing=0; else missing=$((missing + 1)); fi
    ((missing < 4)) || fail_with_log "$name: process exited during startup" "${@:3}"
    ((SECONDS < deadline)) || fail_with_log "$name: not healthy within ${timeout}s" "${@:3}"
    sleep 0.3
  done
}

# Keep one previous log per service, so a failure shows only this run's lines.
rotate_log() { [[ ! -e "$1" ]] || mv -f "$1" "$1.prev"; }

# wait_until SECONDS CMD...: poll CMD until it succeeds or the time is up.
wait_until() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ensure_port_free NAME PORT...: before starting our process, fail at once if another
# process (say, the services of another clone) holds a port: its health check would
# otherwise pass against the wrong server.
ensure_port_free() {
  local name=$1 port
  for port in "${@:2}"; do
    ! port_open "$port" || die "$name: port $port is taken by another process (another checkout's services? stop them with its infra/services.sh down)"
  done
}

# pid_alive PID PATTERN: running and really ours (a pidfile may outlive its process
# and the number be reused).
pid_alive() {
  [[ -n "$1" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2"
}

# stop_pid NAME PID PATTERN [SIGNAL] [TIMEOUT]: polite signal, wait, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 pattern=$3 sig=${4:-TERM} timeout=${5:-30}
  pid_alive "$pid" "$pattern" || return 0
  log "$name: stopping pid $pid (SIG$sig)"
  kill "-$sig" "$pid" 2>/dev/null || true
  if ! wait_until "$timeout" bash -c "! kill -0 $pid"; then
    log "$name: still running after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $pid" || die "$name: pid $pid survived SIGKILL"
  fi
}

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# apt_install PKG...: install what is missing; refresh package lists only then, and
# at most once an hour (the services install one after another).
apt_install() {
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "apt: installing ${missing[*]}"
  mkdir -p "$CACHE_DIR"
  local stamp="$CACHE_DIR/apt-updated"
  if [[ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]]; then
    apt-get update -qq >&2 || die "apt-get update failed"
    touch "$stamp"
  fi
  # No init system runs here, but postinst scripts would still launch the distro's
  # own daemons (redis on 6379, a postgres "main" cluster): forbid that while we install.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local rc=0 aptlog="$CACHE_DIR/apt-install.log"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$aptlog" 2>&1 || rc=$?
  [[ -z $own_policy ]] || { rm -f "$policy"; trap - EXIT; }
  ((rc == 0)) || fail_with_log "apt-get install ${missing[*]} failed" "$aptlog"
}
