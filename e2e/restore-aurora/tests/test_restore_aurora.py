"""Aurora cutover (issue 18 item 4): runbook 003 section 1 as one RestoreRequest.

One rdsClusterPointInTime item with promote: rename and cleanup: the cluster is restored
to T, its writer created, verified, approved, then the original cluster is renamed away
(<src>-old-<time>), the restored one renamed over the original name, the Secret patched
with the cluster endpoint (replaceHost), the service restarted, and after cleanup.after
the old cluster's instance is deleted and the old cluster deleted with a final cluster
snapshot (<old>-final).

Classes:
  Cutover003       no faults: the outcome above, from the real objects;
  ApplyThen500     every mutating RDS call of the item applied, then answered 500, once;
  RenameLag        cluster renames keep the old name (status renaming) for 4 s;
  CrashAfterEachStep  kill -9 of the operator each time a step is seen to start or finish;
  CrashAfterEachAwsCall  kill -9 of the operator as soon as awssim logs each mutating RDS call
                   of the item (restore, writer, tag, both renames, member and cluster delete);
  RollbackRenamesBack  a rollout that fails after the Secret patch (the service needs a
                   table created after T): phase RolledBack, the original cluster back under
                   its name, the restored one back under the target name, the Secret back,
                   no -old- cluster, nothing deleted.
Each asserts: phase Succeeded, no rollback, writer rows before T only on the cluster now
under the source's name, the Secret points at it, the service restarted onto it, one
cluster under the source's name and no -old- cluster left, exactly one final cluster
snapshot, and from awssim's request log: the restore, the writer, each rename and the
deletes applied exactly once.
"""
import datetime as dt
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
from scenario import (  # noqa: E402
    SEED_ORDERS, ScenarioCase, app_info, aws, cli_clusters, delete_cluster_quietly, psql,
    rfc3339, secret_value, step_of, suffix, url_port, utc_now, wait_restorable,
    writer_restore_time)
import kube  # noqa: E402
from awssim_control import RequestLogTail, applied, control, request_log  # noqa: E402
from test_restore_crash import Killer  # noqa: E402

ITEM = "loans-db"
WAIT_S = 300
PLAN = ["%s/%s" % (ITEM, a) for a in ("validate", "restore-cluster", "create-writer",
                                      "wait-available", "verify")] + [
    "approval", ITEM + "/promote", ITEM + "/patch-secrets",
    "rollout/Deployment/order-service", ITEM + "/cleanup"]


def cluster_item(src, target, restore_time):
    return {
        "name": ITEM,
        "rdsClusterPointInTime": {
            "sourceDBClusterIdentifier": src, "restoreToTime": restore_time,
            "targetDBClusterIdentifier": target,
            "writerInstanceIdentifier": target + "-writer",
            "writerInstanceClass": "db.r6g.large", "engine": "aurora-postgresql"},
        "credentialsSecretRef": {"name": "orders-db-admin", "usernameKey": "username",
                                 "passwordKey": "password"},
        "database": "shop_orders",
        "verify": {"checks": [
            {"name": "orders-present",
             "sql": {"query": "SELECT COUNT(*) FROM orders", "expect": {"min": SEED_ORDERS}}}]},
        "promote": "rename",
        "secretPatches": [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                           "replaceHost": True}],
        "cleanup": {"deleteOld": True, "finalSnapshot": True, "after": "1s"},
    }


def writer_ids(port):
    out = psql(port, "SELECT id FROM orders WHERE source = 'writer' ORDER BY id")
    return [int(x) for x in out.split()] if out else []


def cluster_snapshots():
    return {s["DBClusterSnapshotIdentifier"]: s
            for s in aws("rds", "describe-db-cluster-snapshots")["DBClusterSnapshots"]}


class AuroraCutover(ScenarioCase):
    """Runbook 003 section 1 as one request; subclasses add faults."""

    rename_lag_s = None
    approval = False
    rr_name = "loans-aurora-cutover"

    @classmethod
    def faults(cls, src, target):
        return []

    @classmethod
    def scenario(cls):
        control("DELETE")
        cls.src = "loans-" + suffix()
        cls.target = cls.src + "-restored"
        cls.src_port = cls.seed_cluster(cls.src)
        cls.create_secrets(cls.src_port)
        cls.create_service("order-service")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.app_before = app_info(cls.ns, "order-service")
        cls.writer = cls.start_writer(cls.src_port, interval=0.4)
        cls.T, cls.k = writer_restore_time(cls.writer, after=2, rows_after=2)
        wait_restorable(cls.T, cluster=cls.src)
        cls.rows = cls.writer.stop()
        cls.clusters.insert(0, cls.target)
        cls.log_start = len(request_log())
        cls.installed = [control("POST", f)["added"] for f in cls.faults(cls.src, cls.target)]
        if cls.rename_lag_s is not None:
            control("POST", {"rename_lag_s": cls.rename_lag_s})

    @classmethod
    def tearDownClass(cls):
        try:
            control("DELETE")
            for ident in cli_clusters():
                if ident.startswith(cls.src + "-old-"):
                    delete_cluster_quietly(ident)
        finally:
            super().tearDownClass()

    def calls(self, action, **params):
        return [e for e in request_log()[self.log_start:] if e.get("action") == action
                and all(e["params"].get(k) == v for k, v in params.items())]

    def run_request(self):
        self.apply_rr(self.rr_manifest(
            self.rr_name, [cluster_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=self.approval))
        return self.wait_phase(self.rr_name, "Succeeded", timeout=WAIT_S)

    def test_cutover_exactly_once(self):
        obj = self.run_request()
        desc = self.describe_rr(obj)
        self.assertFalse([s["name"] for s in obj["status"].get("steps", [])
                          if s["name"].startswith("rollback/")], desc)
        self.assert_timeline(obj, PLAN if self.approval else [p for p in PLAN
                                                              if p != "approval"])

        # the restored cluster answers under the source's name, holding the rows before T
        clusters = cli_clusters()
        c = clusters[self.src]
        self.assertEqual(c["Status"], "available")
        self.assertNotEqual(c["Port"], self.src_port, "the source name still serves the original")
        self.assertEqual([(m["DBInstanceIdentifier"], m["IsClusterWriter"])
                          for m in c["DBClusterMembers"]], [(self.target + "-writer", True)])
        self.assertNotIn(self.target, clusters)
        before = [i for i, t in self.rows if t < self.T]
        self.assertTrue(before and [i for i, t in self.rows if t > self.T])
        self.assertEqual(writer_ids(c["Port"]), before)
        out = self.output_of(obj, ITEM)
        self.assertEqual(out.get("clusterIdentifier"), self.src)
        self.assertEqual(int(out.get("port", 0)), c["Port"])

        # the Secret points at the cluster endpoint; the service restarted onto it
        url = secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL")
        self.assertEqual(url_port(url), (c["Endpoint"], c["Port"]))
        self.assertEqual(re.sub(r"@[^/]+/", "@/", url),
                         re.sub(r"@[^/]+/", "@/", self.url_before))
        info = app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.app_before["pid"], "the service did not restart")
        self.assertEqual(info["value"], url)

        # the old cluster: its instance deleted, then itself, with one final snapshot
        started = step_of(obj, ITEM + "/promote")["startedAt"]
        old = "%s-old-%s" % (self.src, re.sub(r"[-:TZ]", "", started)[:14])
        self.assertEqual(out.get("snapshotIdentifier"), old + "-final")
        kube.wait_for(lambda: not [i for i in cli_clusters() if i.startswith(self.src + "-old")],
                      timeout=60, interval=0.5, message="old cluster deleted")
        self.assertEqual(sorted(i for i in cli_clusters() if i.startswith(self.src)), [self.src])
        finals = {s: d for s, d in cluster_snapshots().items()
                  if d.get("DBClusterIdentifier", "").startswith(self.src + "-old-")}
        self.assertEqual(list(finals), [old + "-final"])
        self.assertEqual(finals[old + "-final"]["DBClusterIdentifier"], old)

        # awssim's request log: each change applied exactly once
        def once(action, **p):
            got = [e for e in self.calls(action, **p) if applied(e)]
            self.assertEqual(len(got), 1, (action, p, self.calls(action, **p)))
            return got[0]
        once("RestoreDBClusterToPointInTime", SourceDBClusterIdentifier=self.src)
        once("CreateDBInstance", DBInstanceIdentifier=self.target + "-writer")
        once("ModifyDBCluster", DBClusterIdentifier=self.src, NewDBClusterIdentifier=old)
        once("ModifyDBCluster", DBClusterIdentifier=self.target, NewDBClusterIdentifier=self.src)
        self.assertEqual([e for e in self.calls("ModifyDBCluster") if applied(e)
                          and e["params"].get("DBClusterIdentifier", "").startswith(self.src)
                          and e["params"]["DBClusterIdentifier"] not in (self.src, self.target)],
                         [])
        once("DeleteDBInstance", DBInstanceIdentifier=self.src + "-writer")
        d = once("DeleteDBCluster", DBClusterIdentifier=old)
        self.assertEqual(d["params"].get("FinalDBSnapshotIdentifier"), old + "-final")
        self.assertEqual(d["params"].get("DeleteAutomatedBackups"), "false")
        # the faults were hit (otherwise this test proved nothing)
        state = {f["id"]: f for f in control("GET")["faults"]}
        for f in self.installed:
            self.assertGreaterEqual(state[f["id"]]["applied"], 1,
                                    "fault %s was never hit" % json.dumps(f))
        self.extra_checks(obj)

    def extra_checks(self, obj):
        pass


class Cutover003(AuroraCutover):
    approval = True

    def run_request(self):
        self.apply_rr(self.rr_manifest(
            self.rr_name, [cluster_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=True))
        self.wait_phase(self.rr_name, "AwaitingApproval", timeout=WAIT_S)
        # nothing live was touched before approval
        self.assertEqual(cli_clusters()[self.src]["Port"], self.src_port)
        self.approve(self.rr_name, "carol")
        return self.wait_phase(self.rr_name, "Succeeded", timeout=WAIT_S)

    def extra_checks(self, obj):
        # the per-step duration histogram saw this request's steps, by kind and action
        text = self.operator.metrics()
        for kind, action in (("rdsClusterPointInTime", "restore-cluster"),
                             ("rdsClusterPointInTime", "promote"),
                             ("rdsClusterPointInTime", "cleanup"), ("request", "approval"),
                             ("request", "rollout")):
            m = re.search(r'^lifeboat_restore_step_duration_seconds_count\{kind="%s",'
                          r'action="%s",phase="Succeeded"\} (\d+)$' % (kind, action), text,
                          re.M)
            self.assertTrue(m and int(m.group(1)) >= 1, (kind, action))
        p = step_of(obj, ITEM + "/promote")
        from scenario import parse_time
        took = (parse_time(p["finishedAt"]) - parse_time(p["startedAt"])).total_seconds()
        m = re.search(r'^lifeboat_restore_step_duration_seconds_sum\{kind="rdsClusterPointInTime",'
                      r'action="promote",phase="Succeeded"\} ([0-9.e+-]+)$', text, re.M)
        self.assertAlmostEqual(float(m.group(1)), took, delta=0.01)


class ApplyThen500(AuroraCutover):
    rr_name = "loans-aurora-500"

    @classmethod
    def faults(cls, src, target):
        mode = "apply-then-500"
        return [
            {"action": "RestoreDBClusterToPointInTime", "mode": mode, "times": 1,
             "match": {"SourceDBClusterIdentifier": src}},
            {"action": "CreateDBInstance", "mode": mode, "times": 1,
             "match": {"DBInstanceIdentifier": target + "-writer"}},
            {"action": "AddTagsToResource", "mode": mode, "times": 1,
             "match": {"ResourceName": "*:cluster:" + src}},
            {"action": "ModifyDBCluster", "mode": mode, "times": 1,
             "match": {"DBClusterIdentifier": src}},
            {"action": "ModifyDBCluster", "mode": mode, "times": 1,
             "match": {"DBClusterIdentifier": target}},
            {"action": "DeleteDBInstance", "mode": mode, "times": 1,
             "match": {"DBInstanceIdentifier": src + "-writer"}},
            {"action": "DeleteDBCluster", "mode": mode, "times": 1,
             "match": {"DBClusterIdentifier": src + "-old-*"}},
        ]


class RenameLag(AuroraCutover):
    rr_name = "loans-aurora-lag"
    rename_lag_s = 4

    def extra_checks(self, obj):
        p = step_of(obj, ITEM + "/promote")
        from scenario import parse_time
        took = (parse_time(p["finishedAt"]) - parse_time(p["startedAt"])).total_seconds()
        self.assertGreaterEqual(took, 2 * self.rename_lag_s - 1, self.describe_rr(obj))


class CrashAfterEachStep(AuroraCutover):
    rr_name = "loans-aurora-crash"
    rename_lag_s = 2
    approval = True

    def run_request(self):
        obj = self.apply_rr(self.rr_manifest(
            self.rr_name, [cluster_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=True))
        killer = Killer(self.operator, self.ns, self.rr_name, obj["metadata"]["resourceVersion"])
        killer.start()
        approved = False
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                if not self.operator.alive():
                    self.operator.proc.wait(10)
                    self.operator.start(wait_ready=False)
                obj = killer.latest or obj
                phase = obj.get("status", {}).get("phase")
                if phase == "AwaitingApproval" and not approved:
                    self.approve(self.rr_name, "carol")
                    approved = True
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.05)
        finally:
            killer.stop()
        if not self.operator.alive():
            self.operator.proc.wait(10)
            self.operator.start()
        killed_at = {name for batch in killer.kills for name, _ in batch}
        self.assertEqual(sorted(set(PLAN) - killed_at), [], killer.kills)
        return self.wait_phase(self.rr_name, "Succeeded", timeout=30)


MUTATING = ("RestoreDBClusterToPointInTime", "CreateDBInstance", "AddTagsToResource",
            "ModifyDBCluster", "DeleteDBInstance", "DeleteDBCluster")


class AwsCallKiller(threading.Thread):
    """Tails awssim's request log and kill -9s the operator right after each new mutating
    RDS call that names the scenario's source (first sight of each (action, params))."""

    def __init__(self, operator, src, start):
        super().__init__(daemon=True)
        self.operator, self.src, self.pos = operator, src, start
        self.seen, self.kills = set(), []
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()
        self.join(10)

    def run(self):
        tail = RequestLogTail(self.pos)
        try:
            while not self._halt.is_set():
                entries = tail.new_entries()
                for e in entries:
                    self.handle(e)
                if not entries:
                    self._halt.wait(0.02)
        finally:
            tail.close()

    def handle(self, e):
        if e.get("action") not in MUTATING:
            return
        params = e.get("params", {})
        if not any(str(v).startswith(self.src) or (":" + self.src) in str(v)
                   for v in params.values()):
            return
        key = (e["action"], tuple(sorted((k, v) for k, v in params.items()
                                         if k.endswith("Identifier") or k == "ResourceName")))
        if key in self.seen:
            return
        self.seen.add(key)
        proc = self.operator.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            self.kills.append(key)


class CrashAfterEachAwsCall(AuroraCutover):
    rr_name = "loans-aurora-awskill"
    rename_lag_s = 2
    approval = True

    def run_request(self):
        obj = self.apply_rr(self.rr_manifest(
            self.rr_name, [cluster_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=True))
        killer = AwsCallKiller(self.operator, self.src, self.log_start)
        killer.start()
        approved = False
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                if not self.operator.alive():
                    self.operator.proc.wait(10)
                    self.operator.start(wait_ready=False)
                obj = self.rr(self.rr_name)
                phase = obj.get("status", {}).get("phase")
                if phase == "AwaitingApproval" and not approved:
                    self.approve(self.rr_name, "carol")
                    approved = True
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.2)
        finally:
            killer.stop()
        if not self.operator.alive():
            self.operator.proc.wait(10)
            self.operator.start()
        killed = {k[0] for k in killer.kills}
        self.assertEqual(sorted(set(MUTATING) - killed), [], killer.kills)
        print("# aurora: %d kill -9s right after AWS calls: %s"
              % (len(killer.kills), [k[0] for k in killer.kills]), file=sys.stderr)
        return self.wait_phase(self.rr_name, "Succeeded", timeout=30)


class RollbackRenamesBack(ScenarioCase):
    @classmethod
    def scenario(cls):
        control("DELETE")
        control("POST", {"rename_lag_s": 2})
        cls.src = "loans-rb-" + suffix()
        cls.target = cls.src + "-restored"
        cls.port = cls.seed_cluster(cls.src)
        t = utc_now()
        cls.T = (t + dt.timedelta(seconds=1)).replace(microsecond=0)
        time.sleep(max(0.0, (cls.T - utc_now()).total_seconds()) + 0.3)
        psql(cls.port, "CREATE TABLE ledger_marker (v int); INSERT INTO ledger_marker VALUES (1)")
        wait_restorable(cls.T + dt.timedelta(seconds=0.3), cluster=cls.src)
        cls.clusters.insert(0, cls.target)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        cls.create_service("ledger-service", ready_sql="SELECT v FROM ledger_marker",
                           progress_deadline=4)
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.log_start = len(request_log())

    @classmethod
    def tearDownClass(cls):
        try:
            control("DELETE")
            for ident in cli_clusters():
                if ident.startswith(cls.src + "-old-"):
                    delete_cluster_quietly(ident)
        finally:
            super().tearDownClass()

    def test_failed_rollout_renames_back(self):
        name = "loans-aurora-rollback"
        self.apply_rr(self.rr_manifest(name, [cluster_item(self.src, self.target,
                                                           rfc3339(self.T))],
                                       rollout=["order-service", "ledger-service"],
                                       approval=False))
        obj = self.wait_phase(name, "RolledBack", timeout=WAIT_S)
        desc = self.describe_rr(obj)
        self.assertEqual(step_of(obj, "rollout/Deployment/ledger-service").get("phase"),
                         "Failed", desc)
        self.assertEqual(step_of(obj, ITEM + "/promote").get("phase") == "RolledBack" or
                         (step_of(obj, "rollback/" + ITEM + "/promote") or {}).get("phase")
                         == "Succeeded", True, desc)
        clusters = cli_clusters()
        # the original back under its name, the restored copy under the target's
        self.assertEqual(clusters[self.src]["Port"], self.port, desc)
        self.assertEqual(clusters[self.src]["Status"], "available")
        self.assertEqual(psql(self.port, "SELECT v FROM ledger_marker"), "1")
        self.assertIn(self.target, clusters)
        self.assertNotEqual(clusters[self.target]["Port"], self.port)
        self.assertEqual([m["DBInstanceIdentifier"] for m in
                          clusters[self.target]["DBClusterMembers"]], [self.target + "-writer"])
        self.assertFalse([c for c in clusters if c.startswith(self.src + "-old")], sorted(clusters))
        # the Secret holds its old value again; nothing was deleted
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        log = request_log()[self.log_start:]
        self.assertFalse([e for e in log if e.get("action") in ("DeleteDBCluster",
                                                                  "DeleteDBInstance")
                          and e["params"].get("DBClusterIdentifier", e["params"].get(
                              "DBInstanceIdentifier", "")).startswith(self.src)])
        renames = [(e["params"]["DBClusterIdentifier"], e["params"]["NewDBClusterIdentifier"])
                   for e in log if e.get("action") == "ModifyDBCluster" and applied(e)
                   and e["params"].get("DBClusterIdentifier", "").startswith(self.src)]
        self.assertEqual(len(renames), 4, renames)  # away, over, back, back
        self.assertEqual(renames[1], (self.target, self.src))
        self.assertEqual(renames[2], (self.src, self.target))
        self.assertEqual(renames[3], (renames[0][1], self.src))


del AuroraCutover  # only the subclasses are test cases
