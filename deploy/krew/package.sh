#!/usr/bin/env bash
# deploy/krew/package.sh VERSION OUTDIR [BASE_URI]
# Builds OUTDIR/kubectl-lifeboat_linux_amd64.tar.gz from bin/kubectl-lifeboat and writes
# OUTDIR/lifeboat.yaml, the krew manifest, with the archive's URI (BASE_URI/<archive>,
# default the GitHub release of VERSION) and sha256. VERSION is a semantic version with a
# leading v (krew's rule), e.g. v0.1.0.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
version=${1:?usage: package.sh VERSION OUTDIR [BASE_URI]}
out=${2:?usage: package.sh VERSION OUTDIR [BASE_URI]}
base=${3:-https://github.com/lifeboat-dev/lifeboat/releases/download/$version}
if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "package.sh: VERSION '$version' must be a semantic version with a leading v (v0.1.0)" >&2
    exit 2
fi
bin=${LIFEBOAT_BIN_DIR:-$repo/bin}/kubectl-lifeboat
[ -x "$bin" ] || { echo "package.sh: $bin is missing: run make first" >&2; exit 1; }
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/kubectl-lifeboat"
files=(kubectl-lifeboat)
# krew requires a licence file in the archive; the repository has none yet
if [ -f "$repo/LICENSE" ]; then cp "$repo/LICENSE" "$stage/LICENSE"; files+=(LICENSE); fi
archive=kubectl-lifeboat_linux_amd64.tar.gz
# reproducible: fixed owner, mode and time
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -czf "$out/$archive" "${files[@]}"
sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
sed -e "s|@VERSION@|$version|" -e "s|@URI@|$base/$archive|" -e "s|@SHA256@|$sha|" \
    "$here/lifeboat.yaml.in" | grep -v '^#' >"$out/lifeboat.yaml"
echo "$out/lifeboat.yaml"
