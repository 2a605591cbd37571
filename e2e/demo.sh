#!/usr/bin/env bash
# e2e/demo.sh - what `make demo` runs: bring the local environment up (kubesim and
# awssim), install Lifeboat's CRDs, apply the example manifests and show them with
# kubectl. The environment stays up afterwards; `e2e/env.sh down` stops it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
run_dir=${LIFEBOAT_RUN_DIR:-$here/.run}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting the local environment (kubesim + awssim)"
"$here/env.sh" up
# shellcheck disable=SC1091
. "$run_dir/env.sh"
kc() { kubectl --cache-dir "$run_dir/kubectl-cache" "$@"; }

step "kubectl version"
kc version

step "installing the CRDs"
kc apply -f "$repo/crds/"
kc wait --for=condition=Established --timeout=30s -f "$repo/crds/"

step "applying the example manifests (runbooks in ../shared/seeds)"
kc create namespace shop --dry-run=client -o yaml | kc apply -f -
kc apply -n shop -f "$repo/examples/"

step "kubectl get lifeboat -n shop"
kc get lifeboat -n shop

step "kubectl get rr -n shop -o wide"
kc get rr -n shop -o wide

cat <<TXT

The environment is still running:
  . $run_dir/env.sh && kubectl get rr -A      # look around
  e2e/env.sh down                              # stop everything
TXT
