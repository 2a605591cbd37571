"""redisRDB restores (issue 13) with a real redis-server 7 in a kubesim StatefulSet.

Each class: a namespace, its own operator, a bucket in awssim, a Redis StatefulSet with
runbook 002's settings (or appendonly no). The backup of 5 keys is made by Lifeboat's own
redisRDB backup (tests/integration/redis_pod backup: BGSAVE, stream through exec, manifest);
then 7 more keys are written so that 12 are live. Oracles: redis-cli against the pod's port,
kubectl exec (find /data), the aws CLI, kubectl for pod uids and the StatefulSet.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redisenv as R  # noqa: E402
from redisenv import kube  # noqa: E402
from scenario import ScenarioCase, step_of, suffix  # noqa: E402

BACKUP_KEYS = {"user:%d" % i: "backup-%d" % i for i in range(5)}
LATER_KEYS = {"later:%d" % i: "live-%d" % i for i in range(7)}
REDIS_STEPS = ["validate", "download", "checksum", "install", "restart", "check-keys"]


def aws(*args, check=True):
    p = subprocess.run(["aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]] + list(args),
                       capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %s%s" % (args, p.stdout, p.stderr))
    return p


def s3_get(bucket, key):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        path = f.name
    try:
        aws("s3", "cp", "s3://%s/%s" % (bucket, key), path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def s3_put(bucket, key, data):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
        path = f.name
    try:
        aws("s3", "cp", path, "s3://%s/%s" % (bucket, key))
    finally:
        os.unlink(path)


class PodWatcher(threading.Thread):
    """Records every distinct uid of pod NAME-0 (a restart makes a new pod)."""

    def __init__(self, ns, name):
        super().__init__(daemon=True)
        self.ns, self.name = ns, name
        self.uids = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                r = kube.api("GET", "/api/v1/namespaces/%s/pods/%s-0" % (self.ns, self.name))
                if r.status == 200:
                    uid = r.json()["metadata"]["uid"]
                    if not self.uids or self.uids[-1] != uid:
                        self.uids.append(uid)
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.1)

    def stop(self):
        self._halt.set()
        self.join(5)


class RedisCase(ScenarioCase):
    ARGS = R.AOF_ARGS
    STS = "redis-master"

    @classmethod
    def scenario(cls):
        cls.bucket = "redis-backups-" + suffix()
        aws("s3", "mb", "s3://" + cls.bucket)
        cls.port = R.create_redis(cls.ns, cls.STS, cls.ARGS)

    def fresh_data(self):
        """5 keys, a Lifeboat backup of them, 7 more keys: 12 live. Returns the backup key."""
        R.cli(self.port, "FLUSHALL")
        for k, v in BACKUP_KEYS.items():
            R.cli(self.port, "SET", k, v)
        p = subprocess.run([R.REDIS_POD_PROGRAM,
                            "--port", str(self.port), "backup", self.ns, self.STS + "-0",
                            self.bucket, "redis/"], capture_output=True, text=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr)
        b = json.loads(p.stdout)
        self.assertEqual(b["keys"], 5)
        for k, v in LATER_KEYS.items():
            R.cli(self.port, "SET", k, v)
        self.assertEqual(len(R.keys(self.port)), 12)
        time.sleep(1.1)  # appendfsync everysec: the 12 are on disk
        return b["key"]

    def item(self, key, min_keys=5, name="sessions"):
        return {"name": name, "redisRDB": {
            "source": {"bucket": self.bucket, "key": key},
            "target": {"statefulSet": self.STS, "container": "redis", "dataDir": "/data"},
            "expect": {"minKeys": min_keys}}}

    def data_dir(self):
        return R.data_files(self.ns, self.STS)

    def assert_no_temp_files(self, uid=None, prev_allowed=True):
        files = self.data_dir()
        stray = [f for f in files if ".lifeboat-" in f
                 and not (prev_allowed and uid and f.startswith("/data/.lifeboat-prev-" + uid))]
        self.assertEqual(stray, [], files)

    def assert_exactly_backup(self):
        self.assertEqual(R.keys(self.port), sorted(BACKUP_KEYS))
        for k, v in BACKUP_KEYS.items():
            self.assertEqual(R.cli(self.port, "GET", k), v)

    def run_restore(self, name, key, min_keys=5):
        """Applies, checks that prepare changed nothing live, approves, waits for an end."""
        uid_before = R.pod_uid(self.ns, self.STS)
        obj = self.apply_rr(self.rr_manifest(name, [self.item(key, min_keys)]))
        self.wait_phase(name, "AwaitingApproval")
        self.assertEqual(len(R.keys(self.port)), 12, "prepare changed the live data")
        self.assertEqual(R.pod_uid(self.ns, self.STS), uid_before, "prepare restarted Redis")
        self.assertIn("/data/.lifeboat-%s.rdb" % obj["metadata"]["uid"], self.data_dir())
        self.approve(name)
        return obj["metadata"]["uid"], uid_before


class AppendOnlyYes(RedisCase):
    ARGS = R.AOF_ARGS

    def test_1_runbook_procedure_is_a_silent_no_op(self):
        """Runbook 000 2A by hand (copy dump.rdb, restart) keeps the 12 live keys."""
        key = self.fresh_data()
        rdb = s3_get(self.bucket, key)
        R.kexec(self.ns, self.STS + "-0", "sh", "-c", "cat > /data/dump.rdb", stdin_bytes=rdb)
        kube.kubectl("rollout", "restart", "statefulset/" + self.STS, "-n", self.ns)
        R.wait_serving(self.ns, self.STS, self.port)
        kube.wait_for(lambda: R.cli(self.port, "ping", check=False) == "PONG", timeout=30)
        self.assertEqual(len(R.keys(self.port)), 12,
                         "the runbook's procedure was expected to keep the current data")

    def test_2_restore_installs_the_aof_base(self):
        key = self.fresh_data()
        watcher = PodWatcher(self.ns, self.STS)
        watcher.start()
        try:
            uid, pod_before = self.run_restore("aof-restore", key)
            obj = self.wait_phase("aof-restore", "Succeeded", timeout=180)
        finally:
            watcher.stop()
        self.assertEqual([s["name"] for s in obj["status"]["steps"]],
                         ["sessions/" + s for s in REDIS_STEPS[:3]] + ["approval"]
                         + ["sessions/" + s for s in REDIS_STEPS[3:]])
        self.assert_exactly_backup()
        msg = step_of(obj, "sessions/check-keys")["message"]
        self.assertIn("AOF base", msg)
        self.assertIn("keys before 12, after 5", msg)
        # one restart: two pods seen, the StatefulSet restarted at the restart step's start
        self.assertEqual(len(watcher.uids), 2, watcher.uids)
        self.assertEqual(watcher.uids[0], pod_before)
        files = self.data_dir()
        self.assertIn("/data/appendonlydir/appendonly.aof.1.base.rdb", files)
        manifest = R.kexec(self.ns, self.STS + "-0", "cat",
                           "/data/appendonlydir/appendonly.aof.manifest").stdout.decode()
        self.assertIn("file appendonly.aof.1.base.rdb seq 1 type b", manifest)
        self.assertIn("/data/.lifeboat-prev-%s/appendonlydir" % uid, files)
        self.assert_no_temp_files(uid)
        # the configuration is the pod's own again, and later writes persist
        self.assertEqual(R.cli(self.port, "CONFIG", "GET", "appendonly").split()[-1], "yes")
        self.assertNotEqual(R.cli(self.port, "CONFIG", "GET", "save").splitlines()[-1], "")
        R.cli(self.port, "SET", "after:restore", "kept")
        time.sleep(1.2)
        kube.kubectl("rollout", "restart", "statefulset/" + self.STS, "-n", self.ns)
        time.sleep(1)
        R.wait_serving(self.ns, self.STS, self.port)
        self.assertEqual(R.keys(self.port), sorted(list(BACKUP_KEYS) + ["after:restore"]))
        self.assertEqual(R.cli(self.port, "GET", "after:restore"), "kept")

    def test_3_checksum_mismatch_changes_nothing(self):
        key = self.fresh_data()
        rdb = bytearray(s3_get(self.bucket, key))
        rdb[len(rdb) // 2] ^= 0xFF
        bad = key.replace(".rdb", "-corrupt.rdb")
        s3_put(self.bucket, bad, bytes(rdb))
        s3_put(self.bucket, bad + ".manifest.json", s3_get(self.bucket, key + ".manifest.json"))
        uid_before = R.pod_uid(self.ns, self.STS)
        files_before = self.data_dir()
        self.apply_rr(self.rr_manifest("corrupt", [self.item(bad)]))
        obj = self.wait_phase("corrupt", "Failed")
        st = step_of(obj, "sessions/download")
        self.assertEqual(st["phase"], "Failed", obj["status"])
        self.assertIn("sha256", st["message"])
        self.assertEqual(len(R.keys(self.port)), 12)
        self.assertEqual(R.pod_uid(self.ns, self.STS), uid_before)
        self.assertEqual(self.data_dir(), files_before)

    def test_4_truncated_rdb_is_refused_and_the_data_stays(self):
        key = self.fresh_data()
        rdb = s3_get(self.bucket, key)[:60]
        bad = key.replace(".rdb", "-truncated.rdb")
        s3_put(self.bucket, bad, rdb)
        s3_put(self.bucket, bad + ".manifest.json", json.dumps(
            {"sha256": R.sha256(rdb), "sizeBytes": len(rdb)}).encode())
        uid_before = R.pod_uid(self.ns, self.STS)
        files_before = self.data_dir()
        self.apply_rr(self.rr_manifest("truncated", [self.item(bad)]))
        obj = self.wait_phase("truncated", "Failed")
        st = step_of(obj, "sessions/checksum")
        self.assertEqual(st["phase"], "Failed", obj["status"])
        self.assertIn("redis-check-rdb", st["message"])
        self.assertEqual(len(R.keys(self.port)), 12)
        self.assertEqual(R.cli(self.port, "GET", "later:3"), "live-3")
        self.assertEqual(R.pod_uid(self.ns, self.STS), uid_before)
        self.assertEqual(self.data_dir(), files_before)

    def test_5_failed_check_rolls_back_to_the_previous_data(self):
        """minKeys above what the backup holds: check-keys fails after the restart, the
        rollback puts the previous AOF back and restarts on it."""
        key = self.fresh_data()
        uid, _ = self.run_restore("rollback", key, min_keys=6)
        obj = self.wait_phase("rollback", "RolledBack", timeout=180)
        self.assertIn("minKeys", step_of(obj, "sessions/check-keys")["message"])
        undo = step_of(obj, "rollback/sessions/install")
        self.assertEqual(undo["phase"], "Succeeded", obj["status"])
        R.wait_serving(self.ns, self.STS, self.port)
        self.assertEqual(R.keys(self.port), sorted(list(BACKUP_KEYS) + list(LATER_KEYS)))
        self.assert_no_temp_files(prev_allowed=False)


    def test_6_install_that_cannot_start_leaves_redis_as_it_was(self):
        """The checked temp file disappears between approval and install (rollback off):
        install fails naming it, the data and Redis's save settings are untouched."""
        key = self.fresh_data()
        save_before = R.cli(self.port, "CONFIG", "GET", "save").splitlines()[-1]
        uid_before = R.pod_uid(self.ns, self.STS)
        obj = self.apply_rr(self.rr_manifest("vanished", [self.item(key)], rollback=False))
        self.wait_phase("vanished", "AwaitingApproval")
        R.kexec(self.ns, self.STS + "-0", "rm", "/data/.lifeboat-%s.rdb" % obj["metadata"]["uid"])
        self.approve("vanished")
        obj = self.wait_phase("vanished", "Failed")
        st = step_of(obj, "sessions/install")
        self.assertEqual(st["phase"], "Failed", obj["status"])
        self.assertIn("missing", st["message"])
        self.assertEqual(len(R.keys(self.port)), 12)
        self.assertEqual(R.pod_uid(self.ns, self.STS), uid_before)
        self.assertEqual(R.cli(self.port, "CONFIG", "GET", "save").splitlines()[-1], save_before)
        self.assertEqual(R.cli(self.port, "CONFIG", "GET", "auto-aof-rewrite-percentage")
                         .splitlines()[-1], "100")


class AppendOnlyNo(RedisCase):
    ARGS = R.RDB_ARGS

    def test_restore_replaces_dump_rdb(self):
        key = self.fresh_data()
        uid, _ = self.run_restore("rdb-restore", key)
        obj = self.wait_phase("rdb-restore", "Succeeded", timeout=180)
        self.assert_exactly_backup()
        msg = step_of(obj, "sessions/check-keys")["message"]
        self.assertIn("replacing dump.rdb", msg)
        self.assertIn("keys before 12, after 5", msg)
        self.assertIn("/data/.lifeboat-prev-%s/dump.rdb" % uid, self.data_dir())
        self.assert_no_temp_files(uid)
        R.cli(self.port, "SET", "after:restore", "kept")
        R.cli(self.port, "SAVE")
        kube.kubectl("rollout", "restart", "statefulset/" + self.STS, "-n", self.ns)
        time.sleep(1)
        R.wait_serving(self.ns, self.STS, self.port)
        self.assertEqual(R.keys(self.port), sorted(list(BACKUP_KEYS) + ["after:restore"]))


if __name__ == "__main__":
    import unittest
    unittest.main()
