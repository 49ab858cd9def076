#!/usr/bin/env bash
# `make admin EMAIL=... PASSWORD=...`: against the running `make dev` emulator by default;
# with AWS=1, against the real account in your environment (export the stack's table names and
# SIGNING_KEYS_SECRET_ID first; see README "First admin").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
[[ -n "${EMAIL:-}" ]] || die "usage: make admin EMAIL=you@example.com PASSWORD='a long passphrase'"
if [[ -z "${AWS:-}" ]]; then
  MOTO_PORT="${MOTO_PORT:-5000}"
  [[ -f "$RUN_DIR/dev.env" ]] && port_in_use "$MOTO_PORT" \
    || die "no local emulator on port $MOTO_PORT: start \`make dev\` first (or pass AWS=1)"
  export_env "$MOTO_PORT" "$RUN_DIR/dev.env"
fi
cargo run --quiet -p tools --bin admin
