#!/usr/bin/env bash
# Native backing services for Supergate, on loopback and non-default ports.
# Usage: infra/services.sh up|down|status|env [postgres|redis|kafka ...]   (default: all)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(postgres redis kafka)
cmd=${1:-}
shift || true
services=("$@")
((${#services[@]})) || services=("${ALL[@]}")
for s in "${services[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || die "unknown service '$s' (known: ${ALL[*]})"
done

svc() { bash "$INFRA_DIR/$1/service.sh" "$2"; }

# run_parallel ACTION: run ACTION for every selected service at once; fail if any fails.
run_parallel() {
  local pids=() failed=() i
  for s in "${services[@]}"; do svc "$s" "$1" & pids+=($!); done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${services[$i]}"); done
  ((${#failed[@]} == 0)) || die "$1 failed for: ${failed[*]}"
}

case "$cmd" in
  up)
    [[ $EUID -eq 0 ]] || die "run as root (installs packages, runs postgres as its own user)"
    # Installs one after another: apt holds a global lock.
    for s in "${services[@]}"; do svc "$s" install; done
    log "installed; starting ${services[*]}"
    run_parallel start
    log "up: ${services[*]} ready"
    ;;
  down)
    run_parallel stop
    log "down: ${services[*]} stopped"
    ;;
  status) for s in "${services[@]}"; do svc "$s" status; done ;;
  env) for s in "${services[@]}"; do svc "$s" env; done ;;
  *) echo "usage: $0 up|down|status|env [${ALL[*]// /|} ...]" >&2; exit 2 ;;
esac
