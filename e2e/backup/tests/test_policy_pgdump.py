"""BackupPolicy pgDump targets (issue 16): backup-now runs `lifeboat-agent pg-backup` in a
Job (kubesim runs its pod as a local process, bin/ on PATH) into awssim's S3, encrypted,
with a manifest; the object restores through the pgDump source of a RestoreRequest to
identical row counts. A dump of the emptied database after a non-empty one is flagged
Suspicious (condition, Event, metric), never a success; a target that cannot dump sets
lastError and the failure metric; a real pg_dump failure leaves nothing; a failed Job's
leftover object is tagged failed, never counted, deleted by the next retention pass."""
import json
import os
import time

from bplib import (BackupCase, cond, history, keys_under, kube, metric_value, s3_tags,
                   target_status)
from scenario import b64
from agentlib import PgCluster, new_bucket, seed_shop
from awssim_control import control, request_log

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
            return self.apply_bp(self.bp_manifest(name, [self.target("pg/shop/", secret)]))

    def test_1_dump_restores_to_identical_row_counts(self):
        self.policy("logical", "shop-db")
        counts = self.pg.counts("shop")
        obj = self.run_token("logical", "t1", "Succeeded")
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
        obj = self.run_token("logical", "t2", "Suspicious")
        self.assertIn("0 rows/keys", history(obj)[-1]["targets"][0]["message"])
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
        obj = self.run_token("broken", "t3", "Failed")
        ts = target_status(obj, "orders-logical")
        self.assertIn("BackupFailed", ts["lastError"])
        self.assertIn("no_such_database", ts["lastError"])
        self.assertNotIn(self.pg.url("no_such_database"), json.dumps(obj))
        self.assertNotIn("lastBackup", ts)
        self.assertGreaterEqual(metric_value(
            self.operator.metrics(), "lifeboat_backup_failures_total",
            policy="%s/broken" % self.ns, target="orders-logical", reason="BackupFailed")
            or 0, 1)

    def test_4_pg_dump_failure_leaves_no_backup(self):
        """A real pg_dump failure (the role may read the tables, not their sequences:
        `permission denied for sequence`): the run Fails naming pg_dump, no object and no
        unfinished multipart upload is left under the prefix, nothing is counted."""
        seed_shop(self.pg, "shop_noseq", orders=50)
        self.pg.script("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM app;", "shop_noseq")
        self.put_secret("noseq-db", self.pg.url("shop_noseq"))
        self.apply_bp(self.bp_manifest("noseq", [self.target("pg/noseq/", "noseq-db")],
                                       retention={"keepLast": 5}))
        obj = self.run_token("noseq", "n1", "Failed")
        ts = target_status(obj, "orders-logical")
        self.assertIn("pg_dump", ts["lastError"])
        self.assertNotIn("lastBackup", ts)
        self.assertNotIn("lastGood", ts)
        self.assertEqual(keys_under(self.bucket, "pg/noseq/"), [])
        uploads = json.loads(self.run_aws("s3api", "list-multipart-uploads", "--bucket",
                                          self.bucket, "--prefix", "pg/noseq/") or "{}")
        self.assertEqual(uploads.get("Uploads", []), [], uploads)

    def test_5_failed_backups_leftover_is_tagged_failed_and_deleted(self):
        """The Job fails after its dump object is complete (awssim refuses every write of the
        manifest): the object is tagged as the policy's and failed, never lastGood; the next
        good run's retention (keepLast 5, far from reached) deletes it and keeps the good
        one."""
        obj = self.apply_bp(self.bp_manifest(
            "leftover", [self.target("pg/leftover/", "shop-db")], retention={"keepLast": 5}))
        uid = obj["metadata"]["uid"]
        control("POST", {"action": "PutObject", "mode": "500-no-apply", "times": -1,
                         "match": {"Key": "pg/leftover/*.manifest.json"}})
        try:
            self.backup_now("leftover", "l1")
            obj = self.wait_token("leftover", "l1")
        finally:
            control("DELETE")
        h = history(obj)[-1]
        self.assertEqual(h["phase"], "Failed", h)
        ts = target_status(obj, "orders-logical")
        self.assertNotIn("lastGood", ts)
        left = keys_under(self.bucket, "pg/leftover/")
        self.assertEqual(len(left), 1, left)
        self.assertTrue(left[0].endswith("Z.dump"), left)
        self.assertEqual(s3_tags(self.bucket, left[0]), {
            "lifeboat.dev/owner": "BackupPolicy/%s/leftover" % self.ns,
            "lifeboat.dev/uid": uid, "lifeboat.dev/target": "orders-logical",
            "lifeboat.dev/backup-result": "failed"})
        obj = self.run_token("leftover", "l2", "Succeeded")
        good = target_status(obj, "orders-logical")["lastGood"]["id"]
        self.assertNotEqual(good, left[0])
        self.assertEqual(keys_under(self.bucket, "pg/leftover/"),
                         sorted([good, good[:-5] + ".manifest.json"]))
        events = kube.kubectl_json("get", "events", "-n", self.ns)["items"]
        self.assertTrue(any(e.get("reason") == "RetentionDeleted" and
                            left[0] in e.get("message", "") for e in events),
                        [(e.get("reason"), e.get("message")) for e in events])

    def test_6_tagging_after_kill9_leaves_one_tag_set(self):
        """kill -9 right after the PutObjectTagging of the dump (awssim applies it and holds
        the answer), then a 500 after the manifest's: one Job, one dump and one manifest,
        each with exactly the three ownership tags; the run Succeeds."""
        obj = self.apply_bp(self.bp_manifest("tagkill", [self.target("pg/tagkill/", "shop-db")]))
        uid = obj["metadata"]["uid"]
        since = time.time()
        control("POST", {"action": "PutObjectTagging", "mode": "apply-then-hold", "times": 1,
                         "match": {"Key": "pg/tagkill/*.dump"}})
        try:
            self.backup_now("tagkill", "k1")
            deadline = time.monotonic() + 180
            while not any(e.get("held") and e.get("ts", 0) >= since
                          and e.get("action") == "PutObjectTagging" for e in request_log()):
                self.assertLess(time.monotonic(), deadline, self.operator.log_tail())
                time.sleep(0.2)
            self.operator.kill9()
            control("DELETE")
            control("POST", {"action": "PutObjectTagging", "mode": "apply-then-500",
                             "times": 1, "match": {"Key": "pg/tagkill/*.manifest.json"}})
            self.operator.start()
            obj = self.wait_token("tagkill", "k1")
            state = control("GET")
        finally:
            control("DELETE")
        self.assertEqual([f["applied"] for f in state["faults"]], [1], state)
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        key = target_status(obj, "orders-logical")["lastGood"]["id"]
        self.assertEqual(keys_under(self.bucket, "pg/tagkill/"),
                         sorted([key, key[:-5] + ".manifest.json"]))
        want = {"lifeboat.dev/owner": "BackupPolicy/%s/tagkill" % self.ns,
                "lifeboat.dev/uid": uid, "lifeboat.dev/target": "orders-logical"}
        for k in keys_under(self.bucket, "pg/tagkill/"):
            self.assertEqual(s3_tags(self.bucket, k), want, k)
        jobs = [j for j in kube.kubectl_json("get", "job", "-n", self.ns)["items"]
                if any(o.get("uid") == uid for o in j["metadata"].get("ownerReferences", []))]
        self.assertEqual(len(jobs), 1, [j["metadata"]["name"] for j in jobs])

    def target(self, prefix, secret):
        return {"name": "orders-logical",
                "pgDump": {"connectionSecretRef": {"name": secret, "key": "url"},
                           "destination": {"bucket": self.bucket, "prefix": prefix},
                           "encryption": {"keySecretRef": {"name": "backup-key",
                                                           "key": "key"}}}}

    def put_secret(self, name, url):
        kube.kubectl("apply", "-f", "-", input={
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": self.ns}, "data": {"url": b64(url)}})

    def run_aws(self, *args, raw=False):
        import subprocess
        p = subprocess.run(["aws", *args] + ([] if raw else ["--output", "json"]),
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError("aws %s: %s" % (" ".join(args), p.stderr))
        return p.stdout
