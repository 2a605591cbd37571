#!/usr/bin/env bash
# e2e/demo.sh - what `make demo` runs: bring the local environment up (the real
# control plane and awssim), install Lifeboat's
# CRDs, start lifeboat-operator (as deploy/'s ServiceAccount), apply the example
# manifests, and show with kubectl the dry-run plan the operator published and how it
# judged every example. The environment stays up afterwards; `e2e/env.sh down` stops
# it (and the operator).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
run_dir=${LIFEBOAT_RUN_DIR:-$here/.run}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting the local environment (the real Kubernetes control plane + awssim)"
"$here/env.sh" up
# shellcheck disable=SC1091
. "$run_dir/env.sh"
kc() { kubectl --cache-dir "$run_dir/kubectl-cache" "$@"; }

step "kubectl version"
kc version

step "installing the CRDs"
kc apply -f "$repo/crds/"
kc wait --for=condition=Established --timeout=30s -f "$repo/crds/"
kc apply -f "$repo/deploy/scopes/single-team.yaml"  # deny by default: the demo is a single-team cluster

step "starting lifeboat-operator (log: $run_dir/operator.log)"
if [ -s "$run_dir/operator.pid" ] && kill -0 "$(cat "$run_dir/operator.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$run_dir/operator.pid")"
    sleep 1
fi
# on the real control plane: as deploy/'s ServiceAccount with deploy/'s RBAC
op_kubeconfig=$(python3 "$here/lib/operator_sa.py")
setsid "${LIFEBOAT_BIN_DIR:-$repo/bin}/lifeboat-operator" --kubeconfig "$op_kubeconfig" \
    --metrics-addr 127.0.0.1:18080 --health-addr 127.0.0.1:18081 --log-format text \
    --sql-sslmode disable --http-check-allow-loopback \
    </dev/null >>"$run_dir/operator.log" 2>&1 &
echo $! >"$run_dir/operator.pid"
ready=no
for _ in $(seq 1 150); do
    if curl -sf http://127.0.0.1:18081/readyz >/dev/null; then ready=yes; break; fi
    sleep 0.2
done
[ "$ready" = yes ] || { echo "demo: the operator did not become ready; see $run_dir/operator.log" >&2; exit 1; }

step "applying the example manifests (runbooks in ../shared/seeds)"
kc create namespace shop --dry-run=client -o yaml | kc apply -f -
# every example but the RecoveryScopes: the demo's namespace is already selected by the
# single-team scope above, and a namespace two scopes select is refused
example_files=()
for f in "$repo"/examples/*.yaml; do
    case "$(basename "$f")" in recoveryscope-*) ;; *) example_files+=(-f "$f") ;; esac
done
kc apply -n shop "${example_files[@]}"

step "waiting for the dry run to be Planned"
kc wait --for=jsonpath='{.status.phase}'=Planned --timeout=30s -n shop rr/orders-pitr-plan

step "the plan of rr/orders-pitr-plan (destructive steps wait for approval)"
kc get rr orders-pitr-plan -n shop \
    -o jsonpath='{range .status.plan[*]}{.name}{"\t"}{.destructive}{"\t"}{.description}{"\n"}{end}' |
    column -t -s $'\t'

step "kubectl get lifeboat -n shop"
kc get lifeboat -n shop

step "kubectl get rr -n shop -o wide"
kc get rr -n shop -o wide

step "a real restore: runbook 000 Restore 1A (point-in-time, approval, rename, Secret patch, restart, cleanup)"
"$here/restore/demo.sh"
# e2e/restore/demo.sh ends with how to look around and how to stop the environment.
