# Shared helpers for the local stack scripts. Sourced, not run.
# Everything they start runs in its own process group (setsid) so one `kill -- -PGID` stops it
# with every child: killing only the `cargo` wrapper would leave cargo-lambda's server listening.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
# Logs and pid files live outside the workspace: a file written inside it makes
# `cargo lambda watch` rebuild in a loop.
RUN_DIR="${STARTER_RUN_DIR:-${TMPDIR:-/tmp}/rust-starter-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)}"
mkdir -p "$RUN_DIR"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# Creates ./.venv and installs the pinned tools, once per change of infra/local/requirements.txt.
ensure_venv() {
  local req="$ROOT/infra/local/requirements.txt" stamp="$VENV/.requirements.sha"
  local want; want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 3.11 or newer is required"
  # The pinned tools and infra/local/*.py are tested on 3.11; older ones are refused here
  # rather than failing later in a less clear way.
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); 3.11 or newer is required"
  log "installing local tools into .venv (moto, cargo-lambda, cfn-lint)"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

# build_functions: `cargo build -p <fn>` for every directory under functions/, one package at a
# time as `cargo lambda watch` builds them (built together, cargo could unify features differently
# and watch would compile again on the first request). On a terminal cargo shows its progress;
# otherwise (CI, logs) it stays quiet. A first build compiles the AWS SDK: several minutes.
build_functions() {
  local fn names=() quiet=(--quiet) i=0
  for fn in "$ROOT"/functions/*/; do names+=("$(basename "$fn")"); done
  [[ -t 2 ]] && quiet=()
  local started=$SECONDS
  for fn in "${names[@]}"; do
    i=$((i + 1))
    [[ -t 2 ]] && log "building $fn ($i/${#names[@]})"
    cargo build "${quiet[@]}" -p "$fn"
  done
  log "functions built in $((SECONDS - started)) s"
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  "$VENV/bin/python" -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"
}

# wait_http URL SECONDS: polls until URL answers any HTTP status.
wait_http() {
  local url="$1" secs="$2" i
  for ((i = 0; i < secs * 5; i++)); do
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.2
  done
  return 1
}

# start_group NAME LOGFILE CMD...: runs CMD in a new session; records its pid (= group id).
start_group() {
  local name="$1" logfile="$2"; shift 2
  setsid "$@" >"$logfile" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}

# stop_group NAME: TERM the whole group, then KILL what is left after 5 s.
stop_group() {
  local name="$1" pidfile="$RUN_DIR/$1.pid" pid i
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  # The group, not only its leader: children can outlive a crashed leader and keep its ports.
  if kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# start_emulator PORT: moto_server on loopback (127.0.0.1, never localhost: IPv6 first bites).
start_emulator() {
  local port="$1"
  port_in_use "$port" && die "port $port is busy; set MOTO_PORT to another port"
  log "starting AWS emulator (moto) on 127.0.0.1:$port"
  start_group moto "$RUN_DIR/moto.log" "$VENV/bin/python" "$ROOT/infra/local/emulator.py" --host 127.0.0.1 --port "$port"
  wait_http "http://127.0.0.1:$port/moto-api/" 30 || { tail -20 "$RUN_DIR/moto.log" >&2; die "emulator did not start"; }
}

# bootstrap PORT ENVFILE: creates every template.yaml resource and writes the function env.
bootstrap() {
  "$VENV/bin/python" "$ROOT/infra/local/bootstrap.py" --endpoint "http://127.0.0.1:$1" --env-out "$2"
}

# local_aws PORT NAME: the emulator on PORT, bootstrapped, its env in $RUN_DIR/NAME.env and
# exported: what every script that runs its own stack does first.
local_aws() {
  start_emulator "$1"
  bootstrap "$1" "$RUN_DIR/$2.env" >/dev/null
  export_env "$1" "$RUN_DIR/$2.env"
}

# export_env PORT ENVFILE: what every function and test process sees locally.
export_env() {
  set -a
  # shellcheck disable=SC1090
  . "$2"
  set +a
  export AWS_ENDPOINT_URL="http://127.0.0.1:$1"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  # Short timeouts locally so a stopped emulator shows up at once.
  export AWS_CONNECT_TIMEOUT_MS="${AWS_CONNECT_TIMEOUT_MS:-500}"
}

# lift_rate_limits: the application limiter far out of reach (it still runs and sets its headers),
# for the fuzzer and the smoke checks, which send hundreds of requests from one address.
lift_rate_limits() {
  local var
  # THROTTLE_* are the template's stage throttle, which the local gateway applies too.
  for var in RATE_LIMIT_STRICT RATE_LIMIT_DEFAULT RATE_LIMIT_LENIENT RATE_LIMIT_USER \
    RATE_LIMIT_REFRESH RATE_LIMIT_TIER_FREE RATE_LIMIT_TIER_PRO RATE_LIMIT_TIER_ENTERPRISE \
    TASK_RATE_LIMIT THROTTLE_RATE_LIMIT THROTTLE_BURST_LIMIT; do
    export "$var=1000000"
  done
}

# start_watch PORT: every function behind one HTTP port, as deployed: cargo lambda watch on a
# port of its own (it only builds and runs the functions), and in front of it on PORT
# infra/local/gateway.py, which serves the REST API template.yaml deploys (its routes, API keys,
# usage plans, gateway responses) and invokes each function with the REST v1 event API Gateway
# sends, through watch's invoke API.
start_watch() {
  local port="$1" inner
  port_in_use "$port" && die "port $port is busy; set API_PORT to another port"
  inner="$(free_port)"
  log "starting cargo lambda watch on http://127.0.0.1:$port (watch itself on $inner)"
  PATH="$VENV/bin:$PATH" start_group watch "$RUN_DIR/watch.log" \
    "$VENV/bin/cargo-lambda" lambda watch -A 127.0.0.1 -P "$inner" --disable-cors "${WATCH_ARGS[@]}"
  WATCH_PORT="$inner"
  start_gateway gateway "$port"
}

# start_poller [--parameter Name=Value]...: what Lambda's event source mappings do deployed, for
# every SQS mapping of template.yaml (JobsQueueMapping): infra/local/poller.py receives the
# emulator's queue and invokes the function through the running watch (WATCH_PORT); its log, a
# line per batch, is $RUN_DIR/poller.log. Stopped with `stop_group poller`, before watch.
start_poller() {
  [[ -n "${WATCH_PORT:-}" ]] || die "start_poller: no watch running (start_watch first)"
  [[ -n "${AWS_ENDPOINT_URL:-}" ]] || die "start_poller: no emulator (local_aws or export_env first)"
  start_group poller "$RUN_DIR/poller.log" \
    "$VENV/bin/python" -B "$ROOT/infra/local/poller.py" --endpoint "$AWS_ENDPOINT_URL" --watch-port "$WATCH_PORT" "$@"
}

# start_gateway NAME PORT [--parameter Name=Value]...: one more local API Gateway on PORT in front
# of the running watch (WATCH_PORT), e.g. the same functions behind a stage with
# RequireApiKey=true; its log is $RUN_DIR/NAME.log.
start_gateway() {
  local name="$1" port="$2"
  start_group "$name" "$RUN_DIR/$name.log" \
    "$VENV/bin/python" "$ROOT/infra/local/gateway.py" --port "$port" --watch-port "$WATCH_PORT" "${@:3}"
}
