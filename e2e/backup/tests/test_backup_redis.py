"""BackupPolicy redisRDB targets and the Redis persistence audit (issue 16), with a real
redis-server 7 in a kubesim StatefulSet (runbook 002's settings): backup-now saves the
keys into S3 with a manifest; a flushed Redis after a full backup is flagged Suspicious;
`CONFIG SET appendonly no` -> ConfigDrift=True naming the pod. Oracles: redis-cli, the aws
CLI, kubectl."""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "redis", "tests"))
import redisenv as R  # noqa: E402
from bplib import BackupCase, cond, history, target_status  # noqa: E402
from agentlib import new_bucket  # noqa: E402


def s3_bytes(bucket, key):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        path = f.name
    try:
        subprocess.run(["aws", "s3", "cp", "s3://%s/%s" % (bucket, key), path], check=True,
                       capture_output=True, timeout=120)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


class RedisBackupTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.bucket = new_bucket()
        cls.port = R.create_redis(cls.ns, "sessions", R.AOF_ARGS)
        for i in range(20):
            R.cli(cls.port, "SET", "session:%d" % i, "v%d" % i)

    def setUp(self):
        try:
            self.bp("sessions")
        except AssertionError:
            self.apply_bp(self.bp_manifest("sessions", [{
                "name": "sessions", "redisRDB": {"pod": "sessions-0", "destination": {
                    "bucket": self.bucket, "prefix": "redis/"}}}],
                audit={"redisPersistence": {"pod": "sessions-0", "appendonly": "yes"}}))

    def test_1_backup_now_saves_every_key(self):
        self.backup_now("sessions", "r1")
        obj = self.wait_token("sessions", "r1")
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        lb = target_status(obj, "sessions")["lastBackup"]
        self.assertEqual(lb["keys"], 20)
        data = s3_bytes(self.bucket, lb["id"])
        self.assertEqual(len(data), lb["sizeBytes"])
        self.assertEqual(hashlib.sha256(data).hexdigest(), lb["sha256"])
        self.assertTrue(data.startswith(b"REDIS"))
        self.assertEqual(cond(obj, "ConfigDrift")["status"], "False")

    def test_2_flushed_redis_is_suspicious_and_appendonly_no_is_drift(self):
        R.cli(self.port, "FLUSHALL")
        R.cli(self.port, "CONFIG", "SET", "appendonly", "no")
        self.backup_now("sessions", "r2")
        obj = self.wait_token("sessions", "r2")
        h = history(obj)[-1]
        self.assertEqual(h["phase"], "Suspicious", h)
        self.assertIn("0 rows/keys", h["targets"][0]["message"])
        obj = self.wait_bp("sessions", lambda o: (cond(o, "ConfigDrift") or {}).get("status")
                           == "True", "ConfigDrift True")
        self.assertIn("redis sessions-0: appendonly is no, expected yes",
                      cond(obj, "ConfigDrift")["message"])
