#!/usr/bin/env bash
# `make build`: release `bootstrap` per function under target/lambda/<fn>/.
# arm64 (Graviton) is the default, as in template.yaml; when the aarch64 target cannot be added
# (offline rustup), it falls back to x86_64 — then set Architectures: [x86_64] before deploying.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
export PATH="$VENV/bin:$PATH"

# ARCH=x86-64 builds for this machine (used by `make bench`, which runs the binaries here).
arch_flag="--${ARCH:-arm64}"
LAMBDA_DIR="${LAMBDA_DIR:-target/lambda}"
if [[ "$arch_flag" == --arm64 ]] && ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  if ! timeout 120 rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    log "aarch64 target unavailable here; building x86_64 instead"
    arch_flag=--x86-64
  fi
fi

log "cargo lambda build --release $arch_flag"
# zig (from the ziglang wheel) links against Lambda's glibc for either architecture.
packages=()
for fn in functions/*/; do packages+=(-p "$(basename "$fn")"); done
"$VENV/bin/cargo-lambda" lambda build --release "$arch_flag" "${packages[@]}" --lambda-dir "$LAMBDA_DIR"

for fn in functions/*/; do
  name="$(basename "$fn")"
  bin="$LAMBDA_DIR/$name/bootstrap"
  [[ -f "$bin" ]] || die "missing $bin"
  printf '  %-10s %8s bytes  %s\n' "$name" "$(stat -c %s "$bin")" "$(file -b "$bin" | cut -d, -f1-2)"
done
