"""BackupPolicy rdsSnapshot targets on demand (issue 16): one snapshot per backup-now token,
tagged as the policy's; keepLast 2 deletes only this policy's oldest (a manual snapshot and
another policy's snapshot of the same instance survive); ConfigDrift listing the three
audited settings (RDS backup retention, S3 versioning, Redis appendonly in a real
redis-server 7 pod). Oracles: the aws CLI against awssim, redis-cli."""
import json
import os
import sys

from bplib import BackupCase, aws, cond, history, snapshots_of, suffix_name
from scenario import wait_instance_available

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "redis", "tests"))
import redisenv as R  # noqa: E402


class RdsBackupNowTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.inst = suffix_name("bk-orders")
        cls.seed_instance(cls.inst, orders=50)
        cls.redis_port = R.create_redis(cls.ns, "cache", R.AOF_ARGS)
        cls.bucket = suffix_name("bk-media")
        aws("s3api", "create-bucket", "--bucket", cls.bucket)
        aws("s3api", "put-bucket-versioning", "--bucket", cls.bucket,
            "--versioning-configuration", "Status=Enabled")
        retention = aws("rds", "describe-db-instances", "--db-instance-identifier",
                        cls.inst)["DBInstances"][0]["BackupRetentionPeriod"]
        cls.retention = retention if retention >= 1 else 1
        if retention != cls.retention:
            aws("rds", "modify-db-instance", "--db-instance-identifier", cls.inst,
                "--backup-retention-period", str(cls.retention), "--apply-immediately")

    def setUp(self):
        self.name = "orders"
        try:
            self.obj = self.bp(self.name)
        except AssertionError:
            self.obj = self.apply_bp(self.bp_manifest(
                self.name, [{"name": "orders-snap",
                             "rdsSnapshot": {"dbInstanceIdentifier": self.inst}}],
                retention={"keepLast": 2},
                audit={"rdsBackupRetentionDays": self.retention, "s3Versioning": [self.bucket],
                       "redisPersistence": {"pod": "cache-0", "appendonly": "yes"}}))
        self.uid = self.obj["metadata"]["uid"]

    def ours(self):
        return {k: v for k, v in snapshots_of(self.inst).items()
                if v.get("lifeboat.dev/uid") == self.uid}

    def test_1_backup_now_one_snapshot_per_token(self):
        self.backup_now(self.name, "deploy-1")
        obj = self.wait_token(self.name, "deploy-1")
        snaps = self.ours()
        self.assertEqual(len(snaps), 1, snaps)
        sid, tags = next(iter(snaps.items()))
        self.assertTrue(sid.startswith(self.inst + "-lb-orders-"), sid)
        self.assertEqual(tags["lifeboat.dev/owner"], "BackupPolicy/%s/orders" % self.ns)
        self.assertEqual(tags["lifeboat.dev/target"], "orders-snap")
        t = obj["status"]["targets"][0]
        self.assertEqual(t["lastBackup"]["id"], sid)
        self.assertIn("arn:", t["lastBackup"]["location"])
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded")
        # The same token again makes nothing; a new token makes exactly one more.
        self.backup_now(self.name, "deploy-1")
        self.backup_now(self.name, "deploy-2")
        obj = self.wait_token(self.name, "deploy-2")
        self.assertEqual(len(self.ours()), 2)
        self.assertEqual([h.get("token") for h in history(obj)], ["deploy-1", "deploy-2"])
        self.assertEqual(obj["status"]["lastBackupNowToken"], "deploy-2")

    def test_2_keep_last_deletes_only_its_own(self):
        manual = suffix_name("manual-before-deploy")
        # RDS refuses a snapshot while the instance is backing-up from test_1's
        wait_instance_available(self.inst)
        aws("rds", "create-db-snapshot", "--db-instance-identifier", self.inst,
            "--db-snapshot-identifier", manual)
        other = suffix_name("other-policy-snap")
        wait_instance_available(self.inst)
        aws("rds", "create-db-snapshot", "--db-instance-identifier", self.inst,
            "--db-snapshot-identifier", other, "--tags",
            "Key=lifeboat.dev/owner,Value=BackupPolicy/%s/other" % self.ns,
            "Key=lifeboat.dev/uid,Value=00000000-other-policy",
            "Key=lifeboat.dev/target,Value=orders-snap")
        type(self).snapshots += [manual, other]
        before = sorted(self.ours())
        self.assertGreaterEqual(len(before), 1)
        for tok in ("deploy-3", "deploy-4"):
            self.backup_now(self.name, tok)
            self.wait_token(self.name, tok)
        after = self.ours()
        self.assertEqual(len(after), 2, after)
        for old in before:
            self.assertNotIn(old, after)   # the oldest of this policy's went
        all_snaps = snapshots_of(self.inst)
        self.assertIn(manual, all_snaps)
        self.assertIn(other, all_snaps)

    def test_3_config_drift(self):
        aws("rds", "modify-db-instance", "--db-instance-identifier", self.inst,
            "--backup-retention-period", "7" if self.retention != 7 else "8",
            "--apply-immediately")
        aws("s3api", "put-bucket-versioning", "--bucket", self.bucket,
            "--versioning-configuration", "Status=Suspended")
        R.cli(self.redis_port, "CONFIG", "SET", "appendonly", "no")
        self.backup_now(self.name, "deploy-5")   # the audit runs after every run
        obj = self.wait_bp(self.name, lambda o: (cond(o, "ConfigDrift") or {}).get("status")
                           == "True" and len(o["status"].get("drift", [])) == 3,
                           "ConfigDrift True with three differences")
        msg = cond(obj, "ConfigDrift")["message"]
        self.assertIn("rds %s: BackupRetentionPeriod is" % self.inst, msg)
        self.assertIn("expected %d" % self.retention, msg)
        self.assertIn("s3 %s: versioning is Suspended, expected Enabled" % self.bucket, msg)
        self.assertIn("redis cache-0: appendonly is no, expected yes", msg)
        self.assertEqual(json.loads(json.dumps(obj["status"]["drift"])), obj["status"]["drift"])
        # Putting the settings back clears it (on the next audit, after the next run).
        aws("rds", "modify-db-instance", "--db-instance-identifier", self.inst,
            "--backup-retention-period", str(self.retention), "--apply-immediately")
        aws("s3api", "put-bucket-versioning", "--bucket", self.bucket,
            "--versioning-configuration", "Status=Enabled")
        R.cli(self.redis_port, "CONFIG", "SET", "appendonly", "yes")
        self.backup_now(self.name, "deploy-6")
        self.wait_bp(self.name, lambda o: (cond(o, "ConfigDrift") or {}).get("status") == "False",
                     "ConfigDrift False")
