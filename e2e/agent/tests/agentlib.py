"""Helpers of the agent suite: a throw-away PostgreSQL 15 cluster, awssim S3
through the aws CLI, and running lifeboat-agent with secrets in its env."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

REPO = os.environ.get("LIFEBOAT_REPO", os.path.abspath(os.path.join(
    os.path.dirname(__file__), "..", "..", "..")))
BIN = os.environ.get("LIFEBOAT_BIN_DIR", os.path.join(REPO, "bin"))
AGENT = os.path.join(BIN, "lifeboat-agent")
PGBIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "Ag3nt pa'ss=w0rd"  # a quote, a space and '=': must survive env passing


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*argv, check=True, timeout=120, input=None):
    p = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                       text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (argv[0], p.returncode, p.stdout,
                                                        p.stderr))
    return p


class PgCluster:
    """A throw-away PostgreSQL 15 cluster with a password-authenticated owner role."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lbag")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = None
        self.started = False

    def start(self):
        as_postgres(os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E",
                    "UTF8", "--locale=C")
        last = None
        for _ in range(5):
            self.port = free_port()
            p = as_postgres(os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
                            os.path.join(self.dir, "log"), "-w", "-t", "30", "-o",
                            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                            "-c listen_addresses=127.0.0.1 -c port=%d "
                            "-c unix_socket_directories=%s" % (self.port, self.dir),
                            "start", check=False)
            if p.returncode == 0:
                self.started = True
                break
            last = p.stdout + p.stderr
        if not self.started:
            raise AssertionError("postgres did not start: %s" % last)
        self.psql("CREATE ROLE app LOGIN CREATEDB PASSWORD '%s'" % PASSWORD.replace("'", "''"),
                  db="postgres")

    def psql(self, sql, db="postgres"):
        p = as_postgres("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                        "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql)
        return p.stdout.strip()

    def script(self, sql, db):
        as_postgres("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p",
                    str(self.port), "-U", "postgres", "-d", db, input=sql)

    def createdb(self, db):
        self.psql("CREATE DATABASE %s OWNER app" % db)

    def url(self, db):
        from urllib.parse import quote
        return "postgresql://app:%s@127.0.0.1:%d/%s?sslmode=disable" % (
            quote(PASSWORD, safe=""), self.port, db)

    def dump(self, db, *args):
        """pg_dump as the runbooks run it, bytes on stdout."""
        p = subprocess.run(["runuser", "-u", "postgres", "--", "pg_dump", "-h", self.dir, "-p",
                            str(self.port), "-U", "postgres", *args, db], capture_output=True,
                           timeout=300)
        if p.returncode != 0:
            raise AssertionError("pg_dump failed: %s" % p.stderr.decode())
        return p.stdout

    def schema(self, db):
        text = self.dump(db, "--schema-only", "--no-owner", "--no-acl").decode()
        # pg_dump prints its own and the server's versions only in comments.
        # and a random \\restrict key (pg_dump 15.14+) in each dump.
        return "\n".join(l for l in text.splitlines()
                         if not l.startswith(("-- Dumped", "\\restrict", "\\unrestrict")))

    def counts(self, db):
        rows = self.psql("SELECT n.nspname || '.' || c.relname, quote_ident(n.nspname) || '.' "
                         "|| quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON "
                         "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                         "('pg_catalog', 'information_schema') ORDER BY 1", db=db).splitlines()
        return {name: int(self.psql("SELECT count(*) FROM ONLY %s" % quoted, db=db))
                for name, quoted in (r.split("|") for r in rows)}

    def destroy(self):
        if self.started:
            as_postgres(os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                        "-w", "-t", "30", "stop", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


SHOP = """
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer REFERENCES customers(id),
                     total numeric(12,2) NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX orders_created_at ON orders (created_at);
CREATE TABLE "User" (id serial PRIMARY KEY, email text UNIQUE NOT NULL);
CREATE VIEW recent_orders AS SELECT * FROM orders WHERE created_at > '2026-02-01';
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 300) g;
INSERT INTO orders (customer_id, total, created_at)
  SELECT 1 + g %% 300, 9.99 + g, timestamptz '2026-02-18 14:30:00+00' - g * interval '1 minute'
  FROM generate_series(0, %(orders)d - 1) g;
INSERT INTO "User" (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 77) g;
ALTER TABLE customers OWNER TO app; ALTER TABLE orders OWNER TO app;
ALTER TABLE "User" OWNER TO app; ALTER VIEW recent_orders OWNER TO app;
"""


def seed_shop(pg, db, orders=5000):
    pg.createdb(db)
    pg.script(SHOP % {"orders": orders}, db)


def aws(*args, input=None, check=True):
    p = subprocess.run(["aws", *args], capture_output=True, timeout=300, input=input)
    if check and p.returncode != 0:
        raise AssertionError("aws %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p


def new_bucket():
    name = "agent-" + uuid.uuid4().hex[:12]
    aws("s3api", "create-bucket", "--bucket", name)
    return name


def put(bucket, key, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        aws("s3", "cp", f.name, "s3://%s/%s" % (bucket, key))


def get(bucket, key):
    return aws("s3", "cp", "s3://%s/%s" % (bucket, key), "-").stdout


def keys(bucket):
    out = aws("s3api", "list-objects-v2", "--bucket", bucket).stdout
    return sorted(o["Key"] for o in json.loads(out or b"{}").get("Contents", []))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def agent(cmd, args, url, key=None, key_env=None, timeout=300, work_dir=None):
    """Runs lifeboat-agent; returns (exit code, the JSON result, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LIFEBOAT_"))}
    env["LIFEBOAT_DB_URL"] = url
    if key is not None:
        env[key_env or ("LIFEBOAT_ENCRYPTION_KEY" if cmd == "pg-backup"
                        else "LIFEBOAT_DECRYPTION_KEY")] = key
    if work_dir is not None:
        env["LIFEBOAT_WORK_DIR"] = work_dir
    p = subprocess.run([AGENT, cmd, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    lines = p.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise AssertionError("no JSON result line: %r %r" % (p.stdout, p.stderr))
    return p.returncode, result, p.stderr
