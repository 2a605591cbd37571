"""RDS contract details beyond the runbooks' happy paths: restore-window faults, taken
and unknown identifiers, DeleteDBInstance's snapshot rule, tags, master password."""

import re
import os
import sys
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import (aws, create_instance, delete_quietly, instance, psql, suffix,
                            wait_instance, wait_snapshot)

USER = "app_admin"
PASSWORD = "app-admin-pw-1"
DB = "app"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"


class RdsContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ident = f"contract-{suffix()}"
        cls.extra = []
        create_instance(cls, cls.ident, USER, PASSWORD, DB,
                        extra=["--tags", "Key=team,Value=payments"])
        cls.arn = instance(cls.ident)["DBInstanceArn"]

    @classmethod
    def tearDownClass(cls):
        delete_quietly(cls.ident, *cls.extra)

    def err(self, *args):
        proc = aws("rds", *args, check=False)
        self.assertNotEqual(proc.returncode, 0, f"aws rds {args} unexpectedly succeeded")
        return proc.stderr

    def assert_window_fault(self, restore_time):
        msg = self.err("restore-db-instance-to-point-in-time",
                       "--source-db-instance-identifier", self.ident,
                       "--target-db-instance-identifier", f"{self.ident}-never",
                       "--restore-time", restore_time)
        self.assertIn("(InvalidRestoreFault)", msg)
        m = re.search(rf"restorable window of {self.ident}: \[({ISO}), ({ISO})\]", msg)
        self.assertIsNotNone(m, msg)
        self.assertLessEqual(m.group(1), m.group(2))
        return m

    def test_restore_time_in_future_is_invalid_restore_fault(self):
        self.assert_window_fault("2099-01-01T00:00:00Z")

    def test_restore_time_before_earliest_backup_is_invalid_restore_fault(self):
        self.assert_window_fault("2020-01-01T00:00:00Z")

    def test_taken_identifier_is_already_exists(self):
        msg = self.err("create-db-instance", "--db-instance-identifier", self.ident,
                       "--engine", "postgres", "--db-instance-class", "db.t3.micro",
                       "--master-username", USER, "--master-user-password", PASSWORD)
        self.assertIn("(DBInstanceAlreadyExists)", msg)
        msg = self.err("restore-db-instance-to-point-in-time",
                       "--source-db-instance-identifier", self.ident,
                       "--target-db-instance-identifier", self.ident,
                       "--use-latest-restorable-time")
        self.assertIn("(DBInstanceAlreadyExists)", msg)

    def test_unknown_identifiers_are_not_found(self):
        self.assertIn("(DBInstanceNotFound)", self.err(
            "describe-db-instances", "--db-instance-identifier", "no-such-db"))
        self.assertIn("(DBInstanceNotFound)", self.err(
            "restore-db-instance-to-point-in-time", "--source-db-instance-identifier",
            "no-such-db", "--target-db-instance-identifier", "x-new",
            "--use-latest-restorable-time"))
        self.assertIn("(DBSnapshotNotFound)", self.err(
            "describe-db-snapshots", "--db-snapshot-identifier", "no-such-snap"))
        self.assertIn("(DBSnapshotNotFound)", self.err(
            "restore-db-instance-from-db-snapshot", "--db-instance-identifier", "x-new",
            "--db-snapshot-identifier", "no-such-snap"))
        self.assertIn("(DBSnapshotNotFound)", self.err(
            "delete-db-snapshot", "--db-snapshot-identifier", "no-such-snap"))

    def test_delete_needs_final_snapshot_or_skip(self):
        msg = self.err("delete-db-instance", "--db-instance-identifier", self.ident)
        self.assertIn("(InvalidParameterCombination)", msg)
        self.assertIn("FinalDBSnapshotIdentifier", msg)
        self.assertEqual(instance(self.ident)["DBInstanceStatus"], "available")

    def test_tags_on_create_and_add(self):
        tags = aws("rds", "list-tags-for-resource", "--resource-name", self.arn)["TagList"]
        self.assertIn({"Key": "team", "Value": "payments"}, tags)
        aws("rds", "add-tags-to-resource", "--resource-name", self.arn, "--tags",
            "Key=lifeboat.dev/owner,Value=RestoreRequest/shop/x", output_json=False)
        tags = aws("rds", "list-tags-for-resource", "--resource-name", self.arn)["TagList"]
        self.assertIn({"Key": "lifeboat.dev/owner", "Value": "RestoreRequest/shop/x"}, tags)

    def test_modify_master_password(self):
        port = instance(self.ident)["Endpoint"]["Port"]
        aws("rds", "modify-db-instance", "--db-instance-identifier", self.ident,
            "--master-user-password", "new-password-2", "--apply-immediately")
        wait_instance(self, self.ident)
        self.assertEqual(psql("127.0.0.1", port, USER, "new-password-2", DB, "SELECT 1"), "1")
        proc = psql("127.0.0.1", port, USER, PASSWORD, DB, "SELECT 1", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("password authentication failed", proc.stderr)

    def test_snapshot_describe_and_delete(self):
        snap = f"{self.ident}-manual"
        aws("rds", "create-db-snapshot", "--db-instance-identifier", self.ident,
            "--db-snapshot-identifier", snap)
        wait_snapshot(self, snap)
        wait_instance(self, self.ident)
        got = aws("rds", "describe-db-snapshots", "--db-instance-identifier", self.ident,
                  "--snapshot-type", "manual")["DBSnapshots"]
        self.assertEqual([s["DBSnapshotIdentifier"] for s in got], [snap])
        auto = aws("rds", "describe-db-snapshots", "--db-instance-identifier", self.ident,
                   "--snapshot-type", "automated")["DBSnapshots"]
        self.assertEqual(len(auto), 1)
        self.assertTrue(auto[0]["DBSnapshotIdentifier"].startswith(f"rds:{self.ident}-"))
        aws("rds", "delete-db-snapshot", "--db-snapshot-identifier", snap)
        self.assertIn("(DBSnapshotNotFound)", self.err(
            "describe-db-snapshots", "--db-snapshot-identifier", snap))


if __name__ == "__main__":
    unittest.main()
