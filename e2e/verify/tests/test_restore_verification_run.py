"""A RestoreRequest's `verification` runs as an owned VerificationRun (issue 15, Deliver 4):
the restore of a snapshot into a new instance, then the VerificationRun
"<request>-verification" owned by the request (controller, blockOwnerDeletion) whose sql
checks run on the restored copy; the request's status.verificationRun names it and
follows its result; a failing check fails the request; kill -9 of the operator during the
step adopts the same run (one VerificationRun, same uid); a run of that name that the
request does not own is never adopted; deleting the request deletes its run.

Oracles: psql on the restored copy (the expected row count), kubectl (the objects, owner
references, uids), the aws CLI (the restored instance)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))
from scenario import (  # noqa: E402
    ScenarioCase, instance_port, psql, rds, step_of, suffix, wait_snapshot_available)
import kube  # noqa: E402

GROUP_PATH = "/apis/lifeboat.dev/v1alpha1"
CREDS = {"name": "orders-db-admin"}


class RestoreVerificationRun(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "vrr-src-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.snap = cls.src + "-manual"
        rds().create_db_snapshot(DBInstanceIdentifier=cls.src, DBSnapshotIdentifier=cls.snap)
        cls.snapshots.append(cls.snap)
        wait_snapshot_available(cls.snap)
        cls.orders = int(psql(cls.port, "SELECT COUNT(*) FROM orders"))

    def vr(self, name):
        r = kube.api("GET", "%s/namespaces/%s/verificationruns/%s" % (GROUP_PATH, self.ns, name))
        return r.json() if r.status == 200 else None

    def runs_of(self, rr_uid):
        items = kube.kubectl_json("get", "verificationrun", "-n", self.ns)["items"]
        return [v for v in items if any(o.get("uid") == rr_uid
                                        for o in v["metadata"].get("ownerReferences", []))]

    def manifest(self, name, expect):
        target = "%s-%s" % (self.src, name)
        self.instances.append(target)
        item = {"name": "orders-db",
                "rdsSnapshot": {"dbSnapshotIdentifier": self.snap,
                                "targetDBInstanceIdentifier": target},
                "credentialsSecretRef": CREDS, "database": "shop_orders"}
        ver = {"target": {"rdsInstance": {"dbInstanceIdentifier": target,
                                          "credentialsSecretRef": CREDS,
                                          "database": "shop_orders"}},
               "checks": [
            {"name": "orders-count",
             "sql": {"query": "SELECT COUNT(*) FROM orders", "expect": {"equals": expect}}},
            {"name": "users-present",
             "sql": {"query": "SELECT COUNT(*) FROM users", "expect": {"min": 1}}}]}
        return target, self.rr_manifest(name, [item], approval=False, rollback=False,
                                        verification=ver)

    def assert_owned(self, vr, rr):
        refs = vr["metadata"]["ownerReferences"]
        self.assertEqual(len(refs), 1, refs)
        ref = refs[0]
        self.assertEqual((ref["kind"], ref["name"], ref["uid"]),
                         ("RestoreRequest", rr["metadata"]["name"], rr["metadata"]["uid"]))
        self.assertTrue(ref["controller"])
        self.assertTrue(ref["blockOwnerDeletion"])

    def test_passing_verification_is_an_owned_run_on_the_restored_copy(self):
        target, m = self.manifest("vr-pass", self.orders)
        rr = self.apply_rr(m)
        obj = self.wait_phase("vr-pass", "Succeeded", timeout=300)
        ref = obj["status"]["verificationRun"]
        self.assertEqual(ref["name"], "vr-pass-verification")
        self.assertEqual((ref["phase"], ref["summary"]), ("Passed", "2/2"), ref)
        vr = self.vr(ref["name"])
        self.assertIsNotNone(vr)
        self.assert_owned(vr, rr)
        self.assertEqual(ref["uid"], vr["metadata"]["uid"])
        self.assertEqual(vr["status"]["phase"], "Passed")
        # the run's sql checks ran on the restored copy, whose count psql reads itself
        self.assertEqual(vr["spec"]["target"]["rdsInstance"]["dbInstanceIdentifier"], target)
        restored = int(psql(instance_port(target), "SELECT COUNT(*) FROM orders"))
        self.assertEqual(restored, self.orders)
        counts = {r["name"]: r for r in vr["status"]["results"]}
        self.assertTrue(counts["orders-count"]["passed"])
        self.assertEqual(counts["orders-count"]["observed"], str(restored))
        self.assertIn("VerificationRun vr-pass-verification Passed",
                      step_of(obj, "verification")["message"])
        # deleting the request deletes its run (owner reference garbage collection)
        kube.kubectl("delete", "restorerequest", "vr-pass", "-n", self.ns, "--wait=true",
                     timeout=120)
        kube.wait_for(lambda: self.vr(ref["name"]) is None, timeout=120,
                      message="vr-pass-verification garbage-collected")

    def test_failing_check_fails_the_request_with_the_runs_results(self):
        _, m = self.manifest("vr-fail", self.orders + 1)
        self.apply_rr(m)
        obj = self.wait_phase("vr-fail", "Failed", timeout=300)
        ref = obj["status"]["verificationRun"]
        self.assertEqual((ref["phase"], ref["summary"]), ("Failed", "1/2"), ref)
        vr = self.vr(ref["name"])
        self.assertEqual(vr["status"]["phase"], "Failed")
        step = step_of(obj, "verification")
        self.assertEqual(step["phase"], "Failed")
        self.assertIn("1 of 2 verification checks failed", step["message"])
        self.assertIn("FAILED orders-count", step["message"])
        bad = [r for r in vr["status"]["results"] if r["name"] == "orders-count"][0]
        self.assertFalse(bad["passed"])
        self.assertEqual(bad["observed"], str(self.orders))

    def test_kill9_during_the_step_adopts_the_same_run(self):
        _, m = self.manifest("vr-crash", self.orders)
        rr = self.apply_rr(m)
        # kill -9 as soon as the run exists (the request is then in its verification step)
        kube.wait_for(lambda: self.runs_of(rr["metadata"]["uid"]), timeout=300, interval=0.1,
                      message="the VerificationRun of vr-crash")
        self.operator.kill9()
        first = self.runs_of(rr["metadata"]["uid"])
        self.assertEqual(len(first), 1)
        self.operator.start()
        obj = self.wait_phase("vr-crash", "Succeeded", timeout=300)
        runs = self.runs_of(rr["metadata"]["uid"])
        self.assertEqual([v["metadata"]["uid"] for v in runs],
                         [first[0]["metadata"]["uid"]], json.dumps(
                             [v["metadata"]["name"] for v in runs]))
        self.assertEqual(obj["status"]["verificationRun"]["uid"], first[0]["metadata"]["uid"])
        self.assertEqual(runs[0]["status"]["phase"], "Passed")

    def test_a_run_of_that_name_not_owned_is_never_adopted(self):
        kube.kubectl("apply", "-f", "-", input={
            "apiVersion": "lifeboat.dev/v1alpha1", "kind": "VerificationRun",
            "metadata": {"name": "vr-foreign-verification", "namespace": self.ns},
            "spec": {"checks": [{"name": "w", "workload": {"kind": "Deployment",
                                                           "name": "absent"}}],
                     "timeoutSeconds": 30}})
        before = self.vr("vr-foreign-verification")
        _, m = self.manifest("vr-foreign", self.orders)
        self.apply_rr(m)
        obj = self.wait_phase("vr-foreign", "Failed", timeout=300)
        step = step_of(obj, "verification")
        self.assertIn("not owned by this request", step["message"])
        after = self.vr("vr-foreign-verification")
        self.assertEqual(after["metadata"]["uid"], before["metadata"]["uid"])
        self.assertNotIn("ownerReferences", after["metadata"])
