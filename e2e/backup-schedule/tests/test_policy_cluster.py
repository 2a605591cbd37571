"""BackupPolicy rdsClusterSnapshot targets (issue 16): backup-now makes one manual cluster
snapshot per token, named <cluster>-lb-<policy>-<stamp> and tagged as the policy's;
`keepLast: 2` deletes only this policy's oldest (a manual cluster snapshot and another
policy's survive), each exactly once even with a kill -9 right after the delete and a 500
after another. Oracles: the aws CLI against awssim (Aurora PostgreSQL backed by a real
PostgreSQL) and awssim's request log."""
import os
import sys
import time

# the BackupPolicy helpers are shared with e2e/backup (one suite split in two for time)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "backup",
                                "tests"))
from bplib import BackupCase, aws, history, suffix_name  # noqa: E402
from awssim_control import applied, control, request_log  # noqa: E402


class ClusterSnapshotTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.cluster = suffix_name("bk-aurora")
        cls.seed_cluster(cls.cluster, orders=20)

    def snaps(self, uid):
        out = {}
        for s in aws("rds", "describe-db-cluster-snapshots", "--db-cluster-identifier",
                     self.cluster, "--snapshot-type", "manual")["DBClusterSnapshots"]:
            tags = {t["Key"]: t["Value"] for t in aws(
                "rds", "list-tags-for-resource", "--resource-name",
                s["DBClusterSnapshotArn"])["TagList"]}
            if tags.get("lifeboat.dev/uid") == uid:
                out[s["DBClusterSnapshotIdentifier"]] = (s["Status"], tags)
        return out

    def test_backup_now_one_cluster_snapshot_per_token(self):
        obj = self.apply_bp(self.bp_manifest("aurora", [{
            "name": "aurora-snap", "rdsClusterSnapshot": {"dbClusterIdentifier": self.cluster}}]))
        uid = obj["metadata"]["uid"]
        self.backup_now("aurora", "a1")
        obj = self.wait_token("aurora", "a1")
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        snaps = self.snaps(uid)
        self.assertEqual(len(snaps), 1, snaps)
        sid, (status, tags) = next(iter(snaps.items()))
        self.assertTrue(sid.startswith(self.cluster + "-lb-aurora-"), sid)
        self.assertEqual(status, "available")
        self.assertEqual(tags["lifeboat.dev/owner"], "BackupPolicy/%s/aurora" % self.ns)
        self.assertEqual(obj["status"]["targets"][0]["lastBackup"]["id"], sid)
        self.backup_now("aurora", "a1")
        self.backup_now("aurora", "a2")
        obj = self.wait_token("aurora", "a2")
        self.assertEqual(len(self.snaps(uid)), 2)
        self.assertEqual([h.get("token") for h in history(obj)], ["a1", "a2"])
        for s in self.snaps(uid):
            aws("rds", "delete-db-cluster-snapshot", "--db-cluster-snapshot-identifier", s)

    def test_keep_last_2_deletes_only_its_own_once(self):
        manual, other = suffix_name("bk-aurora-manual"), suffix_name("bk-aurora-other")
        aws("rds", "create-db-cluster-snapshot", "--db-cluster-identifier", self.cluster,
            "--db-cluster-snapshot-identifier", manual)
        aws("rds", "create-db-cluster-snapshot", "--db-cluster-identifier", self.cluster,
            "--db-cluster-snapshot-identifier", other, "--tags",
            "Key=lifeboat.dev/owner,Value=BackupPolicy/%s/other" % self.ns,
            "Key=lifeboat.dev/uid,Value=00000000-other-policy",
            "Key=lifeboat.dev/target,Value=aurora-snap")
        obj = self.apply_bp(self.bp_manifest("aurora-ret", [{
            "name": "aurora-snap", "rdsClusterSnapshot": {"dbClusterIdentifier": self.cluster}}],
            retention={"keepLast": 2}))
        uid = obj["metadata"]["uid"]
        made = []
        since = time.time()
        for token in ("r1", "r2", "r3", "r4"):
            if token == "r3":  # kill -9 right after retention's delete of r1's snapshot
                control("POST", {"action": "DeleteDBClusterSnapshot", "mode": "apply-then-hold",
                                 "times": 1})
            if token == "r4":  # a 500 after the delete of r2's snapshot took effect
                control("POST", {"action": "DeleteDBClusterSnapshot", "mode": "apply-then-500",
                                 "times": 1})
            try:
                time.sleep(1.1)  # one snapshot per second: the id holds the run's second
                self.backup_now("aurora-ret", token)
                if token == "r3":
                    deadline = time.monotonic() + 180
                    while not any(e.get("held") and e.get("action") == "DeleteDBClusterSnapshot"
                                  and e.get("ts", 0) >= since for e in request_log()):
                        self.assertLess(time.monotonic(), deadline, self.operator.log_tail())
                        time.sleep(0.2)
                    self.operator.kill9()
                    control("DELETE")
                    self.operator.start()
                obj = self.wait_token("aurora-ret", token)
                state = control("GET")
            finally:
                control("DELETE")
            if token == "r4":
                self.assertEqual([f["applied"] for f in state["faults"]], [1], state)
            self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
            made.append(obj["status"]["targets"][0]["lastBackup"]["id"])
        self.assertEqual(sorted(self.snaps(uid)), sorted(made[2:]))
        left = {s["DBClusterSnapshotIdentifier"] for s in aws(
            "rds", "describe-db-cluster-snapshots", "--db-cluster-identifier", self.cluster,
            "--snapshot-type", "manual")["DBClusterSnapshots"]}
        self.assertTrue({manual, other} <= left, left)
        deletes = {}
        for e in request_log():
            if e.get("ts", 0) >= since and e.get("action") == "DeleteDBClusterSnapshot" \
                    and not e.get("held") and applied(e):
                sid = e["params"].get("DBClusterSnapshotIdentifier")
                deletes[sid] = deletes.get(sid, 0) + 1
        self.assertEqual(deletes, {made[0]: 1, made[1]: 1})
        for sid in made[2:] + [manual, other]:
            aws("rds", "delete-db-cluster-snapshot", "--db-cluster-snapshot-identifier", sid)
