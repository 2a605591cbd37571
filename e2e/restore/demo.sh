#!/usr/bin/env bash
# e2e/restore/demo.sh - a real point-in-time restore with cutover (runbook 000 Restore 1A)
# in the local environment; `make demo` runs it after e2e/demo.sh.
#
# Seeds shop-orders-prod (e2e/fixtures/seed.sh, DEMO_ORDERS orders), deploys the sample
# order-service (e2e/apps/echo-env-app reading ORDER_DATABASE_URL from shop-secrets) in
# the namespace lifeboat-demo, (re)starts lifeboat-operator (pid in RUN_DIR/operator.pid,
# which `e2e/env.sh down` stops), writes a few orders, applies a RestoreRequest to a time T
# between two of them, shows it waiting for approval, approves it, waits, and prints the
# timeline: `kubectl get rr` and the status.steps table. The environment stays up.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e=$(cd "$here/.." && pwd)
repo=$(cd "$e2e/.." && pwd)
run_dir=${LIFEBOAT_RUN_DIR:-$e2e/.run}
ns=lifeboat-demo
rr=orders-pitr
orders=${DEMO_ORDERS:-2000}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -f "$run_dir/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$run_dir/env.sh"
    # env.sh status/up use the running ports (the real control plane's are in env.sh)
    [ -z "${KUBESIM_URL:-}" ] || export KUBESIM_PORT=${KUBESIM_URL##*:}
fi
"$e2e/env.sh" status >/dev/null 2>&1 || "$e2e/env.sh" up
# shellcheck disable=SC1091
. "$run_dir/env.sh"
kc() { kubectl --cache-dir "$run_dir/kubectl-cache" "$@"; }
wait_phase() {   # wait_phase WANTED TIMEOUT_S: until rr/$rr is WANTED or ends (bounded)
    local p="" i
    for ((i = 0; i < $2 * 4; i++)); do
        p=$(kc -n "$ns" get "rr/$rr" -o jsonpath='{.status.phase}' 2>/dev/null || true)
        case "$p" in "$1" | Succeeded | Failed | RolledBack) break ;; esac
        sleep 0.25
    done
    [ "$p" = "$1" ] || kc -n "$ns" get "rr/$rr" -o jsonpath='{"phase "}{.status.phase}{": "}{.status.message}{"\n"}'
}
rds() { aws rds --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

step "installing the CRDs"
kc apply -f "$repo/crds/" >/dev/null
kc wait --for=condition=Established --timeout=30s -f "$repo/crds/" >/dev/null
kc apply -f "$repo/deploy/scopes/single-team.yaml" >/dev/null  # deny by default: one broad scope

step "seeding shop-orders-prod ($orders orders) - e2e/fixtures/seed.sh"
eval "$(SEED_ORDERS=$orders "$e2e/fixtures/seed.sh")"
echo "shop-orders-prod answers on $SHOP_DB_HOST:$SHOP_DB_PORT"
url="postgresql://$SHOP_DB_USER:$SHOP_DB_PASSWORD@$SHOP_DB_HOST:$SHOP_DB_PORT/$SHOP_DB_NAME"

step "namespace $ns: Secrets and the sample order-service"
kc delete namespace "$ns" --ignore-not-found --wait=true --timeout=60s >/dev/null
kc create namespace "$ns" >/dev/null
kc -n "$ns" create secret generic orders-db-admin --from-literal=username="$SHOP_DB_USER" \
    --from-literal=password="$SHOP_DB_PASSWORD" >/dev/null
kc -n "$ns" create secret generic shop-secrets --from-literal=ORDER_DATABASE_URL="$url" >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-service, namespace: $ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: order-service}}
  template:
    metadata: {labels: {app: order-service}}
    spec:
      containers:
      - name: app
        image: shop/order-service:1.0
        command: [echo-env-app]
        ports: [{containerPort: 8080, name: http}]
        env:
        - {name: ORDER_DATABASE_URL, valueFrom: {secretKeyRef: {name: shop-secrets, key: ORDER_DATABASE_URL}}}
        - {name: ECHO_VAR, value: ORDER_DATABASE_URL}
        - {name: DB_URL_VAR, value: ORDER_DATABASE_URL}
        readinessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 1, timeoutSeconds: 5}
---
apiVersion: v1
kind: Service
metadata: {name: order-service, namespace: $ns}
spec:
  selector: {app: order-service}
  ports: [{port: 80, targetPort: http}]
YAML
kc -n "$ns" rollout status deployment/order-service --timeout=60s

svcmap=${KUBE_SERVICE_MAP:?the control plane environment (e2e/env.sh up) sets KUBE_SERVICE_MAP}
app() {   # GET / of order-service through the kubelet's service map: "pid <pid> db <host:port>"
    python3 - "$svcmap" "order-service.$ns.svc" <<'PY'
import json, re, sys, urllib.request
addr = json.load(open(sys.argv[1])).get(sys.argv[2])
info = json.load(urllib.request.urlopen("http://%s/" % addr, timeout=3))
m = re.search(r"@([^/]+)/", info["value"] or "")
print("pid %s, database %s" % (info["pid"], m.group(1) if m else "?"))
PY
}
echo "order-service: $(app)"

step "starting lifeboat-operator (log: $run_dir/operator.log)"
if [ -s "$run_dir/operator.pid" ] && kill -0 "$(cat "$run_dir/operator.pid")" 2>/dev/null; then
    pid=$(cat "$run_dir/operator.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
# on the real control plane: as deploy/'s ServiceAccount with deploy/'s RBAC
op_kubeconfig=$(python3 "$e2e/lib/operator_sa.py")
LIFEBOAT_SERVICE_MAP=$svcmap \
    setsid "${LIFEBOAT_BIN_DIR:-$repo/bin}/lifeboat-operator" --kubeconfig "$op_kubeconfig" \
    --metrics-addr 127.0.0.1:18080 --health-addr 127.0.0.1:18081 --log-format text \
    --sql-sslmode disable --http-check-allow-loopback \
    </dev/null >>"$run_dir/operator.log" 2>&1 &
echo $! >"$run_dir/operator.pid"
for _ in $(seq 1 150); do
    curl -sf http://127.0.0.1:18081/readyz >/dev/null && break
    sleep 0.2
done
curl -sf http://127.0.0.1:18081/readyz >/dev/null ||
    { echo "demo: the operator did not become ready; see $run_dir/operator.log" >&2; exit 1; }

step "orders keep coming in (e2e/fixtures/writer.py, one every 0.4 s)"
rows=$(PGPASSWORD=$SHOP_DB_PASSWORD python3 "$e2e/fixtures/writer.py" --host "$SHOP_DB_HOST" \
    --port "$SHOP_DB_PORT" --user "$SHOP_DB_USER" --dbname "$SHOP_DB_NAME" --count 10 --interval 0.4)
# T: a whole second between two consecutive orders (the 3rd on), so the result is exact
read -r T last_before first_after < <(python3 - "$rows" <<'PY'
import datetime as dt, sys
rows = [(int(i), dt.datetime.fromisoformat(t.replace("Z", "+00:00")))
        for i, t in (l.split() for l in sys.argv[1].splitlines())]
for k in range(2, len(rows) - 1):
    sec = (rows[k][1] + dt.timedelta(seconds=1)).replace(microsecond=0)
    if (sec - rows[k][1]).total_seconds() > 0.08 and (rows[k + 1][1] - sec).total_seconds() > 0.08:
        print(sec.strftime("%Y-%m-%dT%H:%M:%SZ"), rows[k][0], rows[k + 1][0])
        break
PY
)
[ -n "${T:-}" ] || { echo "demo: no restore time between two orders" >&2; exit 1; }
echo "$rows" | sed 's/^/  order /'
echo "restore time T = $T: order $last_before is the last before it, order $first_after the first after"
# T must be restorable: wait for the archive to pass it (LatestRestorableTime)
for _ in $(seq 1 50); do
    lrt=$(rds describe-db-instances --db-instance-identifier shop-orders-prod \
        --query 'DBInstances[0].LatestRestorableTime' --output text)
    [ "$(date -u -d "$lrt" +%s)" -ge "$(date -u -d "$T" +%s)" ] && break
    sleep 0.3
done

step "applying RestoreRequest $rr (restore to $T, verify, approval, rename, patch, restart, cleanup)"
kc apply -f - <<YAML
apiVersion: lifeboat.dev/v1alpha1
kind: RestoreRequest
metadata: {name: $rr, namespace: $ns}
spec:
  approval: {required: true}
  rollbackOnFailure: true
  items:
  - name: orders-db
    rdsPointInTime:
      sourceDBInstanceIdentifier: shop-orders-prod
      restoreTime: "$T"
      targetDBInstanceIdentifier: shop-orders-prod-restored
      dbInstanceClass: db.t3.medium
    credentialsSecretRef: {name: orders-db-admin}
    database: shop_orders
    verify:
      checks:
      - name: orders-present
        sql: {query: "SELECT COUNT(*) FROM orders", expect: {min: 1}}
      - name: orders-latest
        sql: {query: "SELECT MAX(created_at) FROM orders", expect: {notEmpty: true}}
    promote: rename
    secretPatches:
    - {secretName: shop-secrets, key: ORDER_DATABASE_URL, replaceHost: true}
    cleanup: {deleteOld: true, finalSnapshot: true, after: 5s}
  rollout:
  - {kind: Deployment, name: order-service}
YAML

step "waiting for AwaitingApproval (the copy is restored and verified; nothing live changed)"
wait_phase AwaitingApproval 120
kc -n "$ns" get rr
echo "order-service still: $(app)"

step "approving the published plan: kubectl annotate rr/$rr lifeboat.dev/approve=demo-operator lifeboat.dev/approve-plan=<status.planHash>"
plan_hash=$(kc -n "$ns" get "rr/$rr" -o jsonpath='{.status.planHash}')
kc -n "$ns" annotate "rr/$rr" lifeboat.dev/approve=demo-operator "lifeboat.dev/approve-plan=$plan_hash"
wait_phase Succeeded 180

step "kubectl get rr -n $ns -o wide"
kc -n "$ns" get rr -o wide

step "the timeline: status.steps of rr/$rr"
{
    printf 'STEP\tPHASE\tSTARTED\tFINISHED\tMESSAGE\n'
    kc -n "$ns" get "rr/$rr" -o jsonpath='{range .status.steps[*]}{.name}{"\t"}{.phase}{"\t"}{.startedAt}{"\t"}{.finishedAt}{"\t"}{.message}{"\n"}{end}' |
        cut -c1-220
} | column -t -s $'\t'
kc -n "$ns" get "rr/$rr" -o jsonpath='{"approved by "}{.status.approval.approvedBy}{" at "}{.status.approval.approvedAt}{"; duration "}{.status.durationSeconds}{" s; outputs "}{.status.outputs}{"\n"}'

step "the result"
port=$(rds describe-db-instances --db-instance-identifier shop-orders-prod \
    --query 'DBInstances[0].Endpoint.Port' --output text)
echo "shop-orders-prod now answers on 127.0.0.1:$port; newest order there:"
PGPASSWORD=$SHOP_DB_PASSWORD psql -X -h 127.0.0.1 -p "$port" -U "$SHOP_DB_USER" -d "$SHOP_DB_NAME" \
    -c "SELECT id, created_at FROM orders ORDER BY id DESC LIMIT 1"
echo "(expected: order $last_before; order $first_after and later were written after T)"
echo "order-service now: $(app)"
rds describe-db-snapshots --query \
    "DBSnapshots[?starts_with(DBInstanceIdentifier, 'shop-orders-prod-old-')].[DBSnapshotIdentifier,Status]" \
    --output text | sed 's/^/final snapshot: /'

cat <<TXT

The environment is still running:
  . $run_dir/env.sh && kubectl get rr -A      # look around
  e2e/env.sh down                              # stop everything (and the operator)
TXT
