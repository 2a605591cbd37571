#!/usr/bin/env python3
"""Measure how long each RDS operation takes on a running awssim (wall time from the
call until the resource is available / gone, polled every 50 ms through boto3).

  . e2e/.run/env.sh && python3 e2e/awssim/measure_rds.py [--orders 100000] [--runs 3]

Prints one line per operation: min / median / max seconds over the runs."""

import argparse
import os
import statistics
import subprocess
import time
import uuid

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")
USER, PASSWORD, DB = "bench_admin", "bench-admin-pw", "bench"
POLL_S = 0.05
TIMEOUT_S = 300


def rds():
    return boto3.client("rds", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def wait(fn, done):
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        try:
            value = fn()
        except Exception as e:  # NotFound while waiting for deletion
            value = e
        if done(value):
            return
        time.sleep(POLL_S)
    raise RuntimeError("timed out")


def inst_status(c, ident):
    return lambda: c.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0][
        "DBInstanceStatus"]


def timed(results, name, start_fn, wait_fn):
    t0 = time.time()
    start_fn()
    wait_fn()
    results.setdefault(name, []).append(time.time() - t0)


def one_run(c, results, orders):
    s = uuid.uuid4().hex[:6]
    src, snap = f"bench-{s}", f"bench-{s}-snap"
    avail = lambda ident: (lambda: wait(inst_status(c, ident), lambda v: v == "available"))
    timed(results, "CreateDBInstance", lambda: c.create_db_instance(
        DBInstanceIdentifier=src, Engine="postgres", DBInstanceClass="db.t3.micro",
        MasterUsername=USER, MasterUserPassword=PASSWORD, DBName=DB), avail(src))
    port = c.describe_db_instances(DBInstanceIdentifier=src)["DBInstances"][0]["Endpoint"][
        "Port"]
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", USER,
                    "-d", DB, "-f", os.path.join(FIXTURES, "orders_schema.sql"), "-v",
                    f"orders={orders}", "-f", os.path.join(FIXTURES, "orders_data.sql")],
                   env=dict(os.environ, PGPASSWORD=PASSWORD), check=True,
                   capture_output=True)
    size = subprocess.run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(port), "-U",
                           USER, "-d", DB, "-c",
                           "SELECT pg_size_pretty(pg_database_size(current_database()))"],
                          env=dict(os.environ, PGPASSWORD=PASSWORD), check=True,
                          capture_output=True, text=True).stdout.strip()
    results.setdefault("_size", []).append(size)
    timed(results, "CreateDBSnapshot", lambda: c.create_db_snapshot(
        DBInstanceIdentifier=src, DBSnapshotIdentifier=snap),
        lambda: wait(lambda: c.describe_db_snapshots(DBSnapshotIdentifier=snap)[
            "DBSnapshots"][0]["Status"], lambda v: v == "available"))
    wait(inst_status(c, src), lambda v: v == "available")
    timed(results, "RestoreDBInstanceFromDBSnapshot",
          lambda: c.restore_db_instance_from_db_snapshot(
              DBInstanceIdentifier=f"{src}-s", DBSnapshotIdentifier=snap), avail(f"{src}-s"))
    timed(results, "RestoreDBInstanceToPointInTime (latest)",
          lambda: c.restore_db_instance_to_point_in_time(
              SourceDBInstanceIdentifier=src, TargetDBInstanceIdentifier=f"{src}-p",
              UseLatestRestorableTime=True), avail(f"{src}-p"))
    timed(results, "ModifyDBInstance NewDBInstanceIdentifier",
          lambda: c.modify_db_instance(DBInstanceIdentifier=f"{src}-p",
                                       NewDBInstanceIdentifier=f"{src}-q",
                                       ApplyImmediately=True), avail(f"{src}-q"))
    gone = lambda ident: (lambda: wait(inst_status(c, ident),
                                       lambda v: isinstance(v, Exception)))
    timed(results, "DeleteDBInstance (FinalDBSnapshotIdentifier)",
          lambda: c.delete_db_instance(DBInstanceIdentifier=f"{src}-q",
                                       FinalDBSnapshotIdentifier=f"{src}-final"), gone(f"{src}-q"))
    timed(results, "DeleteDBInstance (SkipFinalSnapshot)",
          lambda: c.delete_db_instance(DBInstanceIdentifier=f"{src}-s",
                                       SkipFinalSnapshot=True), gone(f"{src}-s"))
    c.delete_db_instance(DBInstanceIdentifier=src, SkipFinalSnapshot=True)
    wait(inst_status(c, src), lambda v: isinstance(v, Exception))
    for sn in (snap, f"{src}-final"):
        c.delete_db_snapshot(DBSnapshotIdentifier=sn)

    cl = f"bench-aurora-{s}"
    cl_avail = lambda ident: (lambda: wait(lambda: c.describe_db_clusters(
        DBClusterIdentifier=ident)["DBClusters"][0]["Status"], lambda v: v == "available"))
    timed(results, "CreateDBCluster (aurora-postgresql)", lambda: c.create_db_cluster(
        DBClusterIdentifier=cl, Engine="aurora-postgresql", MasterUsername=USER,
        MasterUserPassword=PASSWORD, DatabaseName=DB), cl_avail(cl))

    def cluster_pitr():
        c.restore_db_cluster_to_point_in_time(DBClusterIdentifier=f"{cl}-r",
                                              SourceDBClusterIdentifier=cl,
                                              UseLatestRestorableTime=True)
        c.create_db_instance(DBInstanceIdentifier=f"{cl}-r-w", DBClusterIdentifier=f"{cl}-r",
                             DBInstanceClass="db.r6g.large", Engine="aurora-postgresql")

    timed(results, "RestoreDBClusterToPointInTime + writer CreateDBInstance", cluster_pitr,
          lambda: (cl_avail(f"{cl}-r")(), avail(f"{cl}-r-w")()))
    c.delete_db_instance(DBInstanceIdentifier=f"{cl}-r-w", SkipFinalSnapshot=True)
    wait(inst_status(c, f"{cl}-r-w"), lambda v: isinstance(v, Exception))
    for ident in (f"{cl}-r", cl):
        c.delete_db_cluster(DBClusterIdentifier=ident, SkipFinalSnapshot=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    c = rds()
    results = {}
    for _ in range(args.runs):
        one_run(c, results, args.orders)
    print(f"orders={args.orders} database size {results.pop('_size')[0]}, runs={args.runs}")
    for name, vals in results.items():
        print(f"{name:58s} {min(vals):6.2f} {statistics.median(vals):6.2f} {max(vals):6.2f} s")


if __name__ == "__main__":
    main()
