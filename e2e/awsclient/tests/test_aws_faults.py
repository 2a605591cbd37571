"""pkg/aws against awssim's injected faults (e2e/awssim/faults.py): the C client never
re-sends a mutating call after an ambiguous failure (a 5xx after applying, a connection
dropped after applying) and says so with LB_EAMBIGUOUS; it does re-send what is known
not to have been applied (throttling) and every read; DeleteDBInstance carries
DeleteAutomatedBackups=false. Counted in awssim's request log."""

import json
import os
import subprocess
import time
import unittest
import urllib.request
import uuid

REPO = os.environ.get("LIFEBOAT_REPO", "/work/main")
BUILD = os.environ.get("LIFEBOAT_BUILD_DIR", os.path.join(REPO, "build"))
DRIVER = os.path.join(BUILD, "tests", "integration", "aws_cli")
WAIT_S = 90


def control(method, doc=None):
    url = os.environ.get("AWSSIM_CONTROL_URL") or \
        "http://127.0.0.1:%s/awssim/faults" % os.environ["AWSSIM_PORT"]
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def log_lines():
    with open(os.environ["AWSSIM_REQUEST_LOG"]) as f:
        return [json.loads(line) for line in f if line.strip()]


def calls(since, action, **params):
    return [e for e in log_lines()[since:] if e["action"] == action and
            all(e["params"].get(k) == v for k, v in params.items())]


def drive(*args, expect_rc=0):
    p = subprocess.run([DRIVER, *args], capture_output=True, text=True, timeout=180)
    if p.returncode != expect_rc:
        raise AssertionError("aws_cli %s: rc %d (wanted %d)\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, expect_rc, p.stdout, p.stderr))
    return json.loads(p.stdout)


def aws(*args, check=True):
    cmd = ["aws"]
    if args[0] == "rds":
        cmd += ["--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %s" % (" ".join(args), p.stderr))
    return p


def status_of(ident):
    p = aws("rds", "describe-db-instances", "--db-instance-identifier", ident, "--query",
            "DBInstances[0].DBInstanceStatus", "--output", "text", check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def wait_available(test, ident):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if status_of(ident) == "available":
            return
        time.sleep(0.2)
    test.fail("%s not available after %ds" % (ident, WAIT_S))


class AmbiguousFailures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DRIVER, os.X_OK):
            raise AssertionError("driver %s is not built" % DRIVER)
        control("DELETE")
        cls.ident = "cfault-" + uuid.uuid4().hex[:6]
        aws("rds", "create-db-instance", "--db-instance-identifier", cls.ident, "--engine",
            "postgres", "--db-instance-class", "db.t3.micro", "--master-username", "fa",
            "--master-user-password", "fault-pw-12345", "--db-name", "app")

    @classmethod
    def tearDownClass(cls):
        control("DELETE")
        for ident in (cls.ident, cls.ident + "-r"):
            aws("rds", "delete-db-instance", "--db-instance-identifier", ident,
                "--skip-final-snapshot", check=False)

    def setUp(self):
        control("DELETE")
        wait_available(self, self.ident)

    def tearDown(self):
        control("DELETE")

    def rename_back(self):
        wait_available(self, self.ident + "-r")
        drive("rds-rename", self.ident + "-r", self.ident)
        wait_available(self, self.ident)

    def test_rename_applied_then_500_is_sent_once_and_ambiguous(self):
        n = len(log_lines())
        control("POST", {"action": "ModifyDBInstance", "mode": "apply-then-500",
                         "match": {"DBInstanceIdentifier": self.ident}})
        res = drive("rds-rename", self.ident, self.ident + "-r", expect_rc=2)
        self.assertEqual(res["error"], "LB_EAMBIGUOUS", res)
        self.assertIn("may have been applied", res["message"])
        sent = calls(n, "ModifyDBInstance", DBInstanceIdentifier=self.ident)
        self.assertEqual([(e["fault"], e["status"]) for e in sent], [("apply-then-500", 500)])
        self.rename_back()  # it was applied: the new name exists

    def test_rename_dropped_after_apply_is_sent_once_and_ambiguous(self):
        n = len(log_lines())
        control("POST", {"action": "ModifyDBInstance", "mode": "drop-after-apply",
                         "match": {"DBInstanceIdentifier": self.ident}})
        res = drive("rds-rename", self.ident, self.ident + "-r", expect_rc=2)
        self.assertEqual(res["error"], "LB_EAMBIGUOUS", res)
        sent = calls(n, "ModifyDBInstance", DBInstanceIdentifier=self.ident)
        self.assertEqual([e["fault"] for e in sent], ["drop-after-apply"])
        self.rename_back()

    def test_throttled_rename_is_retried_and_applied_once(self):
        n = len(log_lines())
        control("POST", {"action": "ModifyDBInstance", "mode": "throttle", "times": 2,
                         "match": {"DBInstanceIdentifier": self.ident}})
        drive("rds-rename", self.ident, self.ident + "-r")
        sent = calls(n, "ModifyDBInstance", DBInstanceIdentifier=self.ident)
        self.assertEqual([(e["fault"], e["status"]) for e in sent],
                         [("throttle", 400), ("throttle", 400), (None, 200)])
        self.rename_back()

    def test_reads_are_retried_after_500_and_drops(self):
        n = len(log_lines())
        control("POST", {"action": "DescribeDBInstances", "mode": "500-no-apply",
                         "match": {"DBInstanceIdentifier": self.ident}})
        control("POST", {"action": "DescribeDBInstances", "mode": "drop-after-apply",
                         "match": {"DBInstanceIdentifier": self.ident}})
        res = drive("rds-describe", self.ident)
        self.assertEqual(res["id"], self.ident)
        sent = calls(n, "DescribeDBInstances", DBInstanceIdentifier=self.ident)
        self.assertEqual([e["fault"] for e in sent], ["500-no-apply", "drop-after-apply", None])

    def test_s3_put_by_key_is_resent_after_a_drop(self):
        bucket = "cfault-" + uuid.uuid4().hex[:6]
        aws("s3api", "create-bucket", "--bucket", bucket)
        n = len(log_lines())
        control("POST", {"action": "PutObject", "mode": "drop-after-apply",
                         "match": {"Bucket": bucket}})
        drive("put-string", bucket, "k.txt", "same bytes twice")
        sent = calls(n, "PutObject", Bucket=bucket, Key="k.txt")
        self.assertEqual([e["fault"] for e in sent], ["drop-after-apply", None])
        got = aws("s3", "cp", "s3://%s/k.txt" % bucket, "-").stdout
        self.assertEqual(got, "same bytes twice")

    def test_delete_keeps_automated_backups(self):
        victim = self.ident + "-d"
        aws("rds", "create-db-instance", "--db-instance-identifier", victim, "--engine",
            "postgres", "--db-instance-class", "db.t3.micro", "--master-username", "fa",
            "--master-user-password", "fault-pw-12345")
        wait_available(self, victim)
        n = len(log_lines())
        drive("rds-delete", victim)
        sent = calls(n, "DeleteDBInstance", DBInstanceIdentifier=victim)
        self.assertEqual(len(sent), 1, sent)
        self.assertEqual(sent[0]["params"]["DeleteAutomatedBackups"], "false")


if __name__ == "__main__":
    unittest.main()
