#!/usr/bin/env bash
# e2e/restore/bench.sh - wall time of the full runbook 000 Restore 1A (apply -> Succeeded,
# approval given at once) and the operator's CPU time during it, printed; no pass/fail.
# Uses the running environment (RUN_DIR/env.sh, its ports) or brings one up and, then,
# down again. The work is in bench.py (it reuses the scenario harness of e2e/restore/tests).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e=$(cd "$here/.." && pwd)
run_dir=${LIFEBOAT_RUN_DIR:-$e2e/.run}
started=no

if [ -f "$run_dir/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$run_dir/env.sh"
    # env.sh status checks the ports in KUBESIM_PORT/AWSSIM_PORT: take them from the
    # running environment's exports, never the defaults
    [ -z "${KUBESIM_URL:-}" ] || export KUBESIM_PORT=${KUBESIM_URL##*:}
fi
if ! "$e2e/env.sh" status >/dev/null 2>&1; then
    "$e2e/env.sh" up >&2
    started=yes
fi
cleanup() { if [ "$started" = yes ]; then "$e2e/env.sh" down >&2 || true; fi; }
trap cleanup EXIT
# shellcheck disable=SC1091
. "$run_dir/env.sh"
python3 "$here/bench.py"
