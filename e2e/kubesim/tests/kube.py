"""Shared helpers for kubesim contract tests (used by the API and the workload suites).

Everything reads $KUBECONFIG (written by kubesim's service.sh). kubectl runs with a fresh
--cache-dir per test process so discovery is never stale between runs.
"""
import atexit
import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import yaml

KUBECTL = os.environ.get("KUBECTL", "kubectl")
_CACHE_DIR = tempfile.mkdtemp(prefix="kubesim-kubectl-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, True)
_CONN = {}  # kubeconfig path -> (server, token, ssl context)


def kubeconfig_path(kubeconfig=None):
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if not path:
        raise RuntimeError("KUBECONFIG is not set; run e2e/env.sh up and source e2e/.run/env.sh")
    return path


def kubectl(*args, input=None, check=True, timeout=60, kubeconfig=None):
    """Run the real kubectl; returns CompletedProcess (text). check=True raises on rc != 0
    with stdout/stderr in the message. kubeconfig overrides $KUBECONFIG."""
    cmd = [KUBECTL, "--kubeconfig", kubeconfig_path(kubeconfig), "--cache-dir", _CACHE_DIR] + [str(a) for a in args]
    if isinstance(input, (dict, list)):
        input = yaml.safe_dump_all(input) if isinstance(input, list) else yaml.safe_dump(input)
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s failed rc=%d\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd[5:]), p.returncode, p.stdout, p.stderr))
    return p


def kubectl_json(*args, **kw):
    """kubectl ... -o json, parsed. A plain `get` of a kind in _PATHS on $KUBECONFIG is
    one raw GET instead (get_json): a kubectl process costs ~0.15 s of CPU (issue 9)."""
    simple = None if kw else _simple_get([str(a) for a in args])
    if simple:
        return get_json(*simple)
    p = kubectl(*(list(args) + ["-o", "json"]), **kw)
    return json.loads(p.stdout)


def wait_for(predicate, timeout=20.0, interval=None, message="condition"):
    """Poll predicate() until it returns a truthy value (returned); AssertionError on timeout.
    Exceptions raised by predicate count as 'not yet' until the deadline.
    interval: seconds between polls, fixed (a test that must see a short-lived state
    passes one); by default 0.1 s growing by half each poll to 0.5 s, so that a long wait
    does not run a kubectl (~0.1-0.2 s of CPU each) five times a second on a busy machine
    (issue 9: make test is bound by CPU)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    backoff = interval is None
    if backoff:
        interval = 0.1
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, message, (" (last error: %r)" % last_exc) if last_exc else ""))
        time.sleep(interval)
        if backoff:
            interval = min(interval * 1.5, WAIT_MAX_INTERVAL_S)


WAIT_MAX_INTERVAL_S = 0.5

# Where the kinds the suites poll live: get_json reads them with one raw GET (about 1 ms
# of the test's CPU) instead of a kubectl process (0.1-0.2 s of CPU each; issue 9).
_PATHS = {
    "rr": "/apis/lifeboat.dev/v1alpha1", "restorerequest": "/apis/lifeboat.dev/v1alpha1",
    "vr": "/apis/lifeboat.dev/v1alpha1", "bp": "/apis/lifeboat.dev/v1alpha1",
    "lease": "/apis/coordination.k8s.io/v1", "pod": "/api/v1", "pods": "/api/v1",
    "events": "/api/v1", "job": "/apis/batch/v1", "jobs": "/apis/batch/v1",
    "deployment": "/apis/apps/v1", "deployments": "/apis/apps/v1",
    "statefulset": "/apis/apps/v1", "secret": "/api/v1", "pvc": "/api/v1",
    "configmap": "/api/v1", "node": "/api/v1",
}
_PLURAL = {"rr": "restorerequests", "restorerequest": "restorerequests",
           "vr": "verificationruns", "bp": "backuppolicies", "lease": "leases",
           "pod": "pods", "pods": "pods", "events": "events", "job": "jobs", "jobs": "jobs",
           "deployment": "deployments", "deployments": "deployments",
           "statefulset": "statefulsets", "secret": "secrets",
           "pvc": "persistentvolumeclaims", "configmap": "configmaps", "node": "nodes"}


def get_json(kind, name=None, ns=None, label_selector=None):
    """`kubectl get KIND [NAME] -n NS [-l SELECTOR] -o json` on $KUBECONFIG's cluster,
    parsed: one raw GET for the kinds in _PATHS, kubectl for any other. AssertionError
    when the server does not answer 200, as kubectl_json's check does."""
    if kind not in _PATHS:
        args = ["get", kind] + ([name] if name else []) + (["-n", ns] if ns else [])
        return kubectl_json(*(args + (["-l", label_selector] if label_selector else [])))
    path = _PATHS[kind] + ("/namespaces/" + ns if ns else "") + "/" + _PLURAL[kind]
    if name:
        path += "/" + urllib.parse.quote(name)
    elif label_selector:
        path += "?labelSelector=" + urllib.parse.quote(label_selector)
    r = api("GET", path)
    if r.status != 200:
        raise AssertionError("GET %s -> %d %s" % (path, r.status, r.body[:300]))
    obj = r.json()
    if not name:  # as kubectl prints a list: every item with its kind and apiVersion
        for item in obj.get("items") or []:
            item.setdefault("kind", obj.get("kind", "").removesuffix("List"))
            item.setdefault("apiVersion", obj.get("apiVersion"))
    return obj


def _simple_get(args):
    """(kind, name, ns, selector) when args are `get KIND [NAME] [-n NS] [-l SELECTOR]`
    for a kind get_json reads with one raw GET; None for anything else."""
    if len(args) < 2 or args[0] != "get" or args[1] not in _PATHS:
        return None
    kind, rest, name, opts = args[1], list(args[2:]), None, {}
    if rest and not str(rest[0]).startswith("-"):
        name = rest.pop(0)
    while rest:
        if len(rest) < 2 or rest[0] not in ("-n", "-l") or rest[0] in opts:
            return None
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    if name and "-l" in opts:
        return None
    return kind, name, opts.get("-n"), opts.get("-l")


def _conn_info(kubeconfig=None):
    path = kubeconfig_path(kubeconfig)
    if path not in _CONN:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        sslctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        _CONN[path] = (cluster["server"], user["token"], sslctx)
    return _CONN[path]


def server_url(kubeconfig=None):
    return _conn_info(kubeconfig)[0]


def token(kubeconfig=None):
    return _conn_info(kubeconfig)[1]


def connect(timeout=30, kubeconfig=None):
    """A fresh http.client.HTTPSConnection to the API server (caller closes)."""
    server, _tok, sslctx = _conn_info(kubeconfig)
    u = urllib.parse.urlsplit(server)
    return http.client.HTTPSConnection(u.hostname, u.port or 443, context=sslctx, timeout=timeout)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


def api(method, path, body=None, headers=None, auth=True, content_type=None, timeout=30, kubeconfig=None):
    """One raw request. body: dict/list (sent as JSON), str or bytes. Returns Response.
    auth=False omits the bearer token; headers override defaults."""
    h = {"Accept": "application/json"}
    if auth:
        h["Authorization"] = "Bearer " + token(kubeconfig)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = content_type or "application/json"
    elif body is not None:
        h["Content-Type"] = content_type or "application/json"
    if isinstance(body, str):
        body = body.encode()
    h.update(headers or {})
    c = connect(timeout, kubeconfig)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        c.close()


def watch(path, timeout=30, max_events=None, until=None, headers=None, kubeconfig=None):
    """GET a watch URL (path must include watch=true) and collect decoded events until the
    stream ends, max_events were read, or until(event) is true. Returns the list."""
    h = {"Accept": "application/json", "Authorization": "Bearer " + token(kubeconfig)}
    h.update(headers or {})
    c = connect(timeout, kubeconfig)
    events = []
    try:
        c.request("GET", path, headers=h)
        r = c.getresponse()
        if r.status != 200:
            raise AssertionError("watch %s -> %d %s" % (path, r.status, r.read()[:300]))
        while True:
            line = r.readline()
            if not line:
                break
            if not line.strip():
                continue
            ev = json.loads(line)
            events.append(ev)
            if max_events is not None and len(events) >= max_events:
                break
            if until is not None and until(ev):
                break
    finally:
        c.close()
    return events


_CREATE_PLURAL = {"Secret": "secrets", "ConfigMap": "configmaps", "Service": "services",
                  "Deployment": "deployments", "StatefulSet": "statefulsets",
                  "PersistentVolumeClaim": "persistentvolumeclaims",
                  "ServiceAccount": "serviceaccounts", "Job": "jobs"}


def create(objs):
    """Create namespaced fixture objects (a dict or a list of them) with one POST each on
    $KUBECONFIG's cluster without a kubectl process; an object that exists already, and
    kinds not in _CREATE_PLURAL, go through `kubectl apply` (so a caller keeps apply's
    semantics). AssertionError when the server refuses."""
    objs = objs if isinstance(objs, list) else [objs]
    for o in objs:
        plural = _CREATE_PLURAL.get(o["kind"])
        if plural is None:
            kubectl("apply", "-f", "-", input=o)
            continue
        group = "/api/v1" if o["apiVersion"] == "v1" else "/apis/" + o["apiVersion"]
        path = "%s/namespaces/%s/%s" % (group, urllib.parse.quote(o["metadata"]["namespace"]),
                                         plural)
        r = api("POST", path, o)
        if r.status == 409:
            kubectl("apply", "-f", "-", input=o)
        elif r.status != 201:
            raise AssertionError("create %s %s -> %d %s" % (o["kind"], o["metadata"]["name"],
                                                           r.status, r.body[:300]))


def unique_ns(prefix="t"):
    """Create a fresh namespace '<prefix>-<random>' and return its name."""
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    name = name.lower()[:63]
    # one POST, not a kubectl process (~0.15 s of CPU each; issue 9)
    r = api("POST", "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    if r.status != 201:
        raise AssertionError("create namespace %s -> %d %s" % (name, r.status, r.body[:300]))
    return name


def delete_ns(name):
    """Best-effort namespace removal (does not wait; a server that does not answer is
    ignored, as kubectl's failure was)."""
    try:
        api("DELETE", "/api/v1/namespaces/" + urllib.parse.quote(name))
    except OSError:
        pass


def data_path(*parts):
    """Path under e2e/kubesim/tests/data/."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", *parts)


class PrivateServer:
    """A second kubesim (no kubelet) on a free port with its own run dir, for tests that
    need server flags (small watch history, fast bookmarks). Use as a context manager;
    .kubeconfig is its kubeconfig path."""

    def __init__(self, *flags):
        self.flags = list(flags)
        self.dir = tempfile.mkdtemp(prefix="kubesim-private-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.proc = None

    def __enter__(self):
        server = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server.py")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, server, "--run-dir", self.dir, "--port", "0"]
                                     + self.flags, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.kubeconfig) and api("GET", "/version", kubeconfig=self.kubeconfig)
                 .status == 200, timeout=30, message="private kubesim to answer")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        _CONN.pop(self.kubeconfig, None)
        shutil.rmtree(self.dir, True)
