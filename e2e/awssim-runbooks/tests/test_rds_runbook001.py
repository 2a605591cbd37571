"""Runbook 001: the LatestRestorableTime check (Scenario 1 step 1) and Scenario 3, the
in-place emergency restore (snapshot, delete, restore under the original name)."""

import datetime as dt
import time
import os
import sys
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import (aws, create_instance, delete_quietly, ensure_subnet_group,
                            instance, load_fixtures, psql, rds_text, suffix, wait_instance,
                            wait_instance_gone, wait_snapshot, write_rows)

USER = "postgres"  # runbook 001 connects as -U postgres
PASSWORD = "irisx-master-pw-1"
DB = "irisx"
SEED_ORDERS = 500


def parse(ts):
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


class Runbook001(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ident = f"irisx-prod-rds-postgres-{suffix()}"
        cls.snapshots = []
        ensure_subnet_group("default-vpc-xxxxxx")
        create_instance(cls, cls.ident, USER, PASSWORD, DB)
        cls.port = instance(cls.ident)["Endpoint"]["Port"]
        load_fixtures(cls.port, USER, PASSWORD, DB, orders=SEED_ORDERS)

    @classmethod
    def tearDownClass(cls):
        delete_quietly(cls.ident)
        for snap in cls.snapshots:
            aws("rds", "delete-db-snapshot", "--db-snapshot-identifier", snap, check=False)

    def lrt(self):
        return rds_text("describe-db-instances", "--db-instance-identifier", self.ident,
                        "--query", "DBInstances[0].LatestRestorableTime")

    def test_1_latest_restorable_time_is_last_archived_commit(self):
        rows = write_rows(self.port, USER, PASSWORD, DB, count=3, interval=0.05)
        last = parse(rows[-1][1])
        # The commit is archived within archive_timeout (2 s); poll, as a runbook would.
        deadline = time.time() + 20
        while True:
            value = self.lrt()
            if value != "None" and parse(value) >= last:
                break
            self.assertLess(time.time(), deadline, f"LatestRestorableTime {value} never "
                                                   f"reached the last commit {last}")
            time.sleep(0.5)
        lrt = parse(value)
        self.assertLess(lrt - last, dt.timedelta(seconds=1),
                        "LatestRestorableTime should be the last commit's time")
        # It is not "now": with no new commits it stays where it is.
        time.sleep(2.5)
        self.assertEqual(parse(self.lrt()), lrt)
        self.assertLess(lrt, dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2))
        # And that time is restorable: a restore to it holds the last row.
        target = f"{self.ident}-lrt"
        out = aws("rds", "restore-db-instance-to-point-in-time",
                  "--source-db-instance-identifier", self.ident,
                  "--target-db-instance-identifier", target, "--restore-time", value,
                  "--tags", "Key=lifeboat.dev/owner,Value=RestoreRequest/ops/lrt")
        try:
            # Tags given on a restore land on the restored instance.
            self.assertEqual(aws("rds", "list-tags-for-resource", "--resource-name",
                                 out["DBInstance"]["DBInstanceArn"])["TagList"],
                             [{"Key": "lifeboat.dev/owner", "Value": "RestoreRequest/ops/lrt"}])
            wait_instance(self, target)
            got = psql("127.0.0.1", instance(target)["Endpoint"]["Port"], USER, PASSWORD, DB,
                       f"SELECT COUNT(*) FROM orders WHERE id = {rows[-1][0]}")
            self.assertEqual(got, "1")
        finally:
            delete_quietly(target)

    def test_2_scenario3_in_place_restore(self):
        before = psql("127.0.0.1", self.port, USER, PASSWORD, DB, "SELECT COUNT(*) FROM orders")
        # 1. Create final snapshot before restore (name as the runbook builds it).
        snap = "irisx-pre-restore-" + time.strftime("%Y%m%d-%H%M%S") + "-" + self.ident[-6:]
        self.snapshots.append(snap)
        out = aws("rds", "create-db-snapshot", "--db-instance-identifier", self.ident,
                  "--db-snapshot-identifier", snap)
        self.assertEqual(out["DBSnapshot"]["Status"], "creating")
        wait_snapshot(self, snap)
        wait_instance(self, self.ident)
        # Rows written after the snapshot must be gone after the in-place restore.
        write_rows(self.port, USER, PASSWORD, DB, count=4, interval=0)
        # 2. Delete the current production instance.
        aws("rds", "delete-db-instance", "--db-instance-identifier", self.ident,
            "--skip-final-snapshot")
        wait_instance_gone(self, self.ident)
        # 3. Restore with the original instance name.
        aws("rds", "restore-db-instance-from-db-snapshot",
            "--db-instance-identifier", self.ident,
            "--db-snapshot-identifier", snap,
            "--db-subnet-group-name", "default-vpc-xxxxxx",
            "--vpc-security-group-ids", "sg-xxxxxx")
        # 4. Wait for availability (describe loop, then the runbook's waiter returns at once).
        wait_instance(self, self.ident)
        aws("rds", "wait", "db-instance-available", "--db-instance-identifier", self.ident,
            output_json=False)
        ep = instance(self.ident)["Endpoint"]
        self.assertEqual(psql(ep["Address"], ep["Port"], USER, PASSWORD, DB,
                              "SELECT COUNT(*) FROM orders"), before)
        # Validation step 2 of the runbook.
        counts = psql(ep["Address"], ep["Port"], USER, PASSWORD, DB, """
          SELECT 'tenants' as table_name, COUNT(*) FROM tenants
          UNION ALL SELECT 'users', COUNT(*) FROM users
          UNION ALL SELECT 'calls', COUNT(*) FROM calls
          UNION ALL SELECT 'api_keys', COUNT(*) FROM api_keys;""")
        self.assertEqual(counts.splitlines(),
                         ["tenants|10", "users|1000", "calls|2000", "api_keys|30"])


if __name__ == "__main__":
    unittest.main()
