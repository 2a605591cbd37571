#!/usr/bin/env bash
# e2e/env.sh up|down|status|seed - the local test environment.
#
# up      starts every component (the Kubernetes, then awssim) and writes RUN_DIR/env.sh
#         with the exports a shell or a test needs (KUBECONFIG, AWS_ENDPOINT_URL, ...).
# down    stops every process the components started, by PID, and removes leftovers.
# status  one line per component; exits 0 only when all are up.
# seed    loads the runbooks' datasets (a "production" RDS instance shop-orders-prod)
#         into a running environment.
#
# The Kubernetes is the real one: kube-apiserver, etcd, the controllers and the process
# kubelet of e2e/controlplane, built by make deps (LIFEBOAT_KUBE=controlplane, the only
# value left: kubesim runs no pods since issue 9 and only serves tests that start a
# private one). Ports: KUBESIM_PORT, AWSSIM_PORT, AWSSIM_PG_PORT_MIN/MAX and
# LIFEBOAT_CP_{APISERVER,ETCD,ETCD_PEER,KUBELET,CONTROLLER_MANAGER,SCHEDULER}_PORT; with
# distinct ports and distinct LIFEBOAT_RUN_DIRs, two environments run side by side from
# one checkout (every file a component writes is under its RUN_DIR).
# RUN_DIR is $LIFEBOAT_RUN_DIR or e2e/.run. Each component's e2e/<name>/service.sh
# implements up|down|status RUN_DIR; up prints its exports on stdout. Every command is
# safe to run twice.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
run_dir=${LIFEBOAT_RUN_DIR:-$here/.run}
kube=${LIFEBOAT_KUBE:-controlplane}
case "$kube" in
controlplane) ;;
kubesim)
    echo "env.sh: LIFEBOAT_KUBE=kubesim: no longer supported: kubesim runs no pods since" \
        "issue 9 (e2e/kubesim/README.md); the suites need the real control plane" >&2
    exit 2
    ;;
*)
    echo "env.sh: LIFEBOAT_KUBE=$kube: must be controlplane" >&2
    exit 2
    ;;
esac
components=("$kube" awssim awscli)
pg_bin=${AWSSIM_PG_BIN:-/usr/lib/postgresql/15/bin}

up() {
    mkdir -p "$run_dir"
    local env_file=$run_dir/env.sh tmp
    tmp=$(mktemp "$run_dir/env.sh.XXXXXX")
    {
        echo "# written by e2e/env.sh up; source it"
        echo "export LIFEBOAT_RUN_DIR='$run_dir'"
        echo "export LIFEBOAT_REPO='$repo'"
        # PostgreSQL's own bin first: Debian's /usr/bin/psql is postgresql-common's Perl
        # wrapper, ~60 ms of CPU per call, and the suites call psql hundreds of times.
        echo "export PATH='${LIFEBOAT_BIN_DIR:-$repo/bin}':'$pg_bin':\"\$PATH\""
    } >"$tmp"
    for c in "${components[@]}"; do
        echo "env.sh: starting $c" >&2
        if ! "$here/$c/service.sh" up "$run_dir" >>"$tmp"; then
            echo "env.sh: $c failed to start; see $run_dir/$c.log" >&2
            rm -f "$tmp"
            return 1
        fi
    done
    mv "$tmp" "$env_file"
    echo "env.sh: up; run: . $env_file" >&2
}

down() {
    local rc=0 c pid
    # the operator make demo started, if any
    if [ -s "$run_dir/operator.pid" ]; then
        pid=$(cat "$run_dir/operator.pid")
        kill -TERM "$pid" 2>/dev/null && for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$run_dir/operator.pid"
    fi
    # both Kubernetes kinds: a run dir brought up with the other LIFEBOAT_KUBE is cleaned too
    for c in awscli awssim controlplane kubesim; do
        [ -x "$here/$c/service.sh" ] || continue
        "$here/$c/service.sh" down "$run_dir" || rc=1
    done
    # the private kubesim e2e/kubesim/tests starts when env.sh runs the real control plane
    if [ -d "$run_dir/kubesim-suite" ] && [ -x "$here/kubesim/service.sh" ]; then
        "$here/kubesim/service.sh" down "$run_dir/kubesim-suite" || rc=1
    fi
    rm -f "$run_dir/env.sh"
    return $rc
}

status() {
    local rc=0 c
    for c in "${components[@]}"; do
        "$here/$c/service.sh" status "$run_dir" || rc=3
    done
    return $rc
}

seed() {
    [ -f "$run_dir/env.sh" ] || { echo "env.sh: not up; run e2e/env.sh up first" >&2; return 1; }
    # shellcheck disable=SC1091
    . "$run_dir/env.sh"
    "$repo/e2e/fixtures/seed.sh" >>"$run_dir/env.sh"
    echo "env.sh: seeded; the SHOP_DB_* exports are in $run_dir/env.sh" >&2
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
seed) seed ;;
*)
    echo "usage: e2e/env.sh up|down|status|seed" >&2
    exit 2
    ;;
esac
