#!/usr/bin/env bash
# `make dev`: tools, emulator, resources, then every function on http://127.0.0.1:$API_PORT,
# and the job queue worked as deployed (infra/local/poller.py invokes the worker through watch).
# Ctrl-C stops everything this script started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MOTO_PORT="${MOTO_PORT:-5000}"
API_PORT="${API_PORT:-9000}"
WATCH_ARGS=()

TAIL_PID=""
CLEANED_UP=""
# Must run to the end whatever has already died. A signal sent to the whole group (a process
# manager's `kill -- -PGID`, Ctrl-C, a closed terminal) reaches `tail` too, and it may be dead and
# reaped before we get here, so any step may fail. The emulator, watch, the gateway and the poller
# run in sessions of their own (setsid) and never get that signal: if cleanup stops early, they
# keep ports $MOTO_PORT and $API_PORT (and the poller keeps polling) and the next `make dev` fails.
# infra/scripts/check-dev-cleanup.sh checks this.
cleanup() {
  [[ -n "$CLEANED_UP" ]] && return 0 # EXIT runs it again after the INT/TERM/HUP trap
  CLEANED_UP=1
  set +e # under -e a failed kill (tail already gone) would end the script here
  # A second Ctrl-C, or make passing its TERM on to us, must not cut the cleanup short.
  trap '' INT TERM HUP
  log "stopping"
  [[ -n "$TAIL_PID" ]] && kill "$TAIL_PID" 2>/dev/null
  # The poller first: it would otherwise log every invocation watch no longer answers.
  stop_group poller
  stop_group gateway
  stop_group watch
  stop_group moto
  return 0
}
trap cleanup EXIT
# Cleanup first, then exit with the usual 128+signal status.
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

ensure_venv
start_emulator "$MOTO_PORT"
bootstrap "$MOTO_PORT" "$RUN_DIR/dev.env"
export_env "$MOTO_PORT" "$RUN_DIR/dev.env"
log "building the functions (the first run compiles the AWS SDK: about 10 minutes on 2 cores; later runs take seconds)"
build_functions
start_watch "$API_PORT"
wait_http "http://127.0.0.1:$API_PORT/health/liveness" 120 || die "watch did not come up; see $RUN_DIR/watch.log"
start_poller
log "jobs (JobsQueue: mail, webhook effects, tasks) are worked as deployed: infra/local/poller.py invokes the worker through watch, a line per batch in $RUN_DIR/poller.log"
log "API on http://127.0.0.1:$API_PORT  (emulator http://127.0.0.1:$MOTO_PORT, logs in $RUN_DIR)"
if [[ "${REQUIRE_API_KEY:-false}" == true ]]; then
  # The keys bootstrap created in the emulator, one per usage plan (see template.yaml).
  log "API keys required (x-api-key): free ${LOCAL_API_KEY_FREE:-?}  pro ${LOCAL_API_KEY_PRO:-?}"
fi
log "try: curl -i http://127.0.0.1:$API_PORT/health/readiness   — Ctrl-C to stop"
log "the gateway's own answers (404, 403, 429, failed integrations) are in $RUN_DIR/gateway.log"
tail -n +1 -f "$RUN_DIR/watch.log" &
TAIL_PID=$!
# Returns when watch exits or a trapped signal arrives (then the trap runs cleanup).
wait "$(cat "$RUN_DIR/watch.pid")" || true
