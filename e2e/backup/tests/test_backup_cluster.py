"""BackupPolicy rdsClusterSnapshot targets (issue 16): backup-now makes one manual cluster
snapshot per token, named <cluster>-lb-<policy>-<stamp> and tagged as the policy's.
Oracle: the aws CLI against awssim (Aurora PostgreSQL backed by a real PostgreSQL)."""
from bplib import BackupCase, aws, history, suffix_name


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
