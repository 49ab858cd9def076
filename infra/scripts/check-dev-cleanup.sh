#!/usr/bin/env bash
# Regression check for `make dev`'s cleanup: start it, signal its whole process group the way
# Ctrl-C (INT) or a process manager (TERM) does, then require that the group is gone, that the
# emulator and watch ports are free and that nothing it started (the emulator, watch, the gateway,
# the job poller) is still running.
#   bash infra/scripts/check-dev-cleanup.sh
#   DEV_SCRIPT=/path/to/dev.sh ROUNDS="tail-first:TERM" UP_SECS=900 bash infra/scripts/check-dev-cleanup.sh
# A round is SIG (the group gets SIG) or tail-first:SIG. A group signal reaches dev.sh and its
# `tail` at once; when tail dies and is reaped before dev.sh runs its trap (a race a loaded
# machine loses), the old cleanup's `kill $TAIL_PID` failed under set -e and the emulator and
# watch were left behind. tail-first:SIG makes that order certain: TERM the tail, then the group.
# Free ports and a run directory of its own for every round: a `make dev` on 5000/9000, or a
# `make test`, running meanwhile is never touched.
set -euo pipefail
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rust-starter-devcheck-XXXXXX")"
export STARTER_RUN_DIR="$WORK/run"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DEV_SCRIPT="${DEV_SCRIPT:-$ROOT/infra/scripts/dev.sh}"
ROUNDS="${ROUNDS:-TERM INT tail-first:TERM tail-first:INT}"
UP_SECS="${UP_SECS:-300}" # the first run builds every function
GONE_SECS="${GONE_SECS:-15}"
[[ -f "$DEV_SCRIPT" ]] || die "no such script: $DEV_SCRIPT"

# Run the way `make dev` runs it: make is the group leader and passes a TERM on to dev.sh.
printf 'dev:\n\t@bash "$(DEV_SCRIPT)"\n' >"$WORK/Makefile"

SESSIONS=() # every session this check started: its dev runs, and what each of them started
FAILED=0

# session_procs SID: the live (non-zombie) processes of session SID, one "pid args" a line.
session_procs() {
  ps -e -o pid=,sid=,stat=,args= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { $2 = ""; $3 = ""; print }'
}

# alive PID: PID runs (a zombie, dead but not yet reaped, does not count).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }

kill_sessions() {
  local sid pid
  for sid in "$@"; do
    [[ -n "$sid" ]] || continue
    for pid in $(session_procs "$sid" | awk '{ print $1 }'); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
}

# reap SID [SID...]: KILL whatever is left of these sessions; the first is our child: wait for it,
# quietly (bash would report "Killed").
reap() {
  kill_sessions "$@"
  { wait "$1"; } 2>/dev/null || true
}

finish() {
  set +e
  trap '' INT TERM
  local run
  # Pid files of runs that never got as far as being signalled, or whose cleanup did not run.
  for run in "$WORK"/run-*; do
    [[ -f "$run/watch.pid" ]] && SESSIONS+=("$(cat "$run/watch.pid")")
    [[ -f "$run/moto.pid" ]] && SESSIONS+=("$(cat "$run/moto.pid")")
    [[ -f "$run/gateway.pid" ]] && SESSIONS+=("$(cat "$run/gateway.pid")")
    [[ -f "$run/poller.pid" ]] && SESSIONS+=("$(cat "$run/poller.pid")")
  done
  ((${#SESSIONS[@]})) && kill_sessions "${SESSIONS[@]}"
  { wait; } 2>/dev/null
  rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { printf '  ok   %s\n' "$*"; }
fail() {
  printf '  FAIL %s\n' "$*"
  FAILED=$((FAILED + 1))
  ROUND_FAILED=1
}
indent() { cut -c1-220 | sed 's/^/       | /'; }

# round [tail-first:]SIG: one `make dev`; once it answers, `kill -SIG -- -PGID`.
round() {
  local spec="$1" sig="${1##*:}" name="${1/:/-}"
  local run="$WORK/run-$name" devlog="$WORK/dev-$name.log"
  local moto api sid moto_sid watch_sid gateway_sid poller_sid tail_pid i start
  ROUND_FAILED=0
  start=$SECONDS
  moto="$(free_port)"
  api="$(free_port)"
  while [[ "$api" == "$moto" ]]; do api="$(free_port)"; done
  log "round $spec: $DEV_SCRIPT, emulator on $moto, API on $api"
  # A new session, so the signal reaches exactly that run. A background job of a non-interactive
  # shell starts with INT ignored, and bash cannot trap a signal ignored at entry: the launcher
  # restores the default so INT reaches dev.sh as a Ctrl-C does.
  STARTER_RUN_DIR="$run" MOTO_PORT="$moto" API_PORT="$api" \
    "$VENV/bin/python" -c '
import os, signal, sys
os.setsid()
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' \
    make --no-print-directory -f "$WORK/Makefile" DEV_SCRIPT="$DEV_SCRIPT" dev \
    >"$devlog" 2>&1 </dev/null &
  sid=$!
  SESSIONS+=("$sid")

  for ((i = 0; i < UP_SECS * 2; i++)); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$api/health/liveness" && break
    alive "$sid" || break # make dev stopped on its own (a build error, a busy port)
    sleep 0.5
  done
  if ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$api/health/liveness"; then
    if alive "$sid"; then
      fail "$spec: API never answered on $api within ${UP_SECS}s"
    else
      fail "$spec: make dev exited before the API answered"
    fi
    tail -n 30 "$devlog" | indent
    reap "$sid" "$(cat "$run/moto.pid" 2>/dev/null)" "$(cat "$run/watch.pid" 2>/dev/null)" \
      "$(cat "$run/gateway.pid" 2>/dev/null)" "$(cat "$run/poller.pid" 2>/dev/null)"
    return
  fi
  ok "$spec: API up on $api after $((SECONDS - start))s"
  moto_sid="$(cat "$run/moto.pid")"
  watch_sid="$(cat "$run/watch.pid")"
  gateway_sid="$(cat "$run/gateway.pid")"
  # dev.sh starts the poller once the API answers: give it a moment to get there.
  for ((i = 0; i < 100; i++)); do
    [[ -f "$run/poller.pid" ]] && break
    sleep 0.1
  done
  poller_sid="$(cat "$run/poller.pid" 2>/dev/null || true)"
  if [[ -n "$poller_sid" ]]; then
    ok "$spec: job poller started"
  else
    fail "$spec: make dev started no job poller ($run/poller.pid) within 10 s of the API answering"
  fi
  SESSIONS+=("$moto_sid" "$watch_sid" "$gateway_sid" "$poller_sid")

  if [[ "$spec" == tail-first:* ]]; then
    # dev.sh's `tail -f watch.log`; wait until dev.sh has reaped it.
    tail_pid="$(session_procs "$sid" | awk '$2 == "tail" { print $1; exit }')"
    if [[ -z "$tail_pid" ]]; then
      fail "$spec: no tail in make dev's group"
    else
      kill -TERM "$tail_pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$tail_pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  kill "-$sig" -- "-$sid" || fail "$spec: could not signal group $sid"
  for ((i = 0; i < GONE_SECS * 10; i++)); do
    [[ -z "$(session_procs "$sid")" ]] && break
    sleep 0.1
  done
  if [[ -z "$(session_procs "$sid")" ]]; then
    ok "$spec: make dev's group gone"
  else
    fail "$spec: make dev's group still running ${GONE_SECS}s after SIG$sig:"
    session_procs "$sid" | indent
  fi
  if port_in_use "$moto"; then fail "$spec: emulator port $moto still in use"; else ok "$spec: emulator port $moto free"; fi
  if port_in_use "$api"; then fail "$spec: API port $api still in use"; else ok "$spec: API port $api free"; fi
  local left=""
  for i in "$moto_sid" "$watch_sid" "$gateway_sid" "$poller_sid"; do
    [[ -n "$i" ]] && left+="$(session_procs "$i")"
  done
  if [[ -z "$left" ]]; then
    ok "$spec: no emulator, watch, gateway or poller process left"
  else
    fail "$spec: left running:"
    for i in "$moto_sid" "$watch_sid" "$gateway_sid" "$poller_sid"; do
      [[ -n "$i" ]] && session_procs "$i"
    done | indent
  fi
  if ((ROUND_FAILED)); then
    printf '       last lines of the dev log:\n'
    tail -n 15 "$devlog" | indent
  fi
  reap "$sid" "$moto_sid" "$watch_sid" "$gateway_sid" "$poller_sid"
}

for spec in $ROUNDS; do
  round "$spec"
done
if ((FAILED)); then
  printf 'FAIL: %d check(s) failed\n' "$FAILED"
  exit 1
fi
printf 'ok: make dev stopped everything in every round (%s)\n' "$ROUNDS"
