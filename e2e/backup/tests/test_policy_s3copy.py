"""BackupPolicy s3Copy targets (issue 16, the offsite copy): server-side copies into another
bucket, also in another region (destinationRegion; awssim enforces the bucket's region),
incremental (a second run copies only the changed and new keys), the destination
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
        obj = self.run_token("offsite", "c1", "Succeeded")
        self.assertEqual(listing(self.dst), listing(self.src))
        lb = target_status(obj, "offsite")["lastBackup"]
        self.assertEqual(lb["sizeBytes"], sum(1000 + i for i in range(6)))
        # change one, add one: the next run copies exactly those two
        put(self.src, "media/img-2.jpg", os.urandom(2000))
        put(self.src, "media/new.jpg", os.urandom(500))
        since = time.time()
        obj = self.run_token("offsite", "c2", "Succeeded")
        self.assertEqual(listing(self.dst), listing(self.src))
        writes = sorted(e["params"].get("Key") for e in request_log()
                        if e.get("ts", 0) >= since and applied(e)
                        and e.get("action") in ("CopyObject", "PutObject")
                        and e.get("params", {}).get("Bucket") == self.dst)
        self.assertEqual(writes, ["media/img-2.jpg", "media/new.jpg"])

    def test_max_age_deletes_only_its_own_copies_gone_from_the_source(self):
        """Retention of the offsite copy: with maxAge, a copy this policy made of a key the
        source no longer has goes once older than maxAge; copies of keys still in the
        source stay however old; foreign objects under the prefix stay (an untagged
        upload, one tagged as another policy's)."""
        src, dst = new_bucket(), new_bucket()
        # (keep.txt the larger: a copy that shrinks by half is Suspicious, and retention
        # runs only after a good backup)
        put(src, "arch/keep.txt", b"kept " * 40)
        put(src, "arch/gone.txt", b"deleted")
        put(dst, "arch/manual.txt", b"an operator's own upload")
        put(dst, "arch/other.txt", b"another policy's copy")
        s3api("put-object-tagging", "--bucket", dst, "--key", "arch/other.txt", "--tagging",
              json.dumps({"TagSet": [
                  {"Key": "lifeboat.dev/uid", "Value": "00000000-0000-0000-0000-000000000000"},
                  {"Key": "lifeboat.dev/target", "Value": "arch"}]}))
        obj = self.apply_bp(self.bp_manifest("aging", [{"name": "arch", "s3Copy": {
            "sourceBucket": src, "destinationBucket": dst, "prefix": "arch/"}}],
            retention={"maxAge": "2s"}))
        uid = obj["metadata"]["uid"]
        obj = self.run_token("aging", "a1", "Succeeded")
        tags = {t["Key"]: t["Value"] for t in s3api(
            "get-object-tagging", "--bucket", dst, "--key", "arch/gone.txt")["TagSet"]}
        self.assertEqual((tags["lifeboat.dev/uid"], tags["lifeboat.dev/target"]), (uid, "arch"))
        s3api("delete-object", "--bucket", src, "--key", "arch/gone.txt")
        # wait until every destination object is older than maxAge by S3's own clock
        newest = max(time.mktime(time.strptime(o["LastModified"][:19], "%Y-%m-%dT%H:%M:%S"))
                     for o in s3api("list-objects-v2", "--bucket", dst)["Contents"])
        while time.mktime(time.gmtime()) - newest <= 3:
            time.sleep(0.5)
        obj = self.run_token("aging", "a2", "Succeeded")
        self.assertEqual(sorted(listing(dst)),
                         ["arch/keep.txt", "arch/manual.txt", "arch/other.txt"])

    def test_offsite_copy_into_another_region(self):
        """The destination bucket lives in eu-west-1 (LocationConstraint; awssim answers a
        request signed for another region as S3 does: 301 PermanentRedirect).
        Without destinationRegion the copy fails naming the region; with it every key is
        copied server-side into the other region (ETags equal), incrementally, and not one
        request went to the wrong region."""
        src = new_bucket()
        dst = "offsite-eu-" + os.urandom(5).hex()
        s3api("create-bucket", "--bucket", dst, "--region", "eu-west-1",
              "--create-bucket-configuration", "LocationConstraint=eu-west-1")
        self.assertEqual(s3api("get-bucket-location", "--bucket", dst,
                               "--region", "eu-west-1")["LocationConstraint"], "eu-west-1")
        for i in range(4):
            put(src, "db/part-%d.bin" % i, os.urandom(900 + i))
        target = {"sourceBucket": src, "destinationBucket": dst}
        self.apply_bp(self.bp_manifest("wrong-region", [{"name": "eu", "s3Copy": target}]))
        obj = self.run_token("wrong-region", "w1", "Failed")
        err = target_status(obj, "eu")["lastError"]
        self.assertIn("eu-west-1", err)
        self.assertEqual(s3api("list-objects-v2", "--bucket", dst, "--region",
                               "eu-west-1").get("Contents", []), [])

        since = time.time()
        self.apply_bp(self.bp_manifest("eu-copy", [{"name": "eu", "s3Copy": dict(
            target, sourceRegion="us-east-1", destinationRegion="eu-west-1")}]))
        obj = self.run_token("eu-copy", "e1", "Succeeded")
        self.assertEqual(listing_in(dst, "eu-west-1"), listing(src))
        put(src, "db/part-1.bin", os.urandom(1500))
        obj = self.run_token("eu-copy", "e2", "Succeeded")
        self.assertEqual(listing_in(dst, "eu-west-1"), listing(src))
        log = [e for e in request_log() if e.get("ts", 0) >= since
               and e.get("params", {}).get("Bucket") == dst]
        self.assertEqual([e for e in log if e.get("wrong_region")], [])
        copies = sorted(e["params"]["Key"] for e in log
                        if e.get("action") == "CopyObject" and applied(e))
        self.assertEqual(copies, sorted(["db/part-%d.bin" % i for i in range(4)] +
                                        ["db/part-1.bin"]))


def listing_in(bucket, region):
    return {o["Key"]: (o["Size"], o["ETag"])
            for o in s3api("list-objects-v2", "--bucket", bucket, "--region",
                           region).get("Contents", [])}
