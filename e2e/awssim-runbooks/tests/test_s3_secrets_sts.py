"""Runbook 000 Restore 3A (undelete), 3B (sync from the replica), 4A (secret rollback)
and STS AssumeRoleWithWebIdentity, with the aws CLI against awssim."""

import json
import os
import sys
import unittest

# the helpers live with the awssim suite (e2e/awssim/tests)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "awssim", "tests"))
from awssim_helpers import FIXTURES, aws, run, suffix

KEY = "products/kitchen/abc123/hero.jpg"


class S3Media(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s = suffix()
        cls.bucket = f"lomash-wood-media-prod-{s}"
        cls.replica = f"lomash-wood-media-prod-{s}-replica"
        out = run([os.path.join(FIXTURES, "s3_media.sh"), cls.bucket, cls.replica, "24"])
        cls.objects = int(out.stdout.strip())

    def count(self, bucket):
        out = aws("s3", "ls", f"s3://{bucket}", "--recursive", output_json=False).stdout
        return len([line for line in out.splitlines() if line.strip()])

    def test_fixture_buckets_are_versioned_copies(self):
        self.assertEqual(self.objects, 24)
        for b in (self.bucket, self.replica):
            self.assertEqual(aws("s3api", "get-bucket-versioning", "--bucket", b)["Status"],
                             "Enabled")
        self.assertEqual(self.count(self.replica), 24)

    def test_restore_3a_undelete(self):
        aws("s3api", "delete-object", "--bucket", self.bucket, "--key", KEY)
        head = aws("s3api", "head-object", "--bucket", self.bucket, "--key", KEY, check=False)
        self.assertNotEqual(head.returncode, 0)
        # Step 1, as written.
        versions = aws("s3api", "list-object-versions", "--bucket", self.bucket,
                       "--prefix", KEY)
        markers = [m for m in versions.get("DeleteMarkers", []) if m["IsLatest"]]
        self.assertEqual(len(markers), 1)
        self.assertEqual(len(versions["Versions"]), 1)
        # Step 2: delete the delete marker.
        aws("s3api", "delete-object", "--bucket", self.bucket, "--key", KEY,
            "--version-id", markers[0]["VersionId"])
        # Step 3 (the runbook writes "aws s3 head-object"; the command is s3api).
        head = aws("s3api", "head-object", "--bucket", self.bucket, "--key", KEY)
        self.assertEqual(head["VersionId"], versions["Versions"][0]["VersionId"])
        wrong = aws("s3", "head-object", "--bucket", self.bucket, "--key", KEY, check=False)
        self.assertNotEqual(wrong.returncode, 0)

    def test_restore_3b_sync_from_replica(self):
        out = aws("s3", "rm", f"s3://{self.bucket}/products/bedroom/", "--recursive",
                  output_json=False).stdout
        lost = [line for line in out.splitlines() if line.startswith("delete:")]
        self.assertGreater(len(lost), 2)
        self.assertEqual(self.count(self.bucket), 24 - len(lost))
        # Step 1, as written.
        aws("s3", "sync", f"s3://{self.replica}", f"s3://{self.bucket}",
            "--source-region", "eu-west-2", "--region", "eu-west-1", output_json=False)
        # Step 2: counts equal.
        self.assertEqual(self.count(self.bucket), self.count(self.replica))
        self.assertEqual(self.count(self.bucket), 24)


class SecretsRollback(unittest.TestCase):
    def test_restore_4a_previous_version_made_current(self):
        sid = f"lomash-wood/production/jwt-secret-{suffix()}"
        run([os.path.join(FIXTURES, "secrets.sh"), sid, "good-jwt-secret", "bad-rotation"])
        # Step 1, as written.
        table = aws("secretsmanager", "list-secret-version-ids", "--secret-id", sid,
                    "--query", "Versions[*].{ID:VersionId,Stages:VersionStages,"
                    "Created:CreatedDate}", "--output", "table", output_json=False).stdout
        self.assertIn("AWSPREVIOUS", table)
        self.assertIn("AWSCURRENT", table)
        # Step 2.
        prev = aws("secretsmanager", "get-secret-value", "--secret-id", sid,
                   "--version-stage", "AWSPREVIOUS", "--query", "SecretString",
                   "--output", "text", output_json=False).stdout.strip()
        self.assertEqual(prev, "good-jwt-secret")
        # Step 3.
        aws("secretsmanager", "put-secret-value", "--secret-id", sid, "--secret-string", prev)
        cur = aws("secretsmanager", "get-secret-value", "--secret-id", sid,
                  "--version-stage", "AWSCURRENT")["SecretString"]
        self.assertEqual(cur, "good-jwt-secret")
        prev = aws("secretsmanager", "get-secret-value", "--secret-id", sid,
                   "--version-stage", "AWSPREVIOUS")["SecretString"]
        self.assertEqual(prev, "bad-rotation")


class Sts(unittest.TestCase):
    def test_assume_role_with_web_identity(self):
        out = aws("sts", "assume-role-with-web-identity", "--role-arn",
                  "arn:aws:iam::123456789012:role/lifeboat-operator", "--role-session-name",
                  "lifeboat", "--web-identity-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        creds = out["Credentials"]
        self.assertTrue(creds["AccessKeyId"])
        self.assertTrue(creds["SecretAccessKey"])
        self.assertTrue(creds["SessionToken"])
        self.assertIn("lifeboat-operator/lifeboat", out["AssumedRoleUser"]["Arn"])
        # The temporary credentials work against awssim.
        who = run(["aws", "sts", "get-caller-identity"], env={
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]})
        self.assertIn("lifeboat-operator", json.loads(who.stdout)["Arn"])


if __name__ == "__main__":
    unittest.main()
