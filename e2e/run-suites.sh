#!/usr/bin/env bash
# e2e/run-suites.sh RESULTS | --list
#
# Runs every end-to-end suite - each folder e2e/*/tests holding test_*.py - with
# e2e/lib/tap.py, records the counts in RESULTS through tests/tap-run, and always brings
# the environments down again. --list prints the suite names, so that a suite that never
# ran counts as failed.
#
# Lanes: most of a suite's time is spent waiting (for AWS-like state machines, rollouts,
# leases), so the suites run in $LIFEBOAT_E2E_LANES lanes (default 5) side by side. Each
# lane brings up its own environment (e2e/env.sh up) in RUN_DIR/laneN on its own ports
# (lane 0 on the usual ones, lane N on them + 10*N) and takes the next suite from one
# shared list, longest first, until none is left. A suite's output is printed whole when
# it finishes, so lanes never interleave lines.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

# LIFEBOAT_E2E_SUITES="pg apps" runs only those (a developer's loop; make test runs all).
suites() {
    local d s
    for d in "$here"/*/tests; do
        compgen -G "$d/test_*.py" >/dev/null || continue
        s=$(basename "$(dirname "$d")")
        if [ -n "${LIFEBOAT_E2E_SUITES:-}" ] && ! [[ " $LIFEBOAT_E2E_SUITES " == *" $s "* ]]; then
            continue
        fi
        echo "$s"
    done
}

if [ "${1:-}" = "--list" ]; then
    suites | sed 's/^/e2e:/'
    exit 0
fi
results=${1:?usage: e2e/run-suites.sh RESULTS | --list}
lanes=${LIFEBOAT_E2E_LANES:-5}
case "$lanes" in
[1-8]) ;;
*)
    echo "run-suites: LIFEBOAT_E2E_LANES=$lanes: must be 1 to 8" >&2
    exit 2
    ;;
esac
base=${LIFEBOAT_RUN_DIR:-$here/.run}
mkdir -p "$base"
base=$(cd "$base" && pwd)

# Seconds each suite took in the last measured run (make test of a fresh clone of ffd8e93
# on 2 cores, five lanes, 20 min 46 s): the longest go first so that the lanes finish
# together. A suite not listed counts as long (300 s).
weight() {
    case "$1" in
    restore) echo 650 ;; restore-s3) echo 544 ;; backup-schedule) echo 472 ;;
    restore-lifecycle) echo 434 ;; backup) echo 413 ;; redis) echo 323 ;;
    restore-aurora) echo 303 ;; awssim-runbooks) echo 289 ;; awssim) echo 263 ;;
    awsclient) echo 228 ;; verify) echo 202 ;; agent) echo 200 ;; controlplane) echo 191 ;;
    fullenv) echo 149 ;; kubeclient) echo 127 ;; kubesim) echo 112 ;; operator) echo 111 ;;
    tenancy) echo 101 ;; crds) echo 91 ;; plugin) echo 77 ;; pg) echo 54 ;;
    apps) echo 31 ;; deploy) echo 11 ;;
    *) echo 300 ;;
    esac
}
ordered() {
    local s
    for s in $(suites); do echo "$(weight "$s") $s"; done | sort -k1,1nr -k2 | cut -d' ' -f2
}

# The ports of lane $1: the usual ones (or what the caller exported) + 10 * lane.
lane_env() {
    local n=$1 off=$((10 * $1)) v
    echo "LIFEBOAT_RUN_DIR=$base/lane$n"
    echo "KUBESIM_PORT=$((${KUBESIM_PORT:-6443} + off))"
    echo "AWSSIM_PORT=$((${AWSSIM_PORT:-4566} + off))"
    # each lane its own slice of the PostgreSQL port range
    local lo=${AWSSIM_PG_PORT_MIN:-25432} hi=${AWSSIM_PG_PORT_MAX:-25999} w
    w=$(((hi - lo + 1) / lanes))
    echo "AWSSIM_PG_PORT_MIN=$((lo + n * w))"
    echo "AWSSIM_PG_PORT_MAX=$((lo + (n + 1) * w - 1))"
    for v in APISERVER:6443 ETCD:2379 ETCD_PEER:2380 KUBELET:10250 CONTROLLER_MANAGER:10257 \
        SCHEDULER:10259; do
        local name=LIFEBOAT_CP_${v%%:*}_PORT
        echo "$name=$((${!name:-${v#*:}} + off))"
    done
}

# CPU seconds, printed beside each suite's wall time: make test is bound by the cores, so
# what a suite costs is its CPU. The environment's (control plane, awssim, the pods, the
# aws CLI's forks) comes from e2e/controlplane/envcpu.py; the tests' own (the test
# process, kubectl, the operators it starts) from this lane shell's reaped children.
env_cpu() { python3 "$here/controlplane/envcpu.py" "$LIFEBOAT_RUN_DIR" --total 2>/dev/null || echo 0; }
reaped_cpu() { # PID: the CPU seconds of the children PID has reaped (cutime + cstime)
    sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }'
}
cpu_delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

claims=$base/claims
rm -rf "$claims" && mkdir -p "$claims"

# lane N: bring an environment up, run suites until the list is empty, bring it down.
run_lane() {
    local n=$1 s rc=0 log
    # shellcheck disable=SC2046
    export $(lane_env "$n")
    "$here/env.sh" down >/dev/null 2>&1 || true
    if ! "$here/env.sh" up 2>"$LIFEBOAT_RUN_DIR.up.log"; then
        cat "$LIFEBOAT_RUN_DIR.up.log" >&2
        echo "run-suites: lane $n: the environment did not come up; its suites go to the other lanes" >&2
        "$here/env.sh" down >/dev/null 2>&1 || true
        return 1
    fi
    (
        # shellcheck disable=SC1091
        . "$LIFEBOAT_RUN_DIR/env.sh"
        lane_shell=$BASHPID
        for s in $(ordered); do
            mkdir "$claims/$s" 2>/dev/null || continue # another lane has it
            log=$claims/$s/output
            start=$SECONDS
            env0=$(env_cpu)
            own0=$(reaped_cpu "$lane_shell")
            "$repo/tests/tap-run" "$results" "e2e:$s" python3 "$here/lib/tap.py" \
                "$here/$s/tests" >"$log" 2>&1 || rc=1
            echo "=== e2e:$s: $((SECONDS - start)) s in lane $n;" \
                "CPU s: the tests $(cpu_delta "$own0" "$(reaped_cpu "$lane_shell")")," \
                "the environment $(cpu_delta "$env0" "$(env_cpu)")" >>"$log"
            touch "$claims/$s/done"
            flock "$claims/.print" cat "$log"
        done
        exit $rc
    )
    rc=$?
    "$here/env.sh" down >&2 || true
    return $rc
}

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait; exit 130' INT TERM
for n in $(seq 0 $((lanes - 1))); do
    run_lane "$n" &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
    wait "$p" || rc=1
done
# a suite no lane could run (every environment failed) is missing from RESULTS, and
# tests/tap-total counts it as failed
for s in $(suites); do
    [ -e "$claims/$s/done" ] || { echo "run-suites: e2e:$s did not run" >&2; rc=1; }
done
exit $rc
