#!/usr/bin/env bash
# controlplane service: up|down|status [RUN_DIR]  (the harness contract of e2e/env.sh,
# as e2e/kubesim/service.sh). up starts build/controlplane/lifeboat-controlplane's
# supervisor (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the process
# kubelet) and prints the exports; down stops it and every pod process; both are safe
# to run twice. Ports: LIFEBOAT_CP_APISERVER_PORT (6443), LIFEBOAT_CP_ETCD_PORT (2379),
# LIFEBOAT_CP_ETCD_PEER_PORT (2380), LIFEBOAT_CP_KUBELET_PORT (10250),
# LIFEBOAT_CP_CONTROLLER_MANAGER_PORT (10257), LIFEBOAT_CP_SCHEDULER_PORT (10259).
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CMD="${1:-status}"
RUN_DIR="${2:-${LIFEBOAT_RUN_DIR:-$HERE/../.run}}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
BIN="${LIFEBOAT_CONTROLPLANE_BIN:-$REPO/build/controlplane/lifeboat-controlplane}"
PORT="${LIFEBOAT_CP_APISERVER_PORT:-6443}"
D="$RUN_DIR/controlplane"
PIDFILE="$D/supervisor.pid"
LOG="$RUN_DIR/controlplane.log"
UP_TIMEOUT_S="${LIFEBOAT_CP_UP_TIMEOUT_S:-180}"

alive() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

answers() {
  [ -f "$D/started" ] || return 1
  curl -sf --max-time 2 --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" --key "$D/pki/admin.key" \
    "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 &&
    kubectl --kubeconfig "$D/admin.kubeconfig" get node lifeboat-node \
      -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

exports() {
  echo "export KUBECONFIG='$D/admin.kubeconfig'"
  echo "export LIFEBOAT_KUBE=controlplane"
  echo "export CONTROLPLANE_URL='https://127.0.0.1:$PORT'"
  echo "export CONTROLPLANE_RUN_DIR='$RUN_DIR'"
  echo "export CONTROLPLANE_BIN='$BIN'"
  echo "export KUBE_SERVICE_MAP='$D/services.json'"
  # the ports, so that `lifeboat-controlplane compact|kubeconfig` and `service.sh status`
  # in a shell that sourced env.sh find this control plane
  local v
  for v in APISERVER ETCD ETCD_PEER KUBELET CONTROLLER_MANAGER SCHEDULER; do
    v=LIFEBOAT_CP_${v}_PORT
    [ -n "${!v:-}" ] && echo "export $v='${!v}'"
  done
  return 0
}

case "$CMD" in
up)
  if alive && answers; then exports; exit 0; fi
  if alive; then "$0" down "$RUN_DIR" >/dev/null; fi
  if [ ! -x "$BIN" ]; then
    echo "controlplane: $BIN is missing: run make deps (it builds the control plane)" >&2
    exit 1
  fi
  # a new cluster each time: etcd data, pods and PVC folders of an earlier run go
  rm -rf "$D/etcd" "$D/pods" "$D/pvc" "$D/started" "$D/services.json"
  mkdir -p "$D"
  LIFEBOAT_REPO="$REPO" setsid "$BIN" up "$RUN_DIR" </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 $((UP_TIMEOUT_S * 5))); do
    if answers; then exports; exit 0; fi
    if ! alive; then echo "controlplane: exited during start-up; see $LOG and $D/logs/" >&2; tail -20 "$LOG" >&2; exit 1; fi
    sleep 0.2
  done
  echo "controlplane: not ready on port $PORT after ${UP_TIMEOUT_S} s; see $LOG and $D/logs/" >&2
  exit 1
  ;;
down)
  if [ -s "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      # the supervisor runs in its own session: KILL the whole group if it did not stop
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    fi
  fi
  # children a KILLed supervisor left (each records its pid), then pod processes
  for f in "$D"/{kubelet,scheduler,controller-manager,apiserver,etcd}.pid; do
    [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
  [ -x "$BIN" ] && "$BIN" sweep "$RUN_DIR" >/dev/null 2>&1
  rm -f "$PIDFILE" "$D/started"
  exit 0
  ;;
status)
  if alive && answers; then echo "controlplane: up (pid $(cat "$PIDFILE"), https://127.0.0.1:$PORT)"; exit 0; fi
  echo "controlplane: down"; exit 3
  ;;
*)
  echo "usage: $0 up|down|status [RUN_DIR]" >&2; exit 2
  ;;
esac
