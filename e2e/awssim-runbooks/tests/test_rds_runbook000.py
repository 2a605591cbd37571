"""Runbook 000 Restore 1A (steps 2, 3, 5, 7) and Restore 1B, as the runbook writes them,
against awssim's real PostgreSQL instances."""

import datetime as dt
import os
import sys
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import (aws, create_instance, delete_quietly, ensure_subnet_group,
                            instance, load_fixtures, psql, rds_text, suffix, wait_instance,
                            wait_instance_gone, wait_snapshot, write_rows)

USER = "lomash_admin"
PASSWORD = "lomash-admin-pw-1"
DB = "lomash_orders"
SEED_ORDERS = 2000


def parse(ts):
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


class Runbook000Restore1(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s = suffix()
        cls.src = f"shop-orders-prod-{s}"
        cls.created = [cls.src]
        ensure_subnet_group("lomash-wood-db-subnet")
        create_instance(cls, cls.src, USER, PASSWORD, DB)
        cls.port = instance(cls.src)["Endpoint"]["Port"]
        load_fixtures(cls.port, USER, PASSWORD, DB, orders=SEED_ORDERS)
        cls.seed_max = psql("127.0.0.1", cls.port, USER, PASSWORD, DB,
                            "SELECT MAX(created_at) FROM orders")
        # A pre-deployment snapshot for Restore 1B, taken before the writer's rows.
        cls.pre_deploy = f"{cls.src}-pre-deploy-202602181200"
        aws("rds", "create-db-snapshot", "--db-instance-identifier", cls.src,
            "--db-snapshot-identifier", cls.pre_deploy)
        wait_snapshot(cls, cls.pre_deploy)
        wait_instance(cls, cls.src)
        # Rows 0.3 s apart so that a whole second falls between two of them.
        cls.rows = write_rows(cls.port, USER, PASSWORD, DB, count=8, interval=0.3)

    @classmethod
    def tearDownClass(cls):
        delete_quietly(*cls.created)
        for snap in (cls.pre_deploy, f"{cls.src}-old-final-snapshot"):
            aws("rds", "delete-db-snapshot", "--db-snapshot-identifier", snap, check=False)

    def test_restore_1a_pitr_rename_and_delete(self):
        # Step 1: a whole-second target strictly between two committed writer rows.
        times = [parse(t) for _, t in self.rows]
        target = None
        for i in range(len(times) - 1):
            cand = times[i].replace(microsecond=0) + dt.timedelta(seconds=1)
            if times[i] < cand < times[i + 1]:
                target, before = cand, i + 1
                break
        self.assertIsNotNone(target, f"no whole second between writer rows {times}")
        restore_time = target.strftime("%Y-%m-%dT%H:%M:%SZ")
        restored = f"{self.src}-restored"
        self.created.append(restored)

        # Step 2, as written (--no-publicly-accessible: the runbook's
        # "--publicly-accessible false" is rejected by the aws CLI itself).
        out = aws("rds", "restore-db-instance-to-point-in-time",
                  "--source-db-instance-identifier", self.src,
                  "--target-db-instance-identifier", restored,
                  "--restore-time", restore_time,
                  "--db-instance-class", "db.r6g.large",
                  "--no-publicly-accessible",
                  "--vpc-security-group-ids", "sg-xxxxxxxxx",
                  "--db-subnet-group-name", "lomash-wood-db-subnet")
        self.assertEqual(out["DBInstance"]["DBInstanceStatus"], "creating")
        wait_instance(self, restored)
        aws("rds", "wait", "db-instance-available", "--db-instance-identifier", restored,
            output_json=False)

        # Step 3: the restored copy holds exactly the rows committed before the target.
        restored_host = rds_text("describe-db-instances", "--db-instance-identifier",
                                 restored, "--query", "DBInstances[0].Endpoint.Address")
        self.assertEqual(restored_host, "127.0.0.1")
        rport = instance(restored)["Endpoint"]["Port"]
        got = psql(restored_host, rport, USER, PASSWORD, DB,
                   "SELECT COUNT(*), MAX(created_at) FROM orders;")
        count, max_created = got.split("|")
        self.assertEqual(int(count), SEED_ORDERS + before,
                         f"target {restore_time}, writer rows {self.rows}")
        self.assertEqual(parse(max_created.replace(" ", "T").replace("+00", "+00:00")),
                         times[before - 1])
        self.assertEqual(psql(restored_host, rport, USER, PASSWORD, DB,
                              "SELECT COUNT(*) FROM orders WHERE source='writer' AND "
                              f"created_at >= '{restore_time}'"), "0")

        # Step 5: swap names; the production name now answers with the restored data.
        old = f"{self.src}-old"
        self.created.append(old)
        aws("rds", "modify-db-instance", "--db-instance-identifier", self.src,
            "--new-db-instance-identifier", old, "--apply-immediately")
        aws("rds", "modify-db-instance", "--db-instance-identifier", restored,
            "--new-db-instance-identifier", self.src, "--apply-immediately")
        wait_instance(self, self.src)
        wait_instance(self, old)
        new_endpoint = instance(self.src)["Endpoint"]
        self.assertEqual(new_endpoint["Port"], rport)
        self.assertEqual(psql(new_endpoint["Address"], new_endpoint["Port"], USER, PASSWORD,
                              DB, "SELECT COUNT(*) FROM orders"), str(SEED_ORDERS + before))
        self.assertEqual(psql("127.0.0.1", instance(old)["Endpoint"]["Port"], USER, PASSWORD,
                              DB, "SELECT COUNT(*) FROM orders"),
                         str(SEED_ORDERS + len(self.rows)))
        proc = aws("rds", "describe-db-instances", "--db-instance-identifier", restored,
                   check=False)
        self.assertIn("DBInstanceNotFound", proc.stderr)

        # Step 7: delete the old instance with a final snapshot, which then restores.
        final = f"{old}-final-snapshot"
        out = aws("rds", "delete-db-instance", "--db-instance-identifier", old,
                  "--final-db-snapshot-identifier", final)
        self.assertEqual(out["DBInstance"]["DBInstanceStatus"], "deleting")
        wait_instance_gone(self, old)
        wait_snapshot(self, final)
        back = f"{self.src}-final-check"
        self.created.append(back)
        aws("rds", "restore-db-instance-from-db-snapshot", "--db-instance-identifier", back,
            "--db-snapshot-identifier", final)
        wait_instance(self, back)
        self.assertEqual(psql("127.0.0.1", instance(back)["Endpoint"]["Port"], USER, PASSWORD,
                              DB, "SELECT COUNT(*) FROM orders"),
                         str(SEED_ORDERS + len(self.rows)))

    def test_restore_1b_snapshot_restore(self):
        # Step 1, as written (the table output piped to sort).
        listing = aws("rds", "describe-db-snapshots", "--db-instance-identifier", self.src,
                      "--query", "DBSnapshots[*].{ID:DBSnapshotIdentifier,"
                      "Created:SnapshotCreateTime,Status:Status}", "--output", "table",
                      output_json=False).stdout
        self.assertIn(self.pre_deploy, listing)
        self.assertIn("available", listing)
        target = f"{self.src}-snap-restore"
        self.created.append(target)
        # Step 2, as written.
        aws("rds", "restore-db-instance-from-db-snapshot",
            "--db-instance-identifier", target,
            "--db-snapshot-identifier", self.pre_deploy,
            "--db-instance-class", "db.r6g.large",
            "--vpc-security-group-ids", "sg-xxxxxxxxx",
            "--db-subnet-group-name", "lomash-wood-db-subnet")
        wait_instance(self, target)
        aws("rds", "wait", "db-instance-available", "--db-instance-identifier", target,
            output_json=False)
        ep = instance(target)["Endpoint"]
        got = psql(ep["Address"], ep["Port"], USER, PASSWORD, DB,
                   "SELECT COUNT(*), MAX(created_at) FROM orders;")
        self.assertEqual(got, f"{SEED_ORDERS}|{self.seed_max}")


if __name__ == "__main__":
    unittest.main()
