"""kubesim kubelet and workload controllers.

Plays, for the local test environment, the parts of a cluster that make workloads
real: the Deployment, StatefulSet and Job controllers and a kubelet that runs every
Pod's containers as local processes, each in a private mount namespace where the
Pod's volumes are bind-mounted at their mountPath.

It talks to the kubesim API server only over HTTPS with the bearer token, like a real
kubelet/controller manager: LIST+WATCH into small caches, then one reconcile loop.
On-disk layout (RUN_DIR/kubesim/, read by podexec.py and by scenarios):

  pods/<ns>/<pod>/uid                    uid of the Pod object owning this folder
  pods/<ns>/<pod>/ports.json             {"<container>/<containerPort>": hostPort, ...}
  pods/<ns>/<pod>/<ctr>.pid              "<pid> <starttime>" of the running process
  pods/<ns>/<pod>/<ctr>.env.json         the env the process was started with
  pods/<ns>/<pod>/<ctr>.spec.json        {"workingDir": ...}
  pods/<ns>/<pod>/<ctr>.log              stdout+stderr of the current/last run
  pods/<ns>/<pod>/<ctr>.previous.log     the run before (kubectl logs --previous)
  pods/<ns>/<pod>/volumes/<vol>/         emptyDir/secret/configMap backing folders
  pvc/<ns>/<claim>/                      persistentVolumeClaim backing folders
  services.json                          {"<svc>.<ns>.svc": "127.0.0.1:<port>", ...}

See KUBELET.md for the behaviour and its deliberate simplifications.
"""

import base64
import copy
import hashlib
import http.client
import json
import os
import random
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
POD_PATH = ":".join([
    os.path.join(REPO_ROOT, "bin"),
    os.path.join(REPO_ROOT, "e2e", "apps"),
    "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
])

API_BODY_MAX_BYTES = 64 << 20        # one LIST/GET answer
WATCH_LINE_MAX_BYTES = 16 << 20      # one watch event
API_TIMEOUT_SECONDS = 30
WATCH_TIMEOUT_SECONDS = 50           # asked of the server; the socket waits longer
RESTART_BACKOFF_BASE = 1.0           # container restart backoff (real kubelet: 10 s .. 5 min)
RESTART_BACKOFF_MAX = 10.0
JOB_RETRY_BACKOFF_BASE = 0.5         # Job pod re-creation backoff (real: 10 s .. 6 min)
JOB_RETRY_BACKOFF_MAX = 10.0
KILL_GRACE_MAX_SECONDS = 5.0         # cap on terminationGracePeriodSeconds
STOP_GRACE_SECONDS = 2.0             # Kubelet.stop(): TERM, then KILL after this
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
CURRENT_BASE = None                  # RUN_DIR/kubesim of the running Kubelet, for podexec


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _log(msg):
    sys.stderr.write("%s kubelet: %s\n" % (_now(), msg))
    sys.stderr.flush()


def _rand5():
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


def _hash10(obj):
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    h = hashlib.sha256(raw).hexdigest()
    # pod-template-hash values look like "5d9c7b8f6c": keep it to safe label chars
    return h[:10]


def _meta(o):
    return o.get("metadata") or {}


def _key(o):
    m = _meta(o)
    return (m.get("namespace") or "", m.get("name") or "")


def _rv_int(o):
    try:
        return int(_meta(o).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _proc_starttime(pid):
    """Field 22 of /proc/<pid>/stat, so a recycled PID is never mistaken for ours."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
        return data[data.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def read_pid_file(path):
    """Returns the pid recorded in a kubelet pid file if that process still lives, else None."""
    try:
        with open(path) as f:
            parts = f.read().split()
        pid, start = int(parts[0]), parts[1]
    except (OSError, ValueError, IndexError):
        return None
    if _proc_starttime(pid) != start:
        return None
    return pid


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _match_labels(selector, labels):
    """selector: a LabelSelector dict (matchLabels/matchExpressions) or a plain map."""
    if selector is None:
        return False
    labels = labels or {}
    if "matchLabels" in selector or "matchExpressions" in selector:
        ml = selector.get("matchLabels") or {}
        exprs = selector.get("matchExpressions") or []
    else:
        ml, exprs = selector, []
    if not ml and not exprs:
        return True
    for k, v in ml.items():
        if labels.get(k) != v:
            return False
    for e in exprs:
        op, k, vals = e.get("operator"), e.get("key"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def _expand(s, env):
    """Kubernetes $(VAR) expansion: $$ escapes, unknown references stay as written."""
    out, i = [], 0
    while i < len(s):
        if s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("$(", i) and ")" in s[i + 2:]:
            j = s.index(")", i + 2)
            name = s[i + 2:j]
            out.append(env[name] if name in env else s[i:j + 1])
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


class ApiError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        try:
            msg = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            msg = body[:200].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        super().__init__("HTTP %d: %s" % (status, msg))


class GoneError(Exception):
    pass


class ApiClient:
    """HTTPS + bearer token client for the kubesim API (stdlib only)."""

    def __init__(self, api_url, token, ca_file):
        u = urllib.parse.urlsplit(api_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 443
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def connect(self, timeout):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def headers(self, content_type=None):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json",
             "User-Agent": "kubesim-kubelet/1.32"}
        if content_type:
            h["Content-Type"] = content_type
        return h

    def request(self, method, path, body=None, content_type="application/json"):
        conn = self.connect(API_TIMEOUT_SECONDS)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers=self.headers(content_type if data is not None else None))
            resp = conn.getresponse()
            raw = resp.read(API_BODY_MAX_BYTES + 1)
            if len(raw) > API_BODY_MAX_BYTES:
                raise ApiError(resp.status, b"answer larger than API_BODY_MAX_BYTES")
            if resp.status >= 300:
                raise ApiError(resp.status, raw)
            return json.loads(raw) if raw else None
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def create(self, path, obj):
        return self.request("POST", path, obj)

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, path, body=None):
        try:
            return self.request("DELETE", path, body)
        except ApiError as e:
            if e.status == 404:
                return None
            raise


RESOURCES = {
    # name: (collection prefix, resource)
    "pods": ("/api/v1", "pods"),
    "services": ("/api/v1", "services"),
    "deployments": ("/apis/apps/v1", "deployments"),
    "statefulsets": ("/apis/apps/v1", "statefulsets"),
    "jobs": ("/apis/batch/v1", "jobs"),
    "persistentvolumeclaims": ("/api/v1", "persistentvolumeclaims"),
}


def obj_path(res, ns, name=None, sub=None):
    prefix, plural = RESOURCES.get(res, ("/api/v1", res))
    p = "%s/namespaces/%s/%s" % (prefix, urllib.parse.quote(ns), plural)
    if name:
        p += "/" + urllib.parse.quote(name)
    if sub:
        p += "/" + sub
    return p


class Informer(threading.Thread):
    """LIST then WATCH one resource across namespaces into a dict cache."""

    def __init__(self, kubelet, res):
        super().__init__(name="kubesim-informer-" + res, daemon=True)
        self.kl = kubelet
        self.res = res
        self.cache = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.conn = None
        self.ignored_uids = {}     # uid -> time: objects we deleted; ignore stale events

    def items(self):
        with self.lock:
            return list(self.cache.values())

    def get(self, ns, name):
        with self.lock:
            return self.cache.get((ns, name))

    def put(self, obj):
        """Store an object we just wrote, unless the cache already holds a newer one."""
        with self.lock:
            k = _key(obj)
            cur = self.cache.get(k)
            if cur is None or _rv_int(cur) <= _rv_int(obj):
                if _meta(obj).get("uid") not in self.ignored_uids or _meta(obj).get("deletionTimestamp"):
                    self.cache[k] = obj

    def forget(self, obj):
        with self.lock:
            k = _key(obj)
            cur = self.cache.get(k)
            uid = _meta(obj).get("uid")
            if cur is not None and _meta(cur).get("uid") == uid:
                del self.cache[k]
            if uid:
                self.ignored_uids[uid] = time.time()

    def run(self):
        prefix, plural = RESOURCES[self.res]
        path = "%s/%s" % (prefix, plural)
        delay = 0.2
        while not self.kl.stopping.is_set():
            try:
                lst = self.kl.api.get(path)
                with self.lock:
                    cutoff = time.time() - 60
                    self.ignored_uids = {u: t for u, t in self.ignored_uids.items() if t > cutoff}
                    self.cache = {_key(o): o for o in lst.get("items") or []
                                  if _meta(o).get("uid") not in self.ignored_uids
                                  or _meta(o).get("deletionTimestamp")}
                rv = (lst.get("metadata") or {}).get("resourceVersion") or "0"
                self.synced.set()
                self.kl.poke()
                delay = 0.2
                while not self.kl.stopping.is_set():
                    rv = self._watch(path, rv)
            except GoneError:
                continue
            except Exception as e:  # noqa: BLE001 - any failure: back off and relist
                if self.kl.stopping.is_set():
                    return
                _log("%s informer: %s (retry in %.1fs)" % (self.res, e, delay))
                self.kl.stopping.wait(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)

    def _watch(self, path, rv):
        conn = self.kl.api.connect(WATCH_TIMEOUT_SECONDS + 30)
        self.conn = conn
        try:
            q = urllib.parse.urlencode({"watch": "true", "resourceVersion": rv,
                                        "allowWatchBookmarks": "true",
                                        "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS)})
            conn.request("GET", path + "?" + q, headers=self.kl.api.headers())
            resp = conn.getresponse()
            if resp.status == 410:
                raise GoneError()
            if resp.status != 200:
                raise ApiError(resp.status, resp.read(4096))
            while not self.kl.stopping.is_set():
                line = resp.readline(WATCH_LINE_MAX_BYTES + 1)
                if not line:
                    return rv
                if len(line) > WATCH_LINE_MAX_BYTES:
                    raise ValueError("watch event larger than WATCH_LINE_MAX_BYTES")
                line = line.strip()
                if not line:
                    continue
                ev = json.loads(line)
                typ, obj = ev.get("type"), ev.get("object") or {}
                if typ == "ERROR":
                    if obj.get("code") == 410:
                        raise GoneError()
                    raise ApiError(obj.get("code") or 500, json.dumps(obj).encode())
                new_rv = _meta(obj).get("resourceVersion")
                if new_rv:
                    rv = new_rv
                if typ == "BOOKMARK":
                    continue
                with self.lock:
                    k = _key(obj)
                    uid = _meta(obj).get("uid")
                    if typ == "DELETED":
                        cur = self.cache.get(k)
                        if cur is not None and _meta(cur).get("uid") == uid:
                            del self.cache[k]
                    elif uid not in self.ignored_uids or _meta(obj).get("deletionTimestamp"):
                        cur = self.cache.get(k)
                        if cur is None or _rv_int(cur) <= _rv_int(obj):
                            self.cache[k] = obj
                self.kl.poke()
            return rv
        finally:
            self.conn = None
            conn.close()

    def interrupt(self):
        c = self.conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Container:
    """One container of one pod: its process, restarts and reported state."""

    def __init__(self, pod_rt, spec, init=False):
        self.rt = pod_rt
        self.spec = spec
        self.name = spec.get("name") or "main"
        self.init = init
        self.proc = None
        self.pid = None
        self.started_at = None
        self.restart_count = 0
        self.runs = 0
        self.exit_code = None       # of the last finished run
        self.finished_at = None
        self.last_terminated = None
        self.next_start = 0.0
        self.waiting = ("ContainerCreating", "")
        self.ready = False
        self.probe_ok = None
        self.done = False           # will not be started again
        self.start_epoch = None

    def path(self, suffix):
        return os.path.join(self.rt.dir, "%s.%s" % (self.name, suffix))

    def running(self):
        return self.proc is not None and self.exit_code is None and self.pid is not None

    def terminated_state(self):
        if self.finished_at is None:
            return None
        return {"exitCode": self.exit_code,
                "reason": "Completed" if self.exit_code == 0 else "Error",
                "startedAt": self.started_at, "finishedAt": self.finished_at,
                "containerID": "kubesim://%s/%d" % (self.rt.uid, self.pid or 0)}

    def status(self):
        st = {"name": self.name, "image": self.spec.get("image") or "",
              "imageID": "", "restartCount": self.restart_count,
              "ready": bool(self.running() and self.ready),
              "started": self.running()}
        if self.running():
            st["state"] = {"running": {"startedAt": self.started_at}}
            st["containerID"] = "kubesim://%s/%d" % (self.rt.uid, self.pid)
        elif self.finished_at is not None and (self.done or self.next_start == 0.0):
            st["state"] = {"terminated": self.terminated_state()}
            st["containerID"] = st["state"]["terminated"]["containerID"]
        else:
            reason, msg = self.waiting
            w = {"reason": reason}
            if msg:
                w["message"] = msg
            st["state"] = {"waiting": w}
        st["lastState"] = {"terminated": self.last_terminated} if self.last_terminated else {}
        return st


class PodRuntime:
    """Everything the kubelet keeps for one running Pod object."""

    def __init__(self, kubelet, pod):
        self.kl = kubelet
        m = _meta(pod)
        self.ns, self.name, self.uid = m.get("namespace") or "default", m["name"], m.get("uid") or ""
        self.dir = os.path.join(kubelet.base, "pods", self.ns, self.name)
        spec = pod.get("spec") or {}
        self.restart_policy = spec.get("restartPolicy") or "Always"
        self.init_containers = [Container(self, c, True) for c in spec.get("initContainers") or []]
        self.containers = [Container(self, c) for c in spec.get("containers") or []]
        self.start_time = _now()
        self.claims = {(self.ns, (v.get("persistentVolumeClaim") or {}).get("claimName"))
                       for v in spec.get("volumes") or [] if "persistentVolumeClaim" in v}
        self.owner_uid = next((r.get("uid") for r in m.get("ownerReferences") or [] if r.get("controller")), None)
        self.ports = {}
        self.killing = False
        self.failed_message = None
        if os.path.isdir(self.dir):
            subprocess.run(["rm", "-rf", self.dir], check=False)
        os.makedirs(os.path.join(self.dir, "volumes"), exist_ok=True)
        with open(os.path.join(self.dir, "uid"), "w") as f:
            f.write(self.uid)
        for c in self.init_containers + self.containers:
            for p in c.spec.get("ports") or []:
                if "containerPort" in p:
                    self.ports["%s/%s" % (c.name, p["containerPort"])] = _free_port()
        with open(os.path.join(self.dir, "ports.json"), "w") as f:
            json.dump(self.ports, f)

    def all(self):
        return self.init_containers + self.containers

    def host_port(self, target):
        """Host port of a containerPort given by number or name; None if not declared."""
        for c in self.all():
            for p in c.spec.get("ports") or []:
                if target == p.get("containerPort") or (target and target == p.get("name")) \
                        or str(target) == str(p.get("containerPort")):
                    return self.ports.get("%s/%s" % (c.name, p.get("containerPort")))
        return None


class Kubelet:
    def __init__(self, api_url, token, ca_file, run_dir):
        self.api = ApiClient(api_url, token, ca_file)
        self.token = token
        self.ca_file = ca_file
        self.base = os.path.join(os.path.abspath(run_dir), "kubesim")
        global CURRENT_BASE
        CURRENT_BASE = self.base
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.informers = {r: Informer(self, r) for r in RESOURCES}
        self.runtimes = {}            # (ns, name) -> PodRuntime
        self.rt_lock = threading.Lock()
        self.status_sent = {}         # (res, uid) -> json of last status patch
        self.finalized = set()        # pod uids we issued the final DELETE for
        self.job_next_create = {}     # job uid -> earliest time for the next retry pod
        self.job_failed_seen = {}     # job uid -> failures already given a backoff
        self.deploy_progress = {}     # deployment uid -> (template hash, time rollout began)
        self.services_json = None
        self.created_mountpoints = set()
        self.mp_lock = threading.Lock()
        self.loop_thread = None
        self.last_errors = {}
        self._pvcs_done = set()       # (ns, claim) PVC objects we created or found
        self.pvcs_seen = set()        # (ns, claim) PVC objects seen in the informer
        self.pvcs_gone = set()        # deleted PVCs whose folder waits for its pods to stop

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        os.makedirs(self.base, exist_ok=True)
        sweep(os.path.dirname(self.base))
        # kubesim's store lives in memory: a new server is a new cluster, so pod folders and
        # PVC storage of the previous one have no object any more
        for d in ("pods", "pvc"):
            subprocess.run(["rm", "-rf", os.path.join(self.base, d)], check=False)
            os.makedirs(os.path.join(self.base, d), exist_ok=True)
        sa = os.path.join(self.base, "serviceaccount")
        os.makedirs(sa, exist_ok=True)
        fd = os.open(os.path.join(sa, "token"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token)
        with open(self.ca_file, "rb") as src, open(os.path.join(sa, "ca.crt"), "wb") as dst:
            dst.write(src.read())
        self._write_services({})
        for inf in self.informers.values():
            inf.start()
        self.loop_thread = threading.Thread(target=self._loop, name="kubesim-kubelet", daemon=True)
        self.loop_thread.start()

    def stop(self):
        self.stopping.set()
        self.wake.set()
        for inf in self.informers.values():
            inf.interrupt()
        if self.loop_thread is not None:
            self.loop_thread.join(timeout=STOP_GRACE_SECONDS)
        with self.rt_lock:
            rts = list(self.runtimes.values())
            self.runtimes.clear()
        procs = []
        for rt in rts:
            for c in rt.all():
                if c.proc is not None and c.proc.poll() is None:
                    procs.append(c.proc)
        for p in procs:
            _killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + STOP_GRACE_SECONDS
        for p in procs:
            try:
                p.wait(timeout=max(0.05, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            _killpg(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        self._remove_mountpoints()

    def poke(self):
        self.wake.set()

    def _guard(self, kind, obj, fn, *args):
        """Runs one object's sync; a failure is logged (once per distinct message) and skipped."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - one bad object must not stall the others
            if self.stopping.is_set():
                return
            ns, name = _key(obj)
            msg = "%s %s/%s: %s" % (kind, ns, name, e)
            if self.last_errors.get((kind, ns, name)) != msg:
                self.last_errors[(kind, ns, name)] = msg
                _log(msg + ("\n" + traceback.format_exc() if not isinstance(e, ApiError) else ""))

    def _loop(self):
        while not self.stopping.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            if self.stopping.is_set():
                return
            if not all(i.synced.is_set() for i in self.informers.values()):
                continue
            for step in (self._sync_deployments, self._sync_statefulsets, self._sync_jobs,
                         self._sync_pods, self._sync_services, self._sync_pvcs):
                try:
                    step()
                except Exception:  # noqa: BLE001 - keep the loop alive, log the cause
                    if self.stopping.is_set():
                        return
                    _log("%s failed:\n%s" % (step.__name__, traceback.format_exc()))

    # ------------------------------------------------------------------ helpers

    def _pods_by_owner(self):
        out = {}
        for p in self.informers["pods"].items():
            for ref in _meta(p).get("ownerReferences") or []:
                if ref.get("controller"):
                    out.setdefault(ref.get("uid"), []).append(p)
        return out

    def _create(self, res, ns, obj):
        try:
            created = self.api.create(obj_path(res, ns), obj)
        except ApiError as e:
            if e.status != 409:
                raise
            _log("create %s %s/%s: already exists, waiting for the old one to go" % (res, ns, _meta(obj).get("name")))
            return obj
        if res in self.informers and created:
            self.informers[res].put(created)
        return created

    def _delete_pod(self, pod):
        ns, name = _key(pod)
        self.informers["pods"].forget(pod)
        self.api.delete(obj_path("pods", ns, name),
                        {"kind": "DeleteOptions", "apiVersion": "v1",
                         "preconditions": {"uid": _meta(pod).get("uid")}})
        self.poke()

    def _patch_status(self, res, obj, status):
        """Merge-patch .status when it differs from what the object (or our last write) says."""
        uid = _meta(obj).get("uid")
        cur = obj.get("status") or {}
        want = json.dumps(status, sort_keys=True)
        if all(cur.get(k) == v for k, v in status.items()) or self.status_sent.get((res, uid)) == want:
            return
        ns, name = _key(obj)
        try:
            updated = self.api.merge_patch(obj_path(res, ns, name, "status"), {"status": status})
            self.status_sent[(res, uid)] = want
            if updated and res in self.informers:
                self.informers[res].put(updated)
        except ApiError as e:
            if e.status != 404:
                _log("status of %s %s/%s: %s" % (res, ns, name, e))

    @staticmethod
    def _cond(old_status, ctype, status, reason, message, generation=None):
        """A condition keeping lastTransitionTime while its status does not change."""
        now = _now()
        prev = next((c for c in (old_status or {}).get("conditions") or [] if c.get("type") == ctype), None)
        c = {"type": ctype, "status": status, "reason": reason, "message": message,
             "lastTransitionTime": now}
        if prev and prev.get("status") == status:
            c["lastTransitionTime"] = prev.get("lastTransitionTime") or now
        if prev and prev.get("status") == status and prev.get("reason") == reason:
            if "lastUpdateTime" in prev:
                c["lastUpdateTime"] = prev["lastUpdateTime"]
        if generation is not None:
            c["observedGeneration"] = generation
        return c

    def _pod_ready(self, pod):
        st = pod.get("status") or {}
        for c in st.get("conditions") or []:
            if c.get("type") == "Ready":
                return c.get("status") == "True"
        return False

    def _new_pod(self, owner, owner_kind, owner_api, template, name, labels, ns):
        tmeta = copy.deepcopy((template or {}).get("metadata") or {})
        tmeta.pop("creationTimestamp", None)
        lab = dict(tmeta.get("labels") or {})
        lab.update(labels)
        meta = {"name": name, "namespace": ns, "labels": lab,
                "ownerReferences": [{"apiVersion": owner_api, "kind": owner_kind,
                                     "name": _meta(owner)["name"], "uid": _meta(owner)["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]}
        if tmeta.get("annotations"):
            meta["annotations"] = tmeta["annotations"]
        spec = copy.deepcopy((template or {}).get("spec") or {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("nodeName", "kubesim")
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

    # ------------------------------------------------------------------ Deployments

    def _sync_deployments(self):
        by_owner = self._pods_by_owner()
        for d in self.informers["deployments"].items():
            self._guard("deployment", d, self._sync_deployment, d, by_owner)

    def _sync_deployment(self, d, by_owner):
        m = _meta(d)
        if m.get("deletionTimestamp"):
            return
        spec = d.get("spec") or {}
        ns, uid, gen = m.get("namespace") or "default", m["uid"], m.get("generation") or 1
        replicas = spec.get("replicas", 1)
        h = _hash10(spec.get("template") or {})
        mine = [p for p in by_owner.get(uid, []) if not _meta(p).get("deletionTimestamp")]
        new = [p for p in mine if (_meta(p).get("labels") or {}).get("pod-template-hash") == h]
        old = [p for p in mine if p not in new]
        recreate = ((spec.get("strategy") or {}).get("type") == "Recreate")
        if not spec.get("paused"):
            if len(new) > replicas:
                extra = sorted(new, key=lambda p: (self._pod_ready(p), _meta(p).get("creationTimestamp") or ""))
                for p in extra[:len(new) - replicas]:
                    self._delete_pod(p)
                new = extra[len(new) - replicas:]
            ready_new = sum(1 for p in new if self._pod_ready(p))
            if recreate and old:
                for p in old:
                    self._delete_pod(p)
                old = []
            elif ready_new >= replicas and old:
                for p in old:
                    self._delete_pod(p)
                old = []
            if len(new) < replicas and not (recreate and self._owner_has_live_processes(uid)):
                for _ in range(replicas - len(new)):
                    name = "%s-%s-%s" % (m["name"], h, _rand5())
                    pod = self._new_pod(d, "Deployment", "apps/v1", spec.get("template"), name,
                                        {"pod-template-hash": h}, ns)
                    new.append(self._create("pods", ns, pod))
        mine = new + old
        ready = [p for p in mine if self._pod_ready(p)]
        updated = len(new)
        available = len(ready)
        old_st = d.get("status") or {}
        complete = updated == replicas and len(mine) == replicas and available >= replicas
        prog = self.deploy_progress.get(uid)
        if prog is None or prog[0] != h:
            prog = (h, time.time())
            self.deploy_progress[uid] = prog
        deadline = spec.get("progressDeadlineSeconds", 600)
        conds = [self._cond(old_st, "Available", "True" if available >= replicas else "False",
                            "MinimumReplicasAvailable" if available >= replicas else "MinimumReplicasUnavailable",
                            "Deployment has minimum availability." if available >= replicas
                            else "Deployment does not have minimum availability.")]
        if complete:
            conds.append(self._cond(old_st, "Progressing", "True", "NewReplicaSetAvailable",
                                    'ReplicaSet "%s-%s" has successfully progressed.' % (m["name"], h)))
        elif time.time() - prog[1] > deadline:
            conds.append(self._cond(old_st, "Progressing", "False", "ProgressDeadlineExceeded",
                                    'ReplicaSet "%s-%s" has timed out progressing.' % (m["name"], h)))
        else:
            conds.append(self._cond(old_st, "Progressing", "True", "ReplicaSetUpdated",
                                    'ReplicaSet "%s-%s" is progressing.' % (m["name"], h)))
        for c in conds:
            c.setdefault("lastUpdateTime", c["lastTransitionTime"])
        st = {"observedGeneration": gen, "replicas": len(mine), "updatedReplicas": updated,
              "readyReplicas": available, "availableReplicas": available,
              "unavailableReplicas": max(replicas - available, 0), "conditions": conds}
        self._patch_status("deployments", d, st)

    def _owner_has_live_processes(self, owner_uid):
        with self.rt_lock:
            return any(rt.owner_uid == owner_uid and rt.killing for rt in self.runtimes.values())

    # ------------------------------------------------------------------ StatefulSets

    def _ensure_pvc(self, ns, claim, tmpl, owner_labels):
        os.makedirs(os.path.join(self.base, "pvc", ns, claim), exist_ok=True)
        # the PVC object is best effort: the data lives in the folder either way
        if (ns, claim) in self._pvcs_done:
            return
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": claim, "namespace": ns, "labels": owner_labels},
               "spec": copy.deepcopy((tmpl or {}).get("spec") or {})}
        try:
            self.api.create(obj_path("persistentvolumeclaims", ns), pvc)
        except ApiError as e:
            if e.status not in (404, 409):
                _log("pvc %s/%s: %s" % (ns, claim, e))
        try:
            self.api.merge_patch(obj_path("persistentvolumeclaims", ns, claim, "status"),
                                 {"status": {"phase": "Bound", "accessModes": pvc["spec"].get("accessModes") or ["ReadWriteOnce"],
                                             "capacity": ((pvc["spec"].get("resources") or {}).get("requests") or {})}})
        except ApiError:
            pass
        self._pvcs_done.add((ns, claim))

    def _sync_statefulsets(self):
        by_owner = self._pods_by_owner()
        for s in self.informers["statefulsets"].items():
            self._guard("statefulset", s, self._sync_statefulset, s, by_owner)

    def _sync_statefulset(self, s, by_owner):
        m = _meta(s)
        if m.get("deletionTimestamp"):
            return
        spec = s.get("spec") or {}
        ns, uid, gen, sname = m.get("namespace") or "default", m["uid"], m.get("generation") or 1, m["name"]
        replicas = spec.get("replicas", 1)
        rev = "%s-%s" % (sname, _hash10(spec.get("template") or {}))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate"
        pods = {_meta(p)["name"]: p for p in by_owner.get(uid, [])}
        old_st = s.get("status") or {}
        terminating = any(_meta(p).get("deletionTimestamp") for p in pods.values())
        live = {n: p for n, p in pods.items() if not _meta(p).get("deletionTimestamp")}
        # scale up in ordinal order
        for i in range(replicas):
            pname = "%s-%d" % (sname, i)
            if pname in live:
                if not self._pod_ready(live[pname]) and not parallel:
                    break
                continue
            if terminating and not parallel:
                break
            if self._name_busy(ns, pname):
                break
            tmpl = copy.deepcopy(spec.get("template") or {})
            pspec = tmpl.setdefault("spec", {})
            vols = pspec.setdefault("volumes", [])
            for ct in spec.get("volumeClaimTemplates") or []:
                cname = (ct.get("metadata") or {}).get("name")
                claim = "%s-%s-%d" % (cname, sname, i)
                self._ensure_pvc(ns, claim, ct, (spec.get("selector") or {}).get("matchLabels") or {})
                vols[:] = [v for v in vols if v.get("name") != cname]
                vols.append({"name": cname, "persistentVolumeClaim": {"claimName": claim}})
            pspec.setdefault("hostname", pname)
            if spec.get("serviceName"):
                pspec.setdefault("subdomain", spec["serviceName"])
            pod = self._new_pod(s, "StatefulSet", "apps/v1", tmpl, pname,
                                {"controller-revision-hash": rev,
                                 "statefulset.kubernetes.io/pod-name": pname,
                                 "apps.kubernetes.io/pod-index": str(i)}, ns)
            live[pname] = self._create("pods", ns, pod)
            if not parallel:
                break
        # scale down, highest ordinal first
        extra = sorted((n for n in live if self._ordinal(sname, n) >= replicas),
                       key=lambda n: -self._ordinal(sname, n))
        for n in extra[: (len(extra) if parallel else 1)]:
            self._delete_pod(live.pop(n))
        # rolling update: highest ordinal first, one at a time, once all are ready
        want = ["%s-%d" % (sname, i) for i in range(replicas)]
        all_ready = all(n in live and self._pod_ready(live[n]) for n in want)
        if strategy == "RollingUpdate" and all_ready and not terminating and not extra:
            partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            for n in reversed(want):
                if self._ordinal(sname, n) < partition:
                    break
                if (_meta(live[n]).get("labels") or {}).get("controller-revision-hash") != rev:
                    self._delete_pod(live.pop(n))
                    break
        mine = list(live.values())
        updated = sum(1 for p in mine if (_meta(p).get("labels") or {}).get("controller-revision-hash") == rev)
        current_rev = old_st.get("currentRevision") or rev
        if updated == replicas and len(mine) == replicas:
            current_rev = rev
        current = sum(1 for p in mine if (_meta(p).get("labels") or {}).get("controller-revision-hash") == current_rev)
        ready = sum(1 for p in mine if self._pod_ready(p))
        st = {"observedGeneration": gen, "replicas": len(mine), "readyReplicas": ready,
              "availableReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
              "currentRevision": current_rev, "updateRevision": rev, "collisionCount": 0}
        self._patch_status("statefulsets", s, st)

    @staticmethod
    def _ordinal(sname, pname):
        try:
            return int(pname[len(sname) + 1:])
        except ValueError:
            return -1

    def _name_busy(self, ns, name):
        """A pod of that name is still terminating (its process has not exited yet)."""
        with self.rt_lock:
            rt = self.runtimes.get((ns, name))
        return rt is not None and rt.killing

    # ------------------------------------------------------------------ Jobs

    def _sync_jobs(self):
        by_owner = self._pods_by_owner()
        for j in self.informers["jobs"].items():
            self._guard("job", j, self._sync_job, j, by_owner)

    def _sync_job(self, j, by_owner):
        m = _meta(j)
        if m.get("deletionTimestamp"):
            return
        spec = j.get("spec") or {}
        ns, uid, jname = m.get("namespace") or "default", m["uid"], m["name"]
        old_st = j.get("status") or {}
        pods = [p for p in by_owner.get(uid, []) if not _meta(p).get("deletionTimestamp")]
        phase = lambda p: (p.get("status") or {}).get("phase")  # noqa: E731
        succeeded_pods = [p for p in pods if phase(p) == "Succeeded"]
        failed_pods = [p for p in pods if phase(p) == "Failed"]
        active = [p for p in pods if phase(p) not in ("Succeeded", "Failed")]
        restarts = sum(cs.get("restartCount", 0) for p in active
                       for cs in (p.get("status") or {}).get("containerStatuses") or [])
        completions = spec.get("completions")
        if completions is None:
            completions = 1
        parallelism = spec.get("parallelism", 1)
        backoff_limit = spec.get("backoffLimit", 6)
        indexed = spec.get("completionMode") == "Indexed"
        failed = len(failed_pods) + restarts
        done_idx = set()
        for p in succeeded_pods:
            ann = _meta(p).get("annotations") or {}
            if "batch.kubernetes.io/job-completion-index" in ann:
                done_idx.add(ann["batch.kubernetes.io/job-completion-index"])
        succeeded = len(done_idx) if indexed else len(succeeded_pods)
        finished = next((c for c in old_st.get("conditions") or []
                         if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"), None)
        conds = [c for c in old_st.get("conditions") or []]
        completion_time = old_st.get("completionTime")
        if finished is None:
            reason = None
            start = old_st.get("startTime")
            if succeeded >= completions:
                conds += [self._cond(old_st, "SuccessCriteriaMet", "True", "CompletionsReached",
                                     "Reached expected number of succeeded pods"),
                          self._cond(old_st, "Complete", "True", "CompletionsReached",
                                     "Reached expected number of succeeded pods")]
                completion_time = _now()
                reason = "done"
            elif failed > backoff_limit:
                conds += [self._cond(old_st, "FailureTarget", "True", "BackoffLimitExceeded",
                                     "Job has reached the specified backoff limit"),
                          self._cond(old_st, "Failed", "True", "BackoffLimitExceeded",
                                     "Job has reached the specified backoff limit")]
                reason = "failed"
            elif spec.get("activeDeadlineSeconds") and start and \
                    time.time() - _parse_time(start) > spec["activeDeadlineSeconds"]:
                conds += [self._cond(old_st, "Failed", "True", "DeadlineExceeded",
                                     "Job was active longer than specified deadline")]
                reason = "failed"
            if reason:
                for p in active:
                    self._delete_pod(p)
                active = []
            elif spec.get("suspend"):
                for p in active:
                    self._delete_pod(p)
                active = []
            else:
                if failed > self.job_failed_seen.get(uid, 0):
                    self.job_failed_seen[uid] = failed
                    delay = min(JOB_RETRY_BACKOFF_BASE * (2 ** (failed - 1)), JOB_RETRY_BACKOFF_MAX)
                    self.job_next_create[uid] = time.time() + delay
                want = min(parallelism, completions - succeeded) - len(active)
                if want > 0 and time.time() >= self.job_next_create.get(uid, 0):
                    busy = {(_meta(p).get("annotations") or {}).get("batch.kubernetes.io/job-completion-index")
                            for p in active}
                    free_idx = [str(i) for i in range(completions) if str(i) not in done_idx and str(i) not in busy]
                    for k in range(want):
                        labels = {"job-name": jname, "batch.kubernetes.io/job-name": jname,
                                  "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid}
                        tmpl = copy.deepcopy(spec.get("template") or {})
                        name = "%s-%s" % (jname, _rand5())
                        if indexed and k < len(free_idx):
                            idx = free_idx[k]
                            name = "%s-%s-%s" % (jname, idx, _rand5())
                            labels["batch.kubernetes.io/job-completion-index"] = idx
                            tm = tmpl.setdefault("metadata", {})
                            tm.setdefault("annotations", {})["batch.kubernetes.io/job-completion-index"] = idx
                            for c in (tmpl.get("spec") or {}).get("containers") or []:
                                c.setdefault("env", []).append({"name": "JOB_COMPLETION_INDEX", "value": idx})
                        pod = self._new_pod(j, "Job", "batch/v1", tmpl, name, labels, ns)
                        pod["spec"]["restartPolicy"] = pod["spec"].get("restartPolicy") \
                            if pod["spec"].get("restartPolicy") in ("Never", "OnFailure") else "Never"
                        active.append(self._create("pods", ns, pod))
                elif want > 0:
                    self.poke_later(self.job_next_create[uid] - time.time())
        elif finished is not None and active:
            for p in active:
                self._delete_pod(p)
            active = []
        st = {"active": len(active), "succeeded": succeeded, "failed": failed,
              "ready": sum(1 for p in active if self._pod_ready(p)), "terminating": 0,
              "uncountedTerminatedPods": {},
              "startTime": old_st.get("startTime") or _now(), "conditions": conds}
        if indexed:
            st["completedIndexes"] = ",".join(sorted(done_idx, key=int))
        if completion_time:
            st["completionTime"] = completion_time
        self._patch_status("jobs", j, st)
        ttl = spec.get("ttlSecondsAfterFinished")
        fin_c = next((c for c in conds if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"), None)
        if ttl is not None and fin_c is not None:
            if time.time() - _parse_time(fin_c.get("lastTransitionTime")) >= ttl:
                self.informers["jobs"].forget(j)
                self.api.delete(obj_path("jobs", ns, jname),
                                {"kind": "DeleteOptions", "apiVersion": "v1",
                                 "propagationPolicy": "Background"})
            else:
                self.poke_later(1.0)

    def poke_later(self, seconds):
        t = threading.Timer(max(0.05, seconds), self.poke)
        t.daemon = True
        t.start()

    # ------------------------------------------------------------------ Pods (the kubelet proper)

    def _sync_pods(self):
        seen = set()
        for pod in self.informers["pods"].items():
            seen.add(_key(pod))
            self._guard("pod", pod, self._sync_pod, pod)
        with self.rt_lock:
            gone = [rt for k, rt in self.runtimes.items() if k not in seen]
        for rt in gone:
            self._kill(rt)

    def _sync_pod(self, pod):
        m = _meta(pod)
        k = _key(pod)
        uid = m.get("uid")
        with self.rt_lock:
            rt = self.runtimes.get(k)
        if rt is not None and rt.uid != uid:
            self._kill(rt, wait=True)
            rt = None
        if m.get("deletionTimestamp"):
            if rt is not None:
                self._kill(rt)
            if rt is None or not any(c.running() for c in rt.all()):
                if not m.get("finalizers") and uid not in self.finalized:
                    self.finalized.add(uid)
                    self.api.delete(obj_path("pods", *k),
                                    {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                     "preconditions": {"uid": uid}})
            return
        phase = (pod.get("status") or {}).get("phase")
        if rt is None:
            if phase in ("Succeeded", "Failed"):
                return
            rt = PodRuntime(self, pod)
            with self.rt_lock:
                self.runtimes[k] = rt
        if rt.killing:
            return
        self._tick(rt, pod)
        self._patch_status("pods", pod, self._pod_status(rt, pod))

    def _tick(self, rt, pod):
        now = time.time()
        for c in rt.init_containers:
            if c.done and c.exit_code == 0:
                continue
            if c.running():
                return
            if c.done:          # init container failed for good
                return
            if now >= c.next_start:
                self._start(rt, c, pod)
            return
        for c in rt.containers:
            if c.running() or c.done:
                continue
            if now >= c.next_start:
                self._start(rt, c, pod)
            else:
                self.poke_later(c.next_start - now)

    def _on_exit(self, rt, c, proc):
        code = proc.wait()
        if code < 0:
            code = 128 - code
        c.ready = False
        try:
            os.unlink(c.path("pid"))
        except OSError:
            pass
        finished_at = _now()
        policy = rt.restart_policy
        restart = (policy == "Always" or (policy == "OnFailure" and code != 0)) and not rt.killing
        if c.init:
            restart = code != 0 and policy != "Never" and not rt.killing
        if restart:
            ran = time.time() - (c.start_epoch or time.time())
            if ran > 2 * RESTART_BACKOFF_MAX:
                c.runs = 1
            delay = min(RESTART_BACKOFF_BASE * (2 ** max(c.runs - 1, 0)), RESTART_BACKOFF_MAX)
            c.next_start = time.time() + delay
            c.waiting = ("CrashLoopBackOff", "back-off %ds restarting failed container=%s pod=%s_%s"
                         % (delay, c.name, rt.name, rt.ns))
            self.poke_later(delay)
        else:
            c.done = True
            c.next_start = 0.0
        # the loop thread reads these without a lock: publish the exit last
        c.finished_at = finished_at
        c.exit_code = code
        self.poke()

    def _start(self, rt, c, pod):
        spec = c.spec
        try:
            env = self._resolve_env(rt, c, pod)
        except ValueError as e:
            c.waiting = ("CreateContainerConfigError", str(e))
            c.next_start = time.time() + RESTART_BACKOFF_BASE
            self.poke_later(RESTART_BACKOFF_BASE)
            return
        argv = [_expand(a, env) for a in (spec.get("command") or []) + (spec.get("args") or [])]
        if not spec.get("command"):
            c.waiting = ("CreateContainerError",
                         'containers[%s].command is required: kubesim ignores images' % c.name)
            c.next_start = time.time() + RESTART_BACKOFF_MAX
            return
        try:
            mounts = self._prepare_mounts(rt, c, pod)
        except ValueError as e:
            c.waiting = ("CreateContainerConfigError", str(e))
            c.next_start = time.time() + RESTART_BACKOFF_BASE
            self.poke_later(RESTART_BACKOFF_BASE)
            return
        lines = ["set -e"]
        for src, dst, ro, is_file in mounts:
            self._note_mountpoint(dst, is_file)
            if is_file:
                lines.append("[ -e %s ] || { mkdir -p %s; : > %s; }" % (
                    shlex.quote(dst), shlex.quote(os.path.dirname(dst)), shlex.quote(dst)))
            else:
                lines.append("mkdir -p %s" % shlex.quote(dst))
            lines.append("mount --bind %s %s" % (shlex.quote(src), shlex.quote(dst)))
            if ro:
                lines.append("mount -o remount,bind,ro %s" % shlex.quote(dst))
        wd = spec.get("workingDir")
        if wd:
            lines.append("mkdir -p %s; cd %s" % (shlex.quote(wd), shlex.quote(wd)))
        lines.append('exec "$@"')
        cmd = ["unshare", "--mount", "--propagation", "private", "--",
               "/bin/sh", "-c", "\n".join(lines), "kubesim-pod"] + argv
        logp, prevp = c.path("log"), c.path("previous.log")
        if c.runs > 0 and os.path.exists(logp):
            os.replace(logp, prevp)
        with open(c.path("env.json"), "w") as f:
            json.dump(env, f)
        with open(c.path("spec.json"), "w") as f:
            json.dump({"workingDir": wd or "", "command": argv}, f)
        logf = open(logp, "ab")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    env=env, cwd="/", start_new_session=True, close_fds=True)
        except OSError as e:
            logf.close()
            c.waiting = ("RunContainerError", str(e))
            c.next_start = time.time() + RESTART_BACKOFF_MAX
            return
        logf.close()
        if c.runs > 0:
            c.restart_count += 1
            if c.finished_at is not None:
                c.last_terminated = c.terminated_state()
        c.runs += 1
        c.proc, c.pid = proc, proc.pid
        c.exit_code, c.finished_at = None, None
        c.started_at = _now()
        c.start_epoch = time.time()
        c.ready = "readinessProbe" not in spec
        with open(c.path("pid"), "w") as f:
            f.write("%d %s" % (proc.pid, _proc_starttime(proc.pid) or "0"))
        threading.Thread(target=self._on_exit, args=(rt, c, proc), daemon=True,
                         name="kubesim-wait-%s" % rt.name).start()
        if "readinessProbe" in spec and not c.init:
            threading.Thread(target=self._probe_loop, args=(rt, c, proc, env), daemon=True,
                             name="kubesim-probe-%s" % rt.name).start()

    def _probe_loop(self, rt, c, proc, env):
        pr = c.spec.get("readinessProbe") or {}
        period = max(float(pr.get("periodSeconds", 10)), 0.2)
        timeout = float(pr.get("timeoutSeconds", 1))
        need_ok, need_fail = pr.get("successThreshold", 1), pr.get("failureThreshold", 3)
        oks = fails = 0
        if self.stopping.wait(float(pr.get("initialDelaySeconds", 0))):
            return
        while proc.poll() is None and not self.stopping.is_set() and not rt.killing:
            ok = self._probe_once(rt, c, proc, env, pr, timeout)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            before = c.ready
            if ok and oks >= need_ok:
                c.ready = True
            elif not ok and (fails >= need_fail or not c.ready):
                c.ready = False
            if before != c.ready:
                self.poke()
            if self.stopping.wait(period):
                return

    def _probe_once(self, rt, c, proc, env, pr, timeout):
        try:
            if "exec" in pr:
                r = subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "-w", "--"]
                                   + list((pr["exec"] or {}).get("command") or []),
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=timeout)
                return r.returncode == 0
            if "httpGet" in pr:
                g = pr["httpGet"]
                port = rt.host_port(g.get("port"))
                if port is None:
                    return False
                url = "http://127.0.0.1:%d%s" % (port, g.get("path") or "/")
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    return 200 <= r.status < 400
            if "tcpSocket" in pr:
                port = rt.host_port(pr["tcpSocket"].get("port"))
                if port is None:
                    return False
                with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                    return True
        except (OSError, subprocess.TimeoutExpired, urllib.error.URLError, ValueError):
            return False
        return False

    def _get_ref(self, res, ns, name, key, optional, what):
        try:
            obj = self.api.get(obj_path(res, ns, name))
        except ApiError as e:
            if e.status == 404:
                if optional:
                    return None
                raise ValueError('%s "%s" not found' % (what, name))
            raise ValueError("%s %s: %s" % (what, name, e))
        if key is None:
            return obj
        if res == "secrets":
            data = obj.get("data") or {}
            if key in data:
                return base64.b64decode(data[key]).decode("utf-8", "replace")
            if key in (obj.get("stringData") or {}):
                return obj["stringData"][key]
        else:
            if key in (obj.get("data") or {}):
                return obj["data"][key]
            if key in (obj.get("binaryData") or {}):
                return base64.b64decode(obj["binaryData"][key]).decode("utf-8", "replace")
        if optional:
            return None
        raise ValueError("couldn't find key %s in %s %s/%s" % (key, what.capitalize(), ns, name))

    def _field(self, pod, path):
        m = _meta(pod)
        simple = {"metadata.name": m.get("name"), "metadata.namespace": m.get("namespace"),
                  "metadata.uid": m.get("uid"), "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                  "spec.nodeName": (pod.get("spec") or {}).get("nodeName") or "kubesim",
                  "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName") or "default"}
        if path in simple:
            return simple[path] or ""
        for prefix, src in (("metadata.labels", m.get("labels")), ("metadata.annotations", m.get("annotations"))):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return (src or {}).get(path[len(prefix) + 2:-2], "")
        raise ValueError("unsupported fieldRef fieldPath %s (kubesim supports metadata.name, "
                         "metadata.namespace, metadata.uid, metadata.labels[...], metadata.annotations[...], "
                         "status.podIP, status.hostIP, spec.nodeName, spec.serviceAccountName)" % path)

    def _resolve_env(self, rt, c, pod):
        """The container's environment, read afresh from the API (Secrets, ConfigMaps) at each start."""
        ns = rt.ns
        env = {"PATH": POD_PATH, "HOME": "/root", "HOSTNAME": (pod.get("spec") or {}).get("hostname") or rt.name,
               "KUBERNETES_SERVICE_HOST": self.api.host, "KUBERNETES_SERVICE_PORT": str(self.api.port)}
        first = True
        for p in c.spec.get("ports") or []:
            hp = rt.ports.get("%s/%s" % (c.name, p.get("containerPort")))
            if hp is None:
                continue
            if first:
                env["PORT"] = str(hp)
                first = False
            env["KUBESIM_PORT_%s" % p.get("containerPort")] = str(hp)
            if p.get("name"):
                env["KUBESIM_PORT_%s" % p["name"].upper().replace("-", "_")] = str(hp)
        for ef in c.spec.get("envFrom") or []:
            prefix = ef.get("prefix") or ""
            if "secretRef" in ef:
                ref = ef["secretRef"]
                obj = self._get_ref("secrets", ns, ref.get("name"), None, ref.get("optional"), "secret")
                for k, v in ((obj or {}).get("data") or {}).items():
                    env[prefix + k] = base64.b64decode(v).decode("utf-8", "replace")
            if "configMapRef" in ef:
                ref = ef["configMapRef"]
                obj = self._get_ref("configmaps", ns, ref.get("name"), None, ref.get("optional"), "configmap")
                for k, v in ((obj or {}).get("data") or {}).items():
                    env[prefix + k] = v
        for e in c.spec.get("env") or []:
            name = e.get("name")
            if "value" in e or "valueFrom" not in e:
                env[name] = _expand(str(e.get("value", "")), env)
                continue
            vf = e["valueFrom"] or {}
            val = None
            if "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                val = self._get_ref("secrets", ns, r.get("name"), r.get("key"), r.get("optional"), "secret")
            elif "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                val = self._get_ref("configmaps", ns, r.get("name"), r.get("key"), r.get("optional"), "configmap")
            elif "fieldRef" in vf:
                val = self._field(pod, (vf["fieldRef"] or {}).get("fieldPath", ""))
            elif "resourceFieldRef" in vf:
                val = "0"
            if val is not None:
                env[name] = val
        return env

    def _prepare_mounts(self, rt, c, pod):
        """[(host source, mountPath, readOnly, is_file)] for the container's volumeMounts."""
        vols = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
        out = []
        for vm in c.spec.get("volumeMounts") or []:
            vname, dst = vm.get("name"), vm.get("mountPath")
            if not dst or not dst.startswith("/"):
                raise ValueError("volumeMounts[%s].mountPath must be an absolute path" % vname)
            v = vols.get(vname)
            if v is None:
                raise ValueError('volumeMounts[%s]: no volume named "%s" in spec.volumes' % (vname, vname))
            src = self._volume_dir(rt, v)
            sub = vm.get("subPath")
            is_file = False
            if sub:
                src = os.path.join(src, sub)
                if not os.path.exists(src):
                    os.makedirs(src, exist_ok=True)
                is_file = os.path.isfile(src)
            out.append((src, dst, bool(vm.get("readOnly")), is_file))
        automount = (pod.get("spec") or {}).get("automountServiceAccountToken", True)
        if automount and not any(m[1] == SA_MOUNT for m in out):
            sa = os.path.join(rt.dir, "volumes", "kube-api-access")
            os.makedirs(sa, exist_ok=True)
            for f in ("token", "ca.crt"):
                with open(os.path.join(self.base, "serviceaccount", f), "rb") as s, \
                        open(os.path.join(sa, f), "wb") as d:
                    d.write(s.read())
            with open(os.path.join(sa, "namespace"), "w") as f:
                f.write(rt.ns)
            out.append((sa, SA_MOUNT, True, False))
        return out

    def _volume_dir(self, rt, v):
        name = v.get("name")
        if "persistentVolumeClaim" in v:
            claim = (v["persistentVolumeClaim"] or {}).get("claimName")
            if not claim:
                raise ValueError("volumes[%s].persistentVolumeClaim.claimName is required" % name)
            d = os.path.join(self.base, "pvc", rt.ns, claim)
            os.makedirs(d, exist_ok=True)
            return d
        d = os.path.join(rt.dir, "volumes", name)
        if "emptyDir" in v or "hostPath" not in v and not any(x in v for x in ("secret", "configMap", "projected")):
            os.makedirs(d, exist_ok=True)
            return d
        if "secret" in v or "configMap" in v:
            sv = v.get("secret") or v.get("configMap") or {}
            is_secret = "secret" in v
            ref = sv.get("secretName") if is_secret else sv.get("name")
            obj = self._get_ref("secrets" if is_secret else "configmaps", rt.ns, ref, None,
                                sv.get("optional"), "secret" if is_secret else "configmap")
            data = {}
            for k, val in ((obj or {}).get("data") or {}).items():
                data[k] = base64.b64decode(val) if is_secret else val.encode()
            for k, val in ((obj or {}).get("binaryData") or {}).items():
                data[k] = base64.b64decode(val)
            items = sv.get("items")
            if items:
                data = {it.get("path") or it["key"]: data[it["key"]] for it in items if it.get("key") in data}
            if os.path.isdir(d):
                subprocess.run(["rm", "-rf", d], check=False)
            os.makedirs(d, exist_ok=True)
            mode = sv.get("defaultMode", 0o644)
            for rel, blob in data.items():
                p = os.path.join(d, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(blob)
                os.chmod(p, mode)
            return d
        if "hostPath" in v:
            return (v["hostPath"] or {}).get("path") or "/"
        raise ValueError("volumes[%s]: unsupported volume type (kubesim supports emptyDir, "
                         "persistentVolumeClaim, secret, configMap, hostPath)" % name)

    def _note_mountpoint(self, dst, is_file):
        with self.mp_lock:
            # remember the first missing ancestor: that is what we will create on the host
            probe, missing = dst, None
            while probe != "/" and not os.path.exists(probe):
                missing = probe
                probe = os.path.dirname(probe)
            if missing and missing not in self.created_mountpoints:
                self.created_mountpoints.add(missing)
                # recorded on disk too, so `kubelet.py sweep` can tidy up after a crash
                with open(os.path.join(self.base, "mountpoints.txt"), "a") as f:
                    f.write(missing + "\n")

    def _remove_mountpoints(self):
        with self.mp_lock:
            remove_placeholders(self.base, self.created_mountpoints)
            self.created_mountpoints.clear()

    def _pod_status(self, rt, pod):
        old = pod.get("status") or {}
        init_ok = all(c.done and c.exit_code == 0 for c in rt.init_containers)
        cs = [c.status() for c in rt.containers]
        ics = [c.status() for c in rt.init_containers]
        failed_init = any(c.done and c.exit_code != 0 for c in rt.init_containers)
        if failed_init or (rt.containers and all(c.done for c in rt.containers)
                           and any(c.exit_code != 0 for c in rt.containers)):
            phase = "Failed"
        elif rt.containers and all(c.done for c in rt.containers):
            phase = "Succeeded"
        elif init_ok and all(c.runs > 0 for c in rt.containers):
            phase = "Running"
        else:
            phase = "Pending"
        ready = phase == "Running" and all(s["ready"] for s in cs)
        cready = "True" if ready else "False"
        conds = [self._cond(old, "PodReadyToStartContainers", "True", "", ""),
                 self._cond(old, "Initialized", "True" if init_ok else "False", "" if init_ok else "ContainersNotInitialized", ""),
                 self._cond(old, "Ready", cready, "" if ready else ("PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"), ""),
                 self._cond(old, "ContainersReady", cready, "" if ready else "ContainersNotReady", ""),
                 self._cond(old, "PodScheduled", "True", "", "")]
        for c in conds:
            for k in ("reason", "message"):
                if not c[k]:
                    del c[k]
            c["lastProbeTime"] = None
        st = {"phase": phase, "conditions": conds, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
              "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": old.get("startTime") or rt.start_time,
              "containerStatuses": cs, "qosClass": "BestEffort"}
        if ics:
            st["initContainerStatuses"] = ics
        return st

    def _kill(self, rt, wait=False):
        """Stop every process of a pod (process groups: TERM, then KILL after the grace period)."""
        with self.rt_lock:
            if self.runtimes.get((rt.ns, rt.name)) is rt and not rt.killing:
                rt.killing = True
            elif not rt.killing:
                rt.killing = True
        pod = self.informers["pods"].get(rt.ns, rt.name)
        grace = KILL_GRACE_MAX_SECONDS
        if pod is not None and _meta(pod).get("uid") == rt.uid:
            g = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if g is not None:
                grace = min(float(g), KILL_GRACE_MAX_SECONDS)

        def run():
            procs = [c.proc for c in rt.all() if c.proc is not None and c.proc.poll() is None]
            for p in procs:
                _killpg(p.pid, signal.SIGTERM)
            deadline = time.time() + grace
            for p in procs:
                try:
                    p.wait(timeout=max(0.05, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
            for p in procs:
                _killpg(p.pid, signal.SIGKILL)
                try:
                    p.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            # the folder goes before the runtime entry: a pod of the same name (StatefulSet)
            # is only started once the entry is gone, so it never sees its folder removed
            cur = self.informers["pods"].get(rt.ns, rt.name)
            if cur is None or _meta(cur).get("uid") != rt.uid:
                if os.path.isdir(rt.dir):
                    try:
                        with open(os.path.join(rt.dir, "uid")) as f:
                            mine = f.read() == rt.uid
                    except OSError:
                        mine = False
                    if mine:
                        subprocess.run(["rm", "-rf", rt.dir], check=False)
            with self.rt_lock:
                if self.runtimes.get((rt.ns, rt.name)) is rt:
                    del self.runtimes[(rt.ns, rt.name)]
            self.poke()

        if wait:
            run()
        elif not getattr(rt, "kill_started", False):
            rt.kill_started = True
            threading.Thread(target=run, daemon=True, name="kubesim-kill-%s" % rt.name).start()

    # ------------------------------------------------------------------ PVC storage

    def _sync_pvcs(self):
        """A PVC's folder goes when its object is deleted (seen before, gone now) and no pod uses it."""
        now = {_key(p) for p in self.informers["persistentvolumeclaims"].items()}
        self.pvcs_gone = (self.pvcs_gone | (self.pvcs_seen - now)) - now
        self.pvcs_seen = now
        gone = self.pvcs_gone
        if not gone:
            return
        used = set()
        for p in self.informers["pods"].items():
            for v in (p.get("spec") or {}).get("volumes") or []:
                claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
                if claim:
                    used.add((_meta(p).get("namespace") or "default", claim))
        with self.rt_lock:
            for rt in self.runtimes.values():      # includes pods still being killed
                used |= rt.claims
        for ns, claim in gone - used:
            self.pvcs_gone.discard((ns, claim))
            self._pvcs_done.discard((ns, claim))
            d = os.path.join(self.base, "pvc", ns, claim)
            if os.path.isdir(d):
                subprocess.run(["rm", "-rf", d], check=False)
            try:
                os.rmdir(os.path.join(self.base, "pvc", ns))
            except OSError:
                pass

    # ------------------------------------------------------------------ Services

    def _sync_services(self):
        pods = [p for p in self.informers["pods"].items()
                if not _meta(p).get("deletionTimestamp") and self._pod_ready(p)]
        mapping = {}
        for svc in self.informers["services"].items():
            m = _meta(svc)
            ns, name = m.get("namespace") or "default", m.get("name")
            spec = svc.get("spec") or {}
            sel = spec.get("selector")
            if not sel:
                continue
            cands = sorted((p for p in pods if (_meta(p).get("namespace") or "default") == ns
                            and _match_labels(sel, _meta(p).get("labels"))), key=lambda p: _meta(p)["name"])
            for p in cands:
                with self.rt_lock:
                    rt = self.runtimes.get(_key(p))
                if rt is None or rt.killing:
                    continue
                first = True
                for sp in spec.get("ports") or []:
                    target = sp.get("targetPort", sp.get("port"))
                    hp = rt.host_port(target)
                    if hp is None:
                        continue
                    addr = "127.0.0.1:%d" % hp
                    if first:
                        mapping["%s.%s.svc" % (name, ns)] = addr
                        first = False
                    mapping["%s.%s.svc:%s" % (name, ns, sp.get("port"))] = addr
                if not first:
                    break
        self._write_services(mapping)

    def _write_services(self, mapping):
        data = json.dumps(mapping, indent=1, sort_keys=True)
        if data == self.services_json:
            return
        path = os.path.join(self.base, "services.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(data + "\n")
        os.replace(tmp, path)
        self.services_json = data


def _parse_time(s):
    try:
        return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return time.time()


def remove_placeholders(base, paths):
    """Removes the empty mount-point placeholders a kubelet created on the host (listed in
    base/mountpoints.txt and `paths`), except those some process still has a mount on."""
    listed = set(paths)
    rec = os.path.join(base, "mountpoints.txt")
    try:
        with open(rec) as f:
            listed.update(line.strip() for line in f if line.strip().startswith("/"))
    except OSError:
        pass
    in_use = _mount_points_in_use()
    for p in sorted(listed, key=len, reverse=True):
        # Another kubesim's pods may still have something mounted there: removing the
        # placeholder would detach their mounts (Linux >= 3.18), so leave it.
        if any(m == p or m.startswith(p + "/") for m in in_use):
            continue
        # only the empty placeholders we created; never data
        if os.path.isfile(p) and os.path.getsize(p) == 0:
            os.unlink(p)
        elif os.path.isdir(p):
            subprocess.run(["find", p, "-depth", "-type", "d", "-empty", "-delete"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.unlink(rec)
    except OSError:
        pass


def _mount_points_in_use():
    """Every mount point seen in any process's mount namespace."""
    found = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/mountinfo" % d) as f:
                for line in f:
                    parts = line.split(" ", 5)
                    if len(parts) > 4:
                        found.add(parts[4].encode().decode("unicode_escape"))
        except OSError:
            continue
    return found


def _killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def sweep(run_dir):
    """Kill pod processes a previous kubesim left behind (recorded in pid files). Returns the count."""
    pods = os.path.join(os.path.abspath(run_dir), "kubesim", "pods")
    found = []
    for root, _dirs, files in os.walk(pods):
        for f in files:
            if f.endswith(".pid"):
                pid = read_pid_file(os.path.join(root, f))
                if pid is not None:
                    found.append(pid)
    for pid in found:
        _killpg(pid, signal.SIGTERM)
    deadline = time.time() + STOP_GRACE_SECONDS
    while time.time() < deadline and any(_proc_starttime(p) for p in found):
        time.sleep(0.05)
    for pid in found:
        _killpg(pid, signal.SIGKILL)
    deadline = time.time() + 1.0
    while time.time() < deadline and any(_proc_starttime(p) for p in found):
        time.sleep(0.05)
    remove_placeholders(os.path.join(os.path.abspath(run_dir), "kubesim"), ())
    return len(found)


if __name__ == "__main__":
    # `python3 kubelet.py sweep RUN_DIR`: for service.sh down, after the server is gone
    if len(sys.argv) == 3 and sys.argv[1] == "sweep":
        n = sweep(sys.argv[2])
        sys.stderr.write("kubesim kubelet sweep: %d leftover pod process(es) stopped\n" % n)
        sys.exit(0)
    sys.stderr.write("usage: kubelet.py sweep RUN_DIR\n")
    sys.exit(2)
