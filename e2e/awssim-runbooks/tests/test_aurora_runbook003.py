"""Runbook 003 §1: Aurora cluster point-in-time restore plus a writer instance, then psql
on the cluster endpoint, and the runbook's validation queries."""

import datetime as dt
import time
import os
import sys
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import aws, load_fixtures, psql, rds_text, suffix, write_rows

USER = "loanserve"
PASSWORD = "loanserve-pw-1"
DB = "loanserve"
SEED_ORDERS = 300
WAIT_S = 90


def parse(ts):
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def cluster(ident):
    return aws("rds", "describe-db-clusters", "--db-cluster-identifier", ident)[
        "DBClusters"][0]


def wait_cluster(ident):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        st = rds_text("describe-db-clusters", "--db-cluster-identifier", ident, "--query",
                      "DBClusters[0].Status")
        if st == "available":
            return
        if st == "failed":
            raise AssertionError(f"cluster {ident} failed")
        time.sleep(0.2)
    raise AssertionError(f"cluster {ident} not available after {WAIT_S}s")


def wait_instance(ident):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if rds_text("describe-db-instances", "--db-instance-identifier", ident, "--query",
                    "DBInstances[0].DBInstanceStatus") == "available":
            return
        time.sleep(0.2)
    raise AssertionError(f"{ident} not available after {WAIT_S}s")


class Runbook003AuroraPITR(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = f"loanserve-prod-aurora-{suffix()}"
        cls.instances = []
        cls.clusters = [cls.src]
        aws("rds", "create-db-cluster", "--db-cluster-identifier", cls.src, "--engine",
            "aurora-postgresql", "--master-username", USER, "--master-user-password",
            PASSWORD, "--database-name", DB)
        aws("rds", "create-db-instance", "--db-instance-identifier", cls.src + "-writer",
            "--db-cluster-identifier", cls.src, "--db-instance-class", "db.r6g.large",
            "--engine", "aurora-postgresql")
        cls.instances.append(cls.src + "-writer")
        wait_cluster(cls.src)
        wait_instance(cls.src + "-writer")
        cls.port = cluster(cls.src)["Port"]
        load_fixtures(cls.port, USER, PASSWORD, DB, orders=SEED_ORDERS)
        cls.rows = write_rows(cls.port, USER, PASSWORD, DB, count=6, interval=0.3)

    @classmethod
    def tearDownClass(cls):
        for ident in cls.instances:
            aws("rds", "delete-db-instance", "--db-instance-identifier", ident,
                "--skip-final-snapshot", check=False)
        deadline = time.time() + WAIT_S
        for ident in cls.instances:  # a cluster with members cannot be deleted
            while time.time() < deadline and aws(
                    "rds", "describe-db-instances", "--db-instance-identifier", ident,
                    check=False).returncode == 0:
                time.sleep(0.2)
        for ident in cls.clusters:
            aws("rds", "delete-db-cluster", "--db-cluster-identifier", ident,
                "--skip-final-snapshot", check=False)

    def test_cluster_pitr_with_writer(self):
        times = [parse(t) for _, t in self.rows]
        k = 3
        target = times[k - 1] + (times[k] - times[k - 1]) / 2
        restore_to = target.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # 1. Check the available restore window.
        earliest = rds_text("describe-db-clusters", "--db-cluster-identifier", self.src,
                            "--query", "DBClusters[0].EarliestRestorableTime")
        self.assertLess(parse(earliest), target)
        restored = f"{self.src}-restored"
        self.clusters.insert(0, restored)
        # 2. Create restored cluster (--no-use-latest-restorable-time: the runbook's
        #    "--use-latest-restorable-time false" is rejected by the aws CLI itself).
        aws("rds", "restore-db-cluster-to-point-in-time",
            "--db-cluster-identifier", restored,
            "--source-db-cluster-identifier", self.src,
            "--restore-to-time", restore_to,
            "--no-use-latest-restorable-time")
        # 3. Create writer instance.
        writer = f"{restored}-writer"
        self.instances.insert(0, writer)
        aws("rds", "create-db-instance", "--db-instance-identifier", writer,
            "--db-cluster-identifier", restored, "--db-instance-class", "db.r6g.large",
            "--engine", "aurora-postgresql")
        # 4. Wait for the cluster (describe loop, then the runbook's waiter).
        wait_cluster(restored)
        wait_instance(writer)
        aws("rds", "wait", "db-cluster-available", "--db-cluster-identifier", restored,
            output_json=False)
        # 5. Endpoint and connectivity.
        endpoint = rds_text("describe-db-clusters", "--db-cluster-identifier", restored,
                            "--query", "DBClusters[0].Endpoint")
        port = cluster(restored)["Port"]
        self.assertEqual(endpoint, "127.0.0.1")
        members = cluster(restored)["DBClusterMembers"]
        self.assertEqual([(m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in members],
                         [(writer, True)])
        self.assertEqual(psql(endpoint, port, USER, PASSWORD, DB, "SELECT COUNT(*) FROM loans;"),
                         "500")
        self.assertEqual(psql(endpoint, port, USER, PASSWORD, DB,
                              "SELECT COUNT(*) FROM orders WHERE source = 'writer'"), str(k))
        self.assertEqual(psql(endpoint, port, USER, PASSWORD, DB,
                              "SELECT COUNT(*) FROM orders"), str(SEED_ORDERS + k))
        # The runbook's validation queries run and find no orphans.
        self.assertEqual(psql(endpoint, port, USER, PASSWORD, DB, """
            SELECT COUNT(*) as orphaned_payments FROM payments p
            LEFT JOIN loans l ON p.loan_id = l.id WHERE l.id IS NULL;"""), "0")
        stats = psql(endpoint, port, USER, PASSWORD, DB, """
            SELECT tablename FROM pg_stat_user_tables
            WHERE relname IN ('loans', 'users', 'payments', 'documents') ORDER BY 1;""",
                     check=False)
        self.assertEqual(stats.returncode, 1)  # the runbook's column name is wrong ...
        self.assertIn('column "tablename" does not exist', stats.stderr)
        self.assertEqual(psql(endpoint, port, USER, PASSWORD, DB, """
            SELECT relname FROM pg_stat_user_tables
            WHERE relname IN ('loans', 'users', 'payments', 'documents') ORDER BY 1;"""),
                         "documents\nloans\npayments\nusers")  # ... relname works
        recent = psql(endpoint, port, USER, PASSWORD, DB, """
            SELECT COUNT(*) FROM audit_logs WHERE created_at >= NOW() - INTERVAL '7 days';""")
        self.assertEqual(recent, "1500")
        # The source still has every row.
        self.assertEqual(psql("127.0.0.1", self.port, USER, PASSWORD, DB,
                              "SELECT COUNT(*) FROM orders WHERE source = 'writer'"),
                         str(len(self.rows)))


if __name__ == "__main__":
    unittest.main()
