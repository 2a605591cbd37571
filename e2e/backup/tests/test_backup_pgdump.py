"""BackupPolicy pgDump targets (issue 16): backup-now runs `lifeboat-agent pg-backup` in a
Job (kubesim runs its pod as a local process, bin/ on PATH) into awssim's S3, encrypted,
with a manifest; the object restores through the pgDump source of a RestoreRequest to
identical row counts. A dump of the emptied database after a non-empty one is flagged
Suspicious (condition, Event, metric), never a success; a target that cannot dump sets
lastError and the failure metric."""
import json
import os

from bplib import BackupCase, cond, history, kube, metric_value, target_status
from scenario import b64
from agentlib import PgCluster, new_bucket, seed_shop

KEY = "bk-policy-encryption-key-32byte!"


class PgDumpBackupTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.pg = PgCluster()
        cls.pg.start()
        seed_shop(cls.pg, "shop", orders=400)
        cls.pg.createdb("shop_copy")
        cls.bucket = new_bucket()
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": cls.ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "backup-key", "namespace": cls.ns},
             "data": {"key": b64(KEY)}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-db",
                                                                "namespace": cls.ns},
             "data": {"url": b64(cls.pg.url("shop"))}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "copy-db",
                                                                "namespace": cls.ns},
             "data": {"url": b64(cls.pg.url("shop_copy"))}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "missing-db",
                                                                "namespace": cls.ns},
             "data": {"url": b64(cls.pg.url("no_such_database"))}},
        ])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "pg", None):
            cls.pg.destroy()

    def policy(self, name, secret):
        try:
            return self.bp(name)
        except AssertionError:
            return self.apply_bp(self.bp_manifest(name, [{
                "name": "orders-logical",
                "pgDump": {"connectionSecretRef": {"name": secret, "key": "url"},
                           "destination": {"bucket": self.bucket, "prefix": "pg/shop/"},
                           "encryption": {"keySecretRef": {"name": "backup-key",
                                                           "key": "key"}}}}]))

    def test_1_dump_restores_to_identical_row_counts(self):
        self.policy("logical", "shop-db")
        counts = self.pg.counts("shop")
        self.backup_now("logical", "t1")
        obj = self.wait_token("logical", "t1")
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        lb = target_status(obj, "orders-logical")["lastBackup"]
        key = lb["id"]
        self.assertTrue(key.startswith("pg/shop/orders-logical_") and key.endswith("Z.dump"), key)
        self.assertEqual(lb["rows"], sum(counts.values()))
        self.assertGreater(lb["sizeBytes"], 0)
        head = json.loads(self.run_aws("s3api", "head-object", "--bucket", self.bucket,
                                       "--key", key))
        self.assertEqual(head["ContentLength"], lb["sizeBytes"])
        manifest = json.loads(self.run_aws("s3", "cp", "s3://%s/%s" % (
            self.bucket, key[:-5] + ".manifest.json"), "-", raw=True))
        self.assertEqual(manifest["sha256"], lb["sha256"])
        # The Job carried the database URL and the key only as secretKeyRefs.
        jobs = json.dumps(kube.kubectl_json("get", "job", "-n", self.ns, "-l",
                                            "app.kubernetes.io/managed-by=lifeboat"))
        self.assertNotIn(self.pg.url("shop"), jobs)
        self.assertNotIn(KEY, jobs)
        self.assertIn("pg-backup", jobs)
        # Restore it through the pgDump source into an empty database.
        rr = self.rr_manifest("from-backup", [{"name": "orders-logical", "pgDump": {
            "source": {"bucket": self.bucket, "key": key}, "manifest": "required",
            "decryption": {"keySecretRef": {"name": "backup-key", "key": "key"}},
            "target": {"connectionSecretRef": {"name": "copy-db", "key": "url"}}}}],
            approval=False)
        self.apply_rr(rr)
        self.wait_phase("from-backup", "Succeeded", timeout=180)
        self.assertEqual(self.pg.counts("shop_copy"), counts)

    def test_2_empty_dump_after_a_full_one_is_flagged(self):
        obj = self.policy("logical", "shop-db")
        if not any(h.get("phase") == "Succeeded" for h in history(obj)):
            self.backup_now("logical", "t1b")
            obj = self.wait_token("logical", "t1b")
        good = target_status(obj, "orders-logical")["lastGood"]
        last_ok = obj["status"]["lastSuccessfulTime"]
        tables = ", ".join('"%s"' % t.split(".", 1)[1] for t in self.pg.counts("shop"))
        self.pg.script("TRUNCATE %s CASCADE;" % tables, "shop")
        self.backup_now("logical", "t2")
        obj = self.wait_token("logical", "t2")
        h = history(obj)[-1]
        self.assertEqual(h["phase"], "Suspicious", h)
        self.assertIn("0 rows/keys", h["targets"][0]["message"])
        ts = target_status(obj, "orders-logical")
        self.assertEqual(ts["lastBackup"]["rows"], 0)
        self.assertIn("0 rows/keys", ts["lastBackup"]["suspicious"])
        self.assertIn("0 rows/keys", ts["lastError"])
        self.assertEqual(ts["lastGood"]["id"], good["id"])      # still the full one
        self.assertEqual(obj["status"]["lastSuccessfulTime"], last_ok)
        self.assertEqual(cond(obj, "Ready")["status"], "False")
        events = kube.kubectl_json("get", "events", "-n", self.ns)["items"]
        self.assertTrue(any(e.get("reason") == "BackupSuspicious" and
                            "orders-logical" in e.get("message", "") for e in events),
                        [e.get("reason") for e in events])
        self.assertGreaterEqual(metric_value(
            self.operator.metrics(), "lifeboat_backup_failures_total",
            policy="%s/logical" % self.ns, target="orders-logical", reason="BackupSuspicious")
            or 0, 1)

    def test_3_failed_target_sets_last_error_and_metric(self):
        self.policy("broken", "missing-db")
        self.backup_now("broken", "t3")
        obj = self.wait_token("broken", "t3")
        h = history(obj)[-1]
        self.assertEqual(h["phase"], "Failed", h)
        ts = target_status(obj, "orders-logical")
        self.assertIn("BackupFailed", ts["lastError"])
        self.assertIn("no_such_database", ts["lastError"])
        self.assertNotIn(self.pg.url("no_such_database"), json.dumps(obj))
        self.assertNotIn("lastBackup", ts)
        self.assertGreaterEqual(metric_value(
            self.operator.metrics(), "lifeboat_backup_failures_total",
            policy="%s/broken" % self.ns, target="orders-logical", reason="BackupFailed")
            or 0, 1)

    def run_aws(self, *args, raw=False):
        import subprocess
        p = subprocess.run(["aws", *args] + ([] if raw else ["--output", "json"]),
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("aws %s: %s" % (" ".join(args), p.stderr))
        return p.stdout
