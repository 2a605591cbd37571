"""Scheduled restore drills (issue 16, item 7): spec.verification.schedule creates a
VerificationRun from the template on its own cron, owned by the policy (so deleting the
policy deletes its drills), named after the tick, and status.lastVerification names it.
Whether the drill passes is the VerificationRun controller's business (its own suite);
here the oracle is the created object, read with kubectl."""
import json

from bplib import BackupCase, kube, suffix_name

TEMPLATE = {
    "scratchRestore": {
        "rdsSnapshot": {"latestFrom": {"dbInstanceIdentifier": "drill-src", "snapshotType": "any"}},
        "dbInstanceClass": "db.t3.medium",
        "credentialsSecretRef": {"name": "drill-admin"},
        "database": "shop_orders"},
    "checks": [{"name": "orders-present",
                "sql": {"query": "SELECT COUNT(*) FROM orders", "expect": {"min": 1}}}],
    "timeoutSeconds": 3600,
}


class DrillTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.inst = suffix_name("bk-drill")

    def test_monthly_template_fired_by_a_one_minute_schedule_creates_an_owned_run(self):
        obj = self.apply_bp(self.bp_manifest(
            "drills", [{"name": "snap", "rdsSnapshot": {"dbInstanceIdentifier": self.inst}}],
            verification={"schedule": "* * * * *", "template": TEMPLATE}))
        obj = self.wait_bp("drills", lambda o: o.get("status", {}).get("lastVerification"),
                           "status.lastVerification", 150)
        lv = obj["status"]["lastVerification"]
        self.assertRegex(lv["name"], r"^drills-drill-\d{12}$")
        self.assertTrue(lv["time"].endswith(":00Z"), lv)
        vr = kube.kubectl_json("get", "verificationrun", lv["name"], "-n", self.ns)
        owner = vr["metadata"]["ownerReferences"][0]
        self.assertEqual((owner["kind"], owner["name"], owner["uid"]),
                         ("BackupPolicy", "drills", obj["metadata"]["uid"]))
        self.assertTrue(owner["controller"])
        self.assertEqual(vr["spec"]["checks"], TEMPLATE["checks"])
        self.assertEqual(vr["spec"]["scratchRestore"]["rdsSnapshot"],
                         TEMPLATE["scratchRestore"]["rdsSnapshot"])
        # one VerificationRun per tick: every one of ours has a distinct tick name
        runs = [v for v in kube.kubectl_json("get", "verificationrun", "-n", self.ns)["items"]
                if any(r.get("uid") == obj["metadata"]["uid"]
                       for r in v["metadata"].get("ownerReferences", []))]
        names = [v["metadata"]["name"] for v in runs]
        self.assertEqual(len(names), len(set(names)), json.dumps(names))
        self.assertLessEqual(len(runs), 3)
