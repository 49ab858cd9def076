#!/usr/bin/env bash
# `make bench`: CPU per invocation (Lambda mode and plain HTTP), peak RSS, cold init and zip size
# of every function, release build, against the emulator (infra/scripts/bench.py). Prints
# numbers, never pass/fail. BENCH_ARGS="--quick" for a short run, "--only auth" for one function.
set -euo pipefail
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-bench-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cleanup() { stop_group moto; rm -rf "$RUN_DIR"; }
trap cleanup EXIT
ensure_venv
ARCH=x86-64 LAMBDA_DIR=target/lambda-host bash infra/scripts/build.sh >/dev/null
log "building the floors and the argon2 bench (release)"
PATH="$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda build --quiet --release --x86-64 -p tools \
  --bin floor-runtime --bin floor-http --bin bench-argon2 --lambda-dir target/lambda-host
MOTO_PORT="$(free_port)"
local_aws "$MOTO_PORT" bench
# The limiter still runs (and costs what it costs) but never answers 429 to the bench.
lift_rate_limits
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "argon2id hash alone (default cost, median of 15): $(target/lambda-host/bench-argon2/bootstrap) ms"
# shellcheck disable=SC2086
"$VENV/bin/python" infra/scripts/bench.py --lambda-dir target/lambda-host \
  --floor "lambda_runtime=target/lambda-host/floor-runtime/bootstrap" --floor "lambda_http+axum=target/lambda-host/floor-http/bootstrap" \
  ${BENCH_ARGS:-}
