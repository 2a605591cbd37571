"""awssim: S3 buckets answer in their own region only (a request signed for another region
gets S3's 400 AuthorizationHeaderMalformed with x-amz-bucket-region, which the CLI follows),
and the apply-then-hold fault (the call runs and is logged at once, its answer held until
the faults are cleared). Observed with the real aws CLI and the request log."""

import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awssim_helpers import aws, suffix  # noqa: E402
from test_faults import control, log_lines  # noqa: E402

HOLD_WAIT_S = 60


class S3RegionAndHold(unittest.TestCase):
    def setUp(self):
        control("DELETE")

    def tearDown(self):
        control("DELETE")

    def test_a_bucket_answers_only_in_its_region(self):
        bucket = f"region-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", bucket, "--region", "eu-west-1",
            "--create-bucket-configuration", "LocationConstraint=eu-west-1")
        n = len(log_lines())
        aws("s3api", "put-object", "--bucket", bucket, "--key", "k", "--region", "us-east-1")
        aws("s3api", "head-object", "--bucket", bucket, "--key", "k", "--region", "eu-west-1")
        got = [(e["action"], e["status"], e.get("wrong_region")) for e in log_lines()[n:]
               if e["params"].get("Bucket") == bucket]
        # the CLI's first try, signed for us-east-1, is refused; it follows x-amz-bucket-region
        self.assertEqual(got, [("PutObject", 400, "us-east-1"), ("PutObject", 200, None),
                               ("HeadObject", 200, None)])
        # a bucket without LocationConstraint is us-east-1's
        other = f"region-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", other)
        n = len(log_lines())
        aws("s3api", "head-bucket", "--bucket", other, "--region", "eu-west-1")
        got = [(e["status"], e.get("wrong_region")) for e in log_lines()[n:]
               if e["params"].get("Bucket") == other]
        self.assertEqual(got[0], (400, "eu-west-1"))

    def test_apply_then_hold_applies_logs_then_holds_the_answer(self):
        bucket = f"hold-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", bucket)
        control("POST", {"action": "PutObject", "mode": "apply-then-hold", "times": 1,
                         "match": {"Bucket": bucket}})
        n = len(log_lines())
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"held")
            f.flush()
            env = dict(os.environ, AWS_MAX_ATTEMPTS="1")
            put = subprocess.Popen(["aws", "s3api", "put-object", "--bucket", bucket, "--key",
                                    "k", "--body", f.name], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + HOLD_WAIT_S
            while not [e for e in log_lines()[n:] if e.get("held")]:
                self.assertLess(time.monotonic(), deadline, "no held entry")
                time.sleep(0.1)
            # applied while the client still waits for its answer
            self.assertIsNone(put.poll())
            self.assertEqual(aws("s3api", "head-object", "--bucket", bucket,
                                 "--key", "k")["ContentLength"], 4)
            control("DELETE")
            _, err = put.communicate(timeout=HOLD_WAIT_S)
        self.assertNotEqual(put.returncode, 0)
        self.assertIn("InternalError", err)
        got = [(e.get("held", False), e["status"], e.get("applied_status"))
               for e in log_lines()[n:] if e["params"].get("Bucket") == bucket
               and e["action"] == "PutObject"]
        self.assertEqual(got, [(True, None, 200), (False, 500, 200)])


if __name__ == "__main__":
    unittest.main()
