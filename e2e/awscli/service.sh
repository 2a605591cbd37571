#!/usr/bin/env bash
# The aws CLI fork server (forkserver.py) for e2e/env.sh: up | down | status RUN_DIR
#   up      start it detached (socket RUN_DIR/awscli.sock, pid RUN_DIR/awscli.pid, log
#           RUN_DIR/awscli.log), wait until it accepts, write the client RUN_DIR/awscli/aws
#           (aws.py under the interpreter itself, -IS: a pyenv shim costs 0.4 s a start),
#           print the exports: that directory first on PATH and the socket
#   down    stop it by PID (TERM, then KILL); calls still running finish in their children
#   status  one line; exit 0 when up, 3 when down
# If it is not running, bin/aws execs the real aws, so nothing depends on it but speed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CMD=${1:-}
RUN_DIR=${2:-${LIFEBOAT_RUN_DIR:-$HERE/../.run}}
PYTHON=${AWSCLI_FORK_PYTHON:-python3}
UP_TIMEOUT_S=60

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
PIDFILE=$RUN_DIR/awscli.pid
LOGFILE=$RUN_DIR/awscli.log
SOCK=$RUN_DIR/awscli.sock
BIN=$RUN_DIR/awscli

say() { echo "awscli: $*" >&2; }

exports() {
    cat <<EOF2
export PATH='$BIN':"\$PATH"
export AWSCLI_FORK_BIN='$BIN'
export AWSCLI_FORK_SOCKET='$SOCK'
EOF2
}

running_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    grep -q forkserver.py "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

accepts() {
    "$PYTHON" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' \
        "$SOCK" 2>/dev/null
}

case "$CMD" in
up)
    if running_pid >/dev/null && [ -S "$SOCK" ]; then
        exports
        exit 0
    fi
    "$0" down "$RUN_DIR" >/dev/null
    setsid "$PYTHON" "$HERE/forkserver.py" "$SOCK" >>"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    deadline=$((SECONDS + UP_TIMEOUT_S))
    until [ -S "$SOCK" ]; do
        if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            say "the fork server exited; last log lines:"
            tail -n 20 "$LOGFILE" >&2
            exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            say "no socket after ${UP_TIMEOUT_S}s"
            exit 1
        fi
        sleep 0.2
    done
    mkdir -p "$BIN"
    {
        echo "#!$("$PYTHON" -c 'import sys; print(sys.executable)') -IS"
        cat "$HERE/aws.py"
    } >"$BIN/aws.tmp"
    chmod +x "$BIN/aws.tmp"
    mv "$BIN/aws.tmp" "$BIN/aws"
    say "up (pid $(cat "$PIDFILE"), socket $SOCK)"
    exports
    ;;
down)
    if pid=$(running_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE" "$SOCK"
    rm -rf "$BIN"
    exit 0
    ;;
status)
    if pid=$(running_pid) && accepts; then
        echo "awscli: up (pid $pid, socket $SOCK)"
        exit 0
    fi
    echo "awscli: down"
    exit 3
    ;;
*)
    echo "usage: $0 up|down|status [RUN_DIR]" >&2
    exit 2
    ;;
esac
