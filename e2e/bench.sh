#!/usr/bin/env bash
# e2e/bench.sh - what `make bench` runs. Every figure is measured here, in one run, with
# the comparisons side by side; nothing passes or fails on time. It brings up its own
# environment (run folder build/bench-run, ports 16900/4966) and takes it down again.
# Results go to stdout and build/bench.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$repo/build/bench.txt
mkdir -p "$repo/build"

export LIFEBOAT_RUN_DIR=$repo/build/bench-run KUBESIM_PORT=16900 AWSSIM_PORT=4966
cleanup() { "$here/env.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

section() { printf '\n## %s\n\n' "$*"; }

{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git -C "$repo" describe --always --dirty 2>/dev/null)"

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
