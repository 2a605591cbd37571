#!/usr/bin/env bash
# e2e/bench.sh - what `make bench` runs. Every figure is measured here, in one run;
# nothing passes or fails on time. Results go to stdout and build/bench.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$repo/build/bench.txt
mkdir -p "$repo/build"

{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
    echo
    echo "## kubesim at scale (e2e/kubesim/scale.py)"
    python3 "$here/kubesim/scale.py"
} 2>&1 | tee "$out"
