"""The pods/exec WebSocket protocol below kubectl: what kubectl never sends (fragmented
messages, pings, the v4 subprotocol, masking violations) but another client (the operator's
libwebsockets exec client) may. A raw RFC 6455 client over the API server's TLS port."""
import base64
import hashlib
import json
import os
import struct
import unittest
import urllib.parse

import kubesimenv  # noqa: E402
kubesimenv.ensure()   # a private kubesim when env.sh runs the real control plane
from kube import connect, delete_ns, kubectl, token, unique_ns

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawWS:
    def __init__(self, path, protocols):
        self.conn = connect(30)
        self.conn.connect()
        self.sock = self.conn.sock
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
               % (path, token(), key, ", ".join(protocols)))
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("connection closed during handshake: %r" % self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.status = int(self.head.split()[1])
        self.expected_accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()

    def header(self, name):
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def send_frame(self, opcode, payload, fin=True, masked=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if masked else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            head += mask
        self.sock.sendall(head + payload)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        self.assertion_unmasked = not (b1 & 0x80)
        return b0 & 0x0F, self._read(n)

    def collect(self):
        """Frames until the server's close: (channels {n: bytes}, pongs [payload], close payload)."""
        chans, pongs = {}, []
        while True:
            op, data = self.recv_frame()
            if op == 0x8:
                return chans, pongs, data
            if op == 0xA:
                pongs.append(data)
            elif op == 0x2 and data:
                chans[data[0]] = chans.get(data[0], b"") + data[1:]

    def close(self):
        self.conn.close()


def exec_path(ns, pod, command, stdin=True):
    q = [("command", c) for c in command] + [("stdout", "true"), ("stderr", "true")]
    if stdin:
        q.append(("stdin", "true"))
    return "/api/v1/namespaces/%s/pods/%s/exec?%s" % (ns, pod, urllib.parse.urlencode(q))


class ExecProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = unique_ns("wlx")
        kubectl("apply", "-n", cls.ns, "-f", "-",
                input={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box"},
                       "spec": {"containers": [{"name": "main", "image": "none", "command": ["sleep", "3600"],
                                                "env": [{"name": "IN_POD", "value": "yes"}]}]}})
        kubectl("wait", "--for=condition=Ready", "pod/box", "-n", cls.ns, "--timeout=30s")

    @classmethod
    def tearDownClass(cls):
        delete_ns(cls.ns)

    def test_v4_fragmented_stdin_interleaved_ping_and_success_status(self):
        ws = RawWS(exec_path(self.ns, "box", ["head", "-c", "10"]), ["v4.channel.k8s.io"])
        try:
            self.assertEqual(ws.status, 101, ws.head)
            self.assertEqual(ws.header("Sec-WebSocket-Accept"), ws.expected_accept)
            self.assertEqual(ws.header("Sec-WebSocket-Protocol"), "v4.channel.k8s.io")
            ws.send_frame(0x2, b"\x00hello", fin=False)
            ws.send_frame(0x9, b"are-you-there")          # control frame between fragments
            ws.send_frame(0x0, b"world", fin=True)
            chans, pongs, close = ws.collect()
            self.assertEqual(chans.get(1), b"helloworld")
            self.assertEqual(pongs, [b"are-you-there"])
            self.assertEqual(json.loads(chans[3])["status"], "Success")
            self.assertEqual(struct.unpack("!H", close[:2])[0], 1000)
            self.assertTrue(ws.assertion_unmasked, "server frames are not masked")
        finally:
            ws.close()

    def test_v5_close_stdin_then_nonzero_exit_status(self):
        ws = RawWS(exec_path(self.ns, "box", ["sh", "-c", "wc -c; echo $IN_POD >&2; exit 5"]),
                   ["v5.channel.k8s.io", "v4.channel.k8s.io"])
        try:
            self.assertEqual(ws.header("Sec-WebSocket-Protocol"), "v5.channel.k8s.io")
            ws.send_frame(0x2, b"\x00" + b"z" * 70000)        # 64-bit length form
            ws.send_frame(0x2, b"\xff\x00")                   # v5: close stdin
            chans, _pongs, _close = ws.collect()
            self.assertEqual(chans.get(1, b"").strip(), b"70000")
            self.assertEqual(chans.get(2), b"yes\n", "command runs with the container's env")
            st = json.loads(chans[3])
            self.assertEqual(st["status"], "Failure")
            self.assertEqual(st["reason"], "NonZeroExitCode")
            self.assertEqual(st["details"]["causes"], [{"reason": "ExitCode", "message": "5"}])
        finally:
            ws.close()

    def test_unmasked_client_frame_is_refused_with_protocol_error(self):
        ws = RawWS(exec_path(self.ns, "box", ["cat"]), ["v5.channel.k8s.io"])
        try:
            ws.send_frame(0x2, b"\x00data", masked=False)
            while True:
                op, data = ws.recv_frame()
                if op == 0x8:
                    break
            self.assertEqual(struct.unpack("!H", data[:2])[0], 1002)
        finally:
            ws.close()

    def test_unknown_subprotocol_and_unknown_container_are_rejected_before_upgrade(self):
        ws = RawWS(exec_path(self.ns, "box", ["true"]), ["base64.channel.k8s.io"])
        try:
            self.assertEqual(ws.status, 400)
        finally:
            ws.close()
        p = kubectl("exec", "box", "-n", self.ns, "-c", "nope", "--", "true", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("container nope is not valid for pod box", p.stderr)


if __name__ == "__main__":
    unittest.main()
