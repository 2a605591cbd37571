"""Scenario harness for the RestoreRequest end-to-end suites (issue 6).

Runs against the environment of `e2e/env.sh up` (source RUN_DIR/env.sh first): the real
control plane ($KUBECONFIG) and awssim ($AWS_ENDPOINT_URL, RDS instances are real PostgreSQL). Each test
class (a ScenarioCase) gets in setUpClass:
  - the CRDs applied, a fresh namespace,
  - its own bin/lifeboat-operator ($LIFEBOAT_BIN_DIR) limited to that namespace with
    --namespaces, with the env's KUBECONFIG and AWS variables and
    LIFEBOAT_SERVICE_MAP=$KUBE_SERVICE_MAP (the process kubelet's), logging to a file under
    RUN_DIR/restore/;
and helpers to seed a "production" RDS instance (small: a few thousand orders), the
master-credentials Secret, the Secret shop-secrets with ORDER_DATABASE_URL, the sample
service (e2e/apps/echo-env-app reading ORDER_DATABASE_URL, checking its database on
/health) and a writer that keeps inserting timestamped orders (e2e/fixtures/writer.py).
tearDownClass stops the writer and the operator and deletes everything the class created
(namespace, RDS instances, clusters and snapshots it recorded or that carry its tags).

Oracles are independent of the operator: the aws CLI (with --endpoint-url, aws-cli v1
needs it for rds), psql, kubectl and HTTP to the app. boto3 is used only for set-up and
for fast polling loops, never as the final word.
"""
import atexit
import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "kubesim", "tests"))
import kube  # noqa: E402  (kubesim's kubectl helpers: kubectl, kubectl_json, api, wait_for)
sys.path.insert(0, os.path.join(ROOT, "e2e", "lib"))
import operator_sa  # noqa: E402  (the operator as deploy/'s ServiceAccount)

import boto3  # noqa: E402

FIXTURES = os.path.join(ROOT, "e2e", "fixtures")
CRDS = os.path.join(ROOT, "crds")
# deny by default (DESIGN.md 3.4): the suites run as a single-team cluster
SINGLE_TEAM_SCOPE = os.path.join(ROOT, "deploy", "scopes", "single-team.yaml")
APP = os.path.join(ROOT, "e2e", "apps", "echo-env-app")
BIN_DIR = os.environ.get("LIFEBOAT_BIN_DIR") or os.path.join(ROOT, "bin")
OPERATOR_BIN = os.path.join(BIN_DIR, "lifeboat-operator")
GROUP_PATH = "/apis/lifeboat.dev/v1alpha1"

MASTER_USER = "shop_admin"
MASTER_PASSWORD = "shop-admin-pw-1"
DATABASE = "shop_orders"
SEED_ORDERS = 2000          # small on purpose: the suite must stay within minutes
RDS_WAIT_S = 120            # bound for any RDS transition we wait for
RR_WAIT_S = 120             # bound for a RestoreRequest to reach a phase
CMD_TIMEOUT_S = 120
TERMINAL = ("Succeeded", "Failed", "RolledBack", "Planned")
MAX_LOG_TAIL = 4000         # characters of the operator log quoted in a failure


_CHILDREN = []   # operators and writers started by this process, stopped at exit


def _stop_children():
    for c in _CHILDREN:
        try:
            c.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _on_term(signo, _frame):
    sys.exit(128 + signo)   # runs atexit: no operator or writer outlives a killed run


atexit.register(_stop_children)
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_term)


def run_dir():
    d = os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(ROOT, "e2e", ".run")
    d = os.path.join(d, "restore")
    os.makedirs(d, exist_ok=True)
    return d


def require_env():
    missing = [k for k in ("KUBECONFIG", "AWS_ENDPOINT_URL") if not os.environ.get(k)]
    if not os.environ.get("KUBE_SERVICE_MAP") or not os.environ.get("CONTROLPLANE_RUN_DIR"):
        missing.append("KUBE_SERVICE_MAP and CONTROLPLANE_RUN_DIR (the real control plane)")
    if missing:
        raise AssertionError("environment not set (%s): run e2e/env.sh up and source "
                             "RUN_DIR/env.sh" % ", ".join(missing))
    if not os.access(OPERATOR_BIN, os.X_OK):
        raise AssertionError("%s is missing: run make first" % OPERATOR_BIN)


def suffix():
    return uuid.uuid4().hex[:6]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc_now():
    return dt.datetime.now(dt.timezone.utc)


def parse_time(ts):
    """RFC 3339 (Z or offset, optional fraction) -> aware datetime."""
    if isinstance(ts, dt.datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ processes, aws, psql
def run(args, env=None, check=True, input_text=None, timeout=CMD_TIMEOUT_S):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run(args, capture_output=True, text=True, env=full, input=input_text,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(args), p.returncode, p.stderr,
                                                      p.stdout))
    return p


def aws(*args, check=True):
    """The real aws CLI, JSON output parsed (None for empty output). rds gets
    --endpoint-url: aws-cli v1 pins rds in us-east-1 to rds.amazonaws.com otherwise."""
    cmd = ["aws"]
    if args and args[0] == "rds":
        cmd += ["--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]
    cmd += list(args) + ["--output", "json"]
    p = run(cmd, check=check)
    if not check:
        return p
    return json.loads(p.stdout) if p.stdout.strip() else None


def cli_instances():
    """{id: DBInstance} of every instance, through the aws CLI."""
    return {d["DBInstanceIdentifier"]: d
            for d in aws("rds", "describe-db-instances")["DBInstances"]}


def cli_snapshots():
    """{id: DBSnapshot} of every instance snapshot, through the aws CLI."""
    return {s["DBSnapshotIdentifier"]: s
            for s in aws("rds", "describe-db-snapshots")["DBSnapshots"]}


def cli_clusters():
    return {c["DBClusterIdentifier"]: c for c in aws("rds", "describe-db-clusters")["DBClusters"]}


def cli_tags(arn):
    return {t["Key"]: t["Value"]
            for t in aws("rds", "list-tags-for-resource", "--resource-name", arn)["TagList"]}


def rds():
    return boto3.client("rds", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def psql(port, sql, user=MASTER_USER, password=MASTER_PASSWORD, db=DATABASE,
         host="127.0.0.1", check=True):
    """psql -At -c SQL; stdout stripped (or the CompletedProcess with check=False)."""
    p = run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port),
             "-U", user, "-d", db, "-c", sql],
            env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}, check=check)
    return p.stdout.strip() if check else p


def psql_url(url, sql, check=True):
    p = run(["psql", url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={"PGCONNECT_TIMEOUT": "5"}, check=check)
    return p.stdout.strip() if check else p


def load_fixtures(port, orders=SEED_ORDERS, user=MASTER_USER, password=MASTER_PASSWORD,
                  db=DATABASE):
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
         "-U", user, "-d", db, "-f", os.path.join(FIXTURES, "orders_schema.sql"),
         "-v", "orders=%d" % orders, "-v", "users=200", "-v", "tenants=10", "-v", "loans=100",
         "-f", os.path.join(FIXTURES, "orders_data.sql")],
        env={"PGPASSWORD": password})


def wait_rds(fn, what, timeout=RDS_WAIT_S, interval=0.2):
    """Poll fn() (boto3) until truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - not found yet etc.
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ds waiting for %s (last: %r)" % (timeout, what, last))


def instance_status(ident):
    try:
        return rds().describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0][
            "DBInstanceStatus"]
    except rds().exceptions.DBInstanceNotFoundFault:
        return None


def wait_instance_available(ident, timeout=RDS_WAIT_S):
    return wait_rds(lambda: instance_status(ident) == "available", ident + " available",
                    timeout)


def wait_snapshot_available(snap, timeout=RDS_WAIT_S):
    return wait_rds(lambda: rds().describe_db_snapshots(DBSnapshotIdentifier=snap)[
        "DBSnapshots"][0]["Status"] == "available", "snapshot %s available" % snap, timeout)


def wait_restorable(t, instance=None, cluster=None, timeout=30):
    """Waits until the source's LatestRestorableTime (the last archived commit) is at or
    after t, so that t lies in the restorable window when the request is validated."""
    def ok():
        r = rds()
        if cluster:
            d = r.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
        else:
            d = r.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
        lrt = d.get("LatestRestorableTime")
        return lrt is not None and parse_time(lrt) >= t
    return wait_rds(ok, "LatestRestorableTime >= %s" % rfc3339(t), timeout)


def instance_port(ident):
    return rds().describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0][
        "Endpoint"]["Port"]


def create_source_instance(ident, orders=SEED_ORDERS):
    """A seeded "production" instance (postgres, master shop_admin, db shop_orders, the
    fixtures' schema and data) as e2e/fixtures/seed.sh makes shop-orders-prod. Returns its
    port."""
    rds().create_db_instance(
        DBInstanceIdentifier=ident, Engine="postgres", DBInstanceClass="db.t3.medium",
        MasterUsername=MASTER_USER, MasterUserPassword=MASTER_PASSWORD, DBName=DATABASE,
        AllocatedStorage=20, Tags=[{"Key": "env", "Value": "production"}])
    wait_instance_available(ident)
    port = instance_port(ident)
    load_fixtures(port, orders)
    return port


def create_source_cluster(ident, orders=SEED_ORDERS):
    """An Aurora PostgreSQL cluster with its writer, seeded. Returns the cluster port."""
    r = rds()
    r.create_db_cluster(DBClusterIdentifier=ident, Engine="aurora-postgresql",
                        MasterUsername=MASTER_USER, MasterUserPassword=MASTER_PASSWORD,
                        DatabaseName=DATABASE)
    r.create_db_instance(DBInstanceIdentifier=ident + "-writer", DBClusterIdentifier=ident,
                         DBInstanceClass="db.r6g.large", Engine="aurora-postgresql")
    wait_rds(lambda: r.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0][
        "Status"] == "available", "cluster %s available" % ident)
    wait_instance_available(ident + "-writer")
    port = r.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]["Port"]
    load_fixtures(port, orders)
    return port


def delete_instance_quietly(ident):
    try:
        rds().delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
    except Exception:  # noqa: BLE001 - best-effort clean-up
        pass


def delete_snapshot_quietly(snap):
    try:
        rds().delete_db_snapshot(DBSnapshotIdentifier=snap)
    except Exception:  # noqa: BLE001
        pass


def delete_cluster_quietly(ident):
    r = rds()
    try:
        members = r.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0].get(
            "DBClusterMembers", [])
    except Exception:  # noqa: BLE001
        return
    for m in members:
        delete_instance_quietly(m["DBInstanceIdentifier"])
    deadline = time.monotonic() + 30
    for m in members:
        while time.monotonic() < deadline and instance_status(m["DBInstanceIdentifier"]):
            time.sleep(0.2)
    try:
        r.delete_db_cluster(DBClusterIdentifier=ident, SkipFinalSnapshot=True)
    except Exception:  # noqa: BLE001
        pass


def owned_instances(uid):
    """Instance ids whose tags carry lifeboat.dev/uid=<uid> (aws CLI)."""
    out = []
    for ident, d in cli_instances().items():
        if cli_tags(d["DBInstanceArn"]).get("lifeboat.dev/uid") == uid:
            out.append(ident)
    return sorted(out)


# ------------------------------------------------------------------------ the writer
class Writer:
    """e2e/fixtures/writer.py in the background: one committed order per interval, each
    printed as "<id> <created_at>"; .rows holds [(id, datetime)] as they commit."""

    def __init__(self, port, interval=0.4, user=MASTER_USER, password=MASTER_PASSWORD,
                 db=DATABASE):
        self.rows = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(FIXTURES, "writer.py"), "--port", str(port),
             "--user", user, "--dbname", db, "--interval", str(interval)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PGPASSWORD=password), start_new_session=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        _CHILDREN.append(self)

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                with self._lock:
                    self.rows.append((int(parts[0]), parse_time(parts[1])))

    def snapshot(self):
        with self._lock:
            return list(self.rows)

    def wait_rows(self, n, timeout=30):
        kube.wait_for(lambda: len(self.snapshot()) >= n, timeout=timeout,
                      message="writer rows >= %d" % n)
        return self.snapshot()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)
        return self.snapshot()


def pick_restore_time(rows, margin_s=0.08, after=0):
    """A whole-second time T with a writer row committed at least margin_s before it and
    the next row at least margin_s after it (whole seconds so the result does not depend
    on how the operator handles fractions). Returns (T, index of the last row before T).
    Considers rows from index `after` on."""
    for k in range(max(after, 0), len(rows) - 1):
        t0, t1 = rows[k][1], rows[k + 1][1]
        sec = (t0 + dt.timedelta(seconds=1)).replace(microsecond=0)
        if (sec - t0).total_seconds() >= margin_s and (t1 - sec).total_seconds() >= margin_s:
            return sec, k
    raise AssertionError("no whole second between two writer rows (%d rows)" % len(rows))


def writer_restore_time(writer, after=2, rows_after=3, timeout=30):
    """Waits for writer rows until pick_restore_time finds T, then until rows_after rows
    were committed after T. Returns (T, k)."""
    deadline = time.monotonic() + timeout
    n = after + 2
    while True:
        rows = writer.wait_rows(n, timeout=max(1, deadline - time.monotonic()))
        try:
            t, k = pick_restore_time(rows, after=after)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            n = len(rows) + 1
    writer.wait_rows(k + 1 + rows_after, timeout=max(1, deadline - time.monotonic()))
    return t, k


# ----------------------------------------------------------------------- the operator
def service_map_path():
    """The Service name -> 127.0.0.1:<port> map the control plane's process kubelet
    keeps ($KUBE_SERVICE_MAP)."""
    return os.environ["KUBE_SERVICE_MAP"]


def kubelet_dir():
    """The folder the control plane's process kubelet keeps its pods in
    (pods/<ns>/<pod>/<container>.pid, .log)."""
    return os.path.join(os.environ["CONTROLPLANE_RUN_DIR"], "controlplane")


def claim_path(ns, claim, timeout=120):
    """The host folder backing PersistentVolumeClaim ns/claim, once it is bound: the
    hostPath of its PersistentVolume (the control plane's provisioner binds claims
    asynchronously)."""
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/" + claim, "-n", ns,
                 "--timeout=%ds" % timeout, timeout=timeout + 30)
    volume = kube.kubectl_json("get", "pvc", claim, "-n", ns)["spec"]["volumeName"]
    return kube.kubectl_json("get", "pv", volume)["spec"]["hostPath"]["path"]


def operator_kubeconfig():
    """$LIFEBOAT_OPERATOR_KUBECONFIG, else a kubeconfig of deploy/'s ServiceAccount
    (e2e/lib/operator_sa.py)."""
    return operator_sa.kubeconfig()


class Operator:
    """One bin/lifeboat-operator process for one namespace, log appended to one file."""

    def __init__(self, ns, log_path):
        self.ns = ns
        self.log_path = log_path
        self.proc = None
        self.health_port = None
        self.metrics_port = None
        self.starts = 0
        self.extra_args = []
        _CHILDREN.append(self)

    def start(self, wait_ready=True):
        self.health_port, self.metrics_port = free_port(), free_port()
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("LIFEBOAT_") and k not in ("LIFEBOAT_RUN_DIR", "LIFEBOAT_BIN_DIR"):
                del env[k]
        env["LIFEBOAT_SERVICE_MAP"] = service_map_path()
        log = open(self.log_path, "ab")
        log.write(("--- start %d at %s\n" % (self.starts + 1, rfc3339(utc_now()))).encode())
        log.flush()
        self.proc = subprocess.Popen(
            [OPERATOR_BIN, "--kubeconfig", operator_kubeconfig(), "--namespaces", self.ns,
             "--metrics-addr", "127.0.0.1:%d" % self.metrics_port,
             "--health-addr", "127.0.0.1:%d" % self.health_port,
             "--log-format", "json", "--log-level", "debug",
             # local PostgreSQL has no TLS; Services are processes on 127.0.0.1
             "--sql-sslmode", "disable", "--http-check-allow-loopback"] + list(self.extra_args),
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.starts += 1
        if wait_ready:
            kube.wait_for(lambda: http_get(self.health_port, "/readyz")[0] == 200, timeout=30,
                          message="lifeboat-operator /readyz")
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
        if self.proc:
            self.proc.wait(10)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def cpu_ticks(self):
        """utime + stime of the process (clock ticks), from /proc/<pid>/stat."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def metrics(self):
        status, body = http_get(self.metrics_port, "/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %s" % status)
        return body

    def log_tail(self, n=MAX_LOG_TAIL):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


def http_get(port, path, timeout=3, host="127.0.0.1"):
    """(status, body) of GET http://host:port/path; (0, error) when nothing answers."""
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


# ------------------------------------------------------------------------ kube bits
def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def db_url(port, host="127.0.0.1", user=MASTER_USER, password=MASTER_PASSWORD, db=DATABASE):
    return "postgresql://%s:%s@%s:%d/%s" % (user, password, host, port, db)


def url_port(url):
    m = re.match(r"^postgres(?:ql)?://[^@]*@([^:/]+):(\d+)/", url)
    if not m:
        raise AssertionError("not a postgresql URL with host:port (value not shown)")
    return m.group(1), int(m.group(2))


def secret_value(ns, name, key):
    obj = kube.kubectl_json("get", "secret", name, "-n", ns)
    return unb64(obj["data"][key])


def deployment_manifest(ns, name, secret="shop-secrets", key="ORDER_DATABASE_URL",
                        ready_file=None, ready_sql=None, progress_deadline=None):
    """The sample service: echo-env-app serving $ORDER_DATABASE_URL (from the Secret) and
    checking that database on /health; readiness on /health (or on /ready with
    READY_FILE for a workload that never becomes ready, or an exec probe that runs
    ready_sql through psql on $key and needs a row back)."""
    env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}},
           {"name": "ECHO_VAR", "value": key},
           {"name": "DB_URL_VAR", "value": key}]
    probe_path = "/health"
    if ready_file:
        env.append({"name": "READY_FILE", "value": ready_file})
        probe_path = "/ready"
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{
                "name": "app", "image": "shop/%s:1.0" % name, "command": [APP],
                "ports": [{"containerPort": 8080, "name": "http"}], "env": env,
                "readinessProbe": {"httpGet": {"path": probe_path, "port": "http"},
                                   "periodSeconds": 1, "failureThreshold": 1,
                                   "timeoutSeconds": 5}}]},
        },
    }
    # timeoutSeconds 5: /health queries the database; on a loaded 2-core machine that takes
    # seconds, and the API server's default (1 s) would make readiness flap
    probe = {"httpGet": {"path": probe_path, "port": "http"}, "periodSeconds": 1,
             "failureThreshold": 1, "timeoutSeconds": 5}
    if ready_sql:
        probe = {"exec": {"command": [
            "sh", "-c", 'psql "$%s" -XtAc "%s" | grep -q .' % (key, ready_sql)]},
            "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 5}
    spec["template"]["spec"]["containers"][0]["readinessProbe"] = probe
    if progress_deadline:
        spec["progressDeadlineSeconds"] = progress_deadline
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": ns}, "spec": spec},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]}},
    ]


def service_address(ns, name):
    """127.0.0.1:<port> of the Service's first ready pod (the process kubelet's map)."""
    path = service_map_path()
    try:
        with open(path) as f:
            return json.load(f).get("%s.%s.svc" % (name, ns))
    except (OSError, ValueError):
        return None


def app_get(ns, name, path="/"):
    addr = service_address(ns, name)
    if not addr:
        return 0, "no ready pod behind service %s/%s" % (ns, name)
    host, port = addr.split(":")
    return http_get(int(port), path, host=host)


def app_info(ns, name):
    status, body = app_get(ns, name, "/")
    if status != 200:
        raise AssertionError("GET / of %s answered %s: %s" % (name, status, body[:200]))
    return json.loads(body)


# ------------------------------------------------------------------------ the test case
_crds_applied = False


class ScenarioCase(unittest.TestCase):
    """Base class: namespace + operator per class, clean-up of everything recorded."""

    operator_autostart = True

    @classmethod
    def setUpClass(cls):
        global _crds_applied
        require_env()
        if not _crds_applied:
            kube.kubectl("apply", "-f", CRDS)
            kube.kubectl("wait", "--for=condition=Established", "--timeout=30s", "-f", CRDS)
            kube.kubectl("apply", "-f", SINGLE_TEAM_SCOPE)
            _crds_applied = True
        cls.ns = kube.unique_ns("rr")
        cls.instances, cls.snapshots, cls.clusters, cls.uids = [], [], [], []
        cls.writers = []
        cls.operator = Operator(cls.ns, os.path.join(run_dir(), "operator-%s.log" % cls.ns))
        cls.phase_log = []
        try:
            if cls.operator_autostart:
                cls.operator.start()
            cls.scenario()
        except BaseException:
            cls.tearDownClass()   # unittest does not call it when setUpClass raises
            raise

    @classmethod
    def scenario(cls):
        """Subclasses build their scenario here (inside setUpClass's clean-up guard)."""

    @classmethod
    def tearDownClass(cls):
        for w in cls.writers:
            w.stop()
        if cls.operator:
            cls.operator.stop()
        cls.cleanup_aws()
        kube.delete_ns(cls.ns)

    @classmethod
    def cleanup_aws(cls):
        """Delete what this class created: recorded ids plus anything tagged with the uid
        of one of its RestoreRequests (renamed copies, final snapshots)."""
        r = rds()
        try:
            insts = r.describe_db_instances()["DBInstances"]
            snaps = r.describe_db_snapshots()["DBSnapshots"]
        except Exception:  # noqa: BLE001
            insts, snaps = [], []
        ours = set(cls.instances)
        for d in insts:
            tags = {t["Key"]: t["Value"] for t in d.get("TagList", [])}
            if tags.get("lifeboat.dev/uid") in cls.uids:
                ours.add(d["DBInstanceIdentifier"])
            for base in cls.instances:
                if d["DBInstanceIdentifier"].startswith(base + "-old-"):
                    ours.add(d["DBInstanceIdentifier"])
        for c in cls.clusters:
            delete_cluster_quietly(c)
        for ident in ours:
            delete_instance_quietly(ident)
        for s in snaps:
            if (s["DBSnapshotIdentifier"] in cls.snapshots
                    or s.get("DBInstanceIdentifier") in ours
                    or any(s.get("DBInstanceIdentifier", "").startswith(b + "-old-")
                           for b in cls.instances)):
                if s.get("SnapshotType") != "automated":
                    delete_snapshot_quietly(s["DBSnapshotIdentifier"])

    # -- set-up helpers ---------------------------------------------------------------
    @classmethod
    def seed_instance(cls, ident, orders=SEED_ORDERS):
        cls.instances.append(ident)
        return create_source_instance(ident, orders)

    @classmethod
    def seed_cluster(cls, ident, orders=SEED_ORDERS):
        cls.clusters.append(ident)
        return create_source_cluster(ident, orders)

    @classmethod
    def start_writer(cls, port, interval=0.4):
        w = Writer(port, interval)
        cls.writers.append(w)
        return w

    @classmethod
    def create_secrets(cls, port, admin="orders-db-admin", shop="shop-secrets"):
        kube.create([
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": admin, "namespace": cls.ns},
             "type": "Opaque", "data": {"username": b64(MASTER_USER),
                                        "password": b64(MASTER_PASSWORD)}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": shop, "namespace": cls.ns},
             "type": "Opaque", "data": {"ORDER_DATABASE_URL": b64(db_url(port)),
                                        "JWT_SECRET": b64("not-part-of-the-restore")}},
        ])

    @classmethod
    def create_service(cls, name, wait=True, **kw):
        kube.create(deployment_manifest(cls.ns, name, **kw))
        if wait:
            kube.kubectl("rollout", "status", "deployment/" + name, "-n", cls.ns,
                         "--timeout=60s", timeout=90)
            kube.wait_for(lambda: app_get(cls.ns, name, "/health")[0] == 200, timeout=30,
                          message="%s /health 200" % name)

    # -- RestoreRequests ----------------------------------------------------------------
    def rr_manifest(self, name, items, rollout=None, approval=True, dry_run=False,
                    rollback=True, verification=None):
        spec = {"approval": {"required": approval}, "rollbackOnFailure": rollback,
                "items": items}
        if dry_run:
            spec["dryRun"] = True
        if rollout:
            spec["rollout"] = [{"kind": "Deployment", "name": n} for n in rollout]
        if verification:
            spec["verification"] = verification
        return {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "RestoreRequest",
                "metadata": {"name": name, "namespace": self.ns}, "spec": spec}

    def apply_rr(self, manifest):
        kube.kubectl("apply", "-f", "-", input=manifest)
        obj = self.rr(manifest["metadata"]["name"])
        type(self).uids.append(obj["metadata"]["uid"])
        return obj

    def rr(self, name):
        r = kube.api("GET", "%s/namespaces/%s/restorerequests/%s" % (GROUP_PATH, self.ns, name))
        if r.status != 200:
            raise AssertionError("GET rr/%s -> %d %s" % (name, r.status, r.body[:200]))
        return r.json()

    def describe_rr(self, obj):
        st = obj.get("status", {})
        lines = ["phase=%s currentStep=%s message=%s" % (st.get("phase"), st.get("currentStep"),
                                                         st.get("message"))]
        for s in st.get("steps", []):
            lines.append("  %-45s %-10s %s..%s x%s %s" % (
                s.get("name"), s.get("phase"), s.get("startedAt"), s.get("finishedAt"),
                s.get("attempts"), (s.get("message") or "")[:300]))
        lines.append("  conditions: %s" % json.dumps(st.get("conditions", []))[:1500])
        lines.append("  outputs: %s" % json.dumps(st.get("outputs", [])))
        ann = {k: v for k, v in obj.get("metadata", {}).get("annotations", {}).items()
               if not k.startswith("kubectl.kubernetes.io/")}
        lines.append("  annotations: %s; lifeboat.dev/approve=%r" % (
            sorted(ann), ann.get("lifeboat.dev/approve")))
        return "\n".join(lines)

    def wait_phase(self, name, phases, timeout=RR_WAIT_S, stop_on_terminal=True):
        """Poll rr/name until status.phase is one of phases; a terminal phase that is not
        wanted fails at once with the status and the operator log's tail."""
        if isinstance(phases, str):
            phases = (phases,)
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            try:
                obj = self.rr(name)
            except AssertionError:
                obj = None
            phase = (obj or {}).get("status", {}).get("phase")
            if phase in phases:
                return obj
            if stop_on_terminal and phase in TERMINAL:
                break
            time.sleep(0.2)
        self.fail("rr/%s did not reach %s within %ds:\n%s\n--- operator log tail:\n%s" % (
            name, "|".join(phases), timeout, self.describe_rr(obj or {}),
            self.operator.log_tail()))

    def approve(self, name, who="alice"):
        """Approves the plan the operator published (lifeboat.dev/approve-plan =
        status.planHash), as `kubectl lifeboat approve` will."""
        plan_hash, deadline = "", time.monotonic() + 120
        while not plan_hash and time.monotonic() < deadline:
            plan_hash = self.rr(name).get("status", {}).get("planHash", "")
            if not plan_hash:
                time.sleep(0.2)
        if not plan_hash:
            self.fail("rr/%s has no status.planHash to approve" % name)
        kube.kubectl("annotate", "rr/" + name, "-n", self.ns, "lifeboat.dev/approve=" + who,
                     "lifeboat.dev/approve-plan=" + plan_hash)

    def output_of(self, obj, item):
        for o in obj.get("status", {}).get("outputs", []):
            if o.get("item") == item:
                return o
        self.fail("status.outputs has no entry for item %s:\n%s" % (item, self.describe_rr(obj)))

    def assert_timeline(self, obj, plan_names=None):
        """status.steps holds every planned step, in plan order, each Succeeded with
        startedAt <= finishedAt, and each step starting no earlier than the previous one
        finished."""
        st = obj["status"]
        names = [s["name"] for s in st.get("steps", [])]
        plan = plan_names or [p["name"] for p in st.get("plan", [])]
        self.assertEqual(names, plan, self.describe_rr(obj))
        prev_end = None
        for s in st["steps"]:
            self.assertEqual(s.get("phase"), "Succeeded", self.describe_rr(obj))
            self.assertIn("startedAt", s, s["name"])
            self.assertIn("finishedAt", s, s["name"])
            start, end = parse_time(s["startedAt"]), parse_time(s["finishedAt"])
            self.assertLessEqual(start, end, s["name"])
            if prev_end is not None:
                self.assertLessEqual(prev_end, start, "%s started before the previous step "
                                     "finished" % s["name"])
            prev_end = end


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return None


def step_of(obj, name):
    for s in obj.get("status", {}).get("steps", []):
        if s.get("name") == name:
            return s
    return None
