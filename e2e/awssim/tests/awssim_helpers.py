"""Shared helpers for the awssim contract tests: they drive the real aws CLI, psql and
redis-cli against the awssim named by AWS_ENDPOINT_URL (e2e/.run/env.sh)."""

import json
import os
import subprocess
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
AWSSIM_DIR = os.path.dirname(HERE)
FIXTURES = os.path.join(os.path.dirname(AWSSIM_DIR), "fixtures")
CMD_TIMEOUT_S = 120
WAIT_S = 90


def endpoint():
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        raise RuntimeError("AWS_ENDPOINT_URL is not set: source e2e/.run/env.sh first")
    return url


def suffix():
    return uuid.uuid4().hex[:6]


def run(args, check=True, env=None, input_text=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(args, capture_output=True, text=True, env=full_env,
                          input=input_text, timeout=CMD_TIMEOUT_S)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stderr}{proc.stdout}")
    return proc


def aws(*args, check=True, output_json=True):
    """aws CLI; rds gets --endpoint-url because aws-cli v1 pins rds in us-east-1 to
    https://rds.amazonaws.com whenever --endpoint-url is not on the command line."""
    cmd = ["aws"]
    if args[0] == "rds":
        cmd += ["--endpoint-url", endpoint()]
    cmd += list(args)
    proc = run(cmd, check=check)
    if check and output_json and proc.stdout.strip():
        return json.loads(proc.stdout)
    return proc


def rds_text(*args):
    return aws("rds", *args, "--output", "text", output_json=False).stdout.strip()


def instance(ident):
    return aws("rds", "describe-db-instances", "--db-instance-identifier", ident)[
        "DBInstances"][0]


def _fail(msg):
    raise AssertionError(msg)


def wait_instance(_test, ident, status="available", timeout=WAIT_S):
    """Describe loop (instead of the CLI's 30-second waiter) until the status is reached;
    returns the statuses seen on the way."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rds_text("describe-db-instances", "--db-instance-identifier", ident,
                      "--query", "DBInstances[0].DBInstanceStatus")
        if not seen or seen[-1] != st:
            seen.append(st)
        if st == status:
            return seen
        if st == "failed":
            _fail(f"{ident} failed (statuses {seen})")
        time.sleep(0.05)
    _fail(f"{ident} not {status} after {timeout}s (statuses {seen})")


def wait_instance_gone(_test, ident, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc = aws("rds", "describe-db-instances", "--db-instance-identifier", ident,
                   check=False)
        if proc.returncode != 0:
            if "DBInstanceNotFound" not in proc.stderr:
                _fail(f"describe {ident}: {proc.stderr}")
            return
        time.sleep(0.05)
    _fail(f"{ident} still exists after {timeout}s")


def wait_snapshot(_test, snap_id, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rds_text("describe-db-snapshots", "--db-snapshot-identifier", snap_id,
                      "--query", "DBSnapshots[0].Status")
        if st == "available":
            return
        if st == "failed":
            _fail(f"snapshot {snap_id} failed")
        time.sleep(0.05)
    _fail(f"snapshot {snap_id} not available after {timeout}s")


def psql(host, port, user, password, db, sql, check=True):
    """psql -At; returns stdout stripped."""
    proc = run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p",
                str(port), "-U", user, "-d", db, "-c", sql],
               env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}, check=check)
    return proc.stdout.strip() if check else proc


def load_fixtures(port, user, password, db, orders=2000):
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
         "-U", user, "-d", db, "-f", os.path.join(FIXTURES, "orders_schema.sql"),
         "-v", f"orders={orders}", "-f", os.path.join(FIXTURES, "orders_data.sql")],
        env={"PGPASSWORD": password})


def write_rows(port, user, password, db, count, interval=0.05):
    """Run fixtures/writer.py for count rows; returns [(id, created_at ISO)]."""
    proc = run(["python3", os.path.join(FIXTURES, "writer.py"), "--port", str(port),
                "--user", user, "--dbname", db, "--count", str(count), "--interval",
                str(interval)], env={"PGPASSWORD": password})
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    return [(int(i), t) for i, t in rows]


def create_instance(_test, ident, user, password, db, extra=()):
    aws("rds", "create-db-instance", "--db-instance-identifier", ident, "--engine",
        "postgres", "--db-instance-class", "db.t3.micro", "--master-username", user,
        "--master-user-password", password, "--db-name", db, *extra)
    return wait_instance(_test, ident)


def ensure_subnet_group(name):
    proc = aws("rds", "describe-db-subnet-groups", "--db-subnet-group-name", name,
               check=False)
    if proc.returncode == 0:
        return
    subnets = aws("ec2", "describe-subnets", "--query", "Subnets[*].SubnetId")
    aws("rds", "create-db-subnet-group", "--db-subnet-group-name", name,
        "--db-subnet-group-description", "test", "--subnet-ids", *subnets)


def delete_quietly(*idents):
    for ident in idents:
        aws("rds", "delete-db-instance", "--db-instance-identifier", ident,
            "--skip-final-snapshot", check=False)
