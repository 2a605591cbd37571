"""The other RDS sources of issue 6's Acceptance, second bullet:
  - runbook 000 Restore 1B from latestFrom: of two manual snapshots the newer is chosen;
  - runbook 001 Scenario 3 in place: approval first, pre-restore snapshot, delete, restore
    under the original name; afterwards the pre-restore snapshot exists and the data equals
    the chosen snapshot; the service is restarted onto it;
  - runbook 003 section 1: Aurora cluster point-in-time restore plus writer, answering on
    the cluster endpoint with the data as of T.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import (  # noqa: E402
    SEED_ORDERS, ScenarioCase, aws, app_get, app_info, cli_clusters, cli_instances,
    cli_snapshots, cli_tags, parse_time, psql, rds, rfc3339, secret_value, step_of, suffix,
    url_port, wait_restorable, wait_snapshot_available, writer_restore_time)
import kube  # noqa: E402

CREDS = {"name": "orders-db-admin"}


def marker(port, tag):
    psql(port, "INSERT INTO orders (user_id, total_cents, source) "
               "SELECT min(id), 1, '%s' FROM users" % tag)


def markers(port):
    out = psql(port, "SELECT source FROM orders WHERE source NOT IN ('seed', 'writer') "
                     "ORDER BY id")
    return out.split() if out else []


class Restore1BLatestFrom(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "orders-1b-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        r = rds()
        cls.snaps = []
        for n in (1, 2):
            marker(cls.port, "snap-%d" % n)
            snap = "%s-manual-%d" % (cls.src, n)
            r.create_db_snapshot(DBInstanceIdentifier=cls.src, DBSnapshotIdentifier=snap)
            cls.snapshots.append(snap)
            wait_snapshot_available(snap)
            cls.snaps.append(snap)
        marker(cls.port, "after-snap-2")
        cls.target = cls.src + "-snap-restore"

    def test_newest_manual_snapshot_is_restored(self):
        item = {
            "name": "orders-db",
            "rdsSnapshot": {"latestFrom": {"dbInstanceIdentifier": self.src,
                                           "snapshotType": "manual"},
                            "targetDBInstanceIdentifier": self.target},
            "credentialsSecretRef": CREDS, "database": "shop_orders",
            "verify": {"checks": [{"name": "orders-present", "sql": {
                "query": "SELECT COUNT(*) FROM orders", "expect": {"min": SEED_ORDERS}}}]},
        }
        self.apply_rr(self.rr_manifest("orders-latest-snapshot", [item], approval=False))
        obj = self.wait_phase("orders-latest-snapshot", "Succeeded")
        self.assert_timeline(obj, ["orders-db/validate", "orders-db/restore",
                                   "orders-db/wait-available", "orders-db/verify"])
        out = self.output_of(obj, "orders-db")
        self.assertEqual(out.get("snapshotIdentifier"), self.snaps[1])
        self.assertEqual(out.get("instanceIdentifier"), self.target)
        inst = cli_instances()
        self.assertEqual(inst[self.target]["DBInstanceStatus"], "available")
        self.assertEqual(cli_tags(inst[self.target]["DBInstanceArn"]).get("lifeboat.dev/uid"),
                         obj["metadata"]["uid"])
        port = inst[self.target]["Endpoint"]["Port"]
        self.assertEqual(int(out.get("port", 0)), port)
        # snapshot 2's data: both markers, not the row written after it
        self.assertEqual(markers(port), ["snap-1", "snap-2"])
        # the source is untouched
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertEqual(markers(self.port), ["snap-1", "snap-2", "after-snap-2"])


class InPlaceScenario3(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "irisx-" + suffix()
        cls.port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.port)
        cls.create_service("irisx-api")
        cls.good = cls.src + "-good"
        marker(cls.port, "good")
        rds().create_db_snapshot(DBInstanceIdentifier=cls.src, DBSnapshotIdentifier=cls.good)
        cls.snapshots.append(cls.good)
        wait_snapshot_available(cls.good)
        # the incident: rows deleted, a bad row written
        psql(cls.port, "DELETE FROM orders WHERE id <= 100")
        marker(cls.port, "bad")
        cls.app_before = app_info(cls.ns, "irisx-api")
        cls.ok = {}

    def test_1_waits_for_approval_before_anything(self):
        item = {
            "name": "irisx-db",
            "rdsInPlace": {"dbInstanceIdentifier": self.src, "dbSnapshotIdentifier": self.good},
            "credentialsSecretRef": CREDS, "database": "shop_orders",
            "verify": {"checks": [{"name": "orders-present", "sql": {
                "query": "SELECT COUNT(*) FROM orders", "expect": {"min": 1}}}]},
            "secretPatches": [{"secretName": "shop-secrets", "key": "ORDER_DATABASE_URL",
                               "replaceHost": True}],
        }
        self.apply_rr(self.rr_manifest("irisx-in-place", [item], rollout=["irisx-api"]))
        obj = self.wait_phase("irisx-in-place", "AwaitingApproval")
        plan = [p["name"] for p in obj["status"]["plan"]]
        self.assertEqual(plan[:2], ["irisx-db/validate", "approval"])
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        self.assertEqual(inst[self.src]["Endpoint"]["Port"], self.port)
        self.assertFalse([s for s in cli_snapshots() if "-pre-restore-" in s])
        self.assertIn("bad", markers(self.port))
        self.ok["awaiting"] = True

    def test_2_in_place_restore_after_approval(self):
        if not self.ok.get("awaiting"):
            self.fail("prerequisite test_1 (AwaitingApproval) did not pass")
        self.approve("irisx-in-place", "bob")
        obj = self.wait_phase("irisx-in-place", "Succeeded", timeout=150)
        self.assert_timeline(obj)
        inst = cli_instances()
        self.assertEqual(inst[self.src]["DBInstanceStatus"], "available")
        port = inst[self.src]["Endpoint"]["Port"]
        # data equals the chosen snapshot: the deleted rows are back, the bad row is gone
        self.assertEqual(markers(port), ["good"])
        self.assertEqual(psql(port, "SELECT COUNT(*) FROM orders WHERE source = 'seed'"),
                         str(SEED_ORDERS))
        # the pre-restore snapshot exists, named from its step's persisted start time,
        # and holds the state before the restore (the bad row)
        pre = [(s, d) for s, d in cli_snapshots().items()
               if s.startswith(self.src + "-pre-restore-")]
        self.assertEqual(len(pre), 1, pre)
        snap_id, snap = pre[0]
        self.snapshots.append(snap_id)
        self.assertEqual(snap["Status"], "available")
        self.assertEqual(snap["DBInstanceIdentifier"], self.src)
        started = parse_time(step_of(obj, "irisx-db/pre-restore-snapshot")["startedAt"])
        self.assertEqual(snap_id, "%s-pre-restore-%s" % (self.src,
                                                          started.strftime("%Y%m%d%H%M%S")))
        # the service was restarted onto the restored instance
        info = app_info(self.ns, "irisx-api")
        self.assertNotEqual(info["pid"], self.app_before["pid"])
        self.assertEqual(url_port(info["value"]), ("127.0.0.1", port))
        self.assertEqual(app_get(self.ns, "irisx-api", "/health")[0], 200)


class ClusterPITR003(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.src = "loanserve-" + suffix()
        cls.port = cls.seed_cluster(cls.src)
        cls.create_secrets(cls.port)
        cls.writer = cls.start_writer(cls.port, interval=0.4)
        cls.T, cls.k = writer_restore_time(cls.writer, after=2, rows_after=2)
        wait_restorable(cls.T, cluster=cls.src)
        cls.rows = cls.writer.stop()
        cls.target = cls.src + "-restored"
        cls.clusters.insert(0, cls.target)

    def test_cluster_pitr_answers_on_cluster_endpoint(self):
        item = {
            "name": "loanserve-db",
            "rdsClusterPointInTime": {
                "sourceDBClusterIdentifier": self.src, "restoreToTime": rfc3339(self.T),
                "targetDBClusterIdentifier": self.target,
                "writerInstanceIdentifier": self.target + "-writer",
                "writerInstanceClass": "db.r6g.large", "engine": "aurora-postgresql"},
            "credentialsSecretRef": CREDS, "database": "shop_orders",
            "verify": {"checks": [
                {"name": "loans-present", "sql": {"query": "SELECT COUNT(*) FROM loans",
                                                  "expect": {"min": 1}}},
                {"name": "orphaned-payments", "sql": {
                    "query": "SELECT COUNT(*) AS orphaned_payments FROM payments p LEFT JOIN "
                             "loans l ON p.loan_id = l.id WHERE l.id IS NULL",
                    "expect": {"equals": 0}}}]},
            "promote": "none",
        }
        self.apply_rr(self.rr_manifest("loanserve-aurora-pitr", [item], approval=False))
        obj = self.wait_phase("loanserve-aurora-pitr", "Succeeded", timeout=150)
        self.assert_timeline(obj, ["loanserve-db/validate", "loanserve-db/restore-cluster",
                                   "loanserve-db/create-writer", "loanserve-db/wait-available",
                                   "loanserve-db/verify"])
        clusters = cli_clusters()
        c = clusters[self.target]
        self.assertEqual(c["Status"], "available")
        self.assertEqual(c["Endpoint"], "127.0.0.1")
        self.assertEqual([(m["DBInstanceIdentifier"], m["IsClusterWriter"])
                          for m in c["DBClusterMembers"]], [(self.target + "-writer", True)])
        out = self.output_of(obj, "loanserve-db")
        self.assertEqual(out.get("clusterIdentifier"), self.target)
        self.assertEqual(out.get("endpoint"), c["Endpoint"])
        self.assertEqual(int(out.get("port", 0)), c["Port"])
        got = psql(c["Port"], "SELECT id FROM orders WHERE source = 'writer' ORDER BY id",
                   host=c["Endpoint"])
        self.assertEqual([int(x) for x in got.split()],
                         [i for i, t in self.rows if t < self.T])
        self.assertTrue([i for i, t in self.rows if t > self.T])
        self.assertEqual(psql(c["Port"], "SELECT COUNT(*) FROM orders WHERE source = 'seed'",
                              host=c["Endpoint"]), str(SEED_ORDERS))
        # the source cluster is untouched
        self.assertEqual(clusters[self.src]["Status"], "available")
        self.assertEqual(clusters[self.src]["Port"], self.port)
