"""s3Objects items (issue 14, part 1) against awssim's S3 (moto), checked with the aws CLI.

  - runbook 000 Restore 3A (undelete): a deleted object is readable again with its
    original content and the same version id; the versions list shows the delete marker
    gone; a key that was never deleted is reported, not an error;
  - pointInTime over a prefix where, after T, keys were overwritten, deleted and created:
    each key's content equals its content at T, the key created after T remains; the diff
    step's message names the counts; a second request changes nothing (no CopyObject, no
    DeleteObjects in awssim's request log); with removeNewerObjects the new key is gone.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
from scenario import ScenarioCase, aws, rfc3339, step_of, suffix, utc_now  # noqa: E402
from awssim_control import applied, request_log  # noqa: E402

import boto3  # noqa: E402


def s3():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def cli_versions(bucket, prefix):
    """(versions, delete markers) of the prefix, from the aws CLI."""
    out = aws("s3api", "list-object-versions", "--bucket", bucket, "--prefix", prefix) or {}
    return out.get("Versions", []), out.get("DeleteMarkers", [])


def cli_get(bucket, key):
    """(content, version id) of the current version, or (None, None) when it is deleted."""
    with tempfile.NamedTemporaryFile() as f:
        p = aws("s3api", "get-object", "--bucket", bucket, "--key", key, f.name, check=False)
        if p.returncode != 0:
            return None, None
        meta = json.loads(p.stdout)
        return open(f.name).read(), meta.get("VersionId")


def put(bucket, key, body):
    return s3().put_object(Bucket=bucket, Key=key, Body=body.encode())["VersionId"]


def mutating(bucket, since):
    return [e for e in request_log() if e.get("ts", 0) >= since
            and e.get("action") in ("CopyObject", "DeleteObjects", "DeleteObject",
                                    "PutObject")
            and e.get("params", {}).get("Bucket") == bucket and applied(e)]


class S3ObjectsRestore(ScenarioCase):
    @classmethod
    def scenario(cls):
        cls.bucket = "shop-assets-" + suffix()
        c = s3()
        c.create_bucket(Bucket=cls.bucket)
        c.put_bucket_versioning(Bucket=cls.bucket,
                                VersioningConfiguration={"Status": "Enabled"})

    @classmethod
    def tearDownClass(cls):
        try:
            c = s3()
            vs, dms = cli_versions(cls.bucket, "")
            for v in vs + dms:
                c.delete_object(Bucket=cls.bucket, Key=v["Key"], VersionId=v["VersionId"])
            c.delete_bucket(Bucket=cls.bucket)
        except Exception:  # noqa: BLE001
            pass
        super().tearDownClass()

    def item(self, **src):
        return {"name": "assets", "s3Objects": dict({"bucket": self.bucket}, **src)}

    def test_3a_undelete_brings_back_the_same_version(self):
        key = "invoices/2026/inv-0001.pdf"
        original = "invoice 0001 original content"
        vid = put(self.bucket, key, original)
        put(self.bucket, "invoices/2026/inv-0002.pdf", "never deleted")
        s3().delete_object(Bucket=self.bucket, Key=key)
        self.assertEqual(cli_get(self.bucket, key), (None, None))
        _, dms = cli_versions(self.bucket, key)
        self.assertEqual(len(dms), 1)
        name = "assets-undelete"
        self.apply_rr(self.rr_manifest(name, [self.item(
            mode="undelete", keys=[key, "invoices/2026/inv-0002.pdf"])], approval=False))
        obj = self.wait_phase(name, "Succeeded")
        self.assert_timeline(obj)
        diff = step_of(obj, "assets/diff")["message"]
        self.assertIn("1 delete marker(s) to remove (%s)" % key, diff)
        self.assertIn("1 key(s) not deleted", diff)
        content, cur = cli_get(self.bucket, key)
        self.assertEqual(content, original)
        self.assertEqual(cur, vid, "the original version is current again, not a copy")
        vs, dms = cli_versions(self.bucket, key)
        self.assertEqual(dms, [], "the delete marker is gone")
        self.assertEqual([v["VersionId"] for v in vs], [vid])

    def test_point_in_time_over_a_prefix(self):
        p = "catalog-%s/" % suffix()
        b = self.bucket
        before = {"same": "same v1", "over": "over v1", "del": "del v1"}
        for k, v in before.items():
            put(b, p + k, v)
        put(b, p + "gone", "gone v1")
        s3().delete_object(Bucket=b, Key=p + "gone")
        # S3's LastModified has whole seconds here: keep every change a clear second
        # away from T
        time.sleep(1.2)
        T = utc_now()
        time.sleep(1.2)
        put(b, p + "over", "over v2 (bad)")
        s3().delete_object(Bucket=b, Key=p + "del")
        put(b, p + "new", "new after T")

        name = "assets-pit"
        since = time.time()
        self.apply_rr(self.rr_manifest(name, [self.item(
            mode="pointInTime", prefix=p, pointInTime=rfc3339(T))], approval=False))
        obj = self.wait_phase(name, "Succeeded")
        self.assert_timeline(obj)
        diff = step_of(obj, "assets/diff")["message"]
        self.assertIn("2 to copy from their old version", diff, diff)
        self.assertIn("1 newer key(s) kept", diff, diff)
        for k, v in before.items():
            self.assertEqual(cli_get(b, p + k)[0], v, k)
        self.assertEqual(cli_get(b, p + "gone"), (None, None), "deleted before T stays deleted")
        self.assertEqual(cli_get(b, p + "new")[0], "new after T", "kept by default")
        copies = [e for e in mutating(b, since) if e["action"] == "CopyObject"]
        self.assertEqual(sorted(e["params"].get("Key") for e in copies),
                         [p + "del", p + "over"], copies)

        # a re-run changes nothing
        since = time.time()
        self.apply_rr(self.rr_manifest(name + "-again", [self.item(
            mode="pointInTime", prefix=p, pointInTime=rfc3339(T))], approval=False))
        obj = self.wait_phase(name + "-again", "Succeeded")
        again = step_of(obj, "assets/diff")["message"]
        self.assertIn("4 unchanged", again)
        self.assertNotIn("to copy", again)
        self.assertEqual(mutating(b, since), [])

        # removeNewerObjects: the key created after T goes (as a delete marker)
        self.apply_rr(self.rr_manifest(name + "-rm", [self.item(
            mode="pointInTime", prefix=p, pointInTime=rfc3339(T),
            removeNewerObjects=True)], approval=False))
        self.wait_phase(name + "-rm", "Succeeded")
        self.assertEqual(cli_get(b, p + "new"), (None, None))
        for k, v in before.items():
            self.assertEqual(cli_get(b, p + k)[0], v, k)


class S3ObjectsCrash(ScenarioCase):
    """kill -9 of the operator in the middle of the pointInTime cutover: the new operator
    resumes, and every key is copied exactly once (awssim's request log)."""
    KEYS = 500

    @classmethod
    def scenario(cls):
        from concurrent.futures import ThreadPoolExecutor
        cls.bucket = "shop-media-" + suffix()
        c = s3()
        c.create_bucket(Bucket=cls.bucket)
        c.put_bucket_versioning(Bucket=cls.bucket,
                                VersioningConfiguration={"Status": "Enabled"})
        cls.prefix = "media/"
        keys = ["%simg-%04d" % (cls.prefix, i) for i in range(cls.KEYS)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: put(cls.bucket, k, "good " + k), keys))
        time.sleep(1.2)
        cls.T = utc_now()
        time.sleep(1.2)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: put(cls.bucket, k, "bad " + k), keys))
        cls.keys = keys

    @classmethod
    def tearDownClass(cls):
        try:
            c = s3()
            while True:
                out = c.list_object_versions(Bucket=cls.bucket)
                ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in out.get("Versions", []) + out.get("DeleteMarkers", [])]
                if not ids:
                    break
                c.delete_objects(Bucket=cls.bucket, Delete={"Objects": ids[:1000],
                                                            "Quiet": True})
            c.delete_bucket(Bucket=cls.bucket)
        except Exception:  # noqa: BLE001
            pass
        super().tearDownClass()

    def test_kill9_mid_cutover_copies_each_key_once(self):
        b = self.bucket
        since = time.time()
        name = "media-pit"
        self.apply_rr(self.rr_manifest(name, [{"name": "media", "s3Objects": {
            "bucket": b, "mode": "pointInTime", "prefix": self.prefix,
            "pointInTime": rfc3339(self.T)}}], approval=False))

        def copies():
            return [e for e in mutating(b, since) if e["action"] == "CopyObject"]

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            n = len(copies())
            if 20 <= n < self.KEYS:
                break
            if n >= self.KEYS:
                self.fail("the cutover finished before the kill could land; raise KEYS")
            time.sleep(0.05)
        self.operator.kill9()
        killed_at = len(copies())
        self.assertGreater(killed_at, 0, "killed before the cutover copied anything")
        self.assertLess(killed_at, self.KEYS)
        sys.stderr.write("# killed after %d of %d copies\n" % (killed_at, self.KEYS))
        self.operator.start()
        obj = self.wait_phase(name, "Succeeded", timeout=240)
        st = step_of(obj, "media/apply")
        self.assertEqual(st.get("phase"), "Succeeded", self.describe_rr(obj))
        done = copies()
        per_key = {}
        for e in done:
            per_key[e["params"].get("Key")] = per_key.get(e["params"].get("Key"), 0) + 1
        self.assertEqual(len(per_key), self.KEYS)
        self.assertEqual(max(per_key.values()), 1,
                         "a key was copied twice: %s" % [k for k, v in per_key.items() if v > 1])
        for k in self.keys[:: max(1, self.KEYS // 25)] + [self.keys[-1]]:
            self.assertEqual(cli_get(b, k)[0], "good " + k)
