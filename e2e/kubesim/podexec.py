"""kubesim pod exec/attach (WebSocket) and pod logs.

server.py routes .../pods/{name}/exec|attach to handle_exec() and .../pods/{name}/log to
handle_log(). Both find the container's process through the files kubelet.py writes under
RUN_DIR/kubesim/pods/<ns>/<pod>/ (see kubelet.py's docstring).

The WebSocket side is a minimal server implementation of RFC 6455 (handshake, masked
client frames, fragmentation, ping/pong, close) because no WebSocket library is available
to the test environment's Python. It is a test stand-in: the product's exec client uses
libwebsockets. Protocol: Kubernetes channel framing, subprotocols v5.channel.k8s.io and
v4.channel.k8s.io; first payload byte = channel (0 stdin, 1 stdout, 2 stderr, 3 status,
4 resize; v5: 255 = close, followed by the channel to close).
"""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time

import kubelet

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_MAX_FRAME_BYTES = 1 << 20          # one client frame
WS_MAX_MESSAGE_BYTES = 16 << 20       # one reassembled client message
OUT_CHUNK_BYTES = 32 << 10            # stdout/stderr chunk sent per frame
LOG_FOLLOW_POLL_SECONDS = 0.2
SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")

_run_dir = None


def set_run_dir(run_dir):
    """Optional: the run folder (defaults to $LIFEBOAT_RUN_DIR or the repo's e2e/.run)."""
    global _run_dir
    _run_dir = run_dir


def _pods_base():
    if _run_dir is None and kubelet.CURRENT_BASE:
        return os.path.join(kubelet.CURRENT_BASE, "pods")
    rd = _run_dir or os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(kubelet.REPO_ROOT, "e2e", ".run")
    return os.path.join(os.path.abspath(rd), "kubesim", "pods")


def _q(query, name, default=None):
    v = query.get(name)
    if not v:
        return default
    return v[0] if isinstance(v, list) else v


def _qbool(query, name):
    return str(_q(query, name, "false")).lower() in ("1", "true", "yes")


def _status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _send_json(handler, code, obj):
    body = json.dumps(obj).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    try:
        handler.wfile.flush()
    except (AttributeError, OSError):
        pass


def _container(pod, query):
    """(container name, pod folder) or raises ValueError((code, reason, message))."""
    m = pod.get("metadata") or {}
    ns, name = m.get("namespace") or "default", m.get("name")
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    inits = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    cname = _q(query, "container")
    if not cname:
        if len(names) != 1:
            raise ValueError((400, "BadRequest",
                              "a container name must be specified for pod %s, choose one of: %s" % (name, names)))
        cname = names[0]
    if cname not in names and cname not in inits:
        raise ValueError((400, "BadRequest", "container %s is not valid for pod %s" % (cname, name)))
    d = os.path.join(_pods_base(), ns, name)
    try:
        with open(os.path.join(d, "uid")) as f:
            uid = f.read()
    except OSError:
        uid = None
    if uid != m.get("uid"):
        raise ValueError((400, "BadRequest",
                          'container "%s" in pod "%s" is waiting to start: ContainerCreating' % (cname, name)))
    return cname, d


# ---------------------------------------------------------------------------- WebSocket


class WebSocket:
    """Server side of one RFC 6455 connection over a handler's rfile/wfile."""

    def __init__(self, rfile, wfile, sock):
        self.rfile, self.wfile, self.sock = rfile, wfile, sock
        self.wlock = threading.Lock()
        self.closed = False

    def _read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return data

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self.wlock:
            if self.closed and opcode != 0x8:
                return
            self.wfile.write(head + payload)
            try:
                self.wfile.flush()
            except AttributeError:
                pass

    def send_binary(self, payload):
        self._send_frame(0x2, payload)

    def send_close(self, code=1000, reason=b""):
        with self.wlock:
            if self.closed:
                return
        try:
            self._send_frame(0x8, struct.pack("!H", code) + reason)
        except OSError:
            pass
        self.closed = True

    def recv_message(self):
        """Next data message (bytes), answering pings; None on close or EOF."""
        parts, total = [], 0
        while True:
            try:
                b0, b1 = self._read_exact(2)
            except (EOFError, OSError, ValueError):
                return None
            fin, opcode = b0 & 0x80, b0 & 0x0F
            masked, n = b1 & 0x80, b1 & 0x7F
            if not masked:
                self.send_close(1002, b"client frames must be masked")
                return None
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            if n > WS_MAX_FRAME_BYTES:
                self.send_close(1009, b"frame larger than WS_MAX_FRAME_BYTES")
                return None
            mask = self._read_exact(4)
            raw = self._read_exact(n)
            mfull = (mask * (n // 4 + 1))[:n]
            payload = (int.from_bytes(raw, "big") ^ int.from_bytes(mfull, "big")).to_bytes(n, "big")
            if opcode == 0x8:
                self.send_close(1000)
                return None
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode not in (0x0, 0x1, 0x2):
                self.send_close(1002, b"unknown opcode")
                return None
            total += n
            if total > WS_MAX_MESSAGE_BYTES:
                self.send_close(1009, b"message larger than WS_MAX_MESSAGE_BYTES")
                return None
            parts.append(payload)
            if fin:
                return b"".join(parts)


def handle_exec(handler, pod, query):
    """Answers a pods/{name}/exec or /attach WebSocket upgrade and runs the command.

    Writes the whole HTTP answer (101 then frames, or an error Status) on `handler`; the
    connection is not reused afterwards.
    """
    handler.close_connection = True
    h = handler.headers
    try:
        cname, d = _container(pod, query)
    except ValueError as e:
        code, reason, msg = e.args[0]
        _send_json(handler, code, _status(code, reason, msg))
        return
    pid = kubelet.read_pid_file(os.path.join(d, cname + ".pid"))
    if pid is None:
        _send_json(handler, 400, _status(400, "BadRequest",
                                         'container %s is not running in pod %s' % (cname, (pod.get("metadata") or {}).get("name"))))
        return
    if "websocket" not in (h.get("Upgrade") or "").lower():
        _send_json(handler, 400, _status(400, "BadRequest",
                                         "Upgrade request required: kubesim serves exec over WebSocket "
                                         "(v5.channel.k8s.io or v4.channel.k8s.io) only"))
        return
    offered = [p.strip() for p in (h.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
    proto = next((p for p in SUBPROTOCOLS if p in offered), None)
    if proto is None:
        _send_json(handler, 400, _status(400, "BadRequest",
                                         "Sec-WebSocket-Protocol: none of %s offered (got %s)" % (list(SUBPROTOCOLS), offered)))
        return
    key = h.get("Sec-WebSocket-Key")
    if not key:
        _send_json(handler, 400, _status(400, "BadRequest", "Sec-WebSocket-Key header is required"))
        return
    attach = handler.path.split("?")[0].endswith("/attach")
    command = query.get("command") or []
    if isinstance(command, str):
        command = [command]
    if not attach and not command:
        _send_json(handler, 400, _status(400, "BadRequest", "command is required: you must specify at least one command for the container"))
        return
    try:
        with open(os.path.join(d, cname + ".env.json")) as f:
            env = json.load(f)
    except (OSError, ValueError):
        env = {"PATH": kubelet.POD_PATH}
    try:
        with open(os.path.join(d, cname + ".spec.json")) as f:
            wd = json.load(f).get("workingDir") or ""
    except (OSError, ValueError):
        wd = ""

    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    handler.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n" % (accept, proto)).encode())
    try:
        handler.wfile.flush()
    except AttributeError:
        pass
    ws = WebSocket(handler.rfile, handler.wfile, handler.connection)
    want_stdin = _qbool(query, "stdin")
    want_out, want_err = _qbool(query, "stdout"), _qbool(query, "stderr")
    if attach:
        _attach(ws, d, cname, want_out or want_err)
        return
    argv = ["nsenter", "-t", str(pid), "-m", ("--wd=" + wd) if wd else "-w", "--"] + list(command)
    try:
        proc = subprocess.Popen(argv, env=env, cwd="/",
                                stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        _finish(ws, {"metadata": {}, "status": "Failure", "reason": "InternalError",
                     "message": "exec: %s" % e})
        return

    def pump(src, chan, wanted):
        while True:
            data = src.read1(OUT_CHUNK_BYTES) if hasattr(src, "read1") else src.read(OUT_CHUNK_BYTES)
            if not data:
                break
            if wanted:
                try:
                    ws.send_binary(bytes([chan]) + data)
                except OSError:
                    wanted = False
        src.close()

    pumps = [threading.Thread(target=pump, args=(proc.stdout, 1, want_out), daemon=True),
             threading.Thread(target=pump, args=(proc.stderr, 2, want_err), daemon=True)]
    for t in pumps:
        t.start()

    done = threading.Event()

    def reader():
        stdin_open = want_stdin
        while True:
            msg = ws.recv_message()
            if msg is None:
                break
            if not msg:
                continue
            chan, data = msg[0], msg[1:]
            if chan == 0 and stdin_open and data:
                try:
                    proc.stdin.write(data)
                    proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    stdin_open = False
            elif chan == 255 and data[:1] == b"\x00" and stdin_open:
                stdin_open = False
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        if stdin_open:
            try:
                proc.stdin.close()
            except OSError:
                pass
        done.set()
        if proc.poll() is None and not ws.closed:
            # the client went away before the command ended: stop it
            kubelet._killpg(proc.pid, 15)

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    code = proc.wait()
    for t in pumps:
        t.join()
    if code == 0:
        st = {"metadata": {}, "status": "Success"}
    else:
        if code < 0:
            code = 128 - code
        st = {"metadata": {}, "status": "Failure",
              "message": "command terminated with non-zero exit code: error executing command %s, exit code %d"
                         % (json.dumps(list(command)), code),
              "reason": "NonZeroExitCode",
              "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    _finish(ws, st)
    done.wait(2.0)
    _shutdown(handler.connection)


def _finish(ws, status):
    try:
        ws.send_binary(b"\x03" + json.dumps(status).encode())
        ws.send_close(1000)
    except OSError:
        pass


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _attach(ws, d, cname, want_out):
    """attach: stream the container's output from now on until it exits (stdin unsupported)."""
    logp = os.path.join(d, cname + ".log")
    pidp = os.path.join(d, cname + ".pid")
    try:
        f = open(logp, "rb")
    except OSError:
        _finish(ws, {"metadata": {}, "status": "Success"})
        return
    f.seek(0, os.SEEK_END)
    closed = threading.Event()

    def reader():
        while ws.recv_message() is not None:
            pass
        closed.set()

    threading.Thread(target=reader, daemon=True).start()
    with f:
        while not closed.is_set():
            data = f.read(OUT_CHUNK_BYTES)
            if data:
                if want_out:
                    ws.send_binary(b"\x01" + data)
                continue
            if kubelet.read_pid_file(pidp) is None:
                break
            time.sleep(LOG_FOLLOW_POLL_SECONDS)
    _finish(ws, {"metadata": {}, "status": "Success"})
    _shutdown(ws.sock)


# ---------------------------------------------------------------------------- logs


def _tail(data, n):
    if n < 0:
        return data
    if n == 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-n:])


def handle_log(handler, pod, query):
    """Answers GET pods/{name}/log: container, follow, tailLines, previous, limitBytes."""
    try:
        cname, d = _container(pod, query)
    except ValueError as e:
        code, reason, msg = e.args[0]
        _send_json(handler, code, _status(code, reason, msg))
        return
    pname = (pod.get("metadata") or {}).get("name")
    previous = _qbool(query, "previous")
    path = os.path.join(d, cname + (".previous.log" if previous else ".log"))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        if previous:
            msg = 'previous terminated container "%s" in pod "%s" not found' % (cname, pname)
        else:
            msg = 'container "%s" in pod "%s" is waiting to start: ContainerCreating' % (cname, pname)
        _send_json(handler, 400, _status(400, "BadRequest", msg))
        return
    try:
        tail = int(_q(query, "tailLines", "-1"))
        limit = int(_q(query, "limitBytes", "0"))
    except ValueError:
        _send_json(handler, 400, _status(400, "BadRequest", "tailLines and limitBytes must be integers"))
        return
    offset = len(data)
    data = _tail(data, tail)
    if limit > 0:
        data = data[:limit]
    follow = _qbool(query, "follow") and not previous
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    if not follow:
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return
    # follow: no length, the answer ends when the connection closes
    handler.close_connection = True
    handler.send_header("Connection", "close")
    handler.end_headers()
    pidp = os.path.join(d, cname + ".pid")
    try:
        handler.wfile.write(data)
        handler.wfile.flush()
        with open(path, "rb") as f:
            f.seek(offset)
            idle_after_exit = 0
            while True:
                chunk = f.read(OUT_CHUNK_BYTES)
                if chunk:
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
                    continue
                if kubelet.read_pid_file(pidp) is None:
                    idle_after_exit += 1
                    if idle_after_exit > 2:
                        break
                if not os.path.isdir(d):
                    break
                time.sleep(LOG_FOLLOW_POLL_SECONDS)
    except (OSError, ValueError):
        pass
    _shutdown(handler.connection)
