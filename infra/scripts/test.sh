#!/usr/bin/env bash
# `make test`: everything CI checks, from a clean clone, starting and stopping its own services.
#   1. tools (.venv)   2. cargo fmt --check, clippy -D warnings, cfn-lint
#   3. emulator on a free port + bootstrap   4. cargo test --workspace (unit, event replay, e2e)
#   5. smoke through `cargo lambda watch`: routing, 404 envelope, readiness 200, then 503 once
#      the emulator is stopped; then `make dev`'s cleanup under a group signal.
set -euo pipefail
# A run directory of its own: pid files must not collide with a `make dev` running meanwhile.
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-test-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PASSED=0
FAILED=0
cleanup() {
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
step "cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
step "sam validate --lint"
SAM_CLI_TELEMETRY=0 "$VENV/bin/sam" validate --lint --template template.yaml

MOTO_PORT="${MOTO_PORT:-$(free_port)}"
local_aws "$MOTO_PORT" test

step "cargo test --workspace"
cargo test --workspace

step "smoke test through cargo lambda watch"
# Built the way watch runs them, so its first request does not wait for a compile.
for fn in functions/*/; do cargo build --quiet -p "$(basename "$fn")"; done
API_PORT="${API_PORT:-$(free_port)}"
WATCH_ARGS=(--ignore-changes)
lift_rate_limits
start_watch "$API_PORT"
BASE="http://127.0.0.1:$API_PORT"
wait_http "$BASE/health/liveness" 300 || { tail -30 "$RUN_DIR/watch.log"; die "watch did not start"; }

status_of() { curl -s -o "$RUN_DIR/body" -D "$RUN_DIR/headers" -w '%{http_code}' --max-time 10 "$@"; }
body_has() { grep -q -- "$1" "$RUN_DIR/body"; }
header_has() { grep -qi -- "$1" "$RUN_DIR/headers"; }

check "readiness 200 through watch" test "$(status_of "$BASE/health/readiness")" = 200
check "readiness lists every check ok" bash -c "! grep -q '\"fail\"' '$RUN_DIR/body' && grep -q dynamodb:users '$RUN_DIR/body'"
check "unknown path 404" test "$(status_of "$BASE/nope")" = 404
check "404 is the envelope" body_has '"error_code":"NOT_FOUND"'
check "404 carries X-Request-ID" header_has '^x-request-id: '
check "client request id echoed" test "$(status_of -H 'X-Request-ID: smoke-1' "$BASE/health/liveness")" = 200
check "echoed header" header_has '^x-request-id: smoke-1'

# The README's auth flow, as a client would run it through the local gateway.
API="$BASE/api/v1"
user="smoke_$RANDOM$RANDOM"
json_field() { "$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$RUN_DIR/body" "$1"; }
check "signup 201" test "$(status_of -X POST "$API/auth/signup" -H 'Content-Type: application/json' \
  -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"correct horse battery staple\",\"first_name\":\"Smoke\",\"last_name\":\"Test\"}")" = 201
check "login (form) 200" test "$(status_of -X POST "$API/auth/login" -d "username=$user&password=correct horse battery staple")" = 200
access="$(json_field access_token)"; refresh="$(json_field refresh_token)"
check "users/me 200" test "$(status_of "$API/users/me" -H "Authorization: Bearer $access")" = 200
check "refresh 200" test "$(status_of -X POST "$API/auth/refresh" -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$refresh\"}")" = 200
access="$(json_field access_token)"

# The README's uploads walkthrough: create, the form posted to the emulator's S3 with curl -F,
# complete, download, delete. The two function calls print their latency through watch.
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89' > "$RUN_DIR/cat.png"
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
started=$(date +%s%N)
code="$(status_of -X POST "$API/uploads" -H "Authorization: Bearer $access" -H 'Content-Type: application/json' \
  -d "{\"filename\":\"cat.png\",\"content_type\":\"image/png\",\"size\":$(wc -c < "$RUN_DIR/cat.png")}")"
check "upload create 201 ($(ms_since "$started") ms)" test "$code" = 201
upload_id="$(json_field id)"
mapfile -t form < <("$VENV/bin/python" -c 'import json,sys
c = json.load(open(sys.argv[1]))
print(c["upload"]["url"])
for k, v in c["upload"]["fields"].items(): print("--form-string"); print(f"{k}={v}")' "$RUN_DIR/body")
check "upload form post 204" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${form[@]:1}" \
  -F "file=@$RUN_DIR/cat.png" "${form[0]}")" = 204
started=$(date +%s%N)
code="$(status_of -X POST "$API/uploads/$upload_id/complete" -H "Authorization: Bearer $access")"
check "upload complete 200 ($(ms_since "$started") ms)" test "$code" = 200
check "upload is ready" body_has '"status":"ready"'
status_of "$API/uploads/$upload_id" -H "Authorization: Bearer $access" >/dev/null
download="$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["download"]["url"])' "$RUN_DIR/body")"
check "download is the same bytes" bash -c "curl -s --max-time 10 '$download' | cmp -s - '$RUN_DIR/cat.png'"
check "upload delete 204" test "$(status_of -X DELETE "$API/uploads/$upload_id" -H "Authorization: Bearer $access")" = 204

# The README's signed webhook deliveries (openssl dgst), with the seeded local secrets.
hook_body='{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"}}'
hook_sig=$(printf '%s' "$hook_body" | openssl dgst -sha256 -hmac 'local-github-webhook-secret' | sed 's/^.* //')
hook_id="smoke-$(date +%s%N)"
started=$(date +%s%N)
code="$(status_of -X POST "$API/webhooks/github" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $hook_id" -H "X-Hub-Signature-256: sha256=$hook_sig" -d "$hook_body")"
check "github delivery 202 ($(ms_since "$started") ms)" test "$code" = 202
check "the same delivery again is a duplicate" test "$(status_of -X POST "$API/webhooks/github" \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $hook_id" \
  -H "X-Hub-Signature-256: sha256=$hook_sig" -d "$hook_body")" = 200
hook_body='{"id":"evt_smoke'$RANDOM$RANDOM'","object":"event","type":"invoice.paid","created":1795262400,"data":{"object":{}}}'
hook_t=$(date +%s)
hook_sig=$(printf '%s' "$hook_t.$hook_body" | openssl dgst -sha256 -hmac 'whsec_local_stripe_secret' | sed 's/^.* //')
started=$(date +%s%N)
code="$(status_of -X POST "$API/webhooks/stripe" -H 'Content-Type: application/json' \
  -H "Stripe-Signature: t=$hook_t,v1=$hook_sig" -d "$hook_body")"
check "stripe delivery 202 ($(ms_since "$started") ms)" test "$code" = 202
check "a wrong signature is 401" test "$(status_of -X POST "$API/webhooks/stripe" -H 'Content-Type: application/json' \
  -H "Stripe-Signature: t=$hook_t,v1=${hook_sig//[0-9]/0}" -d "$hook_body")" = 401

# What API Gateway passes base64-encoded (a body that is not UTF-8) reaches the function through
# the local gateway too, and gets the function's 400, not watch's own 500.
printf '\xff\xfe{' > "$RUN_DIR/bad.bin"
check "a body that is not UTF-8 is the function's 400" test "$(status_of -X POST "$API/auth/signup" \
  -H 'Content-Type: application/json' --data-binary @"$RUN_DIR/bad.bin")" = 400
check "... in the envelope" body_has '"error_code":"BAD_REQUEST"'

# What a client generator gets from `make dev`: the document, accepted by a standard validator.
check "GET /openapi.json through watch passes openapi-spec-validator" bash -c \
  "curl -sf --max-time 10 '$BASE/openapi.json' -o '$RUN_DIR/openapi.json' && '$VENV/bin/openapi-spec-validator' '$RUN_DIR/openapi.json'"

# The OpenAPI document drives schemathesis: zero 5xx, every response as documented. A short,
# fixed budget here; `make fuzz-api` runs a deep one.
check "schemathesis against the document (make fuzz-api for a deeper run)" \
  bash infra/scripts/fuzz-api.sh "$BASE" "${FUZZ_EXAMPLES:-10}" 20261121

check "logout 200" test "$(status_of -X POST "$API/auth/logout" -H "Authorization: Bearer $access")" = 200
check "revoked token 401" test "$(status_of "$API/users/me" -H "Authorization: Bearer $access")" = 401

stop_group moto
started=$(date +%s%N)
code="$(status_of "$BASE/health/readiness")"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
check "readiness 503 with emulator down" test "$code" = 503
check "failed checks are named" body_has '"name":"dynamodb:users","status":"fail"'
check "503 within 3 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000

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
