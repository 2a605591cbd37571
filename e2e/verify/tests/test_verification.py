"""VerificationRun end to end (issue 15): runbook 000's post-restore checklist and
runbook 002's monthly restore drill into a scratch instance.

Runs against `e2e/env.sh up` (kubesim, awssim with real PostgreSQL behind RDS) with one
bin/lifeboat-operator per class (e2e/restore/tests/scenario.py). Oracles are independent of
the operator: the aws CLI (instances, snapshots, the S3 report), psql (row counts, newest
row), kubectl (the objects) and the operator's /metrics.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))
from scenario import (  # noqa: E402
    DATABASE, ScenarioCase, app_get, aws, b64, cli_instances, cli_snapshots, db_url,
    deployment_manifest, parse_time, psql, rds, suffix, wait_snapshot_available)
import kube  # noqa: E402  (on sys.path through scenario)

GROUP_PATH = "/apis/lifeboat.dev/v1alpha1"
VR_WAIT_S = 180
TERMINAL = ("Passed", "Failed")


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return None


def result(obj, name):
    for r in obj.get("status", {}).get("results", []):
        if r.get("name") == name:
            return r
    raise AssertionError("no result %s in %s" % (name, json.dumps(obj.get("status"))[:2000]))


class VerifyCase(ScenarioCase):
    """ScenarioCase plus VerificationRun helpers."""

    def vr_manifest(self, name, spec):
        return {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "VerificationRun",
                "metadata": {"name": name, "namespace": self.ns}, "spec": spec}

    def apply_vr(self, name, spec):
        kube.kubectl("apply", "-f", "-", input=self.vr_manifest(name, spec))
        obj = self.vr(name)
        type(self).uids.append(obj["metadata"]["uid"])
        return obj

    def vr(self, name, missing_ok=False):
        r = kube.api("GET", "%s/namespaces/%s/verificationruns/%s" % (GROUP_PATH, self.ns, name))
        if r.status == 404 and missing_ok:
            return None
        if r.status != 200:
            raise AssertionError("GET vr/%s -> %d %s" % (name, r.status, r.body[:200]))
        return r.json()

    def wait_vr(self, name, pred, what, timeout=VR_WAIT_S, interval=0.1):
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            obj = self.vr(name, missing_ok=True)
            if pred(obj):
                return obj
            time.sleep(interval)
        self.fail("vr/%s: %s not reached within %ds:\n%s\n--- operator log tail:\n%s" % (
            name, what, timeout, json.dumps((obj or {}).get("status"), indent=1)[:4000],
            self.operator.log_tail()))

    def wait_terminal(self, name, timeout=VR_WAIT_S):
        return self.wait_vr(name, lambda o: o and o.get("status", {}).get("phase") in TERMINAL,
                            "Passed|Failed", timeout)

    def events_of(self, name):
        ev = kube.kubectl_json("get", "events", "-n", self.ns)
        return [e for e in ev.get("items", [])
                if e.get("involvedObject", {}).get("name") == name]


def s3(*args):
    return aws("s3api", *args)


def put_object(bucket, key, body):
    path = "/tmp/lb-verify-%d.txt" % os.getpid()
    with open(path, "w") as f:
        f.write(body)
    try:
        s3("put-object", "--bucket", bucket, "--key", key, "--body", path)
    finally:
        os.unlink(path)


class Test000Checklist(VerifyCase):
    """Runbook 000's checklist against the sample environment: health endpoint, row
    counts, an HTTP body check, a workload, an s3Compare that passes and one that fails on a
    missing object."""

    @classmethod
    def scenario(cls):
        cls.sfx = suffix()
        cls.db = "shop-orders-prod-" + cls.sfx
        cls.port = cls.seed_instance(cls.db)
        cls.create_secrets(cls.port)
        kube.kubectl("apply", "-f", "-", input={
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "orders-db-url", "namespace": cls.ns}, "type": "Opaque",
            "data": {"url": b64(db_url(cls.port))}})
        # the sample service with a tolerant readiness probe: on a loaded machine a 1 s
        # probe with failureThreshold 1 flaps, and the workload check reads readiness
        manifest = deployment_manifest(cls.ns, "order-service")
        probe = manifest[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        probe.update({"periodSeconds": 2, "failureThreshold": 15, "timeoutSeconds": 5})
        kube.kubectl("apply", "-f", "-", input=manifest)
        kube.kubectl("rollout", "status", "deployment/order-service", "-n", cls.ns,
                     "--timeout=120s", timeout=150)
        kube.wait_for(lambda: app_get(cls.ns, "order-service", "/health")[0] == 200,
                      timeout=60, message="order-service /health 200")
        cls.media, cls.replica, cls.partial, cls.reports = (
            "media-" + cls.sfx, "media-replica-" + cls.sfx, "media-partial-" + cls.sfx,
            "reports-" + cls.sfx)
        for b in (cls.media, cls.replica, cls.partial, cls.reports):
            s3("create-bucket", "--bucket", b)
        for i in range(6):
            for b in (cls.media, cls.replica, cls.partial):
                if b == cls.partial and i == 4:
                    continue   # the missing object
                put_object(b, "photos/img-%d.jpg" % i, "image %d" % i)
        cls.orders = int(psql(cls.port, "SELECT COUNT(*) FROM orders"))

    def spec(self, s3_fail=False):
        checks = [
            {"name": "health", "http": {"url": "http://order-service.%s.svc/health" % self.ns,
                                        "expectStatus": 200}},
            {"name": "root-body", "http": {"url": "http://order-service.%s.svc/" % self.ns,
                                           "expectBodyContains": "ORDER_DATABASE_URL"}},
            {"name": "root-json", "http": {"url": "http://order-service.%s.svc/" % self.ns,
                                           "expectJSON": {"field": "var",
                                                          "equals": "ORDER_DATABASE_URL"}}},
            {"name": "orders", "sql": {"query": "SELECT COUNT(*) FROM orders",
                                       "expect": {"equals": self.orders}}},
            {"name": "users", "sql": {"query": "SELECT COUNT(*) FROM users",
                                      "expect": {"min": 1}}},
            {"name": "order-service", "workload": {"kind": "Deployment",
                                                   "name": "order-service"}},
            {"name": "media-replica", "s3Compare": {"bucketA": self.media,
                                                    "bucketB": self.replica,
                                                    "prefix": "photos/"}},
        ]
        if s3_fail:
            checks.append({"name": "media-partial", "s3Compare": {
                "bucketA": self.media, "bucketB": self.partial, "prefix": "photos/"}})
        return {"target": {"connectionSecretRef": {"name": "orders-db-url", "key": "url"}},
                "checks": checks,
                "rpo": {"query": "SELECT MAX(created_at) FROM orders", "maxAge": "720h"},
                "report": {"bucket": self.reports, "prefix": "verification_reports/"},
                "timeoutSeconds": 300}

    def test_1_checklist_passes_with_report(self):
        self.apply_vr("checklist", self.spec())
        obj = self.wait_terminal("checklist")
        st = obj["status"]
        self.assertEqual(st["phase"], "Passed", json.dumps(st, indent=1)[:3000])
        self.assertEqual(st["summary"], "8/8")   # 7 checks + rpo
        self.assertEqual(result(obj, "root-json")["observed"], "ORDER_DATABASE_URL")
        self.assertEqual(result(obj, "orders")["observed"], str(self.orders))
        self.assertEqual(result(obj, "health")["observed"], "HTTP 200")
        self.assertIn("1 of 1 ready", result(obj, "order-service")["observed"])
        self.assertIn("6 keys", result(obj, "media-replica")["observed"])
        for r in st["results"]:
            self.assertIn("durationMs", r)
            self.assertTrue(r["passed"], r)
        # measured RPO without a drill: the newest order's age when the rpo query ran
        newest = parse_time(psql(self.port, "SELECT to_char(MAX(created_at) AT TIME ZONE 'UTC',"
                                            " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM orders"))
        started = parse_time(st["startedAt"])
        finished = parse_time(st["finishedAt"])
        lo, hi = (started - newest).total_seconds(), (finished - newest).total_seconds()
        self.assertGreaterEqual(st["measured"]["rpoSeconds"], int(lo) - 1)
        self.assertLessEqual(st["measured"]["rpoSeconds"], hi + 1)
        # the report in S3 parses and matches the status
        loc = st["reportLocation"]
        self.assertTrue(loc.startswith("s3://%s/verification_reports/%s/checklist-" % (
            self.reports, self.ns)), loc)
        bucket, key = loc[5:].split("/", 1)
        path = "/tmp/lb-verify-report-%d.json" % os.getpid()
        s3("get-object", "--bucket", bucket, "--key", key, path)
        with open(path) as f:
            report = json.load(f)
        os.unlink(path)
        self.assertEqual(report["kind"], "VerificationRun")
        self.assertEqual(report["metadata"]["uid"], obj["metadata"]["uid"])
        for k in ("phase", "summary", "results", "measured", "startedAt", "finishedAt",
                  "reportLocation"):
            self.assertEqual(report["status"][k], st[k], k)
        # metrics
        m = self.operator.metrics()
        self.assertIn('lifeboat_verification_check_passed{namespace="%s",name="checklist",'
                      'check="media-replica"} 1' % self.ns, m)
        self.assertIn('lifeboat_verification_rpo_seconds{namespace="%s",name="checklist"}'
                      % self.ns, m)
        self.assertIn('lifeboat_verification_last_success_timestamp_seconds{namespace="%s",'
                      'name="checklist"}' % self.ns, m)
        reasons = [e["reason"] for e in self.events_of("checklist")]
        for r in ("Pending", "Running", "Passed"):
            self.assertIn(r, reasons)

    def test_2_missing_object_fails_naming_the_key(self):
        self.apply_vr("checklist-s3", self.spec(s3_fail=True))
        obj = self.wait_terminal("checklist-s3")
        st = obj["status"]
        self.assertEqual(st["phase"], "Failed", json.dumps(st, indent=1)[:3000])
        self.assertEqual(st["summary"], "8/9")
        bad = result(obj, "media-partial")
        self.assertFalse(bad["passed"])
        self.assertIn("photos/img-4.jpg", bad["message"])
        self.assertIn("missing in %s" % self.partial, bad["message"])
        self.assertIn("1 differing", bad["observed"])
        self.assertEqual(bad["expected"], "at most 0 differing keys")
        self.assertTrue(result(obj, "media-replica")["passed"])
        self.assertIn("media-partial", st["message"])
        m = self.operator.metrics()
        self.assertIn('lifeboat_verification_check_passed{namespace="%s",name="checklist-s3",'
                      'check="media-partial"} 0' % self.ns, m)

    def test_3_invalid_spec_names_the_field(self):
        spec = self.spec()
        spec["checks"][0]["http"]["expectStatus"] = 999
        p = kube.kubectl("apply", "-f", "-", input=self.vr_manifest("bad", spec), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("expectStatus", p.stderr)
        self.assertIsNone(self.vr("bad", missing_ok=True))

    def test_4_ttl_deletes_the_finished_run(self):
        spec = self.spec()
        spec["checks"] = spec["checks"][:1]
        del spec["rpo"]
        spec["ttlSecondsAfterFinished"] = 2
        self.apply_vr("short-lived", spec)
        self.wait_vr("short-lived", lambda o: o is None, "deleted after its TTL", timeout=60)


class Test002Drill(VerifyCase):
    """Runbook 002's monthly drill: the newest snapshot of shop-orders-prod restored into a
    scratch instance, runbook 001's row-count and latest-record queries and runbook 003's
    orphaned-payments query run against it, and the instance is gone afterwards."""

    @classmethod
    def scenario(cls):
        cls.sfx = suffix()
        cls.db = "shop-orders-prod-" + cls.sfx
        cls.port = cls.seed_instance(cls.db)
        cls.create_secrets(cls.port)
        s3("create-bucket", "--bucket", "reports-" + cls.sfx)
        # the newest row, then a pause, then the snapshot: the RPO to measure is the gap
        psql(cls.port, "INSERT INTO orders (user_id, total_cents, source) "
                       "SELECT MIN(id), 4242, 'drill' FROM users")
        cls.newest = parse_time(psql(
            cls.port, "SELECT to_char(MAX(created_at) AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM orders"))
        time.sleep(3)
        cls.snap = cls.db + "-drill-" + cls.sfx
        cls.snapshots.append(cls.snap)
        aws("rds", "create-db-snapshot", "--db-instance-identifier", cls.db,
            "--db-snapshot-identifier", cls.snap)
        wait_snapshot_available(cls.snap)
        cls.snap_time = parse_time(cli_snapshots()[cls.snap]["SnapshotCreateTime"])
        cls.orders = int(psql(cls.port, "SELECT COUNT(*) FROM orders"))

    def spec(self, extra_checks=None, slo=None, slow=False):
        checks = [
            {"name": "orders-count", "sql": {"query": "SELECT COUNT(*) FROM orders",
                                             "expect": {"equals": self.orders}}},
            {"name": "latest-order", "sql": {"query": "SELECT MAX(created_at) FROM orders",
                                             "expect": {"notEmpty": True}}},
            {"name": "orphaned-payments", "sql": {
                "query": "SELECT COUNT(*) FROM payments p LEFT JOIN loans l "
                         "ON p.loan_id = l.id WHERE l.id IS NULL",
                "expect": {"equals": 0}}},
        ]
        if slow:   # keeps the drill in Running long enough to interrupt it
            checks.append({"name": "slow", "sql": {
                "query": "SELECT COUNT(*) FROM orders, pg_sleep(6)", "expect": {"min": 1}}})
        checks += extra_checks or []
        spec = {"scratchRestore": {
                    "rdsSnapshot": {"latestFrom": {"dbInstanceIdentifier": self.db}},
                    "dbInstanceClass": "db.t3.medium",
                    "credentialsSecretRef": {"name": "orders-db-admin"},
                    "database": DATABASE},
                "checks": checks,
                "rpo": {"query": "SELECT MAX(created_at) FROM orders", "maxAge": "1h"},
                "report": {"bucket": "reports-" + self.sfx},
                "timeoutSeconds": 300}
        if slo:
            spec["slo"] = slo
        return spec

    def assert_scratch_gone(self, obj):
        ident = obj["status"]["scratch"]["instanceIdentifier"]
        self.assertTrue(ident.startswith(self.db + "-vr-"), ident)
        self.assertNotIn(ident, cli_instances())
        return ident

    def scratch_exists(self, name):
        """boto3 poll: the run's scratch instance exists (for interrupting mid-drill)."""
        obj = self.vr(name, missing_ok=True)
        ident = ((obj or {}).get("status", {}).get("scratch") or {}).get("instanceIdentifier")
        if not ident:
            return None
        try:
            rds().describe_db_instances(DBInstanceIdentifier=ident)
            return ident
        except Exception:  # noqa: BLE001 - not there yet
            return None

    def test_1_drill_passes_and_measures(self):
        t0 = time.time()
        obj = self.apply_vr("monthly", self.spec(slo={"rto": "4h", "rpo": "1h"}))
        seen_restoring = False
        deadline = time.monotonic() + VR_WAIT_S
        while time.monotonic() < deadline:
            obj = self.vr("monthly")
            phase = obj.get("status", {}).get("phase")
            seen_restoring = seen_restoring or phase in ("Restoring", "Running")
            if phase in TERMINAL:
                break
            time.sleep(0.1)
        t1 = time.time()
        st = obj["status"]
        self.assertEqual(st["phase"], "Passed",
                         json.dumps(st, indent=1)[:3000] + self.operator.log_tail())
        self.assertTrue(seen_restoring)
        self.assertEqual(st["summary"], "4/4")
        self.assertEqual(result(obj, "orders-count")["observed"], str(self.orders))
        self.assertEqual(st["scratch"]["snapshotIdentifier"], self.snap)
        self.assertTrue(st["scratch"]["deleted"])
        ident = self.assert_scratch_gone(obj)
        # RPO: the newest row's age at the snapshot time, as measured here (within 2 s)
        want_rpo = (self.snap_time - self.newest).total_seconds()
        self.assertGreaterEqual(want_rpo, 3)
        self.assertLessEqual(abs(st["measured"]["rpoSeconds"] - want_rpo), 2,
                             (st["measured"], want_rpo))
        # RTO: start of the drill to the checks passing; within what this test saw
        rto = st["measured"]["rtoSeconds"]
        self.assertGreaterEqual(rto, st["scratch"]["restoreSeconds"])
        self.assertLessEqual(rto, t1 - t0 + 1)
        slo = condition(obj, "SLOMet")
        self.assertEqual(slo["status"], "True", slo)
        # tagged, non-public: the awssim request log saw the restore with our tags
        from awssim_control import request_log   # noqa: E402
        restores = [e for e in request_log()
                    if e.get("action") == "RestoreDBInstanceFromDBSnapshot"
                    and ident in json.dumps(e)]
        self.assertTrue(restores, "no RestoreDBInstanceFromDBSnapshot for %s" % ident)
        deletes = [e for e in request_log() if e.get("action") == "DeleteDBInstance"
                   and ident in json.dumps(e)]
        self.assertTrue(deletes)
        m = self.operator.metrics()
        self.assertIn('lifeboat_verification_rto_seconds{namespace="%s",name="monthly"} %d'
                      % (self.ns, rto), m)

    def test_2_failing_check_still_deletes(self):
        extra = [{"name": "impossible", "sql": {"query": "SELECT COUNT(*) FROM orders",
                                                "expect": {"equals": 0}}}]
        self.apply_vr("failing", self.spec(extra_checks=extra))
        obj = self.wait_terminal("failing")
        st = obj["status"]
        self.assertEqual(st["phase"], "Failed", json.dumps(st, indent=1)[:3000])
        self.assertEqual(st["summary"], "4/5")
        self.assertFalse(result(obj, "impossible")["passed"])
        self.assertEqual(result(obj, "impossible")["observed"], str(self.orders))
        self.assert_scratch_gone(obj)
        self.assertEqual(condition(obj, "Ready")["status"], "False")

    def test_3_tighter_slo_is_not_met(self):
        self.apply_vr("tight", self.spec(slo={"rto": "4h", "rpo": "1s"}))
        obj = self.wait_terminal("tight")
        st = obj["status"]
        self.assertEqual(st["phase"], "Passed", json.dumps(st, indent=1)[:3000])
        slo = condition(obj, "SLOMet")
        self.assertEqual(slo["status"], "False", slo)
        self.assertEqual(slo["reason"], "RPOExceeded")
        self.assert_scratch_gone(obj)

    def test_4_kill9_mid_drill_leaves_no_instance(self):
        self.apply_vr("killed", self.spec(slow=True))
        ident = kube.wait_for(lambda: self.scratch_exists("killed"), timeout=120, interval=0.1,
                              message="the scratch instance exists")
        self.operator.kill9()
        self.assertIn(ident, cli_instances())   # left behind by the killed operator
        self.operator.start()
        obj = self.wait_terminal("killed")
        self.assertEqual(obj["status"]["phase"], "Passed",
                         json.dumps(obj["status"], indent=1)[:3000])
        self.assertEqual(obj["status"]["scratch"]["instanceIdentifier"], ident)
        self.assert_scratch_gone(obj)

    def test_5_delete_mid_drill_leaves_no_instance(self):
        self.apply_vr("deleted", self.spec(slow=True))
        ident = kube.wait_for(lambda: self.scratch_exists("deleted"), timeout=120,
                              interval=0.1, message="the scratch instance exists")
        kube.kubectl("delete", "vr/deleted", "-n", self.ns, "--wait=false")
        self.wait_vr("deleted", lambda o: o is None, "the VerificationRun gone", timeout=120)
        self.assertNotIn(ident, cli_instances())

    def test_6_random_selection_within_window(self):
        # a second manual snapshot: two candidates; awssim's automated snapshot from the
        # instance's creation (an empty database) is excluded by snapshotType manual
        snap2 = self.snap + "-b"
        type(self).snapshots.append(snap2)
        aws("rds", "create-db-snapshot", "--db-instance-identifier", self.db,
            "--db-snapshot-identifier", snap2)
        wait_snapshot_available(snap2)
        spec = self.spec()
        spec["scratchRestore"]["rdsSnapshot"]["latestFrom"]["snapshotType"] = "manual"
        spec["scratchRestore"]["rdsSnapshot"]["selection"] = {"randomWithin": "7d"}
        self.apply_vr("random", spec)
        obj = self.wait_terminal("random")
        st = obj["status"]
        self.assertEqual(st["phase"], "Passed", json.dumps(st, indent=1)[:3000])
        self.assertEqual(st["summary"], "4/4")
        snaps = cli_snapshots()
        chosen = st["scratch"]["snapshotIdentifier"]
        self.assertIn(chosen, (self.snap, snap2))
        self.assertEqual(snaps[chosen]["DBInstanceIdentifier"], self.db)
        self.assert_scratch_gone(obj)


if __name__ == "__main__":
    import unittest
    unittest.main()
