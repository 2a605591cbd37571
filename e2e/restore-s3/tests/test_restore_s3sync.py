"""s3Sync items (issue 14, part 2; runbook 000 Restore 3B) against awssim's S3 (moto).

  - 3B: the primary bucket misses 300 of the replica's 2,000 objects, holds 3 with other
    content and 5 extraneous ones; the compare step names the counts before approval; with
    a 500-after-apply on one CopyObject and throttled copies on the way, the request ends
    with identical key sets and contents (every object read back and compared with the
    replica's), the 5 extras deleted, and each missing key copied exactly once (awssim's
    request log); the verify step compares key by key; a re-run copies nothing;
  - deleteExtraneous false keeps the extras; a replica that is empty is refused before
    anything is written;
  - kill -9 of the operator in the middle of the sync: the new operator resumes and every
    key is copied exactly once;
  - Job mode: an operator started with --s3sync-operator-max-objects 20 syncs a prefix of
    60 keys (10 missing, 3 extraneous, deleteExtraneous) by ONE Indexed Job of
    `lifeboat-agent s3-sync` shards (pods of the process kubelet): completions 3, the
    target equal to the replica object by object, the extras gone; with every CopyObject
    slowed by awssim's delay fault, kill -9 of the operator while the Job is active (some,
    not all, copies logged) leaves that one Job (same uid), observed to the end by the
    next operator, each key copied once; kill -9 of one shard's agent process fails that
    Job, and the step's next attempt (Job ...-sync-2) copies only what is still missing;
    a shard whose copies keep failing (the agent's own error) fails the Job and the step
    with that error, no new attempt; under a scope with a roleArn the Job's shards copy
    with a session of that role the operator minted for the Job (sts:AssumeRole named
    lb-<ns>-<job>, written into the Secret <job>-aws owned by the request), never with
    the lifeboat-agent-aws Secret's key.
  - regions: the 3B buckets live in eu-west-2 (replica) and eu-west-1 (primary), the
    operator in us-east-1; a replica in us-west-2 without sourceRegion fails validate
    naming spec.items[0].s3Sync.sourceRegion and the region from awssim's 301
    PermanentRedirect, nothing copied, and with it syncs object by object; Job mode's
    replica is in us-west-2 too, its shards given --source-region.
Oracles: the aws CLI (listings), boto3 GETs of both sides (content), the request log,
the Job objects (kubectl).
"""
import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))  # the restore helpers
import scenario  # noqa: E402
from scenario import ScenarioCase, aws, b64, kube, step_of, suffix  # noqa: E402
from awssim_control import (  # noqa: E402
    applied, complete_entries, control, request_log, request_log_path)

import boto3  # noqa: E402


OPERATOR_REGION = os.environ.get("AWS_REGION", "us-east-1")
BUCKET_REGION = {}  # bucket -> its region, when made in another than the operator's


def s3(bucket=None):
    """A client signing for `bucket`'s region (awssim, like S3's regional endpoints, answers
    a bucket of another region with 301 PermanentRedirect)."""
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=BUCKET_REGION.get(bucket, OPERATOR_REGION))


def make_bucket(name, versioned=True, region=None):
    if region and region != OPERATOR_REGION:
        BUCKET_REGION[name] = region
        s3(name).create_bucket(Bucket=name,
                               CreateBucketConfiguration={"LocationConstraint": region})
    else:
        s3(name).create_bucket(Bucket=name)
    c = s3(name)
    if versioned:
        c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def put_many(bucket, items):
    c = s3(bucket)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: c.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))


def empty_bucket(name):
    try:
        c = s3(name)
        while True:
            out = c.list_object_versions(Bucket=name)
            ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in out.get("Versions", []) + out.get("DeleteMarkers", [])]
            if not ids:
                break
            c.delete_objects(Bucket=name, Delete={"Objects": ids[:1000], "Quiet": True})
        c.delete_bucket(Bucket=name)
    except Exception:  # noqa: BLE001
        pass


def cli_keys(bucket, prefix=""):
    """{key: (size, etag)} from `aws s3api list-objects-v2` (the CLI pages itself)."""
    out = aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix,
              "--region", BUCKET_REGION.get(bucket, OPERATOR_REGION)) or {}
    return {o["Key"]: (o["Size"], o["ETag"]) for o in out.get("Contents", [])}


def contents(bucket, keys):
    c = s3(bucket)

    def get(k):
        return k, c.get_object(Bucket=bucket, Key=k)["Body"].read()
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(get, keys))


def copies_into(bucket, since):
    return [e for e in request_log() if e.get("ts", 0) >= since
            and e.get("action") == "CopyObject"
            and e.get("params", {}).get("Bucket") == bucket]


def log_offset():
    """The request log's size now: copies_after() reads only what follows it (the log
    holds every earlier test's requests; parsing it all takes too long to poll)."""
    return os.path.getsize(request_log_path())


def copies_after(offset, bucket):
    """The CopyObject calls into bucket that took effect, logged after offset."""
    with open(request_log_path(), "rb") as f:
        f.seek(offset)
        entries, _ = complete_entries(f.read())
    out = []
    for e in entries:
        if e.get("action") == "CopyObject" and e.get("params", {}).get("Bucket") == bucket \
                and applied(e):
            out.append(e)
    return out


def per_key(entries):
    n = {}
    for e in entries:
        n[e["params"]["Key"]] = n.get(e["params"]["Key"], 0) + 1
    return n


def body(i, variant="replica"):
    return ("%s object %04d " % (variant, i) * (1 + i % 7)).encode()


class S3SyncRestore(ScenarioCase):
    N = 2000
    MISSING = 300
    EXTRA = 5
    CHANGED = 3

    @classmethod
    def scenario(cls):
        cls.replica = "shop-media-replica-" + suffix()
        cls.primary = "shop-media-" + suffix()
        # both in other regions than the operator's (us-east-1), as item() says
        make_bucket(cls.replica, region="eu-west-2")
        make_bucket(cls.primary, region="eu-west-1")
        cls.prefix = "products/"
        cls.keys = ["%sp%04d/hero.jpg" % (cls.prefix, i) for i in range(cls.N)]
        put_many(cls.replica, [(k, body(i)) for i, k in enumerate(cls.keys)])
        cls.missing = set(cls.keys[i] for i in range(0, cls.N, cls.N // cls.MISSING)
                          [:cls.MISSING])
        kept = [(k, body(i)) for i, k in enumerate(cls.keys) if k not in cls.missing]
        cls.changed = [k for k, _ in kept[1:1 + cls.CHANGED]]
        kept = [(k, b"tampered " + v if k in cls.changed else v) for k, v in kept]
        cls.extras = ["%sextra-%d.jpg" % (cls.prefix, i) for i in range(cls.EXTRA)]
        put_many(cls.primary, kept + [(k, b"not in the replica") for k in cls.extras])
        # outside the prefix: never touched
        put_many(cls.primary, [("other/keep.txt", b"outside the prefix")])

    @classmethod
    def tearDownClass(cls):
        control("DELETE")
        empty_bucket(cls.replica)
        empty_bucket(cls.primary)
        super().tearDownClass()

    def tearDown(self):
        control("DELETE")
        super().tearDown()

    def item(self, **extra):
        return {"name": "media", "s3Sync": dict({
            "sourceBucket": self.replica, "sourceRegion": "eu-west-2",
            "targetBucket": self.primary, "targetRegion": "eu-west-1",
            "prefix": self.prefix, "concurrency": 8}, **extra)}

    def test_3b_sync_from_the_replica_with_faults(self):
        before = cli_keys(self.primary, self.prefix)
        self.assertEqual(len(before), self.N - self.MISSING + self.EXTRA)
        name = "media-3b"
        since = time.time()
        self.apply_rr(self.rr_manifest(name, [self.item(deleteExtraneous=True)]))
        obj = self.wait_phase(name, "AwaitingApproval")
        cmp = step_of(obj, "media/compare")["message"]
        self.assertIn("%d to copy" % (self.MISSING + self.CHANGED), cmp, cmp)
        self.assertIn("%d extraneous, to delete" % self.EXTRA, cmp, cmp)
        self.assertIn("%d same" % (self.N - self.MISSING - self.CHANGED), cmp, cmp)
        self.assertEqual(copies_into(self.primary, since), [], "prepare wrote nothing")
        self.assertEqual(cli_keys(self.primary, self.prefix), before)

        # one copy is applied but answered 500; three are throttled (503 SlowDown)
        control("POST", {"action": "CopyObject", "mode": "apply-then-500", "times": 1,
                         "match": {"Bucket": self.primary}})
        control("POST", {"action": "CopyObject", "mode": "throttle", "times": 3,
                         "match": {"Bucket": self.primary}})
        self.approve(name)
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        self.assert_timeline(obj)
        self.assertIn("matches", step_of(obj, "media/verify")["message"])

        after = cli_keys(self.primary, self.prefix)
        replica = cli_keys(self.replica, self.prefix)
        self.assertEqual(sorted(after), sorted(replica), "identical key sets")
        for k in self.extras:
            self.assertNotIn(k, after)
        a = contents(self.primary, sorted(after))
        b = contents(self.replica, sorted(replica))
        bad = [k for k in b if a.get(k) != b[k]]
        self.assertEqual(bad, [], "objects differ after the sync")
        self.assertEqual(list(cli_keys(self.primary, "other/")), ["other/keep.txt"],
                         "outside the prefix: untouched")

        log = copies_into(self.primary, since)
        faults = [e for e in log if e.get("fault")]
        self.assertEqual(sorted(e["fault"] for e in faults),
                         ["apply-then-500", "throttle", "throttle", "throttle"], faults)
        done = per_key([e for e in log if applied(e)])
        self.assertEqual(set(done), self.missing | set(self.changed))
        self.assertEqual(max(done.values()), 1,
                         "copied twice: %s" % [k for k, v in done.items() if v > 1])
        # the ambiguous copy was not re-sent: its key appears once in the whole log
        amb = [e for e in faults if e["fault"] == "apply-then-500"][0]["params"]["Key"]
        self.assertEqual(per_key(log)[amb], 1)

        # a re-run finds everything in place and copies nothing
        since = time.time()
        self.apply_rr(self.rr_manifest(name + "-again", [self.item(deleteExtraneous=True)],
                                       approval=False))
        obj = self.wait_phase(name + "-again", "Succeeded")
        self.assertIn("0 to copy", step_of(obj, "media/compare")["message"])
        self.assertEqual(copies_into(self.primary, since), [])

    def test_a_source_in_another_region_syncs_only_with_its_source_region(self):
        """The replica lives in us-west-2, the primary in the operator's region. Without
        sourceRegion the listing of the replica (signed for us-east-1) is answered 301
        PermanentRedirect: validate fails naming spec.items[0].s3Sync.sourceRegion and the
        bucket's region from x-amz-bucket-region, nothing is copied. With sourceRegion the
        replica is listed in us-west-2, every CopyObject goes to the primary's region (no
        request of the operator answered 301), and the primary ends equal to the replica
        object by object."""
        src, dst = "shop-west-replica-" + suffix(), "shop-east-" + suffix()
        make_bucket(src, region="us-west-2")
        make_bucket(dst)
        try:
            keys = ["w/%02d.bin" % i for i in range(12)]
            put_many(src, [(k, body(i, "west")) for i, k in enumerate(keys)])
            put_many(dst, [(k, body(i, "west")) for i, k in enumerate(keys) if i % 3])
            before = cli_keys(dst)
            since = time.time()
            self.apply_rr(self.rr_manifest("west-unset", [{"name": "west", "s3Sync": {
                "sourceBucket": src, "targetBucket": dst}}], approval=False))
            obj = self.wait_phase("west-unset", ("Failed", "RolledBack"))
            st = step_of(obj, "west/validate")
            self.assertEqual(st.get("phase"), "Failed", st)
            self.assertIn("spec.items[0].s3Sync.sourceRegion", st["message"], st)
            self.assertIn("PermanentRedirect", st["message"], st)
            self.assertIn("the bucket is in region us-west-2", st["message"], st)
            self.assertEqual(cli_keys(dst), before, "nothing copied")
            self.assertEqual([e for e in request_log() if e.get("ts", 0) >= since and
                              e.get("action") in ("CopyObject", "DeleteObjects")], [])
            redirected = [e for e in request_log() if e.get("ts", 0) >= since and
                          e.get("params", {}).get("Bucket") == src and
                          e.get("wrong_region") == "us-east-1"]
            self.assertEqual([(e["action"], e["status"]) for e in redirected][:1],
                             [("ListObjectsV2", 301)])

            since = time.time()
            self.apply_rr(self.rr_manifest("west-set", [{"name": "west", "s3Sync": {
                "sourceBucket": src, "sourceRegion": "us-west-2", "targetBucket": dst}}],
                approval=False))
            obj = self.wait_phase("west-set", "Succeeded")
            self.assertIn("matches", step_of(obj, "west/verify")["message"])
            after, replica = cli_keys(dst), cli_keys(src)
            self.assertEqual(sorted(after), sorted(keys))
            self.assertEqual(after, replica, "same keys, sizes and ETags")
            a, b = contents(dst, keys), contents(src, keys)
            for k in keys:   # object by object
                self.assertEqual(a[k], b[k], "s3://%s/%s differs from the replica" % (dst, k))
            log = [e for e in request_log() if e.get("ts", 0) >= since]
            copies = per_key([e for e in log if e.get("action") == "CopyObject" and applied(e)
                              and e["params"].get("Bucket") == dst])
            self.assertEqual(sorted(copies), [k for i, k in enumerate(keys) if i % 3 == 0])
            self.assertEqual(max(copies.values()), 1)
            lists = [e for e in log if e.get("action") == "ListObjectsV2" and
                     e["params"].get("Bucket") == src]
            self.assertTrue(lists)
            self.assertEqual([e for e in lists if e.get("status") != 200], [],
                             "the replica was listed in its own region only")
        finally:
            empty_bucket(src)
            empty_bucket(dst)

    def test_extras_kept_without_delete_extraneous_and_empty_source_refused(self):
        src, dst = "shop-docs-replica-" + suffix(), "shop-docs-" + suffix()
        make_bucket(src)
        make_bucket(dst)
        try:
            put_many(src, [("d/%d" % i, body(i)) for i in range(20)])
            put_many(dst, [("d/%d" % i, body(i)) for i in range(0, 20, 2)] +
                     [("d/extra", b"x")])
            name = "docs-keep"
            self.apply_rr(self.rr_manifest(name, [{"name": "docs", "s3Sync": {
                "sourceBucket": src, "targetBucket": dst}}], approval=False))
            obj = self.wait_phase(name, "Succeeded")
            self.assertIn("1 extraneous, kept", step_of(obj, "docs/compare")["message"])
            got = cli_keys(dst)
            self.assertIn("d/extra", got)
            self.assertEqual(sorted(k for k in got if k != "d/extra"), sorted(cli_keys(src)))

            empty = "shop-empty-replica-" + suffix()
            make_bucket(empty)
            try:
                since = time.time()
                self.apply_rr(self.rr_manifest("docs-empty", [{"name": "docs", "s3Sync": {
                    "sourceBucket": empty, "targetBucket": dst, "deleteExtraneous": True}}],
                    approval=False))
                obj = self.wait_phase("docs-empty", "Failed")
                st = step_of(obj, "docs/validate")
                self.assertIn("empty source", st["message"])
                self.assertEqual(len(cli_keys(dst)), 21, "nothing deleted")
                self.assertEqual([e for e in request_log() if e.get("ts", 0) >= since and
                                  e.get("action") in ("CopyObject", "DeleteObjects")], [])
            finally:
                empty_bucket(empty)
        finally:
            empty_bucket(src)
            empty_bucket(dst)


class S3SyncCrash(ScenarioCase):
    """kill -9 of the operator in the middle of the sync: each key copied exactly once."""
    N = 1500

    @classmethod
    def scenario(cls):
        cls.replica = "shop-img-replica-" + suffix()
        cls.primary = "shop-img-" + suffix()
        make_bucket(cls.replica)
        make_bucket(cls.primary)
        cls.keys = ["img/%05d.png" % i for i in range(cls.N)]
        put_many(cls.replica, [(k, body(i)) for i, k in enumerate(cls.keys)])

    @classmethod
    def tearDownClass(cls):
        empty_bucket(cls.replica)
        empty_bucket(cls.primary)
        super().tearDownClass()

    def test_kill9_mid_sync_copies_each_key_once(self):
        name = "img-sync"
        since = time.time()
        self.apply_rr(self.rr_manifest(name, [{"name": "img", "s3Sync": {
            "sourceBucket": self.replica, "targetBucket": self.primary,
            "concurrency": 4}}], approval=False))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            n = len(copies_into(self.primary, since))
            if 100 <= n < self.N:
                break
            if n >= self.N:
                self.fail("the sync finished before the kill could land; raise N")
            time.sleep(0.05)
        self.operator.kill9()
        killed_at = len(copies_into(self.primary, since))
        self.assertGreater(killed_at, 0)
        self.assertLess(killed_at, self.N)
        sys.stderr.write("# killed after %d of %d copies\n" % (killed_at, self.N))
        self.operator.start()
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        self.assertIn("matches", step_of(obj, "img/verify")["message"])
        done = per_key([e for e in copies_into(self.primary, since) if applied(e)])
        self.assertEqual(set(done), set(self.keys))
        self.assertEqual(max(done.values()), 1,
                         "copied twice: %s" % [k for k, v in done.items() if v > 1])
        a, b = cli_keys(self.primary), cli_keys(self.replica)
        self.assertEqual(a, b, "same keys, sizes and ETags")
        sample = self.keys[:: self.N // 30]
        self.assertEqual(contents(self.primary, sample), contents(self.replica, sample))


class S3SyncJobMode(ScenarioCase):
    """Above --s3sync-operator-max-objects: one Indexed Job of lifeboat-agent s3-sync."""
    N = 60
    MISSING = 10
    EXTRA = 3
    MAX = 20   # the operator's threshold: 60 keys -> ceil(60 / 20) = 3 shards
    operator_autostart = False

    @classmethod
    def scenario(cls):
        cls.operator.extra_args = ["--s3sync-operator-max-objects", str(cls.MAX)]
        cls.operator.start()
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": cls.ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}}])
        cls.buckets = []

    @classmethod
    def tearDownClass(cls):
        for b in getattr(cls, "buckets", []):
            empty_bucket(b)
        super().tearDownClass()

    def tearDown(self):
        control("DELETE")
        super().tearDown()

    def fill(self, tag, replica_region=None):
        """A replica of N keys under a prefix (in replica_region, default the operator's)
        and a primary missing MISSING of them, with EXTRA keys the replica does not have;
        returns (replica, primary, prefix, extras)."""
        replica, primary = "shop-%s-replica-%s" % (tag, suffix()), "shop-%s-%s" % (tag, suffix())
        for b, region in ((replica, replica_region), (primary, None)):
            make_bucket(b, region=region)
            type(self).buckets.append(b)
        prefix = "assets/"
        keys = ["%sa%03d.bin" % (prefix, i) for i in range(self.N)]
        put_many(replica, [(k, body(i)) for i, k in enumerate(keys)])
        missing = set(keys[i] for i in range(0, self.N, self.N // self.MISSING))
        extras = ["%sextra-%d.bin" % (prefix, i) for i in range(self.EXTRA)]
        put_many(primary, [(k, body(i)) for i, k in enumerate(keys) if k not in missing] +
                 [(k, b"not in the replica") for k in extras])
        self.assertEqual(len(missing), self.MISSING)
        return replica, primary, prefix, extras

    def item(self, replica, primary, prefix, **extra):
        return {"name": "assets", "s3Sync": dict({
            "sourceBucket": replica, "targetBucket": primary, "prefix": prefix,
            "deleteExtraneous": True, "concurrency": 4}, **extra)}

    def jobs(self, rr):
        return [j for j in kube.kubectl_json("get", "jobs", "-n", self.ns)["items"]
                if j["metadata"]["name"].startswith("lb-%s-" % rr)]

    def assert_synced(self, replica, primary, prefix, extras):
        after, src = cli_keys(primary, prefix), cli_keys(replica, prefix)
        self.assertEqual(sorted(after), sorted(src), "identical key sets")
        for k in extras:
            self.assertNotIn(k, after)
        a, b = contents(primary, sorted(after)), contents(replica, sorted(src))
        for k in sorted(b):   # object by object
            self.assertEqual(a.get(k), b[k], "s3://%s/%s differs from the replica" % (primary, k))

    def assert_indexed(self, job, shards):
        spec = job["spec"]
        self.assertEqual(spec.get("completionMode"), "Indexed")
        self.assertEqual(spec.get("completions"), shards)
        self.assertEqual(spec.get("parallelism"), min(shards, 8))
        c = spec["template"]["spec"]["containers"][0]
        self.assertEqual(c["command"][:2], ["lifeboat-agent", "s3-sync"])
        self.assertIn("--delete-extraneous", c["command"])
        self.assertIn({"name": "LIFEBOAT_SHARDS", "value": str(shards)}, c["env"])
        self.assertEqual(job["status"].get("succeeded"), shards)

    def test_job_mode_syncs_by_one_indexed_job(self):
        """The replica lives in us-west-2 (sourceRegion): the operator lists it there and
        every shard gets --source-region (a shard listing it in the pod's AWS_REGION,
        us-east-1, would get 301 PermanentRedirect and fail the Job)."""
        replica, primary, prefix, extras = self.fill("jm", replica_region="us-west-2")
        name = "assets-job"
        since = time.time()
        self.apply_rr(self.rr_manifest(name, [self.item(replica, primary, prefix,
                                                        sourceRegion="us-west-2")]))
        obj = self.wait_phase(name, "AwaitingApproval")
        val = step_of(obj, "assets/validate")["message"]
        self.assertIn("Job mode", val, val)
        self.assertIn("more than %d objects" % self.MAX, val, val)
        cmp = step_of(obj, "assets/compare")["message"]
        self.assertIn("computed by the cutover's Job", cmp, cmp)
        self.assertNotIn("to copy", cmp, cmp)   # no counts the operator did not compute
        self.assertEqual(self.jobs(name), [], "no Job before the approval")
        self.assertEqual(copies_into(primary, since), [], "prepare wrote nothing")

        self.approve(name)
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        self.assert_timeline(obj)
        jobs = self.jobs(name)
        self.assertEqual([j["metadata"]["name"] for j in jobs], ["lb-%s-assets-sync" % name])
        self.assert_indexed(jobs[0], 3)
        cmd = jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"]
        self.assertEqual(cmd[cmd.index("--source-region") + 1], "us-west-2")
        self.assertNotIn("--target-region", cmd)
        self.assertIn("3/3 shards succeeded", step_of(obj, "assets/verify")["message"])
        self.assert_synced(replica, primary, prefix, extras)
        done = per_key([e for e in copies_into(primary, since) if applied(e)])
        self.assertEqual(len(done), self.MISSING, "only the missing keys were copied")
        self.assertEqual(max(done.values()), 1)

    def test_under_a_scope_role_the_job_copies_with_a_session_of_that_role(self):
        """DESIGN.md 3.4: the scope names a roleArn, so the operator assumes it for the Job
        (session lb-<ns>-<job>) and the agent signs every CopyObject with that session's
        key (read from the Secret <job>-aws, owned by the request; GetCallerIdentity with
        it names the role and the session), not with lifeboat-agent-aws's."""
        role = "arn:aws:iam::123456789012:role/lifeboat-s3sync-job"
        kube.kubectl("patch", "recoveryscope", "single-team", "--type", "merge",
                     "-p", json.dumps({"spec": {"aws": {"roleArn": role}}}))
        try:
            replica, primary, prefix, extras = self.fill("jr")
            name = "assets-role"
            since = time.time()
            self.apply_rr(self.rr_manifest(name, [self.item(replica, primary, prefix)]))
            self.wait_phase(name, "AwaitingApproval")
        finally:   # the request recorded its role at its start; later ones run without
            kube.kubectl("patch", "recoveryscope", "single-team", "--type", "merge",
                         "-p", json.dumps({"spec": {"aws": {"roleArn": None}}}))
        self.approve(name)
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        self.assertEqual(obj["status"]["scope"]["roleArn"], role)
        job = "lb-%s-assets-sync" % name
        self.assertEqual([j["metadata"]["name"] for j in self.jobs(name)], [job])
        c = self.jobs(name)[0]["spec"]["template"]["spec"]["containers"][0]
        self.assertNotIn("envFrom", c, "the Job must not read lifeboat-agent-aws")
        # the session is a mounted Secret volume (renewable), never env
        names = {e["name"] for e in c["env"]}
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            self.assertNotIn(k, names)
        vols = self.jobs(name)[0]["spec"]["template"]["spec"]["volumes"]
        self.assertEqual([v["secret"]["secretName"] for v in vols if "secret" in v],
                         [job + "-aws"])
        self.assertIn({"name": "aws-session", "mountPath": "/var/run/lifeboat/aws",
                       "readOnly": True}, c["volumeMounts"])
        self.assertIn({"name": "LIFEBOAT_AWS_SESSION_DIR", "value": "/var/run/lifeboat/aws"},
                      c["env"])
        sec = kube.kubectl_json("get", "secret", job + "-aws", "-n", self.ns)
        self.assertEqual([(r["kind"], r["uid"]) for r in sec["metadata"]["ownerReferences"]],
                         [("RestoreRequest", obj["metadata"]["uid"])])
        session = {k: scenario.unb64(v) for k, v in sec["data"].items()}
        self.assertEqual(sorted(session), ["AWS_ACCESS_KEY_ID", "AWS_CREDENTIAL_EXPIRATION",
                                           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"])
        self.assertEqual(sec["metadata"]["annotations"]["lifeboat.dev/aws-session-expiry"],
                         session["AWS_CREDENTIAL_EXPIRATION"])
        key, mine = session["AWS_ACCESS_KEY_ID"], os.environ["AWS_ACCESS_KEY_ID"]
        self.assertNotEqual(key, mine)
        # the key is the one AssumeRole returned for the Job's session, and no other
        who = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                           region_name=OPERATOR_REGION, aws_access_key_id=key,
                           aws_secret_access_key=session["AWS_SECRET_ACCESS_KEY"],
                           aws_session_token=session["AWS_SESSION_TOKEN"]
                           ).get_caller_identity()
        sess_name = ("lb-%s-%s" % (self.ns, job))[:64]
        self.assertEqual(who["Arn"], "arn:aws:sts::123456789012:assumed-role/%s/%s" % (
            role.rsplit("/", 1)[1], sess_name))
        log = [e for e in request_log() if e.get("ts", 0) >= since]
        assumes = [e for e in log if e.get("action") == "AssumeRole"
                   and (e.get("params") or {}).get("RoleSessionName") == sess_name]
        self.assertEqual(len(assumes), 1, "one sts:AssumeRole for the Job's one attempt")
        self.assertEqual(assumes[0]["params"].get("RoleArn"), role)
        self.assertEqual(assumes[0]["access_key"], mine)   # minted by the operator
        copies = [e for e in copies_into(primary, since) if applied(e)]
        self.assertEqual(len(per_key(copies)), self.MISSING)
        self.assertEqual({e["access_key"] for e in copies}, {key},
                         "every CopyObject of the Job signed with the minted session")
        self.assert_synced(replica, primary, prefix, extras)
        # the value never reaches the request's status or events
        text = json.dumps(obj) + json.dumps(kube.kubectl_json("get", "events", "-n", self.ns))
        self.assertNotIn(session["AWS_SECRET_ACCESS_KEY"], text)
        self.assertNotIn(session["AWS_SESSION_TOKEN"], text)

    def test_a_running_jobs_session_is_renewed_and_its_agents_switch_to_it(self):
        """restore/jobcreds.h: with --job-session-duration 900 (STS's minimum) and
        --job-session-renew-margin 896, the operator renews the sync Job's session once it
        is 4 s old, on every observation of the running Job: a second AssumeRole for the
        same session name, the Secret <job>-aws replaced with a new key, the kubelet swaps
        the mounted files, and the shards' later CopyObjects sign with the new key (the
        agents read the folder, not env); the sync still ends key for key."""
        role = "arn:aws:iam::123456789012:role/lifeboat-s3sync-renew"
        name = "assets-renew"
        job = "lb-%s-assets-sync" % name
        sess_name = ("lb-%s-%s" % (self.ns, job))[:64]
        mine = os.environ["AWS_ACCESS_KEY_ID"]
        self.operator.stop()
        self.operator.extra_args = ["--s3sync-operator-max-objects", str(self.MAX),
                                    "--job-session-duration", "900",
                                    "--job-session-renew-margin", "896"]
        self.operator.start()
        try:
            replica, primary, prefix, extras = self.fill("jn")
            control("POST", {"action": "CopyObject", "mode": "delay", "delay_ms": 2500,
                             "times": -1, "match": {"Bucket": primary}})
            since = time.time()
            kube.kubectl("patch", "recoveryscope", "single-team", "--type", "merge",
                         "-p", json.dumps({"spec": {"aws": {"roleArn": role}}}))
            try:
                self.apply_rr(self.rr_manifest(name, [self.item(replica, primary, prefix,
                                                                concurrency=1)],
                                               approval=False))
                kube.wait_for(lambda: self.jobs(name), timeout=120, message="the sync Job")
            finally:
                kube.kubectl("patch", "recoveryscope", "single-team", "--type", "merge",
                             "-p", json.dumps({"spec": {"aws": {"roleArn": None}}}))
            first = scenario.unb64(kube.kubectl_json("get", "secret", job + "-aws", "-n",
                                                     self.ns)["data"]["AWS_ACCESS_KEY_ID"])
            obj = self.wait_phase(name, "Succeeded", timeout=300)
        finally:
            control("DELETE")
            self.operator.stop()
            self.operator.extra_args = ["--s3sync-operator-max-objects", str(self.MAX)]
            self.operator.start()
        self.assertEqual(obj["status"]["scope"]["roleArn"], role)
        log = [e for e in request_log() if e.get("ts", 0) >= since]
        assumes = [e for e in log if e.get("action") == "AssumeRole"
                   and (e.get("params") or {}).get("RoleSessionName") == sess_name]
        self.assertGreaterEqual(len(assumes), 2, "renewed while the Job ran")
        self.assertEqual({(e["params"].get("RoleArn"), e["access_key"]) for e in assumes},
                         {(role, mine)})
        sec = kube.kubectl_json("get", "secret", job + "-aws", "-n", self.ns)
        session = {k: scenario.unb64(v) for k, v in sec["data"].items()}
        self.assertNotEqual(session["AWS_ACCESS_KEY_ID"], first, "the Secret was replaced")
        copies = sorted((e for e in copies_into(primary, since) if applied(e)),
                        key=lambda e: e["ts"])
        used = [e["access_key"] for e in copies]
        sys.stderr.write("# %d AssumeRoles for %s; %d copies signed with %d keys\n" % (
            len(assumes), job, len(copies), len(set(used))))
        self.assertNotIn(mine, used)
        self.assertGreaterEqual(len(set(used)), 2, "the agents switched to a renewed key")
        self.assertNotEqual(used[-1], first, "the last copies signed with a renewed key")
        who = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                           region_name=OPERATOR_REGION,
                           aws_access_key_id=session["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=session["AWS_SECRET_ACCESS_KEY"],
                           aws_session_token=session["AWS_SESSION_TOKEN"]).get_caller_identity()
        self.assertEqual(who["Arn"], "arn:aws:sts::123456789012:assumed-role/%s/%s" % (
            role.rsplit("/", 1)[1], sess_name))
        self.assertEqual(len(per_key(copies)), self.MISSING)
        self.assert_synced(replica, primary, prefix, extras)

    def test_a_failing_shard_fails_the_step_with_the_agent_error(self):
        replica, primary, prefix, _ = self.fill("jf")
        name = "assets-fail"
        control("POST", {"action": "CopyObject", "mode": "500-no-apply", "times": -1,
                         "match": {"Bucket": primary}})
        try:
            self.apply_rr(self.rr_manifest(name, [self.item(replica, primary, prefix)],
                                           approval=False))
            # nothing live needed undoing: rollbackOnFailure ends it RolledBack
            obj = self.wait_phase(name, ("Failed", "RolledBack"), timeout=300)
        finally:
            control("DELETE")
        st = step_of(obj, "assets/sync")
        self.assertEqual(st.get("phase"), "Failed", st)
        self.assertIn("Job lb-%s-assets-sync failed: " % name, st["message"], st)
        self.assertIn("CopyObject", st["message"], st)   # the agent's own error
        jobs = self.jobs(name)
        self.assertEqual(len(jobs), 1)
        self.assertIn("Failed", [c["type"] for c in jobs[0]["status"].get("conditions", [])
                                 if c.get("status") == "True"])

    DELAY_MS = 1500  # each CopyObject into the primary waits this long (awssim delay)

    def start_slow_job(self, tag, name):
        """A Job-mode sync whose CopyObjects into the primary each wait DELAY_MS (awssim's
        delay fault: they still run and succeed), one at a time per shard, so its shards
        copy for several seconds; returns (replica, primary, prefix, extras, since, offset,
        job) once the Job exists and awssim has logged some of its copies."""
        replica, primary, prefix, extras = self.fill(tag)
        control("POST", {"action": "CopyObject", "mode": "delay", "delay_ms": self.DELAY_MS,
                         "times": -1, "match": {"Bucket": primary}})
        since, offset = time.time(), log_offset()
        self.apply_rr(self.rr_manifest(name, [self.item(replica, primary, prefix,
                                                        concurrency=1)], approval=False))
        deadline, jobs = time.monotonic() + 120, []
        while time.monotonic() < deadline and not jobs:
            jobs = self.jobs(name)
            time.sleep(0.05)
        self.assertEqual(len(jobs), 1, "the sync Job was created")
        while time.monotonic() < deadline and not copies_after(offset, primary):
            time.sleep(0.02)
        self.assertTrue(copies_after(offset, primary), "the Job's shards began copying")
        return replica, primary, prefix, extras, since, offset, jobs[0]

    def assert_copied_once(self, primary, since):
        """Every missing key copied by a CopyObject that took effect, each exactly once,
        and nothing else copied."""
        done = per_key([e for e in copies_into(primary, since) if applied(e)])
        self.assertEqual(len(done), self.MISSING, "only the missing keys were copied: %s"
                         % sorted(done))
        self.assertEqual(max(done.values()), 1,
                         "copied twice: %s" % [k for k, v in done.items() if v > 1])

    def test_kill9_of_the_operator_while_the_job_runs_adopts_it(self):
        """kill -9 of the operator while its sync Job is running (seen active, awssim has
        logged some but not all of its copies): the restarted operator finds that Job by
        its name and observes it to the end; it never creates a second one, and no key is
        copied twice."""
        replica, primary, prefix, extras, since, offset, job = self.start_slow_job(
            "jk", "assets-kill")
        name = "assets-kill"
        self.operator.kill9()
        copied = len(copies_after(offset, primary))
        at_kill = kube.kubectl_json("get", "job", job["metadata"]["name"], "-n", self.ns)
        sys.stderr.write("# killed with Job %s active %s, %d of %d copies logged\n" % (
            job["metadata"]["name"], at_kill.get("status", {}).get("active", 0), copied,
            self.MISSING))
        self.assertGreaterEqual(at_kill.get("status", {}).get("active", 0), 1,
                                "the Job was running at the kill: %s" % at_kill.get("status"))
        self.assertFalse(agent_job_done(at_kill), at_kill.get("status"))
        self.assertGreater(copied, 0)
        self.assertLess(copied, self.MISSING, "the Job had copies left at the kill")
        self.operator.start()
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        after = self.jobs(name)
        self.assertEqual(len(after), 1, "exactly one Job: %s" % [j["metadata"]["name"]
                                                                 for j in after])
        self.assertEqual(after[0]["metadata"]["uid"], job["metadata"]["uid"],
                         "the same Job, observed again, not a new one")
        self.assert_indexed(after[0], 3)
        self.assertIn("3/3 shards succeeded", step_of(obj, "assets/verify")["message"])
        self.assert_synced(replica, primary, prefix, extras)
        self.assert_copied_once(primary, since)

    def agent_pid(self, pod):
        path = os.path.join(scenario.kubelet_dir(), "pods", self.ns, pod, "agent.pid")
        try:
            with open(path) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None   # not started, or already ended

    def test_kill9_of_an_agent_pod_runs_a_new_attempt_that_leaves_what_was_copied(self):
        """kill -9 of one shard's agent process mid-sync: that pod fails without the
        agent's result line, so (backoffLimit 0) the Job fails; the step starts the next
        attempt, Job lb-<rr>-assets-sync-2, of the same shards, which copies only what is
        still missing: the keys copied before the kill are not copied again, every key
        is copied once, and the primary ends equal to the replica."""
        replica, primary, prefix, extras, since, offset, job = self.start_slow_job(
            "ja", "assets-agent")
        name = "assets-agent"
        deadline, pid = time.monotonic() + 60, None
        while time.monotonic() < deadline and pid is None:
            pods = kube.kubectl_json("get", "pods", "-n", self.ns, "-l",
                                     "job-name=%s" % job["metadata"]["name"])["items"]
            for p in pods:
                if p.get("status", {}).get("phase") == "Running":
                    pid = self.agent_pid(p["metadata"]["name"])
                    if pid is not None:
                        break
            if pid is None:
                time.sleep(0.05)
        self.assertIsNotNone(pid, "a running agent process")
        os.kill(pid, signal.SIGKILL)
        before = set(per_key(copies_after(offset, primary)))
        sys.stderr.write("# killed agent pid %d after %d of %d copies\n" % (
            pid, len(before), self.MISSING))
        self.assertLess(len(before), self.MISSING, "copies were left at the kill")
        obj = self.wait_phase(name, "Succeeded", timeout=300)
        jobs = {j["metadata"]["name"]: j for j in self.jobs(name)}
        first, second = "lb-%s-assets-sync" % name, "lb-%s-assets-sync-2" % name
        self.assertEqual(sorted(jobs), [first, second])
        self.assertTrue(scenario_job_failed(jobs[first]), jobs[first].get("status"))
        self.assert_indexed(jobs[second], 3)
        self.assertIn("Job %s" % second, step_of(obj, "assets/sync")["message"])
        self.assertIn("3/3 shards succeeded", step_of(obj, "assets/verify")["message"])
        self.assert_synced(replica, primary, prefix, extras)
        done = per_key([e for e in copies_into(primary, since) if applied(e)])
        self.assertEqual({k: done[k] for k in before}, {k: 1 for k in before},
                         "a key copied before the kill was copied again")
        self.assert_copied_once(primary, since)


def agent_job_done(job):
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in job.get("status", {}).get("conditions", []))


def scenario_job_failed(job):
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in job.get("status", {}).get("conditions", []))
