"""Runbook 000 Restore 1A through an AWS brownout (issue 10, items 1-3).

Each class runs the 1A request (point in time T between two known writer rows, verify,
rename, Secret patch with replaceHost, restart of the service, cleanup with a final
snapshot after 1s) while awssim injects one kind of fault (e2e/awssim/faults.py):

  ApplyThen500   every mutating RDS call of the scenario is applied, then answered 500, once
  DropAfterApply every mutating RDS call is applied, then its connection dropped, once
  Throttled      Describe* calls of the scenario answered Throttling, 40 of them
  RenameLag      renames keep the old name (status renaming) for 5 s

and asserts the real outcome: phase Succeeded with no rollback step; the promoted
instance holds every writer row before T and none after; the Secret points at it; the
service restarted; one final snapshot; one instance left under the source's name. From
awssim's request log: the point-in-time restore, each rename and the delete were applied
exactly once, every DeleteDBInstance carried DeleteAutomatedBackups=false, and the
injected faults were actually hit.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
from scenario import (  # noqa: E402
    ScenarioCase, app_info, cli_instances, cli_snapshots, parse_time, rfc3339, secret_value,
    step_of,
    suffix, url_port, wait_restorable, writer_restore_time)
from test_restore_1a import pitr_item, writer_ids  # noqa: E402
from awssim_control import applied, control, request_log  # noqa: E402

RR = "orders-brownout"
ITEM = "orders-db"
BROWNOUT_WAIT_S = 300


class Brownout(ScenarioCase):
    """One 1A restore under the faults of faults(); subclasses pick them."""

    rename_lag_s = None

    @classmethod
    def faults(cls, src, target):
        return []

    @classmethod
    def scenario(cls):
        control("DELETE")
        cls.src = "brown-" + suffix()
        cls.target = cls.src + "-restored"
        cls.src_port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.src_port)
        cls.create_service("order-service")
        cls.url_before = secret_value(cls.ns, "shop-secrets", "ORDER_DATABASE_URL")
        cls.app_before = app_info(cls.ns, "order-service")
        cls.writer = cls.start_writer(cls.src_port, interval=0.4)
        cls.T, cls.k = writer_restore_time(cls.writer, after=2, rows_after=3)
        wait_restorable(cls.T, instance=cls.src)
        cls.log_start = len(request_log())
        cls.installed = []
        for spec in cls.faults(cls.src, cls.target):
            cls.installed.append(control("POST", spec)["added"])
        if cls.rename_lag_s is not None:
            control("POST", {"rename_lag_s": cls.rename_lag_s})

    @classmethod
    def tearDownClass(cls):
        try:
            control("DELETE")
        finally:
            super().tearDownClass()

    def scenario_calls(self, action, **params):
        out = []
        for e in request_log()[self.log_start:]:
            if e.get("action") != action:
                continue
            if all(e["params"].get(k) == v for k, v in params.items()):
                out.append(e)
        return out

    def test_restore_succeeds_exactly_once(self):
        self.apply_rr(self.rr_manifest(
            RR, [pitr_item(self.src, self.target, rfc3339(self.T))],
            rollout=["order-service"], approval=False))
        obj = self.wait_phase(RR, "Succeeded", timeout=BROWNOUT_WAIT_S)
        rows = self.writer.stop()
        st = obj["status"]
        desc = self.describe_rr(obj)
        # No rollback ran.
        self.assertFalse([s["name"] for s in st.get("steps", [])
                          if s["name"].startswith("rollback/")], desc)
        self.assertIsNone(step_of(obj, "rollback"), desc)

        # Rows before T only, on the instance now named like the source.
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        port = inst[self.src]["Endpoint"]["Port"]
        self.assertNotEqual(port, self.src_port, "the source name still serves the old server")
        before = [i for i, t in rows if t < self.T]
        after = [i for i, t in rows if t > self.T]
        self.assertTrue(before and after)
        self.assertEqual(writer_ids(port), before)

        # The Secret points at it; the service restarted and reads it.
        url = secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL")
        self.assertEqual(url_port(url), ("127.0.0.1", port))
        info = app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.app_before["pid"], "the service did not restart")
        self.assertEqual(info["value"], url)

        # One instance left, one final snapshot.
        def left():
            return sorted(i for i in cli_instances() if i.startswith(self.src))

        def finals():
            return [s for s, d in cli_snapshots().items()
                    if d.get("DBInstanceIdentifier", "").startswith(self.src + "-old-")
                    and d.get("SnapshotType") == "manual"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (left() != [self.src] or len(finals()) != 1):
            time.sleep(0.5)
        self.assertEqual(left(), [self.src])
        self.assertEqual(len(finals()), 1, finals())

        # awssim's request log: each change applied exactly once.
        restores = [e for e in self.scenario_calls("RestoreDBInstanceToPointInTime",
                                                   SourceDBInstanceIdentifier=self.src)
                    if applied(e)]
        self.assertEqual(len(restores), 1, restores)
        old = [i for i in self.scenario_calls("ModifyDBInstance", DBInstanceIdentifier=self.src)
               if applied(i)]
        self.assertEqual(len(old), 1, old)
        old_id = old[0]["params"]["NewDBInstanceIdentifier"]
        self.assertRegex(old_id, r"^%s-old-\d{14}$" % re.escape(self.src))
        phase2 = [e for e in self.scenario_calls("ModifyDBInstance",
                                                 DBInstanceIdentifier=self.target) if applied(e)]
        self.assertEqual([e["params"]["NewDBInstanceIdentifier"] for e in phase2], [self.src])
        deletes = self.scenario_calls("DeleteDBInstance")
        ours = [e for e in deletes if e["params"].get("DBInstanceIdentifier") == old_id]
        self.assertEqual(len([e for e in ours if applied(e)]), 1, ours)
        self.assertEqual(ours[0]["params"].get("FinalDBSnapshotIdentifier"), old_id + "-final")
        for e in deletes:
            if e.get("access_key") == os.environ.get("AWS_ACCESS_KEY_ID") and \
                    e["params"].get("DBInstanceIdentifier", "").startswith(self.src):
                self.assertEqual(e["params"].get("DeleteAutomatedBackups"), "false", e)

        # The faults were hit (otherwise this test proved nothing).
        state = {f["id"]: f for f in control("GET")["faults"]}
        for f in self.installed:
            self.assertGreaterEqual(state[f["id"]]["applied"], 1,
                                    "fault %s was never hit" % json.dumps(f))
        self.check_faults_seen()

    def check_faults_seen(self):
        pass


def mutating_faults(mode, src, target):
    ids = {"DBInstanceIdentifier": src}
    return [
        {"action": "RestoreDBInstanceToPointInTime", "mode": mode, "times": 1,
         "match": {"SourceDBInstanceIdentifier": src}},
        {"action": "AddTagsToResource", "mode": mode, "times": 1,
         "match": {"ResourceName": "*:db:" + src}},
        {"action": "ModifyDBInstance", "mode": mode, "times": 1, "match": ids},
        {"action": "ModifyDBInstance", "mode": mode, "times": 1,
         "match": {"DBInstanceIdentifier": target}},
        {"action": "DeleteDBInstance", "mode": mode, "times": 1,
         "match": {"DBInstanceIdentifier": src + "-old-*"}},
    ]


class ApplyThen500(Brownout):
    @classmethod
    def faults(cls, src, target):
        return mutating_faults("apply-then-500", src, target)


class DropAfterApply(Brownout):
    @classmethod
    def faults(cls, src, target):
        return mutating_faults("drop-after-apply", src, target)


class Throttled(Brownout):
    @classmethod
    def faults(cls, src, target):
        return [{"action": "Describe*", "mode": "throttle", "times": 40,
                 "match": {"DBInstanceIdentifier": src + "*"}}]

    def check_faults_seen(self):
        throttled = [e for e in request_log()[self.log_start:] if e.get("fault") == "throttle"]
        self.assertGreaterEqual(len(throttled), 5)


class RenameLag(Brownout):
    rename_lag_s = 5

    def check_faults_seen(self):
        # Phase 2 cannot start before phase 1 landed (5 s), nor the promote end before
        # phase 2 landed (5 s more): a promote shorter than that did not meet the lag.
        obj = self.rr(RR)
        p = step_of(obj, ITEM + "/promote")
        took = (parse_time(p["finishedAt"]) - parse_time(p["startedAt"])).total_seconds()
        self.assertGreaterEqual(took, 2 * self.rename_lag_s - 1, self.describe_rr(obj))


del Brownout  # only the subclasses are test cases
