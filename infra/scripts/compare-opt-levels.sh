#!/usr/bin/env bash
# Builds the health function and the argon2 bench with the release profile (health at "s", the
# argon2 bench at 3 like auth), then everything at 3, "s" and "z", and prints binary size, cold
# start and argon2id hash time for each.
# Slow (four full LTO builds); run it when revisiting [profile.release]. Args: profiles to build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
printf '%-10s %10s %10s %14s\n' profile size init-p50 argon2-hash
profiles=("$@")
[[ ${#profiles[@]} -gt 0 ]] || profiles=(release release-o3 release-os release-oz)
for profile in "${profiles[@]}"; do
  cargo build --quiet --profile "$profile" -p health --bin health -p tools --bin bench-argon2
  out="target/opt-compare/$profile/health"
  mkdir -p "$out"
  cp "target/$profile/health" "$out/bootstrap"
  # bench.py's init mode, its results kept apart from `make bench`'s.
  "$VENV/bin/python" infra/scripts/bench.py --mode init --only health --init-runs 15 \
    --lambda-dir "target/opt-compare/$profile" --results-dir "target/opt-compare/$profile" >/dev/null
  init="$("$VENV/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1fms" % r["sections"]["init"]["functions"]["health"]["init_ms"]["p50"])' \
    "target/opt-compare/$profile/results.json")"
  argon="$("target/$profile/bench-argon2")"
  size_mb="$("$VENV/bin/python" -c 'import os,sys; print(f"{os.path.getsize(sys.argv[1]) / 1048576:.2f}")' "$out/bootstrap")"
  printf '%-10s %9sM %10s %12sms\n' "$profile" "$size_mb" "$init" "$argon"
done
