#!/usr/bin/env bash
# bench_s3sync.sh - s3Sync's engine (`lifeboat-agent s3-sync`: listings, then
# server-side CopyObject with N in flight, then a verifying listing) beside
# `aws s3 sync` for the same 2,000 objects, same awssim, one run each, side by
# side: wall, client CPU, peak RSS, and the requests each sent (awssim's log).
#
#   . e2e/.run/env.sh && e2e/bench_s3sync.sh
#   BENCH_S3SYNC_OBJECTS=500 e2e/bench_s3sync.sh
#
# Both copy into an empty bucket of their own; afterwards both targets are
# checked key by key (size and ETag) against the source: a mismatch exits 1.
# Both run with 10 requests in flight (the aws CLI's default
# max_concurrent_requests). Times are reported, never judged.
set -euo pipefail
export AWSCLI_FORK=off # measure the aws CLI as its own process (e2e/awscli/README.md)

N=${BENCH_S3SYNC_OBJECTS:-2000}
REPO=${LIFEBOAT_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
AGENT=${LIFEBOAT_BIN_DIR:-$REPO/bin}/lifeboat-agent
TIME=/usr/bin/time
CONC=10

die() {
    echo "bench_s3sync: $*" >&2
    exit 2
}

[ -n "${AWS_ENDPOINT_URL:-}" ] || die "AWS_ENDPOINT_URL is not set (source e2e/.run/env.sh)"
[ -x "$AGENT" ] || die "$AGENT is not built (make all)"
[ -x "$TIME" ] || die "$TIME is missing: install the Debian package 'time'"
command -v aws >/dev/null || die "the aws CLI is not on PATH"
case "$N" in '' | *[!0-9]*) die "BENCH_S3SYNC_OBJECTS must be a whole number" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench-s3sync.XXXXXX")
TAG="$(date +%s)-$$"
SRC="lb-bench-sync-src-$TAG"
DST_LB="lb-bench-sync-lb-$TAG"
DST_CLI="lb-bench-sync-cli-$TAG"
cleanup() {
    for b in "$SRC" "$DST_LB" "$DST_CLI"; do
        aws s3 rm --only-show-errors --recursive "s3://$b" >/dev/null 2>&1 || true
        aws s3api delete-bucket --bucket "$b" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench_s3sync: $N objects (1-64 KiB each) in s3://$SRC at $AWS_ENDPOINT_URL" >&2
mkdir -p "$WORK/src"
python3 - "$WORK/src" "$N" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(14)
for i in range(n):
    sub = os.path.join(d, "media", "p%03d" % (i // 100))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "img-%05d.jpg" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 64 * 1024)))
PY
for b in "$SRC" "$DST_LB" "$DST_CLI"; do aws s3api create-bucket --bucket "$b" >/dev/null; done
aws s3 cp --only-show-errors --recursive "$WORK/src" "s3://$SRC/"

# run NAME CMD...: CMD under GNU time; "wall user sys maxrss_kib" in $WORK/NAME.time
run() {
    local name=$1
    shift
    if ! "$TIME" -f "%e %U %S %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        cat "$WORK/$name.err" >&2
        die "$name failed"
    fi
}

# awssim's own CPU (utime + stime, seconds) - "the server's own limit" of DESIGN.md
# section 7: moto serves one request at a time in Python, so the server's CPU for the
# copies is the least wall time any client can take against it.
AWSSIM_PIDFILE=${LIFEBOAT_RUN_DIR:+$LIFEBOAT_RUN_DIR/awssim.pid}
server_cpu() {
    local pid
    pid=$(cat "$AWSSIM_PIDFILE" 2>/dev/null) || { echo 0; return; }
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
        "/proc/$pid/stat" 2>/dev/null || echo 0
}

log_lines() { if [ -n "${AWSSIM_REQUEST_LOG:-}" ]; then wc -l <"$AWSSIM_REQUEST_LOG"; else echo 0; fi; }

L0=$(log_lines)
C0=$(server_cpu)
run lifeboat "$AGENT" s3-sync --source-bucket "$SRC" --target-bucket "$DST_LB" --concurrency "$CONC"
C1=$(server_cpu)
L1=$(log_lines)
run awscli aws s3 sync --only-show-errors "s3://$SRC" "s3://$DST_CLI"
C2=$(server_cpu)
L2=$(log_lines)
SRV_LB=$(awk -v a="$C0" -v b="$C1" 'BEGIN { printf "%.2f", b - a }')
SRV_CLI=$(awk -v a="$C1" -v b="$C2" 'BEGIN { printf "%.2f", b - a }')

python3 - "$SRC" "$DST_LB" "$DST_CLI" "$N" <<'PY'
import json, subprocess, sys
def keys(b):
    out = subprocess.run(["aws", "s3api", "list-objects-v2", "--bucket", b], check=True,
                         capture_output=True, text=True).stdout
    return {o["Key"]: (o["Size"], o["ETag"]) for o in json.loads(out or "{}").get("Contents", [])}
src = keys(sys.argv[1])
if len(src) != int(sys.argv[4]):
    sys.exit("bench_s3sync: the source holds %d objects, wanted %s" % (len(src), sys.argv[4]))
for b in sys.argv[2:4]:
    got = keys(b)
    if got != src:
        bad = sorted(set(src) ^ set(got)) or [k for k in src if got.get(k) != src[k]]
        sys.exit("bench_s3sync: s3://%s differs from the source (first: %s)" % (b, bad[:3]))
PY

requests() { # requests in the awssim log between two line counts
    if [ -n "${AWSSIM_REQUEST_LOG:-}" ]; then
        sed -n "$(($1 + 1)),$2p" "$AWSSIM_REQUEST_LOG" | python3 -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["action"] for l in sys.stdin if l.strip())
print(sum(c.values()), " ".join("%s=%d" % kv for kv in sorted(c.items())))'
    else
        echo "n/a"
    fi
}
RQ_LB=$(requests "$L0" "$L1")
RQ_CLI=$(requests "$L1" "$L2")

awk -v n="$N" -v dir="$WORK" -v rl="$RQ_LB" -v rc="$RQ_CLI" -v sl="$SRV_LB" -v sc="$SRV_CLI" '
function load(name,   line, f) {
    f = dir "/" name ".time"
    getline line < f
    close(f)
    split(line, v, " ")
    wall[name] = v[1]; cpu[name] = v[2] + v[3]; rss[name] = v[4] / 1024
}
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
BEGIN {
    load("lifeboat"); load("awscli")
    printf "s3Sync of %d objects into an empty bucket, one run each (both targets verified key by key)\n", n
    printf "%-22s %8s %8s %9s %9s %13s  %s\n", "client", "wall_s", "cpu_s", "rss_MiB", "objects/s", "server_cpu_s", "requests"
    printf "%-22s %8.2f %8.2f %9.1f %9.0f %13.2f  %s\n", "lifeboat-agent s3-sync", wall["lifeboat"], cpu["lifeboat"], rss["lifeboat"], n / wall["lifeboat"], sl, rl
    printf "%-22s %8.2f %8.2f %9.1f %9.0f %13.2f  %s\n", "aws s3 sync", wall["awscli"], cpu["awscli"], rss["awscli"], n / wall["awscli"], sc, rc
    printf "ratios lifeboat/aws-cli: wall %s cpu %s rss %s\n", ratio(wall["lifeboat"], wall["awscli"]),
        ratio(cpu["lifeboat"], cpu["awscli"]), ratio(rss["lifeboat"], rss["awscli"])
    printf "wall / the server CPU for the same work (1.00 = the server is the only limit): lifeboat %s, aws-cli %s\n",
        ratio(wall["lifeboat"], sl), ratio(wall["awscli"], sc)
}'
