"""aws, for the e2e suites (e2e/awscli/service.sh writes it into RUN_DIR/awscli/aws under
the interpreter's own path): runs the real aws CLI in a child of e2e/awscli's fork
server (forkserver.py says why and how), with this process's argv, environment,
working directory and stdin/stdout/stderr, and exits as that child did. Without
the server ($AWSCLI_FORK_SOCKET unset or not answering), or with AWSCLI_FORK=off
(the benchmarks, which measure the aws process itself), it execs the real aws:
the next one on PATH after this directory."""
import array
import json
import os
import signal
import socket
import struct
import sys

HERE = os.path.dirname(os.path.realpath(__file__))


def exec_real():
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "aws")
        if d and os.path.realpath(d) != HERE and os.access(p, os.X_OK):
            os.execv(p, [p] + sys.argv[1:])
    sys.stderr.write("aws: the real aws CLI is not on PATH\n")
    sys.exit(127)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


def main():
    path = os.environ.get("AWSCLI_FORK_SOCKET")
    if not path or os.environ.get("AWSCLI_FORK") == "off":
        exec_real()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        exec_real()
    body = json.dumps({"argv": sys.argv[1:], "env": dict(os.environ),
                       "cwd": os.getcwd()}).encode()
    data = struct.pack(">I", len(body)) + body
    sent = s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    s.sendall(data[sent:])
    pid = read_exact(s, 4)
    if pid is None:
        sys.stderr.write("aws: the fork server closed the connection\n")
        sys.exit(255)
    (child,) = struct.unpack(">I", pid)

    def forward(sig, _frame):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = read_exact(s, 4)
    if status is None:
        sys.exit(255)
    (st,) = struct.unpack(">I", status)
    if os.WIFSIGNALED(st):
        sys.exit(128 + os.WTERMSIG(st))
    sys.exit(os.WEXITSTATUS(st))


if __name__ == "__main__":
    main()
