"""Issue 11 item 6: verification checks cannot be turned against the cluster.

A RestoreRequest (one cheap secretVersion item, no approval) carries spec.verification
checks written as an adversarial tenant would. The operator runs with
`--http-check-hosts 127.0.0.1,localhost,*.svc` (the operator-wide allow-list; a scope's
list narrows it further) and `--http-check-allow-loopback` (the local environment's
Services are processes on 127.0.0.1).

  - HTTP checks to 169.254.169.254, to the API server (its kubeconfig URL, and by the name
    `localhost` on its port, refused at the socket), to a host outside the allow-list, with
    a CRLF in contentType, are refused, and a listener on every loopback address that
    records each accepted connection shows that none of them connected; a redirect to the
    metadata address is not followed; the allowed check reaches the listener (so the
    listener works);
  - SQL checks against a real PostgreSQL: a 400 MiB value leaves the operator's peak RSS
    (VmHWM from /proc) under its 128 MiB limit of deploy/; a write through a function the
    role may call fails in the read-only transaction; COPY ... TO PROGRAM is refused, and as
    a superuser every check is refused at connect (a marker file proves nothing ran).

Oracles: the listener's accept log, psql, /proc/<operator pid>/status, the step message.
"""
import http.server
import os
import socket
import socketserver
import sys
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "pg", "tests"))
from scenario import ScenarioCase, b64, step_of  # noqa: E402
from test_pg_checks import PgCluster  # noqa: E402
import kube  # noqa: E402

import boto3  # noqa: E402

BIG_MIB = 400
OPERATOR_LIMIT_KIB = 128 * 1024  # deploy/deployment.yaml: limits.memory 128Mi
CHECKER = "lifeboat_check"
CHECKER_PW = "check-pw-%s" % uuid.uuid4().hex[:8]


class Recorder(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Listens on every address (so 127.0.0.2 would reach it too) and records every
    accepted connection and every request."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.accepts, self.requests = [], []
        super().__init__(("0.0.0.0", 0), Handler)

    def verify_request(self, request, client_address):
        self.accepts.append(client_address[0])
        return True


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _answer(self):
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer


def api_server():
    out = kube.kubectl("config", "view", "--minify", "-o",
                       "jsonpath={.clusters[0].cluster.server}").stdout.strip()
    host_port = out.split("://", 1)[1].split("/", 1)[0]
    return out, int(host_port.rsplit(":", 1)[1])


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class ChecksHardening(ScenarioCase):
    operator_autostart = False

    @classmethod
    def scenario(cls):
        cls.rec = Recorder()
        cls.rec_port = cls.rec.server_address[1]
        threading.Thread(target=cls.rec.serve_forever, daemon=True).start()
        cls.operator.extra_args = ["--http-check-hosts", "127.0.0.1,localhost,*.svc"]
        cls.operator.start()
        # the one cheap item: a Secrets Manager secret with an AWSPREVIOUS version
        cls.sid = "hardening/%s" % uuid.uuid4().hex[:10]
        sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                          region_name=os.environ.get("AWS_REGION", "us-east-1"))
        sm.create_secret(Name=cls.sid, SecretString="v1")
        sm.put_secret_value(SecretId=cls.sid, SecretString="v2")
        # PostgreSQL with a 400 MiB value, a read-only role and the superuser
        cls.pg = PgCluster()
        cls.pg.init_and_start()
        cls.pg.psql("CREATE DATABASE shop", db="postgres")
        cls.pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (CHECKER, CHECKER_PW), db="postgres")
        cls.pg.psql_script(
            "CREATE TABLE big AS SELECT repeat(repeat('x', 1024 * 1024), %d) AS v;\n"
            "CREATE SEQUENCE ticket;\n"
            "GRANT SELECT ON big TO %s; GRANT USAGE ON SEQUENCE ticket TO %s;\n"
            % (BIG_MIB, CHECKER, CHECKER), timeout=900)
        cls.marker = os.path.join(cls.pg.dir, "program-ran-%s" % uuid.uuid4().hex[:6])
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": cls.ns},
             "data": {"url": b64("postgresql://%s:%s@127.0.0.1:%d/shop" % (u, p, cls.pg.port))}}
            for n, u, p in (("db-checker", CHECKER, CHECKER_PW),
                            ("db-superuser", "postgres", "superpw-unused"))])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "rec", None):
            cls.rec.shutdown()
            cls.rec.server_close()
        if getattr(cls, "pg", None):
            cls.pg.destroy()

    def run_rr(self, name, checks, target=None):
        ver = {"checks": checks}
        if target:
            ver["target"] = {"connectionSecretRef": {"name": target, "key": "url"}}
        item = {"name": "sv", "secretVersion": {"secretId": self.sid,
                                                 "versionStage": "AWSPREVIOUS"}}
        self.apply_rr(self.rr_manifest(name, [item], approval=False, rollback=False,
                                       verification=ver))
        obj = self.wait_phase(name, ("Failed", "Succeeded", "RolledBack"), timeout=240)
        step = step_of(obj, "verification")
        self.assertIsNotNone(step, self.describe_rr(obj))
        return obj, step.get("message") or ""

    def test_http_checks_are_refused_without_a_connection(self):
        server, api_port = api_server()
        before = len(self.rec.accepts)
        obj, msg = self.run_rr("http-forbidden", [
            {"name": "meta", "http": {"url": "http://169.254.169.254/latest/meta-data/"}},
            {"name": "api", "http": {"url": server + "/api/v1/secrets"}},
            {"name": "api-by-name", "http": {"url": "http://localhost:%d/api" % api_port}},
            {"name": "outside", "http": {"url": "http://127.0.0.2:%d/outside" % self.rec_port}},
        ])
        self.assertEqual(obj["status"]["phase"], "Failed", msg)
        self.assertIn("4 of 4 verification checks failed", msg)
        self.assertIn("meta: http.url: address 169.254.169.254:80 refused: link-local", msg)
        self.assertIn("api: http.url: address 127.0.0.1:%d refused: it is the Kubernetes API "
                      "server's address" % api_port, msg)
        # a name that resolves to the API server: refused at the socket
        self.assertIn("api-by-name: http.url: address 127.0.0.1:%d refused" % api_port, msg)
        self.assertIn("outside: http.url: host 127.0.0.2 refused: not in the operator's "
                      "--http-check-hosts", msg)
        self.assertEqual(msg.count("no connection was made"), 4, msg)
        self.assertEqual(self.rec.accepts[before:], [], "a refused check connected")

    def test_allowed_check_connects_and_headers_redirects_are_safe(self):
        before_acc, before_req = len(self.rec.accepts), len(self.rec.requests)
        obj, msg = self.run_rr("http-allowed", [
            {"name": "ok", "http": {"url": "http://127.0.0.1:%d/ok" % self.rec_port,
                                    "expectBodyContains": "ok"}},
            {"name": "crlf", "http": {"url": "http://127.0.0.1:%d/crlf" % self.rec_port,
                                      "method": "POST", "body": "{}",
                                      "contentType": "text/plain\r\nX-Injected: 1"}},
            {"name": "redirect", "http": {"url": "http://127.0.0.1:%d/redirect" % self.rec_port}},
        ])
        self.assertEqual(obj["status"]["phase"], "Failed", msg)
        self.assertIn("ok: HTTP 200", msg)
        self.assertIn("crlf: http.contentType: only printable ASCII", msg)
        self.assertIn("redirect: HTTP status 302, expected 200", msg)
        paths = [p for _, p, _ in self.rec.requests[before_req:]]
        self.assertEqual(sorted(paths), ["/ok", "/redirect"], paths)   # no /crlf, no follow
        self.assertEqual(len(self.rec.accepts[before_acc:]), 2)
        for _, _, headers in self.rec.requests[before_req:]:
            self.assertNotIn("X-Injected", headers)

    def test_a_400_mib_value_leaves_the_operator_small(self):
        pid = self.operator.pid
        self.assertEqual(self.pg.psql("SELECT octet_length(v) FROM big"), str(BIG_MIB << 20))
        hwm_before = vm_kib(pid, "VmHWM")
        obj, msg = self.run_rr("sql-big", [
            {"name": "big", "sql": {"query": "SELECT v FROM big", "expect": {"notEmpty": True}}},
            {"name": "write", "sql": {"query": "SELECT nextval('ticket')",
                                      "expect": {"notEmpty": True}}},
            {"name": "program", "sql": {"query": "COPY (SELECT 1) TO PROGRAM 'touch %s'"
                                                 % self.marker,
                                        "expect": {"notEmpty": True}}},
        ], target="db-checker")
        self.assertTrue(self.operator.alive(), "the operator died")
        hwm = vm_kib(pid, "VmHWM")
        print("# operator VmHWM before %d KiB, after the 400 MiB check %d KiB (limit %d KiB)"
              % (hwm_before, hwm, OPERATOR_LIMIT_KIB))
        self.assertLess(hwm, OPERATOR_LIMIT_KIB, msg)
        self.assertIn("big: observed xxxxxxxx", msg)       # the check ran and saw the value
        self.assertNotIn("FAILED big", msg)
        self.assertIn("write: query failed: cannot execute nextval() in a read-only "
                      "transaction", msg)
        self.assertIn("program: query: must be one SELECT", msg)
        self.assertEqual(self.pg.psql("SELECT last_value, is_called FROM ticket"), "1|f")
        self.assertFalse(os.path.exists(self.marker))

    def test_a_superuser_check_is_refused_at_connect(self):
        obj, msg = self.run_rr("sql-superuser", [
            {"name": "lo", "sql": {"query": "SELECT lo_export(lo_from_bytea(0, 'x'), '%s')"
                                            % self.marker, "expect": {"notEmpty": True}}},
        ], target="db-superuser")
        self.assertEqual(obj["status"]["phase"], "Failed", msg)
        self.assertIn("role postgres is a superuser", msg)
        self.assertFalse(os.path.exists(self.marker))
        self.assertEqual(self.pg.psql("SELECT count(*) FROM pg_largeobject_metadata"), "0")
