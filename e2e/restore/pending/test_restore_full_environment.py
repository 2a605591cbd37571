"""The full environment (issue 14, part 4; runbook 000 "Full Environment Restore Order").

One RestoreRequest holds, written in a scrambled order, an s3Objects undelete, a redisRDB,
a pgDump, an s3Sync, an RDS point-in-time restore of the customers database, a
secretVersion and an RDS point-in-time restore of the orders database with migrations and
secret patches, a rollout of three Deployments ending with the api-gateway, and a
verification. It must run in DESIGN.md section 4's canonical order, with one approval:

  - status.plan lists every step before anything runs, items in the canonical order
    (secrets -> databases in the written order -> Redis -> S3 -> rollouts -> verification);
  - the operator is killed (kill -9) and restarted after every step that succeeds, so each
    step is resumed from status at least once;
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
sys.path.insert(0, os.path.join(HERE, "..", "tests"))   # the restore suite's helpers
sys.path.insert(0, os.path.join(HERE, "..", "..", "redis", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "agent", "tests"))
from scenario import (  # noqa: E402
    ScenarioCase, app_info, b64, cli_instances, psql, rfc3339, secret_value, step_of, suffix,
    url_port, utc_now, wait_restorable)
from awssim_control import applied, request_log  # noqa: E402
from test_restore_secrets import cli_versions, sm  # noqa: E402
from test_restore_s3sync import cli_keys, contents, make_bucket, empty_bucket, put_many, s3  # noqa: E402,E501
import kube  # noqa: E402
import redisenv as R  # noqa: E402
from agentlib import PgCluster, new_bucket, put, seed_shop, sha256  # noqa: E402

ROLLOUT = ["auth-service", "product-service", "api-gateway"]
# the canonical item order for the items below (written scrambled in the request)
CANONICAL = ["auth-secret", "orders-dump", "customers-db", "orders-db", "sessions",
             "media-undelete", "media-sync"]
BACKUP_KEYS = {"session:%d" % i: "backup-%d" % i for i in range(5)}


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

    def drive_with_kills(self, name, phases, timeout=900):
        """Polls rr/name; each time another step has succeeded, kill -9 the operator and
        start a new one. Returns the object once its phase is one of phases."""
        seen, kills = 0, 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.rr(name)
            st = obj.get("status", {})
            if st.get("phase") in phases:
                return obj, kills
            if st.get("phase") in ("Failed", "RolledBack"):
                self.fail("ended %s:\n%s" % (st.get("phase"), self.describe_rr(obj)))
            done = sum(1 for s in st.get("steps", []) if s.get("phase") == "Succeeded")
            if done > seen:
                seen = done
                self.operator.kill9()
                kills += 1
                self.operator.start()
            time.sleep(0.2)
        self.fail("rr/%s not %s in %ds:\n%s" % (name, phases, timeout,
                                                 self.describe_rr(self.rr(name))))

    def test_full_environment_in_canonical_order_with_kill9_after_every_step(self):
        since = time.time()
        self.apply_rr(self.manifest())
        obj, kills1 = self.drive_with_kills("full-env", ("AwaitingApproval",))
        plan = [p["name"] for p in obj["status"]["plan"]]
        items = [p["item"] for p in obj["status"]["plan"] if p.get("item")]
        cut = plan.index("approval")
        prep_items = [i for n, i in zip(plan, [p.get("item") for p in obj["status"]["plan"]])
                      if i and plan.index(n) < cut]
        self.assertEqual(list(dict.fromkeys(prep_items)), CANONICAL, plan)
        cut_items = [p.get("item") for p in obj["status"]["plan"][cut + 1:] if p.get("item")]
        self.assertEqual(list(dict.fromkeys(cut_items)),
                         [i for i in CANONICAL if i in cut_items], plan)
        self.assertEqual(set(items), set(CANONICAL))
        tail = [n for n in plan[cut + 1:] if n.startswith("rollout/") or n == "verification"]
        self.assertEqual(tail, ["rollout/Deployment/" + n for n in ROLLOUT] + ["verification"])
        self.assertEqual(plan[-1], "verification")
        # nothing live before approval
        self.assertEqual(cli_versions(self.sid)[self.bad], ["AWSCURRENT"])
        self.assertEqual(len(cli_keys(self.primary)), 51)
        self.assertEqual(len(R.keys(self.redis_port)), 12)

        self.approve("full-env")
        obj, kills2 = self.drive_with_kills("full-env", ("Succeeded",))
        sys.stderr.write("# %d kill -9s (%d before approval)\n" % (kills1 + kills2, kills1))
        # the driver kills once per poll that saw a step succeed: several steps can
        # succeed between two polls, so there are fewer kills than steps
        self.assertGreaterEqual(kills1, 1)
        self.assertGreaterEqual(kills2, 1)
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
            port = inst[src]["Endpoint"]["Port"]
            self.assertEqual(url_port(secret_value(self.ns, "shop-secrets", key)), port)
        orders_port = inst[self.orders_src]["Endpoint"]["Port"]
        self.assertNotEqual(orders_port, self.orders_port)
        self.assertEqual(psql(orders_port, "SELECT count(*) FROM orders WHERE source='late'"),
                         "0")
        self.assertEqual(psql(orders_port, "SELECT to_regclass('lifeboat_migrated') IS NOT NULL"),
                         "t", "the migration ran on the restored copy")
        # the dump's rows are back in the live database
        self.assertEqual(self.pg.counts("catalog"), self.pg_counts)
        # Redis holds exactly the backup
        self.assertEqual(R.keys(self.redis_port), sorted(BACKUP_KEYS))
        # S3: the invoice back with its version id; the primary equals the replica
        head = s3().head_object(Bucket=self.assets, Key=self.asset_key)
        self.assertEqual(head["VersionId"], self.asset_vid)
        a, b = cli_keys(self.primary), cli_keys(self.replica)
        self.assertEqual(a, b)
        self.assertEqual(contents(self.primary, sorted(a)), contents(self.replica, sorted(b)))
        # every service restarted, the gateway last, all on the restored orders database
        starts = {n: step_of(obj, "rollout/Deployment/" + n)["startedAt"] for n in ROLLOUT}
        self.assertEqual(max(starts, key=lambda n: (starts[n], ROLLOUT.index(n))),
                         "api-gateway")
        for n in ROLLOUT:
            info = app_info(self.ns, n)
            self.assertNotEqual(info["pid"], self.pids[n], n)
            self.assertEqual(url_port(info["value"]), orders_port, n)

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
        renames = [e for e in log if e["action"] == "ModifyDBInstance"
                   and p(e).get("NewDBInstanceIdentifier") == self.orders_src]
        self.assertEqual(len(renames), 1, renames)
