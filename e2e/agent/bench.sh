#!/usr/bin/env bash
# e2e/agent/bench.sh - lifeboat-agent pg-backup / pg-restore beside the runbooks' shell
# pipelines, on the same database, in one run, against a running awssim:
#   backup:  lifeboat-agent pg-backup (pg_dump -Fc -Z0 -> gzip on 2 threads -> AES-256-GCM
#            -> multipart upload)
#            vs  pg_dump -Fc | gzip | openssl enc -aes-256-cbc -pbkdf2 | aws s3 cp -
#   restore: lifeboat-agent pg-restore (download + sha256 check against the manifest,
#            decrypt, pg_restore)  vs  the runbook's aws s3 cp to a file, openssl enc -d,
#            gunzip, pg_restore
# wall, CPU (user+sys, children included) and peak RSS (the largest single process of
# the tree, GNU time's %M) of each. Row counts of both restores are checked against the
# source; a mismatch exits 1. Times are reported, never judged.
#
#   . e2e/.run/env.sh && e2e/agent/bench.sh            # about 1 GiB of rows
#   BENCH_AGENT_MB=100 e2e/agent/bench.sh              # a smaller database
set -euo pipefail
export AWSCLI_FORK=off # measure the aws CLI as its own process (e2e/awscli/README.md)

MB=${BENCH_AGENT_MB:-1024}
REPO=${LIFEBOAT_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${LIFEBOAT_BIN_DIR:-$REPO/bin}
PGBIN=/usr/lib/postgresql/15/bin
TIME=/usr/bin/time
KEY=bench-encryption-key-0123456789

die() { echo "agent bench: $*" >&2; exit 2; }
[ -n "${AWS_ENDPOINT_URL:-}" ] || die "AWS_ENDPOINT_URL is not set (source e2e/.run/env.sh)"
[ -x "$BIN/lifeboat-agent" ] || die "$BIN/lifeboat-agent is not built (make)"
[ -x "$TIME" ] || die "$TIME is missing: install the Debian package 'time'"
case "$MB" in '' | *[!0-9]*) die "BENCH_AGENT_MB must be a whole number" ;; esac

WORK=$(mktemp -d /tmp/lbagbench.XXXXXX)
chmod 755 "$WORK"
chown postgres:postgres "$WORK"
BUCKET="lb-agent-bench-$(date +%s)-$$"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    aws s3 rm --recursive "s3://$BUCKET" >/dev/null 2>&1 || true
    aws s3api delete-bucket --bucket "$BUCKET" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync \
    -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -o \
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$WORK -c max_wal_size=4GB" \
    start >/dev/null
q() { psql -X -q -A -t -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
q -d postgres -c "CREATE DATABASE src" -c "CREATE DATABASE dst_agent" -c "CREATE DATABASE dst_shell"
# Rows of ~1 KB: an id, a timestamp, a number and 960 characters of hex from 30 different
# md5s (compressible about 2:1, like most row data; repeating one md5 30 times, as this
# bench did before 2026-12-04, compressed 30:1 and hid the cost of compression).
ROWS=$((MB * 1024))
echo "agent bench: filling $MB MB ($ROWS rows) on port $PORT" >&2
q -d src -c "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(12,2), payload text)" \
    -c "INSERT INTO events SELECT g, now() - g * interval '1 second', g % 1000, (SELECT string_agg(md5((g * 31 + k)::text), '') FROM generate_series(1, 30) k) FROM generate_series(1, $ROWS) g" \
    -c "CREATE TABLE small (id int PRIMARY KEY, name text)" \
    -c "INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 1000) g" -c "VACUUM ANALYZE"
SIZE=$(q -d src -c "SELECT pg_size_pretty(pg_database_size('src'))")
aws s3api create-bucket --bucket "$BUCKET" >/dev/null
URL="postgresql://postgres@127.0.0.1:$PORT"

run() {
    local name=$1
    shift
    if ! "$TIME" -f "%e %U %S %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        tail -5 "$WORK/$name.err" >&2
        die "$name failed"
    fi
}

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
run agent-backup env LIFEBOAT_DB_URL="$URL/src" LIFEBOAT_ENCRYPTION_KEY="$KEY" \
    "$BIN/lifeboat-agent" pg-backup --bucket "$BUCKET" --key agent/src.dump
run shell-backup bash -o pipefail -c "pg_dump -Fc -d src | gzip | openssl enc -aes-256-cbc -pbkdf2 -pass pass:$KEY | aws s3 cp - s3://$BUCKET/shell/src.dump.gz.enc"
run agent-restore env LIFEBOAT_DB_URL="$URL/dst_agent" LIFEBOAT_DECRYPTION_KEY="$KEY" \
    LIFEBOAT_WORK_DIR="$WORK" "$BIN/lifeboat-agent" pg-restore --bucket "$BUCKET" \
    --key agent/src.dump --manifest required
run shell-restore bash -o pipefail -c "aws s3 cp --only-show-errors s3://$BUCKET/shell/src.dump.gz.enc $WORK/r.enc && openssl enc -aes-256-cbc -d -pbkdf2 -in $WORK/r.enc -out $WORK/r.gz -pass pass:$KEY && gunzip -f $WORK/r.gz && pg_restore --no-owner --no-acl -d dst_shell $WORK/r && rm -f $WORK/r.enc $WORK/r"

want=$(q -d src -c "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM small)")
for db in dst_agent dst_shell; do
    got=$(q -d "$db" -c "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM small)")
    [ "$got" = "$want" ] || { echo "agent bench: $db has $got rows, the source $want" >&2; exit 1; }
done
OBJ=$(aws s3api head-object --bucket "$BUCKET" --key agent/src.dump --query ContentLength --output text)
OBJ2=$(aws s3api head-object --bucket "$BUCKET" --key shell/src.dump.gz.enc --query ContentLength --output text)

awk -v dir="$WORK" -v size="$SIZE" -v rows="$want" -v o1="$OBJ" -v o2="$OBJ2" '
function load(name,   line, f) {
    f = dir "/" name ".time"; getline line < f; close(f); split(line, v, " ")
    wall[name] = v[1]; cpu[name] = v[2] + v[3]; rss[name] = v[4] / 1024
}
function row(op, tool, name) { printf "%-8s %-22s %8.2f %8.2f %9.1f\n", op, tool, wall[name], cpu[name], rss[name] }
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
BEGIN {
    load("agent-backup"); load("shell-backup"); load("agent-restore"); load("shell-restore")
    printf "database %s (rows events/small %s); objects: agent %d bytes, shell %d bytes\n", size, rows, o1, o2
    printf "%-8s %-22s %8s %8s %9s\n", "op", "how", "wall_s", "cpu_s", "rss_MiB"
    row("backup", "lifeboat-agent", "agent-backup"); row("backup", "pg_dump|gzip|openssl|aws", "shell-backup")
    row("restore", "lifeboat-agent", "agent-restore"); row("restore", "aws cp;openssl;gunzip;pg_restore", "shell-restore")
    printf "ratios agent/shell: backup wall %s cpu %s rss %s | restore wall %s cpu %s rss %s\n",
        ratio(wall["agent-backup"], wall["shell-backup"]), ratio(cpu["agent-backup"], cpu["shell-backup"]),
        ratio(rss["agent-backup"], rss["shell-backup"]), ratio(wall["agent-restore"], wall["shell-restore"]),
        ratio(cpu["agent-restore"], cpu["shell-restore"]), ratio(rss["agent-restore"], rss["shell-restore"])
}'
