"""Retention of a BackupPolicy's objects in S3 (issue 16, Deliver 5): pgDump dumps and
redisRDB files are tagged as the policy's (lifeboat.dev/uid, lifeboat.dev/target) when
made, and keepLast 2 deletes only the policy's own oldest, with their manifests. Foreign
objects under the same prefix survive: a manual upload named exactly like one of the
policy's dumps, a manual export, and an object tagged as another policy's.

Oracles: the aws CLI (list-objects-v2, get-object-tagging), kubectl (the policy's uid)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "redis", "tests"))
# the BackupPolicy helpers are shared with e2e/backup (one suite split in two for time)
sys.path.insert(0, os.path.join(HERE, "..", "..", "backup", "tests"))
import redisenv as R  # noqa: E402
from bplib import BackupCase, history, kube, target_status  # noqa: E402
from scenario import b64  # noqa: E402
from agentlib import PgCluster, new_bucket, seed_shop  # noqa: E402


def aws_json(*args):
    p = subprocess.run(["aws", *args, "--output", "json"], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise AssertionError("aws %s: %s" % (" ".join(args), p.stderr))
    return json.loads(p.stdout) if p.stdout.strip() else {}


def put(bucket, key, body=b"foreign bytes, not a dump", tags=None):
    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        args = ["s3api", "put-object", "--bucket", bucket, "--key", key, "--body", f.name]
        if tags:
            args += ["--tagging", "&".join("%s=%s" % kv for kv in tags.items())]
        aws_json(*args)


def keys(bucket, prefix):
    out = aws_json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix)
    return sorted(o["Key"] for o in out.get("Contents", []))


def tags_of(bucket, key):
    out = aws_json("s3api", "get-object-tagging", "--bucket", bucket, "--key", key)
    return {t["Key"]: t["Value"] for t in out["TagSet"]}


class S3RetentionTest(BackupCase):
    @classmethod
    def scenario(cls):
        cls.pg = PgCluster()
        cls.pg.start()
        seed_shop(cls.pg, "shop", orders=50)
        cls.bucket = new_bucket()
        env = os.environ
        kube.kubectl("apply", "-f", "-", input=[
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "lifeboat-agent-aws", "namespace": cls.ns},
             "data": {"AWS_ACCESS_KEY_ID": b64(env["AWS_ACCESS_KEY_ID"]),
                      "AWS_SECRET_ACCESS_KEY": b64(env["AWS_SECRET_ACCESS_KEY"])}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-db",
                                                                "namespace": cls.ns},
             "data": {"url": b64(cls.pg.url("shop"))}},
        ])
        cls.port = R.create_redis(cls.ns, "cache", R.AOF_ARGS)
        for i in range(10):
            R.cli(cls.port, "SET", "k:%d" % i, "v%d" % i)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "pg", None):
            cls.pg.destroy()

    def foreign(self, prefix, named_like):
        """Three objects this policy did not make, under its prefix."""
        other = {"lifeboat.dev/uid": "00000000-0000-0000-0000-000000000000",
                 "lifeboat.dev/target": "t", "lifeboat.dev/owner": "BackupPolicy/x/other"}
        objs = [named_like, prefix + "manual-export" + named_like[named_like.rindex("."):],
                prefix + "other-policy" + named_like[named_like.rindex("."):]]
        put(self.bucket, objs[0])
        put(self.bucket, objs[1])
        put(self.bucket, objs[2], tags=dict(other, **{"lifeboat.dev/target": "t"}))
        return objs

    def three_runs(self, name):
        made = []
        for token in ("a", "b", "c"):
            self.backup_now(name, token)
            obj = self.wait_token(name, token)
            self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
            made.append(target_status(obj, "t")["lastBackup"]["id"])
        self.assertEqual(len(set(made)), 3, made)
        return obj, made

    def test_pgdump_keep_last_2_deletes_only_its_own_oldest(self):
        prefix = "pg/ret/"
        foreign = self.foreign(prefix, prefix + "t_20200101T000000Z.dump")
        put(self.bucket, prefix + "t_20200101T000000Z.manifest.json", b"{}")
        obj = self.apply_bp(self.bp_manifest("dumps", [{
            "name": "t", "pgDump": {"connectionSecretRef": {"name": "shop-db", "key": "url"},
                                    "destination": {"bucket": self.bucket, "prefix": prefix}}}],
            retention={"keepLast": 2}))
        uid = obj["metadata"]["uid"]
        obj, made = self.three_runs("dumps")
        left = keys(self.bucket, prefix)
        ours = [k for k in made if k in left]
        self.assertEqual(ours, made[1:], left)                       # the oldest went
        self.assertNotIn(made[0][:-5] + ".manifest.json", left)      # with its manifest
        for k in made[1:]:
            self.assertIn(k[:-5] + ".manifest.json", left)
            self.assertEqual(tags_of(self.bucket, k)["lifeboat.dev/uid"], uid)
            self.assertEqual(tags_of(self.bucket, k)["lifeboat.dev/target"], "t")
        for k in foreign + [prefix + "t_20200101T000000Z.manifest.json"]:
            self.assertIn(k, left)                                   # never ours to delete

    def test_redis_rdb_keep_last_2_deletes_only_its_own_oldest(self):
        prefix = "redis/ret/"
        foreign = self.foreign(prefix, prefix + "cache-0_20200101T000000Z.rdb")
        obj = self.apply_bp(self.bp_manifest("rdb", [{
            "name": "t", "redisRDB": {"pod": "cache-0",
                                      "destination": {"bucket": self.bucket,
                                                      "prefix": prefix}}}],
            retention={"keepLast": 2}))
        uid = obj["metadata"]["uid"]
        obj, made = self.three_runs("rdb")
        left = keys(self.bucket, prefix)
        self.assertEqual([k for k in made if k in left], made[1:], left)
        self.assertNotIn(made[0] + ".manifest.json", left)
        for k in made[1:]:
            self.assertEqual(tags_of(self.bucket, k)["lifeboat.dev/uid"], uid)
        for k in foreign:
            self.assertIn(k, left)
