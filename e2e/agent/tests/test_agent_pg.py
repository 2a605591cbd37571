"""lifeboat-agent pg-backup / pg-restore against real PostgreSQL 15 and awssim S3.

Runbook 000 1C (custom dump, full and --table=orders), 003 section 2 (.sql.gz with
{"sha256": ...} and recreateDatabase; an off-by-one manifest stops before the drop),
004 P1 (openssl enc -aes-256-cbc -pbkdf2 file), the pg-backup -> pg-restore round trip,
and the failures that must leave the target database untouched.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from agentlib import (AGENT, PgCluster, agent, aws, get, keys, new_bucket, put, seed_shop,
                      sha256)

KEY = "backup-encryption-key-0123456789"


class AgentPgTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(AGENT, os.X_OK):
            raise AssertionError("%s is missing: run make" % AGENT)
        cls.pg = PgCluster()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.start()
        seed_shop(cls.pg, "shop")
        cls.bucket = new_bucket()

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="lbagwork")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.work]))

    def fresh_db(self, name, orders=5000):
        self.pg.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        seed_shop(self.pg, name, orders)

    def orders_summary(self, db):
        return self.pg.psql("SELECT count(*), min(created_at), max(created_at) FROM orders", db)

    def restore(self, db, *args, key=None):
        return agent("pg-restore", ["--bucket", self.bucket, *args], self.pg.url(db), key=key,
                     work_dir=self.work)

    # ---- runbook 000 1C -------------------------------------------------------

    def test_runbook_000_1c_custom_dump_full_and_orders_only(self):
        self.fresh_db("lomash_orders")
        at_dump = self.orders_summary("lomash_orders")
        counts = self.pg.counts("lomash_orders")
        put(self.bucket, "pg-logical/lomash_orders/lomash_orders_20260218.dump",
            self.pg.dump("lomash_orders", "-Fc"))
        # The live database moves on: new orders, lost customers, a changed user.
        self.pg.script("INSERT INTO orders (customer_id, total, created_at) SELECT 1, 1, "
                       "now() FROM generate_series(1, 40); DELETE FROM orders WHERE id < 100; "
                       "UPDATE customers SET name = 'changed'; "
                       "DELETE FROM \"User\" WHERE id > 70;", "lomash_orders")
        users_live = self.pg.psql('SELECT count(*) FROM "User"', "lomash_orders")

        # --table=orders only: orders as at dump time, the other tables untouched.
        rc, res, err = self.restore("lomash_orders", "--key",
                                    "pg-logical/lomash_orders/lomash_orders_20260218.dump",
                                    "--table", "orders", "--manifest", "none")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["result"], "succeeded")
        self.assertEqual(res["format"], "custom")
        self.assertEqual(self.orders_summary("lomash_orders"), at_dump)
        self.assertEqual(self.pg.psql("SELECT count(DISTINCT name) FROM customers",
                                      "lomash_orders"), "1")  # still 'changed'
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "User"', "lomash_orders"),
                         users_live)
        self.assertEqual(res["tables"], {"public.orders": counts["public.orders"]})

        # Full restore: every table as at dump time.
        rc, res, err = self.restore("lomash_orders", "--key",
                                    "pg-logical/lomash_orders/lomash_orders_20260218.dump",
                                    "--manifest", "none")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.pg.counts("lomash_orders"), counts)
        self.assertEqual(self.orders_summary("lomash_orders"), at_dump)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM customers WHERE name = 'changed'",
                                      "lomash_orders"), "0")
        self.assertEqual(res["rows"], sum(counts.values()))
        self.assertEqual(res["sha256"], sha256(get(
            self.bucket, "pg-logical/lomash_orders/lomash_orders_20260218.dump")))
        # The password never reaches the log.
        self.assertNotIn("pa'ss", err)

    # ---- runbook 003 section 2 ----------------------------------------------

    def test_runbook_003_sql_gz_with_manifest_and_recreate(self):
        import gzip as gz
        self.fresh_db("loanserve")
        counts = self.pg.counts("loanserve")
        sql_gz = gz.compress(self.pg.dump("loanserve"))
        put(self.bucket, "prod/pg/2025-10-01.sql.gz", sql_gz)
        good = json.dumps({"sha256": sha256(sql_gz)}).encode()
        # Off by one: the last hex digit changed.
        last = good.decode()[-3]
        bad_sha = sha256(sql_gz)[:-1] + ("0" if last != "0" else "1")
        put(self.bucket, "prod/pg/2025-10-02.sql.gz", sql_gz)
        put(self.bucket, "prod/pg/2025-10-02.manifest.json",
            json.dumps({"sha256": bad_sha}).encode())
        put(self.bucket, "prod/pg/2025-10-01.manifest.json", good)

        self.pg.script("INSERT INTO customers VALUES (9999, 'only in the live db')", "loanserve")
        rc, res, err = self.restore("loanserve", "--key", "prod/pg/2025-10-02.sql.gz",
                                    "--manifest", "required", "--recreate-database")
        self.assertEqual(rc, 1)
        self.assertIn("checksum mismatch", res["error"])
        self.assertIn("prod/pg/2025-10-02.sql.gz", res["error"])
        self.assertNotIn("dropping", err)
        # Not dropped: the live row is still there.
        self.assertEqual(self.pg.psql("SELECT name FROM customers WHERE id = 9999", "loanserve"),
                         "only in the live db")

        rc, res, err = self.restore("loanserve", "--key", "prod/pg/2025-10-01.sql.gz",
                                    "--manifest", "required", "--recreate-database")
        self.assertEqual(rc, 0, err)
        self.assertTrue(res["verified"])
        self.assertEqual(res["format"], "plain")
        self.assertTrue(res["compressed"])
        self.assertEqual(self.pg.counts("loanserve"), counts)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM customers WHERE id = 9999",
                                      "loanserve"), "0")

    def test_missing_manifest_when_required_and_empty_latest_under(self):
        self.fresh_db("nomani", orders=10)
        put(self.bucket, "nomani/x.dump", self.pg.dump("nomani", "-Fc"))
        rc, res, _ = self.restore("nomani", "--key", "nomani/x.dump", "--manifest", "required")
        self.assertEqual(rc, 1)
        self.assertIn("nomani/x.manifest.json does not exist", res["error"])
        rc, res, _ = self.restore("nomani", "--latest-under", "nomani/", "--manifest",
                                  "required")
        self.assertEqual(rc, 1)
        self.assertIn("no complete backup under s3://%s/nomani/" % self.bucket, res["error"])
        rc, res, _ = self.restore("nomani", "--latest-under", "nothing-here/")
        self.assertEqual(rc, 1)
        self.assertIn("nothing-here/", res["error"])
        rc, res, _ = self.restore("nomani", "--key", "nomani/absent.dump")
        self.assertEqual(rc, 1)
        self.assertIn("nomani/absent.dump does not exist", res["error"])

    def test_latest_under_skips_a_failed_backup_and_an_empty_one(self):
        """A BackupPolicy tags a failed backup's leftover lifeboat.dev/backup-result=failed until
        retention deletes it; latestUnder must not restore it meanwhile, nor a 0-byte object."""
        self.fresh_db("lt", orders=50)
        counts = self.pg.counts("lt")
        put(self.bucket, "lt/a.dump", self.pg.dump("lt", "-Fc"))
        time.sleep(1.1)  # LastModified has second resolution
        self.pg.script("DELETE FROM orders WHERE id > 10", "lt")
        put(self.bucket, "lt/b.dump", self.pg.dump("lt", "-Fc"))
        aws("s3api", "put-object-tagging", "--bucket", self.bucket, "--key", "lt/b.dump",
            "--tagging", "TagSet=[{Key=lifeboat.dev/backup-result,Value=failed}]")
        time.sleep(1.1)
        put(self.bucket, "lt/c.dump", b"")
        rc, res, err = self.restore("lt", "--latest-under", "lt/")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["object"], "s3://%s/lt/a.dump" % self.bucket)
        self.assertEqual(self.pg.counts("lt"), counts)
        # Untagged, the newer dump is the newest usable one again.
        aws("s3api", "delete-object-tagging", "--bucket", self.bucket, "--key", "lt/b.dump")
        rc, res, err = self.restore("lt", "--latest-under", "lt/", "--verify-only")
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["object"], "s3://%s/lt/b.dump" % self.bucket)

    # ---- runbook 004 P1 ------------------------------------------------------

    def test_runbook_004_openssl_cbc_sql_gz_enc(self):
        self.fresh_db("mykadoo")
        users = self.pg.psql('SELECT count(*) FROM "User"', "mykadoo")
        plain = os.path.join(self.work, "latest.sql.gz")
        enc = os.path.join(self.work, "latest.sql.gz.enc")
        import gzip as gz
        with open(plain, "wb") as f:
            f.write(gz.compress(self.pg.dump("mykadoo")))
        # The runbook's exact command (its decrypt is `openssl enc -aes-256-cbc -d -pbkdf2`).
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-in", plain, "-out", enc,
                        "-pass", "pass:" + KEY], check=True)
        with open(enc, "rb") as f:
            put(self.bucket, "backups/postgresql/latest.sql.gz.enc", f.read())
        os.unlink(plain)
        self.pg.script('DELETE FROM "User" WHERE id > 10', "mykadoo")

        # A wrong passphrase: refused, the database untouched.
        rc, res, err = self.restore("mykadoo", "--key", "backups/postgresql/latest.sql.gz.enc",
                                    "--recreate-database", key="not-the-passphrase")
        self.assertEqual(rc, 1)
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "User"', "mykadoo"), "10")
        # No key at all.
        rc, res, err = self.restore("mykadoo", "--key", "backups/postgresql/latest.sql.gz.enc",
                                    "--recreate-database")
        self.assertEqual(rc, 1)
        self.assertIn("no key was given", res["error"])
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "User"', "mykadoo"), "10")

        rc, res, err = self.restore("mykadoo", "--key", "backups/postgresql/latest.sql.gz.enc",
                                    "--recreate-database", key=KEY)
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["encryption"], "aes-256-cbc")
        self.assertEqual(self.pg.psql('SELECT count(*) FROM "User"', "mykadoo"), users)
        self.assertNotIn(KEY, err)

    # ---- pg-backup -> pg-restore --------------------------------------------

    def test_backup_then_restore_round_trip(self):
        self.fresh_db("roundtrip")
        counts = self.pg.counts("roundtrip")
        schema = self.pg.schema("roundtrip")
        url = self.pg.url("roundtrip")
        rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--prefix", "rt/"], url,
                             key=KEY)
        self.assertEqual(rc, 0, err)
        obj = res["object"].split("/", 3)[3]
        self.assertRegex(obj, r"^rt/roundtrip_\d{8}T\d{6}Z\.dump$")
        stored = get(self.bucket, obj)
        manifest = json.loads(get(self.bucket, obj[:-len(".dump")] + ".manifest.json"))
        self.assertEqual(manifest["sha256"], sha256(stored))
        self.assertEqual(manifest["sizeBytes"], len(stored))
        self.assertEqual(manifest["encryption"], "aes-256-gcm")
        self.assertEqual(manifest["format"], "custom")
        # the agent gzips pg_dump -Z0's output (README, pg-backup)
        self.assertEqual(manifest["compression"], "gzip")
        self.assertEqual(res["compression"], "gzip")
        self.assertEqual(manifest["tables"], counts)
        self.assertEqual(manifest["source"]["database"], "roundtrip")
        # Not readable without the key: no dump header, no row text.
        self.assertTrue(stored.startswith(b"LBAGCM01"))
        self.assertNotIn(b"PGDMP", stored)
        self.assertNotIn(b"customer 17", stored)
        self.assertNotIn(b"example.com", stored)
        self.assertNotIn(KEY, err)

        # Into another database (a copy), through latestUnder with the manifest required.
        self.pg.psql("DROP DATABASE IF EXISTS roundtrip_copy WITH (FORCE)")
        self.pg.createdb("roundtrip_copy")
        rc, res, err = self.restore("roundtrip_copy", "--latest-under", "rt/", "--manifest",
                                    "required", "--recreate-database", "--jobs", "2", key=KEY)
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["object"], "s3://%s/%s" % (self.bucket, obj))
        self.assertTrue(res["verified"])
        self.assertTrue(res["compressed"])  # a gzip stream around the custom dump
        self.assertEqual(res["format"], "custom")
        self.assertEqual(self.pg.counts("roundtrip_copy"), counts)
        self.assertEqual(self.pg.schema("roundtrip_copy"), schema)
        self.assertEqual(res["tables"], counts)

        # Without the key it is refused; with a wrong one too.
        rc, res, _ = self.restore("roundtrip_copy", "--key", obj)
        self.assertEqual(rc, 1)
        self.assertIn("no key was given", res["error"])
        rc, res, _ = self.restore("roundtrip_copy", "--key", obj, key="a-wrong-key-123")
        self.assertEqual(rc, 1)
        self.assertIn("wrong key", res["error"])

    def test_manifest_counts_are_the_dumps_own_while_rows_are_written(self):
        """pg-backup counts rows on its exported snapshot while pg_dump dumps on it: with
        a writer inserting all along, the manifest's counts equal the restored rows."""
        self.fresh_db("busy", orders=20000)
        before = self.pg.counts("busy")["public.orders"]
        stop = []

        def writer():
            while not stop:
                self.pg.psql("INSERT INTO orders (customer_id, total, created_at) SELECT "
                             "customer_id, total, now() FROM orders LIMIT 500", "busy")

        import threading
        t = threading.Thread(target=writer)
        t.start()
        try:
            rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", "busy/b.dump",
                                               "--compress-level", "9"], self.pg.url("busy"),
                                 key=KEY)
        finally:
            stop.append(1)
            t.join()
        self.assertEqual(rc, 0, err)
        after = self.pg.counts("busy")["public.orders"]
        manifest = json.loads(get(self.bucket, "busy/b.manifest.json"))
        self.pg.psql("DROP DATABASE IF EXISTS busy_copy WITH (FORCE)")
        self.pg.createdb("busy_copy")
        rc, res, err = self.restore("busy_copy", "--key", "busy/b.dump", "--manifest",
                                    "required", key=KEY)
        self.assertEqual(rc, 0, err)
        restored = self.pg.counts("busy_copy")
        self.assertEqual(manifest["tables"], restored)
        self.assertEqual(res["tables"], restored)
        # the writer really overlapped the backup (else the test proves nothing)
        self.assertLess(before, after)

    def test_every_compression_layout_restores_and_the_manifest_names_it(self):
        """The default (pg_dump -Z0 inside the agent's gzip), the layout of agents before
        2026-12-04 (--compress-in pg_dump: pg_dump -Z1's own compression, no gzip
        around it) and --compress-level 0 (neither) each restore to the same rows and
        schema, streamed and through the work volume, and the manifest says which."""
        self.fresh_db("layouts")
        counts = self.pg.counts("layouts")
        schema = self.pg.schema("layouts")
        sizes = {}
        for args, compression, gzipped in (([], "gzip", True),
                                            (["--compress-in", "pg_dump"], "pg_dump", False),
                                            (["--compress-level", "0"], "none", False)):
            name = "lay/%s-%s.dump" % (compression, len(args))
            rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", name, *args],
                                 self.pg.url("layouts"), key=KEY)
            self.assertEqual(rc, 0, err)
            manifest = json.loads(get(self.bucket, name[:-len(".dump")] + ".manifest.json"))
            self.assertEqual(manifest["compression"], compression, args)
            self.assertEqual(manifest["format"], "custom")
            sizes[compression] = manifest["sizeBytes"]
            for mode in ("required", "none"):  # through the work volume, then streamed
                self.pg.psql("DROP DATABASE IF EXISTS layouts_copy WITH (FORCE)")
                self.pg.createdb("layouts_copy")
                rc, res, err = self.restore("layouts_copy", "--key", name, "--manifest", mode,
                                            key=KEY)
                self.assertEqual(rc, 0, err)
                self.assertEqual(res["compressed"], gzipped, (args, mode))
                self.assertEqual(res["format"], "custom")
                self.assertEqual(self.pg.counts("layouts_copy"), counts, (args, mode))
                self.assertEqual(self.pg.schema("layouts_copy"), schema, (args, mode))
        # compressed really means smaller
        self.assertLess(sizes["gzip"], sizes["none"] * 0.8)
        self.assertLess(sizes["pg_dump"], sizes["none"] * 0.8)

    def test_compression_flags_are_checked_naming_the_flag(self):
        for args, msg in ((["--compress-in", "gzip"], "--compress-in must be agent or pg_dump"),
                          (["--compress-threads", "0"], "--compress-threads must be 1..16"),
                          (["--compress-threads", "17"], "--compress-threads must be 1..16")):
            rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", "z/z.dump",
                                               *args], self.pg.url("shop"), key=KEY)
            self.assertNotEqual(rc, 0, args)
            self.assertIn(msg, res["error"], args)
        self.assertEqual([k for k in keys(self.bucket) if k.startswith("z/")], [])

    def test_compress_level_outside_0_to_9_is_refused_naming_the_flag(self):
        for bad in ("10", "-1", "x", ""):
            rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", "z/z.dump",
                                               "--compress-level", bad], self.pg.url("shop"),
                                 key=KEY)
            self.assertNotEqual(rc, 0, bad)
            self.assertIn("--compress-level must be 0..9", res["error"], bad)
        self.assertEqual([k for k in keys(self.bucket) if k.startswith("z/")], [])

    def test_truncated_object_streamed_without_manifest_leaves_db_untouched(self):
        self.fresh_db("trunc")
        url = self.pg.url("trunc")
        rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", "tr/full.dump"],
                             url, key=KEY)
        self.assertEqual(rc, 0, err)
        stored = get(self.bucket, "tr/full.dump")
        put(self.bucket, "tr/cut.dump", stored[:len(stored) * 2 // 3])
        self.pg.script("DELETE FROM orders WHERE id > 1000", "trunc")
        rc, res, err = self.restore("trunc", "--key", "tr/cut.dump", "--manifest", "none",
                                    key=KEY)
        self.assertEqual(rc, 1)
        self.assertIn("truncated", res["error"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "trunc"), "1000")
        # A flipped byte in the middle: the frame fails authentication.
        flipped = bytearray(stored)
        flipped[len(flipped) // 2] ^= 1
        put(self.bucket, "tr/flip.dump", bytes(flipped))
        rc, res, err = self.restore("trunc", "--key", "tr/flip.dump", "--manifest", "none",
                                    key=KEY)
        self.assertEqual(rc, 1)
        self.assertIn("authentication", res["error"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM orders", "trunc"), "1000")

    def test_kill_9_mid_upload_leaves_no_manifest_and_no_object(self):
        self.pg.psql("DROP DATABASE IF EXISTS big WITH (FORCE)")
        self.pg.createdb("big")
        # ~40 MB of barely compressible rows: several 5 MiB parts.
        self.pg.script("CREATE TABLE blobs (id int, data text); ALTER TABLE blobs OWNER TO app;"
                       "INSERT INTO blobs SELECT g, (SELECT string_agg(md5(random()::text || "
                       "g || i), '') FROM generate_series(1, 40) i) FROM "
                       "generate_series(1, 30000) g;", "big")
        url = self.pg.url("big")
        # A complete, older backup first.
        rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key",
                                           "big/big_20260101T000000Z.dump"], url, key=KEY)
        self.assertEqual(rc, 0, err)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LIFEBOAT_"))}
        env.update(LIFEBOAT_DB_URL=url, LIFEBOAT_ENCRYPTION_KEY=KEY)
        log = open(os.path.join(self.work, "backup.log"), "w+")
        p = subprocess.Popen([AGENT, "pg-backup", "--bucket", self.bucket, "--key",
                              "big/big_20260202T000000Z.dump", "--part-size-mib", "5"],
                             stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log.seek(0)
            if "uploaded part" in log.read():
                break
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        log.seek(0)
        text = log.read()
        self.assertIn("uploaded part", text)
        self.assertNotIn("pg-backup done", text)
        listed = keys(self.bucket)
        self.assertNotIn("big/big_20260202T000000Z.dump", listed)
        self.assertNotIn("big/big_20260202T000000Z.manifest.json", listed)
        # The incomplete upload exists only as a multipart upload.
        ups = json.loads(aws("s3api", "list-multipart-uploads", "--bucket",
                             self.bucket).stdout or b"{}").get("Uploads", [])
        self.assertIn("big/big_20260202T000000Z.dump", [u["Key"] for u in ups])
        # latestUnder picks the complete backup, verifies it (download + check, no load).
        rc, res, err = self.restore("big", "--latest-under", "big/", "--manifest", "required",
                                    "--verify-only", key=KEY)
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["object"], "s3://%s/big/big_20260101T000000Z.dump" % self.bucket)
        self.assertTrue(res["verified"])
        self.assertNotIn("rows", res)


if __name__ == "__main__":
    unittest.main()


class AgentKillDuringLoadTest(unittest.TestCase):
    """kill -9 of the agent while pg_restore loads from its pipe: the load was one
    transaction, so the live database keeps exactly its rows."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.start()
        cls.bucket = new_bucket()

    def test_kill_9_mid_load_leaves_the_database_as_it_was(self):
        self.pg.createdb("live")
        self.pg.script("CREATE TABLE blobs (id int PRIMARY KEY, data text); "
                       "ALTER TABLE blobs OWNER TO app; INSERT INTO blobs SELECT g, "
                       "(SELECT string_agg(md5(random()::text || g || i), '') FROM "
                       "generate_series(1, 40) i) FROM generate_series(1, 30000) g;", "live")
        url = self.pg.url("live")
        rc, res, err = agent("pg-backup", ["--bucket", self.bucket, "--key", "live.dump"], url,
                             key=KEY)
        self.assertEqual(rc, 0, err)
        self.pg.script("DELETE FROM blobs WHERE id > 100", "live")
        work = tempfile.mkdtemp(prefix="lbagkill")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", work]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LIFEBOAT_"))}
        env.update(LIFEBOAT_DB_URL=url, LIFEBOAT_DECRYPTION_KEY=KEY, LIFEBOAT_WORK_DIR=work)
        log = open(os.path.join(work, "restore.log"), "w+")
        p = subprocess.Popen([AGENT, "pg-restore", "--bucket", self.bucket, "--key", "live.dump",
                              "--manifest", "none"], stdout=log, stderr=log, env=env)
        # Kill once pg_restore is connected and copying rows into "live".
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.pg.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'live' AND "
                "application_name = 'pg_restore' AND query LIKE 'COPY%'", "postgres") == "0":
            time.sleep(0.02)
        self.assertIsNone(p.poll(), "the restore finished before it could be killed")
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        log.seek(0)
        text = log.read()
        self.assertIn("loading", text)
        self.assertNotIn("pg-restore done", text)
        # pg_restore sees the pipe end and fails; its transaction rolls back.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.pg.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'live' AND "
                "application_name = 'pg_restore'", "postgres") != "0":
            time.sleep(0.1)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM blobs", "live"), "100")
