#!/usr/bin/env bash
# e2e/run-suites.sh RESULTS | --list
#
# Brings the local environment up (e2e/env.sh up), runs every end-to-end suite - each
# folder e2e/*/tests holding test_*.py - with e2e/lib/tap.py, records the counts in
# RESULTS through tests/tap-run, and always brings the environment down again.
# --list prints the suite names, so that a suite that never ran counts as failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

suites() {
    local d
    for d in "$here"/*/tests; do
        compgen -G "$d/test_*.py" >/dev/null && basename "$(dirname "$d")"
    done
}

if [ "${1:-}" = "--list" ]; then
    suites | sed 's/^/e2e:/'
    exit 0
fi
results=${1:?usage: e2e/run-suites.sh RESULTS | --list}

cleanup() { "$here/env.sh" down >&2 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/env.sh" down >/dev/null 2>&1 || true
if ! "$here/env.sh" up; then
    echo "run-suites: the environment did not come up; no e2e suite ran" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "${LIFEBOAT_RUN_DIR:-$here/.run}/env.sh"

rc=0
for s in $(suites); do
    "$repo/tests/tap-run" "$results" "e2e:$s" python3 "$here/lib/tap.py" "$here/$s/tests" || rc=1
done
exit $rc
