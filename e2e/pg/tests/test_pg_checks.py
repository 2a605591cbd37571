"""pkg/pg against a real PostgreSQL 15 cluster that this suite creates itself.

Runs tests/integration/pg_check (the C driver over pkg/pg) found in
$LIFEBOAT_BUILD_DIR/tests/integration/ (default /work/main/build) and checks
what it reports against psql on the same cluster. The cluster (initdb as the
postgres user, fsync off, a short unix-socket path, a free port on 127.0.0.1)
is created in setUpClass and removed by a class cleanup, which also runs when
setUpClass fails half-way.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from urllib.parse import quote

REPO = os.environ.get("LIFEBOAT_REPO", "/work/main")
BUILD = os.environ.get("LIFEBOAT_BUILD_DIR", os.path.join(REPO, "build"))
DRIVER = os.path.join(BUILD, "tests", "integration", "pg_check")
PGBIN = "/usr/lib/postgresql/15/bin"

CHECKER_USER = "checker"
# Quotes, a backslash, a space and '=' exercise pg_conninfo_build's quoting.
CHECKER_PASSWORD = "Ch3ck'er pa\\ss=w0rd"
WRONG_PASSWORD = "Wr0ngPassw0rdXYZ"
DB = "shop"

DATASET = """
CREATE TABLE loans (id integer PRIMARY KEY, amount numeric(12,2) NOT NULL);
CREATE TABLE payments (id serial PRIMARY KEY, loan_id integer NOT NULL,
                       amount numeric(12,2) NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, total numeric(12,2) NOT NULL,
                     status text NOT NULL, created_at timestamptz NOT NULL,
                     created_local timestamp NOT NULL);
CREATE TABLE audit_logs (id serial PRIMARY KEY, created_at timestamptz);
INSERT INTO loans SELECT g, 1000 + g FROM generate_series(1, 50) g;
INSERT INTO payments (loan_id, amount) SELECT 1 + (g % 50), 10.5 FROM generate_series(1, 120) g;
-- 1000 orders, the newest at 2026-02-18 14:30:00 UTC (written with a +02 offset).
INSERT INTO orders (total, status, created_at, created_local)
  SELECT 2.50, 'paid', timestamptz '2026-02-18 16:30:00+02' - (g * interval '1 minute'),
         timestamp '2026-02-18 14:30:00' - (g * interval '1 minute')
  FROM generate_series(0, 999) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO checker;
-- A session time zone far from UTC and a non-ISO DateStyle ("18/02/2026 20:00:00 IST"):
-- the RPO code must not depend on either.
ALTER DATABASE shop SET timezone TO 'Asia/Kolkata';
ALTER DATABASE shop SET datestyle TO 'SQL, DMY';
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*argv, check=True, timeout=60):
    p = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (argv[0], p.returncode, p.stdout,
                                                        p.stderr))
    return p


class PgCluster:
    """A throw-away PostgreSQL 15 cluster."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lbpg")  # /tmp/lbpgXXXXXXXX: a short socket path
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = None
        self.started = False

    def init_and_start(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("superpw-unused\n")
        shutil.chown(pwfile, "postgres", "postgres")
        as_postgres(os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                    "--no-sync", "-E", "UTF8", "--locale=C")
        os.unlink(pwfile)
        last = None
        for _ in range(5):  # a port taken between free_port() and start: try another
            self.port = free_port()
            p = as_postgres(os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                            "-w", "-t", "30", "-o",
                            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                            "-c shared_buffers=16MB -c listen_addresses=127.0.0.1 "
                            "-c port=%d -c unix_socket_directories=%s" % (self.port, self.dir),
                            "start", check=False)
            if p.returncode == 0:
                self.started = True
                return
            last = p.stdout + p.stderr
        raise AssertionError("postgres did not start: %s" % last)

    def psql(self, sql, db=DB, user="postgres"):
        p = as_postgres("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                        "-p", str(self.port), "-U", user, "-d", db, "-c", sql)
        return p.stdout.strip()

    def psql_script(self, script, db=DB):
        p = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v",
                            "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port), "-d", db],
                           input=script, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql script failed: %s" % p.stderr)

    def destroy(self):
        if self.started:
            as_postgres(os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                        "-w", "-t", "30", "stop", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class PgChecksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DRIVER, os.X_OK):
            raise AssertionError("driver %s is missing: run `make build/tests/integration/"
                                 "pg_check`" % DRIVER)
        cls.pg = PgCluster()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.init_and_start()
        cls.pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (
            CHECKER_USER, CHECKER_PASSWORD.replace("'", "''")), db="postgres")
        cls.pg.psql("CREATE DATABASE %s" % DB, db="postgres")
        cls.pg.psql_script(DATASET)

    # ---- helpers ---------------------------------------------------------------

    def uri(self, password=CHECKER_PASSWORD):
        return "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (
            CHECKER_USER, quote(password, safe=""), self.pg.port, DB)

    def run_driver(self, args, conninfo=None, parts=None, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_PG_", "PG"))}
        if parts is not None:
            for k, v in parts.items():
                env["LIFEBOAT_PG_" + k.upper()] = v
        else:
            env["LIFEBOAT_PG_CONNINFO"] = conninfo if conninfo is not None else self.uri()
        start = time.monotonic()
        p = subprocess.run([DRIVER, *args], capture_output=True, text=True, env=env,
                           timeout=timeout)
        elapsed = time.monotonic() - start
        self.assertIn(p.returncode, (0, 1), "driver usage error: %s" % p.stderr)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("driver printed no JSON: %r %r" % (p.stdout, p.stderr))
        out["_exit"] = p.returncode
        out["_elapsed"] = elapsed
        out["_stdout"] = p.stdout
        out["_stderr"] = p.stderr
        return out

    def check(self, name, query, expect, statement_timeout_ms=5000, connect_timeout=5, **kw):
        return self.run_driver(["check", "--name", name, "--query", query, "--expect",
                                json.dumps(expect), "--statement-timeout-ms",
                                str(statement_timeout_ms), "--connect-timeout",
                                str(connect_timeout)], **kw)

    def assert_passed(self, r, passed):
        self.assertEqual(r["passed"], passed, r["message"])
        self.assertEqual(r["_exit"], 0 if passed else 1)

    # ---- counts ----------------------------------------------------------------

    def test_count_min_passes_and_fails_with_observed_value(self):
        r = self.check("orders-present", "SELECT COUNT(*) FROM orders", {"min": 1000})
        self.assert_passed(r, True)
        self.assertEqual(r["rc"], "LB_OK")
        self.assertEqual(r["observed"], self.pg.psql("SELECT COUNT(*) FROM orders"))
        self.assertEqual(r["expected"], ">= 1000")
        self.assertEqual(r["message"], "orders-present: observed 1000, expected >= 1000")
        self.assertEqual(r["rows"], 1)

        r = self.check("orders-present", "SELECT COUNT(*) FROM orders", {"min": 1001})
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_OK")  # the query ran; the expectation failed
        self.assertEqual(r["message"], "orders-present: observed 1000, expected >= 1001")

    def test_count_max_and_numeric_equals(self):
        r = self.check("few-loans", "SELECT COUNT(*) FROM loans", {"max": 50})
        self.assert_passed(r, True)
        r = self.check("few-loans", "SELECT COUNT(*) FROM loans", {"max": 49})
        self.assert_passed(r, False)
        self.assertEqual(r["message"], "few-loans: observed 50, expected <= 49")
        # numeric(…,2) prints 2500.00; equals 2500 compares the value, not the text.
        r = self.check("orders-total", "SELECT SUM(total) FROM orders", {"equals": 2500})
        self.assertEqual(r["observed"], "2500.00")
        self.assert_passed(r, True)
        r = self.check("orders-total", "SELECT SUM(total) FROM orders", {"equals": 2500.01})
        self.assert_passed(r, False)
        self.assertEqual(r["expected"], "= 2500.01")

    def test_text_and_boolean_equals(self):
        r = self.check("status", "SELECT status FROM orders ORDER BY id LIMIT 1",
                       {"equals": "paid"})
        self.assert_passed(r, True)
        r = self.check("status", "SELECT status FROM orders ORDER BY id LIMIT 1",
                       {"equals": "refunded"})
        self.assert_passed(r, False)
        self.assertEqual(r["message"], 'status: observed "paid", expected = "refunded"')
        r = self.check("has-orders", "SELECT EXISTS (SELECT 1 FROM orders)", {"equals": True})
        self.assert_passed(r, True)

    def test_min_on_a_non_numeric_value_fails_clearly(self):
        r = self.check("status-count", "SELECT status FROM orders LIMIT 1", {"min": 1})
        self.assert_passed(r, False)
        self.assertEqual(r["message"], 'status-count: observed "paid" is not a number, '
                                       'expected >= 1')

    # ---- orphans ---------------------------------------------------------------

    def test_orphan_rows_equal_zero_then_not_after_an_orphan_is_inserted(self):
        q = ("SELECT COUNT(*) FROM payments p LEFT JOIN loans l ON p.loan_id = l.id "
             "WHERE l.id IS NULL")
        r = self.check("orphans", q, {"equals": 0})
        self.assert_passed(r, True)
        self.assertEqual(r["observed"], "0")
        self.pg.psql("INSERT INTO payments (loan_id, amount) VALUES (99999, 1)")
        try:
            r = self.check("orphans", q, {"equals": 0})
            self.assert_passed(r, False)
            self.assertEqual(r["message"], "orphans: observed 1, expected = 0")
        finally:
            self.pg.psql("DELETE FROM payments WHERE loan_id = 99999")

    # ---- notEmpty --------------------------------------------------------------

    def test_not_empty_fails_on_an_empty_table_and_on_null(self):
        r = self.check("audit", "SELECT id FROM audit_logs", {"notEmpty": True})
        self.assert_passed(r, False)
        self.assertEqual(r["rows"], 0)
        self.assertIsNone(r["observed"])
        self.assertEqual(r["message"], "audit: no rows, expected not empty")
        r = self.check("audit", "SELECT MAX(created_at) FROM audit_logs", {"notEmpty": True})
        self.assert_passed(r, False)
        self.assertEqual(r["rows"], 1)
        self.assertEqual(r["message"], "audit: observed NULL, expected not empty")
        r = self.check("orders", "SELECT id FROM orders ORDER BY id", {"notEmpty": True})
        self.assert_passed(r, True)
        self.assertEqual(r["rows"], 1000)
        self.assertEqual(r["observed"], "1")

    def test_many_rows_are_counted_and_a_long_value_is_capped(self):
        r = self.check("series", "SELECT g FROM generate_series(1, 200000) g",
                       {"notEmpty": True})
        self.assert_passed(r, True)
        self.assertEqual(r["rows"], 200000)
        r = self.check("long", "SELECT repeat('x', 5000)", {"notEmpty": True})
        self.assertTrue(r["truncated"])
        self.assertEqual(len(r["observed"]), 1024)
        r = self.check("long-number", "SELECT repeat('9', 5000)::numeric", {"min": 1})
        self.assert_passed(r, False)
        self.assertIn("longer than 1024 bytes", r["message"])

    # ---- writes are refused ----------------------------------------------------

    def test_a_write_is_refused_and_the_rows_stay(self):
        r = self.check("delete", "DELETE FROM orders", {"notEmpty": True})
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_ERROR")
        self.assertIn("cannot execute DELETE in a read-only transaction", r["message"])
        self.assertIn("SQLSTATE 25006", r["message"])
        self.assertEqual(self.pg.psql("SELECT COUNT(*) FROM orders"), "1000")

    def test_a_second_statement_cannot_escape_the_transaction(self):
        r = self.check("escape", "SELECT 1; COMMIT; DELETE FROM orders", {"notEmpty": True})
        self.assert_passed(r, False)
        self.assertIn("cannot insert multiple commands into a prepared statement", r["message"])
        r = self.check("escape", "COMMIT", {"notEmpty": True})
        self.assert_passed(r, False)
        self.assertEqual(self.pg.psql("SELECT COUNT(*) FROM orders"), "1000")

    # ---- timeouts ----------------------------------------------------------------

    def test_statement_timeout_stops_a_slow_query_fast(self):
        r = self.check("slow", "SELECT pg_sleep(5)", {"notEmpty": True},
                       statement_timeout_ms=200)
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_ETIMEOUT")
        self.assertIn("canceling statement due to statement timeout", r["message"])
        self.assertIn("statement_timeout 200 ms", r["message"])
        self.assertLess(r["durationMs"], 2000)
        self.assertLess(r["_elapsed"], 3.0)

    def test_a_frozen_server_is_abandoned_after_statement_timeout_plus_grace(self):
        # SIGSTOP the backend mid-query: the server's own statement_timeout cannot
        # fire, so only the client-side deadline (statement_timeout + 1 s) ends the call.
        # The timeout is long enough (5 s) for the backend to be found and stopped before
        # it fires even on a loaded machine.
        env = dict(os.environ, LIFEBOAT_PG_CONNINFO=self.uri())
        proc = subprocess.Popen([DRIVER, "check", "--name", "frozen", "--query",
                                 "SELECT pg_sleep(10)", "--expect", '{"notEmpty": true}',
                                 "--statement-timeout-ms", "5000"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        pid = None
        try:
            while pid is None and time.monotonic() - start < 4.0:
                out = self.pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                   "'lifeboat-pg-check' AND query LIKE '%pg_sleep(10)%' "
                                   "AND state = 'active'", db="postgres")
                pid = int(out) if out else None
            self.assertIsNotNone(pid, "the check's backend never showed up as active")
            os.kill(pid, 19)  # SIGSTOP
            stdout, _ = proc.communicate(timeout=30)
            elapsed = time.monotonic() - start
        finally:
            if pid is not None:
                os.kill(pid, 18)  # SIGCONT: the backend then sees the closed socket
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        r = json.loads(stdout)
        self.assertEqual(r["rc"], "LB_ETIMEOUT", r["message"])
        self.assertIn("no answer from the server within statement_timeout 5000 ms + 1000 ms",
                      r["message"])
        self.assertGreaterEqual(elapsed, 5.9)   # the deadline was not cut short

    def test_a_silent_host_fails_within_connect_timeout(self):
        # A listener that completes the TCP handshake (kernel backlog) but never
        # answers: the worst kind of unreachable server.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        try:
            ci = "host=127.0.0.1 port=%d user=x dbname=y sslmode=disable" % port
            r = self.check("silent", "SELECT 1", {"notEmpty": True}, connect_timeout=2,
                           conninfo=ci)
        finally:
            srv.close()
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_ETIMEOUT")
        self.assertIn("timeout expired", r["message"])
        self.assertGreaterEqual(r["durationMs"], 1500)
        self.assertLess(r["_elapsed"], 4.5)

    def test_a_closed_port_fails_at_once(self):
        port = free_port()
        r = self.check("closed", "SELECT 1", {"notEmpty": True}, connect_timeout=5,
                       conninfo="host=127.0.0.1 port=%d user=x dbname=y" % port)
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_ERROR")
        self.assertIn("Connection refused", r["message"])
        self.assertLess(r["_elapsed"], 3.0)

    # ---- credentials -------------------------------------------------------------

    def test_a_wrong_password_fails_without_showing_it(self):
        r = self.check("auth", "SELECT 1", {"notEmpty": True}, conninfo=self.uri(WRONG_PASSWORD))
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_ERROR")
        self.assertIn("password authentication failed", r["message"])
        self.assertNotIn(WRONG_PASSWORD, r["_stdout"] + r["_stderr"])
        # The same through the key=value parts.
        r = self.check("auth", "SELECT 1", {"notEmpty": True},
                       parts={"host": "127.0.0.1", "port": str(self.pg.port),
                              "user": CHECKER_USER, "password": WRONG_PASSWORD,
                              "dbname": DB, "sslmode": "disable"})
        self.assert_passed(r, False)
        self.assertIn("password authentication failed", r["message"])
        self.assertNotIn(WRONG_PASSWORD, r["_stdout"] + r["_stderr"])

    def test_a_password_with_quotes_and_spaces_works_through_the_parts(self):
        r = self.check("parts", "SELECT current_user", {"equals": CHECKER_USER},
                       parts={"host": "127.0.0.1", "port": str(self.pg.port),
                              "user": CHECKER_USER, "password": CHECKER_PASSWORD,
                              "dbname": DB, "sslmode": "disable"})
        self.assert_passed(r, True)
        self.assertNotIn(CHECKER_PASSWORD, r["_stdout"] + r["_stderr"])
        self.assertNotIn("pa\\ss", r["_stdout"] + r["_stderr"])
        # and through a percent-encoded URI
        r = self.check("uri", "SELECT current_database()", {"equals": DB})
        self.assert_passed(r, True)

    def test_a_malformed_connection_string_does_not_echo_the_password(self):
        r = self.check("bad", "SELECT 1", {"notEmpty": True},
                       conninfo="host=127.0.0.1 password=%s 'unterminated" % WRONG_PASSWORD)
        self.assert_passed(r, False)
        self.assertEqual(r["rc"], "LB_EINVALID")
        self.assertIn("not a valid libpq connection string", r["message"])
        self.assertNotIn(WRONG_PASSWORD, r["_stdout"] + r["_stderr"])

    # ---- RPO -------------------------------------------------------------------

    def rpo(self, query, now, **kw):
        return self.run_driver(["rpo", "--query", query, "--now", now], **kw)

    def test_rpo_from_a_known_max_created_at(self):
        # MAX(created_at) is 2026-02-18 14:30:00 UTC although the database's
        # session time zone is Asia/Kolkata.
        r = self.rpo("SELECT MAX(created_at) FROM orders", "2026-02-18T15:30:00Z")
        self.assertEqual(r["rc"], "LB_OK", r["message"])
        self.assertEqual(r["latest"], "2026-02-18T14:30:00Z")
        self.assertEqual(r["rpoSeconds"], 3600)
        r = self.rpo("SELECT MAX(created_at) FROM orders", "2026-02-18T14:30:59.999Z")
        self.assertEqual(r["rpoSeconds"], 59)
        # timestamp without time zone is taken as UTC
        r = self.rpo("SELECT MAX(created_local) FROM orders", "2026-02-18T16:00:00Z")
        self.assertEqual(r["rpoSeconds"], 5400)
        # the server's own clock: a row written now is (nearly) zero seconds old
        self.pg.psql("INSERT INTO audit_logs (created_at) VALUES (now())")
        try:
            r = self.rpo("SELECT MAX(created_at) FROM audit_logs",
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10)))
            self.assertEqual(r["rc"], "LB_OK", r["message"])
            self.assertGreaterEqual(r["rpoSeconds"], 8)
            self.assertLessEqual(r["rpoSeconds"], 12)
        finally:
            self.pg.psql("DELETE FROM audit_logs")

    def test_rpo_of_an_empty_table_or_a_non_timestamp_fails(self):
        r = self.rpo("SELECT MAX(created_at) FROM audit_logs", "2026-02-18T15:30:00Z")
        self.assertEqual(r["rc"], "LB_ENOTFOUND")
        self.assertIn("NULL", r["message"])
        self.assertEqual(r["_exit"], 1)
        r = self.rpo("SELECT 'yesterday'::text", "2026-02-18T15:30:00Z")
        self.assertEqual(r["rc"], "LB_EINVALID")
        self.assertIn("not an ISO timestamp", r["message"])


if __name__ == "__main__":
    unittest.main()
