"""dryRun and bad input / failures (issue 6 Acceptance, bullets 4 and 5):
  - dryRun: the plan is published (phase Planned) and awssim shows no new instance or
    snapshot;
  - a restore time outside the restorable window fails the request with the window in the
    message and creates nothing;
  - a failing SQL check stops before cutover: phase Failed, the restored copy kept and
    named in outputs, production, Secret and Deployment untouched;
  - a target id taken by an untagged instance is refused (TargetNotOwned) without touching
    that instance;
  - a failure injected after the Secret patch ends in RolledBack with the old Secret value
    back and the service serving from the original database.

The injection for the last one: a second workload, ledger-service, is ready only while its
database has the table ledger_marker, created on production after the restore time T. The
restored copy lacks it, so after the Secret patch the restarted ledger-service never
becomes ready, its rollout passes progressDeadlineSeconds (ProgressDeadlineExceeded, what
`kubectl rollout status` fails on), the rollout step fails and rollbackOnFailure undoes the
cutover: Secret value back, rename back, workloads restarted onto the original database,
where ledger-service is ready again.
"""
import datetime as dt
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import (  # noqa: E402
    SEED_ORDERS, ScenarioCase, app_get, app_info, cli_instances, cli_snapshots, cli_tags,
    condition, create_source_instance, psql, rds, rfc3339, secret_value, step_of, suffix,
    url_port, utc_now, wait_restorable)
import kube  # noqa: E402

CREDS = {"name": "orders-db-admin"}
SECRET_PATCH = [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                 "replaceHost": True}]


def pitr_item(src, target, restore_time=None, checks=None, promote="rename", cleanup=None):
    item = {
        "name": "orders-db",
        "rdsPointInTime": {"sourceDBInstanceIdentifier": src,
                           "targetDBInstanceIdentifier": target},
        "credentialsSecretRef": CREDS, "database": "shop_orders",
        "verify": {"checks": checks or [{"name": "orders-present", "sql": {
            "query": "SELECT COUNT(*) FROM orders", "expect": {"min": 1}}}]},
        "promote": promote,
        "secretPatches": SECRET_PATCH,
    }
    if restore_time:
        item["rdsPointInTime"]["restoreTime"] = restore_time
    else:
        item["rdsPointInTime"]["useLatestRestorableTime"] = True
    if cleanup:
        item["cleanup"] = cleanup
    return item


def ids():
    return set(cli_instances()), set(cli_snapshots())


def all_text(obj):
    """status.message, step messages and condition messages, joined."""
    st = obj.get("status", {})
    parts = [st.get("message") or ""]
    parts += [s.get("message") or "" for s in st.get("steps", [])]
    parts += ["%s %s" % (c.get("reason") or "", c.get("message") or "")
              for c in st.get("conditions", [])]
    return "\n".join(parts)


class DryRun(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-dry-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")

    def test_plan_published_nothing_created(self):
        before = ids()
        m = self.rr_manifest("orders-pitr-plan", [pitr_item(
            self.src, self.src + "-restored", cleanup={"deleteOld": True, "after": "1s"})],
            rollout=["order-service"], dry_run=True)
        self.apply_rr(m)
        obj = self.wait_phase("orders-pitr-plan", "Planned", timeout=30)
        plan = obj["status"]["plan"]
        self.assertEqual([p["name"] for p in plan], [
            "orders-db/validate", "orders-db/restore", "orders-db/wait-available",
            "orders-db/verify", "approval", "orders-db/promote", "orders-db/patch-secrets",
            "rollout/Deployment/order-service", "orders-db/cleanup"])
        self.assertTrue(all(p.get("description") for p in plan))
        time.sleep(4)   # several reconciles later: still nothing
        obj = self.rr(obj["metadata"]["name"])
        self.assertEqual(obj["status"]["phase"], "Planned")
        self.assertEqual(ids(), before)
        self.assertFalse([s for s in obj["status"].get("steps", [])
                          if s.get("phase") in ("Running", "Succeeded")])


class BadInput(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-bad-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.pid_before = app_info(cls.ns, "order-service")["pid"]

    def assert_live_untouched(self):
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertFalse([i for i in inst if i.startswith(self.src + "-old")])
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        self.assertEqual(dep["metadata"]["generation"], 1)
        self.assertEqual(app_info(self.ns, "order-service")["pid"], self.pid_before)

    def test_restore_time_outside_window_fails_naming_window(self):
        before = ids()
        d = rds().describe_db_instances(DBInstanceIdentifier=self.src)["DBInstances"][0]
        latest = d["LatestRestorableTime"].astimezone(dt.timezone.utc)
        self.apply_rr(self.rr_manifest("too-early", [pitr_item(
            self.src, self.src + "-early", restore_time="2020-01-01T00:00:00Z")],
            approval=False))
        obj = self.wait_phase("too-early", "Failed", timeout=60)
        text = all_text(obj)
        # the window's end (the source's LatestRestorableTime, to the minute) is named
        self.assertRegex(text, latest.strftime("%Y-%m-%d[T ]%H:%M"), self.describe_rr(obj))
        self.assertIn("2020-01-01", text)
        restore = step_of(obj, "orders-db/restore") or {}
        self.assertNotIn(restore.get("phase"), ("Running", "Succeeded"), self.describe_rr(obj))
        time.sleep(2)
        self.assertEqual(ids(), before)
        self.assert_live_untouched()

    def test_failing_sql_check_stops_before_cutover(self):
        target = self.src + "-chk"
        count = int(psql(self.port, "SELECT COUNT(*) FROM orders"))
        self.apply_rr(self.rr_manifest("check-fails", [pitr_item(
            self.src, target, checks=[{"name": "too-many-orders", "sql": {
                "query": "SELECT COUNT(*) FROM orders", "expect": {"max": 10}}}])],
            rollout=["order-service"], approval=False))
        obj = self.wait_phase("check-fails", "Failed", timeout=90)
        verify = step_of(obj, "orders-db/verify")
        self.assertIsNotNone(verify, self.describe_rr(obj))
        self.assertEqual(verify.get("phase"), "Failed")
        self.assertIn("too-many-orders", verify.get("message", ""))
        self.assertIn(str(count), verify.get("message", ""), "observed value not in message")
        for later in ("orders-db/promote", "orders-db/patch-secrets",
                      "rollout/Deployment/order-service"):
            s = step_of(obj, later)
            self.assertTrue(s is None or s.get("phase") in ("Pending", "Skipped", None),
                            "%s ran after a failed check:\n%s" % (later, self.describe_rr(obj)))
        # the restored copy is kept and named in outputs
        out = self.output_of(obj, "orders-db")
        self.assertEqual(out.get("instanceIdentifier"), target)
        inst = cli_instances()
        self.assertEqual(inst[target]["DBInstanceStatus"], "available")
        self.assertEqual(int(psql(inst[target]["Endpoint"]["Port"],
                                  "SELECT COUNT(*) FROM orders")), count)
        self.assertNotEqual((condition(obj, "Ready") or {}).get("status"), "True")
        self.assert_live_untouched()

    def test_untagged_target_is_refused_untouched(self):
        taken = self.src + "-taken"
        port = create_source_instance(taken, orders=10)
        self.instances.append(taken)
        psql(port, "CREATE TABLE keep_me (v text); INSERT INTO keep_me VALUES ('mine')")
        inst0 = cli_instances()[taken]
        tags0 = cli_tags(inst0["DBInstanceArn"])
        before = ids()
        self.apply_rr(self.rr_manifest("target-taken", [pitr_item(self.src, taken)],
                                       approval=False))
        obj = self.wait_phase("target-taken", "Failed", timeout=60)
        self.assertIn("TargetNotOwned", all_text(obj), self.describe_rr(obj))
        self.assertIn(taken, all_text(obj))
        time.sleep(2)
        inst = cli_instances()[taken]
        self.assertEqual(inst["DBInstanceStatus"], "available")
        self.assertEqual(inst["Endpoint"]["Port"], port)
        self.assertEqual(cli_tags(inst["DBInstanceArn"]), tags0)
        self.assertEqual(psql(port, "SELECT v FROM keep_me"), "mine")
        self.assertEqual(psql(port, "SELECT COUNT(*) FROM orders"), "10")
        self.assertEqual(ids(), before)
        self.assert_live_untouched()


class RollbackAfterSecretPatch(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-rb-" + suffix()
        cls.target = cls.src + "-restored"
        cls.port = cls.seed_instance(cls.src)
        # T: a whole second after the seed; ledger_marker is created after it
        t = utc_now()
        cls.T = (t + dt.timedelta(seconds=1)).replace(microsecond=0)
        time.sleep(max(0.0, (cls.T - utc_now()).total_seconds()) + 0.3)
        psql(cls.port, "CREATE TABLE ledger_marker (v int); INSERT INTO ledger_marker VALUES (1)")
        wait_restorable(cls.T + dt.timedelta(seconds=0.3), instance=cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("order-service")
        cls.create_service("ledger-service", ready_sql="SELECT v FROM ledger_marker",
                           progress_deadline=4)
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.pids = {n: app_info(cls.ns, n)["pid"] for n in ("order-service", "ledger-service")}

    def test_rollout_failure_after_secret_patch_rolls_back(self):
        self.apply_rr(self.rr_manifest("orders-rollback", [pitr_item(
            self.src, self.target, restore_time=rfc3339(self.T))],
            rollout=["order-service", "ledger-service"], approval=False))
        obj = self.wait_phase("orders-rollback", "RolledBack", timeout=150)
        st = obj["status"]
        # the cause is named
        self.assertIn("ledger-service", st.get("message", ""), self.describe_rr(obj))
        failed = step_of(obj, "rollout/Deployment/ledger-service")
        self.assertEqual(failed.get("phase"), "Failed", self.describe_rr(obj))
        # the Secret holds the old value again
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        # renamed back: the source name is the original server again, no -old- left
        inst = cli_instances()
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        self.assertFalse([i for i in inst if i.startswith(self.src + "-old")], sorted(inst))
        self.assertIn(self.target, inst, "the restored copy should be back under its name")
        # the services were restarted again and serve from the original database
        for name in ("order-service", "ledger-service"):
            kube.kubectl("rollout", "status", "deployment/" + name, "-n", self.ns,
                         "--timeout=30s", timeout=45)
        info = app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.pids["order-service"])
        self.assertEqual(url_port(info["value"]), ("127.0.0.1", self.port))
        self.assertEqual(app_get(self.ns, "order-service", "/health")[0], 200)
        self.assertEqual(psql(self.port, "SELECT v FROM ledger_marker"), "1")
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        # restart; scaled to 0 before the undo (rollback/stop-writers); back to its
        # replicas and restarted again in one patch
        self.assertEqual(dep["metadata"]["generation"], 4, "restart, stop, restart again")
        self.assertEqual(dep["spec"]["replicas"], 1)
        ledger = app_info(self.ns, "ledger-service")
        self.assertEqual(url_port(ledger["value"]), ("127.0.0.1", self.port))
        # the previous value was kept in the rollback Secret owned by the request
        keep = kube.kubectl_json("get", "secret", "lifeboat-rollback-orders-rollback", "-n",
                                 self.ns)
        self.assertIn(obj["metadata"]["uid"],
                      [o.get("uid") for o in keep["metadata"].get("ownerReferences", [])])
        # the undo is recorded in the timeline: each undone cutover step either carries
        # phase RolledBack or has a Succeeded "rollback/<step>" record after the failure
        names = [s["name"] for s in st["steps"]]
        self.assertIn("orders-db/patch-secrets", names)
        by_name = {s["name"]: s for s in st["steps"]}
        for undone in ("orders-db/patch-secrets", "orders-db/promote",
                       "rollout/Deployment/order-service"):
            rec = by_name.get("rollback/" + undone)
            self.assertTrue(by_name[undone].get("phase") == "RolledBack" or
                            (rec is not None and rec.get("phase") == "Succeeded"),
                            "undo of %s not recorded:\n%s" % (undone, self.describe_rr(obj)))
