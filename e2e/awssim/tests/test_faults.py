"""awssim's request log and fault control (faults.py), observed with the real aws CLI:
each fault mode as the CLI sees it (its own retry after apply-then-500 hits
DBInstanceAlreadyExists - the bug Lifeboat must not have), the log lines, throttling in
each protocol, the rename lag, DeleteAutomatedBackups recorded, no secret in the log."""

import json
import os
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awssim_helpers import aws, delete_quietly, rds_text, suffix, wait_instance  # noqa: E402

USER = "fault_admin"
PASSWORD = "fault-admin-pw-1"


def control_url():
    return os.environ.get("AWSSIM_CONTROL_URL") or \
        f"http://127.0.0.1:{os.environ['AWSSIM_PORT']}/awssim/faults"


def control(method, doc=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(control_url(), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_appears(test, ident, timeout=60):
    """Until ident is listed available (DBInstanceNotFound meanwhile is expected)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc = aws("rds", "describe-db-instances", "--db-instance-identifier", ident,
                   "--query", "DBInstances[0].DBInstanceStatus", "--output", "text",
                   check=False, output_json=False)
        if proc.returncode == 0 and proc.stdout.strip() == "available":
            return
        if proc.returncode != 0 and "DBInstanceNotFound" not in proc.stderr:
            test.fail(proc.stderr)
        time.sleep(0.2)
    test.fail(f"{ident} not available after {timeout}s")


def log_lines():
    with open(os.environ["AWSSIM_REQUEST_LOG"]) as f:
        return [json.loads(line) for line in f if line.strip()]


def lines_since(n, action=None, **params):
    out = []
    for e in log_lines()[n:]:
        if action is not None and e["action"] != action:
            continue
        if all(e["params"].get(k) == v for k, v in params.items()):
            out.append(e)
    return out


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        control("DELETE")
        cls.ident = f"faults-{suffix()}"
        cls.gone = []
        n = len(log_lines())
        status, _ = control("POST", {"action": "CreateDBInstance", "mode": "apply-then-500",
                                     "match": {"DBInstanceIdentifier": cls.ident}})
        assert status == 200
        proc = aws("rds", "create-db-instance", "--db-instance-identifier", cls.ident,
                   "--engine", "postgres", "--db-instance-class", "db.t3.micro",
                   "--master-username", USER, "--master-user-password", PASSWORD,
                   "--db-name", "app", check=False)
        cls.create_proc = proc
        cls.create_lines = lines_since(n, "CreateDBInstance", DBInstanceIdentifier=cls.ident)
        wait_instance(cls, cls.ident)

    @classmethod
    def tearDownClass(cls):
        control("DELETE")
        delete_quietly(cls.ident, *cls.gone)

    def setUp(self):
        control("DELETE")

    def tearDown(self):
        control("DELETE")

    def test_apply_then_500_the_cli_retry_gets_already_exists(self):
        # The instance was created by the first request; the CLI's own retry of the
        # ambiguous 500 then failed: exactly a blind re-send of a mutating call.
        self.assertNotEqual(self.create_proc.returncode, 0)
        self.assertIn("(DBInstanceAlreadyExists)", self.create_proc.stderr)
        lines = self.create_lines
        self.assertEqual(len(lines), 2, lines)
        self.assertEqual(lines[0]["fault"], "apply-then-500")
        self.assertEqual(lines[0]["status"], 500)
        self.assertEqual(lines[0]["applied_status"], 200)
        self.assertIsNone(lines[1]["fault"])
        self.assertEqual(lines[1]["status"], 400)
        for e in lines:
            self.assertEqual(e["service"], "rds")
            self.assertEqual(e["method"], "POST")
            self.assertEqual(e["path"], "/")
            self.assertEqual(e["access_key"], os.environ["AWS_ACCESS_KEY_ID"])
            self.assertIsInstance(e["ts"], float)
        # The master password is never logged.
        with open(os.environ["AWSSIM_REQUEST_LOG"]) as f:
            self.assertNotIn(PASSWORD, f.read())

    def test_drop_after_apply_rename_lands_and_the_retry_gets_not_found(self):
        new = f"{self.ident}-r"
        n = len(log_lines())
        control("POST", {"action": "ModifyDBInstance", "mode": "drop-after-apply",
                         "match": {"DBInstanceIdentifier": self.ident}})
        proc = aws("rds", "modify-db-instance", "--db-instance-identifier", self.ident,
                   "--new-db-instance-identifier", new, "--apply-immediately", check=False)
        try:
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("(DBInstanceNotFound)", proc.stderr)
            lines = lines_since(n, "ModifyDBInstance", DBInstanceIdentifier=self.ident)
            self.assertEqual([e["fault"] for e in lines], ["drop-after-apply", None], lines)
            self.assertIsNone(lines[0]["status"])
            self.assertEqual(lines[0]["params"]["NewDBInstanceIdentifier"], new)
            self.assertEqual(lines[1]["status"], 404)
            wait_instance(self, new)  # applied once: the instance carries the new name
        finally:
            control("DELETE")
            wait_instance(self, new)
            aws("rds", "modify-db-instance", "--db-instance-identifier", new,
                "--new-db-instance-identifier", self.ident, "--apply-immediately")
            wait_instance(self, self.ident)

    def test_500_no_apply_changes_nothing(self):
        n = len(log_lines())
        control("POST", {"action": "ModifyDBInstance", "mode": "500-no-apply", "times": -1,
                         "match": {"DBInstanceIdentifier": self.ident}})
        proc = aws("rds", "modify-db-instance", "--db-instance-identifier", self.ident,
                   "--new-db-instance-identifier", f"{self.ident}-never", "--apply-immediately",
                   check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("(InternalFailure)", proc.stderr)
        lines = lines_since(n, "ModifyDBInstance", DBInstanceIdentifier=self.ident)
        self.assertGreaterEqual(len(lines), 2, "the CLI retries a 500")
        self.assertTrue(all(e["fault"] == "500-no-apply" and e["status"] == 500
                            for e in lines), lines)
        self.assertEqual(rds_text("describe-db-instances", "--db-instance-identifier",
                                  self.ident, "--query", "DBInstances[0].DBInstanceStatus"),
                         "available")

    def test_throttle_then_the_cli_retry_succeeds(self):
        n = len(log_lines())
        control("POST", {"action": "Describe*", "mode": "throttle", "times": 2,
                         "service": "rds"})
        out = aws("rds", "describe-db-instances", "--db-instance-identifier", self.ident)
        self.assertEqual(out["DBInstances"][0]["DBInstanceIdentifier"], self.ident)
        lines = lines_since(n, "DescribeDBInstances", DBInstanceIdentifier=self.ident)
        self.assertEqual([(e["fault"], e["status"]) for e in lines],
                         [("throttle", 400), ("throttle", 400), (None, 200)])

    def test_throttle_answers_in_each_protocol(self):
        control("POST", {"action": "*", "mode": "throttle", "times": -1})
        env_one = {"AWS_MAX_ATTEMPTS": "1"}
        from awssim_helpers import run
        cases = [
            (["aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "rds",
              "describe-db-instances"], "(Throttling)"),
            (["aws", "secretsmanager", "list-secrets"], "(ThrottlingException)"),
            (["aws", "s3api", "list-buckets"], "(SlowDown)"),
        ]
        for args, code in cases:
            proc = run(args, check=False, env=env_one)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn(code, proc.stderr, args)

    def test_rename_lag_keeps_the_old_name_renaming(self):
        lag = 600  # held until the DELETE below releases it: no race with slow CLI calls
        status, state = control("POST", {"rename_lag_s": lag})
        self.assertEqual(status, 200)
        self.assertEqual(state["rename_lag_s"], lag)
        new = f"{self.ident}-lag"
        t0 = time.time()
        aws("rds", "modify-db-instance", "--db-instance-identifier", self.ident,
            "--new-db-instance-identifier", new, "--apply-immediately")
        try:
            st = rds_text("describe-db-instances", "--db-instance-identifier", self.ident,
                          "--query", "DBInstances[0].DBInstanceStatus")
            self.assertEqual(st, "renaming")
            proc = aws("rds", "describe-db-instances", "--db-instance-identifier", new,
                       check=False)
            self.assertIn("(DBInstanceNotFound)", proc.stderr)
            # The old name cannot be modified while it is renaming.
            proc = aws("rds", "modify-db-instance", "--db-instance-identifier", self.ident,
                       "--new-db-instance-identifier", f"{self.ident}-other",
                       "--apply-immediately", check=False)
            self.assertIn("(InvalidDBInstanceState)", proc.stderr)
            self.assertLess(time.time() - t0, lag, "the checks above ran after the lag")
            # Lowering the lag releases the rename in flight.
            t1 = time.time()
            control("POST", {"rename_lag_s": 0})
            wait_appears(self, new)
            self.assertLess(time.time() - t1, 60)
            proc = aws("rds", "describe-db-instances", "--db-instance-identifier", self.ident,
                       check=False)
            self.assertIn("(DBInstanceNotFound)", proc.stderr)
        finally:
            control("DELETE")
            wait_appears(self, new)
            aws("rds", "modify-db-instance", "--db-instance-identifier", new,
                "--new-db-instance-identifier", self.ident, "--apply-immediately")
            wait_instance(self, self.ident)
        _, state = control("GET")
        self.assertEqual(state["rename_lag_s"], float(os.environ.get("AWSSIM_RENAME_LAG_S")
                                                      or 0))

    def test_delete_records_delete_automated_backups(self):
        snap_src = f"{self.ident}-d"
        aws("rds", "create-db-instance", "--db-instance-identifier", snap_src,
            "--engine", "postgres", "--db-instance-class", "db.t3.micro",
            "--master-username", USER, "--master-user-password", PASSWORD)
        self.gone.append(snap_src)
        wait_instance(self, snap_src)
        n = len(log_lines())
        aws("rds", "delete-db-instance", "--db-instance-identifier", snap_src,
            "--skip-final-snapshot", "--no-delete-automated-backups")
        lines = lines_since(n, "DeleteDBInstance", DBInstanceIdentifier=snap_src)
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0]["params"]["DeleteAutomatedBackups"], "false")
        self.assertEqual(lines[0]["params"]["SkipFinalSnapshot"], "true")

    def test_secret_values_never_logged(self):
        name = f"faults/{suffix()}"
        value = f"s3cr3t-{suffix()}-value"
        aws("secretsmanager", "create-secret", "--name", name, "--secret-string", value)
        aws("secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string",
            value + "2")
        aws("secretsmanager", "get-secret-value", "--secret-id", name)
        with open(os.environ["AWSSIM_REQUEST_LOG"]) as f:
            text = f.read()
        self.assertNotIn(value, text)
        self.assertIn(name, text)  # the identifying SecretId / Name is there
        aws("secretsmanager", "delete-secret", "--secret-id", name,
            "--force-delete-without-recovery")

    def test_s3_actions_are_named(self):
        bucket = f"faults-{suffix()}"
        n = len(log_lines())
        aws("s3api", "create-bucket", "--bucket", bucket)
        aws("s3api", "put-object", "--bucket", bucket, "--key", "a/b.txt")
        aws("s3api", "head-object", "--bucket", bucket, "--key", "a/b.txt")
        aws("s3api", "delete-object", "--bucket", bucket, "--key", "a/b.txt")
        aws("s3api", "delete-bucket", "--bucket", bucket)
        got = [(e["action"], e["params"].get("Key")) for e in log_lines()[n:]
               if e["params"].get("Bucket") == bucket]
        self.assertEqual(got, [("CreateBucket", None), ("PutObject", "a/b.txt"),
                               ("HeadObject", "a/b.txt"), ("DeleteObject", "a/b.txt"),
                               ("DeleteBucket", None)])

    def test_delay_runs_the_call_late_and_answers_it(self):
        """delay: the request waits before it runs (the fault counted, the copy not there
        yet, nothing logged), then runs and is answered 200 and logged once with
        fault "delay"; times 1 leaves the next copy undelayed."""
        bucket = f"faults-delay-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", bucket)
        aws("s3api", "put-object", "--bucket", bucket, "--key", "src.txt")
        n = len(log_lines())
        status, _ = control("POST", {"action": "CopyObject", "mode": "delay", "delay_ms": 6000,
                                     "match": {"Bucket": bucket, "Key": "dst-*"}})
        self.assertEqual(status, 200)
        done = {}
        t = threading.Thread(target=lambda: done.update(proc=aws(
            "s3api", "copy-object", "--bucket", bucket, "--key", "dst-1.txt",
            "--copy-source", f"{bucket}/src.txt", check=False)))
        t.start()
        try:
            deadline = time.monotonic() + 30
            while control("GET")[1]["faults"][0]["applied"] == 0:
                self.assertLess(time.monotonic(), deadline, "the copy never reached awssim")
                time.sleep(0.05)
            # the request arrived and waits: not run, not logged
            head = aws("s3api", "head-object", "--bucket", bucket, "--key", "dst-1.txt",
                       check=False)
            self.assertNotEqual(head.returncode, 0, "the delayed copy ran before its delay")
            self.assertEqual(lines_since(n, "CopyObject", Bucket=bucket), [])
        finally:
            t.join(60)
        self.assertEqual(done["proc"].returncode, 0, done["proc"].stderr)
        aws("s3api", "head-object", "--bucket", bucket, "--key", "dst-1.txt")
        aws("s3api", "copy-object", "--bucket", bucket, "--key", "dst-2.txt",
            "--copy-source", f"{bucket}/src.txt")
        got = [(e["params"]["Key"], e["status"], e["fault"], e.get("delay_ms"))
               for e in lines_since(n, "CopyObject", Bucket=bucket)]
        self.assertEqual(got, [("dst-1.txt", 200, "delay", 6000), ("dst-2.txt", 200, None, None)])
        for k in ("src.txt", "dst-1.txt", "dst-2.txt"):
            aws("s3api", "delete-object", "--bucket", bucket, "--key", k)
        aws("s3api", "delete-bucket", "--bucket", bucket)

    def test_control_rejects_bad_faults_naming_the_field(self):
        for doc, field in (({"action": "X", "mode": "explode"}, "mode"),
                           ({"mode": "throttle"}, "action"),
                           ({"action": "X", "mode": "throttle", "times": 0}, "times"),
                           ({"action": "X", "mode": "delay"}, "delay_ms"),
                           ({"action": "X", "mode": "delay", "delay_ms": 30001}, "delay_ms"),
                           ({"action": "X", "mode": "throttle", "delay_ms": 5}, "delay_ms"),
                           ({"rename_lag_s": -1}, "rename_lag_s"),
                           ({}, "rename_lag_s")):
            status, body = control("POST", doc)
            self.assertEqual(status, 400, doc)
            self.assertIn(field, body["error"])
        _, state = control("GET")
        self.assertEqual(state["faults"], [])


if __name__ == "__main__":
    unittest.main()
