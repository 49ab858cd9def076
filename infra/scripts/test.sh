#!/usr/bin/env bash
# `make test`: everything CI checks, from a clean clone, starting and stopping its own services.
# Its stages, in order:
#   1. tools: .venv (moto, cargo-lambda, cfn-lint, sam, the OpenAPI validator, schemathesis)
#   2. cargo fmt --check
#   3. cargo clippy -D warnings: every target, and the smoke checks by name (test = false)
#   4. cfn-lint template.yaml
#   5. sam validate --lint, and infra/local's unit tests (test_gateway.py: the local gateway;
#      test_poller.py: the local event source mapping)
#   6. the emulator on a free port, bootstrapped from template.yaml
#   7. cargo test --workspace: unit tests, the wiring checks, the event replay, the end-to-end
#      tests (tests/tests/e2e/); the smoke checks' binary is built here too
#   8. smoke checks through `cargo lambda watch` behind infra/local/gateway.py, with
#      infra/local/poller.py working the job queue as Lambda's event source mapping does
#      (tests/tests/smoke/, SMOKE_BASE_URL): routing, preflights, the template's 404 envelope,
#      HEAD, 200 parallel clients, request ids, the README's auth flow and uploads walkthrough,
#      signed webhooks, mail sent by the job worker, a task run to its end, a body that is not
#      UTF-8, the OpenAPI document (openapi-spec-validator, schemathesis); then, alone, the
#      timing checks (SMOKE_PHASE=timing: forgot and resend answer alike whatever the address);
#      then a second gateway with RequireApiKey=true (SMOKE_PHASE=api-key: the
#      403 envelope, a plan's throttle per key); then, the poller and the emulator stopped,
#      readiness 503 within 3 s (SMOKE_PHASE=emulator-stopped)
#   9. a real browser: headless Chromium against a stack of its own (infra/scripts/browser.sh)
#  10. `make dev`'s cleanup under a group signal (infra/scripts/check-dev-cleanup.sh)
set -euo pipefail
# A run directory of its own: pid files must not collide with a `make dev` running meanwhile.
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-test-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PASSED=0
FAILED=0
cleanup() {
  stop_group poller
  stop_group gateway-keys
  stop_group gateway
  stop_group watch
  stop_group moto
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { log "$*"; }
check() { # check NAME COMMAND...: a smoke assertion, counted.
  local name="$1"; shift
  if "$@"; then PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$name"
  else FAILED=$((FAILED + 1)); printf '  FAIL %s\n' "$name"; fi
}

ensure_venv
export PATH="$VENV/bin:$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --quiet --workspace --all-targets -- -D warnings
# --all-targets leaves out a target with test = false: the smoke checks, by name.
cargo clippy --quiet -p e2e --test smoke -- -D warnings
step "cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
step "sam validate --lint"
SAM_CLI_TELEMETRY=0 "$VENV/bin/sam" validate --lint --template template.yaml
step "infra/local's unit tests (test_gateway.py, test_poller.py)"
"$VENV/bin/python" -B -m unittest discover -s infra/local -p 'test_*.py'

MOTO_PORT="${MOTO_PORT:-$(free_port)}"
local_aws "$MOTO_PORT" test

step "cargo test --workspace"
cargo test --workspace
# The smoke checks' binary, built now with the rest rather than while watch runs.
cargo test --quiet -p e2e --test smoke --no-run

step "smoke checks through cargo lambda watch (tests/tests/smoke/)"
# Built the way watch runs them, so its first request does not wait for a compile.
build_functions
API_PORT="${API_PORT:-$(free_port)}"
WATCH_ARGS=(--ignore-changes)
lift_rate_limits
start_watch "$API_PORT"
BASE="http://127.0.0.1:$API_PORT"
wait_http "$BASE/health/liveness" 300 || { tail -30 "$RUN_DIR/watch.log"; die "watch did not start"; }
# The job queue worked as deployed, for the checks that wait for a job's effect (a mail, a task).
start_poller

# Every check with the whole stack up; schemathesis's budget is FUZZ_EXAMPLES (default 10).
check "smoke checks through watch (tests/tests/smoke/)" \
  env SMOKE_BASE_URL="$BASE" cargo test -p e2e --test smoke
# Alone: any check running beside them would be the noise they measure.
check "timing checks through watch: forgot and resend answer alike whatever the address" \
  env SMOKE_BASE_URL="$BASE" SMOKE_PHASE=timing cargo test -p e2e --test smoke -- --test-threads=1

# The same functions behind a stage that requires API keys (the plans and keys bootstrap made).
KEY_PORT="$(free_port)"
start_gateway gateway-keys "$KEY_PORT" --parameter RequireApiKey=true
wait_http "http://127.0.0.1:$KEY_PORT/health/liveness" 30 || die "the API-key gateway did not start"
check "smoke checks through a gateway with RequireApiKey=true" \
  env SMOKE_BASE_URL="http://127.0.0.1:$KEY_PORT" SMOKE_PHASE=api-key cargo test -p e2e --test smoke
stop_group gateway-keys

# The poller first: with the emulator gone it has nothing to poll (it would only log that).
stop_group poller
stop_group moto
check "smoke checks with the emulator stopped: readiness 503 within 3 s" \
  env SMOKE_BASE_URL="$BASE" SMOKE_PHASE=emulator-stopped cargo test -p e2e --test smoke

step "a real browser: headless Chromium against a stack of its own"
started=$(date +%s)
check "browser: docs pages render offline, cross-origin app flow in token and cookie modes" \
  bash infra/scripts/browser.sh
echo "browser test: $(( $(date +%s) - started )) s"

step "make dev cleanup: signal its whole process group, then both ports must be free"
# Two rounds keep this short (the script's default is four): a plain TERM to the group, and the
# order that used to leak the emulator and watch (tail already gone when cleanup runs).
check "make dev cleans up after a group signal" \
  env ROUNDS="TERM tail-first:INT" bash infra/scripts/check-dev-cleanup.sh

echo "smoke: $PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
