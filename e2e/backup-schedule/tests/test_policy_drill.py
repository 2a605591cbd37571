"""Scheduled restore drills (issue 16, item 7 and the acceptance's last bullet): a monthly
drill template (runbook 002: the newest snapshot restored into a scratch instance, runbook
001's row-count and latest-record queries) fired by a one-minute schedule creates a
VerificationRun, owned by the policy and named after the tick, that passes and leaves no
scratch instance; drills never overlap (a tick that comes while a drill runs does not start
a second one); status.lastVerification follows the drill's phase.

Oracles: kubectl (the VerificationRuns, their owner and results), psql (the expected row
count, read from the source), the aws CLI (the scratch instance is gone)."""
import json
import os
import sys
import time

# the BackupPolicy helpers are shared with e2e/backup (one suite split in two for time)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "backup",
                                "tests"))
from bplib import BackupCase, kube, suffix_name  # noqa: E402
from scenario import cli_instances, psql, rds, wait_snapshot_available  # noqa: E402

DRILL_WAIT_S = 420
TERMINAL = ("Passed", "Failed")


class DrillTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.inst = suffix_name("bk-drill")
        cls.port = cls.seed_instance(cls.inst, orders=25)
        cls.create_secrets(cls.port, admin="drill-admin")
        cls.snap = cls.inst + "-monthly"
        rds().create_db_snapshot(DBInstanceIdentifier=cls.inst, DBSnapshotIdentifier=cls.snap)
        cls.snapshots.append(cls.snap)
        wait_snapshot_available(cls.snap)
        cls.orders = int(psql(cls.port, "SELECT COUNT(*) FROM orders"))

    def template(self):
        return {
            "scratchRestore": {
                "rdsSnapshot": {"latestFrom": {"dbInstanceIdentifier": self.inst,
                                               "snapshotType": "manual"}},
                "dbInstanceClass": "db.t3.medium",
                "credentialsSecretRef": {"name": "drill-admin"},
                "database": "shop_orders"},
            "checks": [
                {"name": "orders-count", "sql": {"query": "SELECT COUNT(*) FROM orders",
                                                 "expect": {"equals": self.orders}}},
                {"name": "latest-order", "sql": {"query": "SELECT MAX(created_at) FROM orders",
                                                 "expect": {"notEmpty": True}}}],
            "timeoutSeconds": 600,
        }

    def drills(self, uid):
        return [v for v in kube.kubectl_json("get", "verificationrun", "-n", self.ns)["items"]
                if any(r.get("uid") == uid for r in v["metadata"].get("ownerReferences", []))]

    def test_monthly_template_fired_by_a_one_minute_schedule_passes_and_cleans_up(self):
        tmpl = self.template()
        obj = self.apply_bp(self.bp_manifest(
            "drills", [{"name": "snap", "rdsSnapshot": {"dbInstanceIdentifier": self.inst}}],
            verification={"schedule": "* * * * *", "template": tmpl}))
        uid = obj["metadata"]["uid"]
        obj = self.wait_bp("drills", lambda o: o.get("status", {}).get("lastVerification"),
                           "status.lastVerification", 150)
        lv = obj["status"]["lastVerification"]
        first = lv["name"]
        self.assertRegex(first, r"^drills-drill-\d{12}$")
        self.assertTrue(lv["time"].endswith(":00Z"), lv)
        vr = kube.kubectl_json("get", "verificationrun", first, "-n", self.ns)
        owner = vr["metadata"]["ownerReferences"][0]
        self.assertEqual((owner["kind"], owner["name"], owner["uid"]),
                         ("BackupPolicy", "drills", uid))
        self.assertTrue(owner["controller"])
        self.assertEqual(vr["spec"]["checks"], tmpl["checks"])
        self.assertEqual(vr["spec"]["scratchRestore"]["rdsSnapshot"],
                         tmpl["scratchRestore"]["rdsSnapshot"])

        # the policy follows the drill to Passed; while it ran no second drill started
        seen_active = set()

        def first_finished(o):
            for v in self.drills(uid):
                if v.get("status", {}).get("phase") not in TERMINAL:
                    seen_active.add(v["metadata"]["name"])
            self.assertLessEqual(len(seen_active), 1, sorted(seen_active))
            lvo = o.get("status", {}).get("lastVerification", {})
            return lvo.get("name") != first or lvo.get("phase") in TERMINAL

        obj = self.wait_bp("drills", first_finished, "the first drill finished", DRILL_WAIT_S)
        vr = kube.kubectl_json("get", "verificationrun", first, "-n", self.ns)
        st = vr["status"]
        self.assertEqual(st["phase"], "Passed", json.dumps(st, indent=1)[:3000])
        self.assertEqual(st["summary"], "2/2")
        results = {r["name"]: r for r in st["results"]}
        self.assertEqual(results["orders-count"]["observed"], str(self.orders))
        self.assertEqual(st["scratch"]["snapshotIdentifier"], self.snap)
        scratch = st["scratch"]["instanceIdentifier"]
        self.assertTrue(scratch.startswith(self.inst + "-vr-"), scratch)
        self.assertNotIn(scratch, cli_instances())
        if obj["status"]["lastVerification"]["name"] == first:
            self.assertEqual(obj["status"]["lastVerification"]["phase"], "Passed")

        # stop the drills, let any one that started after the first finish, then: every
        # drill of this policy has a distinct tick name, none runs, no scratch instance is left
        self.patch_bp("drills", {"suspend": True})
        deadline = time.monotonic() + DRILL_WAIT_S
        while time.monotonic() < deadline:
            runs = self.drills(uid)
            if all(v.get("status", {}).get("phase") in TERMINAL for v in runs):
                break
            time.sleep(1)
        runs = self.drills(uid)
        phases = {v["metadata"]["name"]: v.get("status", {}).get("phase") for v in runs}
        self.assertTrue(all(p in TERMINAL for p in phases.values()), phases)
        self.assertLessEqual(len(runs), 4, phases)  # the newest 3 finished + at most 1
        left = [i for i in cli_instances() if i.startswith(self.inst + "-vr-")]
        self.assertEqual(left, [], phases)
