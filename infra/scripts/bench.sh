#!/usr/bin/env bash
# `make bench [MODE=full|cpu,init,size,auth,sdk,mi] [QUICK=1] [ONLY=health,users]`: the release
# builds measured on this machine against the emulator, the functions through a kept-alive front
# before it (infra/scripts/bench.py says what each mode measures). Prints numbers, never
# pass/fail, and writes them to target/bench/results.json and results.md (read by
# infra/scripts/cost.py) and a report to open, target/bench/report.html. `full` is every mode.
# BENCH_ARGS passes more arguments to bench.py, e.g. BENCH_ARGS="--init-runs 50 --via lambda".
set -euo pipefail
# A run directory of its own: pid files must not collide with a `make dev` running meanwhile.
export STARTER_RUN_DIR="${TMPDIR:-/tmp}/rust-starter-bench-$$"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cleanup() { stop_group moto; rm -rf "$RUN_DIR"; }
trap cleanup EXIT

mode="${MODE:-full}"
[[ "$mode" == full ]] && mode=cpu,init,size,auth,sdk,mi
IFS=, read -ra modes <<< "$mode"
for m in "${modes[@]}"; do
  [[ "$m" =~ ^(cpu|init|size|auth|sdk|mi)$ ]] || die "MODE=$MODE: use full, or a comma-separated list of cpu, init, size, auth, sdk, mi"
done
has() { [[ ",$mode," == *",$1,"* ]]; }
dir=target/lambda-host
args=(--mode "$mode" --lambda-dir "$dir" --tools-dir "$dir")
[[ -n "${QUICK:-}" && "$QUICK" != 0 ]] && args+=(--quick)
[[ -n "${ONLY:-}" ]] && args+=(--only "$ONLY")

ensure_venv
ARCH=x86-64 LAMBDA_DIR="$dir" bash infra/scripts/build.sh >/dev/null
tools=()
has cpu && tools+=(--bin floor-runtime --bin floor-http)
has auth && tools+=(--bin bench-argon2 --bin measure-auth --bin measure-argon2-rss --bin bench-tokens)
has mi && tools+=(--bin bench-concurrent)
if ((${#tools[@]})); then
  log "building the measurement tools (release)"
  PATH="$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda build --quiet --release --x86-64 -p tools "${tools[@]}" \
    --lambda-dir "$dir"
fi
if has sdk; then
  # At the functions' opt-level ("s"; the tools package is at 3): the client is timed as they run it.
  log "building bench-sdk (release, opt-level s)"
  PATH="$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda build --quiet --release --x86-64 -p tools --bin bench-sdk \
    --config 'profile.release.package.tools.opt-level="s"' --lambda-dir "$dir"
fi
has cpu && args+=(--floor "lambda_runtime=$dir/floor-runtime/bootstrap" --floor "lambda_http+axum=$dir/floor-http/bootstrap")
if has cpu || has init || has auth || has sdk || has mi; then
  MOTO_PORT="$(free_port)"
  local_aws "$MOTO_PORT" bench
  args+=(--env-file "$RUN_DIR/bench.env")
  # The limiter still runs (and costs what it costs) but never answers 429 to the bench.
  lift_rate_limits
fi
# shellcheck disable=SC2086
"$VENV/bin/python" infra/scripts/bench.py "${args[@]}" ${BENCH_ARGS:-}
