#!/usr/bin/env bash
# bench_s3.sh - S3 GET and PUT of one object through pkg/aws (the aws_cli
# integration driver, streamed: PutObject from a read callback, GetObject
# into a write callback) beside `aws s3 cp` for the same object and bucket,
# measured in one run against a running awssim.
#
#   . e2e/.run/env.sh && e2e/bench_s3.sh          # 256 MiB
#   BENCH_S3_MIB=64 e2e/bench_s3.sh               # a smaller object
#
# Needs AWS_ENDPOINT_URL etc. in the environment (e2e/.run/env.sh sets them),
# the driver built (make build/tests/integration/aws_cli), and GNU time at
# /usr/bin/time (Debian package `time`). Every read-back is checked against
# the source's sha256; a mismatch exits 1. Times are reported, never judged.
set -euo pipefail
export AWSCLI_FORK=off # measure the aws CLI as its own process (e2e/awscli/README.md)

MIB=${BENCH_S3_MIB:-256}
REPO=${LIFEBOAT_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${LIFEBOAT_BUILD_DIR:-$REPO/build}
DRIVER=$BUILD/tests/integration/aws_cli
TIME=/usr/bin/time

die() {
    echo "bench_s3: $*" >&2
    exit 2
}

[ -n "${AWS_ENDPOINT_URL:-}" ] || die "AWS_ENDPOINT_URL is not set (source e2e/.run/env.sh)"
[ -x "$DRIVER" ] || die "$DRIVER is not built (make build/tests/integration/aws_cli)"
[ -x "$TIME" ] || die "$TIME is missing: install the Debian package 'time'"
command -v aws >/dev/null || die "the aws CLI is not on PATH"
case "$MIB" in '' | *[!0-9]*) die "BENCH_S3_MIB must be a whole number of MiB" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench-s3.XXXXXX")
BUCKET="lb-bench-$(date +%s)-$$"
KEY="bench/object-${MIB}mib.bin"
cleanup() {
    aws s3 rm "s3://$BUCKET/$KEY" >/dev/null 2>&1 || true
    aws s3api delete-bucket --bucket "$BUCKET" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench_s3: ${MIB} MiB from /dev/urandom, bucket $BUCKET at $AWS_ENDPOINT_URL" >&2
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$WORK/src.bin"
WANT=$(sha256sum "$WORK/src.bin" | cut -d' ' -f1)
aws s3api create-bucket --bucket "$BUCKET" >/dev/null

# run NAME CMD...: runs CMD under GNU time; leaves "wall user sys maxrss_kib"
# in $WORK/NAME.time and the command's output in $WORK/NAME.out.
run() {
    local name=$1
    shift
    if ! "$TIME" -f "%e %U %S %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        cat "$WORK/$name.err" >&2
        die "$name failed"
    fi
}

check_sha() {
    local name=$1 file=$2 got
    got=$(sha256sum "$file" | cut -d' ' -f1)
    if [ "$got" != "$WANT" ]; then
        echo "bench_s3: $name read back sha256 $got, wanted $WANT" >&2
        exit 1
    fi
    rm -f "$file"
}

# Ours: PUT streamed from the file, then GET streamed into a file (the driver
# also hashes what it streams).
run lifeboat-put "$DRIVER" put "$BUCKET" "$KEY" "$WORK/src.bin"
run lifeboat-get "$DRIVER" get "$BUCKET" "$KEY" --out "$WORK/lifeboat.back"
check_sha lifeboat-get "$WORK/lifeboat.back"
DRIVER_SHA=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$WORK/lifeboat-get.out")
[ "$DRIVER_SHA" = "$WANT" ] || { echo "bench_s3: driver hashed $DRIVER_SHA" >&2; exit 1; }

# The aws CLI on the same object key and bucket.
run awscli-put aws s3 cp --only-show-errors "$WORK/src.bin" "s3://$BUCKET/$KEY"
run awscli-get aws s3 cp --only-show-errors "s3://$BUCKET/$KEY" "$WORK/awscli.back"
check_sha awscli-get "$WORK/awscli.back"

awk -v mib="$MIB" -v dir="$WORK" '
function load(name,   line, f) {
    f = dir "/" name ".time"
    getline line < f
    close(f)
    split(line, v, " ")
    wall[name] = v[1]; cpu[name] = v[2] + v[3]; rss[name] = v[4] / 1024
}
function row(op, tool, name) {
    printf "%-4s %-9s %8.2f %8.2f %9.1f %8.1f\n", op, tool, wall[name], cpu[name], rss[name],
           (wall[name] > 0 ? mib / wall[name] : 0)
}
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
BEGIN {
    load("lifeboat-put"); load("lifeboat-get"); load("awscli-put"); load("awscli-get")
    printf "S3 %d MiB object, one run (sha256 of both read-backs verified)\n", mib
    printf "%-4s %-9s %8s %8s %9s %8s\n", "op", "client", "wall_s", "cpu_s", "rss_MiB", "MiB/s"
    row("PUT", "lifeboat", "lifeboat-put"); row("PUT", "aws-cli", "awscli-put")
    row("GET", "lifeboat", "lifeboat-get"); row("GET", "aws-cli", "awscli-get")
    printf "ratios lifeboat/aws-cli: PUT wall %s cpu %s rss %s | GET wall %s cpu %s rss %s\n",
        ratio(wall["lifeboat-put"], wall["awscli-put"]), ratio(cpu["lifeboat-put"], cpu["awscli-put"]),
        ratio(rss["lifeboat-put"], rss["awscli-put"]),
        ratio(wall["lifeboat-get"], wall["awscli-get"]), ratio(cpu["lifeboat-get"], cpu["awscli-get"]),
        ratio(rss["lifeboat-get"], rss["awscli-get"])
}'
