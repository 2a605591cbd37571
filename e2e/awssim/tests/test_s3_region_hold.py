"""awssim: S3 buckets answer in their own region only (a request signed for another region
gets S3's 301 PermanentRedirect with x-amz-bucket-region, which the CLI follows; a client
that does not follow it, curl, gets the 301 itself),
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
        self.assertEqual(got, [("PutObject", 301, "us-east-1"), ("PutObject", 200, None),
                               ("HeadObject", 200, None)])
        # a bucket without LocationConstraint is us-east-1's
        other = f"region-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", other)
        n = len(log_lines())
        aws("s3api", "head-bucket", "--bucket", other, "--region", "eu-west-1")
        got = [(e["status"], e.get("wrong_region")) for e in log_lines()[n:]
               if e["params"].get("Bucket") == other]
        self.assertEqual(got[0], (301, "eu-west-1"))

    def test_a_listing_in_another_region_is_a_permanent_redirect(self):
        """As S3's regional endpoints answer: 301 PermanentRedirect naming the bucket's
        region in x-amz-bucket-region. The aws CLI (botocore's S3 region redirector) reads
        the header and lists again in us-west-2, so its --debug shows the 301 and the
        listing still succeeds; a client that does not redirect fails with the 301."""
        bucket = f"west-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", bucket, "--region", "us-west-2",
            "--create-bucket-configuration", "LocationConstraint=us-west-2")
        aws("s3api", "put-object", "--bucket", bucket, "--key", "k", "--region", "us-west-2")
        n = len(log_lines())
        cli = subprocess.run(["aws", "--endpoint-url", os.environ["AWS_ENDPOINT_URL"],
                              "--region", "us-east-1", "--debug", "s3api", "list-objects-v2",
                              "--bucket", bucket], capture_output=True, text=True, timeout=120)
        self.assertEqual(cli.returncode, 0, cli.stderr[-2000:])
        self.assertIn("<Code>PermanentRedirect</Code>", cli.stderr)
        self.assertIn("the bucket %s is in region us-west-2" % bucket, cli.stderr)
        got = [(e["action"], e["status"], e.get("wrong_region")) for e in log_lines()[n:]
               if e["params"].get("Bucket") == bucket]
        self.assertEqual(got, [("ListObjectsV2", 301, "us-east-1"),
                               ("ListObjectsV2", 200, None)])
        # the same request from a client that does not redirect: the 301 is the answer
        raw = subprocess.run(
            ["curl", "-sS", "-i", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
             os.environ["AWS_ACCESS_KEY_ID"] + ":" + os.environ["AWS_SECRET_ACCESS_KEY"],
             os.environ["AWS_ENDPOINT_URL"] + "/" + bucket + "/?list-type=2"],
            capture_output=True, text=True, timeout=60)
        self.assertTrue(raw.stdout.startswith("HTTP/1.1 301"), raw.stdout[:200])
        self.assertIn("x-amz-bucket-region: us-west-2", raw.stdout.lower())
        self.assertIn("<Code>PermanentRedirect</Code>", raw.stdout)
        self.assertNotIn("<Key>k</Key>", raw.stdout)
        # signed for its own region it lists
        self.assertEqual([o["Key"] for o in aws("s3api", "list-objects-v2", "--bucket",
                                                 bucket, "--region", "us-west-2")["Contents"]],
                         ["k"])

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
