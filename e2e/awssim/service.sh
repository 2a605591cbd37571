#!/usr/bin/env bash
# awssim service control for e2e/env.sh: up | down | status RUN_DIR
#   up      start the launcher detached (log RUN_DIR/awssim.log, pid RUN_DIR/awssim.pid),
#           wait until it answers, print the export lines for RUN_DIR/env.sh on stdout
#   down    stop it by PID (TERM, then KILL), stop any PostgreSQL it left, remove its files
#   status  one line; exit 0 when up, 3 when down
# Environment: AWSSIM_PORT (default 4566), AWSSIM_DELAY_SCALE, AWSSIM_PG_PORT_MIN/MAX,
# AWSSIM_RENAME_LAG_S.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CMD=${1:-}
RUN_DIR=${2:-${LIFEBOAT_RUN_DIR:-$HERE/../.run}}
PORT=${AWSSIM_PORT:-4566}
PYTHON=${AWSSIM_PYTHON:-python3}
UP_TIMEOUT_S=30
DOWN_GRACE_S=10

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
PIDFILE=$RUN_DIR/awssim.pid
LOGFILE=$RUN_DIR/awssim.log
AWSDIR=$RUN_DIR/awssim

say() { echo "awssim: $*" >&2; }

exports() {
    cat <<EOF
export AWS_ENDPOINT_URL='http://127.0.0.1:$PORT'
export AWS_REGION='us-east-1'
export AWS_DEFAULT_REGION='us-east-1'
export AWS_ACCESS_KEY_ID='awssim-test-key'
export AWS_SECRET_ACCESS_KEY='awssim-test-secret'
export AWS_PAGER=''
export AWS_CONFIG_FILE='$AWSDIR/aws-config'
export AWS_SHARED_CREDENTIALS_FILE='$AWSDIR/aws-credentials'
export AWSSIM_PORT='$PORT'
export AWSSIM_REQUEST_LOG='$AWSDIR/requests.jsonl'
export AWSSIM_CONTROL_URL='http://127.0.0.1:$PORT/awssim/faults'
EOF
}

running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    grep -q awssim.py "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

# The launcher started by `up` is alive (by PID only: right after the fork its cmdline is
# still this script's until setsid and python have exec'd, which running_pid would take
# for a dead launcher on a loaded machine).
launcher_alive() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

answers() {
    curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null
}

write_aws_files() {
    mkdir -p "$AWSDIR"
    printf '[default]\nregion = us-east-1\noutput = json\n' >"$AWSDIR/aws-config"
    printf '[default]\naws_access_key_id = awssim-test-key\naws_secret_access_key = awssim-test-secret\n' \
        >"$AWSDIR/aws-credentials"
}

# Stop postmasters whose data directories live under this RUN_DIR (after a crash).
sweep_postgres() {
    local pidf pid data
    for pidf in "$AWSDIR"/pg/*/data/postmaster.pid; do
        [ -f "$pidf" ] || continue
        pid=$(head -n1 "$pidf")
        data=$(dirname "$pidf")
        if [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$data"; then
            say "stopping leftover postgres $pid ($data)"
            kill -QUIT "$pid" 2>/dev/null || true
            for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

case "$CMD" in
up)
    if running_pid >/dev/null && answers; then
        exports
        exit 0
    fi
    if running_pid >/dev/null; then
        say "process in $PIDFILE does not answer; restarting"
        "$0" down "$RUN_DIR" >/dev/null
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        say "port $PORT is already in use by another process"
        exit 1
    fi
    write_aws_files
    setsid "$PYTHON" "$HERE/awssim.py" --run-dir "$RUN_DIR" --port "$PORT" \
        >>"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    deadline=$((SECONDS + UP_TIMEOUT_S))
    until answers; do
        if ! launcher_alive; then
            say "launcher exited; last log lines:"
            tail -n 20 "$LOGFILE" >&2
            exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            say "no answer on port $PORT after ${UP_TIMEOUT_S}s"
            exit 1
        fi
        sleep 0.2
    done
    say "up on port $PORT (pid $(cat "$PIDFILE"), log $LOGFILE)"
    exports
    ;;
down)
    if pid=$(running_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq $((DOWN_GRACE_S * 10))); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then
            say "pid $pid ignored TERM; killing"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    sweep_postgres
    rm -f "$PIDFILE"
    rm -rf "$AWSDIR"
    exit 0
    ;;
status)
    if pid=$(running_pid) && answers; then
        echo "awssim: up (pid $pid, http://127.0.0.1:$PORT)"
        exit 0
    fi
    echo "awssim: down"
    exit 3
    ;;
*)
    echo "usage: $0 up|down|status [RUN_DIR]" >&2
    exit 2
    ;;
esac
