#!/usr/bin/env bash
# bench_s3sync.sh - s3Sync's engine (`lifeboat-agent s3-sync`: listings, then
# server-side CopyObject with N in flight, then a verifying listing) beside
# `aws s3 sync` for the same 2,000 objects, same awssim, one run each, side by
# side: wall, client CPU, peak RSS, and the requests each sent (awssim's log).
#
#   . e2e/.run/env.sh && e2e/bench_s3sync.sh
#   BENCH_S3SYNC_OBJECTS=500 BENCH_S3SYNC_ROUNDS=3 e2e/bench_s3sync.sh
#
# BENCH_S3SYNC_ROUNDS rounds (default 2), each running both sides one after the
# other (interleaved: other load on a shared machine hits both alike), one row
# per run and the load average at its start. Each run copies into an empty
# bucket of its own; afterwards every target is checked key by key (size and
# ETag) against the source: a mismatch exits 1.
# Both run with 10 requests in flight (the aws CLI's default
# max_concurrent_requests). Times are reported, never judged.
set -euo pipefail
export AWSCLI_FORK=off # measure the aws CLI as its own process (e2e/awscli/README.md)

N=${BENCH_S3SYNC_OBJECTS:-2000}
ROUNDS=${BENCH_S3SYNC_ROUNDS:-2}
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
case "$ROUNDS" in '' | *[!0-9]* | 0) die "BENCH_S3SYNC_ROUNDS must be a whole number above 0" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench-s3sync.XXXXXX")
TAG="$(date +%s)-$$"
SRC="lb-bench-sync-src-$TAG"
TARGETS=()
for r in $(seq "$ROUNDS"); do TARGETS+=("lb-bench-sync-lb$r-$TAG" "lb-bench-sync-cli$r-$TAG"); done
cleanup() {
    for b in "$SRC" "${TARGETS[@]}"; do
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
for b in "$SRC" "${TARGETS[@]}"; do aws s3api create-bucket --bucket "$b" >/dev/null; done
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

# measure NAME CMD...: one run; appends "name load wall cpu rss server_cpu|requests" to $WORK/rows
measure() {
    local name=$1 load l0 l1 c0 c1
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    l0=$(log_lines)
    c0=$(server_cpu)
    run "$name" "$@"
    c1=$(server_cpu)
    l1=$(log_lines)
    read -r wall user sys rss <"$WORK/$name.time"
    echo "$name $load $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $rss" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')|$(requests "$l0" "$l1")" >>"$WORK/rows"
}

: >"$WORK/rows"
for r in $(seq "$ROUNDS"); do
    measure "lifeboat-$r" "$AGENT" s3-sync --source-bucket "$SRC" --target-bucket "lb-bench-sync-lb$r-$TAG" \
        --concurrency "$CONC"
    measure "awscli-$r" aws s3 sync --only-show-errors "s3://$SRC" "s3://lb-bench-sync-cli$r-$TAG"
done

python3 - "$SRC" "$N" "${TARGETS[@]}" <<'PY'
import json, subprocess, sys
def keys(b):
    out = subprocess.run(["aws", "s3api", "list-objects-v2", "--bucket", b], check=True,
                         capture_output=True, text=True).stdout
    return {o["Key"]: (o["Size"], o["ETag"]) for o in json.loads(out or "{}").get("Contents", [])}
src = keys(sys.argv[1])
if len(src) != int(sys.argv[2]):
    sys.exit("bench_s3sync: the source holds %d objects, wanted %s" % (len(src), sys.argv[2]))
for b in sys.argv[3:]:
    got = keys(b)
    if got != src:
        bad = sorted(set(src) ^ set(got)) or [k for k in src if got.get(k) != src[k]]
        sys.exit("bench_s3sync: s3://%s differs from the source (first: %s)" % (b, bad[:3]))
PY

python3 - "$N" "$WORK/rows" <<'PY'
import statistics, sys
n, rows = int(sys.argv[1]), []
for line in open(sys.argv[2]):
    head, req = line.rstrip("\n").split("|", 1)
    name, load, wall, cpu, rss, srv = head.split()
    rows.append(dict(side=name.rsplit("-", 1)[0], run=name, load=float(load), wall=float(wall),
                     cpu=float(cpu), rss=int(rss) / 1024, srv=float(srv), req=req))
label = {"lifeboat": "lifeboat-agent s3-sync", "awscli": "aws s3 sync"}
print("s3Sync of %d objects into an empty bucket, %d run(s) a side, interleaved (every target "
      "verified key by key)" % (n, len(rows) // 2))
print("%-26s %5s %8s %8s %9s %9s %13s %12s  %s" % ("client (run)", "load", "wall_s", "cpu_s",
      "rss_MiB", "objects/s", "server_cpu_s", "wall/server", "requests"))
for r in rows:
    print("%-26s %5.2f %8.2f %8.2f %9.1f %9.0f %13.2f %12s  %s" % (
        label[r["side"]] + " #" + r["run"].rsplit("-", 1)[1], r["load"], r["wall"], r["cpu"],
        r["rss"], n / r["wall"] if r["wall"] else 0, r["srv"],
        "%.2f" % (r["wall"] / r["srv"]) if r["srv"] > 0 else "n/a", r["req"]))
med = {s: {k: statistics.median(r[k] for r in rows if r["side"] == s)
           for k in ("wall", "cpu", "rss", "srv")} for s in ("lifeboat", "awscli")}
lb, cli = med["lifeboat"], med["awscli"]
ratio = lambda a, b: "%.2f" % (a / b) if b > 0 else "n/a"
print("medians lifeboat/aws-cli: wall %.2f/%.2f s (%s), cpu %.2f/%.2f s (%s, %sx less), rss %.1f/%.1f MiB (%s)" % (
    lb["wall"], cli["wall"], ratio(lb["wall"], cli["wall"]), lb["cpu"], cli["cpu"],
    ratio(lb["cpu"], cli["cpu"]), ratio(cli["cpu"], lb["cpu"]), lb["rss"], cli["rss"],
    ratio(lb["rss"], cli["rss"])))
print("median wall / the server CPU for the same work (1.00 = the server is the only limit): "
      "lifeboat %s, aws-cli %s" % (ratio(lb["wall"], lb["srv"]), ratio(cli["wall"], cli["srv"])))
PY
