#!/usr/bin/env bash
# e2e/bench.sh - what `make bench` runs (make builds everything it uses first). Every figure is measured here, in one run, with
# the comparisons side by side; nothing passes or fails on time. It brings up its own
# environment (run folder build/bench-run, ports 16900/4966) and takes it down again.
# Results go to stdout and build/bench.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$repo/build/bench.txt
mkdir -p "$repo/build"

# LIFEBOAT_BENCH_RUN_DIR / _KUBE_PORT / _AWS_PORT move it when those ports are taken.
export LIFEBOAT_RUN_DIR=${LIFEBOAT_BENCH_RUN_DIR:-$repo/build/bench-run}
export KUBESIM_PORT=${LIFEBOAT_BENCH_KUBE_PORT:-16900} AWSSIM_PORT=${LIFEBOAT_BENCH_AWS_PORT:-4966}
cleanup() { "$here/env.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

section() { printf '\n## %s\n\n' "$*"; }

{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git -C "$repo" describe --always --dirty 2>/dev/null)"

    section "operator CPU in process, no server (tests/integration/footprint_bench)"
    "$repo/build/tests/integration/footprint_bench" 20000

    section "kubesim at scale (e2e/kubesim/scale.py, its own server)"
    python3 "$here/kubesim/scale.py"

    "$here/env.sh" up >/dev/null
    # shellcheck disable=SC1091
    . "$LIFEBOAT_RUN_DIR/env.sh"

    section "operator memory, latency and no-op reconcile CPU (e2e/operator/bench.py)"
    python3 "$here/operator/bench.py"

    for extra in "$here/bench_s3.sh" "$here/bench_s3sync.sh" "$here/restore/bench.sh" "$here/agent/bench.sh"; do
        if [ -x "$extra" ]; then
            section "${extra#"$repo"/}"
            "$extra"
        fi
    done
} 2>&1 | tee "$out"
