#!/usr/bin/env bash
# `make measure`: release builds for this machine, then per function size, cold start
# (spawn -> first runtime API /next) and peak RSS, then the login latency split. Prints numbers.
set -euo pipefail
# A run directory of its own: pid files must not collide with a `make dev` running meanwhile.
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-measure-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cleanup() { stop_group moto; rm -rf "$RUN_DIR"; }
trap cleanup EXIT
ensure_venv
ARCH=x86-64 LAMBDA_DIR=target/lambda-host bash infra/scripts/build.sh
MOTO_PORT="$(free_port)"
local_aws "$MOTO_PORT" measure
"$VENV/bin/python" infra/scripts/measure.py --lambda-dir target/lambda-host "$@"
cargo run --quiet --release -p tools --bin measure-auth
cargo run --quiet --release -p tools --bin measure-argon2-rss
cargo run --quiet --release -p tools --bin bench-tokens
