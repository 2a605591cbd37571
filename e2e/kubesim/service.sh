#!/usr/bin/env bash
# kubesim service: up|down|status [RUN_DIR]  (harness contract: see /work/shared/TESTENV.md)
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CMD="${1:-status}"
RUN_DIR="${2:-${LIFEBOAT_RUN_DIR:-$HERE/../.run}}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
PORT="${KUBESIM_PORT:-6443}"
PIDFILE="$RUN_DIR/kubesim.pid"
LOG="$RUN_DIR/kubesim.log"
PY="${PYTHON:-python3}"

alive() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

answers() {
  local tok
  tok="$(cat "$RUN_DIR/kubesim/token" 2>/dev/null)" || return 1
  curl -sf --max-time 2 --cacert "$RUN_DIR/kubesim/ca.crt" -H "Authorization: Bearer $tok" \
    "https://127.0.0.1:$PORT/version" >/dev/null 2>&1
}

exports() {
  echo "export KUBECONFIG='$RUN_DIR/kubeconfig'"
  echo "export KUBESIM_URL='https://127.0.0.1:$PORT'"
  echo "export KUBESIM_RUN_DIR='$RUN_DIR'"
}

case "$CMD" in
up)
  if alive && answers; then exports; exit 0; fi
  if alive; then kill "$(cat "$PIDFILE")" 2>/dev/null; sleep 1; fi
  rm -f "$PIDFILE"
  setsid "$PY" "$HERE/server.py" --run-dir "$RUN_DIR" --port "$PORT" \
    ${KUBESIM_HISTORY:+--history "$KUBESIM_HISTORY"} \
    ${KUBESIM_BOOKMARK_INTERVAL:+--bookmark-interval "$KUBESIM_BOOKMARK_INTERVAL"} \
    </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 150); do
    if answers; then exports; exit 0; fi
    if ! alive; then echo "kubesim: server exited during start-up; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; fi
    sleep 0.2
  done
  echo "kubesim: no answer on port $PORT after 30 s; see $LOG" >&2
  exit 1
  ;;
down)
  if [ -s "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      # the server runs in its own session: KILL the whole group if it did not stop
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    fi
  fi
  rm -f "$PIDFILE"
  exit 0
  ;;
status)
  if alive && answers; then echo "kubesim: up (pid $(cat "$PIDFILE"), https://127.0.0.1:$PORT)"; exit 0; fi
  echo "kubesim: down"; exit 3
  ;;
*)
  echo "usage: $0 up|down|status [RUN_DIR]" >&2; exit 2
  ;;
esac
