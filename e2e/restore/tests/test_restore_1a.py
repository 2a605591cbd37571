"""Runbook 000 Restore 1A as one RestoreRequest (issue 6, first Acceptance bullet, and
"nothing destructive before approval").

The sample service order-service (echo-env-app) reads ORDER_DATABASE_URL from the Secret
shop-secrets and serves from shop-orders-prod while a writer keeps inserting orders. The
request restores to a whole second T between two known writer rows, verifies the copy,
waits for approval, is approved by alice, renames, patches the Secret (replaceHost),
restarts the service and deletes the old instance with a final snapshot (after: 1s).
Tests run in order (test_1..test_8) on the state the class builds.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import (  # noqa: E402
    MASTER_PASSWORD, SEED_ORDERS, ScenarioCase, aws, cli_instances, cli_snapshots, cli_tags, condition,
    app_get, app_info, instance_status, parse_time, writer_restore_time, wait_restorable, psql, psql_url, rfc3339,
    secret_value, step_of, suffix, url_port)
import kube  # noqa: E402  (on sys.path through scenario)

RR = "orders-pitr"
ITEM = "orders-db"
PREPARE = ["validate", "restore", "wait-available", "verify"]
PLAN = ["%s/%s" % (ITEM, a) for a in PREPARE] + [
    "approval", ITEM + "/promote", ITEM + "/patch-secrets",
    "rollout/Deployment/order-service", ITEM + "/cleanup"]


def pitr_item(src, target, restore_time, checks=None, cleanup_after="1s"):
    return {
        "name": ITEM,
        "rdsPointInTime": {"sourceDBInstanceIdentifier": src, "restoreTime": restore_time,
                           "targetDBInstanceIdentifier": target,
                           "dbInstanceClass": "db.t3.medium", "publiclyAccessible": False},
        "credentialsSecretRef": {"name": "orders-db-admin", "usernameKey": "username",
                                 "passwordKey": "password"},
        "database": "shop_orders",
        "verify": {"checks": checks or [
            {"name": "orders-present",
             "sql": {"query": "SELECT COUNT(*) FROM orders", "expect": {"min": SEED_ORDERS}}},
            {"name": "orders-latest",
             "sql": {"query": "SELECT MAX(created_at) FROM orders",
                     "expect": {"notEmpty": True}}},
        ]},
        "promote": "rename",
        "secretPatches": [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                           "replaceHost": True}],
        "cleanup": {"deleteOld": True, "finalSnapshot": True, "after": cleanup_after},
    }


def writer_ids(port):
    out = psql(port, "SELECT id FROM orders WHERE source = 'writer' ORDER BY id")
    return [int(x) for x in out.split()] if out else []


class Restore1A(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.ok = {}
        # The runbook's instance name when it is free in this environment (another suite
        # may have seeded one); the scenario is the same either way.
        cls.src = "shop-orders-prod" if instance_status("shop-orders-prod") is None \
            else "shop-orders-prod-" + suffix()
        cls.target = cls.src + "-restored"
        cls.src_port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.src_port)
        cls.create_service("order-service")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.app_before = app_info(cls.ns, "order-service")
        cls.generation_before = kube.kubectl_json(
            "get", "deployment", "order-service", "-n", cls.ns)["metadata"]["generation"]
        cls.writer = cls.start_writer(cls.src_port, interval=0.4)
        # T: a whole second between two known rows, with rows committed after it
        cls.T, cls.k = writer_restore_time(cls.writer, after=2, rows_after=3)
        wait_restorable(cls.T, instance=cls.src)
        cls.rr_obj = None
        cls.applied_at = time.monotonic()

    # -- before approval ----------------------------------------------------------------
    def test_1_waits_for_approval_with_copy_verified(self):
        self.__class__.rr_obj = self.apply_rr(self.rr_manifest(
            RR, [pitr_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=True))
        obj = self.wait_phase(RR, "AwaitingApproval")
        st = obj["status"]
        self.assertEqual([p["name"] for p in st["plan"]], PLAN)
        destructive = {p["name"] for p in st["plan"] if p.get("destructive")}
        self.assertEqual(destructive, {ITEM + "/promote", ITEM + "/patch-secrets",
                                       "rollout/Deployment/order-service", ITEM + "/cleanup"})
        for a in PREPARE:
            s = step_of(obj, "%s/%s" % (ITEM, a))
            self.assertIsNotNone(s, "step %s/%s missing:\n%s" % (ITEM, a, self.describe_rr(obj)))
            self.assertEqual(s.get("phase"), "Succeeded", self.describe_rr(obj))
        approved = condition(obj, "Approved")
        self.assertFalse(approved is not None and approved.get("status") == "True")
        # The copy exists (aws CLI), is tagged as ours and holds the data as of T.
        inst = cli_instances()
        self.assertIn(self.target, inst)
        self.assertEqual(inst[self.target]["DBInstanceStatus"], "available")
        tags = cli_tags(inst[self.target]["DBInstanceArn"])
        self.assertEqual(tags.get("lifeboat.dev/uid"), obj["metadata"]["uid"])
        self.assertEqual(tags.get("lifeboat.dev/owner"), "RestoreRequest/%s/%s" % (self.ns, RR))
        port = inst[self.target]["Endpoint"]["Port"]
        rows = self.writer.snapshot()
        self.assertEqual(writer_ids(port), [i for i, _ in rows[:self.k + 1]])
        out = self.output_of(obj, ITEM)
        self.assertEqual(out.get("instanceIdentifier"), self.target)
        self.assertEqual(int(out.get("port", 0)), port)
        self.ok["awaiting"] = True

    def test_2_nothing_destructive_before_approval(self):
        if not self.ok.get("awaiting"):
            self.fail("prerequisite test_1 (AwaitingApproval) did not pass")
        time.sleep(3)  # a few more reconciles: still nothing may happen
        obj = self.rr(RR)
        self.assertEqual(obj["status"]["phase"], "AwaitingApproval", self.describe_rr(obj))
        inst = cli_instances()
        self.assertIn(self.src, inst)
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.src_port)
        self.assertFalse([i for i in inst if i.startswith(self.src + "-old")], sorted(inst))
        self.assertFalse([s for s, d in cli_snapshots().items()
                          if d.get("DBInstanceIdentifier") == self.src
                          and d.get("SnapshotType") != "automated"])
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"),
                         self.url_before)
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        self.assertEqual(dep["metadata"]["generation"], self.generation_before)
        self.assertNotIn("kubectl.kubernetes.io/restartedAt",
                         dep["spec"]["template"]["metadata"].get("annotations", {}))
        self.assertEqual(app_info(self.ns, "order-service")["pid"], self.app_before["pid"])
        # The writer is still writing to the live source.
        n = len(self.writer.snapshot())
        self.writer.wait_rows(n + 1, timeout=10)
        for s in obj["status"].get("steps", []):
            if s["name"] in PLAN[PLAN.index("approval") + 1:]:
                self.assertIn(s.get("phase"), (None, "Pending"),
                              "%s started before approval" % s["name"])
                self.assertNotIn("startedAt", s, "%s started before approval" % s["name"])
        self.ok["untouched"] = True

    # -- approval and cutover -----------------------------------------------------------
    def test_3_approved_request_succeeds(self):
        if not self.ok.get("awaiting"):
            self.fail("prerequisite test_1 (AwaitingApproval) did not pass")
        self.__class__.rows = self.writer.stop()
        self.approve(RR, "alice")
        obj = self.wait_phase(RR, "Succeeded", timeout=120)
        self.__class__.final = obj
        st = obj["status"]
        self.assertEqual(st["approval"]["approvedBy"], "alice")
        self.assertIn("approvedAt", st["approval"])
        self.assertEqual(condition(obj, "Approved")["status"], "True")
        self.assertGreaterEqual(int(st.get("durationSeconds", -1)), 0)
        self.assertIn("completedAt", st)
        self.ok["succeeded"] = True

    def need_success(self):
        if not self.ok.get("succeeded"):
            self.fail("prerequisite test_3 (Succeeded) did not pass")

    def test_4_production_holds_every_row_before_T_and_none_after(self):
        self.need_success()
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        port = inst[self.src]["Endpoint"]["Port"]
        self.assertNotEqual(port, self.src_port, "shop-orders-prod is still the old server")
        self.assertNotIn(self.target, inst, "the restored copy was not renamed")
        before = [i for i, t in self.rows if t < self.T]
        after = [i for i, t in self.rows if t > self.T]
        self.assertTrue(before and after)
        self.assertEqual(writer_ids(port), before)
        self.assertEqual(psql(port, "SELECT COUNT(*) FROM orders WHERE source = 'seed'"),
                         str(SEED_ORDERS))
        self.assertEqual(psql(port, "SELECT COUNT(*) FROM orders WHERE id IN (%s)" %
                              ",".join(map(str, after))), "0")

    def test_5_service_restarted_and_serves_restored_data(self):
        self.need_success()
        info = app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.app_before["pid"], "the service was not restarted")
        try:
            os.kill(self.app_before["pid"], 0)
            self.fail("the old app process %d still runs" % self.app_before["pid"])
        except ProcessLookupError:
            pass
        port = cli_instances()[self.src]["Endpoint"]["Port"]
        url = info["value"]
        host, url_port_ = url_port(url)
        self.assertEqual((host, url_port_), ("127.0.0.1", port))
        self.assertEqual(secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL"), url)
        # The rest of the URL (user, password, database) is the one that was there.
        self.assertEqual(re.sub(r"@[^/]+/", "@/", url), re.sub(r"@[^/]+/", "@/", self.url_before))
        self.assertEqual(app_get(self.ns, "order-service", "/health")[0], 200)
        newest = int(psql_url(url, "SELECT MAX(id) FROM orders WHERE source = 'writer'"))
        self.assertEqual(newest, [i for i, t in self.rows if t < self.T][-1])
        dep = kube.kubectl_json("get", "deployment", "order-service", "-n", self.ns)
        self.assertEqual(dep["metadata"]["generation"], self.generation_before + 1)
        kube.kubectl("rollout", "status", "deployment/order-service", "-n", self.ns,
                     "--timeout=10s")

    def test_6_old_instance_deleted_with_final_snapshot(self):
        self.need_success()

        def finals():
            return [(s, d) for s, d in cli_snapshots().items()
                    if d.get("DBInstanceIdentifier", "").startswith(self.src + "-old-")
                    and d.get("SnapshotType") == "manual"]

        # the cleanup step may finish once the deletion is under way: allow the deletion
        # (final snapshot first) a bounded time to complete
        kube.wait_for(lambda: not [i for i in cli_instances() if i.startswith(self.src + "-old")]
                      and finals() and finals()[0][1]["Status"] == "available",
                      timeout=30, interval=0.5, message="old instance gone, final snapshot available")
        found = finals()
        self.assertEqual(len(found), 1, found)
        snap_id, snap = found[0]
        self.assertEqual(snap["Status"], "available")
        self.assertIn(snap_id, [o.get("snapshotIdentifier") for o in
                                self.final["status"].get("outputs", [])])
        old_id = snap["DBInstanceIdentifier"]
        self.assertRegex(old_id, r"^%s-old-\d{14}$" % re.escape(self.src))
        # The old name carries the promote step's persisted start time (step.h).
        started = parse_time(step_of(self.final, ITEM + "/promote")["startedAt"])
        self.assertEqual(old_id[-14:], started.strftime("%Y%m%d%H%M%S"))

    def test_7_status_steps_is_the_timeline(self):
        self.need_success()
        obj = self.final
        self.assert_timeline(obj, PLAN)
        out = self.output_of(obj, ITEM)
        self.assertIn(out.get("instanceIdentifier"), (self.src, self.target))
        self.assertEqual(out.get("endpoint"), "127.0.0.1")
        approval = parse_time(obj["status"]["approval"]["approvedAt"])
        promote = parse_time(step_of(obj, ITEM + "/promote")["startedAt"])
        self.assertLessEqual(approval, promote)
        # Events name the steps (kubectl as the oracle).
        ev = kube.kubectl_json("get", "events", "-n", self.ns,
                               "--field-selector", "involvedObject.name=" + RR)
        text = " ".join((e.get("message") or "") + " " + (e.get("reason") or "")
                        for e in ev["items"])
        for name in (ITEM + "/restore", ITEM + "/promote", "rollout/Deployment/order-service"):
            self.assertIn(name, text)

    def test_8_metrics_count_the_restore(self):
        self.need_success()
        body = self.operator.metrics()
        self.assertRegex(body, r"(?m)^lifeboat_restore_duration_seconds_(count|sum)\b")
        # phase counts: some lifeboat_* series labelled phase="Succeeded" counts this one
        self.assertRegex(body, r'(?m)^lifeboat_\w+\{[^}]*phase="Succeeded"[^}]*\} [1-9]')

    def test_9_no_secret_value_in_logs_status_or_events(self):
        self.need_success()
        secrets = (MASTER_PASSWORD, self.url_before)   # the master password, the old URL
        ev = kube.kubectl("get", "events", "-n", self.ns, "-o", "json").stdout
        rr = kube.kubectl("get", "rr", RR, "-n", self.ns, "-o", "json").stdout
        log = self.operator.log_tail(n=50 * 1024 * 1024)
        for where, text in (("operator log", log), ("events", ev), ("rr status", rr)):
            for value in secrets:
                self.assertNotIn(value, text, "a secret value appears in the %s" % where)
