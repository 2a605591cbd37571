"""pgDump items through the operator: RestoreRequest -> Jobs running lifeboat-agent in
kubesim (a Job's pod is a local process; bin/ is on its PATH) -> a real PostgreSQL 15
cluster, objects in awssim's S3.

Runbook 000 1C (a custom dump into the live database after approval), 003 section 2
(.sql.gz + {"sha256"} manifest, recreateDatabase; a manifest off by one byte fails the
prepare and the database keeps its rows), 004 P1 (the runbook's openssl-encrypted
latest.sql.gz.enc, scaleDown of the API Deployment: its process stops for the load and
a new one runs after it, the "User" count checked).
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

from scenario import ScenarioCase, b64, kube

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "agent", "tests"))
from agentlib import PgCluster, new_bucket, put, seed_shop, sha256  # noqa: E402

KEY = "mykadoo-backup-encryption-key-42"


class PgDumpRestoreTest(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.pg = PgCluster()
        cls.pg.start()
        cls.bucket = new_bucket()
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            # What a Job needs for S3 when there is no IRSA (awssim's test keys).
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": cls.ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "backup-secrets", "namespace": cls.ns},
             "data": {"BACKUP_ENCRYPTION_KEY": b64(KEY)}},
        ])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "pg", None):
            cls.pg.destroy()

    def db_secret(self, name, db):
        kube.kubectl("apply", "-f", "-", input=[{
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": self.ns},
            "data": {"url": b64(self.pg.url(db))}}])

    def item(self, name, key, db_secret, **extra):
        src = {"source": {"bucket": self.bucket, "key": key},
               "target": {"connectionSecretRef": {"name": db_secret, "key": "url"}}}
        src.update(extra)
        return {"name": name, "pgDump": src}

    def step(self, obj, name):
        for s in obj["status"]["steps"]:
            if s["name"] == name:
                return s
        raise AssertionError("no step %s in %s" % (name, [s["name"] for s in obj["status"]["steps"]]))

    def test_runbook_000_1c_custom_dump_after_approval(self):
        seed_shop(self.pg, "lomash_orders")
        at_dump = self.pg.psql("SELECT count(*), min(created_at), max(created_at) FROM orders",
                               "lomash_orders")
        counts = self.pg.counts("lomash_orders")
        key = "pg-logical/lomash_orders/lomash_orders_20260218.dump"
        put(self.bucket, key, self.pg.dump("lomash_orders", "-Fc"))
        self.pg.script("DELETE FROM orders WHERE id > 4000; UPDATE customers SET name = 'x';",
                       "lomash_orders")
        self.db_secret("lomash-orders-target", "lomash_orders")
        rr = self.rr_manifest("orders-pg-dump", [self.item(
            "orders-logical", key, "lomash-orders-target", manifest="optional", jobs=2)])
        rr["spec"]["items"][0]["verify"] = {"checks": [
            {"name": "orders-restored", "sql": {"query": "SELECT count(*) FROM orders",
                                                "expect": {"equals": counts["public.orders"]}}}]}
        self.apply_rr(rr)
        obj = self.wait_phase("orders-pg-dump", "AwaitingApproval")
        # A live target waits at the gate (unlike a copy, see below).
        self.assertIn("approval", [p["name"] for p in obj["status"]["plan"]])
        self.assertEqual(self.step(obj, "orders-logical/load")["phase"], "Pending")
        # Prepare downloaded and decoded it; nothing live changed yet.
        self.assertIn("computed (no manifest)", self.step(obj, "orders-logical/checksum")["message"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "lomash_orders"), "4000")
        self.approve("orders-pg-dump")
        obj = self.wait_phase("orders-pg-dump", "Succeeded", timeout=180)
        self.assertEqual(self.pg.psql("SELECT count(*), min(created_at), max(created_at) "
                                      "FROM orders", "lomash_orders"), at_dump)
        self.assertEqual(self.pg.counts("lomash_orders"), counts)
        self.assertIn("loaded s3://%s/%s" % (self.bucket, key),
                      self.step(obj, "orders-logical/load")["message"])
        # The Job carried the URL only as a secretKeyRef.
        job = kube.kubectl_json("get", "job", "-n", self.ns, "-l",
                                "app.kubernetes.io/managed-by=lifeboat")
        text = json.dumps(job)
        self.assertNotIn(self.pg.url("lomash_orders"), text)
        self.assertIn("secretKeyRef", text)

    def test_runbook_003_off_by_one_manifest_stops_before_the_drop(self):
        seed_shop(self.pg, "loanserve", orders=300)
        sql_gz = gzip.compress(self.pg.dump("loanserve"))
        put(self.bucket, "prod/pg/2025-10-01.sql.gz", sql_gz)
        good = sha256(sql_gz)
        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        put(self.bucket, "prod/pg/2025-10-01.manifest.json", json.dumps({"sha256": bad}).encode())
        self.pg.script("INSERT INTO customers VALUES (9999, 'live only')", "loanserve")
        self.db_secret("loanserve-target", "loanserve")
        self.apply_rr(self.rr_manifest("loans-logical", [self.item(
            "loans", "prod/pg/2025-10-01.sql.gz", "loanserve-target", manifest="required",
            recreateDatabase=True)], approval=False))
        obj = self.wait_phase("loans-logical", "Failed", timeout=120)
        msg = self.step(obj, "loans/download")["message"]
        self.assertIn("checksum mismatch", msg)
        self.assertIn("prod/pg/2025-10-01.sql.gz", msg)
        self.assertEqual(self.step(obj, "loans/load")["phase"], "Pending")
        self.assertEqual(self.pg.psql("SELECT name FROM customers WHERE id = 9999", "loanserve"),
                         "live only")

        # With the right manifest the same request shape succeeds (no approval needed).
        put(self.bucket, "prod/pg/2025-10-01.manifest.json", json.dumps({"sha256": good}).encode())
        self.apply_rr(self.rr_manifest("loans-logical-2", [self.item(
            "loans", "prod/pg/2025-10-01.sql.gz", "loanserve-target", manifest="required",
            recreateDatabase=True)], approval=False))
        obj = self.wait_phase("loans-logical-2", "Succeeded", timeout=120)
        self.assertIn("matches the manifest", self.step(obj, "loans/checksum")["message"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM customers WHERE id = 9999",
                                      "loanserve"), "0")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "loanserve"), "300")

    def test_runbook_004_p1_encrypted_with_scale_down(self):
        seed_shop(self.pg, "mykadoo", orders=200)
        users = self.pg.psql('SELECT count(*) FROM "User"', "mykadoo")
        work = tempfile.mkdtemp(prefix="lbp1")
        plain, enc = os.path.join(work, "latest.sql.gz"), os.path.join(work, "latest.sql.gz.enc")
        with open(plain, "wb") as f:
            f.write(gzip.compress(self.pg.dump("mykadoo")))
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-in", plain, "-out", enc,
                        "-pass", "pass:" + KEY], check=True)
        with open(enc, "rb") as f:
            put(self.bucket, "database/production/latest.sql.gz.enc", f.read())
        subprocess.run(["rm", "-rf", work])
        self.pg.script('DELETE FROM "User" WHERE id > 5', "mykadoo")
        # The API: a real process reading the database through its Secret.
        kube.kubectl("apply", "-f", "-", input=[{
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "mykadoo-db-credentials", "namespace": self.ns},
            "data": {"url": b64(self.pg.url("mykadoo")),
                     "ORDER_DATABASE_URL": b64(self.pg.url("mykadoo"))}}])
        self.create_service("mykadoo-api", secret="mykadoo-db-credentials")
        before = kube.kubectl_json("get", "pods", "-n", self.ns, "-l", "app=mykadoo-api")
        pid_before = {p["metadata"]["uid"] for p in before["items"]}
        self.assertEqual(len(pid_before), 1)

        self.apply_rr(self.rr_manifest("mykadoo-db-restore", [self.item(
            "mykadoo-db", "database/production/latest.sql.gz.enc", "mykadoo-db-credentials",
            manifest="none", recreateDatabase=True,
            decryption={"keySecretRef": {"name": "backup-secrets",
                                         "key": "BACKUP_ENCRYPTION_KEY"},
                        "algorithm": "aes-256-cbc-pbkdf2"},
            scaleDown=[{"kind": "Deployment", "name": "mykadoo-api"}])]))
        obj = self.wait_phase("mykadoo-db-restore", "AwaitingApproval")
        self.assertIn("aes-256-cbc", self.step(obj, "mykadoo-db/checksum")["message"])
        self.approve("mykadoo-db-restore")
        obj = self.wait_phase("mykadoo-db-restore", "Succeeded", timeout=180)
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "User"', "mykadoo"), users)
        # The API was down for the load and a new process runs after it.
        down, load, up = (self.step(obj, "mykadoo-db/" + a) for a in
                          ("scale-down", "load", "scale-up"))
        self.assertLessEqual(down["finishedAt"], load["startedAt"])
        self.assertLessEqual(load["finishedAt"], up["startedAt"])
        kube.kubectl("rollout", "status", "deployment/mykadoo-api", "-n", self.ns,
                     "--timeout=60s", timeout=90)
        after = kube.kubectl_json("get", "pods", "-n", self.ns, "-l", "app=mykadoo-api")
        pid_after = {p["metadata"]["uid"] for p in after["items"]}
        self.assertEqual(len(pid_after), 1)
        self.assertTrue(pid_before.isdisjoint(pid_after))
        dep = kube.kubectl_json("get", "deployment", "mykadoo-api", "-n", self.ns)
        self.assertEqual(dep["spec"]["replicas"], 1)


    def test_restore_into_a_new_database_needs_no_approval(self):
        """target.createDatabase: the dump is loaded into a new database (a copy); nothing
        live changes, so the request (approval.required left at its default, true) runs to
        Succeeded with no approval gate in its plan and no approval recorded (issue 12:
        "When the target is a copy, nothing needs approval"); the live database is never
        touched; a database that already exists is refused, not loaded into."""
        seed_shop(self.pg, "copysrc", orders=150)
        counts = self.pg.counts("copysrc")
        put(self.bucket, "copy/copysrc.dump", self.pg.dump("copysrc", "-Fc"))
        self.pg.script("DELETE FROM orders WHERE id > 100", "copysrc")
        self.db_secret("copy-target", "copysrc_restored")
        item = self.item("copy", "copy/copysrc.dump", "copy-target", manifest="none")
        item["pgDump"]["target"]["createDatabase"] = True
        item["verify"] = {"checks": [{"name": "orders", "sql": {
            "query": "SELECT count(*) FROM orders",
            "expect": {"equals": counts["public.orders"]}}}]}
        manifest = self.rr_manifest("copy-rr", [item])
        self.assertNotEqual(manifest["spec"].get("approval", {}).get("required"), False)
        self.apply_rr(manifest)
        obj = self.wait_phase("copy-rr", ("Succeeded", "AwaitingApproval"), timeout=180)
        self.assertEqual(obj["status"]["phase"], "Succeeded", self.describe_rr(obj))
        plan = {p["name"]: p for p in obj["status"]["plan"]}
        self.assertNotIn("approval", plan)
        self.assertFalse(any(p["destructive"] for p in plan.values()), plan)
        self.assertNotIn("approval", obj["status"])
        approved = [c for c in obj["status"]["conditions"] if c["type"] == "Approved"][0]
        self.assertEqual((approved["status"], approved["reason"]), ("True", "NothingToApprove"))
        self.assertEqual(self.step(obj, "copy/load")["phase"], "Succeeded")
        self.assertEqual(self.step(obj, "copy/verify")["phase"], "Succeeded")
        # Loaded into the new database only.
        self.assertEqual(self.pg.counts("copysrc_restored"), counts)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "copysrc"), "100")

        # The same request shape against a database that exists is refused.
        self.db_secret("copy-exists", "copysrc")
        item = self.item("copy2", "copy/copysrc.dump", "copy-exists", manifest="none")
        item["pgDump"]["target"]["createDatabase"] = True
        self.apply_rr(self.rr_manifest("copy-rr-2", [item], approval=False))
        obj = self.wait_phase("copy-rr-2", "Failed", timeout=180)
        self.assertIn("already exists", self.step(obj, "copy2/load")["message"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "copysrc"), "100")


class PgDumpCrashAndBadInputTest(PgDumpRestoreTest):
    """kill -9 of the operator while the download Job runs: the Job is adopted, not
    created again; an empty latestUnder fails validate naming the prefix."""

    test_runbook_000_1c_custom_dump_after_approval = None
    test_runbook_003_off_by_one_manifest_stops_before_the_drop = None
    test_runbook_004_p1_encrypted_with_scale_down = None
    test_restore_into_a_new_database_needs_no_approval = None

    def test_kill_9_while_the_download_job_runs_adopts_the_job(self):
        import time
        seed_shop(self.pg, "crashdb", orders=20000)
        put(self.bucket, "crash/crashdb.dump", self.pg.dump("crashdb", "-Fc"))
        self.db_secret("crash-target", "crashdb")
        self.apply_rr(self.rr_manifest("crash-rr", [self.item(
            "crash", "crash/crashdb.dump", "crash-target", manifest="none")]))
        deadline = time.monotonic() + 60
        jobs = []
        while time.monotonic() < deadline and not jobs:
            jobs = kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
            time.sleep(0.05)
        self.assertEqual(len(jobs), 1)
        uid = jobs[0]["metadata"]["uid"]
        self.operator.kill9()
        self.operator.start()
        obj = self.wait_phase("crash-rr", "AwaitingApproval")
        jobs = kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
        self.assertEqual([j["metadata"]["uid"] for j in jobs], [uid])
        pods = kube.kubectl_json("get", "pods", "-n", self.ns, "-l",
                                 "job-name=" + jobs[0]["metadata"]["name"])["items"]
        self.assertEqual(len(pods), 1)
        owner = jobs[0]["metadata"]["ownerReferences"][0]
        self.assertEqual(owner["uid"], obj["metadata"]["uid"])
        self.assertEqual(owner["kind"], "RestoreRequest")

    def test_empty_latest_under_fails_validate(self):
        self.db_secret("empty-target", "postgres")
        item = self.item("empty", "x", "empty-target", manifest="required")
        item["pgDump"]["source"] = {"bucket": self.bucket, "latestUnder": "nothing-here/"}
        self.apply_rr(self.rr_manifest("empty-rr", [item]))
        obj = self.wait_phase("empty-rr", "Failed")
        msg = self.step(obj, "empty/validate")["message"]
        self.assertIn("no complete backup under s3://%s/nothing-here/" % self.bucket, msg)
        self.assertEqual(kube.kubectl_json("get", "jobs", "-n", self.ns)["items"], [])
