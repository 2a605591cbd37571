"""Side-effect safety of the BackupPolicy controller's S3 writes (issue 16 review): for
CopyObject and PutObjectTagging (the s3Copy offsite copy) and retention's DeleteObject, a
kill -9 of the operator right after the call took effect (awssim's `apply-then-hold`: the
call runs and is logged, its answer held while the test kills the operator), and awssim
applying the call then answering 500 (`apply-then-500`). The end state is exactly right:
every key copied once, one tag set on each copy (the source's tag plus the three ownership
tags), each expired copy deleted once, nothing foreign deleted. Oracles: the aws CLI and
awssim's request log. (pgDump's tagging after a kill: test_policy_pgdump.py.)"""
import json
import os
import sys
import time

from bplib import BackupCase, history, keys_under, s3_tags, target_status
from agentlib import new_bucket
from test_policy_s3copy import listing, put, s3api

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "restore", "tests"))
from awssim_control import applied, control, request_log  # noqa: E402

HOLD_WAIT_S = 120
FOREIGN_UID = "00000000-0000-0000-0000-000000000000"


def calls(action, bucket, since):
    """Applied calls of action on bucket since `since`, one per request: key -> count."""
    out = {}
    for e in request_log():
        p = e.get("params", {})
        if e.get("ts", 0) >= since and e.get("action") == action and not e.get("held") \
                and p.get("Bucket") == bucket and applied(e):
            out[p.get("Key")] = out.get(p.get("Key"), 0) + 1
    return out


def put_tagged(bucket, key, body, tagging):
    put(bucket, key, body)
    s3api("put-object-tagging", "--bucket", bucket, "--key", key, "--tagging",
          json.dumps({"TagSet": [{"Key": k, "Value": v} for k, v in tagging.items()]}))


class SideEffectTest(BackupCase):
    def owned(self, uid, target, **extra):
        tags = {"lifeboat.dev/owner": "BackupPolicy/%s/%s" % (self.ns, self.policy_name),
                "lifeboat.dev/uid": uid, "lifeboat.dev/target": target}
        tags.update(extra)
        return tags

    def kill_right_after(self, action, bucket, since, then=()):
        """Waits until awssim holds the answer of an applied `action` on bucket (the fault
        was added by the caller), kill -9s the operator, releases the answer (clears every
        fault), adds the faults `then` and starts the operator again. Returns the key of
        the held call."""
        deadline = time.monotonic() + HOLD_WAIT_S
        while time.monotonic() < deadline:
            held = [e for e in request_log() if e.get("held") and e.get("ts", 0) >= since
                    and e.get("action") == action
                    and e.get("params", {}).get("Bucket") == bucket]
            if held:
                self.operator.kill9()
                control("DELETE")
                for fault in then:
                    control("POST", fault)
                self.operator.start()
                return held[0]["params"].get("Key")
            time.sleep(0.2)
        control("DELETE")
        raise AssertionError("no %s on %s was held in %ss; operator log:\n%s" % (
            action, bucket, HOLD_WAIT_S, self.operator.log_tail()))

    def test_1_copy_and_tagging_after_kill9_and_500(self):
        """kill -9 right after a CopyObject, then right after a PutObjectTagging, then a 500
        after each of the two calls: each key is copied once and carries one tag set."""
        src, dst = new_bucket(), new_bucket()
        for i in range(6):
            put_tagged(src, "media/img-%d.jpg" % i, os.urandom(700 + i), {"team": "media"})
        self.policy_name = "mirror"
        obj = self.apply_bp(self.bp_manifest("mirror", [{"name": "offsite", "s3Copy": {
            "sourceBucket": src, "destinationBucket": dst}}]))
        uid = obj["metadata"]["uid"]
        since = time.time()
        control("POST", {"action": "CopyObject", "mode": "apply-then-hold", "times": 1,
                         "match": {"Bucket": dst}})
        try:
            self.backup_now("mirror", "m1")
            k1 = self.kill_right_after("CopyObject", dst, since, then=[{
                "action": "PutObjectTagging", "mode": "apply-then-hold", "times": 1,
                "match": {"Bucket": dst}}])
            k2 = self.kill_right_after("PutObjectTagging", dst, since, then=[
                {"action": action, "mode": "apply-then-500", "times": 1,
                 "match": {"Bucket": dst}} for action in ("CopyObject", "PutObjectTagging")])
            obj = self.wait_token("mirror", "m1")
            state = control("GET")
        finally:
            control("DELETE")
        sys.stderr.write("# killed after CopyObject %s and PutObjectTagging %s\n" % (k1, k2))
        self.assertEqual([f["applied"] for f in state["faults"]], [1, 1], state)
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        self.assertEqual(listing(dst), listing(src))
        self.assertEqual(calls("CopyObject", dst, since), {k: 1 for k in listing(src)})
        for key in listing(src):
            self.assertEqual(s3_tags(dst, key), self.owned(uid, "offsite", team="media"), key)
        self.assertEqual(target_status(obj, "offsite")["lastBackup"]["sizeBytes"],
                         sum(700 + i for i in range(6)))

    def test_2_retention_delete_after_kill9_and_500(self):
        """maxAge retention of the offsite copy: kill -9 right after the first DeleteObject,
        a 500 after the second: each expired copy is deleted exactly once, copies of keys
        still in the source, a manual upload and another policy's copy stay."""
        src, dst = new_bucket(), new_bucket()
        put(src, "arch/keep.txt", b"kept " * 40)
        gone = ["arch/gone-%d.txt" % i for i in range(3)]
        for key in gone:
            put(src, key, b"deleted later")
        put(dst, "arch/manual.txt", b"an operator's own upload")
        put_tagged(dst, "arch/other.txt", b"another policy's copy",
                   {"lifeboat.dev/uid": FOREIGN_UID, "lifeboat.dev/target": "arch"})
        self.policy_name = "aging"
        self.apply_bp(self.bp_manifest("aging", [{"name": "arch", "s3Copy": {
            "sourceBucket": src, "destinationBucket": dst, "prefix": "arch/"}}],
            retention={"maxAge": "2s"}))
        obj = self.run_token("aging", "a1", "Succeeded")
        for key in gone:
            s3api("delete-object", "--bucket", src, "--key", key)
        # every destination object older than maxAge by S3's own clock
        newest = max(time.mktime(time.strptime(o["LastModified"][:19], "%Y-%m-%dT%H:%M:%S"))
                     for o in s3api("list-objects-v2", "--bucket", dst)["Contents"])
        while time.mktime(time.gmtime()) - newest <= 3:
            time.sleep(0.5)
        since = time.time()
        control("POST", {"action": "DeleteObject", "mode": "apply-then-hold", "times": 1,
                         "match": {"Bucket": dst}})
        try:
            self.backup_now("aging", "a2")
            self.kill_right_after("DeleteObject", dst, since, then=[{
                "action": "DeleteObject", "mode": "apply-then-500", "times": 1,
                "match": {"Bucket": dst}}])
            obj = self.wait_token("aging", "a2")
            state = control("GET")
        finally:
            control("DELETE")
        self.assertEqual([f["applied"] for f in state["faults"]], [1], state)
        self.assertEqual(history(obj)[-1]["phase"], "Succeeded", history(obj))
        self.assertEqual(keys_under(dst, "arch/"),
                         ["arch/keep.txt", "arch/manual.txt", "arch/other.txt"])
        self.assertEqual(calls("DeleteObject", dst, since), {k: 1 for k in gone})
