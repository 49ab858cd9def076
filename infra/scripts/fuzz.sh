#!/usr/bin/env bash
# `make fuzz-api`: a stack of its own (emulator, functions behind the local gateway, the job
# poller so what the fuzzer enqueues is worked, rate limits lifted so the fuzzer reaches the
# handlers), then schemathesis with a deep budget:
# EXAMPLES (default 200) per operation, SEED (default 20261121).
set -euo pipefail
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-fuzz-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cleanup() { stop_group poller; stop_group gateway; stop_group watch; stop_group moto; rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ensure_venv
MOTO_PORT="$(free_port)"
local_aws "$MOTO_PORT" fuzz
lift_rate_limits
for fn in functions/*/; do cargo build --quiet -p "$(basename "$fn")"; done
API_PORT="$(free_port)"
WATCH_ARGS=(--ignore-changes)
start_watch "$API_PORT"
wait_http "http://127.0.0.1:$API_PORT/health/liveness" 300 || die "watch did not start"
start_poller
bash infra/scripts/fuzz-api.sh "http://127.0.0.1:$API_PORT" "${EXAMPLES:-200}" "${SEED:-20261121}"
