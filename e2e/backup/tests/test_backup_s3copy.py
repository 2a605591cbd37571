"""BackupPolicy s3Copy targets (issue 16, the offsite copy): server-side copies into another
bucket, incremental (a second run copies only the changed and new keys), the destination
checked key by key (size and ETag). Oracles: the aws CLI and awssim's request log (which
records a CopyObject as a PUT of the destination key)."""
import json
import os
import subprocess
import sys
import tempfile
import time

from bplib import BackupCase, history, target_status
from agentlib import new_bucket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))
from awssim_control import applied, request_log  # noqa: E402


def s3api(*args):
    p = subprocess.run(["aws", "s3api", *args, "--output", "json"], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("aws s3api %s: %s" % (args, p.stderr))
    return json.loads(p.stdout) if p.stdout.strip() else {}


def put(bucket, key, body):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(body)
    try:
        s3api("put-object", "--bucket", bucket, "--key", key, "--body", f.name)
    finally:
        os.unlink(f.name)


def listing(bucket):
    return {o["Key"]: (o["Size"], o["ETag"])
            for o in s3api("list-objects-v2", "--bucket", bucket).get("Contents", [])}


class S3CopyTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.src, cls.dst = new_bucket(), new_bucket()
        for i in range(6):
            put(cls.src, "media/img-%d.jpg" % i, os.urandom(1000 + i))

    def test_offsite_copy_is_incremental_and_verified(self):
        self.apply_bp(self.bp_manifest("offsite", [{"name": "offsite", "s3Copy": {
            "sourceBucket": self.src, "destinationBucket": self.dst}}]))
        self.backup_now("offsite", "c1")
        obj = self.wait_token("offsite", "c1")
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        self.assertEqual(listing(self.dst), listing(self.src))
        lb = target_status(obj, "offsite")["lastBackup"]
        self.assertEqual(lb["sizeBytes"], sum(1000 + i for i in range(6)))
        # change one, add one: the next run copies exactly those two
        put(self.src, "media/img-2.jpg", os.urandom(2000))
        put(self.src, "media/new.jpg", os.urandom(500))
        since = time.time()
        self.backup_now("offsite", "c2")
        obj = self.wait_token("offsite", "c2")
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        self.assertEqual(listing(self.dst), listing(self.src))
        writes = sorted(e["params"].get("Key") for e in request_log()
                        if e.get("ts", 0) >= since and applied(e)
                        and e.get("action") in ("CopyObject", "PutObject")
                        and e.get("params", {}).get("Bucket") == self.dst)
        self.assertEqual(writes, ["media/img-2.jpg", "media/new.jpg"])
