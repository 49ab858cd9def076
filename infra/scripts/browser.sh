#!/usr/bin/env bash
# Real-browser checks (headless Chromium through Playwright, tests/browser/run.py): /docs and
# /redoc render from the local schema with nothing fetched off the machine, and a page on another
# origin runs the auth flow through CORS, in both refresh modes, while a disallowed origin is
# refused by the browser. The same page registers a passkey through a virtual authenticator
# (CDP's WebAuthn domain), logs out and logs in with it, and logs in with a TOTP step-up.
#
#   bash infra/scripts/browser.sh               a stack of its own (emulator, watch, gateway,
#                                               the job poller: signups enqueue mail jobs),
#                                               run three times: token mode, REFRESH_COOKIE=true,
#                                               then the same functions behind a gateway with
#                                               RequireApiKey=true, the page sending its key
#   bash infra/scripts/browser.sh --base URL    reuse a running stack: token mode only; its
#                                               CORS_ALLOWED_ORIGINS must include the page's origin
#                                               http://localhost:$PAGE_PORT (default 3000, which
#                                               `make dev`'s bootstrap allows)
#
# Origins. The page is served by `python -m http.server` as origin A, http://localhost:<port>,
# the only entry in CORS_ALLOWED_ORIGINS; the API is addressed as http://localhost:<port> too.
# Different ports make every call cross-origin (CORS applies) but the same *site* (a site is
# scheme + host; ports do not count), which the refresh cookie needs: it is SameSite=Strict.
# Tried in Chromium: page and API both on localhost, or both on 127.0.0.1, work; a page on
# localhost calling 127.0.0.1 (or the reverse) is cross-site, and Chromium then does not even
# store the cookie from the signup/login response, so a cookie refresh is the 422 "refresh_token
# Field required". The cookie is also Secure, which plain http allows only on potentially
# trustworthy origins: http://localhost and http://127.0.0.1 are. Everything listens on 127.0.0.1
# only; Chromium resolves `localhost` itself to loopback. Origin B, the disallowed one, is the
# same page on http://127.0.0.1:<another port>: another origin, not in CORS_ALLOWED_ORIGINS.
#
# Chromium: /usr/bin/chromium-headless-shell, installed with apt-get when missing and allowed.
# Never `playwright install`: it downloads a browser from the internet.
set -euo pipefail
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-browser-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

CHROMIUM=/usr/bin/chromium-headless-shell
BASE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base) BASE="${2:?--base needs a URL}"; BASE="${BASE%/}"; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (usage: browser.sh [--base URL])" ;;
  esac
done

cleanup() {
  stop_group poller; stop_group gateway; stop_group watch; stop_group moto
  stop_group page-a; stop_group page-b
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_chromium() {
  [[ -x "$CHROMIUM" ]] && return 0
  local how="apt-get install -y --no-install-recommends chromium-headless-shell (as root)"
  command -v apt-get >/dev/null || die "$CHROMIUM is missing and there is no apt-get: install Chromium's headless shell there, e.g. $how"
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "$CHROMIUM is missing; install it: sudo $how"
    sudo=(sudo -n)
  fi
  log "installing chromium-headless-shell with apt-get"
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-headless-shell)
  # Without `apt-get update` first: the package lists are usually there, and updating is slow.
  if ! "${install[@]}" >"$RUN_DIR/apt.log" 2>&1; then
    "${sudo[@]}" apt-get update -qq >>"$RUN_DIR/apt.log" 2>&1 && "${install[@]}" >>"$RUN_DIR/apt.log" 2>&1 \
      || { tail -20 "$RUN_DIR/apt.log" >&2; die "could not install chromium-headless-shell; try: $how"; }
  fi
  [[ -x "$CHROMIUM" ]] || die "apt-get installed chromium-headless-shell but $CHROMIUM is not there"
}

# serve NAME PORT: tests/browser/ over HTTP on 127.0.0.1:PORT (http.server writes nothing there).
serve() {
  start_group "$1" "$RUN_DIR/$1.log" "$VENV/bin/python" -m http.server "$2" --bind 127.0.0.1 \
    --directory "$ROOT/tests/browser"
  wait_http "http://127.0.0.1:$2/index.html" 10 || { cat "$RUN_DIR/$1.log" >&2; die "page server $1 did not start"; }
}

started=$(date +%s%N)
FAILED=0
# warm API: the first request to each function waits while watch starts it (`cargo run`, which
# can also wait for another cargo's lock); do that here, not inside a browser check's timeout.
# Any status will do: docs (openapi.json), auth (login, GET: 405) and users (me: 401).
warm() {
  local path
  for path in /openapi.json /api/v1/auth/login /api/v1/users/me; do
    wait_http "$1$path" 300 || { tail -30 "$RUN_DIR/watch.log" >&2; die "$1$path did not answer"; }
  done
}

run_browser() { # run_browser API MODE [--no-docs]
  local t0; t0=$(date +%s%N)
  log "browser checks, $2 mode, API $1"
  "$VENV/bin/python" tests/browser/run.py --api "$1" --page "$PAGE" --other "$OTHER" --mode "$2" "${@:3}" \
    || { FAILED=$((FAILED + 1)); [[ -n "$BASE" ]] || tail -20 "$RUN_DIR/gateway.log" >&2; }
  log "$2 mode took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

ensure_chromium
ensure_venv
"$VENV/bin/python" -c 'import playwright' 2>/dev/null || die "playwright is not in .venv (infra/local/requirements.txt)"

PAGE_PORT="${PAGE_PORT:-$([[ -n "$BASE" ]] && echo 3000 || free_port)}"
OTHER_PORT="$(free_port)"
PAGE="http://localhost:$PAGE_PORT/index.html"
OTHER="http://127.0.0.1:$OTHER_PORT/index.html"
serve page-a "$PAGE_PORT"
serve page-b "$OTHER_PORT"

if [[ -n "$BASE" ]]; then
  wait_http "$BASE/health/liveness" 10 || die "nothing answers at $BASE"
  warm "$BASE"
  run_browser "$BASE" token
else
  MOTO_PORT="$(free_port)"
  # The free plan throttles at once (a burst of 2): the key run reads the gateway's 429 with it,
  # and runs the flow with the pro key. Read by bootstrap, which creates the plans.
  export FREE_PLAN_RATE_LIMIT=1 FREE_PLAN_BURST_LIMIT=2
  local_aws "$MOTO_PORT" browser
  lift_rate_limits
  # Origin A only; B stays out. Exported after export_env, which would set the bootstrap default.
  export CORS_ALLOWED_ORIGINS="http://localhost:$PAGE_PORT"
  # Passkeys: the page's origin is the one WebAuthn origin, on the RP ID localhost.
  export WEBAUTHN_RP_ID=localhost WEBAUTHN_ORIGINS="http://localhost:$PAGE_PORT"
  build_functions
  WATCH_ARGS=(--ignore-changes)

  # 1. Token mode: the refresh token travels in the JSON body.
  API_PORT="$(free_port)"
  export REFRESH_COOKIE=false CORS_ALLOW_CREDENTIALS=false
  start_watch "$API_PORT"
  wait_http "http://127.0.0.1:$API_PORT/health/liveness" 300 || { tail -30 "$RUN_DIR/watch.log" >&2; die "watch did not start"; }
  # The stack as deployed: the signups' mail jobs are worked, not left on the queue (one small
  # process; the worker was built with the rest).
  start_poller
  warm "http://127.0.0.1:$API_PORT"
  run_browser "http://localhost:$API_PORT" token

  # 2. Cookie mode: the functions read their env at start, so watch restarts with it (the
  # emulator and its data stay). A new port too: the old one may linger in TIME_WAIT. The poller
  # invokes through watch's port, so it follows.
  stop_group poller
  stop_group gateway
  stop_group watch
  API_PORT="$(free_port)"
  export REFRESH_COOKIE=true CORS_ALLOW_CREDENTIALS=true
  start_watch "$API_PORT"
  wait_http "http://127.0.0.1:$API_PORT/health/liveness" 300 || { tail -30 "$RUN_DIR/watch.log" >&2; die "watch did not restart"; }
  start_poller
  warm "http://127.0.0.1:$API_PORT"
  run_browser "http://localhost:$API_PORT" cookie --no-docs

  # 3. RequireApiKey=true: the same functions (still in cookie mode) behind a gateway that wants
  # a key on every route but the health checks, webhooks and preflights.
  stop_group gateway
  API_PORT="$(free_port)"
  start_gateway gateway "$API_PORT" --parameter RequireApiKey=true
  wait_http "http://127.0.0.1:$API_PORT/health/liveness" 30 || { tail -30 "$RUN_DIR/gateway.log" >&2; die "the API-key gateway did not start"; }
  run_browser "http://localhost:$API_PORT" cookie --no-docs \
    --api-key "$LOCAL_API_KEY_PRO" --throttled-key "$LOCAL_API_KEY_FREE"
fi

log "browser checks took $(( ($(date +%s%N) - started) / 1000000 )) ms in all"
[[ "$FAILED" -eq 0 ]] || die "browser checks failed ($FAILED run(s))"
