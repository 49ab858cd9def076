#!/usr/bin/env bash
# fuzz-api.sh BASE [EXAMPLES] [SEED]: schemathesis against a running stack (BASE, e.g.
# http://127.0.0.1:9000), driven by the stack's own /openapi.json, as a signed-up user so that
# Bearer routes are explored too. `make test` runs a short, fixed budget; `make fuzz-api` a
# deeper one against a stack of its own.
#
# Every check (--checks all), in every phase, stateful links included: no 5xx; status code,
# content type, headers and body as documented; what the document allows is accepted and what
# it refuses is refused; a deleted resource is gone and a created one is there; auth is not
# ignored. infra/local/schemathesis.toml holds the auth (FUZZ_TOKEN, exported here), the links,
# and the false positives, each narrowed to its operations and check and documented in
# functions/docs/guide/api.md ("Fuzzing"). Bodies that are not UTF-8 reach the functions as
# deployed, base64-encoded, through infra/local/gateway.py. --request-timeout 30 (default 10):
# these are debug builds behind watch on a CI box that may be busy compiling; one read once took
# over 10 s there. A hang still fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BASE="${1:?usage: fuzz-api.sh BASE [EXAMPLES] [SEED]}"
EXAMPLES="${2:-20}"
SEED="${3:-20261121}"
password="correct horse battery staple"
# A fresh user and its access token.
token_for_new_user() {
  local user="fuzz_$RANDOM$RANDOM"
  curl -sf -o /dev/null -X POST "$BASE/api/v1/auth/signup" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$password\",\"first_name\":\"Fuzz\",\"last_name\":\"Test\"}" \
    || die "signup for the fuzz user failed"
  curl -sf -X POST "$BASE/api/v1/auth/login" -d "username=$user&password=$password" \
    | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' \
    || die "login for the fuzz user failed"
}
# The operations that end the caller's session or account: run last, with a user of their own,
# so that every other Bearer operation is explored with a live token, not only its 401.
ENDING='^(auth_logout|auth_logout_all|auth_change|users_delete_me)$'
run() { # run TOKEN FILTER...
  local token="$1"; shift
  FUZZ_TOKEN="$token" "$VENV/bin/schemathesis" --config-file "$ROOT/infra/local/schemathesis.toml" \
    run "$BASE/openapi.json" \
    -n "$EXAMPLES" --seed "$SEED" --workers 1 \
    --request-timeout 30 \
    --checks all \
    --no-color "$@"
}
log "schemathesis: $EXAMPLES examples per operation, seed $SEED"
started=$(date +%s)
status=0
run "$(token_for_new_user)" --exclude-operation-id-regex "$ENDING" || status=$?
run "$(token_for_new_user)" --include-operation-id-regex "$ENDING" || status=$?
echo "schemathesis: exit $status in $(( $(date +%s) - started )) s"
exit "$status"
