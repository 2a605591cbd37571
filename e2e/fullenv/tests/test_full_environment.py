"""The full environment (issue 14, part 4; runbook 000 "Full Environment Restore Order").
Its own suite (e2e/fullenv) so that it runs in a lane beside e2e/restore.

One RestoreRequest holds, written in a scrambled order, an s3Objects undelete, a redisRDB,
a pgDump, an s3Sync, an RDS point-in-time restore of the customers database, a
secretVersion and an RDS point-in-time restore of the orders database with migrations and
secret patches, a rollout of three Deployments ending with the api-gateway, and a
verification. It must run in DESIGN.md section 4's canonical order, with one approval:

  - status.plan lists every step before anything runs, items in the canonical order
    (secrets -> databases in the written order -> Redis -> S3 -> rollouts -> verification);
  - the operator is killed (kill -9) and restarted right after every step is seen to
    succeed (a watch on the request), so every later step starts in a new process;
  - every item's outcome is checked as in its own suite: the secret version current and in
    the Kubernetes Secret; both databases promoted (rows as at T, the migration applied),
    their URLs patched; the dump's rows in the live database; Redis holding exactly the
    backup's keys; the undeleted object with its original version id; the synced bucket
    equal to the replica key by key;
  - the steps' startedAt order equals the plan (canonical) order, the gateway restarted
    last, and awssim's request log shows the cutover's writes in that order
    (UpdateSecretVersionStage < the renames < the S3 writes), each effect once.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "restore", "tests"))  # the restore helpers
sys.path.insert(0, os.path.join(HERE, "..", "..", "restore-s3", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "redis", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "agent", "tests"))
from scenario import (  # noqa: E402
    ScenarioCase, app_info, b64, cli_instances, psql, rfc3339, secret_value, step_of, suffix,
    url_port, utc_now, wait_restorable)
from awssim_control import applied, request_log  # noqa: E402
from test_restore_secrets import cli_versions, sm  # noqa: E402
from test_restore_crash import Killer  # noqa: E402
from test_restore_s3sync import cli_keys, contents, make_bucket, empty_bucket, put_many, s3  # noqa: E402,E501
import kube  # noqa: E402
import redisenv as R  # noqa: E402
from agentlib import PgCluster, new_bucket, put, seed_shop, sha256  # noqa: E402

ROLLOUT = ["auth-service", "product-service", "api-gateway"]
# the canonical item order for the items below (written scrambled in the request)
CANONICAL = ["auth-secret", "orders-dump", "customers-db", "orders-db", "sessions",
             "media-undelete", "media-sync"]
BACKUP_KEYS = {"session:%d" % i: "backup-%d" % i for i in range(5)}


def ready_app_info(ns, name):
    """GET / of the service's ready pod: waits (bounded) for a ready pod first, since a
    readiness probe on this loaded machine can miss a beat and take the pod out of the
    Service map for a moment."""
    return kube.wait_for(lambda: app_info(ns, name), timeout=60, interval=0.2,
                         message="a ready pod behind %s" % name)


class FullEnvironmentRestore(ScenarioCase):
    @classmethod
    def scenario(cls):
        ns = cls.ns
        # Secrets Manager: a good version rotated to a bad one
        cls.sid = "shop/auth-jwt-" + suffix()
        cls.good_key, cls.bad_key = "good-" + suffix(), "bad-" + suffix()
        c = sm()
        cls.good = c.create_secret(Name=cls.sid, SecretString=json.dumps(
            {"signingKey": cls.good_key}))["VersionId"]
        cls.bad = c.put_secret_value(SecretId=cls.sid, SecretString=json.dumps(
            {"signingKey": cls.bad_key}))["VersionId"]
        # two RDS sources; T after both are seeded
        cls.orders_src = "shop-orders-full-" + suffix()
        cls.customers_src = "shop-customers-full-" + suffix()
        cls.orders_port = cls.seed_instance(cls.orders_src, orders=300)
        cls.customers_port = cls.seed_instance(cls.customers_src, orders=200)
        cls.create_secrets(cls.orders_port)
        kube.kubectl("patch", "secret", "shop-secrets", "-n", ns, "--type=merge", "-p",
                     json.dumps({"data": {
                         "CUSTOMER_DATABASE_URL": b64(
                             "postgresql://shop_admin@127.0.0.1:%d/shop_orders"
                             % cls.customers_port),
                         "JWT_SIGNING_KEY": b64(cls.bad_key)}}))
        cls.orders_at_t = psql(cls.orders_port, "SELECT count(*) FROM orders")
        cls.customers_at_t = psql(cls.customers_port, "SELECT count(*) FROM orders")
        time.sleep(1.2)
        cls.T = utc_now()
        time.sleep(1.2)
        # after T: rows that the point-in-time copies must not have
        psql(cls.orders_port, "INSERT INTO orders (user_id, total_cents, source) "
             "SELECT (SELECT min(id) FROM users), 1, 'late' FROM generate_series(1, 7)")
        psql(cls.customers_port, "INSERT INTO orders (user_id, total_cents, source) "
             "SELECT (SELECT min(id) FROM users), 1, 'late' FROM generate_series(1, 3)")
        wait_restorable(cls.T, instance=cls.orders_src, timeout=180)
        wait_restorable(cls.T, instance=cls.customers_src, timeout=180)
        # pgDump: a live database damaged after its dump
        cls.pg = PgCluster()
        cls.pg.start()
        seed_shop(cls.pg, "catalog", orders=500)
        cls.pg_counts = cls.pg.counts("catalog")
        cls.dump_bucket = new_bucket()
        cls.dump_key = "pg-logical/catalog/catalog_20260218.dump"
        put(cls.dump_bucket, cls.dump_key, cls.pg.dump("catalog", "-Fc"))
        cls.pg.script("DELETE FROM orders WHERE id > 100;", "catalog")
        cls.pg_damaged = cls.pg.psql("SELECT count(*) FROM orders", "catalog")
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "catalog-db", "namespace": ns},
             "data": {"url": b64(cls.pg.url("catalog"))}}])
        # Redis: a backup of 5 keys (with its manifest), then 7 more keys live
        cls.redis_port = R.create_redis(ns, "redis-master", R.RDB_ARGS)
        for k, v in BACKUP_KEYS.items():
            R.cli(cls.redis_port, "SET", k, v)
        rdb = R.rdb_of(cls.redis_port)
        cls.rdb_key = "redis/dump-20260218.rdb"
        put(cls.dump_bucket, cls.rdb_key, rdb)
        put(cls.dump_bucket, cls.rdb_key + ".manifest.json", json.dumps(
            {"sha256": sha256(rdb), "sizeBytes": len(rdb), "keys": 5}).encode())
        for i in range(7):
            R.cli(cls.redis_port, "SET", "later:%d" % i, "live")
        # S3: an object deleted by mistake; a primary bucket behind its replica
        cls.assets = "shop-assets-full-" + suffix()
        make_bucket(cls.assets)
        cls.asset_key = "invoices/inv-0001.pdf"
        cls.asset_vid = s3().put_object(Bucket=cls.assets, Key=cls.asset_key,
                                        Body=b"invoice 1")["VersionId"]
        s3().delete_object(Bucket=cls.assets, Key=cls.asset_key)
        cls.replica, cls.primary = "shop-media-full-replica-" + suffix(), \
            "shop-media-full-" + suffix()
        make_bucket(cls.replica)
        make_bucket(cls.primary)
        objs = [("m/%03d.jpg" % i, ("image %d " % i).encode() * 5) for i in range(60)]
        put_many(cls.replica, objs)
        put_many(cls.primary, objs[10:] + [("m/extra.jpg", b"x")])
        # the services, each reading the orders URL
        for name in ROLLOUT:
            cls.create_service(name)
        cls.pids = {n: app_info(ns, n)["pid"] for n in ROLLOUT}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "pg", None):
            cls.pg.destroy()
        for b in ("assets", "replica", "primary"):
            if getattr(cls, b, None):
                empty_bucket(getattr(cls, b))
        try:
            sm().delete_secret(SecretId=cls.sid, ForceDeleteWithoutRecovery=True)
        except Exception:  # noqa: BLE001
            pass

    def rds_item(self, name, src, key):
        return {"name": name,
                "rdsPointInTime": {"sourceDBInstanceIdentifier": src,
                                   "restoreTime": rfc3339(self.T),
                                   "targetDBInstanceIdentifier": src + "-restored",
                                   "dbInstanceClass": "db.t3.medium"},
                "credentialsSecretRef": {"name": "orders-db-admin", "usernameKey": "username",
                                         "passwordKey": "password"},
                "database": "shop_orders",
                "promote": "rename",
                "secretPatches": [{"secretName": "shop-secrets", "key": key,
                                   "replaceHost": True}]}

    def manifest(self):
        orders = self.rds_item("orders-db", self.orders_src, "ORDER_DATABASE_URL")
        orders["migrations"] = {"image": "sh", "command": ["sh", "-c",
                                'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -c '
                                '"CREATE TABLE IF NOT EXISTS lifeboat_migrated (x int)"']}
        items = [
            {"name": "media-undelete", "s3Objects": {"bucket": self.assets, "mode": "undelete",
                                                     "keys": [self.asset_key]}},
            {"name": "sessions", "redisRDB": {
                "source": {"bucket": self.dump_bucket, "key": self.rdb_key},
                "target": {"statefulSet": "redis-master", "container": "redis",
                           "dataDir": "/data"},
                "expect": {"minKeys": 5}}},
            {"name": "orders-dump", "pgDump": {
                "source": {"bucket": self.dump_bucket, "key": self.dump_key},
                "manifest": "optional",
                "target": {"connectionSecretRef": {"name": "catalog-db", "key": "url"}}}},
            {"name": "media-sync", "s3Sync": {"sourceBucket": self.replica,
                                              "targetBucket": self.primary,
                                              "deleteExtraneous": True}},
            self.rds_item("customers-db", self.customers_src, "CUSTOMER_DATABASE_URL"),
            {"name": "auth-secret",
             "secretVersion": {"secretId": self.sid},
             "secretPatches": [{"secretName": "shop-secrets", "key": "JWT_SIGNING_KEY",
                                "jsonKey": "signingKey"}]},
            orders,
        ]
        return self.rr_manifest(
            "full-env", items, rollout=ROLLOUT, approval=True,
            verification={"checks": [{"name": "gateway", "workload": {
                "kind": "Deployment", "name": "api-gateway"}}]})

    def drive_with_kills(self, name, rv, timeout=900):
        """Watches rr/name (test_restore_crash.Killer) and kill -9s the operator the moment
        a status write shows a step Succeeded that was not seen before; restarts it;
        approves once at AwaitingApproval. Returns (the final object, the plan as first
        seen at AwaitingApproval, the kills: lists of (step, phase) that triggered each)."""
        killer = Killer(self.operator, self.ns, name, rv, phases=("Succeeded",),
                        max_kills=200)
        killer.start()
        at_gate, deadline = None, time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.operator.alive():
                    self.operator.proc.wait(10)
                    self.operator.start(wait_ready=False)
                obj = killer.latest or {}
                phase = obj.get("status", {}).get("phase")
                if phase == "AwaitingApproval" and at_gate is None:
                    at_gate = self.at_the_gate()
                    self.approve(name)
                if phase in ("Succeeded", "Failed", "RolledBack"):
                    break
                time.sleep(0.05)
        finally:
            killer.stop()
        obj = self.rr(name)
        if obj.get("status", {}).get("phase") != "Succeeded":
            self.fail("rr/%s ended %s after %d kills:\n%s\n--- log tail:\n%s" % (
                name, obj.get("status", {}).get("phase"), len(killer.kills),
                self.describe_rr(obj), self.operator.log_tail()))
        self.assertIsNotNone(at_gate, "never seen AwaitingApproval")
        return obj, at_gate, killer.kills

    def at_the_gate(self):
        """What is true at AwaitingApproval: the plan, and nothing live changed yet."""
        obj = self.rr("full-env")
        self.assertEqual(cli_versions(self.sid)[self.bad], ["AWSCURRENT"])
        self.assertEqual(len(cli_keys(self.primary)), 51)
        self.assertEqual(len(R.keys(self.redis_port)), 12)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "catalog"),
                         self.pg_damaged)
        for n in ROLLOUT:
            self.assertEqual(ready_app_info(self.ns, n)["pid"], self.pids[n], n)
        return obj

    def test_full_environment_in_canonical_order_with_kill9_after_every_step(self):
        since = time.time()
        applied_obj = self.apply_rr(self.manifest())
        obj, gate_obj, kills = self.drive_with_kills(
            "full-env", applied_obj["metadata"]["resourceVersion"])
        sys.stderr.write("# %d kill -9s\n" % len(kills))
        plan = [p["name"] for p in gate_obj["status"]["plan"]]
        self.assertEqual(plan, [p["name"] for p in obj["status"]["plan"]])
        items = [p["item"] for p in gate_obj["status"]["plan"] if p.get("item")]
        cut = plan.index("approval")
        prep_items = [p.get("item") for p in gate_obj["status"]["plan"][:cut] if p.get("item")]
        self.assertEqual(list(dict.fromkeys(prep_items)), CANONICAL, plan)
        cut_items = [p.get("item") for p in gate_obj["status"]["plan"][cut + 1:]
                     if p.get("item")]
        self.assertEqual(list(dict.fromkeys(cut_items)),
                         [i for i in CANONICAL if i in cut_items], plan)
        self.assertEqual(set(items), set(CANONICAL))
        tail = [n for n in plan[cut + 1:] if n.startswith("rollout/") or n == "verification"]
        self.assertEqual(tail, ["rollout/Deployment/" + n for n in ROLLOUT] + ["verification"])
        self.assertEqual(plan[-1], "verification")
        # the operator was killed right after each step was seen to succeed
        killed_after = {name for batch in kills for name, _ in batch}
        self.assertEqual(sorted(set(plan) - killed_after), [], kills)
        self.assert_timeline(obj, plan)
        steps = obj["status"]["steps"]
        by_start = [s["name"] for s in sorted(steps, key=lambda s: (s["startedAt"],
                                                                     plan.index(s["name"])))]
        self.assertEqual(by_start, plan)

        # secrets: the good version current, the bad one still AWSPREVIOUS, in the Secret
        vers = cli_versions(self.sid)
        self.assertEqual(vers[self.good], ["AWSCURRENT"])
        self.assertEqual(vers[self.bad], ["AWSPREVIOUS"])
        self.assertEqual(secret_value(self.ns, "shop-secrets", "JWT_SIGNING_KEY"),
                         self.good_key)
        # both databases promoted under their names, rows as at T, URLs patched
        inst = cli_instances()
        for src, key in ((self.orders_src, "ORDER_DATABASE_URL"),
                         (self.customers_src, "CUSTOMER_DATABASE_URL")):
            self.assertIn(src, inst)
            ep = inst[src]["Endpoint"]
            self.assertEqual(url_port(secret_value(self.ns, "shop-secrets", key)),
                             (ep["Address"], ep["Port"]), key)
        orders_port = inst[self.orders_src]["Endpoint"]["Port"]
        customers_port = inst[self.customers_src]["Endpoint"]["Port"]
        self.assertNotEqual(orders_port, self.orders_port)
        self.assertNotEqual(customers_port, self.customers_port)
        for port, at_t in ((orders_port, self.orders_at_t),
                           (customers_port, self.customers_at_t)):
            self.assertEqual(psql(port, "SELECT count(*) FROM orders"), at_t)
            self.assertEqual(psql(port, "SELECT count(*) FROM orders WHERE source='late'"),
                             "0")
        # the renamed-away live instances are still there, with their late rows
        self.assertEqual(psql(self.orders_port,
                              "SELECT count(*) FROM orders WHERE source='late'"), "7")
        self.assertEqual(psql(orders_port, "SELECT to_regclass('lifeboat_migrated') IS NOT NULL"),
                         "t", "the migration ran on the restored copy")
        # the dump's rows are back in the live database
        self.assertEqual(self.pg.counts("catalog"), self.pg_counts)
        # Redis holds exactly the backup
        self.assertEqual(R.keys(self.redis_port), sorted(BACKUP_KEYS))
        for k, v in BACKUP_KEYS.items():
            self.assertEqual(R.cli(self.redis_port, "GET", k), v)
        # S3: the invoice back with its version id; the primary equals the replica
        got = s3().get_object(Bucket=self.assets, Key=self.asset_key)
        self.assertEqual(got["VersionId"], self.asset_vid)
        self.assertEqual(got["Body"].read(), b"invoice 1")
        self.assertEqual(s3().list_object_versions(Bucket=self.assets).get("DeleteMarkers", []),
                         [], "the delete marker is gone")
        a, b = cli_keys(self.primary), cli_keys(self.replica)
        self.assertEqual(a, b)
        self.assertEqual(contents(self.primary, sorted(a)), contents(self.replica, sorted(b)))
        # every service restarted, the gateway last, all on the restored orders database
        starts = {n: step_of(obj, "rollout/Deployment/" + n)["startedAt"] for n in ROLLOUT}
        self.assertEqual(max(starts, key=lambda n: (starts[n], ROLLOUT.index(n))),
                         "api-gateway")
        for n in ROLLOUT:
            info = ready_app_info(self.ns, n)
            self.assertNotEqual(info["pid"], self.pids[n], n)
            self.assertEqual(url_port(info["value"])[1], orders_port, n)

        # awssim: the cutover's writes in canonical order, each effect once
        log = [e for e in request_log() if e.get("ts", 0) >= since and applied(e)]

        def first(pred):
            return min((e["ts"] for e in log if pred(e)), default=None)
        p = lambda e: e.get("params", {})  # noqa: E731
        t_secret = first(lambda e: e["action"] == "UpdateSecretVersionStage"
                         and p(e).get("SecretId") == self.sid)
        t_rename_c = first(lambda e: e["action"] == "ModifyDBInstance" and
                           p(e).get("DBInstanceIdentifier") == self.customers_src)
        t_rename_o = first(lambda e: e["action"] == "ModifyDBInstance" and
                           p(e).get("DBInstanceIdentifier") == self.orders_src)
        t_undelete = first(lambda e: e["action"] in ("DeleteObject", "DeleteObjects")
                           and p(e).get("Bucket") == self.assets)
        t_sync = first(lambda e: e["action"] == "CopyObject"
                       and p(e).get("Bucket") == self.primary)
        order = [t_secret, t_rename_c, t_rename_o, t_undelete, t_sync]
        self.assertNotIn(None, order, order)
        self.assertEqual(order, sorted(order), "cutover writes out of canonical order")
        moves = [e for e in log if e["action"] == "UpdateSecretVersionStage"
                 and p(e).get("SecretId") == self.sid]
        self.assertEqual(len(moves), 1, moves)
        copies = [p(e)["Key"] for e in log if e["action"] == "CopyObject"
                  and p(e).get("Bucket") == self.primary]
        self.assertEqual(sorted(copies), ["m/%03d.jpg" % i for i in range(10)])
        for src in (self.orders_src, self.customers_src):
            renames = [e for e in log if e["action"] == "ModifyDBInstance"
                       and p(e).get("NewDBInstanceIdentifier") == src]
            self.assertEqual(len(renames), 1, renames)
        undeletes = [e for e in log if e["action"] in ("DeleteObject", "DeleteObjects")
                     and p(e).get("Bucket") == self.assets]
        self.assertEqual(len(undeletes), 1, undeletes)
        extra = [e for e in log if e["action"] in ("DeleteObject", "DeleteObjects")
                 and p(e).get("Bucket") == self.primary]
        self.assertEqual(len(extra), 1, extra)

        # the secret's values never reach the request, its events or the operator log
        events = kube.kubectl("get", "events", "-n", self.ns, "-o", "json").stdout
        for text, where in ((json.dumps(self.rr("full-env")), "rr"), (events, "events"),
                            (self.operator.log_tail(10 ** 8), "operator log")):
            for value in (self.good_key, self.bad_key):
                self.assertNotIn(value, text, where)
