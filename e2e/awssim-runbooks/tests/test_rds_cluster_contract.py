"""RDS cluster contract for the Aurora cutover (issue 18 item 4): ModifyDBCluster
NewDBClusterIdentifier and DeleteDBCluster, with the errors RDS answers (RDS API
reference: DBClusterNotFoundFault, DBClusterAlreadyExistsFault, InvalidDBClusterStateFault,
DBClusterSnapshotAlreadyExistsFault)."""

import json
import os
import sys
import time
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import aws, psql, suffix  # noqa: E402

USER = "loanserve"
PASSWORD = "loanserve-pw-1"
DB = "loanserve"
WAIT_S = 90


def cluster(ident, check=True):
    p = aws("rds", "describe-db-clusters", "--db-cluster-identifier", ident, check=check)
    return p["DBClusters"][0] if check else p


def wait_for(pred, what):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached after {WAIT_S}s")


def status(ident):
    p = aws("rds", "describe-db-clusters", "--db-cluster-identifier", ident, check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["DBClusters"][0]["Status"]


def instance_status(ident):
    p = aws("rds", "describe-db-instances", "--db-instance-identifier", ident, check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["DBInstances"][0]["DBInstanceStatus"]


class ClusterRenameAndDelete(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = f"aur-{suffix()}"
        cls.moved = cls.src + "-moved"
        cls.writer = cls.src + "-writer"
        cls.other = cls.src + "-meta"  # a metadata-only (moto) cluster holding a name
        aws("rds", "create-db-cluster", "--db-cluster-identifier", cls.src, "--engine",
            "aurora-postgresql", "--master-username", USER, "--master-user-password",
            PASSWORD, "--database-name", DB)
        aws("rds", "create-db-instance", "--db-instance-identifier", cls.writer,
            "--db-cluster-identifier", cls.src, "--db-instance-class", "db.r6g.large",
            "--engine", "aurora-postgresql")
        aws("rds", "create-db-cluster", "--db-cluster-identifier", cls.other, "--engine",
            "aurora-mysql", "--master-username", "admin", "--master-user-password",
            "other-pw-123")
        wait_for(lambda: status(cls.src) == "available"
                 and instance_status(cls.writer) == "available", "cluster available")

    @classmethod
    def tearDownClass(cls):
        aws("rds", "delete-db-instance", "--db-instance-identifier", cls.writer,
            "--skip-final-snapshot", check=False)
        deadline = time.time() + WAIT_S
        while time.time() < deadline and instance_status(cls.writer) is not None:
            time.sleep(0.2)
        for ident in (cls.src, cls.moved, cls.other):
            aws("rds", "delete-db-cluster", "--db-cluster-identifier", ident,
                "--skip-final-snapshot", check=False)

    def test_rename_then_delete_with_final_snapshot(self):
        # unknown cluster
        p = aws("rds", "modify-db-cluster", "--db-cluster-identifier", self.src + "-nope",
                "--new-db-cluster-identifier", self.src + "-x", "--apply-immediately",
                check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("DBClusterNotFoundFault", p.stderr)
        # a taken name is refused and nothing moves
        p = aws("rds", "modify-db-cluster", "--db-cluster-identifier", self.src,
                "--new-db-cluster-identifier", self.other, "--apply-immediately", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("DBClusterAlreadyExistsFault", p.stderr)
        self.assertEqual(cluster(self.other)["Engine"], "aurora-mysql")
        port = cluster(self.src)["Port"]
        # a cluster with a live member cannot be deleted
        p = aws("rds", "delete-db-cluster", "--db-cluster-identifier", self.src,
                "--skip-final-snapshot", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidDBClusterStateFault", p.stderr)
        self.assertEqual(status(self.src), "available")

        # the rename: renaming, the members follow, the server stays
        aws("rds", "modify-db-cluster", "--db-cluster-identifier", self.src,
            "--new-db-cluster-identifier", self.moved, "--apply-immediately")
        self.assertIn(status(self.moved), ("renaming", "available"))
        self.assertIsNone(status(self.src))
        wait_for(lambda: status(self.moved) == "available", "renamed cluster available")
        c = cluster(self.moved)
        self.assertEqual(c["Port"], port)
        self.assertEqual([m["DBInstanceIdentifier"] for m in c["DBClusterMembers"]],
                         [self.writer])
        inst = aws("rds", "describe-db-instances", "--db-instance-identifier",
                   self.writer)["DBInstances"][0]
        self.assertEqual(inst["DBClusterIdentifier"], self.moved)
        self.assertEqual(psql(c["Endpoint"], port, USER, PASSWORD, DB, "SELECT 1"), "1")
        # the old name is free again
        self.assertIsNone(status(self.src))

        # delete: the member first, then the cluster with a final snapshot
        aws("rds", "delete-db-instance", "--db-instance-identifier", self.writer,
            "--skip-final-snapshot")
        final = self.moved + "-final"
        aws("rds", "delete-db-cluster", "--db-cluster-identifier", self.moved,
            "--final-db-snapshot-identifier", final, "--no-skip-final-snapshot")
        snaps = aws("rds", "describe-db-cluster-snapshots", "--db-cluster-snapshot-identifier",
                    final)["DBClusterSnapshots"]
        self.assertEqual([(s["DBClusterSnapshotIdentifier"], s["DBClusterIdentifier"])
                          for s in snaps], [(final, self.moved)])
        self.assertIn(status(self.moved), ("deleting", None))
        wait_for(lambda: status(self.moved) is None, "cluster gone")
        # the final snapshot's name is taken now
        p = aws("rds", "delete-db-cluster", "--db-cluster-identifier", self.other,
                "--final-db-snapshot-identifier", final, "--no-skip-final-snapshot",
                check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("DBClusterSnapshotAlreadyExistsFault", p.stderr)


if __name__ == "__main__":
    unittest.main()
