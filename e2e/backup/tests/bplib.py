"""Helpers for the BackupPolicy suites (issue 16), on top of the restore scenario harness:
one operator and one namespace per class (ScenarioCase), BackupPolicies applied with
kubectl, oracles independent of the operator (aws CLI, psql, kubectl, /metrics)."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "restore", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "agent", "tests"))
from scenario import GROUP_PATH, ScenarioCase, aws, kube  # noqa: E402,F401

BP_WAIT_S = 180


class BackupCase(ScenarioCase):
    def bp_manifest(self, name, targets, schedule="0 3 * * *", **spec):
        s = {"schedule": schedule, "targets": targets}
        s.update(spec)
        return {"apiVersion": "lifeboat.dev/v1alpha1", "kind": "BackupPolicy",
                "metadata": {"name": name, "namespace": self.ns}, "spec": s}

    def apply_bp(self, manifest):
        kube.kubectl("apply", "-f", "-", input=manifest)
        obj = self.bp(manifest["metadata"]["name"])
        type(self).uids.append(obj["metadata"]["uid"])
        return obj

    def bp(self, name):
        r = kube.api("GET", "%s/namespaces/%s/backuppolicies/%s" % (GROUP_PATH, self.ns, name))
        if r.status != 200:
            raise AssertionError("GET bp/%s -> %d %s" % (name, r.status, r.body[:200]))
        return r.json()

    def patch_bp(self, name, spec):
        kube.kubectl("patch", "backuppolicy", name, "-n", self.ns, "--type", "merge", "-p",
                     json.dumps({"spec": spec}))

    def backup_now(self, name, token):
        kube.kubectl("annotate", "backuppolicy", name, "-n", self.ns,
                     "lifeboat.dev/backup-now=%s" % token, "--overwrite")

    def wait_bp(self, name, pred, what, timeout=BP_WAIT_S):
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            obj = self.bp(name)
            if pred(obj):
                return obj
            time.sleep(0.5)
        raise AssertionError("bp/%s: %s not reached in %ss; status=%s\noperator log:\n%s" % (
            name, what, timeout, json.dumps((obj or {}).get("status"), indent=1)[:4000],
            self.operator.log_tail()))

    def run_token(self, name, token, phase, timeout=BP_WAIT_S):
        """backup-now with token, waits for that run to finish, asserts its phase; returns
        the BackupPolicy."""
        self.backup_now(name, token)
        obj = self.wait_token(name, token, timeout)
        self.assertEqual(history(obj)[-1]["phase"], phase, history(obj))
        return obj

    def wait_token(self, name, token, timeout=BP_WAIT_S):
        return self.wait_bp(name, lambda o: any(h.get("token") == token for h in history(o))
                            and "run" not in o.get("status", {}),
                            "history entry for token %s" % token, timeout)


def history(obj):
    return obj.get("status", {}).get("history", [])


def cond(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def target_status(obj, name):
    for t in obj.get("status", {}).get("targets", []):
        if t["name"] == name:
            return t
    return None


def snapshots_of(instance):
    """Manual snapshots of the instance, from the aws CLI: {id: {tag: value}}."""
    out = {}
    for s in aws("rds", "describe-db-snapshots", "--db-instance-identifier", instance,
                 "--snapshot-type", "manual")["DBSnapshots"]:
        tags = aws("rds", "list-tags-for-resource", "--resource-name",
                   s["DBSnapshotArn"])["TagList"]
        out[s["DBSnapshotIdentifier"]] = {t["Key"]: t["Value"] for t in tags}
    return out


def keys_under(bucket, prefix=""):
    """Sorted keys of the bucket under prefix, from the aws CLI."""
    out = aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix) or {}
    return sorted(o["Key"] for o in out.get("Contents", []))


def s3_tags(bucket, key):
    """{tag: value} of bucket/key, from the aws CLI."""
    out = aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", key) or {}
    return {t["Key"]: t["Value"] for t in out.get("TagSet", [])}


def metric_value(text, name, **labels):
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def suffix_name(base):
    import scenario
    return "%s-%s" % (base, scenario.suffix())
