"""redisRDB backups (pkg/redis/pod.h, driven by tests/integration/redis_pod) and the round
trip through a restore, plus the `redis` check; kill -9 of the operator at every step of a
restore. Real redis-server 7 in a kubesim StatefulSet, awssim S3; oracles: redis-cli, the aws
CLI, sha256 of the object, kubectl exec.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redisenv as R  # noqa: E402
from redisenv import kube  # noqa: E402
from scenario import step_of  # noqa: E402
from test_restore_crash import Killer  # noqa: E402
from test_restore_redis import (  # noqa: E402
    BACKUP_KEYS, PodWatcher, RedisCase, aws, s3_get)

PROGRAM = R.REDIS_POD_PROGRAM
CRASH_WAIT_S = 240


def redis_pod(*args, check=True):
    p = subprocess.run([PROGRAM] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError("redis_pod %s: %d %s" % (args, p.returncode, p.stderr))
    return p


class BackupRoundTrip(RedisCase):
    ARGS = R.AOF_ARGS

    def backup(self, *extra, check=True):
        return redis_pod("--port", self.port, "backup", self.ns, self.STS + "-0", self.bucket,
                         "redis/", *extra, check=check)

    def test_1_empty_dataset_is_refused(self):
        R.cli(self.port, "FLUSHALL")
        before = aws("s3api", "list-objects-v2", "--bucket", self.bucket).stdout
        p = self.backup(check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("empty", p.stderr)
        self.assertEqual(aws("s3api", "list-objects-v2", "--bucket", self.bucket).stdout, before)
        self.assertEqual([f for f in R.data_files(self.ns, self.STS) if "lifeboat" in f], [])

    def test_1b_failed_save_is_refused(self):
        """A BGSAVE that fails: dump.rdb is a non-empty directory, so Redis cannot rename
        its temp file onto it (rdb_last_bgsave_status:err, LASTSAVE does not move)."""
        R.cli(self.port, "SET", "some", "data")
        pod = self.STS + "-0"
        R.kexec(self.ns, pod, "sh", "-c", "rm -f /data/dump.rdb && mkdir -p /data/dump.rdb && "
                "touch /data/dump.rdb/blocker")
        try:
            before = aws("s3api", "list-objects-v2", "--bucket", self.bucket).stdout
            p = self.backup(check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("background save failed", p.stderr)
            self.assertEqual(aws("s3api", "list-objects-v2", "--bucket", self.bucket).stdout,
                             before)
        finally:
            R.kexec(self.ns, pod, "rm", "-rf", "/data/dump.rdb")
            # stop-writes-on-bgsave-error: writes resume after a save succeeds
            R.cli(self.port, "BGSAVE")
            kube.wait_for(lambda: "rdb_last_bgsave_status:ok" in R.cli(
                self.port, "INFO", "persistence"), timeout=30, message="a good BGSAVE")
        self.assertEqual([f for f in R.data_files(self.ns, self.STS) if "lifeboat" in f], [])

    def test_2_thousand_keys_backup_flush_restore(self):
        R.cli(self.port, "FLUSHALL")
        pipe = "".join("SET session:%d v%d\n" % (i, i) for i in range(1000))
        pipe += "SET other:a 1\nSET other:b 2\n"
        subprocess.run(["redis-cli", "-p", str(self.port)], input=pipe, text=True,
                       capture_output=True, check=True, timeout=60)
        self.assertEqual(len(R.keys(self.port)), 1002)
        b = json.loads(self.backup().stdout)
        self.assertEqual(b["keys"], 1002)
        # the object and its manifest, checked with the aws CLI
        data = s3_get(self.bucket, b["key"])
        self.assertEqual(R.sha256(data), b["sha256"])
        self.assertEqual(len(data), b["sizeBytes"])
        self.assertTrue(data.startswith(b"REDIS"))
        manifest = json.loads(s3_get(self.bucket, b["manifestKey"]))
        self.assertEqual(manifest["sha256"], b["sha256"])
        self.assertEqual(manifest["sizeBytes"], len(data))
        self.assertEqual(manifest["keys"], 1002)
        self.assertEqual(manifest["format"], "rdb")
        self.assertEqual([f for f in R.data_files(self.ns, self.STS) if "lifeboat-backup" in f],
                         [])
        # flush, then restore from latestUnder with a redis check in the verification
        R.cli(self.port, "FLUSHALL")
        time.sleep(1.1)
        item = {"name": "sessions", "redisRDB": {
            "source": {"bucket": self.bucket, "latestUnder": "redis/"},
            "target": {"statefulSet": self.STS}, "expect": {"minKeys": 1000}}}
        m = self.rr_manifest("roundtrip", [item], approval=False, verification={"checks": [
            {"name": "sessions-count", "redis": {"pod": self.STS + "-0",
                                                 "scanCount": "session:*",
                                                 "expect": {"equals": 1000}}}]})
        self.apply_rr(m)
        obj = self.wait_phase("roundtrip", "Succeeded", timeout=180)
        self.assertEqual(len(R.keys(self.port)), 1002)
        self.assertEqual(R.cli(self.port, "GET", "session:999"), "v999")
        self.assertEqual(self.output_of(obj, "sessions")["location"],
                         "s3://%s/%s" % (self.bucket, b["key"]))
        ver = step_of(obj, "verification")["message"]
        self.assertIn("scanCount session:* = 1000", ver)
        msg = step_of(obj, "sessions/checksum")["message"]
        self.assertIn("redis-check-rdb read 1002 keys", msg)
        # the check fails when the expectation is wrong (it is not a rubber stamp)
        p = redis_pod("check", self.ns, "-", json.dumps(
            {"pod": self.STS + "-0", "scanCount": "session:*", "expect": {"equals": 999}}))
        self.assertFalse(json.loads(p.stdout)["passed"])
        p = redis_pod("check", self.ns, "-", json.dumps(
            {"pod": self.STS + "-0", "scanCount": "session:*", "expect": {"max": 10}}))
        r = json.loads(p.stdout)
        self.assertFalse(r["passed"])
        self.assertIn(">= 11", r["message"])  # bounded: stopped after max + 1 keys


class CrashAtEveryStep(RedisCase):
    ARGS = R.AOF_ARGS

    def test_kill9_at_every_step(self):
        key = self.fresh_data()
        watcher = PodWatcher(self.ns, self.STS)
        watcher.start()
        obj = self.apply_rr(self.rr_manifest("crash", [self.item(key)]))
        uid = obj["metadata"]["uid"]
        killer = Killer(self.operator, self.ns, "crash", obj["metadata"]["resourceVersion"])
        killer.start()
        approved = False
        deadline = time.monotonic() + CRASH_WAIT_S
        phase = None
        try:
            while time.monotonic() < deadline:
                if not self.operator.alive():
                    self.operator.proc.wait(10)
                    self.operator.start(wait_ready=False)
                obj = killer.latest or obj
                phase = obj.get("status", {}).get("phase")
                if phase == "AwaitingApproval" and not approved:
                    self.approve("crash", "carol")
                    approved = True
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.05)
        finally:
            killer.stop()
            watcher.stop()
        if not self.operator.alive():
            self.operator.start()
        self.assertEqual(phase, "Succeeded", "%s\n%s" % (self.describe_rr(obj),
                                                        self.operator.log_tail()))
        # a kill at the start and at the end of every step
        killed = {name for batch in killer.kills for name, _ in batch}
        for s in ["sessions/" + n for n in ("validate", "download", "checksum", "install",
                                             "restart", "check-keys")]:
            self.assertIn(s, killed, killer.kills)
        self.assert_exactly_backup()
        self.assertEqual(len(watcher.uids), 2, "expected exactly one restart: %s" % watcher.uids)
        self.assert_no_temp_files(uid)
        for s in obj["status"]["steps"]:
            self.assertEqual(s["phase"], "Succeeded", s)


if __name__ == "__main__":
    import unittest
    unittest.main()
