"""The aws CLI as a fork server, for the e2e suites (e2e/awscli/README.md).

The tests call the real aws CLI (awscli's own clidriver) hundreds of times; each
call as a new process spends about a second of CPU importing botocore and parsing
its JSON models before it sends one request, a third of a 2-core machine during
`make test`. This server imports awscli once, loads the service models the tests
use, and forks one child per call: the child takes the caller's stdin, stdout and
stderr (passed over the Unix socket with SCM_RIGHTS), its argv, environment and
working directory, builds a fresh CLIDriver (a new botocore session: credentials,
region and endpoint come from the caller's environment, nothing from an earlier
call), runs it and exits with its return code. Only the loader of botocore's
static data files is shared. bin/aws is the client; it falls back to the real aws
when this server is not running.

Protocol (one connection per call): client -> server: 4-byte big-endian length +
that many bytes of JSON {"argv": [...], "env": {...}, "cwd": "..."}, the three
descriptors attached to the first sendmsg. server -> client: 4-byte pid, then,
when the child has exited, 4-byte big-endian wait status. A client that goes
away first (killed on a timeout) gets its child killed.
"""
import array
import contextlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # argv + environment of one call
WARM_SERVICES = (["rds", "describe-db-instances"], ["s3api", "list-buckets"],
                 ["secretsmanager", "list-secrets"], ["sts", "get-caller-identity"],
                 ["s3", "ls"])


def warm_loader():
    """A botocore data loader holding every model the suites use, parsed once: one
    call per service against a closed port builds clients, endpoints and parsers.
    The throwaway session that did it is dropped; only the loader is kept."""
    from awscli.clidriver import create_clidriver
    saved = dict(os.environ)
    os.environ.update(AWS_ACCESS_KEY_ID="warm", AWS_SECRET_ACCESS_KEY="warm",
                      AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1",
                      AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    try:
        driver = create_clidriver()
        for args in WARM_SERVICES:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                driver.main(["--endpoint-url", "http://127.0.0.1:9"] + args)
        return driver.session.get_component("data_loader")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_child(loader, req, fds):
    """In the forked child: become the caller's aws process and never return."""
    try:
        signal.set_wakeup_fd(-1)
        # as in a fresh python process: SIGINT raises KeyboardInterrupt, SIGPIPE ignored
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        os.closerange(3, 1 << 20)  # the server's socket, pipes and other callers' connections
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        from awscli.clidriver import create_clidriver
        driver = create_clidriver()
        driver.session.register_component("data_loader", loader)
        rc = driver.main(req["argv"])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 255
    except BaseException as e:  # noqa: B902 - the child must always exit
        sys.stderr.write("aws (forkserver): %s\n" % e)
        rc = 255
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(rc if isinstance(rc, int) and 0 <= rc < 256 else 255)


def recv_request(conn):
    """(request, [stdin, stdout, stderr]) or raises ValueError."""
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    if len(fds) != 3 or len(msg) < 4:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request needs a length and three descriptors")
    (n,) = struct.unpack(">I", msg[:4])
    if n > MAX_REQUEST_BYTES:
        for fd in fds:
            os.close(fd)
        raise ValueError("request of %d bytes is over the cap" % n)
    body = bytearray(msg[4:])
    while len(body) < n:
        chunk = conn.recv(n - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) != n:
        for fd in fds:
            os.close(fd)
        raise ValueError("short request")
    return json.loads(bytes(body)), list(fds)


def serve(sock_path):
    loader = warm_loader()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    os.chmod(sock_path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "signal")
    children = {}  # pid -> conn
    while not stop:
        for key, _ in sel.select():
            if key.data == "accept":
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(True)
                conn.settimeout(10)
                try:
                    req, fds = recv_request(conn)
                except (ValueError, OSError) as e:
                    sys.stderr.write("forkserver: %s\n" % e)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    run_child(loader, req, fds)
                for fd in fds:
                    os.close(fd)
                try:
                    conn.sendall(struct.pack(">I", pid))
                except OSError:
                    pass
                conn.setblocking(False)
                children[pid] = conn
                sel.register(conn, selectors.EVENT_READ, pid)
            elif key.data == "signal":
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
            else:  # a client's connection: readable means it went away
                pid = key.data
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                sel.unregister(key.fileobj)
        # reap every child that exited and tell its client
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if conn is None:
                continue
            try:
                sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            try:
                conn.setblocking(True)
                conn.settimeout(5)
                conn.sendall(struct.pack(">I", status))
            except OSError:
                pass
            conn.close()
    listener.close()
    os.unlink(sock_path)


if __name__ == "__main__":
    serve(sys.argv[1])
