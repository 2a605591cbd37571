"""Deadlines, abort, deletion and lease loss (issue 10, items 4-8), end to end:
  - a StatefulSet in `rollout` that crash-loops on the restored database (it needs a table
    created after the restore time) -> RolledBack within its deadline, the Secret back to its
    original value, the writers stopped before the undo and brought back on the original;
  - lifeboat.dev/abort in prepare -> Failed, nothing live changed (copy kept, or deleted
    with spec.onAbort.deleteCopies); in the cutover -> RolledBack;
  - the request deleted right after patch-secrets -> the Secret and the original instance
    are back before the object disappears; deleted in prepare -> no instance it created
    remains (aws CLI);
  - two operator replicas with leader election; the leader is SIGSTOPped in the middle of a
    step until the Lease moves, then resumed: the restore completes once, and the paused
    replica makes no AWS call after it resumes (awssim's request log, by access key) and no
    status write (every status write the API server accepted, watched, and the replica's log).
"""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
from scenario import (  # noqa: E402
    APP, GROUP_PATH, OPERATOR_BIN, Operator, ScenarioCase, app_info, cli_instances, http_get,
    operator_kubeconfig, operator_sa, psql, rfc3339, secret_value, service_map_path, step_of,
    suffix, url_port, utc_now, wait_restorable)
import kube  # noqa: E402
from awssim_control import request_log  # noqa: E402

CREDS = {"name": "orders-db-admin"}
SECRET_PATCH = [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                 "replaceHost": True}]


def pitr_item(src, target, restore_time=None, promote="rename"):
    item = {
        "name": "orders-db",
        "rdsPointInTime": {"sourceDBInstanceIdentifier": src,
                           "targetDBInstanceIdentifier": target},
        "credentialsSecretRef": CREDS, "database": "shop_orders",
        "promote": promote,
        "secretPatches": SECRET_PATCH,
    }
    if restore_time:
        item["rdsPointInTime"]["restoreTime"] = restore_time
    else:
        item["rdsPointInTime"]["useLatestRestorableTime"] = True
    return item


def statefulset_manifest(ns, name, need_sql):
    """A StatefulSet whose container exits 1 unless `need_sql` returns a row on the
    database of $ORDER_DATABASE_URL: on a database without it, it crash-loops."""
    env = [{"name": "ORDER_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "ORDER_DATABASE_URL"}}},
           {"name": "ECHO_VAR", "value": "ORDER_DATABASE_URL"},
           {"name": "DB_URL_VAR", "value": "ORDER_DATABASE_URL"}]
    cmd = 'psql "$ORDER_DATABASE_URL" -XtAc "%s" | grep -q . || exit 1; exec %s' % (need_sql, APP)
    return [{
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1, "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "shop/%s:1.0" % name,
                    "command": ["sh", "-c", cmd],
                    "ports": [{"containerPort": 8080, "name": "http"}], "env": env,
                    "readinessProbe": {"httpGet": {"path": "/health", "port": "http"},
                                       "periodSeconds": 1, "failureThreshold": 1,
                                       "timeoutSeconds": 5}}]}},
        },
    }]


def gone(ns, name):
    r = kube.api("GET", "%s/namespaces/%s/restorerequests/%s" % (GROUP_PATH, ns, name))
    return r.status == 404


def owned_by(uid):
    """Instances carrying lifeboat.dev/uid = uid, by the aws CLI's view."""
    out = []
    for ident, d in cli_instances().items():
        tags = json.loads(subprocess.run(
            ["aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "rds",
             "list-tags-for-resource", "--resource-name", d["DBInstanceArn"], "--output",
             "json"], capture_output=True, text=True, timeout=60, check=True).stdout)
        if {t["Key"]: t["Value"] for t in tags.get("TagList", [])}.get("lifeboat.dev/uid") == uid:
            out.append(ident)
    return out


class CrashLoopingStatefulSet(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-cl-" + suffix()
        cls.target = cls.src + "-restored"
        cls.port = cls.seed_instance(cls.src)
        t = utc_now()
        cls.T = (t + dt.timedelta(seconds=1)).replace(microsecond=0)
        time.sleep(max(0.0, (cls.T - utc_now()).total_seconds()) + 0.3)
        psql(cls.port, "CREATE TABLE ledger_marker (v int); INSERT INTO ledger_marker VALUES (1)")
        wait_restorable(cls.T + dt.timedelta(seconds=0.3), instance=cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        kube.kubectl("apply", "-f", "-",
                     input=statefulset_manifest(cls.ns, "ledger", "SELECT v FROM ledger_marker"))
        kube.kubectl("rollout", "status", "statefulset/ledger", "-n", cls.ns, "--timeout=60s",
                     timeout=90)
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")

    def test_crash_looping_statefulset_rolls_back_within_its_deadline(self):
        m = self.rr_manifest("orders-crashloop", [pitr_item(
            self.src, self.target, restore_time=rfc3339(self.T))],
            rollout=["order-service"], approval=False)
        m["spec"]["rollout"].append({"kind": "StatefulSet", "name": "ledger"})
        m["spec"]["timeouts"] = {"rollout": "60s"}
        self.apply_rr(m)
        obj = self.wait_phase("orders-crashloop", "Running", timeout=60)
        obj = self.wait_phase("orders-crashloop", "RolledBack", timeout=150)
        st = obj["status"]
        failed = step_of(obj, "rollout/StatefulSet/ledger")
        self.assertEqual(failed.get("phase"), "Failed", self.describe_rr(obj))
        self.assertRegex(failed.get("message", ""), "CrashLooping|DeadlineExceeded")
        # judged within its deadline (60 s from the step's start), not left waiting
        took = (dt.datetime.fromisoformat(failed["finishedAt"].replace("Z", "+00:00")) -
                dt.datetime.fromisoformat(failed["startedAt"].replace("Z", "+00:00")))
        self.assertLessEqual(took.total_seconds(), 62, self.describe_rr(obj))
        # writers stopped first, then the undo, then brought back on the original
        names = [s["name"] for s in st["steps"]]
        self.assertLess(names.index("rollback/stop-writers"),
                        names.index("rollback/orders-db/patch-secrets"))
        self.assertEqual(step_of(obj, "rollback/stop-writers")["phase"], "Succeeded")
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        inst = cli_instances()
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertIn(self.target, inst, "the copy that took writes is kept")
        self.assertIn(self.target, st["message"])
        kube.kubectl("rollout", "status", "statefulset/ledger", "-n", self.ns, "--timeout=60s",
                     timeout=90)
        sts = kube.kubectl_json("get", "statefulset", "ledger", "-n", self.ns)
        self.assertEqual(sts["spec"]["replicas"], 1)
        self.assertNotIn("lifeboat.dev/replicas-before",
                         sts["metadata"].get("annotations", {}))
        info = app_info(self.ns, "order-service")
        self.assertEqual(url_port(info["value"]), ("127.0.0.1", self.port))


class AbortAndDelete(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-ab-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        t = utc_now()
        cls.T = (t + dt.timedelta(seconds=1)).replace(microsecond=0)
        time.sleep(max(0.0, (cls.T - utc_now()).total_seconds()) + 0.3)
        psql(cls.port, "CREATE TABLE ledger_marker (v int); INSERT INTO ledger_marker VALUES (1)")
        wait_restorable(cls.T + dt.timedelta(seconds=0.3), instance=cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        # ready only on a database with ledger_marker (created after T): on a copy restored
        # to T its rollout waits, holding the request in the cutover as long as needed;
        # back on the original it is ready again
        cls.create_service("stuck-service", ready_sql="SELECT v FROM ledger_marker")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")

    def assert_live_untouched(self):
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertFalse([i for i in inst if i.startswith(self.src + "-old")], sorted(inst))
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)

    def stuck_manifest(self, name, target):
        m = self.rr_manifest(name, [pitr_item(self.src, target, restore_time=rfc3339(self.T))],
                             rollout=["order-service", "stuck-service"], approval=False)
        m["spec"]["timeouts"] = {"rollout": "10m"}
        return m

    def wait_step(self, name, step, phase, timeout=120):
        def ok():
            s = step_of(self.rr(name), step) or {}
            return s.get("phase") == phase
        kube.wait_for(ok, timeout=timeout, interval=0.2,
                      message="rr/%s step %s %s" % (name, step, phase))

    def test_abort_in_prepare_fails_and_changes_nothing_live(self):
        target = self.src + "-a1"
        gen0 = kube.kubectl_json("get", "deployment", "order-service", "-n",
                                 self.ns)["metadata"]["generation"]
        self.apply_rr(self.rr_manifest("abort-prepare", [pitr_item(self.src, target)],
                                       rollout=["order-service"]))
        self.wait_phase("abort-prepare", "AwaitingApproval", timeout=90)
        kube.kubectl("annotate", "rr/abort-prepare", "-n", self.ns,
                     "lifeboat.dev/abort=wrong restore time")
        obj = self.wait_phase("abort-prepare", "Failed", timeout=60)
        ab = step_of(obj, "abort")
        self.assertIsNotNone(ab, self.describe_rr(obj))
        self.assertIn("wrong restore time", ab.get("message", ""))
        self.assertEqual(step_of(obj, "approval")["phase"], "Failed")
        self.assertIn("nothing live was changed", obj["status"]["message"])
        self.assert_live_untouched()
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        self.assertEqual(dep["metadata"]["generation"], gen0)
        # default: the copy is kept and named
        self.assertIn(target, cli_instances())
        self.assertIn(target, obj["status"]["message"])
        # an approval after the abort does nothing
        self.approve("abort-prepare")
        time.sleep(3)
        self.assertEqual(self.rr("abort-prepare")["status"]["phase"], "Failed")
        self.assert_live_untouched()

    def test_abort_in_prepare_deletes_copies_when_the_spec_says(self):
        target = self.src + "-a2"
        m = self.rr_manifest("abort-delete", [pitr_item(self.src, target)])
        m["spec"]["onAbort"] = {"deleteCopies": True}
        self.apply_rr(m)
        self.wait_phase("abort-delete", "AwaitingApproval", timeout=90)
        self.assertIn(target, cli_instances())
        kube.kubectl("annotate", "rr/abort-delete", "-n", self.ns, "lifeboat.dev/abort=oops")
        obj = self.wait_phase("abort-delete", "Failed", timeout=90)
        self.assertEqual(step_of(obj, "rollback/orders-db/restore")["phase"], "Succeeded",
                         self.describe_rr(obj))
        self.assertNotIn(target, cli_instances())
        self.assert_live_untouched()

    def test_abort_in_cutover_rolls_back(self):
        target = self.src + "-a3"
        self.apply_rr(self.stuck_manifest("abort-cutover", target))
        self.wait_step("abort-cutover", "rollout/Deployment/stuck-service", "Running")
        self.assertNotEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                            self.url_before)
        kube.kubectl("annotate", "rr/abort-cutover", "-n", self.ns,
                     "lifeboat.dev/abort=gateway errors")
        obj = self.wait_phase("abort-cutover", "RolledBack", timeout=120)
        self.assertIn("gateway errors", obj["status"]["message"])
        self.assertEqual(step_of(obj, "rollout/Deployment/stuck-service")["phase"], "Failed")
        self.assert_live_untouched()
        self.assertIn(target, cli_instances())

    def test_delete_right_after_patch_secrets_rolls_back_before_it_disappears(self):
        target = self.src + "-a4"
        obj = self.apply_rr(self.stuck_manifest("delete-cutover", target))
        self.wait_step("delete-cutover", "orders-db/patch-secrets", "Succeeded")
        self.assertIn("lifeboat.dev/restore-protection", self.rr("delete-cutover")[
            "metadata"].get("finalizers", []))
        watch = StatusWatch(self.ns)
        try:
            time.sleep(0.5)
            kube.kubectl("delete", "rr/delete-cutover", "-n", self.ns, "--wait=false")
            kube.wait_for(lambda: gone(self.ns, "delete-cutover"), timeout=120, interval=0.1,
                          message="rr/delete-cutover gone")
            time.sleep(0.5)
        finally:
            watch.stop()
        # by the time it is gone: the Secret and the original instance are back
        self.assert_live_untouched()
        # and the server saw, in order: deletion requested, the rollback finished
        # (RolledBack, undo steps Succeeded) while the object still existed, then DELETED
        mine = [(e.get("type"), e.get("object", {})) for _, e in watch.events
                if e.get("object", {}).get("metadata", {}).get("name") == "delete-cutover"]
        kinds = [t for t, _ in mine]
        self.assertEqual(kinds[-1], "DELETED", kinds)
        rolled = [i for i, (t, o) in enumerate(mine)
                  if o.get("metadata", {}).get("deletionTimestamp")
                  and o.get("status", {}).get("phase") == "RolledBack"]
        self.assertTrue(rolled, [(t, o.get("status", {}).get("phase")) for t, o in mine])
        last = mine[rolled[0]][1]
        for undone in ("rollback/orders-db/patch-secrets", "rollback/orders-db/promote"):
            self.assertEqual((step_of(last, undone) or {}).get("phase"), "Succeeded", undone)
        self.assertIn("being deleted", (step_of(last, "abort") or {}).get("message", ""))
        self.assertIn(target, cli_instances(), "the copy that took writes is kept")
        self.assertEqual(psql(self.port, "SELECT 1"), "1")

    def test_delete_in_prepare_leaves_no_instance_it_created(self):
        target = self.src + "-a5"
        obj = self.apply_rr(self.rr_manifest("delete-prepare", [pitr_item(self.src, target)]))
        uid = obj["metadata"]["uid"]
        self.wait_phase("delete-prepare", "AwaitingApproval", timeout=90)
        self.assertIn(target, cli_instances())
        kube.kubectl("delete", "rr/delete-prepare", "-n", self.ns, "--wait=false")
        kube.wait_for(lambda: gone(self.ns, "delete-prepare"), timeout=120, interval=0.2,
                      message="rr/delete-prepare gone")
        self.assertNotIn(target, cli_instances())
        self.assertEqual(owned_by(uid), [])
        self.assert_live_untouched()


class ElectedOperator(Operator):
    """A replica with --leader-elect and its own AWS access key id (awssim logs it)."""

    def __init__(self, ns, log_path, access_key, lease):
        super().__init__(ns, log_path)
        self.access_key = access_key
        self.lease = lease

    def start(self, wait_ready=True):
        from scenario import free_port
        self.health_port, self.metrics_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LIFEBOAT_") or k in ("LIFEBOAT_RUN_DIR", "LIFEBOAT_BIN_DIR")}
        env["LIFEBOAT_SERVICE_MAP"] = service_map_path()
        env["AWS_ACCESS_KEY_ID"] = self.access_key
        env["POD_NAME"] = self.access_key.lower()
        operator_sa.grant_lease(self.ns)    # its Lease lives in the test's namespace
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [OPERATOR_BIN, "--kubeconfig", operator_kubeconfig(), "--namespaces", self.ns,
             "--leader-elect", "--lease-name", self.lease, "--lease-namespace", self.ns,
             "--metrics-addr", "127.0.0.1:%d" % self.metrics_port,
             "--health-addr", "127.0.0.1:%d" % self.health_port,
             "--log-format", "json", "--log-level", "debug",
             "--sql-sslmode", "disable", "--http-check-allow-loopback"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.starts += 1
        if wait_ready:
            kube.wait_for(lambda: http_get(self.health_port, "/readyz")[0] == 200, timeout=30,
                          message="lifeboat-operator /readyz")
        return self

    def log_lines(self):
        out = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class StatusWatch:
    """Every change of the RestoreRequests of one namespace, as the API server sends them,
    with the time each arrived. The watch starts at the resourceVersion of a list made
    before the constructor returns, so no write made after that is missed (a plain
    `kubectl get -w` lists when its process gets round to it, and folds the writes made
    before then into one ADDED event)."""

    def __init__(self, ns):
        self.events = []
        path = "%s/namespaces/%s/restorerequests" % (GROUP_PATH, ns)
        r = kube.api("GET", path)
        assert r.status == 200, r.status
        rv = r.json()["metadata"]["resourceVersion"]
        self.proc = subprocess.Popen(
            ["kubectl", "get", "--raw", "%s?watch=1&resourceVersion=%s" % (path, rv)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        dec = json.JSONDecoder()
        buf = ""
        for chunk in iter(lambda: self.proc.stdout.readline(), ""):
            buf += chunk
            while buf.strip():
                try:
                    obj, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break
                self.events.append((time.time(), obj))
                buf = buf.lstrip()[end:]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class LeaderPausedMidStep(ScenarioCase):
    operator_autostart = False

    @classmethod
    def scenario(cls):
        cls.src = "orders-ld-" + suffix()
        cls.target = cls.src + "-restored"
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        d = os.path.dirname(cls.operator.log_path)
        cls.a = ElectedOperator(cls.ns, os.path.join(d, "operator-%s-a.log" % cls.ns),
                                "AKIDREPLICAA", "lifeboat-" + cls.ns)
        cls.b = ElectedOperator(cls.ns, os.path.join(d, "operator-%s-b.log" % cls.ns),
                                "AKIDREPLICAB", "lifeboat-" + cls.ns)
        cls.a.start()
        kube.wait_for(lambda: cls.holder() == "akidreplicaa", timeout=30,
                      message="replica A holds the Lease")
        cls.b.start()
        cls.operator = cls.a   # wait_phase quotes its log

    @classmethod
    def tearDownClass(cls):
        for o in (getattr(cls, "a", None), getattr(cls, "b", None)):
            if o is not None:
                if o.alive():
                    os.kill(o.pid, signal.SIGCONT)
                o.stop()
        super().tearDownClass()

    @classmethod
    def holder(cls):
        r = kube.api("GET", "/apis/coordination.k8s.io/v1/namespaces/%s/leases/lifeboat-%s" % (
            cls.ns, cls.ns))
        return r.json().get("spec", {}).get("holderIdentity") if r.status == 200 else None

    def test_paused_leader_makes_no_call_and_no_write_after_losing_the_lease(self):
        started = time.time()
        watch = StatusWatch(self.ns)
        try:
            self.apply_rr(self.rr_manifest("orders-ha", [pitr_item(self.src, self.target)],
                                           rollout=["order-service"], approval=False))
            # pause A in the middle of a step: the restored copy is being waited for
            kube.wait_for(lambda: (step_of(self.rr("orders-ha"), "orders-db/wait-available")
                                   or {}).get("phase") == "Running", timeout=60, interval=0.05,
                          message="wait-available Running")
            os.kill(self.a.pid, signal.SIGSTOP)
            paused_at = time.time()
            kube.wait_for(lambda: self.holder() == "akidreplicab", timeout=60, interval=0.2,
                          message="the Lease moves to replica B")
            moved_at = time.time()
            time.sleep(1)
            resumed_at = time.time()
            os.kill(self.a.pid, signal.SIGCONT)
            obj = self.wait_phase("orders-ha", "Succeeded", timeout=150)
            time.sleep(3)   # A has had time to act on whatever it held when paused
        finally:
            watch.stop()
        self.assertTrue(self.a.alive(), "replica A should have survived the pause")
        # the restore completed once: one point-in-time restore, one copy, each step once
        reqs = request_log()
        mine = [r for r in reqs if r.get("access_key") in ("AKIDREPLICAA", "AKIDREPLICAB")
                and r.get("ts", 0) >= started]
        pitr = [r for r in mine if r.get("action") == "RestoreDBInstanceToPointInTime"
                and r.get("status") == 200
                and r.get("params", {}).get("TargetDBInstanceIdentifier") == self.target]
        self.assertEqual(len(pitr), 1, pitr)
        by_a_after = [r for r in mine if r["access_key"] == "AKIDREPLICAA"
                      and r["ts"] >= resumed_at]
        self.assertEqual(by_a_after, [], "replica A called AWS after it lost the Lease")
        by_b = [r for r in mine if r["access_key"] == "AKIDREPLICAB"]
        self.assertTrue(by_b, "replica B did the rest of the restore")
        names = [s["name"] for s in obj["status"]["steps"]]
        self.assertEqual(len(names), len(set(names)))
        self.assert_timeline(obj)
        # no status write by A after the Lease moved. A write A sent before the pause may be
        # logged after it resumes, so its log time proves nothing: each replica logs the
        # resourceVersion of every write the server accepted, and the watch gives the
        # server's order. Every write of A's was seen before the Lease moved, and precedes
        # every write of B's.
        seen = {}
        for t, o in watch.events:
            rv = o.get("object", {}).get("metadata", {}).get("resourceVersion")
            if rv is not None and rv not in seen:
                seen[rv] = (len(seen), t)
        a_rvs = [l.get("resourceVersion") for l in self.a.log_lines()
                 if l.get("result") == "written"]
        b_rvs = [l.get("resourceVersion") for l in self.b.log_lines()
                 if l.get("result") == "written"]
        self.assertTrue(a_rvs and b_rvs, "both replicas wrote: A %s, B %s" % (a_rvs, b_rvs))
        for rv in a_rvs + b_rvs:
            self.assertIn(rv, seen, "a logged write (resourceVersion %s) the watch never saw" % rv)
        late = [rv for rv in a_rvs if seen[rv][1] >= moved_at]
        self.assertEqual(late, [], "replica A wrote status after it lost the Lease")
        self.assertLess(max(seen[rv][0] for rv in a_rvs), min(seen[rv][0] for rv in b_rvs),
                        "a write of A's landed after one of B's")
        done = [sum(1 for s in o["object"].get("status", {}).get("steps", [])
                    if s.get("phase") == "Succeeded")
                for t, o in watch.events if t >= paused_at and "object" in o]
        self.assertTrue(done, "the watch saw no status change")
        self.assertEqual(done, sorted(done), "a status write went backwards: %s" % done)
        fenced = [l for l in self.a.log_lines() if "no longer holds the leader Lease" in
                  json.dumps(l) or "lost the leader lease" in json.dumps(l)]
        self.assertTrue(fenced, "replica A's log does not show it stopping")


def _log_ts(line):
    ts = line.get("ts") or line.get("time") or ""
    try:
        return dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
